"""Hand-computed cases for each Star Ratings rule in `ratings.cms.engine` (2026 methodology).

Every expected number below is worked out in the comment next to it from the Technical Notes
tables, so a failing test points at the rule that broke.
"""

from decimal import Decimal

import pytest

from ratings.cms.engine import (
    NOT_ENOUGH_DATA,
    TOO_NEW,
    ContractProfile,
    RatingType,
    measure_star,
    rate_contract,
    rating_measures,
    reward_factor,
    round_half_up,
    round_to_half_star,
    star_for_cell,
    weighted_mean_and_variance,
)
from ratings.cms.methodology import Methodology, RatedAs, RatingColumn
from ratings.cms.tables import CellValue, CutPoints, Direction, Threshold, parse_interval

D = Decimal


@pytest.fixture(scope="module")
def methodology() -> Methodology:
    return Methodology.for_star_year(2026)


def cut_points(direction: Direction, *bounds: tuple[str, bool]) -> CutPoints:
    """Cut points with the thresholds of stars 2..5 given as (value, inclusive)."""
    thresholds = {star: Threshold(D(v), inc) for star, (v, inc) in zip(range(2, 6), bounds, strict=True)}
    return CutPoints("X01", "test", None, direction, thresholds)


# C01 2026: < 58 | >= 58 to < 71 | >= 71 to < 76 | >= 76 to < 84 | >= 84
BREAST_CANCER = cut_points(Direction.HIGHER, ("58", True), ("71", True), ("76", True), ("84", True))
# C18 2026 (lower is better): > 12 | > 10 to <= 12 | > 9 to <= 10 | > 7 to <= 9 | <= 7
READMISSIONS = cut_points(Direction.LOWER, ("12", True), ("10", True), ("9", True), ("7", True))
# C28 2026 (lower, 2 decimals): > 1.34 | > 0.71 to <= 1.34 | > 0.32 to <= 0.71 | > 0.11 to <= 0.32 | <= 0.11
COMPLAINTS = cut_points(Direction.LOWER, ("1.34", True), ("0.71", True), ("0.32", True), ("0.11", True))


@pytest.mark.parametrize(
    ("score", "stars"),
    [
        ("57", 1),
        ("57.49", 1),  # rounds to 57
        ("57.5", 2),  # rounds half up to 58: exactly the inclusive 2-star bound
        ("58", 2),
        ("70.99", 3),  # rounds to 71: the inclusive 3-star bound
        ("83.499999", 4),  # the Technical Notes' own example: rounds down to 83
        ("83.5", 5),  # ... and 83.5 rounds up to 84
        ("84", 5),
        ("100", 5),
    ],
)
def test_higher_is_better_star_rounds_score_first(score: str, stars: int) -> None:
    assert measure_star(D(score), BREAST_CANCER, 0) == stars


@pytest.mark.parametrize(
    ("score", "stars"),
    [
        ("12.5", 1),  # rounds to 13 > 12
        ("12.4", 2),  # rounds to 12: the inclusive upper bound of 2 stars
        ("12", 2),
        ("10", 3),
        ("9", 4),
        ("7.5", 4),  # rounds to 8
        ("7.49", 5),  # rounds to 7
        ("0", 5),
    ],
)
def test_lower_is_better_star(score: str, stars: int) -> None:
    assert measure_star(D(score), READMISSIONS, 0) == stars


def test_lower_is_better_star_at_two_decimals() -> None:
    assert measure_star(D("0.114"), COMPLAINTS, 2) == 5  # 0.11 is inside "<= 0.11"
    assert measure_star(D("0.115"), COMPLAINTS, 2) == 4  # 0.12 is in "> 0.11 to <= 0.32"
    assert measure_star(D("1.34"), COMPLAINTS, 2) == 2
    assert measure_star(D("1.345"), COMPLAINTS, 2) == 1


def test_exclusive_bounds_from_cut_point_text() -> None:
    # "> 10 % to <= 12 %" for 2 stars of a lower-is-better measure: 12 is in, 10 is out.
    interval = parse_interval("> 10 % to <= 12 %")
    assert interval.low == Threshold(D(10), inclusive=False)
    assert interval.high == Threshold(D(12), inclusive=True)
    improvement = cut_points(
        Direction.HIGHER, ("-0.121368", True), ("0", True), ("0.202884", True), ("0.391253", True)
    )
    assert measure_star(D("-0.121368"), improvement, 6) == 2
    assert measure_star(D("-0.121369"), improvement, 6) == 1
    assert measure_star(D("0"), improvement, 6) == 3


def test_round_half_up_is_not_bankers_rounding() -> None:
    assert round_half_up(D("2.5"), 0) == 3
    assert round_half_up(D("0.125"), 2) == D("0.13")


def test_star_for_cell_keeps_statuses() -> None:
    assert star_for_cell(CellValue(number=D(84)), BREAST_CANCER, 0) == CellValue(number=D(5))
    issue = CellValue(status="CMS identified issues with this plan's data")
    assert star_for_cell(issue, BREAST_CANCER, 0) == CellValue(number=D(1))  # reduced to 1 star
    small = CellValue(status="Plan too small to be measured")
    assert star_for_cell(small, BREAST_CANCER, 0) == small


def test_weighted_variance_uses_n_over_n_minus_one() -> None:
    # Attachment H: mean = (3*5 + 1*1) / 4 = 4; SUMWX = 3*1 + 1*9 = 12;
    # variance = n * SUMWX / (W * (n - 1)) = 2 * 12 / (4 * 1) = 6.
    assert weighted_mean_and_variance([(5, D(3)), (1, D(1))]) == (D(4), D(6))


@pytest.mark.parametrize(
    ("raw", "rating"),
    [
        ("0.249999", "0"),
        ("0.25", "0.5"),
        ("3.249999", "3.0"),
        ("3.25", "3.5"),  # x.25 rounds up
        ("3.749999", "3.5"),
        ("3.75", "4.0"),  # x.75 rounds up
        ("4.75", "5.0"),
        ("5.4", "5.0"),
    ],
)
def test_half_star_rounding_table_22(methodology: Methodology, raw: str, rating: str) -> None:
    assert round_to_half_star(D(raw), methodology) == D(rating)


def test_reward_factor_categories(methodology: Methodology) -> None:
    # Table 8/9, Part C with improvement and new measures: 65th 3.695652, 85th 4.0,
    # variance 30th 0.918435, 70th 1.285170.
    thresholds = methodology.reward_thresholds[(RatingColumn.PART_C, True, True)]
    factors = methodology.reward_factors
    assert reward_factor(D("4.0"), D("0.918434"), thresholds, factors) == D("0.4")
    assert reward_factor(D("4.0"), D("0.918435"), thresholds, factors) == D("0.3")
    assert reward_factor(D("3.999999"), D("0.5"), thresholds, factors) == D("0.2")
    assert reward_factor(D("3.695652"), D("1.285169"), thresholds, factors) == D("0.1")
    assert reward_factor(D("4.5"), D("1.285170"), thresholds, factors) == D(0)
    assert reward_factor(D("3.695651"), D("0"), thresholds, factors) == D(0)


def pdp(contract_type: str = "pdp", fac: int | None = None, **kwargs: object) -> ContractProfile:
    return ContractProfile("S0001", contract_type, RatedAs.PDP, fac={RatingType.PART_D: fac}, **kwargs)


# A PDP rated on 11 Part D measures (no D04): weights D01-D03, D05, D06 = 2; D07, D11, D12 = 1;
# D08-D10 = 3 (Attachment G, Table G-2).
PDP_STARS = {
    "D01": 5, "D02": 5, "D03": 4, "D05": 4, "D06": 4,
    "D07": 5, "D08": 5, "D09": 5, "D10": 5, "D11": 4, "D12": 5,
}  # fmt: skip


def test_reward_factor_of_0_4_and_cai(methodology: Methodology) -> None:
    # W = 22, sum(w*x) = 103, mean = 103/22 = 4.681818; 5s weigh 15, 4s weigh 7:
    # SUMWX = 15*(7/22)^2 + 7*(15/22)^2 = 2310/484; variance = 11*SUMWX/(22*10) = 0.238636.
    # PDP Table 8: mean >= 3.913300 (85th) is high; Table 9: variance < 0.869005 is low -> 0.4.
    # Table 21, PDP FAC 2: CAI -0.082454. 4.681818 + 0.4 - 0.082454 = 4.999364 -> 5.0.
    result = rate_contract(PDP_STARS, pdp(fac=2), methodology).part_d
    assert result is not None and result.chosen is not None
    assert result.chosen.weighted_mean == D("4.681818")
    assert result.chosen.weighted_variance == D("0.238636")
    assert result.chosen.reward_factor == D("0.4")
    assert result.chosen.cai == D("-0.082454")
    assert result.chosen.value_before_rounding == D("4.999364")
    assert result.rating == D("5.0")


def test_cai_moves_a_rating_across_a_half_star(methodology: Methodology) -> None:
    # Six measures: D08=5, D09=5, D10=4 (w3), D07=D11=D12=1 (w1): mean = 45/12 = 3.75.
    # SUMWX = 6*1.25^2 + 3*0.25^2 + 3*2.75^2 = 32.25; variance = 6*32.25/(12*5) = 3.225, high
    # (>= 1.747939), so no reward. Table 21 CAI: FAC 1 -0.227881, FAC 3 +0.025549.
    stars = {"D07": 1, "D08": 5, "D09": 5, "D10": 4, "D11": 1, "D12": 1}
    no_cai = rate_contract(stars, pdp(), methodology).part_d
    low = rate_contract(stars, pdp(fac=1), methodology).part_d
    high = rate_contract(stars, pdp(fac=3), methodology).part_d
    assert no_cai is not None and low is not None and high is not None
    assert no_cai.chosen is not None and no_cai.chosen.weighted_variance == D("3.225")
    assert no_cai.rating == D("4.0")  # 3.75 is exactly the 4-star lower bound
    assert low.chosen is not None and low.chosen.value_before_rounding == D("3.522119")
    assert low.rating == D("3.5")
    assert high.rating == D("4.0")


def test_minimum_rated_measures(methodology: Methodology) -> None:
    # Table 6: a PDP needs 6 of 11 Part D measures; the improvement measure D04 does not count.
    five = {"D07": 4, "D08": 4, "D09": 4, "D10": 4, "D11": 4}
    result = rate_contract({**five, "D04": 5}, pdp(), methodology).part_d
    assert result is not None
    assert (result.rating, result.status) == (None, NOT_ENOUGH_DATA)
    assert (result.rated_measure_count, result.minimum_required) == (5, 6)
    too_new = rate_contract(five, pdp(too_new=True), methodology).part_d
    assert too_new is not None and too_new.status == TOO_NEW
    # Six 4-star measures: mean 4 (>= 3.913300, high), variance 0 (low): 4 + 0.4 -> 4.5.
    six = rate_contract({**five, "D12": 4}, pdp(), methodology).part_d
    assert six is not None and six.rating == D("4.5")


# An MA contract with 15 Part C measures: 13 weighing 1 plus C12 and C14 weighing 3 (W = 19),
# all at the same star, and the improvement measure C30 (weight 5) at 1 star.
FIFTEEN_PART_C = ["C01", "C02", "C03", "C06", "C10", "C11", "C13", "C15", "C16", "C17", "C19", "C20", "C21"]


def ma_profile(rated_as: RatedAs, **kwargs: object) -> ContractProfile:
    return ContractProfile("H0001", "ccp_without_snp", rated_as, **kwargs)


def part_c_stars(star: int) -> dict[str, int]:
    return {**dict.fromkeys([*FIFTEEN_PART_C, "C12", "C14"], star), "C30": 1}


def test_improvement_rule_keeps_the_higher_rating_from_4_stars(methodology: Methodology) -> None:
    # Without C30: mean 4, variance 0. Part C "without improvement" thresholds: 65th 3.717391,
    # 85th 4.020408 -> relatively high mean, low variance -> r = 0.2: 4.2 -> 4.0.
    # With C30: mean = (19*4 + 5*1) / 24 = 3.375 < 3.695652 -> r = 0: 3.375 -> 3.5.
    # MA-only: Part C is the highest rating and 4.0 >= 4, so the higher 4.0 is kept.
    result = rate_contract(part_c_stars(4), ma_profile(RatedAs.MA_ONLY), methodology).part_c
    assert result is not None and result.with_improvement and result.without_improvement
    assert result.with_improvement.weighted_mean == D("3.375")
    assert result.with_improvement.rating == D("3.5")
    assert result.without_improvement.reward_factor == D("0.2")
    assert result.without_improvement.rating == D("4.0")
    assert (result.path, result.rating) == ("without_improvement", D("4.0"))


def test_improvement_rule_applies_only_to_the_highest_rating(methodology: Methodology) -> None:
    # For an MA-PD contract the rule compares overall ratings; its Part C summary always
    # includes C30 ('Applying the Improvement Measure(s)', MA-PD step 1a).
    stars = {**part_c_stars(4), **dict.fromkeys(["D07", "D08", "D09", "D10", "D11", "D12"], 4)}
    result = rate_contract(stars, ma_profile(RatedAs.MA_PD), methodology).part_c
    assert result is not None
    assert (result.path, result.rating) == ("with_improvement", D("3.5"))


def test_improvement_rule_below_4_stars_uses_improvement(methodology: Methodology) -> None:
    # Without C30: mean 3 -> 3.0 (< 4); with C30: (19*3 + 5) / 24 = 2.583333 -> 2.5, used.
    result = rate_contract(part_c_stars(3), ma_profile(RatedAs.MA_ONLY), methodology).part_c
    assert result is not None
    assert (result.path, result.rating) == ("with_improvement", D("2.5"))


def test_shared_measures_count_once_in_overall(methodology: Methodology) -> None:
    stars = {"C28": 5, "C29": 4, "D02": 5, "D03": 4, "C01": 3, "D08": 2}
    ids = [m.id for m in rating_measures(methodology, RatingType.OVERALL, stars)]
    assert ids == ["C01", "C28", "C29", "D08"]
    # A shared measure rated only in Part D still counts once.
    ids = [m.id for m in rating_measures(methodology, RatingType.OVERALL, {"D02": 5})]
    assert ids == ["D02"]
    part_d = [m.id for m in rating_measures(methodology, RatingType.PART_D, stars)]
    assert part_d == ["D02", "D03", "D08"]


def test_overall_weights_shared_measures_once(methodology: Methodology) -> None:
    part_c = {**part_c_stars(4), "C28": 4, "C29": 4}
    part_d = dict.fromkeys(["D01", "D02", "D03", "D07", "D08", "D09", "D10", "D11", "D12"], 4)
    ratings = rate_contract({**part_c, **part_d}, ma_profile(RatedAs.MA_PD), methodology)
    assert ratings.overall is not None and ratings.overall.with_improvement is not None
    # Part C: 19 + C28 2 + C29 2 + C30 5 = 28; Part D: 2+2+2+1+3+3+3+1+1 = 18;
    # overall drops D02 and D03 (2 + 2): 28 + 18 - 4 = 42; counted measures 17 + 9 - 2 = 24.
    assert ratings.overall.with_improvement.weight_sum == D(42)
    assert ratings.overall.rated_measure_count == 24


def test_overall_needs_both_summary_ratings(methodology: Methodology) -> None:
    ratings = rate_contract(part_c_stars(4), ma_profile(RatedAs.MA_PD), methodology)
    assert ratings.part_d is not None and ratings.part_d.status == NOT_ENOUGH_DATA
    assert ratings.overall is not None and ratings.overall.status == NOT_ENOUGH_DATA


def test_rating_types_follow_table_3(methodology: Methodology) -> None:
    ma_only = rate_contract(part_c_stars(4), ma_profile(RatedAs.MA_ONLY), methodology)
    assert ma_only.part_d is None and ma_only.overall is None
    drug_plan = rate_contract(PDP_STARS, pdp(), methodology)
    assert drug_plan.part_c is None and drug_plan.overall is None


def test_disaster_new_measure_hold_harmless(methodology: Methodology) -> None:
    # 12 measures weighing 1 (incl. new measures C04, C05, C13 at 1 star, the rest 5) plus
    # C12, C14, C18 (weight 3) at 5. With new measures: mean = 93/21 = 4.428571, variance
    # 2.099125 (high) -> 4.5. Without them: all 5, variance 0 -> 5 + 0.4 -> 5.0.
    ones = ["C04", "C05", "C13"]
    fives = ["C01", "C02", "C03", "C06", "C10", "C11", "C15", "C16", "C17", "C12", "C14", "C18"]
    stars = {**dict.fromkeys(ones, 1), **dict.fromkeys(fives, 5)}
    plain = rate_contract(stars, ma_profile(RatedAs.MA_ONLY), methodology).part_c
    assert plain is not None and plain.rating == D("4.5") and not plain.new_measures_excluded
    affected = ma_profile(RatedAs.MA_ONLY, disaster_percent={2023: D(0), 2024: D(30)})
    held = rate_contract(stars, affected, methodology).part_c
    assert held is not None and held.rating == D("5.0") and held.new_measures_excluded
    assert held.chosen is not None and not held.chosen.with_new_measures


def test_puerto_rico_only_contracts_weigh_adherence_zero(methodology: Methodology) -> None:
    # Table G-2 footnote: D08-D10 weigh 0. D07=D11=D12=5 (w1), D08-D10=1: mean = 15/3 = 5.
    stars = {"D07": 5, "D11": 5, "D12": 5, "D08": 1, "D09": 1, "D10": 1}
    result = rate_contract(stars, pdp(puerto_rico_only=True), methodology).part_d
    assert result is not None and result.chosen is not None
    assert result.chosen.weighted_mean == D(5)


def test_unknown_contract_type_is_rejected(methodology: Methodology) -> None:
    with pytest.raises(ValueError, match="unknown contract type"):
        rate_contract(PDP_STARS, pdp(contract_type="mmp"), methodology)

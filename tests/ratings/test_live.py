"""Live ratings of the plan's contracts: rates from gaps, stars, members to the next cut point,
contract-level scores, CAI categories and the ratings with their intermediates — hand-computed."""

import itertools
import random
import uuid
from datetime import date
from decimal import Decimal

import pytest

from gaps.models import CareGap
from members.models import Contract, Member
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.engine import measure_star
from ratings.cms.tables import CutPoints, Direction, Threshold
from ratings.live.rating import contract_equity, contract_live_rating, members_to_next_cut_point
from ratings.models import CmsContract, CmsMeasureValue, ContractMeasureScore, ContractRatingProfile, CutPoint
from ratings.models import StarYearMeasure as Edition
from tests.conftest import query_count
from tests.factories import ContractFactory, measure
from tests.ratings.conftest import engine_files

pytestmark = pytest.mark.django_db


def cuts(direction: Direction, values: list[str], inclusive: bool = True) -> CutPoints:
    """Cut points for 2..5 stars."""
    return CutPoints(
        "X01",
        "Test",
        None,
        direction,
        {level: Threshold(Decimal(v), inclusive) for level, v in zip(range(2, 6), values, strict=True)},
    )


# --- members to the next cut point ----------------------------------------------------------------


def test_rounding_decides_the_star_and_the_members_needed():
    # 139 of 200 = 69.5%, rounded half up to 70: 4 stars on 48/60/70/78 (COL 2026). The
    # 5-star cut point 78 is reached from 77.5%, i.e. 155 of 200: 16 more closures.
    col = cuts(Direction.HIGHER, ["48", "60", "70", "78"])
    assert measure_star(Decimal(139 * 100) / 200, col, 0) == 4
    found = members_to_next_cut_point(numerator=139, eligible=200, open_gaps=61, cut=col, precision=0)
    assert (found.star, found.threshold, found.members, found.reachable) == (5, Decimal(78), 16, True)


def test_exclusive_threshold_needs_the_next_rounded_value():
    # "> 70": a rounded 70 is not enough, 71 is, reached from 70.5%.
    above = cuts(Direction.HIGHER, ["48", "60", "70", "78"], inclusive=False)
    # 65 of 100: 3 stars (> 60). 70 closed would round to 70, not above it; 71 does: 6 more.
    found = members_to_next_cut_point(numerator=65, eligible=100, open_gaps=35, cut=above, precision=0)
    assert (found.star, found.members) == (4, 6)


def test_lower_is_better_counts_members_leaving_the_numerator():
    # Readmission-like: <= 9 gives 4 stars. 11 of 100 = 11% (2 stars: > 10 to <= 12); 3 stars
    # at <= 10 needs a rounded 10, i.e. below 10.5%: 10 of 100, one member fewer.
    pcr = cuts(Direction.LOWER, ["12", "10", "9", "7"])
    found = members_to_next_cut_point(numerator=11, eligible=100, open_gaps=0, cut=pcr, precision=0)
    assert (found.star, found.members, found.reachable) == (3, 1, True)


def test_not_enough_open_gaps_is_unreachable_and_five_stars_has_no_next():
    bcs = cuts(Direction.HIGHER, ["58", "71", "76", "84"])
    found = members_to_next_cut_point(numerator=50, eligible=100, open_gaps=3, cut=bcs, precision=0)
    assert (found.star, found.members, found.reachable) == (2, 8, False)  # 57.5% → 58
    assert members_to_next_cut_point(numerator=90, eligible=100, open_gaps=10, cut=bcs, precision=0) is None
    assert members_to_next_cut_point(numerator=0, eligible=0, open_gaps=0, cut=bcs, precision=0) is None


@pytest.mark.parametrize("direction", [Direction.HIGHER, Direction.LOWER])
@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("precision", [0, 1, 2])
def test_members_needed_is_exactly_the_smallest_number(direction, inclusive, precision):
    values = ["40", "55.5", "70.25", "85"] if direction is Direction.HIGHER else ["85", "70.25", "55.5", "40"]
    cut = cuts(direction, values, inclusive)
    rng = random.Random(f"{direction}{inclusive}{precision}")
    for _ in range(150):
        eligible = rng.randint(1, 400)
        numerator = rng.randint(0, eligible)
        found = members_to_next_cut_point(
            numerator=numerator,
            eligible=eligible,
            open_gaps=eligible - numerator,
            cut=cut,
            precision=precision,
        )
        current = measure_star(Decimal(100 * numerator) / Decimal(eligible), cut, precision)
        sign, limit = (1, eligible - numerator) if direction is Direction.HIGHER else (-1, numerator)
        brute = next(
            (
                x
                for x in range(1, limit + 1)
                if measure_star(Decimal(100 * (numerator + sign * x)) / Decimal(eligible), cut, precision)
                > current
            ),
            None,
        )
        if current == 5:
            assert found is None
        elif brute is not None:
            assert (found.members, found.star) == (brute, current + 1), (numerator, eligible)
        else:
            assert found.members > limit


# --- live ratings from gaps ----------------------------------------------------------------------

_members = itertools.count()


def add_gaps(
    contract, code, *, closed=0, open=0, excluded=0, not_applicable=0, lis_de=False, disability=False
):
    """Members and their MY2026 gaps for one measure, written set-based."""
    statuses = (
        ["closed"] * closed + ["open"] * open + ["excluded"] * excluded + ["not_applicable"] * not_applicable
    )
    members = Member.objects.bulk_create(
        Member(
            id_hash=uuid.uuid4().hex + uuid.uuid4().hex,
            contract=contract,
            birth_year=1950,
            lis_de=lis_de,
            disability=disability,
        )
        for _ in statuses
    )
    CareGap.objects.bulk_create(
        CareGap(
            member=member,
            contract=contract,
            measure=measure(code),
            measurement_year=2026,
            compliance_status=status,
            evidence_date=date(2026, 3, 1) if status == "closed" else None,
            evidence_source="claims" if status == "closed" else "",
            exclusion_reason="Hospice" if status == "excluded" else "",
        )
        for member, status in zip(members, statuses, strict=True)
    )


def by_code(rating: dict) -> dict[str, dict]:
    return {m["measure"]: m for m in rating["measures"]}


def test_rates_stars_and_members_to_next_cut_point_from_gaps(cut_points_2026, contract):
    add_gaps(contract, "BCS", closed=4, open=2, lis_de=True)
    add_gaps(contract, "BCS", closed=4, excluded=1, not_applicable=1)
    add_gaps(contract, "COL", closed=60, open=40, disability=True)
    add_gaps(contract, "COL", closed=79, open=21)
    rating = contract_live_rating(contract=contract, measurement_year=2026).as_dict()
    assert (rating["star_year"], rating["cut_point_star_year"], rating["methodology_star_year"]) == (
        2028,
        2026,
        2026,
    )
    assert "Cut points for star year 2028 are not loaded" in rating["notes"][0]
    bcs, col = by_code(rating)["BCS"], by_code(rating)["COL"]
    # BCS: 11 in the denominator (not_applicable is not), 1 excluded: 8 ÷ 10 = 80% → 4 stars
    # (76 to 84); 5 stars at 84 needs 83.5%: one more closure (9 ÷ 10).
    assert {k: bcs[k] for k in ("denominator", "closed", "open", "excluded", "rate", "score", "star")} == {
        "denominator": 11,
        "closed": 8,
        "open": 2,
        "excluded": 1,
        "rate": 80.0,
        "score": 80.0,
        "star": 4,
    }
    assert (bcs["cms_id"], bcs["next_star"], bcs["next_cut_point"], bcs["members_to_next_cut_point"]) == (
        "C01",
        5,
        84.0,
        1,
    )
    # COL: 139 ÷ 200 = 69.5% → 70 → 4 stars; 78 needs 155 closed: 16 more.
    assert (col["rate"], col["score"], col["star"], col["members_to_next_cut_point"]) == (69.5, 70.0, 4, 16)
    assert col["next_cut_point_reachable"] is True


def test_stratified_rates_and_gaps(cut_points_2026, contract):
    add_gaps(contract, "BCS", closed=4, open=2, lis_de=True)
    add_gaps(contract, "BCS", closed=4, excluded=1)
    add_gaps(contract, "COL", closed=60, open=40, disability=True)
    add_gaps(contract, "COL", closed=79, open=21)
    strata = by_code(contract_live_rating(contract=contract, measurement_year=2026).as_dict())["BCS"][
        "strata"
    ]
    assert strata["lis_de"] == {"eligible": 6, "closed": 4, "rate": 66.6667}
    assert strata["non_lis_de"] == {"eligible": 4, "closed": 4, "rate": 100.0}
    assert strata["lis_de_gap"] == -33.3333
    assert (strata["disability"]["rate"], strata["disability_gap"]) == (None, None)
    equity = {m["measure"]: m for m in contract_equity(contract=contract, measurement_year=2026)["measures"]}
    assert (equity["COL"]["disability"]["rate"], equity["COL"]["non_disability"]["rate"]) == (60.0, 79.0)
    assert (equity["COL"]["disability_gap"], equity["COL"]["rate"]) == (-19.0, 69.5)
    assert equity["BCS"]["lis_de_gap"] == -33.3333


def test_equity_view_names_the_reward_method(cut_points_2026, contract):
    equity = contract_equity(contract=contract, measurement_year=2026)
    assert (equity["star_year"], equity["reward_method"], equity["measures"]) == (2028, "reward_factor", [])
    assert "reward method is that of star year 2026" in equity["notes"][0]


def test_pdp_contracts_use_the_pdp_cut_points(cut_points_2026):
    pdp = ContractFactory(contract_id="S1001", organization_type=Contract.OrganizationType.PDP)
    add_gaps(pdp, "SUPD", closed=85, open=15)
    supd = by_code(contract_live_rating(contract=pdp, measurement_year=2026).as_dict())["SUPD"]
    # 85%: PDP cut points 82/83/84/86 give 4 stars (the MA-PD ones, 81/85/89/93, would give 3).
    assert (supd["cms_id"], supd["star"], supd["members_to_next_cut_point"]) == ("D12", 4, 1)


# --- ratings with contract-level scores ------------------------------------------------------------

# A 4-star score for 13 Part C measures that are not computed from gaps (2026 cut points).
FOUR_STAR_SCORES = {
    "C03": "68",
    "C04": "72",
    "C05": "85",
    "C06": "53",
    "C15": "62",
    "C16": "49",
    "C18": "9",
    "C22": "82",
    "C23": "84",
    "C24": "91",
    "C28": "0.32",
    "C29": "17",
    "C31": "99",
}


@pytest.fixture
def ma_only(cut_points_2026, analyst):
    """An MA-only contract (LIS/DE 10%, disability 10%) with 15 Part C measures at 4 stars."""
    contract = ContractFactory(
        contract_id="H2001",
        organization_type=Contract.OrganizationType.MA_ONLY,
        lis_de_percent=Decimal(10),
        disability_percent=Decimal(10),
    )
    add_gaps(contract, "BCS", closed=8, open=2)  # 80% → 4 stars
    add_gaps(contract, "COL", closed=7, open=3)  # 70% → 4 stars
    for cms_id, score in FOUR_STAR_SCORES.items():
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2028,
            measure=Edition.objects.get(star_year=2026, cms_id=cms_id).measure,
            score=Decimal(score),
            entered_by=analyst,
        )
    return contract


def test_reward_factor_of_0_4_and_cai_hand_computed(ma_only):
    rating = contract_live_rating(contract=ma_only, measurement_year=2026).as_dict()
    assert rating["profile"]["rated_as"] == "MA-Only"
    assert rating["profile"]["contract_type"] == "ccp_without_snp"
    # Table 13: LIS/DE 10% is group L3 (9.130047 to < 12.937535); Table 14: disability 10% is
    # D1; Table 15: L2-L3 D1 is final adjustment category 2, CAI -0.036927.
    assert rating["profile"]["fac"]["part_c"]["category"] == 2
    assert (rating["part_d"], rating["overall"]) == (None, None)
    part_c = rating["part_c"]
    assert (part_c["rated_measures"], part_c["minimum_required"], part_c["path"]) == (
        15,
        15,
        "with_improvement",
    )
    with_improvement = part_c["with_improvement"]
    # 15 measures at 4 stars: mean 4, variance 0. Table 8 (with improvement, with new
    # measures): a mean of 4.000000 reaches the 85th percentile; Table 9: variance 0 is low:
    # reward factor 0.4. 4 + 0.4 - 0.036927 = 4.363073 → 4.5 (Table 22).
    assert {k: with_improvement[k] for k in ("measure_count", "weight_sum", "weighted_mean")} == {
        "measure_count": 15,
        "weight_sum": 23.0,
        "weighted_mean": 4.0,
    }
    assert (with_improvement["weighted_variance"], with_improvement["reward_factor"]) == (0.0, 0.4)
    assert (with_improvement["cai"], with_improvement["value_before_rounding"]) == (-0.036927, 4.363073)
    assert part_c["rating"] == 4.5
    # Without improvement measures the Table 8 threshold is 4.020408: relatively high only, 0.2.
    assert (part_c["without_improvement"]["reward_factor"], part_c["without_improvement"]["rating"]) == (
        0.2,
        4.0,
    )


def test_the_improvement_measure_rule_changes_the_rating(ma_only, analyst):
    # C30 (weight 5) at 1 star pulls the with-improvement rating to 3.5; MA-only contracts
    # keep the without-improvement Part C rating when it is at least 4 ('Applying the
    # Improvement Measure(s)').
    ContractMeasureScore.objects.create(
        contract=ma_only,
        star_year=2028,
        measure=Edition.objects.get(star_year=2026, cms_id="C30").measure,
        score=Decimal("-0.5"),
        entered_by=analyst,
    )
    part_c = contract_live_rating(contract=ma_only, measurement_year=2026).as_dict()["part_c"]
    # With: (23 × 4 + 5 × 1) ÷ 28 = 3.464286, variance 1.408163, no reward: 3.427359 → 3.5.
    assert (part_c["with_improvement"]["weighted_mean"], part_c["with_improvement"]["weighted_variance"]) == (
        3.464286,
        1.408163,
    )
    assert part_c["with_improvement"]["rating"] == 3.5
    assert (part_c["path"], part_c["rating"]) == ("without_improvement", 4.0)


def test_the_rating_profile_overrides_contract_type_and_cai(ma_only):
    ContractRatingProfile.objects.create(contract=ma_only, star_year=2028, contract_type="ccp_with_snp")
    part_c = contract_live_rating(contract=ma_only, measurement_year=2026).as_dict()["part_c"]
    # Table 6: a CCP with SNP needs 16 rated Part C measures; 15 are not enough.
    assert (part_c["rating"], part_c["status"], part_c["minimum_required"]) == (
        None,
        "Not enough data available",
        16,
    )
    ContractRatingProfile.objects.filter(contract=ma_only).update(contract_type="", part_c_fac=8)
    rating = contract_live_rating(contract=ma_only, measurement_year=2026).as_dict()
    assert rating["profile"]["fac"]["part_c"] == {"category": 8, "source": "rating profile"}
    assert rating["part_c"]["with_improvement"]["value_before_rounding"] == 4.50237  # 4 + 0.4 + 0.102370


def test_cahps_scores_are_flagged_as_estimates(ma_only):
    c03 = by_code(contract_live_rating(contract=ma_only, measurement_year=2026).as_dict())[
        "ANNUAL-FLU-VACCINE"
    ]
    assert (c03["source"], c03["score"], c03["star"]) == ("contract_score", 68.0, 4)
    assert "significance and reliability tests" in c03["notes"][0]


def test_national_percentile_of_a_measure(cut_points_2026, contract):
    col = Edition.objects.get(star_year=2026, cms_id="C02")
    for n, score in enumerate(["60", "70", "70", "75", None]):
        national = CmsContract.objects.create(
            star_year=2026, contract_id=f"H9{n:03d}", organization_type="Local CCP"
        )
        CmsMeasureValue.objects.create(
            contract=national,
            edition=col,
            score=Decimal(score) if score else None,
            score_status="" if score else "Plan too small to be measured",
        )
    add_gaps(contract, "COL", closed=139, open=61)  # 69.5% → 70
    found = by_code(contract_live_rating(contract=contract, measurement_year=2026).as_dict())["COL"]
    # Among 4 scores (60, 70, 70, 75): 1 worse, 2 the same → (1 + 2/2) ÷ 4 = 50th percentile.
    assert (found["national_percentile"], found["national_rank"], found["national_contracts"]) == (50.0, 2, 4)


def test_without_cut_points_there_are_no_stars_and_the_result_says_why(cut_points_2026, contract):
    CutPoint.objects.all().delete()
    add_gaps(contract, "BCS", closed=8, open=2)
    rating = contract_live_rating(contract=contract, measurement_year=2026).as_dict()
    assert "No CMS cut points are loaded" in rating["notes"][0]
    bcs = by_code(rating)["BCS"]
    assert (bcs["rate"], bcs["star"], bcs["members_to_next_cut_point"]) == (80.0, None, None)


def test_query_count_does_not_grow_with_gaps_or_measures(cut_points_2026, contract):
    add_gaps(contract, "BCS", closed=3, open=2)
    few = query_count(lambda: contract_live_rating(contract=contract, measurement_year=2026))
    for code in ("COL", "CBP", "GSD", "EED", "SUPD"):
        add_gaps(contract, code, closed=30, open=20, lis_de=True)
    assert query_count(lambda: contract_live_rating(contract=contract, measurement_year=2026)) == few


def test_a_star_year_without_cai_values_rates_measures_but_not_the_contract(contract):
    # 2025's methodology documents no CAI values: measurement year 2023 (star year 2025) gets
    # its measure stars from the 2025 cut points and no summary or overall rating, saying why.
    cms_star_data_import(
        star_year=2025, paths=[p for p in engine_files(2025) if "Cut Points" in p.name], source="tests"
    )
    rating = contract_live_rating(contract=contract, measurement_year=2023)
    assert (rating.star_year, rating.methodology_star_year, rating.ratings) == (2025, 2025, None)
    assert "The star year 2025 methodology does not document its CAI values" in " ".join(rating.notes)

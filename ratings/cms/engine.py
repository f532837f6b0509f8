"""Star Ratings rules: measure stars, Part C / Part D summary and overall ratings.

Pure functions over plain values. Each rule cites the 2026 Technical Notes section or table it
implements; the year-specific numbers (weights, thresholds, CAI values, minimums) come from a
`Methodology` so the same code rates any year whose JSON is shipped.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ratings.cms.methodology import Measure, Methodology, RatedAs, RatingColumn, RewardThresholds
from ratings.cms.tables import CellValue, CutPoints, Direction

__all__ = [
    "NOT_ENOUGH_DATA",
    "TOO_NEW",
    "Calculation",
    "ContractProfile",
    "ContractRatings",
    "RatingResult",
    "RatingType",
    "calculate",
    "measure_star",
    "rate_contract",
    "rating_column",
    "rating_measures",
    "reward_factor",
    "round_half_up",
    "round_to_half_star",
    "star_for_cell",
    "weighted_mean_and_variance",
]

NOT_ENOUGH_DATA = "Not enough data available"
TOO_NEW = "Plan too new to be measured"
# "Handling of Biased, Erroneous, and/or Not Reportable (NR) Data": such measures get 1 star.
CMS_IDENTIFIED_ISSUES = "CMS identified issues with this plan's data"


class RatingType(enum.Enum):
    """The three ratings computed from measure stars."""

    PART_C = "part_c"
    PART_D = "part_d"
    OVERALL = "overall"


def round_half_up(value: Decimal, places: int) -> Decimal:
    """Round as CMS does ('Rounding Rules for Measure Scores'): 83.5 -> 84, 83.499999 -> 83."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def measure_star(score: Decimal, cut_points: CutPoints, precision: int) -> int:
    """The 1-5 star of a score: round to the display precision, then apply the cut points.

    A score earns star level k (2..5) when it reaches that level's threshold: at least the
    value for higher-is-better measures, at most it for lower-is-better ones, with the
    inclusive/exclusive bound exactly as the cut point text states it (Attachment K,
    'Determining Stars from Scores and Thresholds').
    """
    rounded = round_half_up(score, precision)
    star = 1
    for level in range(2, 6):
        threshold = cut_points.thresholds[level]
        if cut_points.direction is Direction.HIGHER:
            reached = rounded > threshold.value or (threshold.inclusive and rounded == threshold.value)
        else:
            reached = rounded < threshold.value or (threshold.inclusive and rounded == threshold.value)
        if reached:
            star = level
    return star


def star_for_cell(cell: CellValue, cut_points: CutPoints, precision: int) -> CellValue:
    """The star cell CMS would publish for a measure data cell.

    Numbers get `measure_star`; "CMS identified issues with this plan's data" gets 1 star
    (Technical Notes 'Handling of Biased, Erroneous, and/or Not Reportable (NR) Data'); any
    other status carries over unchanged.
    """
    if cell.number is not None:
        return CellValue(number=Decimal(measure_star(cell.number, cut_points, precision)))
    if cell.status is not None and _same_status(cell.status, CMS_IDENTIFIED_ISSUES):
        return CellValue(number=Decimal(1))
    return cell


def _same_status(left: str, right: str) -> bool:
    """Compare status texts ignoring case and the typographic apostrophe of some files."""
    return left.replace("\u2019", "'").lower() == right.replace("\u2019", "'").lower()


def weighted_mean_and_variance(
    stars_and_weights: Sequence[tuple[int, Decimal]],
) -> tuple[Decimal, Decimal | None]:
    """Attachment H: weighted mean of stars and the weighted variance n*SUMWX / (W*(n-1)).

    `n` counts every measure in the calculation, `W` is the sum of their weights and SUMWX is
    the weighted sum of squared deviations from the mean. The variance is None for n = 1.
    """
    total_weight = sum((w for _, w in stars_and_weights), Decimal(0))
    mean = sum((w * s for s, w in stars_and_weights), Decimal(0)) / total_weight
    n = len(stars_and_weights)
    if n < 2:
        return mean, None
    sumwx = sum((w * (s - mean) ** 2 for s, w in stars_and_weights), Decimal(0))
    return mean, n * sumwx / (total_weight * (n - 1))


def reward_factor(
    mean: Decimal,
    variance: Decimal | None,
    thresholds: RewardThresholds,
    factors: Mapping[tuple[str, str], Decimal],
) -> Decimal:
    """'Applying the Reward Factor': 0.4/0.3/0.2/0.1/0 from mean and variance categories.

    Mean: high from the 85th percentile, relatively high from the 65th (Table 8). Variance:
    low below the 30th percentile, medium from the 30th to below the 70th (Table 9).
    `factors` maps (mean category, variance category) to the factor.
    """
    if variance is None:
        return Decimal(0)
    if mean >= thresholds.mean_high:
        mean_category = "high_mean"
    elif mean >= thresholds.mean_relatively_high:
        mean_category = "relatively_high_mean"
    else:
        return Decimal(0)
    if variance < thresholds.variance_low_below:
        variance_category = "low"
    elif variance < thresholds.variance_high_from:
        variance_category = "medium"
    else:
        return Decimal(0)
    return factors[(mean_category, variance_category)]


def round_to_half_star(value: Decimal, methodology: Methodology) -> Decimal:
    """Table 22: the half-star band whose lower bound the value reaches (x.25, x.75 go up)."""
    rating = methodology.half_star_bands[0][1]
    for lower_bound, band_rating in methodology.half_star_bands:
        if value >= lower_bound:
            rating = band_rating
    return rating


@dataclass(frozen=True)
class Calculation:
    """One run of the summary/overall formula over a set of measure stars."""

    measure_ids: tuple[str, ...]
    with_improvement: bool
    with_new_measures: bool
    weight_sum: Decimal
    weighted_mean: Decimal
    weighted_variance: Decimal | None
    reward_factor: Decimal
    cai: Decimal
    value_before_rounding: Decimal
    rating: Decimal

    @property
    def measure_count(self) -> int:
        """Number of measures (with a star) in this calculation."""
        return len(self.measure_ids)


def calculate(
    stars: Mapping[str, int],
    weights: Mapping[str, Decimal],
    methodology: Methodology,
    column: RatingColumn,
    fac: int | None,
    *,
    with_improvement: bool,
    with_new_measures: bool,
) -> Calculation:
    """Weighted mean + reward factor + CAI, rounded to a half star.

    'Completing the Summary and Overall Rating Calculations': the mean (Attachment H) and
    variance are computed to six decimals ('Calculation Precision'), the reward factor comes
    from Tables 8-9 for this improvement/new-measure variant, the CAI from the contract's final
    adjustment category (Tables 12/15/18/21), and the sum is rounded by Table 22.
    """
    ids = tuple(stars)
    places = methodology.calculation_decimals
    mean, variance = weighted_mean_and_variance([(stars[i], weights[i]) for i in ids])
    mean = round_half_up(mean, places)
    variance = round_half_up(variance, places) if variance is not None else None
    reward = reward_factor(
        mean,
        variance,
        methodology.reward_thresholds[(column, with_improvement, with_new_measures)],
        methodology.reward_factors,
    )
    cai = methodology.cai_value(column, fac)
    value = round_half_up(mean + reward + cai, places)
    return Calculation(
        measure_ids=ids,
        with_improvement=with_improvement,
        with_new_measures=with_new_measures,
        weight_sum=sum((weights[i] for i in ids), Decimal(0)),
        weighted_mean=mean,
        weighted_variance=variance,
        reward_factor=reward,
        cai=cai,
        value_before_rounding=value,
        rating=round_to_half_star(value, methodology),
    )


@dataclass(frozen=True)
class ContractProfile:
    """What the rules need to know about a contract besides its measure stars.

    `contract_type` is a Tables 4-7 column key (e.g. "ccp_with_snp"); `fac` holds the CAI final
    adjustment category per rating; `disaster_percent` maps a year to the share of enrollees
    in FEMA Individual Assistance areas; `too_new` selects the "Plan too new to be measured"
    message for unrated summaries (Attachment Q, Table Q-3).
    """

    contract_id: str
    contract_type: str
    rated_as: RatedAs
    fac: Mapping[RatingType, int | None] = field(default_factory=dict)
    puerto_rico_only: bool = False
    disaster_percent: Mapping[int, Decimal | None] = field(default_factory=dict)
    too_new: bool = False


@dataclass(frozen=True)
class RatingResult:
    """A summary or overall rating with every intermediate that produced it.

    `rating` is the published half-star value, or None with `status` giving CMS's message.
    `path` says whether the with- or without-improvement calculation was used; `chosen` is
    that calculation. When the disaster new-measure hold harmless applied, `chosen` excludes
    the new measures and `new_measures_excluded` is True.
    """

    rating_type: RatingType
    rating: Decimal | None
    status: str | None
    rated_measure_count: int
    minimum_required: int | None
    with_improvement: Calculation | None = None
    without_improvement: Calculation | None = None
    path: str | None = None
    chosen: Calculation | None = None
    new_measures_excluded: bool = False

    @property
    def value(self) -> CellValue:
        """The rating as a table cell: a number or the status message."""
        if self.rating is not None:
            return CellValue(number=self.rating)
        return CellValue(status=self.status or NOT_ENOUGH_DATA)


@dataclass(frozen=True)
class ContractRatings:
    """A contract's ratings; a rating is None where it does not apply (e.g. Part D of MA-only)."""

    contract_id: str
    part_c: RatingResult | None
    part_d: RatingResult | None
    overall: RatingResult | None

    def get(self, rating_type: RatingType) -> RatingResult | None:
        """The result of one rating type."""
        return {
            RatingType.PART_C: self.part_c,
            RatingType.PART_D: self.part_d,
            RatingType.OVERALL: self.overall,
        }[rating_type]


def rating_measures(
    methodology: Methodology, rating_type: RatingType, stars: Mapping[str, int]
) -> tuple[Measure, ...]:
    """The catalog measures with a star that enter a rating.

    Part C and Part D summaries use their part's measures. The overall rating uses both parts
    but counts the shared measures once ('Methodology for Calculating the Overall MA-PD
    Rating'): complaints (CTM) and members choosing to leave (MCLP) share one data source,
    so the first rated instance (Part C's, in catalog order) is kept.
    """
    if rating_type is RatingType.OVERALL:
        candidates = methodology.measures
    else:
        candidates = methodology.measures_of_part("C" if rating_type is RatingType.PART_C else "D")
    seen: set[str] = set()
    result = []
    for measure in candidates:
        if measure.id not in stars:
            continue
        if measure.shared_group is not None and rating_type is RatingType.OVERALL:
            if measure.shared_group in seen:
                continue
            seen.add(measure.shared_group)
        result.append(measure)
    return tuple(result)


def rating_column(rating_type: RatingType, rated_as: RatedAs) -> RatingColumn:
    """The Tables 8/9 and CAI column: Part D thresholds and CAI differ for PDPs."""
    if rating_type is RatingType.PART_C:
        return RatingColumn.PART_C
    if rating_type is RatingType.OVERALL:
        return RatingColumn.OVERALL
    return RatingColumn.PART_D_PDP if rated_as is RatedAs.PDP else RatingColumn.PART_D_MAPD


def _weights(measures: Sequence[Measure], profile: ContractProfile) -> dict[str, Decimal]:
    """Attachment G weights; adherence measures weigh 0 for Puerto Rico-only contracts."""
    return {
        m.id: Decimal(0) if profile.puerto_rico_only and m.puerto_rico_zero_weight else m.weight
        for m in measures
    }


def _new_measure_hold_harmless(
    stars: Mapping[str, int], profile: ContractProfile, methodology: Methodology
) -> bool:
    """Whether the disaster new-measure hold harmless applies to this contract.

    'Data Handling ... Major Disaster', New measures: a contract with data for a new measure
    is eligible when at least 25% of its enrollees were in FEMA Individual Assistance areas
    in the disaster year that measure's data source is adjusted for (HOS: 2023, HEDIS: 2024).
    """
    threshold = methodology.disaster_threshold_percent
    for measure_id, year in methodology.new_measure_disaster_year.items():
        percent = profile.disaster_percent.get(year)
        if measure_id in stars and percent is not None and percent >= threshold:
            return True
    return False


def _improvement_choice(
    included: Mapping[str, int],
    weights: Mapping[str, Decimal],
    methodology: Methodology,
    column: RatingColumn,
    fac: int | None,
    *,
    hold_harmless: bool,
    with_new_measures: bool,
) -> tuple[Calculation, Calculation, str]:
    """Run the with- and without-improvement calculations and pick one.

    'Applying the Improvement Measure(s)', steps 2-5: for the contract's highest-level rating
    (`hold_harmless`), if the rating without the improvement measures is 4 or more stars and
    the rating with them is lower, the without-improvement rating is used; otherwise, and for
    every other rating, the with-improvement rating is used.
    """
    with_improvement = calculate(
        included,
        weights,
        methodology,
        column,
        fac,
        with_improvement=True,
        with_new_measures=with_new_measures,
    )
    without_improvement = calculate(
        {i: s for i, s in included.items() if not methodology.measure(i).improvement_measure},
        weights,
        methodology,
        column,
        fac,
        with_improvement=False,
        with_new_measures=with_new_measures,
    )
    if (
        hold_harmless
        and without_improvement.rating >= methodology.hold_harmless_minimum
        and with_improvement.rating < without_improvement.rating
    ):
        return with_improvement, without_improvement, "without_improvement"
    return with_improvement, without_improvement, "with_improvement"


def _rate(
    rating_type: RatingType,
    stars: Mapping[str, int],
    profile: ContractProfile,
    methodology: Methodology,
    *,
    parts_rated: bool = True,
) -> RatingResult:
    """One summary or overall rating: Tables 6-7 minimum, improvement rule, hold harmless.

    `parts_rated` is False for an MA-PD overall rating whose Part C or Part D summary has no
    rating ('Methodology for Calculating the Overall MA-PD Rating').
    """
    measures = rating_measures(methodology, rating_type, stars)
    # Tables 6-7: the improvement measures do not count towards the minimum.
    counted = sum(1 for m in measures if not m.improvement_measure)
    minimum = methodology.minimum_rated(rating_type.value, profile.contract_type)
    required = minimum[0] if minimum is not None else None
    if not parts_rated or required is None or counted < required:
        status = TOO_NEW if profile.too_new else NOT_ENOUGH_DATA
        return RatingResult(rating_type, None, status, counted, required)
    weights = _weights(measures, profile)
    column = rating_column(rating_type, profile.rated_as)
    fac = profile.fac.get(rating_type)
    hold_harmless = rating_type.value in methodology.hold_harmless_ratings.get(profile.rated_as, ())
    included = {m.id: stars[m.id] for m in measures}
    with_calc, without_calc, path = _improvement_choice(
        included,
        weights,
        methodology,
        column,
        fac,
        hold_harmless=hold_harmless,
        with_new_measures=True,
    )
    chosen = with_calc if path == "with_improvement" else without_calc
    excluded = False
    if _new_measure_hold_harmless(stars, profile, methodology):
        # Disaster hold harmless for new measures: if the rating without them is higher, use
        # it (Table 8/9 "New Measures: Without" thresholds apply to that calculation).
        alt_with, alt_without, alt_path = _improvement_choice(
            {i: s for i, s in included.items() if not methodology.measure(i).new_measure},
            weights,
            methodology,
            column,
            fac,
            hold_harmless=hold_harmless,
            with_new_measures=False,
        )
        alt_chosen = alt_with if alt_path == "with_improvement" else alt_without
        if chosen.rating < alt_chosen.rating:
            with_calc, without_calc, path, chosen = alt_with, alt_without, alt_path, alt_chosen
            excluded = True
    return RatingResult(
        rating_type=rating_type,
        rating=chosen.rating,
        status=None,
        rated_measure_count=counted,
        minimum_required=required,
        with_improvement=with_calc,
        without_improvement=without_calc,
        path=path,
        chosen=chosen,
        new_measures_excluded=excluded,
    )


def rate_contract(
    stars: Mapping[str, int], profile: ContractProfile, methodology: Methodology
) -> ContractRatings:
    """Part C summary, Part D summary and overall ratings from a contract's measure stars.

    `stars` maps measure IDs to 1-5 stars for the measures the contract is rated on; measures
    without a star are simply absent. MA-only contracts get only a Part C summary, PDPs only a
    Part D summary (Table 3). An MA-PD overall rating needs both summary ratings
    ('Methodology for Calculating the Overall MA-PD Rating').
    """
    if profile.contract_type not in methodology.contract_types:
        raise ValueError(
            f"unknown contract type {profile.contract_type!r}; "
            f"expected one of {sorted(methodology.contract_types)}"
        )
    part_c = part_d = overall = None
    if profile.rated_as in (RatedAs.MA_PD, RatedAs.MA_ONLY):
        part_c = _rate(RatingType.PART_C, stars, profile, methodology)
    if profile.rated_as in (RatedAs.MA_PD, RatedAs.PDP):
        part_d = _rate(RatingType.PART_D, stars, profile, methodology)
    if profile.rated_as is RatedAs.MA_PD:
        assert part_c is not None and part_d is not None
        both_rated = part_c.rating is not None and part_d.rating is not None
        overall = _rate(RatingType.OVERALL, stars, profile, methodology, parts_rated=both_rated)
    return ContractRatings(profile.contract_id, part_c, part_d, overall)

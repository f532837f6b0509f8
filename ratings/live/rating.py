"""Live Star Ratings for the plan's own contracts, from its care gaps and contract-level scores.

For a contract and measurement year: each member-level measure's rate from one SQL aggregate
over the gaps (`selectors.gap_counts`), contract-level scores entered by analysts for the other
measures, measure stars from the cut points of the star year the results count towards
(measurement year + 2; the latest loaded star year when that one is not published yet), the
members needed to reach the next cut point, the national percentile, and Part C / Part D /
overall ratings from the engine (`rate_contract`) with every intermediate. `as_dict()` is the
one JSON shape shared by the API and the portfolio snapshots.
"""

import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from ratings.benchmark import selectors as benchmark
from ratings.cms.engine import (
    Calculation,
    ContractProfile,
    ContractRatings,
    RatingResult,
    RatingType,
    measure_star,
    rate_contract,
    round_half_up,
)
from ratings.cms.methodology import (
    Methodology,
    MethodologyNotAvailable,
    RatedAs,
    RatingColumn,
    available_star_years,
)
from ratings.cms.tables import CutPoints, Direction
from ratings.live import selectors
from ratings.models import (
    ContractMeasureScore,
    ContractRatingProfile,
    ContractType,
    CutPoint,
    Measure,
    StarYearMeasure,
)

# DESIGN §2: the 2026 Star Ratings use measurement year 2024 data.
STAR_YEAR_LAG = 2
RATED_AS = {"ma_pd": RatedAs.MA_PD, "ma_only": RatedAs.MA_ONLY, "pdp": RatedAs.PDP}
FAC_TABLES = {
    RatingColumn.OVERALL: "Tables 10-12",
    RatingColumn.PART_C: "Tables 13-15",
    RatingColumn.PART_D_MAPD: "Tables 16-18",
    RatingColumn.PART_D_PDP: "Tables 19-21",
}
HEI_NOTE = (
    "The Health Equity Index is not computed (it needs CMS's national benchmarks by social risk "
    "factor); the stratified rates show where the plan's disparities are."
)


def star_year_for(measurement_year: int) -> int:
    """The star year a measurement year's results count towards."""
    return measurement_year + STAR_YEAR_LAG


def _number(value: Decimal | None, places: int = 6) -> float | None:
    """A decimal as a JSON number (rounded), or None."""
    return None if value is None else float(round(value, places))


# --- members to the next cut point ------------------------------------------------------------


@dataclass(frozen=True)
class NextCutPoint:
    """The next star level's threshold and how many members it takes to reach it.

    `members` is the smallest number of additional closures (for a lower-is-better measure:
    of members leaving the numerator) that moves the measure star up, after rounding the
    rate to the display precision; `reachable` says whether enough gaps are open for that.
    """

    star: int
    threshold: Decimal
    inclusive: bool
    members: int
    reachable: bool


def _rate_star(numerator: int, eligible: int, cut: CutPoints, precision: int) -> int:
    """The measure star of numerator ÷ eligible as a percentage."""
    return measure_star(Decimal(100 * numerator) / Decimal(eligible), cut, precision)


def members_to_next_cut_point(
    *, numerator: int, eligible: int, open_gaps: int, cut: CutPoints, precision: int
) -> NextCutPoint | None:
    """Exactly the fewest members that move a measure to its next star; None at 5 stars.

    Attachment K compares the score rounded half up to the display precision. For a higher-
    is-better threshold t, the smallest reachable rounded value is g = t (or the next value on
    the precision grid if t is exclusive), so the raw rate must reach g − ½ unit; x closures
    give rate 100(n + x)/e, hence x = ⌈(g − ½u)·e/100 − n⌉. Lower-is-better mirrors it with
    members leaving the numerator. Computed in exact fractions, then confirmed with the
    engine's own `measure_star`.
    """
    if eligible <= 0:
        return None
    current = _rate_star(numerator, eligible, cut, precision)
    if current >= 5:
        return None
    level = current + 1
    threshold = cut.thresholds[level]
    unit = Fraction(1, 10**precision)
    steps = Fraction(threshold.value) / unit
    if cut.direction is Direction.HIGHER:
        grid = math.ceil(steps) if threshold.inclusive else math.floor(steps) + 1
        lowest_raw = grid * unit - unit / 2
        members = max(1, math.ceil(lowest_raw * eligible / 100 - numerator))
        sign, headroom, limit = 1, open_gaps, eligible - numerator
    else:
        grid = math.floor(steps) if threshold.inclusive else math.ceil(steps) - 1
        highest_raw = grid * unit + unit / 2
        members = max(1, math.floor(numerator - highest_raw * eligible / 100) + 1)
        sign, headroom, limit = -1, numerator, numerator
    while members <= limit and _rate_star(numerator + sign * members, eligible, cut, precision) < level:
        members += 1
    return NextCutPoint(level, threshold.value, threshold.inclusive, members, members <= headroom)


# --- the live rating -----------------------------------------------------------------------------


@dataclass
class MeasureResult:
    """One measure of a contract's live rating: its score, star and distance to the next star."""

    edition: StarYearMeasure | None
    measure_code: str
    measure_pk: int
    name: str
    part: str
    member_level: bool
    source: str | None = None
    counts: selectors.GapCounts | None = None
    score: Decimal | None = None
    status: str | None = None
    precision: int | None = None
    star: int | None = None
    cut_points: CutPoints | None = None
    next_cut: NextCutPoint | None = None
    percentile: benchmark.Percentile | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rounded_score(self) -> Decimal | None:
        """The score as CMS compares it with the cut points (rounded to display precision)."""
        if self.score is None or self.precision is None:
            return None
        return round_half_up(self.score, self.precision)

    def as_dict(self) -> dict:
        """JSON-ready form (numbers as JSON numbers)."""
        counts = self.counts
        result = {
            "measure": self.measure_code,
            "measure_pk": self.measure_pk,
            "name": self.name,
            "part": self.part,
            "cms_id": self.edition.cms_id if self.edition else None,
            "weight": _number(self.edition.weight) if self.edition else None,
            "member_level": self.member_level,
            "source": self.source,
            "denominator": counts.denominator if counts else None,
            "closed": counts.closed if counts else None,
            "open": counts.open if counts else None,
            "excluded": counts.excluded if counts else None,
            "rate": _number(counts.rate, 4) if counts else None,
            "score": _number(self.rounded_score if self.rounded_score is not None else self.score),
            "status": self.status,
            "star": self.star,
            "next_star": self.next_cut.star if self.next_cut else None,
            "next_cut_point": _number(self.next_cut.threshold) if self.next_cut else None,
            "members_to_next_cut_point": self.next_cut.members if self.next_cut else None,
            "next_cut_point_reachable": self.next_cut.reachable if self.next_cut else None,
            "national_percentile": self.percentile.percentile if self.percentile else None,
            "national_rank": self.percentile.rank if self.percentile else None,
            "national_contracts": self.percentile.contracts if self.percentile else None,
            "notes": list(self.notes),
        }
        if counts is not None:
            result["strata"] = strata_dict(counts)
        return result


def strata_dict(counts: selectors.GapCounts) -> dict:
    """Rates by LIS/DE and by disability, with the gap between groups in percentage points.

    A negative gap means members with the social risk factor do worse than those without.
    """
    result: dict = {}
    for name, stratum in counts.strata.items():
        result[name] = {
            "eligible": stratum.eligible,
            "closed": stratum.closed,
            "rate": _number(stratum.rate, 4),
        }
    for risk, other in (("lis_de", "non_lis_de"), ("disability", "non_disability")):
        at_risk, without = counts.strata[risk].rate, counts.strata[other].rate
        result[f"{risk}_gap"] = (
            _number(at_risk - without, 4) if at_risk is not None and without is not None else None
        )
    return result


def _calculation_dict(calculation: Calculation | None) -> dict | None:
    """One weighted-mean calculation with its intermediates."""
    if calculation is None:
        return None
    return {
        "measures": list(calculation.measure_ids),
        "measure_count": calculation.measure_count,
        "weight_sum": _number(calculation.weight_sum),
        "weighted_mean": _number(calculation.weighted_mean),
        "weighted_variance": _number(calculation.weighted_variance),
        "reward_factor": _number(calculation.reward_factor),
        "cai": _number(calculation.cai),
        "value_before_rounding": _number(calculation.value_before_rounding),
        "rating": _number(calculation.rating),
        "with_new_measures": calculation.with_new_measures,
    }


def rating_dict(result: RatingResult | None) -> dict | None:
    """A summary or overall rating with both improvement paths and which one was used."""
    if result is None:
        return None
    return {
        "rating": _number(result.rating),
        "status": result.status,
        "rated_measures": result.rated_measure_count,
        "minimum_required": result.minimum_required,
        "path": result.path,
        "new_measures_excluded": result.new_measures_excluded,
        "with_improvement": _calculation_dict(result.with_improvement),
        "without_improvement": _calculation_dict(result.without_improvement),
    }


@dataclass
class LiveRating:
    """A contract's live rating for a measurement year, and which CMS year it was rated with."""

    contract_id: str
    measurement_year: int
    star_year: int
    cut_point_star_year: int | None
    methodology_star_year: int | None
    reward_method: str | None
    profile: dict
    measures: list[MeasureResult]
    ratings: ContractRatings | None
    notes: list[str]
    # What the ratings were computed with, for the forecast and the optimizer (not in as_dict).
    methodology: Methodology | None = None
    engine_profile: ContractProfile | None = None

    def as_dict(self) -> dict:
        """The JSON document shown by the API and stored by portfolio snapshots."""
        ratings = self.ratings
        return {
            "contract": self.contract_id,
            "measurement_year": self.measurement_year,
            "star_year": self.star_year,
            "cut_point_star_year": self.cut_point_star_year,
            "methodology_star_year": self.methodology_star_year,
            "reward_method": self.reward_method,
            "notes": list(self.notes),
            "profile": self.profile,
            "measures": [m.as_dict() for m in self.measures],
            "part_c": rating_dict(ratings.part_c) if ratings else None,
            "part_d": rating_dict(ratings.part_d) if ratings else None,
            "overall": rating_dict(ratings.overall) if ratings else None,
        }


def _catalog_year(star_year: int, cut_point_years: set[int], notes: list[str]) -> int | None:
    """The star year whose cut points and catalog rate this star year, with a note if another."""
    if star_year in cut_point_years:
        return star_year
    if cut_point_years:
        latest = max(cut_point_years)
        notes.append(
            f"Cut points for star year {star_year} are not loaded; stars use the star year {latest} "
            "cut points, the latest loaded, and ratings that year's catalog and methodology (weights, "
            "reward factor thresholds, CAI values)."
        )
        return latest
    shipped = available_star_years()
    notes.append(
        "No CMS cut points are loaded (run import_cms_star_data), so no measure stars or ratings "
        "can be computed."
    )
    return max(shipped) if shipped else None


def _profile(contract, methodology: Methodology, stored: ContractRatingProfile | None, notes: list[str]):
    """The engine's `ContractProfile` for one of the plan's contracts, and how each part was set."""
    rated_as = RATED_AS[contract.organization_type]
    if stored is not None and stored.contract_type:
        contract_type, type_source = stored.contract_type, "rating profile"
    elif rated_as is RatedAs.PDP:
        contract_type, type_source = ContractType.PDP.value, "organization type"
    else:
        contract_type = (ContractType.CCP_WITH_SNP if contract.snp else ContractType.CCP_WITHOUT_SNP).value
        type_source = "organization type and SNP flag (a CCP is assumed; set the rating profile otherwise)"
    puerto_rico_only = stored.puerto_rico_only if stored is not None else False
    columns = {
        RatingType.PART_C: RatingColumn.PART_C,
        RatingType.PART_D: RatingColumn.PART_D_PDP if rated_as is RatedAs.PDP else RatingColumn.PART_D_MAPD,
        RatingType.OVERALL: RatingColumn.OVERALL,
    }
    entered = {
        RatingType.PART_C: stored.part_c_fac if stored else None,
        RatingType.PART_D: stored.part_d_fac if stored else None,
        RatingType.OVERALL: stored.overall_fac if stored else None,
    }
    fac: dict[RatingType, int | None] = {}
    fac_view = {}
    for rating_type, column in columns.items():
        if entered[rating_type] is not None:
            fac[rating_type], source = entered[rating_type], "rating profile"
        elif puerto_rico_only:
            fac[rating_type], source = None, "unknown: set it in the contract's rating profile"
            notes.append(
                f"{rating_type.value}: Puerto Rico-only contracts use a modified LIS/DE % (Attachment O); "
                "set the final adjustment category in the rating profile (no CAI applied until then)."
            )
        else:
            fac[rating_type] = methodology.final_adjustment_category(
                column, contract.lis_de_percent, contract.disability_percent
            )
            source = (
                f"derived from LIS/DE {contract.lis_de_percent}% and disability "
                f"{contract.disability_percent}% ({FAC_TABLES[column]})"
            )
        fac_view[rating_type.value] = {"category": fac[rating_type], "source": source}
    profile = ContractProfile(
        contract_id=contract.contract_id,
        contract_type=contract_type,
        rated_as=rated_as,
        fac=fac,
        puerto_rico_only=puerto_rico_only,
    )
    view = {
        "contract_type": contract_type,
        "contract_type_source": type_source,
        "rated_as": rated_as.value,
        "puerto_rico_only": puerto_rico_only,
        "fac": fac_view,
    }
    return profile, view


def rated_measure_ids(measurement_year: int) -> dict[str, str]:
    """The CMS ID of each measure a measurement year is rated on (in the catalog of the star year
    `contract_live_rating` uses), by its measure code and by the CMS ID itself: the two names people
    give a measure (CBP or C14 in the 2026 catalog)."""
    catalog_year = _catalog_year(star_year_for(measurement_year), benchmark.cut_point_star_years(), [])
    editions = (
        StarYearMeasure.objects.filter(star_year=catalog_year)
        .order_by("cms_id")
        .values_list("measure__code", "cms_id")
    )
    return {name: cms_id for code, cms_id in editions for name in (code, cms_id)}


def contract_live_rating(*, contract, measurement_year: int) -> LiveRating:
    """Rate one of the plan's contracts for a measurement year from gaps and contract-level scores.

    A constant number of queries whatever the number of gaps or measures: the gap aggregate,
    the loaded star years, the catalog, the cut points, the contract-level scores, the
    rating profile and one aggregate for the national percentiles.
    """
    star_year = star_year_for(measurement_year)
    notes: list[str] = []
    cut_point_years = benchmark.cut_point_star_years()
    catalog_year = _catalog_year(star_year, cut_point_years, notes)
    methodology = benchmark.methodology_or_none(catalog_year) if catalog_year is not None else None
    if catalog_year is not None and methodology is None:
        notes.append(
            f"No methodology is shipped for star year {catalog_year}: measure stars are computed, "
            "summary and overall ratings are not (weights, reward factor and CAI are unknown)."
        )
    org_type = "PDP" if contract.organization_type == "pdp" else "MA-PD"
    editions = list(
        StarYearMeasure.objects.filter(star_year=catalog_year).select_related("measure").order_by("cms_id")
    )
    cuts = {
        cut.edition_id: cut
        for cut in CutPoint.objects.filter(
            edition__star_year=catalog_year, org_type__in=["", org_type]
        ).select_related("edition")
    }
    counts = selectors.gap_counts(contract=contract, measurement_year=measurement_year)
    scores = {
        score.measure_id: score
        for score in ContractMeasureScore.objects.filter(contract=contract, star_year=star_year)
    }
    stored_profile = ContractRatingProfile.objects.filter(contract=contract, star_year=star_year).first()

    results = [_measure_result(edition, counts, scores, cuts, methodology) for edition in editions]
    in_catalog = {edition.measure_id for edition in editions}
    unrated = Measure.objects.in_bulk([pk for pk in counts if pk not in in_catalog])
    results.extend(_unrated_gap_measure(measure, counts[pk], catalog_year) for pk, measure in unrated.items())
    _add_percentiles(results, cuts)

    ratings = None
    profile = None
    profile_view: dict = {}
    if methodology is not None and not methodology.rates_contracts:
        notes.append(
            f"The star year {methodology.star_year} methodology does not document its CAI values: "
            "measure stars are computed, summary and overall ratings are not."
        )
    elif methodology is not None:
        profile, profile_view = _profile(contract, methodology, stored_profile, notes)
        stars = {r.edition.cms_id: r.star for r in results if r.edition is not None and r.star is not None}
        ratings = rate_contract(stars, profile, methodology)
        if methodology.reward_method != "reward_factor":
            notes.append(
                f"The star year {methodology.star_year} methodology names reward method "
                f"{methodology.reward_method!r}; the engine implements only the reward factor, so these "
                "ratings are the reward-factor what-if."
            )
    return LiveRating(
        contract_id=contract.contract_id,
        measurement_year=measurement_year,
        star_year=star_year,
        cut_point_star_year=catalog_year if catalog_year in cut_point_years else None,
        methodology_star_year=methodology.star_year if methodology else None,
        reward_method=methodology.reward_method if methodology else None,
        profile=profile_view,
        measures=results,
        ratings=ratings,
        notes=notes,
        methodology=methodology,
        engine_profile=profile,
    )


def _measure_result(
    edition: StarYearMeasure,
    counts: dict[int, selectors.GapCounts],
    scores: dict[int, ContractMeasureScore],
    cuts: dict[int, CutPoint],
    methodology: Methodology | None,
) -> MeasureResult:
    """Score, star and next cut point of one catalog measure for the contract."""
    measure = edition.measure
    result = MeasureResult(
        edition=edition,
        measure_code=measure.code,
        measure_pk=measure.pk,
        name=edition.name,
        part=measure.part,
        member_level=measure.member_level,
    )
    gap_counts = counts.get(measure.pk)
    if measure.member_level:
        if gap_counts is None or gap_counts.eligible == 0:
            result.counts = gap_counts
            result.status = "No eligible members in the gaps for this measurement year"
            return result
        result.source, result.counts, result.score = "gaps", gap_counts, gap_counts.rate
    else:
        entered = scores.get(measure.pk)
        if entered is None:
            result.status = "No contract-level score entered"
            return result
        result.source = "contract_score"
        result.score = Decimal(entered.score) if entered.score is not None else None
        result.status = entered.status or None
        if result.score is None:
            return result
    cut = cuts.get(edition.pk)
    if cut is None:
        result.notes.append(f"No cut points for {edition.cms_id} in star year {edition.star_year}.")
        return result
    cms_cut = cut.as_cms()
    result.cut_points = cms_cut
    result.precision = edition.display_precision if edition.display_precision is not None else cut.decimals
    result.star = measure_star(result.score, cms_cut, result.precision)
    if methodology is not None and _is_cahps(methodology, edition.cms_id):
        result.notes.append(
            "CAHPS measure: CMS also applies significance and reliability tests (Attachment K, "
            "Table K-7), so this star from the cut points alone is an estimate."
        )
    if result.source == "gaps":
        result.next_cut = members_to_next_cut_point(
            numerator=gap_counts.closed,
            eligible=gap_counts.eligible,
            open_gaps=gap_counts.open,
            cut=cms_cut,
            precision=result.precision,
        )
    return result


def _is_cahps(methodology: Methodology, measure_id: str) -> bool:
    """Whether the methodology's catalog lists the measure as a CAHPS survey measure."""
    try:
        return methodology.measure(measure_id).is_cahps
    except KeyError:
        return False


def _unrated_gap_measure(
    measure: Measure, counts: selectors.GapCounts, catalog_year: int | None
) -> MeasureResult:
    """A measure with gaps that the rating star year's catalog does not rate."""
    return MeasureResult(
        edition=None,
        measure_code=measure.code,
        measure_pk=measure.pk,
        name=measure.name,
        part=measure.part,
        member_level=measure.member_level,
        source="gaps",
        counts=counts,
        score=counts.rate,
        notes=[f"Not a Star Ratings measure in star year {catalog_year}: shown, not rated."],
    )


def _add_percentiles(results: list[MeasureResult], cuts: dict[int, CutPoint]) -> None:
    """Each scored measure's national percentile among the rating star year's contracts."""
    wanted = {}
    for result in results:
        if result.edition is not None and result.rounded_score is not None:
            cut = cuts.get(result.edition.pk)
            direction = cut.direction if cut is not None else result.edition.measure.direction
            wanted[result.edition.pk] = (result.rounded_score, direction)
    found = benchmark.national_percentiles(wanted)
    for result in results:
        if result.edition is not None and result.edition.pk in found:
            percentile = found[result.edition.pk]
            result.percentile = percentile if percentile.contracts else None


# --- health equity ---------------------------------------------------------------------------------


def contract_equity(*, contract, measurement_year: int) -> dict:
    """Every member-level measure's rate stratified by LIS/DE and disability, with the gaps.

    Two queries: the gap aggregate and the measures' names. The reward method is the star
    year's setting from the methodology JSON (the latest shipped when that year is not).
    """
    star_year = star_year_for(measurement_year)
    counts = selectors.gap_counts(contract=contract, measurement_year=measurement_year)
    measures = Measure.objects.in_bulk(list(counts))
    notes = [HEI_NOTE]
    try:
        methodology = Methodology.for_star_year_or_latest(star_year)
    except MethodologyNotAvailable:
        methodology = None
    if methodology is not None and methodology.star_year != star_year:
        notes.insert(
            0,
            f"No methodology is shipped for star year {star_year}; the reward method is that of "
            f"star year {methodology.star_year}.",
        )
    rows = []
    for measure_pk, measure_counts in sorted(counts.items(), key=lambda item: measures[item[0]].code):
        measure = measures[measure_pk]
        rows.append(
            {
                "measure": measure.code,
                "name": measure.name,
                "part": measure.part,
                "eligible": measure_counts.eligible,
                "closed": measure_counts.closed,
                "rate": _number(measure_counts.rate, 4),
                **strata_dict(measure_counts),
            }
        )
    return {
        "contract": contract.contract_id,
        "measurement_year": measurement_year,
        "star_year": star_year,
        "reward_method": methodology.reward_method if methodology else None,
        "notes": notes,
        "measures": rows,
    }

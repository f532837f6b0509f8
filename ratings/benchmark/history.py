"""Reads of CMS's national benchmark across star years: a contract's scores and stars per measure in
every imported year, and each measure's cut points by year (how far the 4-star threshold moved).

A measure is followed by its identity (`StarYearMeasure.measure`, linked across IDs by the measure
lineage at import), not by its CMS ID: 2025's C11 and 2026's C14 are both Controlling High Blood
Pressure. Statuses such as "Plan too small to be measured" stay words, never zeros.
"""

import functools
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.text import slugify

from hedis_portal import formats
from ratings.benchmark.selectors import loaded_star_years
from ratings.cms.lineage import normalized_name
from ratings.cms.methodology import Methodology, available_star_years
from ratings.cms.tables import Threshold
from ratings.models import CmsContract, CmsMeasureValue, CutPoint, Direction, Measure

__all__ = [
    "ContractHistory",
    "CutPointYear",
    "MeasureCutPointHistory",
    "MeasureHistory",
    "MeasureYear",
    "RatingsYear",
    "cms_contract_history",
    "cut_point_history",
    "four_star_change_text",
    "is_percentage",
    "measure_label",
    "threshold_text",
]


@functools.cache
def _data_displays() -> dict[tuple[str, str], str]:
    """How CMS displays each catalog measure ("Percentage with no decimal place", …), by part and
    name; the newest shipped catalog wins. Years without a catalog take their measure's display."""
    displays: dict[tuple[str, str], str] = {}
    for star_year in sorted(available_star_years(), reverse=True):
        for measure in Methodology.for_star_year(star_year).measures:
            displays.setdefault((measure.part, normalized_name(measure.name)), measure.data_display)
    return displays


def measure_label(measure: Measure, cms_id: str = "") -> str:
    """A measure as tables name it: "C01 · BCS · Breast Cancer Screening"; the code left out where it
    only spells the name ("C04 · Improving or Maintaining Physical Health", not IMPROVING-OR-…)."""
    return label_text(cms_id, measure.code, measure.name)


def label_text(cms_id: str | None, code: str | None, name: str | None) -> str:
    """`measure_label` from its parts (e.g. as a snapshot stores them); any part may be missing."""
    spelled = bool(code and name) and "-" in code and slugify(name).upper().startswith(code)
    return " · ".join(part for part in (cms_id, "" if spelled else code, name) if part)


def is_percentage(measure: Measure) -> bool:
    """Whether the measure's scores and cut points are percentages (per its shipped catalog entry)."""
    return _data_displays().get((measure.part, normalized_name(measure.name)), "").startswith("Percentage")


@dataclass(frozen=True)
class MeasureYear:
    """A contract's published score and star on a measure in one star year (a status where no number)."""

    star_year: int
    cms_id: str
    display_precision: int | None
    score: Decimal | None
    score_status: str
    star: int | None
    star_status: str


@dataclass
class MeasureHistory:
    """One measure (by identity) with the contract's value in each star year it was published."""

    measure: Measure
    percentage: bool
    years: dict[int, MeasureYear] = field(default_factory=dict)

    @property
    def latest(self) -> MeasureYear:
        """The newest year's value: its ID orders the measures as CMS lists them now."""
        return self.years[max(self.years)]

    def star_change(self, star_year: int, previous_year: int) -> int | None:
        """Stars gained (or lost) from `previous_year` to `star_year`; None unless both have a star."""
        now, before = self.years.get(star_year), self.years.get(previous_year)
        if now is None or before is None or now.star is None or before.star is None:
            return None
        return now.star - before.star


@dataclass(frozen=True)
class RatingsYear:
    """A contract's summary and overall ratings as published in one star year (statuses kept)."""

    star_year: int
    organization_type: str
    contract_name: str
    marketing_name: str
    part_c_summary: Decimal | None
    part_c_summary_status: str
    part_d_summary: Decimal | None
    part_d_summary_status: str
    overall: Decimal | None
    overall_status: str


@dataclass(frozen=True)
class ContractHistory:
    """A CMS contract across every imported star year: ratings per year and measures by identity.

    `star_years` are the imported years, oldest first; `ratings` has the years the contract was
    published in; a measure's `years` has the years the contract has a cell for it.
    """

    contract_id: str
    star_years: list[int]
    ratings: list[RatingsYear]
    measures: list[MeasureHistory]


def cms_contract_history(contract_id: str) -> ContractHistory | None:
    """The contract's ratings and measure values in every imported star year; None if never published.

    Three queries whatever the number of years and measures: the imported years, the contract's
    rows (one per year) and its measure values with their editions and measures (joined).
    """
    contract_id = contract_id.strip().upper()
    star_years = sorted(loaded_star_years())
    contracts = list(CmsContract.objects.filter(contract_id=contract_id).order_by("star_year"))
    if not contracts:
        return None
    year_of = {contract.pk: contract.star_year for contract in contracts}
    values = (
        CmsMeasureValue.objects.filter(contract__in=contracts)
        # The edition gives the year's ID and precision, its measure the identity across years.
        .select_related("edition__measure")
        .order_by()
    )
    by_measure: dict[int, MeasureHistory] = {}
    for value in values:
        measure = value.edition.measure
        history = by_measure.get(measure.pk)
        if history is None:
            history = by_measure[measure.pk] = MeasureHistory(measure, is_percentage(measure))
        star_year = year_of[value.contract_id]
        history.years[star_year] = MeasureYear(
            star_year=star_year,
            cms_id=value.edition.cms_id,
            display_precision=value.edition.display_precision,
            score=value.score,
            score_status=value.score_status,
            star=value.star,
            star_status=value.star_status,
        )
    measures = sorted(
        by_measure.values(),
        key=lambda history: (history.measure.part, -max(history.years), history.latest.cms_id),
    )
    ratings = [
        RatingsYear(
            star_year=contract.star_year,
            organization_type=contract.organization_type,
            contract_name=contract.contract_name,
            marketing_name=contract.marketing_name,
            part_c_summary=contract.part_c_summary,
            part_c_summary_status=contract.part_c_summary_status,
            part_d_summary=contract.part_d_summary,
            part_d_summary_status=contract.part_d_summary_status,
            overall=contract.overall,
            overall_status=contract.overall_status,
        )
        for contract in contracts
    ]
    return ContractHistory(contract_id=contract_id, star_years=star_years, ratings=ratings, measures=measures)


@dataclass(frozen=True)
class CutPointYear:
    """A measure's thresholds for one organization type in one star year.

    `four_star_change` is the 4-star threshold minus the previous imported year's for the same
    organization type (`previous_star_year`); None for the first year. For a higher-is-better
    measure a rise makes 4 stars harder to reach; for a lower-is-better one, a fall does.
    """

    star_year: int
    cms_id: str
    direction: str
    thresholds: dict[int, Threshold]
    previous_star_year: int | None
    four_star_change: Decimal | None

    @property
    def four_star(self) -> Threshold:
        return self.thresholds[4]

    @property
    def harder(self) -> bool | None:
        """Whether 4 stars got harder to reach than the year before; None when unchanged or first."""
        if not self.four_star_change:
            return None
        return (self.four_star_change > 0) == (self.direction == Direction.HIGHER)


@dataclass
class MeasureCutPointHistory:
    """One measure's cut points by star year, per organization type ("" for Part C, MA-PD and PDP
    for Part D), oldest year first."""

    measure: Measure
    percentage: bool
    by_org_type: dict[str, list[CutPointYear]] = field(default_factory=dict)


def cut_point_history(measures=None) -> list[MeasureCutPointHistory]:
    """Each measure's cut points in every imported star year, with the 4-star threshold's change.

    `measures` (primary keys or a queryset) narrows it; measures without cut points are left out.
    One query whatever the number of measures, years and organization types.
    """
    cut_points = CutPoint.objects.select_related("edition__measure").order_by(
        "edition__measure__part", "edition__measure__code", "org_type", "edition__star_year"
    )
    if measures is not None:
        cut_points = cut_points.filter(edition__measure__in=measures)
    histories: dict[int, MeasureCutPointHistory] = {}
    for cut in cut_points:
        measure = cut.edition.measure
        history = histories.get(measure.pk)
        if history is None:
            history = histories[measure.pk] = MeasureCutPointHistory(measure, is_percentage(measure))
        series = history.by_org_type.setdefault(cut.org_type, [])
        thresholds = cut.as_cms().thresholds
        previous = series[-1] if series else None
        series.append(
            CutPointYear(
                star_year=cut.edition.star_year,
                cms_id=cut.edition.cms_id,
                direction=cut.direction,
                thresholds=thresholds,
                previous_star_year=previous.star_year if previous else None,
                four_star_change=(thresholds[4].value - previous.four_star.value) if previous else None,
            )
        )
    return list(histories.values())


def threshold_text(year: CutPointYear, stars: int, percentage: bool) -> str:
    """A threshold as CMS states it, for people: "≥ 76%", "> 76", "≤ 9%", "< 0.32" (as written)."""
    threshold = year.thresholds[stars]
    higher = year.direction == Direction.HIGHER
    sign = ("≥" if threshold.inclusive else ">") if higher else ("≤" if threshold.inclusive else "<")
    return f"{sign} {threshold.value:,f}{'%' if percentage else ''}"


def four_star_change_text(year: CutPointYear, percentage: bool) -> str:
    """The 4-star threshold's move from the year before, in words: "+1 pts, harder", "−0.05, harder",
    "±0 pts"; "—" for the first year."""
    change = year.four_star_change
    if change is None:
        return formats.MISSING
    places = max(0, -change.as_tuple().exponent)
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    moved = formats.points(change, places) if percentage else f"{sign}{abs(change):.{places}f}"
    if year.harder is None:
        return moved
    return f"{moved}, {'harder' if year.harder else 'easier'}"

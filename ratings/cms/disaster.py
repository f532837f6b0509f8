"""The measure-level disaster rules that need the prior star year's tables.

Technical Notes, 'Data Handling of Measures for Contracts Affected by a Major Disaster': a
contract with at least 25% of its enrollees in FEMA Individual Assistance areas receives, for
each measure, the higher of the prior and the current star year's measure star "and
corresponding measure score". Which disaster year counts depends on the data source: HOS and
HEDIS-HOS measures are adjusted for the disasters of three years before the star year (2023 for
2026), every other measure for those of two years before (2024 for 2026); Call Center measures
are never adjusted. A contract also affected the year before ("doubly affected") is compared
with what the prior year's star would have been absent adjustments; a contract with missing
data in either year keeps the current year's star; equal stars keep the current year's.

The published tables carry the value CMS chose, score and star, so when the prior year's
value was kept the current year's own score is not published: `DisasterRules.decide` then
recomputes the prior year's star from the prior year's score and cut points, and says that the
rule's other side (a lower current star) is not in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ratings.cms.engine import star_for_cell
from ratings.cms.lineage import LineageMeasure
from ratings.cms.tables import CellValue, CmsTables

__all__ = ["RULES", "Decision", "DisasterRules", "disaster_year"]

# Every rule that can decide a measure star in verification, by the key the report counts.
RULES = {
    "cut_points": "the year's score against the year's cut points (no disaster rule applies)",
    "disaster_not_adjusted": (
        "disaster contract, Call Center measure: no adjustment ('For all contracts, no "
        "adjustments were made')"
    ),
    "disaster_missing_data": (
        "disaster contract with missing data in the current or the prior year: the current "
        "year's star ('Affected contracts with missing data')"
    ),
    "disaster_current_year": (
        "disaster contract: the current year's star is the higher or equal one, so the current "
        "year's star and score are used"
    ),
    "disaster_prior_year": (
        "disaster contract: the prior year's star (recomputed from its score and cut points) is "
        "the higher, so it is used"
    ),
    "disaster_same_score": (
        "disaster contract whose published score equals the prior year's: if it is the current "
        "year's own score too, the higher of the two years' stars; if the current year's own "
        "score (then not published) earned fewer stars, the prior year's star; the tables "
        "cannot tell which, so either is accepted"
    ),
    "disaster_doubly_affected": (
        "doubly affected contract: the higher of the current star and the prior year's star "
        "absent adjustments; the published score is the current year's, so the current star"
    ),
    "disaster_prior_year_not_imported": (
        "disaster contract, but the prior star year's tables are not imported: the rule cannot "
        "be applied, so the year's score against the year's cut points"
    ),
}

HOS_SOURCES = {"HOS", "HEDIS-HOS"}
NOT_ADJUSTED_SOURCES = {"Call Center"}


def disaster_year(star_year: int, measure: LineageMeasure) -> int | None:
    """The calendar year whose disasters a measure is adjusted for (None: never adjusted)."""
    if measure.data_source in NOT_ADJUSTED_SOURCES:
        return None
    return star_year - 3 if measure.data_source in HOS_SOURCES else star_year - 2


@dataclass(frozen=True)
class Decision:
    """The star a rule gives a contract's measure, the rule's key, and the facts it used."""

    rule: str
    star: CellValue
    detail: str = ""
    doubly_affected: bool = False


def _org(org_type: str) -> str:
    """The cut point row a contract uses: Part D differs for PDPs."""
    return "PDP" if "PDP" in org_type else "MA-PD"


@dataclass(frozen=True)
class DisasterRules:
    """Applies the disaster rules to one star year's tables, with the prior year's if imported.

    `measures` links the year's measure IDs to their lineage measures; `prior_ids` each lineage
    measure to its ID in the prior year.
    """

    tables: CmsTables
    prior: CmsTables | None
    measures: dict[str, LineageMeasure]
    prior_ids: dict[LineageMeasure, str]
    threshold: Decimal

    def percent(self, contract_id: str, year: int) -> Decimal | None:
        """The share of a contract's enrollees in Individual Assistance areas in a year."""
        for tables in (self.tables, self.prior):
            row = tables.summary.get(contract_id) if tables is not None else None
            if row is not None and row.disaster_percent.get(year) is not None:
                return row.disaster_percent[year]
        return None

    def affected(self, contract_id: str, year: int) -> bool:
        """At least the threshold share of enrollees in Individual Assistance areas that year."""
        percent = self.percent(contract_id, year)
        return percent is not None and percent >= self.threshold

    def affects(self, contract_id: str, measure_id: str) -> bool:
        """Whether a disaster rule governs this contract's measure star."""
        year = disaster_year(self.star_year, self.measures[measure_id])
        return year is not None and self.affected(contract_id, year)

    @property
    def star_year(self) -> int:
        """The star year of the tables being verified."""
        assert self.tables.star_year is not None
        return self.tables.star_year

    def decide(
        self, contract_id: str, measure_id: str, score: CellValue, current: CellValue, published: CellValue
    ) -> Decision:
        """The star the rules give, where `current` is the star of the published score.

        Called for every compared value; contracts outside the rules get "cut_points".
        `published` is read only when the published score is the prior year's too, so the
        tables cannot tell which year's score it is ("disaster_same_score").
        """
        measure = self.measures[measure_id]
        year = disaster_year(self.star_year, measure)
        if year is None:
            rule = "disaster_not_adjusted" if self._affected_any(contract_id) else "cut_points"
            return Decision(rule, current)
        if not self.affected(contract_id, year):
            return Decision("cut_points", current)
        if self.prior is None or self.prior.measure_stars is None or self.prior.measure_data is None:
            return Decision("disaster_prior_year_not_imported", current)
        prior_id = self.prior_ids.get(measure)
        prior_star = self.prior.measure_stars.value(contract_id, prior_id) if prior_id else None
        prior_score = self.prior.measure_data.value(contract_id, prior_id) if prior_id else None
        if (
            prior_star is None
            or prior_score is None
            or not (prior_star.is_number and prior_score.is_number and score.is_number)
        ):
            return Decision("disaster_missing_data", current, f"{self.prior_year}: {prior_score}")
        detail = f"{self.prior_year}: {prior_id} score {prior_score}, {prior_star} ★"
        doubly = self.affected(contract_id, year - 1)
        kept = self._prior_star(contract_id, prior_id, prior_score)
        assert current.number is not None and kept.number is not None
        higher = current if current.number >= kept.number else kept
        if score.number == prior_score.number:
            # Both years' values read the same score: the current year's own score may differ.
            star = published if published in (higher, kept) else higher
            return Decision("disaster_same_score", star, detail, doubly)
        if current.number >= kept.number:
            return Decision("disaster_current_year", current, detail, doubly)
        if doubly:
            return Decision("disaster_doubly_affected", current, detail, doubly)
        return Decision("disaster_prior_year", kept, detail)

    @property
    def prior_year(self) -> int:
        """The prior star year."""
        return self.star_year - 1

    def _affected_any(self, contract_id: str) -> bool:
        """Affected in either disaster year of the star year's summary table."""
        return any(self.affected(contract_id, self.star_year - offset) for offset in (2, 3))

    def _prior_star(self, contract_id: str, prior_id: str, prior_score: CellValue) -> CellValue:
        """The prior year's star recomputed from its score and cut points (else as published)."""
        assert self.prior is not None and self.prior.measure_stars is not None
        info = self.prior.measure_stars.contracts.get(contract_id)
        cut = self.prior.cut_points_for(prior_id, _org(info.org_type)) if info is not None else None
        published = self.prior.measure_stars.value(contract_id, prior_id)
        if cut is None:
            assert published is not None
            return published
        return star_for_cell(prior_score, cut, cut.written_decimals)

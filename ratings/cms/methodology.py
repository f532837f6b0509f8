"""Typed access to one star year's Star Ratings methodology (`data/<star year>.json`).

The JSON files are hand-built from that year's Technical Notes; each records which table or
attachment its values come from in a "sources" field. Nothing here reads the reference
folder at run time: a year is available exactly when its JSON is shipped in `data/`.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ratings.cms.tables import Direction

__all__ = [
    "DATA_DIR",
    "CaiCategorization",
    "Measure",
    "Methodology",
    "MethodologyNotAvailable",
    "OrganizationTypeRule",
    "RatedAs",
    "RatingColumn",
    "RewardThresholds",
    "available_star_years",
]

DATA_DIR = Path(__file__).resolve().parent / "data"


class MethodologyNotAvailable(LookupError):
    """No methodology JSON is shipped for the requested star year."""


class RatedAs(enum.Enum):
    """How CMS rates a contract (Technical Notes Table 3): its highest-level rating differs."""

    MA_PD = "MA-PD"
    MA_ONLY = "MA-Only"
    PDP = "PDP"


class RatingColumn(enum.Enum):
    """Columns of Tables 8, 9 and the CAI tables: Part D differs for MA-PD and PDP contracts."""

    PART_C = "part_c"
    PART_D_MAPD = "part_d_mapd"
    PART_D_PDP = "part_d_pdp"
    OVERALL = "overall"


@dataclass(frozen=True)
class Measure:
    """One measure of the star year's catalog (see the JSON "sources" for each field)."""

    id: str
    name: str
    part: str
    domain: str
    domain_name: str
    code: str | None
    data_source: str
    data_source_category: str
    weighting_category: str
    weight: Decimal
    direction: Direction
    data_display: str
    precision: int
    statistical_method: str
    improvement_measure: bool
    used_in_improvement: bool
    cai_usage: bool
    case_mix_adjusted: bool
    new_measure: bool
    shared_group: str | None
    member_level: bool
    puerto_rico_zero_weight: bool
    required_for: dict[str, bool]

    @property
    def is_cahps(self) -> bool:
        """CAHPS survey measures get stars from significance tests, not cut points alone."""
        return self.data_source == "CAHPS"


@dataclass(frozen=True)
class RewardThresholds:
    """Table 8 (mean) and Table 9 (variance) percentile thresholds for one calculation."""

    mean_relatively_high: Decimal
    mean_high: Decimal
    variance_low_below: Decimal
    variance_high_from: Decimal


# A cell of Tables 12/15/18/21, e.g. "L2-L3 D1" or "L9-L10 D1-D4": LIS/DE groups x disability groups.
CAI_CELL = re.compile(r"^L(\d+)(?:-L(\d+))?\s+D(\d+)(?:-D(\d+))?$")


@dataclass(frozen=True)
class CaiCategorization:
    """How a contract's LIS/DE % and disability % give its final adjustment category (FAC).

    Tables 10-11, 13-14, 16-17 and 19-20 split contracts into LIS/DE initial groups and
    disability quintiles (quartiles for PDPs) by percentage; Tables 12, 15, 18 and 21 collapse
    those initial cells into final adjustment categories. `*_lower_bounds[i]` is the lowest
    percentage of group i + 1; `cells` maps (LIS/DE group, disability group) to the FAC.
    """

    lis_de_lower_bounds: tuple[Decimal, ...]
    disability_lower_bounds: tuple[Decimal, ...]
    cells: dict[tuple[int, int], int]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CaiCategorization:
        """Read one rating's entry of the JSON "cai_categories" section."""
        cells: dict[tuple[int, int], int] = {}
        for fac, ranges in raw["categories"].items():
            for text in ranges:
                found = CAI_CELL.match(text)
                if not found:
                    raise ValueError(f"unreadable CAI cell {text!r}")
                lis_low, lis_high, dis_low, dis_high = found.groups()
                for lis in range(int(lis_low), int(lis_high or lis_low) + 1):
                    for dis in range(int(dis_low), int(dis_high or dis_low) + 1):
                        if (lis, dis) in cells:
                            raise ValueError(f"CAI cell L{lis} D{dis} is in two final adjustment categories")
                        cells[(lis, dis)] = int(fac)
        return cls(
            lis_de_lower_bounds=tuple(Decimal(v) for v in raw["lis_de_groups"]),
            disability_lower_bounds=tuple(Decimal(v) for v in raw["disability_groups"]),
            cells=cells,
        )

    @staticmethod
    def group(percent: Decimal, lower_bounds: tuple[Decimal, ...]) -> int:
        """The 1-based group whose range holds a percentage ("x to less than y")."""
        return sum(1 for bound in lower_bounds if percent >= bound)

    def category(self, lis_de_percent: Decimal, disability_percent: Decimal) -> int:
        """The final adjustment category of a contract's LIS/DE and disability percentages."""
        lis = self.group(lis_de_percent, self.lis_de_lower_bounds)
        disability = self.group(disability_percent, self.disability_lower_bounds)
        return self.cells[(lis, disability)]


@dataclass(frozen=True)
class OrganizationTypeRule:
    """Maps a CMS "Organization Type" text to a Tables 4-7 contract type family."""

    contains: str
    base: str
    has_part_c: bool


@dataclass(frozen=True)
class Methodology:
    """Everything the engine needs to turn measure stars into summary and overall ratings."""

    star_year: int
    measurement_year: int
    reward_method: str
    measures: tuple[Measure, ...]
    contract_types: dict[str, str]
    organization_types: tuple[OrganizationTypeRule, ...]
    minimum_rated_measures: dict[str, dict[str, tuple[int, int]]]
    reward_thresholds: dict[tuple[RatingColumn, bool, bool], RewardThresholds]
    reward_factors: dict[tuple[str, str], Decimal]
    cai_values: dict[RatingColumn, dict[int, Decimal]]
    calculation_decimals: int
    half_star_bands: tuple[tuple[Decimal, Decimal], ...]
    hold_harmless_minimum: Decimal
    hold_harmless_ratings: dict[RatedAs, tuple[str, ...]]
    disaster_threshold_percent: Decimal
    new_measure_disaster_year: dict[str, int]
    sources: dict[str, str]
    cai_categories: dict[RatingColumn, CaiCategorization] = field(default_factory=dict)
    # What the year needs that no shipped document gives, by JSON section (e.g. "cai").
    not_documented: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_star_year(cls, star_year: int) -> Methodology:
        """Load the shipped methodology of a star year, e.g. `Methodology.for_star_year(2026)`."""
        path = DATA_DIR / f"{star_year}.json"
        if not path.exists():
            raise MethodologyNotAvailable(
                f"no methodology shipped for star year {star_year} (available: {available_star_years()})"
            )
        return cls.from_file(path)

    @classmethod
    def for_star_year_or_latest(cls, star_year: int) -> Methodology:
        """The star year's methodology, else the latest shipped one (e.g. to project a future year).

        Raises `MethodologyNotAvailable` only when no methodology is shipped at all.
        """
        years = available_star_years()
        if star_year in years:
            return cls.for_star_year(star_year)
        if not years:
            raise MethodologyNotAvailable("no methodology is shipped")
        return cls.for_star_year(max(years))

    @classmethod
    def from_file(cls, path: Path | str) -> Methodology:
        """Load a methodology JSON in the `data/2026.json` format from any path."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Methodology:
        """Build a methodology from the parsed JSON document."""
        reward = doc["reward_factor"]
        thresholds = {}
        for improvement_key, with_improvement in (
            ("with_improvement", True),
            ("without_improvement", False),
        ):
            for new_key, with_new in (("with_new_measures", True), ("without_new_measures", False)):
                means = reward["mean_thresholds"][improvement_key][new_key]
                variances = reward["variance_thresholds"][improvement_key][new_key]
                mean_low = str(reward["mean_percentiles"]["relatively_high"])
                mean_high = str(reward["mean_percentiles"]["high"])
                var_low = str(reward["variance_percentiles"]["low_below"])
                var_high = str(reward["variance_percentiles"]["high_from"])
                for column in RatingColumn:
                    thresholds[(column, with_improvement, with_new)] = RewardThresholds(
                        mean_relatively_high=Decimal(means[mean_low][column.value]),
                        mean_high=Decimal(means[mean_high][column.value]),
                        variance_low_below=Decimal(variances[var_low][column.value]),
                        variance_high_from=Decimal(variances[var_high][column.value]),
                    )
        return cls(
            star_year=doc["star_year"],
            measurement_year=doc["measurement_year"],
            reward_method=doc["reward_method"],
            measures=tuple(_measure(m) for m in doc["measures"]),
            contract_types={key: value["label"] for key, value in doc["contract_types"].items()},
            organization_types=tuple(OrganizationTypeRule(**r) for r in doc["organization_types"]),
            minimum_rated_measures={
                rating: {ctype: (pair[0], pair[1]) for ctype, pair in by_type.items()}
                for rating, by_type in doc["minimum_rated_measures"].items()
            },
            reward_thresholds=thresholds,
            reward_factors={
                (mean, variance): Decimal(value)
                for mean, by_variance in reward["factors"].items()
                for variance, value in by_variance.items()
            },
            cai_values={
                RatingColumn(column): {int(fac): Decimal(v) for fac, v in values.items()}
                for column, values in doc["cai"].items()
            },
            calculation_decimals=doc["rounding"]["calculation_decimals"],
            half_star_bands=tuple(
                (Decimal(low), Decimal(rating)) for low, rating in doc["rounding"]["half_star_bands"]
            ),
            hold_harmless_minimum=Decimal(doc["improvement_rule"]["hold_harmless_minimum"]),
            hold_harmless_ratings={
                RatedAs(key): tuple(value)
                for key, value in doc["improvement_rule"]["hold_harmless_ratings"].items()
            },
            disaster_threshold_percent=Decimal(doc["disaster"]["threshold_percent"]),
            new_measure_disaster_year=dict(doc["disaster"]["new_measure_disaster_year"]),
            sources=dict(doc["sources"]),
            cai_categories={
                RatingColumn(column): CaiCategorization.from_dict(raw)
                for column, raw in doc.get("cai_categories", {}).items()
            },
            not_documented=dict(doc.get("not_documented", {})),
        )

    @property
    def rates_contracts(self) -> bool:
        """Whether it documents the CAI values a summary or overall rating needs."""
        return "cai" not in self.not_documented

    def measure(self, measure_id: str) -> Measure:
        """The catalog entry of a measure ID; KeyError if the year has no such measure."""
        for measure in self.measures:
            if measure.id == measure_id:
                return measure
        raise KeyError(f"measure {measure_id} is not in the {self.star_year} catalog")

    def measures_of_part(self, part: str) -> tuple[Measure, ...]:
        """The Part "C" or Part "D" measures in catalog order."""
        return tuple(m for m in self.measures if m.part == part)

    def minimum_rated(self, rating: str, contract_type: str) -> tuple[int, int] | None:
        """(minimum, total) rated measures for a rating and contract type (Tables 6-7)."""
        return self.minimum_rated_measures.get(rating, {}).get(contract_type)

    def cai_value(self, column: RatingColumn, fac: int | None) -> Decimal:
        """The CAI value of a final adjustment category (Tables 12, 15, 18, 21); 0 if none."""
        if fac is None:
            return Decimal(0)
        if column not in self.cai_values and "cai" in self.not_documented:
            raise MethodologyNotAvailable(
                f"star year {self.star_year} ships no CAI values: {self.not_documented['cai']}"
            )
        try:
            return self.cai_values[column][fac]
        except KeyError:
            raise KeyError(f"no CAI value for {column.value} category {fac}") from None

    def final_adjustment_category(
        self, column: RatingColumn, lis_de_percent: Decimal, disability_percent: Decimal
    ) -> int | None:
        """The FAC of a contract's LIS/DE % and disability % (Tables 10-21); None if not shipped.

        Not valid for contracts serving only Puerto Rico, whose LIS/DE percentage CMS first
        modifies (Attachment O).
        """
        categorization = self.cai_categories.get(column)
        if categorization is None:
            return None
        return categorization.category(lis_de_percent, disability_percent)

    def contract_type_family(self, org_type: str) -> OrganizationTypeRule | None:
        """The Tables 4-7 family of a CMS organisation type text (None if not rated)."""
        for rule in self.organization_types:
            if rule.contains.lower() in org_type.lower():
                return rule
        return None


def _measure(raw: dict[str, Any]) -> Measure:
    """Convert one JSON measure entry into a `Measure`."""
    return Measure(
        id=raw["id"],
        name=raw["name"],
        part=raw["part"],
        domain=raw["domain"],
        domain_name=raw["domain_name"],
        code=raw["code"],
        data_source=raw["data_source"],
        data_source_category=raw["data_source_category"],
        weighting_category=raw["weighting_category"],
        weight=Decimal(str(raw["weight"])),
        direction=Direction(raw["direction"]),
        data_display=raw["data_display"],
        precision=raw["precision"],
        statistical_method=raw["statistical_method"],
        improvement_measure=raw["improvement_measure"],
        used_in_improvement=raw["used_in_improvement"],
        cai_usage=raw["cai_usage"],
        case_mix_adjusted=raw["case_mix_adjusted"],
        new_measure=raw["new_measure"],
        shared_group=raw["shared_group"],
        member_level=raw["member_level"],
        puerto_rico_zero_weight=raw["puerto_rico_zero_weight"],
        required_for=dict(raw["required_for"]),
    )


def available_star_years() -> list[int]:
    """Star years with a shipped methodology JSON."""
    return sorted(int(p.stem) for p in DATA_DIR.glob("*.json") if p.stem.isdigit())

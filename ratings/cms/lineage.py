"""Measure identity across star years: which measure each year's CMS ID names.

CMS IDs shift between star years (2025's C03 is 2026's C03, but 2025's C04 is 2026's C06), so
a measure is recognised by what it is: its part and its name. The measures and what the engine
needs to know about them (data source, direction, improvement measure) come from the shipped
methodology catalogs (`data/<star year>.json`, newest first); `data/lineage.json` links the
names some year's table headers use where they differ from the catalog's. Any year's tables
are then linked from their headers alone, with no catalog of their own.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ratings.cms.methodology import DATA_DIR, Methodology, available_star_years
from ratings.cms.tables import Direction, MeasureHeader

__all__ = [
    "LINEAGE_FILE",
    "Lineage",
    "LineageError",
    "LineageMeasure",
    "normalized_name",
]

LINEAGE_FILE = DATA_DIR / "lineage.json"


def normalized_name(name: str) -> str:
    """A measure name compared loosely: case, dashes, quotes and spacing do not matter."""
    text = unicodedata.normalize("NFKC", name).lower()
    text = re.sub(r"[\u2010-\u2015-]", "-", text).replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip()


class LineageError(LookupError):
    """A measure of some year's tables that no catalog and no curated link identifies."""


@dataclass(frozen=True)
class LineageMeasure:
    """A measure as a stable concept: its part, name and what kind of measure it is."""

    part: str
    name: str
    data_source: str
    direction: Direction
    improvement: bool

    @property
    def is_cahps(self) -> bool:
        """CAHPS survey measures get stars from significance tests, not cut points alone."""
        return self.data_source == "CAHPS"


@dataclass(frozen=True)
class Lineage:
    """The known measures by (part, normalised name), including curated former names."""

    by_name: dict[tuple[str, str], LineageMeasure]

    @classmethod
    def shipped(cls) -> Lineage:
        """The lineage of the shipped methodology catalogs and `data/lineage.json`."""
        catalogs = [Methodology.for_star_year(year) for year in available_star_years()]
        return cls.build(catalogs, json.loads(LINEAGE_FILE.read_text(encoding="utf-8")))

    @classmethod
    def build(cls, catalogs: Iterable[Methodology], curated: dict[str, Any]) -> Lineage:
        """Measures of the catalogs (a newer year's entry wins) plus the curated renames."""
        by_name: dict[tuple[str, str], LineageMeasure] = {}
        for catalog in sorted(catalogs, key=lambda c: c.star_year, reverse=True):
            for measure in catalog.measures:
                by_name.setdefault(
                    (measure.part, normalized_name(measure.name)),
                    LineageMeasure(
                        part=measure.part,
                        name=measure.name,
                        data_source=measure.data_source,
                        direction=measure.direction,
                        improvement=measure.improvement_measure,
                    ),
                )
        for link in curated["renamed"]:
            target = by_name.get((link["part"], normalized_name(link["measure"])))
            if target is None:
                raise LineageError(
                    f"{LINEAGE_FILE.name}: Part {link['part']} {link['name']!r} is linked to "
                    f"{link['measure']!r}, which no shipped methodology catalog has"
                )
            by_name[(link["part"], normalized_name(link["name"]))] = target
        return cls(by_name)

    def measure(self, measure_id: str, name: str) -> LineageMeasure | None:
        """The measure a year's `Cxx`/`Dxx` ID and header name denote, or None if unknown."""
        return self.by_name.get((measure_id[:1], normalized_name(name)))

    def link(self, star_year: int | None, headers: Iterable[MeasureHeader]) -> dict[str, LineageMeasure]:
        """Each header's CMS ID to its measure; `LineageError` naming every unknown measure."""
        linked: dict[str, LineageMeasure] = {}
        unknown: list[str] = []
        for header in headers:
            measure = self.measure(header.measure_id, header.name)
            if measure is None:
                unknown.append(f"{header.measure_id}: {header.name}")
                continue
            twin = next((mid for mid, known in linked.items() if known == measure), None)
            if twin is not None:
                raise LineageError(
                    f"star year {star_year}: measures {twin} and {header.measure_id} are both "
                    f"{measure.name!r}; a year names each measure once"
                )
            linked[header.measure_id] = measure
        if unknown:
            raise LineageError(
                f"star year {star_year}: no lineage and no data source for measure "
                f"{'; '.join(unknown)} (not in any shipped methodology catalog; link its name to "
                f"a known measure in ratings/cms/data/{LINEAGE_FILE.name})"
            )
        return linked

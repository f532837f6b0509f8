"""Loads the measure catalog shipped in `ratings/cms/data/<star year>.json` into the database.

Runs after every `migrate` (idempotent), so a fresh database and the test database hold the
catalog before any gap references a measure.
"""

import json

from django.db import transaction
from django.utils.text import slugify

from ratings.cms.methodology import DATA_DIR
from ratings.models import CatalogSource, Measure, StarYearMeasure

# Stable codes for member-level measures whose Technical Notes entry carries no abbreviation.
_CODES_WITHOUT_ABBREVIATION = {
    "Medication Adherence for Diabetes Medications": "ADH-DIAB",
    "Medication Adherence for Hypertension (RAS antagonists)": "ADH-RAS",
    "Medication Adherence for Cholesterol (Statins)": "ADH-STATIN",
}


def stable_code(entry: dict) -> str:
    """The measure's stable code: its HEDIS-style abbreviation, else a slug of its name."""
    if entry.get("code"):
        return entry["code"]
    return _CODES_WITHOUT_ABBREVIATION.get(entry["name"]) or slugify(entry["name"]).upper()[:60]


def shipped_star_years() -> list[int]:
    """Star years whose catalog JSON ships with the portal."""
    return sorted(int(path.stem) for path in DATA_DIR.glob("[0-9][0-9][0-9][0-9].json"))


@transaction.atomic
def sync_catalog(star_year: int) -> int:
    """Create or update the measures and star-year editions of one shipped year; returns the count."""
    entries = json.loads((DATA_DIR / f"{star_year}.json").read_text(encoding="utf-8"))["measures"]
    for entry in entries:
        measure, _ = Measure.objects.update_or_create(
            part=entry["part"],
            code=stable_code(entry),
            defaults={
                "name": entry["name"],
                "data_source": entry["data_source"],
                "direction": entry["direction"],
                "member_level": entry["member_level"],
            },
        )
        StarYearMeasure.objects.update_or_create(
            star_year=star_year,
            cms_id=entry["id"],
            defaults={
                "measure": measure,
                "name": entry["name"],
                "weight": entry["weight"],
                "display_precision": entry["precision"],
                "improvement": entry["improvement_measure"],
                "source": CatalogSource.METHODOLOGY,
            },
        )
    return len(entries)


def sync_catalog_after_migrate(sender, **kwargs) -> None:
    """`post_migrate` receiver for the ratings app."""
    for star_year in shipped_star_years():
        sync_catalog(star_year)

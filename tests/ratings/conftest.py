"""Fixtures for the ratings tests: the shipped 2026 CMS tables (imported once per module) and
small CMS-format files in the layouts of 2026 (UTF-8 with BOM) and earlier years (cp1252)."""

from pathlib import Path

import pytest
from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR
from ratings.models import CmsContract, CmsDataImport, CmsMeasureValue, CutPoint, StarYearMeasure

SHIPPED = {year: DATA_DIR / str(year) for year in (2025, 2026)}
SHIPPED_2026 = SHIPPED[2026]
ENGINE_TABLES = ("Measure Data", "Measure Stars", "Cut Points", "Summary Ratings", "CAI")


def engine_files(star_year: int) -> list[Path]:
    """The shipped tables of a year that the engine reads (2025's folder holds others too)."""
    paths = sorted(SHIPPED[star_year].glob("*.csv"))
    if star_year == 2026:
        return paths
    return [p for p in paths if any(table in p.name for table in ENGINE_TABLES)]


def shipped_2026_files() -> list[Path]:
    """The CMS 2026 data tables shipped with the portal."""
    return sorted(SHIPPED_2026.glob("*.csv"))


def remove_star_year(star_year: int) -> None:
    """Delete a star year's benchmark and the audit entries its imports wrote."""
    CmsMeasureValue.objects.filter(contract__star_year=star_year).delete()
    CmsContract.objects.filter(star_year=star_year).delete()
    CutPoint.objects.filter(edition__star_year=star_year).delete()
    CmsDataImport.objects.filter(star_year=star_year).delete()
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(CmsDataImport), object_pk="batch"
    ).delete()


def imported_for_scope(django_db_blocker, star_year: int, paths: list[Path]):
    """Import committed for a fixture's whole scope, then removed: a generator for `yield from`.

    Each test still runs in its own rolled-back transaction on top of this data.
    """
    # Reference data for the module, imported by no one: whatever audit context an earlier test
    # left in this thread (an actor whose row was rolled back) must not become its entry's actor.
    token = auditlog_value.set({})
    try:
        with django_db_blocker.unblock():
            result = cms_star_data_import(star_year=star_year, paths=paths, source="tests")
    finally:
        auditlog_value.reset(token)
    yield result
    with django_db_blocker.unblock():
        remove_star_year(star_year)


@pytest.fixture(scope="module")
def national_2026(django_db_setup, django_db_blocker):
    """The shipped 2026 tables, imported once for the module."""
    yield from imported_for_scope(django_db_blocker, 2026, shipped_2026_files())


@pytest.fixture(scope="module")
def national_2025(django_db_setup, django_db_blocker):
    """The shipped 2025 tables (the engine's six), imported once for the module."""
    yield from imported_for_scope(django_db_blocker, 2025, engine_files(2025))


@pytest.fixture(scope="module")
def cut_points_2026(django_db_setup, django_db_blocker):
    """Only the shipped 2026 cut point tables (enough to rate the plan's contracts), once per module."""
    paths = [p for p in shipped_2026_files() if p.name.startswith("cut-points")]
    yield from imported_for_scope(django_db_blocker, 2026, paths)


@pytest.fixture(scope="module")
def small_2026(django_db_setup, django_db_blocker, tmp_path_factory):
    """The small 2026 set below (two contracts, three measures), once per module."""
    paths = write_set(tmp_path_factory.mktemp("small-2026"), SMALL_2026)
    yield from imported_for_scope(django_db_blocker, 2026, paths)


def write_csv(folder: Path, name: str, text: str, encoding: str = "utf-8-sig") -> Path:
    """Write a CMS-style CSV (CRLF line ends as CMS publishes them)."""
    path = folder / name
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    return path


# 2026 layout, three measures of the shipped catalog: C01 BCS, C02 COL and C18 PCR (lower is better).
CUT_POINTS_2026 = """2026 Part C Performance Metrics Threshold for Star Assignments,,,
Number of Stars Displayed on the Plan Finder Tool,HD1: Staying Healthy,,HD2: Managing
,C01: Breast Cancer Screening,C02: Colorectal Cancer Screening,C18: Plan All-Cause Readmissions
,01/01/2024 – 12/31/2024,01/01/2024 – 12/31/2024,01/01/2024 – 12/31/2024
1star ,< 58 % ,< 48 % ,> 12 %
2star ,>= 58 % to < 71 % ,>= 48 % to < 60 % ,> 10 % to <= 12 %
3star ,>= 71 % to < 76 % ,>= 60 % to < 70 % ,> 9 % to <= 10 %
4star ,>= 76 % to < 84 % ,>= 70 % to < 78 % ,> 7 % to <= 9 %
5star ,>= 84 % ,>= 78 % ,<= 7 %
"""
_MEASURE_HEADER_2026 = (
    "CONTRACT_ID,Organization Type,Contract Name,Organization Marketing Name,Parent Organization,"
    "HD1: Staying Healthy,,HD2: Managing\n"
    ",,,,,C01: Breast Cancer Screening,C02: Colorectal Cancer Screening,C18: Plan All-Cause Readmissions\n"
    ",,,,,01/01/2024 – 12/31/2024,01/01/2024 – 12/31/2024,01/01/2024 – 12/31/2024\n"
)
MEASURE_DATA_2026 = (
    "2026 Data View: Medicare Report Card Master Table,,,,,,,\n"
    + _MEASURE_HEADER_2026
    + "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,80% ,69% ,11 %\n"
    + "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,Plan too small to be measured ,75% ,No data available\n"
)
MEASURE_STARS_2026 = (
    "2026 Star View: Medicare Report Card Master Table,,,,,,,\n"
    + _MEASURE_HEADER_2026
    + "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,4 ,3 ,2\n"
    + "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,Plan too small to be measured ,4 ,No data available\n"
)
SUMMARY_2026 = (
    "2026 Summary Star View: Medicare Report Card Master Table,,,,,,,,,,\n"
    "Contract Number,Organization Type,Contract Name,Organization Marketing Name,Parent Organization,SNP,"
    "2023 Disaster %,2024 Disaster %,2026 Part C Summary,2026 Part D Summary,2026 Overall\n"
    "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,No ,0,30,3.5,Not Applicable ,Not Applicable\n"
    "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,Yes ,0,0,Not enough data available ,Not Applicable ,"
    "Not Applicable\n"
)
CAI_2026 = (
    "2026 CAI View: Medicare Report Card Master Table,,,,,,,,\n"
    "Contract Number,Organization Marketing Name,Contract Name,Parent Organization,Puerto Rico Only,"
    "Part C FAC,Part D MA-PD FAC,Part D PDP FAC,Overall FAC\n"
    "H0001 ,Alpha ,ALPHA ,Alpha Inc. ,No ,4,N/A ,N/A ,N/A\n"
    "H0002 ,Beta ,BETA ,Beta Inc. ,No ,N/A ,N/A ,N/A ,N/A\n"
)
SMALL_2026 = {
    "cut-points-part-c.csv": CUT_POINTS_2026,
    "measure-data.csv": MEASURE_DATA_2026,
    "measure-stars.csv": MEASURE_STARS_2026,
    "summary-ratings.csv": SUMMARY_2026,
    "cai.csv": CAI_2026,
}

# The layout up to 2025 (cp1252 with en dashes, trailing spaces, empty trailing columns), as star
# year 2024, which ships no catalog, with IDs that differ from 2026 (C01 is Colorectal Cancer
# Screening, C03 Plan All-Cause Readmissions).
STARS_2024 = (
    "2024 Star View: Medicare Report Card Master Table,,,,,,,,,\n"
    "CONTRACT_ID,Organization Type,Contract Name,Organization Marketing Name,Parent Organization,"
    "HD1: Staying Healthy,HD2: Managing Chronic (Long Term) Conditions,,,\n"
    ",,,,,C01: Colorectal Cancer Screening,C02: Care for Older Adults – Medication Review,"
    "C03: Plan All-Cause Readmissions,,\n"
    ",,,,,01/01/2022 – 12/31/2022,01/01/2022 – 12/31/2022,01/01/2022 – 12/31/2022,,\n"
    "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,4 ,Plan too small to be measured ,2 ,,\n"
    "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,5 ,3 ,Plan too new to be measured ,,\n"
)
DATA_2024 = (
    STARS_2024.replace("Star View", "Data View")
    .replace(",4 ,Plan too small", ",71% ,Plan too small")
    .replace(",2 ,,", ",12% ,,")
    .replace(",5 ,3 ,", ",80% ,74% ,")
)
CUT_POINTS_2024 = (
    "2024 Part C Performance Metrics Threshold for Star Assignments,,,,,\n"
    "Number of Stars Displayed on the Plan Finder Tool,HD1: Staying Healthy,HD2: Managing,,,\n"
    ",C01: Colorectal Cancer Screening,C02: Care for Older Adults – Medication Review,"
    "C03: Plan All-Cause Readmissions,,\n"
    ",01/01/2022 – 12/31/2022,01/01/2022 – 12/31/2022,01/01/2022 – 12/31/2022,,\n"
    "1star ,< 50 % ,< 60 % ,> 12 % ,,\n"
    "2star ,>= 50 % to < 60 % ,>= 60 % to < 70 % ,> 10 % to <= 12 % ,,\n"
    "3star ,>= 60 % to < 70 % ,>= 70 % to < 80 % ,> 9 % to <= 10 % ,,\n"
    "4star ,>= 70 % to < 80 % ,>= 80 % to < 90 % ,> 7 % to <= 9 % ,,\n"
    "5star ,>= 80 % ,>= 90 % ,<= 7 % ,,\n"
)
SMALL_2024 = {"stars.csv": STARS_2024, "data.csv": DATA_2024, "cuts.csv": CUT_POINTS_2024}


def write_set(folder: Path, files: dict[str, str], encoding: str = "utf-8-sig") -> list[Path]:
    """Write a set of CMS-style files into a folder and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_csv(folder, name, text, encoding) for name, text in files.items()]


def editions(star_year: int) -> dict[str, StarYearMeasure]:
    """A star year's measure editions by ID."""
    return {
        e.cms_id: e for e in StarYearMeasure.objects.filter(star_year=star_year).select_related("measure")
    }

"""`import_cms_star_data` on a year's folder as CMS ships it (2025: CMS's file names, cp1252, and
tables the engine does not read), and the bad folders a user may give it: another year's file, a
missing, duplicated or unreadable table. A refusal names the file (and row and column) and
writes nothing."""

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from hedis_portal.import_errors import ImportRejected
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR
from ratings.cms.tables import load_tables
from ratings.models import CmsContract, CmsDataImport, CmsMeasureValue, CutPoint, Measure, StarYearMeasure
from tests.conftest import finished_job
from tests.ratings.conftest import remove_star_year

pytestmark = pytest.mark.django_db

SHIPPED_2025 = DATA_DIR / "2025"
REFERENCE_2025 = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "cms-2025"
CONTRACT_LINE = re.compile(rb"^[A-Z]\d{4}\b")


def cms_name(table: str, year: int = 2025, date: str = "Dec 2 2024") -> str:
    """A file name as CMS gives it: "2025 Star Ratings Data Table - CAI (Dec 2 2024).csv"."""
    return f"{year} Star Ratings Data Table - {table} ({date}).csv"


CAI, DATA, STARS = cms_name("CAI"), cms_name("Measure Data"), cms_name("Measure Stars")
PART_C, PART_D, SUMMARY = (
    cms_name("Part C Cut Points"),
    cms_name("Part D Cut Points"),
    cms_name("Summary Ratings"),
)
SKIPPED_2025 = [
    {
        "name": cms_name("Disenrollment Reasons"),
        "table": "disenrollment_reasons",
        "reason": "not used by the ratings engine: disenrollment reasons (a survey's shares, not a rated "
        "measure)",
    },
    {
        "name": cms_name("Domain Stars"),
        "table": "domain_stars",
        "reason": "not used by the ratings engine: domain stars (Plan Finder's grouping of the measure "
        "stars, which are imported)",
    },
    {
        "name": cms_name("High Performing Contracts"),
        "table": "high_performing_contracts",
        "reason": "not used by the ratings engine: high performing contracts (the 5-star ratings, which the "
        "summary ratings table holds)",
    },
    {
        "name": cms_name("Low Performing Contracts"),
        "table": "low_performing_contracts",
        "reason": "not used by the ratings engine: low performing contracts (a flag CMS derives from three "
        "years' summary ratings)",
    },
]


def stored_counts(star_year: int = 2025) -> tuple[int, int, int]:
    return (
        CmsContract.objects.filter(star_year=star_year).count(),
        CutPoint.objects.filter(edition__star_year=star_year).count(),
        CmsMeasureValue.objects.filter(contract__star_year=star_year).count(),
    )


def import_command(folder: Path, star_year: int = 2025) -> str:
    out = io.StringIO()
    call_command("import_cms_star_data", str(folder), "--star-year", str(star_year), stdout=out)
    return out.getvalue()


# --- the shipped 2025 folder, imported once with the command --------------------------------------


@pytest.fixture(scope="class")
def shipped(django_db_setup, django_db_blocker):
    """The 2025 folder as CMS ships it, imported by the command (its output) for the class; the year,
    the editions and measures it created and their audit entries are removed afterwards."""
    with django_db_blocker.unblock():
        measures = set(Measure.objects.values_list("pk", flat=True))
        last_entry = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        output = import_command(SHIPPED_2025)
    yield output
    with django_db_blocker.unblock():
        remove_star_year(2025)
        StarYearMeasure.objects.filter(star_year=2025).delete()
        Measure.objects.exclude(pk__in=measures).delete()
        LogEntry.objects.filter(pk__gt=last_entry).delete()


@pytest.mark.slow  # about 10 s to import the whole year
class TestShipped2025:
    """The real CMS 2025 folder: every table the engine reads imported, the others listed as skipped."""

    def test_every_table_the_engine_reads_is_stored(self, shipped):
        assert stored_counts() == (789, 30 + 2 * 12, 789 * 42)
        stored = CmsDataImport.objects.get(star_year=2025)
        assert {f["name"]: (f["table"], f["rows"], f["encoding"]) for f in stored.files} == {
            CAI: ("cai", 762, "ASCII"),
            DATA: ("measure_data", 789, "Windows-1252"),
            STARS: ("measure_stars", 789, "Windows-1252"),
            PART_C: ("part_c_cut_points", 30, "Windows-1252"),
            PART_D: ("part_d_cut_points", 24, "Windows-1252"),
            SUMMARY: ("summary_ratings", 789, "ASCII"),
        }
        assert StarYearMeasure.objects.filter(star_year=2025).count() == 42

    def test_values_are_read_under_2025s_own_ids(self, shipped):
        flu = CmsMeasureValue.objects.get(
            contract__star_year=2025, contract__contract_id="H0028", edition__cms_id="C03"
        )
        assert (flu.edition.name, flu.score, flu.star) == ("Annual Flu Vaccine", 67, 2)
        h0028 = CmsContract.objects.get(star_year=2025, contract_id="H0028")
        assert (h0028.part_c_summary, h0028.overall, h0028.part_c_fac, h0028.disaster_percent) == (
            Decimal("3.5"),
            Decimal("3.5"),
            4,
            {"2022": "1", "2023": "1"},
        )

    def test_the_output_lists_the_files_imported_and_skipped(self, shipped):
        listing = shipped[shipped.index("Imported 6 files:") :]
        assert listing.splitlines() == [
            "Imported 6 files:",
            f"  {CAI}: CAI, 762 contracts, ASCII",
            f"  {DATA}: measure data, 789 contracts, Windows-1252",
            f"  {STARS}: measure stars, 789 contracts, Windows-1252",
            f"  {PART_C}: Part C cut points, 30 measure rows, Windows-1252",
            f"  {PART_D}: Part D cut points, 24 measure rows, Windows-1252",
            f"  {SUMMARY}: summary ratings, 789 contracts, ASCII",
            "Skipped 4 files:",
            *(f"  {s['name']}: {s['reason']}" for s in SKIPPED_2025),
            "Star year 2025: 789 contracts, 54 cut point rows, 33138 measure values from 6 files, 4 skipped.",
        ]

    def test_the_audit_entry_lists_the_skipped_files(self, shipped):
        entry = LogEntry.objects.get(object_pk="batch", object_repr__contains="2025 CMS Star Ratings")
        assert entry.additional_data["batch"]["skipped"] == SKIPPED_2025


def test_the_shipped_2025_folder_is_cms_files_unchanged():
    if not REFERENCE_2025.is_dir():
        pytest.skip(f"CMS 2025 reference folder not found at {REFERENCE_2025}")
    shipped = sorted(path.name for path in SHIPPED_2025.glob("*.csv"))
    assert shipped == sorted(path.name for path in REFERENCE_2025.glob("*.csv"))
    assert len(shipped) == 10
    for name in shipped:
        assert (SHIPPED_2025 / name).read_bytes() == (REFERENCE_2025 / name).read_bytes(), name


# --- small folders: the shipped files cut to their first contracts ---------------------------------


def small_folder(folder: Path, contracts: int = 6, *, drop: tuple[str, ...] = ()) -> Path:
    """The shipped 2025 files, byte for byte but for the contract rows after the first few."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(SHIPPED_2025.glob("*.csv")):
        if path.name in drop:
            continue
        kept, seen = [], 0
        for line in path.read_bytes().split(b"\r\n"):
            if CONTRACT_LINE.match(line):
                seen += 1
                if seen > contracts:
                    continue
            kept.append(line)
        (folder / path.name).write_bytes(b"\r\n".join(kept))
    return folder


def run(folder: Path, star_year: int = 2025):
    return cms_star_data_import(star_year=star_year, paths=sorted(folder.glob("*.csv")), source="tests")


def rejected(folder: Path, star_year: int = 2025) -> dict:
    """The one error row of a refused import (which wrote nothing), its message added as `"text"`."""
    before = stored_counts(star_year)
    with pytest.raises(ImportRejected) as error:
        run(folder, star_year)
    assert stored_counts(star_year) == before
    [row] = error.value.errors
    return {**row, "text": error.value.message}


def test_a_small_copy_of_the_folder_imports_and_skips_the_same_tables(tmp_path):
    result = run(small_folder(tmp_path))
    assert (result.contracts, result.cut_points, result.measure_values) == (7, 54, 6 * 42)
    assert result.skipped == SKIPPED_2025
    assert [f["table"] for f in result.files] == [
        "cai",
        "measure_data",
        "measure_stars",
        "part_c_cut_points",
        "part_d_cut_points",
        "summary_ratings",
    ]


def test_the_folder_in_utf8_imports_the_same_and_says_so(tmp_path):
    folder = small_folder(tmp_path)
    for path in folder.iterdir():
        path.write_bytes(path.read_bytes().decode("cp1252").encode("utf-8"))
    result = run(folder)
    assert {f["name"]: f["encoding"] for f in result.files} == {
        CAI: "ASCII",
        DATA: "UTF-8",
        STARS: "UTF-8",
        PART_C: "UTF-8",
        PART_D: "UTF-8",
        SUMMARY: "ASCII",
    }
    assert CmsMeasureValue.objects.filter(edition__cms_id="C06").first().edition.name == (
        "Care for Older Adults – Medication Review"
    )


def test_the_engines_reader_leaves_out_the_tables_it_does_not_read(tmp_path):
    tables = load_tables(small_folder(tmp_path).glob("*.csv"))
    assert (tables.star_year, len(tables.cut_points), len(tables.summary)) == (2025, 54, 6)


# --- a year's files mixed with another year's -----------------------------------------------------


def test_another_years_table_in_the_folder_is_refused_by_its_title(tmp_path):
    folder = small_folder(tmp_path, drop=(PART_C,))
    (folder / "cut-points-part-c.csv").write_bytes((DATA_DIR / "2026" / "cut-points-part-c.csv").read_bytes())
    error = rejected(folder)
    assert (error["file"], error["line"], error["field"]) == ("cut-points-part-c.csv", 1, "file")
    assert error["message"] == "the title row says star year 2026, not 2025: a file from another year"


def test_another_years_table_the_engine_does_not_read_is_refused_too(tmp_path):
    folder = small_folder(tmp_path, drop=(cms_name("Disenrollment Reasons"),))
    reasons = folder / "disenrollment-reasons.csv"
    text = (SHIPPED_2025 / cms_name("Disenrollment Reasons")).read_bytes()
    reasons.write_bytes(text.replace(b"2025 Disenrollment", b"2026 Disenrollment", 1))
    error = rejected(folder)
    assert (error["file"], error["line"]) == (reasons.name, 1)
    assert "says star year 2026, not 2025" in error["message"]


def test_a_file_named_for_another_year_is_refused_when_its_title_names_none(tmp_path):
    folder = small_folder(tmp_path, drop=(cms_name("Low Performing Contracts"),))
    text = (SHIPPED_2025 / cms_name("Low Performing Contracts")).read_bytes()
    (folder / cms_name("Low Performing Contracts", 2026, "Oct 8 2025")).write_bytes(
        text.replace(b"2025 Low Performing", b"Low Performing", 1)
    )
    error = rejected(folder)
    assert error["file"] == cms_name("Low Performing Contracts", 2026, "Oct 8 2025")
    assert error["line"] == 0
    assert error["message"] == "the name says star year 2026, not 2025: a file from another year"


def test_a_file_whose_name_and_title_name_two_years_is_refused(tmp_path):
    folder = small_folder(tmp_path)
    (folder / CAI).rename(folder / cms_name("CAI", 2026, "Oct 8 2025"))
    error = rejected(folder)
    assert (error["file"], error["line"]) == (cms_name("CAI", 2026, "Oct 8 2025"), 1)
    assert error["message"] == "the file name says star year 2026 but the title row says 2025"


# --- a missing or duplicated table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "needed_by", "message"),
    [
        (PART_C, DATA, "the Part C cut points table is missing, and the measure data table needs it"),
        (PART_D, DATA, "the Part D cut points table is missing, and the measure data table needs it"),
        (DATA, STARS, "the measure data table is missing, and the measure stars table needs it"),
        (STARS, SUMMARY, "the measure stars table is missing, and the summary ratings table needs it"),
        (SUMMARY, CAI, "the summary ratings table is missing, and the CAI table needs it"),
        (CAI, SUMMARY, "the CAI table is missing, and the summary ratings table needs it"),
    ],
)
def test_a_missing_table_is_named_with_the_file_that_needs_it(tmp_path, missing, needed_by, message):
    error = rejected(small_folder(tmp_path, drop=(missing,)))
    assert (error["file"], error["line"], error["field"]) == (needed_by, 0, "file")
    cms_title = missing.removeprefix("2025 Star Ratings Data Table - ").split(" (")[0]
    assert error["message"] == (
        f"{message} (CMS ships it as '2025 Star Ratings Data Table - {cms_title} (…).csv')"
    )


def test_a_folder_of_only_tables_the_engine_does_not_read_is_refused(tmp_path):
    folder = small_folder(tmp_path, drop=(CAI, DATA, STARS, PART_C, PART_D, SUMMARY))
    error = rejected(folder)
    assert error["file"] == ""
    assert error["message"].startswith("none of the files is a table the ratings engine reads")
    assert cms_name("Domain Stars") in error["message"]


def test_two_cut_point_tables_of_one_part_are_refused(tmp_path):
    folder = small_folder(tmp_path)
    copy = folder / cms_name("Part C Cut Points", date="Dec 2 2024) (1")
    copy.write_bytes((folder / PART_C).read_bytes())
    error = rejected(folder)
    assert error["file"] == PART_C
    assert error["message"] == f"two Part C cut points tables: {copy.name} and {PART_C}"


# --- an unreadable file ------------------------------------------------------------------------------


def test_a_spreadsheet_named_csv_is_refused_as_not_text(tmp_path):
    folder = small_folder(tmp_path)
    (folder / DATA).write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
    error = rejected(folder)
    assert (error["file"], error["line"]) == (DATA, 0)
    assert error["message"].startswith("not a text file (it holds NUL bytes)")


def test_bytes_neither_utf8_nor_windows_1252_name_their_line(tmp_path):
    folder = small_folder(tmp_path)
    lines = (folder / STARS).read_bytes().split(b"\r\n")
    lines[6] = lines[6].replace(b"Local CCP", b"Local\x81CCP")
    (folder / STARS).write_bytes(b"\r\n".join(lines))
    error = rejected(folder)
    assert (error["file"], error["line"]) == (STARS, 7)
    assert error["message"] == "neither UTF-8 nor Windows-1252 text (byte 0x81)"


def test_a_file_cut_off_mid_row_names_the_row_and_column(tmp_path):
    folder = small_folder(tmp_path)
    text = (folder / STARS).read_bytes()
    cut = text.index(b"\r\nH0029 ")  # H0028's row, the last whole one, on line 7
    (folder / STARS).write_bytes(text[: cut + 80])
    error = rejected(folder)
    assert (error["file"], error["line"]) == (STARS, 8)
    assert error["message"] == "empty cell for contract H0029"
    assert error["field"].startswith("C0")


def test_an_empty_file_is_refused(tmp_path):
    folder = small_folder(tmp_path)
    (folder / SUMMARY).write_bytes(b"")
    error = rejected(folder)
    assert (error["file"], error["message"]) == (SUMMARY, "empty file")


def test_a_refused_folder_leaves_the_years_previous_import_whole(tmp_path):
    run(small_folder(tmp_path / "good"))
    before = (stored_counts(), CmsDataImport.objects.get(star_year=2025).pk)
    rejected(small_folder(tmp_path / "bad", contracts=20, drop=(CAI,)))
    assert (stored_counts(), CmsDataImport.objects.get(star_year=2025).pk) == before


# --- the command and the upload job ---------------------------------------------------------------


def test_the_command_lists_other_files_of_the_folder_as_skipped(tmp_path):
    folder = small_folder(tmp_path)
    (folder / "README.md").write_text("CMS 2025 tables")
    output = import_command(folder)
    assert "  README.md: not a CSV file" in output
    assert output.rstrip().endswith("from 6 files, 5 skipped.")


def test_the_command_refuses_a_bad_folder_naming_the_file(tmp_path):
    folder = small_folder(tmp_path, drop=(DATA,))
    with pytest.raises(
        CommandError, match=r"^Nothing imported: the measure data table is missing.*\(file 2025 "
    ):
        import_command(folder)
    assert stored_counts() == (0, 0, 0)


def test_an_uploaded_folder_is_imported_by_a_job_that_lists_the_skipped_files(
    tmp_path, api, administrator, run_jobs
):
    folder = small_folder(tmp_path)
    uploads = [
        SimpleUploadedFile(p.name, p.read_bytes(), content_type="text/csv") for p in sorted(folder.iterdir())
    ]
    client = api(administrator)
    with run_jobs():
        started = client.post("/api/cms-imports/", {"star_year": 2025, "files": uploads}, format="multipart")
    result = finished_job(client, started)["result"]
    assert result["skipped"] == SKIPPED_2025
    assert {f["name"]: f["encoding"] for f in result["files"]}[DATA] == "Windows-1252"
    assert (result["contracts"], result["cut_points"], result["measure_values"]) == (7, 54, 6 * 42)

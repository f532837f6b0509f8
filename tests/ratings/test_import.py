"""`import_cms_star_data`: the shipped 2026 tables, earlier years' layouts, bad input, replacement."""

import io
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from hedis_portal.import_errors import ImportRejected
from ratings.benchmark import importing
from ratings.benchmark.importing import cms_star_data_import
from ratings.models import CatalogSource, CmsContract, CmsDataImport, CmsMeasureValue, CutPoint
from tests.ratings.conftest import (
    CUT_POINTS_2024,
    CUT_POINTS_2026,
    MEASURE_DATA_2026,
    MEASURE_STARS_2026,
    SMALL_2024,
    SMALL_2026,
    editions,
    imported_for_scope,
    shipped_2026_files,
    write_csv,
    write_set,
)

pytestmark = pytest.mark.django_db


def run(star_year, paths):
    return cms_star_data_import(star_year=star_year, paths=paths, source="tests")


def value(contract_id, star_year, cms_id):
    return CmsMeasureValue.objects.get(
        contract__contract_id=contract_id, contract__star_year=star_year, edition__cms_id=cms_id
    )


def stored_counts(star_year):
    return (
        CmsContract.objects.filter(star_year=star_year).count(),
        CutPoint.objects.filter(edition__star_year=star_year).count(),
        CmsMeasureValue.objects.filter(contract__star_year=star_year).count(),
    )


# --- the shipped 2026 tables (imported once for the class) ------------------------------------------


@pytest.fixture(scope="class")
def shipped(django_db_setup, django_db_blocker):
    """The shipped 2026 tables, imported once for `TestShipped2026` only."""
    yield from imported_for_scope(django_db_blocker, 2026, shipped_2026_files())


class TestShipped2026:
    """The real CMS 2026 files, stored whole."""

    def test_shipped_tables_are_stored_whole(self, shipped):
        assert (shipped.contracts, shipped.cut_points, shipped.measure_values) == (
            769,
            33 + 2 * 12,
            769 * 45,
        )
        assert stored_counts(2026) == (769, 57, 34605)
        assert {f["table"] for f in shipped.files} == {
            "part_c_cut_points",
            "part_d_cut_points",
            "measure_data",
            "measure_stars",
            "summary_ratings",
            "cai",
        }
        assert shipped.editions_created == 0  # 2026 measures come from the shipped catalog

    def test_statuses_are_statuses_never_zeros(self, shipped):
        not_required = value("E3014", 2026, "C01")
        assert (not_required.score, not_required.score_status) == (
            None,
            "Plan not required to report measure",
        )
        assert (not_required.star, not_required.star_status) == (None, "Plan not required to report measure")
        assert not CmsMeasureValue.objects.filter(star=0).exists()
        assert value("H0028", 2026, "C01").star == 4
        assert value("H0028", 2026, "C28").score == Decimal("0.16")

    def test_contracts_carry_summary_and_cai_columns(self, shipped):
        h0028 = CmsContract.objects.get(star_year=2026, contract_id="H0028")
        assert (h0028.organization_type, h0028.snp, h0028.disaster_percent) == (
            "Local CCP",
            True,
            {"2023": "1", "2024": "9"},
        )
        assert (h0028.part_c_summary, h0028.part_d_summary, h0028.overall) == (
            Decimal("3.5"),
            Decimal(3),
            Decimal("3.5"),
        )
        assert (h0028.part_c_fac, h0028.part_d_mapd_fac, h0028.part_d_pdp_fac, h0028.overall_fac) == (
            4,
            3,
            None,
            4,
        )
        e3014 = CmsContract.objects.get(star_year=2026, contract_id="E3014")
        assert (e3014.part_c_summary, e3014.part_c_summary_status) == (None, "Not Applicable")

    def test_part_d_cut_points_differ_by_org_type(self, shipped):
        d02 = {c.org_type: c for c in CutPoint.objects.filter(edition__star_year=2026, edition__cms_id="D02")}
        assert set(d02) == {"MA-PD", "PDP"}
        assert (d02["MA-PD"].direction, d02["MA-PD"].five_star, d02["PDP"].five_star) == (
            "lower",
            Decimal("0.11"),
            Decimal("0.03"),
        )
        c18 = CutPoint.objects.get(edition__star_year=2026, edition__cms_id="C18")
        assert (c18.org_type, c18.two_star, c18.two_star_inclusive) == ("", Decimal(12), True)

    def test_one_audit_entry_per_import(self, shipped):
        entry = LogEntry.objects.get(object_pk="batch", object_repr__contains="2026 CMS Star Ratings")
        batch = entry.additional_data["batch"]
        assert (batch["count"], batch["contracts"], batch["measure_values"], batch["source"]) == (
            769 + 57 + 34605,
            769,
            34605,
            "tests",
        )
        assert len(batch["files"]) == 6 and all(len(f["sha256"]) == 64 for f in batch["files"])

    def test_reimporting_a_year_replaces_it(self, shipped):
        before = set(CmsContract.objects.filter(star_year=2026).values_list("pk", flat=True))
        result = run(2026, shipped_2026_files())
        assert result.replaced
        assert stored_counts(2026) == (769, 57, 34605)
        assert CmsDataImport.objects.filter(star_year=2026).count() == 1
        assert not before & set(CmsContract.objects.filter(star_year=2026).values_list("pk", flat=True))


# --- small files ----------------------------------------------------------------------------------


def test_small_2026_set_matches_the_shipped_catalog(tmp_path):
    result = run(2026, write_set(tmp_path, SMALL_2026))
    assert (result.contracts, result.cut_points, result.measure_values) == (2, 3, 6)
    assert value("H0002", 2026, "C01").score_status == "Plan too small to be measured"
    assert value("H0001", 2026, "C18").score == Decimal(11)
    assert CmsContract.objects.get(contract_id="H0001", star_year=2026).disaster_percent == {
        "2023": "0",
        "2024": "30",
    }


def test_import_command_reports_progress(tmp_path):
    write_set(tmp_path, SMALL_2026)
    out = io.StringIO()
    call_command("import_cms_star_data", str(tmp_path), "--star-year", "2026", stdout=out)
    text = out.getvalue()
    assert "read measure-data.csv: measure data, 2 contracts × 3 measures" in text
    assert "stored 6 measure values" in text
    assert "Star year 2026: 2 contracts, 3 cut point rows, 6 measure values from 5 files." in text


def test_the_cp1252_layout_of_a_year_with_no_catalog_creates_editions_from_the_header(tmp_path):
    result = run(2024, write_set(tmp_path, SMALL_2024, encoding="cp1252"))
    assert (result.contracts, result.cut_points, result.measure_values, result.editions_created) == (
        2,
        3,
        6,
        3,
    )
    found = editions(2024)
    # IDs shift between years: this set's C01 is the stable COL measure (2026's C02).
    assert {cms_id: e.measure.code for cms_id, e in found.items()} == {
        "C01": "COL",
        "C02": "COA-MR",
        "C03": "PCR",
    }
    assert all(e.source == CatalogSource.DATA_TABLES and e.weight is None for e in found.values())
    assert found["C02"].name == "Care for Older Adults – Medication Review"
    assert found["C01"].display_precision == 0
    assert value("H0001", 2024, "C01").score == Decimal(71)
    assert value("H0002", 2024, "C03").star_status == "Plan too new to be measured"
    assert "only measure stars can be verified" in result.notes[0]


def test_reimporting_an_uncatalogued_year_follows_ids_that_moved(tmp_path):
    run(2024, write_set(tmp_path / "first", SMALL_2024, encoding="cp1252"))
    # A corrected file set in which C01 and C02 trade measures.
    swapped = {
        name: text.replace("C01: Colorectal", "C0X: Colorectal")
        .replace("C02: Care for Older", "C01: Care for Older")
        .replace("C0X: Colorectal", "C02: Colorectal")
        for name, text in SMALL_2024.items()
    }
    result = run(2024, write_set(tmp_path / "second", swapped, encoding="cp1252"))
    assert result.replaced
    assert {cms_id: e.measure.code for cms_id, e in editions(2024).items()} == {
        "C01": "COA-MR",
        "C02": "COL",
        "C03": "PCR",
    }
    assert stored_counts(2024) == (2, 3, 6)


def test_reimport_with_other_values_keeps_only_the_new_ones(tmp_path):
    run(2026, write_set(tmp_path / "first", SMALL_2026))
    changed = dict(SMALL_2026, **{"measure-data.csv": MEASURE_DATA_2026.replace(",80% ,", ",82% ,")})
    run(2026, write_set(tmp_path / "second", changed))
    assert value("H0001", 2026, "C01").score == Decimal(82)
    assert stored_counts(2026) == (2, 3, 6)
    assert LogEntry.objects.filter(object_pk="batch", object_repr__contains="2026 CMS").count() == 2


# --- bad input: clear errors, nothing written ------------------------------------------------------


def rejected(star_year, paths) -> dict:
    """The one error row of a refused import (which wrote nothing), its message added as `"text"`."""
    before = stored_counts(star_year)
    with pytest.raises(ImportRejected) as error:
        run(star_year, paths)
    assert stored_counts(star_year) == before
    assert error.value.extra["error_count"] == 1
    [row] = error.value.errors
    return {**row, "text": error.value.message}


def test_a_file_from_another_year_is_refused(tmp_path):
    paths = write_set(tmp_path, SMALL_2026)
    paths.append(write_csv(tmp_path, "old-cuts.csv", CUT_POINTS_2024, encoding="cp1252"))
    error = rejected(2026, paths)
    assert (error["file"], error["line"], error["field"]) == ("old-cuts.csv", 1, "file")
    assert "says star year 2024, not 2026" in error["message"]
    assert error["text"].endswith("(file old-cuts.csv, line 1)")


def test_non_monotone_cut_points_name_file_and_column(tmp_path):
    broken = CUT_POINTS_2026.replace(">= 76 % to < 84 %", ">= 70 % to < 84 %")
    files = dict(SMALL_2026, **{"cut-points-part-c.csv": broken})
    error = rejected(2026, write_set(tmp_path, files))
    assert error["file"] == "cut-points-part-c.csv"
    assert error["field"] == "C01: Breast Cancer Screening"
    assert "not monotone" in error["message"]


def test_unreadable_cut_point_names_the_row(tmp_path):
    broken = CUT_POINTS_2026.replace("<= 7 %", "seven or less")
    error = rejected(2026, write_set(tmp_path, dict(SMALL_2026, **{"cut-points-part-c.csv": broken})))
    assert (error["line"], error["field"]) == (9, "C18: Plan All-Cause Readmissions")


def test_ids_shifted_against_the_catalog_are_refused(tmp_path):
    # A 2026 file whose C01 column is Colorectal Cancer Screening: the IDs are another year's.
    swapped = MEASURE_STARS_2026.replace(
        "C01: Breast Cancer Screening", "C01: Colorectal Cancer Screening"
    ).replace("C02: Colorectal Cancer Screening", "C02: Breast Cancer Screening", 1)
    error = rejected(2026, write_set(tmp_path, dict(SMALL_2026, **{"measure-stars.csv": swapped})))
    assert error["file"] == "measure-stars.csv"
    assert error["field"] == "C01: Colorectal Cancer Screening"
    assert "named like C02" in error["message"]


def test_a_measure_the_catalog_does_not_know_is_refused(tmp_path):
    unknown = MEASURE_STARS_2026.replace("C18: Plan All-Cause Readmissions", "C99: Something New")
    error = rejected(2026, write_set(tmp_path, dict(SMALL_2026, **{"measure-stars.csv": unknown})))
    assert error["field"] == "C99: Something New"


def test_scores_out_of_range_name_file_row_and_column(tmp_path):
    files = dict(SMALL_2026, **{"measure-data.csv": MEASURE_DATA_2026.replace(",69% ,", ",169% ,")})
    error = rejected(2026, write_set(tmp_path, files))
    assert (error["file"], error["line"], error["field"]) == (
        "measure-data.csv",
        5,
        "C02: Colorectal Cancer Screening",
    )
    assert "169%" in error["message"]


def test_a_star_outside_one_to_five_is_refused(tmp_path):
    files = dict(SMALL_2026, **{"measure-stars.csv": MEASURE_STARS_2026.replace(",4 ,3 ,2", ",4 ,6 ,2")})
    error = rejected(2026, write_set(tmp_path, files))
    assert (error["file"], error["line"], error["field"]) == (
        "measure-stars.csv",
        5,
        "C02: Colorectal Cancer Screening",
    )


def test_a_scored_measure_without_cut_points_is_refused(tmp_path):
    cuts = CUT_POINTS_2026.replace(",C18: Plan All-Cause Readmissions", ",")
    cuts = "\n".join(line.rsplit(",", 1)[0] for line in cuts.splitlines()) + "\n"
    error = rejected(2026, write_set(tmp_path, dict(SMALL_2026, **{"cut-points-part-c.csv": cuts})))
    assert error["file"] == "measure-data.csv"
    assert error["field"] == "C18: Plan All-Cause Readmissions"
    assert "no cut points" in error["message"]


def test_an_unknown_layout_names_the_file(tmp_path):
    paths = write_set(tmp_path, SMALL_2026)
    paths.append(write_csv(tmp_path, "members.csv", "member_id,name\n1,Ann\n"))
    error = rejected(2026, paths)
    assert (error["file"], error["line"], error["field"]) == ("members.csv", 1, "file")
    assert "unrecognised layout" in error["message"]
    assert "Ann" not in error["text"]  # a file of no CMS layout is refused quoting none of its cells


def test_two_tables_of_the_same_kind_are_refused(tmp_path):
    paths = write_set(tmp_path, SMALL_2026)
    paths.append(write_csv(tmp_path, "z-more-stars.csv", MEASURE_STARS_2026))
    assert "two measure stars tables" in rejected(2026, paths)["message"]


def test_a_failure_while_writing_leaves_the_previous_import_whole(tmp_path, monkeypatch):
    run(2026, write_set(tmp_path / "good", SMALL_2026))
    before = list(CmsMeasureValue.objects.order_by("pk").values("pk", "score", "star"))

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # The contracts and cut points of the new import are written before this step fails.
    monkeypatch.setattr(importing, "_write_values", fail)
    changed = dict(SMALL_2026, **{"measure-data.csv": MEASURE_DATA_2026.replace(",80% ,", ",82% ,")})
    with pytest.raises(RuntimeError):
        run(2026, write_set(tmp_path / "bad", changed))
    assert list(CmsMeasureValue.objects.order_by("pk").values("pk", "score", "star")) == before
    assert CmsDataImport.objects.filter(star_year=2026).count() == 1


def test_the_command_turns_a_refusal_into_a_clear_error(tmp_path):
    write_set(tmp_path, dict(SMALL_2026, **{"cut-points-part-c.csv": CUT_POINTS_2024}))
    with pytest.raises(
        CommandError, match=r"Nothing imported: .*2024, not 2026.*\(file cut-points-part-c.csv, line 1\)"
    ):
        call_command("import_cms_star_data", str(tmp_path), "--star-year", "2026", stdout=io.StringIO())


def test_the_command_needs_csv_files(tmp_path):
    with pytest.raises(CommandError, match="No CSV files"):
        call_command("import_cms_star_data", str(tmp_path), "--star-year", "2026")

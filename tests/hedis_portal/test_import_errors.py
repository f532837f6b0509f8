"""Every import refuses its input with one error class, `ImportRejected`, whose rows have one shape.

The shape: `{"line": int, "field": str, "message": str}`, plus `"file": str` for the CMS data
tables (the one import that reads several files), as the service raises it, as the API answers it
and as the commands print it.
"""

import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from gaps.importing import gaps_import_csv
from hedis_portal.import_errors import ImportRejected
from predictions.importing import predictions_import_file
from predictions.services import predictions_bulk_upsert
from ratings.benchmark.importing import cms_star_data_import
from tests.predictions.conftest import prediction_row
from tests.ratings.conftest import CUT_POINTS_2024, SMALL_2026, write_csv, write_set

pytestmark = pytest.mark.django_db

ROW_KEYS = {"line", "field", "message"}
ROW_TYPES = {"file": str, "line": int, "field": str, "message": str}
GAP_FILE = b"member_id,measure,compliance_status,birth_year\nM-1,XYZ,open,1950\nM-2,BCS,pending,1950\n"
PREDICTIONS = [prediction_row(), prediction_row(probability=3), prediction_row(measure="XYZ")]
# No member has the rows' ID, so every row has a member_id error besides its own.
PREDICTION_ERRORS = [(1, "member_id"), (2, "probability"), (2, "member_id"), (3, "member_id"), (3, "measure")]


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _cms_files(folder) -> list:
    """The 2026 tables and one of 2024's: refused as a file from another year."""
    return [*write_set(folder, SMALL_2026), write_csv(folder, "old-cuts.csv", CUT_POINTS_2024)]


def _rejection(import_) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        import_()
    return caught.value


def test_the_three_importers_raise_one_class_with_one_row_shape(contract, analyst, tmp_path):
    refusals = {
        "gap file": _rejection(
            lambda: gaps_import_csv(data=GAP_FILE, contract=contract, measurement_year=2026, channel="test")
        ),
        "predictions file": _rejection(
            lambda: predictions_import_file(
                content=_jsonl(PREDICTIONS), file_format="jsonl", user=analyst, channel="test"
            )
        ),
        "predictions batch": _rejection(
            lambda: predictions_bulk_upsert(user=analyst, rows=PREDICTIONS, source="test")
        ),
        "CMS data tables": _rejection(
            lambda: cms_star_data_import(star_year=2026, paths=_cms_files(tmp_path), source="test")
        ),
    }
    for name, refusal in refusals.items():
        expected_keys = ROW_KEYS | {"file"} if name == "CMS data tables" else ROW_KEYS
        assert type(refusal) is ImportRejected, name
        assert refusal.status_code == 400
        assert set(refusal.extra) == {"errors", "error_count"}, name
        assert refusal.extra["errors"] is refusal.errors
        assert refusal.extra["error_count"] == len(refusal.errors) > 0, name
        for error in refusal.errors:
            assert set(error) == expected_keys, name
            assert all(type(error[key]) is ROW_TYPES[key] for key in error), name

    assert [(e["line"], e["field"]) for e in refusals["gap file"].errors] == [
        (2, "measure"),
        (3, "compliance_status"),
    ]
    # A file's line numbers and a posted list's 1-based positions name the same rows here.
    assert refusals["predictions file"].errors == refusals["predictions batch"].errors
    assert [(e["line"], e["field"]) for e in refusals["predictions batch"].errors] == PREDICTION_ERRORS
    assert {key: refusals["CMS data tables"].errors[0][key] for key in ("file", "line", "field")} == {
        "file": "old-cuts.csv",
        "line": 1,
        "field": "file",
    }


def test_the_api_answers_every_import_refusal_in_the_same_shape(api, administrator):
    upload = SimpleUploadedFile("gaps.csv", GAP_FILE, content_type="text/csv")
    client = api(administrator)
    answers = [
        client.post(
            "/api/gaps/import/",
            {"file": upload, "contract": "H1001", "measurement_year": 2026},
            format="multipart",
        ),
        client.post("/api/predictions/bulk/", {"predictions": PREDICTIONS}, format="json"),
    ]
    assert [answer.status_code for answer in answers] == [400, 400]
    bodies = [answer.json() for answer in answers]
    for body in bodies:
        assert set(body) == {"message", "extra"}
        assert set(body["extra"]) == {"errors", "error_count"}
        assert body["extra"]["error_count"] == len(body["extra"]["errors"])
        assert all(set(error) == ROW_KEYS for error in body["extra"]["errors"])
    assert [(e["line"], e["field"]) for e in bodies[0]["extra"]["errors"]] == [
        (2, "measure"),
        (3, "compliance_status"),
    ]
    assert [(e["line"], e["field"]) for e in bodies[1]["extra"]["errors"]] == PREDICTION_ERRORS


def test_the_commands_print_each_error_with_its_line_and_field(contract, analyst, tmp_path):
    gap_path = tmp_path / "gaps.csv"
    gap_path.write_bytes(GAP_FILE)
    predictions_path = tmp_path / "scores.jsonl"
    predictions_path.write_bytes(_jsonl(PREDICTIONS))
    printed = {}
    for command, arguments in {
        "import_gaps": [str(gap_path), "--contract", "H1001", "--measurement-year", "2026"],
        "import_predictions": [str(predictions_path), "--as-user", "analyst"],
    }.items():
        err = StringIO()
        with pytest.raises(CommandError, match="nothing was imported"):
            call_command(command, *arguments, stdout=StringIO(), stderr=err)
        printed[command] = err.getvalue().splitlines()
    assert printed["import_gaps"] == [
        "line 2, measure: not a known member-level measure code",
        "line 3, compliance_status: not one of open, closed, excluded, not_applicable",
    ]
    assert [line.split(":")[0] for line in printed["import_predictions"]] == [
        f"line {line}, {field}" for line, field in PREDICTION_ERRORS
    ]

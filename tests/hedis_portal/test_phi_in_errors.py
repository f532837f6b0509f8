"""A raw member ID in a malformed import file reaches no response, console, log record or database row.

A row that lost a cell shifts the raw ID into another column; a file without its header row
starts with a member's data. Here every malformed cell (and an unknown header, and the file's
name) is one distinctive raw ID, sent through each import path: the gap file through the
service, the command and the API, predictions through the API and the command (CSV and JSONL).
"""

import ast
import json
import logging
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from gaps.importing import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, gaps_import_csv
from hedis_portal import request_log
from hedis_portal.import_errors import ImportRejected, Problem, row_error
from tests.predictions.conftest import database_text_contains, prediction_row

pytestmark = pytest.mark.django_db

RAW_ID = "ZQX-778812345"
DIGITS = "778812345"  # found whatever the case or the quoting around it
GAP_COLUMNS = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]


def _csv(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def _cells(count: int, value: str = RAW_ID) -> str:
    return ",".join([value] * count)


GAP_FILES = {
    # Every cell of the row is the ID, the ID in lower case, and the ID where a cell was lost.
    "every cell": _csv(",".join(GAP_COLUMNS), _cells(11), _cells(11, RAW_ID.lower()), _cells(10)),
    "an excluded status with the ID as its reason's status": _csv(
        "member_id,measure,compliance_status,exclusion_reason,birth_year",
        f"M-1,BCS,{RAW_ID},Hospice,1950",
    ),
    "no header row": _csv(f"{RAW_ID},BCS,open,,,,,1950,F", f"M-2,BCS,open,,,,,1950,{RAW_ID}"),
    "an unknown column named by the ID": _csv(
        f"member_id,measure,compliance_status,{RAW_ID},birth_year", "M-1,BCS,open,x,1950"
    ),
    "a header of IDs": _csv(_cells(3), "M-1,BCS,open"),
    "the ID with a NUL byte": _csv(
        "member_id,measure,compliance_status,birth_year", f"{RAW_ID}\x00,BCS,open,1950"
    ),
    "the ID with a zero-width space": _csv(
        "member_id,measure,compliance_status,birth_year", f"{RAW_ID}\u200b,BCS,open,1950"
    ),
    "surplus cells": _csv("member_id,measure,compliance_status", f"M-1,BCS,open,{RAW_ID},{RAW_ID}"),
}


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.request")
    return caplog


def assert_nowhere(*outputs: str, logs) -> None:
    """The raw ID is in none of `outputs`, no log record, and no text of any database row."""
    request_log.flush()
    records = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {getattr(record, 'args', '')}"
        for record in logs.records
    )
    for text in (*outputs, logs.text, records):
        assert RAW_ID.lower() not in text.lower()
        assert DIGITS not in text
    assert database_text_contains(DIGITS) == []


@pytest.mark.parametrize("name", GAP_FILES)
def test_gap_import_service_errors_quote_no_cell(contract, logs, name):
    with pytest.raises(ImportRejected) as rejected:
        gaps_import_csv(data=GAP_FILES[name], contract=contract, measurement_year=2026, channel="command")
    errors = rejected.value.extra["errors"]
    assert errors and all(error["line"] >= 1 and error["field"] for error in errors)
    assert_nowhere(rejected.value.message, json.dumps(rejected.value.extra), logs=logs)


@pytest.mark.parametrize("name", GAP_FILES)
def test_gap_import_command_errors_quote_no_cell(contract, logs, capsys, tmp_path, name):
    path = tmp_path / f"{RAW_ID}.csv"
    path.write_bytes(GAP_FILES[name])
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_gaps", str(path), contract="H1001", measurement_year=2026, stdout=out, stderr=err
        )
    console = capsys.readouterr()
    assert "line " in err.getvalue()
    assert_nowhere(str(refused.value), out.getvalue(), err.getvalue(), console.out, console.err, logs=logs)


@pytest.mark.parametrize("name", GAP_FILES)
def test_gap_import_api_errors_quote_no_cell(api, administrator, logs, name):
    body = {
        "file": SimpleUploadedFile(f"{RAW_ID}.csv", GAP_FILES[name], content_type="text/csv"),
        "contract": "H1001",
        "measurement_year": 2026,
    }
    response = api(administrator).post("/api/gaps/import/", body, format="multipart")
    assert response.status_code == 400
    assert_nowhere(response.content.decode(), logs=logs)


def test_a_file_named_by_the_id_is_imported_without_its_name(
    api, administrator, contract, logs, run_jobs, tmp_path
):
    good = _csv("member_id,measure,compliance_status,birth_year", "M-1,BCS,open,1950")
    body = {
        "file": SimpleUploadedFile(f"{RAW_ID}.csv", good, content_type="text/csv"),
        "contract": "H1001",
        "measurement_year": 2026,
    }
    client = api(administrator)
    with run_jobs():
        started = client.post("/api/gaps/import/", body, format="multipart")
    response = client.get(started["Location"])
    assert response.json()["status"] == "succeeded"
    path = tmp_path / f"{RAW_ID}.csv"
    path.write_bytes(_csv("member_id,measure,compliance_status,birth_year", "M-2,BCS,open,1950"))
    out, err = StringIO(), StringIO()
    call_command("import_gaps", str(path), contract="H1001", measurement_year=2026, stdout=out, stderr=err)
    assert_nowhere(response.content.decode(), out.getvalue(), err.getvalue(), logs=logs)


def _every_field(value) -> dict:
    return {name: value for name in prediction_row()}


PREDICTION_ROWS = [
    {**_every_field(RAW_ID), RAW_ID: RAW_ID},
    {**_every_field(RAW_ID.lower()), RAW_ID.lower(): 1, f"{RAW_ID}-2": 2},
    prediction_row(RAW_ID + "\x00", measure=RAW_ID, top_features=[RAW_ID]),
    prediction_row(RAW_ID + "\u200b"),
    RAW_ID,
    [RAW_ID],
]


def test_predictions_bulk_errors_quote_no_value_or_field_name(api, analyst, logs):
    response = api(analyst).post("/api/predictions/bulk/", {"predictions": PREDICTION_ROWS}, format="json")
    assert response.status_code == 400
    assert {error["line"] for error in response.json()["extra"]["errors"]} == {1, 2, 3, 4, 5, 6}
    assert_nowhere(response.content.decode(), logs=logs)


def _import_predictions(path) -> str:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_predictions", str(path), "--as-user", "analyst", stdout=out, stderr=err)
    return "\n".join([str(refused.value), out.getvalue(), err.getvalue()])


@pytest.mark.parametrize(
    "lines",
    [
        ["member_id,measure,measurement_year,model_version,probability,risk_tier,predicted_at", _cells(7)],
        [
            "member_id,measure,measurement_year,model_version,probability,risk_tier,predicted_at",
            _cells(7, RAW_ID.lower()),
            _cells(9),
        ],
        [f"member_id,measure,measurement_year,model_version,probability,risk_tier,predicted_at,{RAW_ID}"],
        [_cells(8), _cells(8)],
    ],
    ids=["every cell", "lower case and surplus cells", "an unknown column", "no header row"],
)
def test_import_predictions_csv_errors_quote_no_cell(analyst, logs, capsys, tmp_path, lines):
    path = tmp_path / f"{RAW_ID}.csv"
    path.write_text("".join(f"{line}\n" for line in lines))
    output = _import_predictions(path)
    console = capsys.readouterr()
    assert_nowhere(output, console.out, console.err, logs=logs)


def test_import_predictions_jsonl_errors_quote_no_value_or_field_name(analyst, logs, capsys, tmp_path):
    path = tmp_path / f"{RAW_ID}.jsonl"
    lines = [json.dumps(row) for row in PREDICTION_ROWS] + [f'{{"member_id": "{RAW_ID}",']
    path.write_text("".join(f"{line}\n" for line in lines))
    output = _import_predictions(path)
    console = capsys.readouterr()
    assert "line 7" in output
    assert_nowhere(output, console.out, console.err, logs=logs)


def test_predictions_upload_errors_quote_no_value_and_keep_nothing(api, analyst, logs):
    lines = [json.dumps(row) for row in PREDICTION_ROWS] + [f'{{"member_id": "{RAW_ID}",']
    upload = SimpleUploadedFile(f"{RAW_ID}.jsonl", "".join(f"{line}\n" for line in lines).encode())
    response = api(analyst).post("/api/predictions/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert {error["line"] for error in response.json()["extra"]["errors"]} == {1, 2, 3, 4, 5, 6, 7}
    assert_nowhere(response.content.decode(), logs=logs)


def test_import_predictions_names_no_file(analyst, logs, capsys, tmp_path):
    outputs = [
        _import_predictions(tmp_path / f"{RAW_ID}.txt"),
        _import_predictions(tmp_path / f"{RAW_ID}.csv"),
    ]
    console = capsys.readouterr()
    assert_nowhere(*outputs, console.out, console.err, logs=logs)


def test_an_error_row_takes_only_a_worded_problem():
    with pytest.raises(TypeError):
        row_error(2, "measure", f"unknown measure code {RAW_ID!r}")
    assert row_error(2, "measure", Problem("x")) == {"line": 2, "field": "measure", "message": "x"}


def test_problems_are_worded_only_in_the_catalogue():
    """No module but `hedis_portal/import_errors.py` makes a `Problem` (where a value could slip in)."""
    root = Path(__file__).resolve().parents[2]
    makers = []
    packages = [path for path in root.iterdir() if (path / "__init__.py").exists() and path.name != "tests"]
    assert {"gaps", "predictions", "members", "hedis_portal"} <= {package.name for package in packages}
    for path in (path for package in packages for path in package.rglob("*.py")):
        if path.name == "import_errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and "Problem" in {
                getattr(node.func, "id", None),
                getattr(node.func, "attr", None),
            }:
                makers.append(f"{path.relative_to(root)}:{node.lineno}")
    assert makers == []

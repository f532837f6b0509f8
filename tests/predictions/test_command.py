"""`manage.py import_predictions`: whole-file validation with line numbers, then one transaction."""

import csv
import getpass
import hashlib
import json
import socket
from io import StringIO

import pytest
from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from predictions import importing
from predictions.models import Prediction
from tests.factories import CareGapFactory, UserFactory, measure
from tests.predictions.conftest import (
    OTHER_RAW_ID,
    OWN_RAW_ID,
    database_text_contains,
    prediction_row,
    raw_member_ids,
)

pytestmark = pytest.mark.django_db

COLUMNS = [
    "member_id",
    "measure",
    "measurement_year",
    "model_version",
    "probability",
    "risk_tier",
    "top_features",
    "predicted_at",
]


def write_csv(path, rows: list[dict], columns=COLUMNS):
    """A CSV as a model's export looks: every cell text, top_features as a JSON string."""
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            cells = {**row}
            if "top_features" in cells and not isinstance(cells["top_features"], str):
                cells["top_features"] = json.dumps(cells["top_features"])
            writer.writerow(cells)
    return path


def write_jsonl(path, lines: list):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def run(path, username="analyst", *extra):
    """Run the command; return (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("import_predictions", str(path), "--as-user", username, *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rejection(path, username="analyst", *extra) -> tuple[str, str]:
    """Run the command expecting a refusal; return (the error, the listed problems)."""
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_predictions", str(path), "--as-user", username, *extra, stdout=StringIO(), stderr=err
        )
    return str(caught.value), err.getvalue()


def test_csv_import_creates_predictions_points_gaps_and_audits_the_user(tmp_path, analyst, member, contract):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    raw_ids = raw_member_ids(contract, 4)
    rows = [prediction_row(raw) for raw in raw_ids] + [prediction_row(), prediction_row(measure="COL")]
    out, _ = run(write_csv(tmp_path / "scores.csv", rows), "analyst", "--batch-size", "4")
    assert "6 rows imported; 6 predictions created, 0 updated." in out
    assert "scores" not in out
    assert Prediction.objects.count() == 6
    gap.refresh_from_db()
    assert gap.current_prediction == Prediction.objects.get(member=member, measure=measure("BCS"))
    entries = LogEntry.objects.filter(object_pk="batch").order_by("pk")
    assert [e.additional_data["batch"]["count"] for e in entries] == [4, 2]
    assert {e.actor for e in entries} == {analyst}
    content = (tmp_path / "scores.csv").read_bytes()
    facts = {"sha256": hashlib.sha256(content).hexdigest(), "size_bytes": len(content), "rows": 6}
    assert [(e.additional_data["batch"]["channel"], e.additional_data["batch"]["file"]) for e in entries] == [
        ("command", facts),
        ("command", facts),
    ]
    assert {json.dumps(e.additional_data["command_line"], sort_keys=True) for e in entries} == {
        json.dumps(
            {"command": "import_predictions", "host": socket.gethostname(), "os_user": getpass.getuser()},
            sort_keys=True,
        )
    }
    assert "scores" not in str([e.additional_data for e in entries])
    assert auditlog_value.get(None) is None


def test_csv_types_are_converted_and_an_empty_top_features_cell_is_allowed(tmp_path, analyst, member):
    write_csv(tmp_path / "scores.csv", [prediction_row(top_features="", probability="0.25")])
    run(tmp_path / "scores.csv")
    prediction = Prediction.objects.get()
    assert (prediction.probability, prediction.measurement_year, prediction.top_features) == (0.25, 2026, [])


def test_a_csv_without_the_optional_column_imports(tmp_path, analyst, member):
    row = prediction_row()
    del row["top_features"]
    write_csv(tmp_path / "scores.csv", [row], columns=[c for c in COLUMNS if c != "top_features"])
    run(tmp_path / "scores.csv")
    assert Prediction.objects.count() == 1


def test_jsonl_import_then_reimport_updates(tmp_path, analyst, member):
    path = write_jsonl(tmp_path / "scores.jsonl", [prediction_row(), "", prediction_row(measure="CBP")])
    out, _ = run(path)
    assert "2 predictions created, 0 updated" in out
    write_jsonl(path, [prediction_row(probability=0.05)])
    out, _ = run(path)
    assert "0 predictions created, 1 updated" in out
    assert Prediction.objects.get(measure=measure("BCS")).probability == 0.05


def test_a_rejected_csv_lists_every_error_with_its_line_and_writes_nothing(tmp_path, analyst, member):
    rows = [
        prediction_row(),
        prediction_row(probability="likely"),
        prediction_row(measure="COL"),
        prediction_row(OTHER_RAW_ID, measurement_year="MY2026"),
        prediction_row(top_features="[unclosed"),
    ]
    error, listed = rejection(write_csv(tmp_path / "scores.csv", rows))
    assert error == "4 errors on 3 of 5 rows in the file; nothing was imported."
    assert listed.splitlines() == [
        "line 3, probability: must be a number",
        "line 5, measurement_year: must be an integer",
        "line 5, member_id: member not found in your contracts",
        "line 6, top_features: must be a list",
    ]
    assert not Prediction.objects.exists()
    assert not LogEntry.objects.filter(object_pk="batch").exists()


def test_a_rejected_jsonl_names_unreadable_lines_and_duplicates_across_batches(tmp_path, analyst, member):
    lines = [
        prediction_row(),
        "{not json",
        prediction_row(measure="COL"),
        ["a", "list"],
        prediction_row(probability=0.2),
    ]
    error, listed = rejection(write_jsonl(tmp_path / "scores.jsonl", lines), "analyst", "--batch-size", "2")
    assert listed.splitlines() == [
        "line 2, non_field_errors: is not valid JSON",
        "line 4, non_field_errors: must be an object with the prediction's fields",
        "line 5, non_field_errors: same member, measure, measurement_year and model_version as line 1",
    ]
    assert "nothing was imported" in error
    assert not Prediction.objects.exists()


def test_raw_member_ids_stay_out_of_the_output_and_the_database(tmp_path, analyst, member):
    path = write_csv(tmp_path / "scores.csv", [prediction_row(), prediction_row("RAW-NOT-ENROLLED-77")])
    error, listed = rejection(path)
    run(write_csv(path, [prediction_row()]))
    for raw in [OWN_RAW_ID, "RAW-NOT-ENROLLED-77"]:
        assert raw not in error + listed
        assert database_text_contains(raw) == []


def test_all_batches_are_one_transaction(tmp_path, monkeypatch, analyst, contract):
    rows = [prediction_row(raw) for raw in raw_member_ids(contract, 5)]
    upsert = importing.predictions_bulk_upsert
    calls = []

    def fail_on_the_third_batch(**kwargs):
        calls.append(len(kwargs["rows"]))
        if len(calls) == 3:
            raise RuntimeError("database went away")
        return upsert(**kwargs)

    monkeypatch.setattr(importing, "predictions_bulk_upsert", fail_on_the_third_batch)
    with pytest.raises(RuntimeError):
        run(write_csv(tmp_path / "scores.csv", rows), "analyst", "--batch-size", "2")
    assert calls == [2, 2, 1]
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    ("username", "message"),
    [("nobody", "No active user 'nobody'"), ("cm", "may not add predictions")],
)
def test_the_importing_user_must_exist_and_may_add_predictions(
    tmp_path, care_manager, member, username, message
):
    error, _ = rejection(write_csv(tmp_path / "scores.csv", [prediction_row()]), username)
    assert message in error


def test_a_wrong_header_is_refused_at_once(tmp_path, analyst, member):
    path = tmp_path / "scores.csv"
    path.write_text("member,measure,year\nRAW-OWN-0001,BCS,2026\n")
    error, _ = rejection(path)
    assert "2 unknown columns at positions 1 (did you mean member_id?), 3;" in error
    assert "missing column(s): member_id, measurement_year" in error
    assert " member," not in error and " year" not in error  # the unknown names are not quoted


@pytest.mark.parametrize("name", ["scores.txt", "scores.json"])
def test_only_csv_and_jsonl_files_are_read(tmp_path, analyst, name):
    path = tmp_path / name
    path.write_text("{}")
    error, _ = rejection(path)
    assert error == "Expected a .csv or .jsonl file."


def test_batch_size_may_not_exceed_the_api_maximum(tmp_path, settings, analyst, member):
    settings.PREDICTIONS_BULK_MAX_ROWS = 100
    error, _ = rejection(write_csv(tmp_path / "s.csv", [prediction_row()]), "analyst", "--batch-size", "101")
    assert "--batch-size must be between 1 and 100" in error


def test_a_superuser_imports_for_every_contract(tmp_path, member, other_member):
    UserFactory(username="root", is_superuser=True)
    out, _ = run(write_csv(tmp_path / "s.csv", [prediction_row(), prediction_row(OTHER_RAW_ID)]), "root")
    assert "2 predictions created" in out


def test_writes_busy_past_their_retries_end_the_command_with_the_message_not_a_traceback(
    tmp_path, analyst, member, monkeypatch
):
    from hedis_portal.errors import DATABASE_BUSY, DatabaseBusy

    def busy(**kwargs):
        raise DatabaseBusy()

    monkeypatch.setattr("predictions.management.commands.import_predictions.predictions_import_file", busy)
    error, _ = rejection(write_jsonl(tmp_path / "p.jsonl", [prediction_row()]))
    assert error == DATABASE_BUSY

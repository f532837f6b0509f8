"""`predictions_import_file`: the predictions file import the command calls, from a path or from bytes."""

import hashlib
import json

import pytest
from auditlog.models import LogEntry

from hedis_portal import import_errors as problems
from hedis_portal.import_errors import ImportRejected
from predictions import importing
from predictions.importing import predictions_import_file
from predictions.models import Prediction
from tests.predictions.conftest import prediction_row, raw_member_ids

pytestmark = pytest.mark.django_db

HEADER = "member_id,measure,measurement_year,model_version,probability,risk_tier,predicted_at\n"


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _rejection(content: bytes, file_format: str, user) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        predictions_import_file(content=content, file_format=file_format, user=user, channel="test")
    return caught.value


def test_bytes_import_like_a_file_and_the_audit_keeps_their_hash(analyst, member):
    content = _jsonl([prediction_row(), prediction_row(measure="COL")])
    result = predictions_import_file(content=content, file_format="jsonl", user=analyst, channel="test")
    assert (result.received, result.created, result.updated) == (2, 2, 0)
    assert Prediction.objects.count() == 2
    batch = LogEntry.objects.get(object_pk="batch").additional_data["batch"]
    assert (batch["channel"], batch["file"]) == (
        "test",
        {"sha256": hashlib.sha256(content).hexdigest(), "size_bytes": len(content), "rows": 2},
    )


def test_progress_reports_validation_then_the_import_batch_by_batch(analyst, contract):
    content = _jsonl([prediction_row(raw) for raw in raw_member_ids(contract, 3)])
    calls = []
    predictions_import_file(
        content=content,
        file_format="jsonl",
        user=analyst,
        channel="test",
        batch_size=2,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert calls == [
        ("validating", 2, None),
        ("validating", 3, None),
        ("importing", 2, 3),
        ("importing", 3, 3),
    ]


def test_a_file_that_is_not_utf8_is_refused_as_a_whole(analyst):
    refusal = _rejection(HEADER.encode() + b"RAW-\xff,BCS\n", "csv", analyst)
    assert refusal.message == "The file is not UTF-8 text."
    assert refusal.errors == [{"line": 0, "field": "file", "message": "not UTF-8 text"}]


def test_a_file_not_readable_as_csv_is_refused_as_a_whole(analyst):
    refusal = _rejection(HEADER.encode() + b"x" * 200_000 + b",BCS\n", "csv", analyst)
    assert refusal.errors == [{"line": 0, "field": "file", "message": problems.MALFORMED_CSV}]


def test_a_wrong_header_is_refused_with_line_one_errors(analyst):
    refusal = _rejection(b"member,measure\nRAW-OWN-0001,BCS\n", "csv", analyst)
    assert [(e["line"], e["field"]) for e in refusal.errors] == [(1, "header"), (1, "header")]
    assert refusal.errors[0]["message"].startswith("1 unknown column at position 1 (did you mean member_id?)")
    assert refusal.errors[1]["message"].startswith("missing column(s): member_id, measurement_year")


def test_a_file_that_changes_between_validation_and_import_writes_nothing(monkeypatch, analyst, member):
    reads = []
    read_rows = importing._read_rows

    def second_read_differs(content, file_format):
        reads.append(file_format)
        if len(reads) == 2:
            content = _jsonl([prediction_row(probability=7)])
        return read_rows(content, file_format)

    monkeypatch.setattr(importing, "_read_rows", second_read_differs)
    refusal = _rejection(_jsonl([prediction_row()]), "jsonl", analyst)
    assert refusal.message == "The file changed while it was being imported; nothing was imported."
    assert refusal.errors == [{"line": 0, "field": "file", "message": "changed while it was being imported"}]
    assert not Prediction.objects.exists()

"""Prediction writes at the same time as others: no deadlock escapes as an outage, and every gap ends
at its latest prediction.

The load test of issue #14: clients posting batches for the same gaps at once, each under its own
model version, deadlocked in the gaps' repoint and were answered 503 "The database is
unavailable", and the gaps could end at an older prediction. The races need PostgreSQL's row
locks (SQLite's write transactions hold the whole database); how a lost race is answered is
tested on both.
"""

import json
import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import psycopg
import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from gaps.models import CareGap
from hedis_portal import db_retry
from hedis_portal.errors import DATABASE_BUSY
from hedis_portal.models import ApiRequestLog
from predictions.importing import predictions_import_checked, predictions_upload_check
from predictions.models import Prediction
from predictions.services import BulkUpsertResult, predictions_bulk_upsert
from tests.conftest import token_client
from tests.factories import CareGapFactory, MemberFactory, measure
from tests.predictions.conftest import prediction_row, raw_member_ids

pytestmark = pytest.mark.django_db(transaction=True)

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")

BULK = "/api/predictions/bulk/"
CLIENTS = 4
ROUNDS = 5
GAPS = 3000
# Long enough for PostgreSQL to find a deadlock (deadlock_timeout, 1 s) and for the retries.
WAIT_SECONDS = 60


def _in_threads(calls: dict) -> dict:
    """Run each of `calls` (name → function) in its own thread and connection; name → result or error."""
    outcomes: dict = {}

    def run(name, call) -> None:
        try:
            outcomes[name] = call()
        except Exception as exc:  # recorded, so the assertion names it
            outcomes[name] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), f"a writer hung: {outcomes}"
    return outcomes


def _wait_until_a_writer_waits_for_a_lock() -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    with connection.cursor() as cursor:
        while True:
            # Inside a transaction, PostgreSQL would answer from the snapshot of its first read.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            assert time.monotonic() < deadline, "no writer ever waited for a lock"
            time.sleep(0.01)


@on_postgresql
def test_clients_uploading_for_the_same_gaps_at_once_all_succeed_and_gaps_point_at_the_latest(
    contract, analyst, caplog
):
    raw_ids = raw_member_ids(contract, GAPS)
    CareGap.objects.bulk_create(
        CareGap(member=member, contract=contract, measure=measure("BCS"), measurement_year=2026)
        for member in contract.members.all()
    )
    with connection.cursor() as cursor:
        # As autovacuum would: with statistics, the planner joins the batch to the gaps by scanning
        # the gaps in their order on disk, which every round of updates changes.
        cursor.execute("ANALYZE gaps_caregap")
    # Even rounds start together; an odd round starts as soon as the client's previous one ends,
    # while others may still be writing theirs (the overlap that deadlocked).
    even_rounds_together = threading.Barrier(CLIENTS, timeout=WAIT_SECONDS)

    def batch(client: int, round_number: int) -> list[dict]:
        # A different client has the newest predictions each round; half send their rows backwards.
        predicted_at = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(
            days=round_number, hours=(client + round_number) % CLIENTS
        )
        return [
            prediction_row(raw, model_version=f"model-{client}", predicted_at=predicted_at.isoformat())
            for raw in (raw_ids if client % 2 else reversed(raw_ids))
        ]

    def upload_every_round(client: int) -> list[int]:
        api = token_client(analyst)
        api.raise_request_exception = False  # answered as a server answers: the status is the finding
        statuses = []
        for round_number in range(ROUNDS):
            if round_number % 2 == 0:
                even_rounds_together.wait()
            response = api.post(BULK, {"predictions": batch(client, round_number)}, format="json")
            statuses.append(response.status_code)
        return statuses

    with caplog.at_level(logging.WARNING, logger="hedis_portal.db_retry"):
        outcomes = _in_threads({client: partial(upload_every_round, client) for client in range(CLIENTS)})

    assert outcomes == {client: [200] * ROUNDS for client in range(CLIENTS)}
    # Not one deadlock to retry: the batches wait for each other's locks, taken in one order.
    assert "SQLSTATE" not in caplog.text
    newest = max(range(CLIENTS), key=lambda client: (client + ROUNDS - 1) % CLIENTS)
    pointed_at = CareGap.objects.filter(contract=contract).values_list(
        "current_prediction__model_version", flat=True
    )
    assert set(pointed_at) == {f"model-{newest}"}
    assert Prediction.objects.count() == GAPS * CLIENTS
    assert not ApiRequestLog.objects.exclude(status=200).exists()


def _upsert(analyst, rows: list[dict]) -> BulkUpsertResult:
    """The API's write: its own transaction."""
    return predictions_bulk_upsert(user=analyst, rows=rows, source="test")


def _import_checked(analyst, rows: list[dict]) -> BulkUpsertResult:
    """The upload job's write: batches inside the job's transaction."""
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    checked = predictions_upload_check(content=content, file_format="jsonl", user=analyst)
    return predictions_import_checked(
        content=checked.content, sha256=checked.sha256, size_bytes=checked.size_bytes
    )


@on_postgresql
@pytest.mark.parametrize("write", [_upsert, _import_checked], ids=["bulk-api", "import-job"])
def test_a_write_ended_by_a_deadlock_is_run_again_and_succeeds(contract, analyst, caplog, write):
    raw_ids = ["RACE-1", "RACE-2"]
    gaps = [
        CareGapFactory(member=MemberFactory(contract=contract, raw_member_id=raw), measurement_year=2026)
        for raw in raw_ids
    ]
    first, second = sorted(gap.pk for gap in gaps)
    holds_second = threading.Event()

    def other_writer_in_the_other_order() -> None:
        """Another writer of the gaps (a care manager's bulk move) that locks them in the other order."""
        with transaction.atomic():
            CareGap.objects.select_for_update().get(pk=second)
            holds_second.set()
            _wait_until_a_writer_waits_for_a_lock()
            # The writer that has waited deadlock_timeout first is the one PostgreSQL ends: the upload.
            time.sleep(0.2)
            CareGap.objects.select_for_update().get(pk=first)

    def upload() -> BulkUpsertResult:
        assert holds_second.wait(WAIT_SECONDS)
        return write(analyst, [prediction_row(raw) for raw in raw_ids])

    with caplog.at_level(logging.WARNING, logger="hedis_portal.db_retry"):
        outcomes = _in_threads({"other": other_writer_in_the_other_order, "upload": upload})

    assert outcomes == {"other": None, "upload": BulkUpsertResult(received=2, created=2, updated=0)}
    assert "SQLSTATE 40P01), attempt 1 of 3" in caplog.text
    assert CareGap.objects.filter(current_prediction__isnull=False).count() == 2


def _lost_lock_race(*args, **kwargs):
    """Fail as Django does when PostgreSQL ends the transaction in a deadlock."""
    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    raise error


def test_a_write_that_loses_every_attempt_is_a_409_to_send_again_not_an_outage(
    api, analyst, member, monkeypatch
):
    attempts = []
    monkeypatch.setattr(db_retry, "BACKOFF_SECONDS", 0)
    monkeypatch.setattr(
        "predictions.services.log_batch", lambda **kwargs: attempts.append(1) or _lost_lock_race()
    )
    client = api(analyst)
    client.raise_request_exception = False

    response = client.post(BULK, {"predictions": [prediction_row()]}, format="json")

    assert response.status_code == 409
    assert response.json() == {"message": DATABASE_BUSY, "extra": {}}
    assert response["Retry-After"] == "1"
    assert len(attempts) == db_retry.ATTEMPTS
    assert not Prediction.objects.exists()
    assert list(ApiRequestLog.objects.values_list("status", "error_class")) == [(409, "DatabaseBusy")]


def _sqlite_busy(*args, **kwargs):
    """Fail as Django does when SQLite's file stays locked past the busy timeout."""
    cause = sqlite3.OperationalError("database is locked")
    cause.sqlite_errorcode = sqlite3.SQLITE_BUSY
    error = OperationalError("database is locked")
    error.__cause__ = cause
    raise error


@pytest.mark.parametrize("failure", [_lost_lock_race, _sqlite_busy], ids=["deadlock", "sqlite-busy"])
def test_contention_outside_the_retried_writes_is_answered_busy_too(client, api, administrator, failure):
    # The way tests/hedis_portal/test_health.py takes the database down, but busy rather than down.
    api_client = api(administrator)
    client.force_login(administrator)
    api_client.raise_request_exception = client.raise_request_exception = False
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseWrapper, "cursor", failure)
        through_the_api = api_client.get("/api/members/")
        through_the_admin = client.get("/admin/members/member/")

    assert (through_the_api.status_code, through_the_api.json()) == (
        409,
        {"message": DATABASE_BUSY, "extra": {}},
    )
    assert (through_the_admin.status_code, through_the_admin.content.decode()) == (409, DATABASE_BUSY)
    assert through_the_api["Retry-After"] == through_the_admin["Retry-After"] == "1"

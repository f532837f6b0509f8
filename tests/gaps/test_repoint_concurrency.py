"""Two transactions repointing the same gaps at once: each gap ends at the data's latest prediction
(highest `predicted_at`, then highest id), whichever of them commits last.

The second transaction adds its prediction and then waits for the first's locks on the gaps; the
first commits; the second goes on. Before the gaps were locked first, the second's UPDATE kept the
snapshot it started with, in which the first's prediction did not exist, and pointed every gap at
its own, older one. PostgreSQL only: SQLite's write transactions hold the whole database.
"""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction

from gaps.models import CareGap
from gaps.services import gaps_point_at_latest_predictions_from_table
from predictions.models import Prediction
from tests.factories import MemberFactory, measure

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's"),
]

GAPS = 20
OLDER = datetime(2026, 3, 1, tzinfo=UTC)
NEWER = datetime(2026, 4, 1, tzinfo=UTC)
WAIT_SECONDS = 10


def _add_predictions_and_repoint(contract, model_version: str, predicted_at: datetime) -> int:
    """As a prediction batch does: a prediction for each of the contract's gaps, then the repoint."""
    Prediction.objects.bulk_create(
        Prediction(
            member_id=gap.member_id,
            contract=contract,
            measure_id=gap.measure_id,
            measurement_year=gap.measurement_year,
            model_version=model_version,
            probability=0.5,
            risk_tier="medium",
            predicted_at=predicted_at,
        )
        for gap in CareGap.objects.filter(contract=contract)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE batch_keys ON COMMIT DROP AS "
            "SELECT member_id, measure_id, measurement_year FROM gaps_caregap WHERE contract_id = %s",
            [contract.pk],
        )
        return gaps_point_at_latest_predictions_from_table(cursor=cursor, keys_table="batch_keys")


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize(
    ("first", "second"),
    [("newer", "older"), ("older", "newer")],
    ids=["newer-commits-first", "older-commits-first"],
)
def test_gaps_end_at_the_latest_prediction_whichever_transaction_commits_last(contract, first, second):
    for _ in range(GAPS):
        CareGap.objects.create(
            member=MemberFactory(contract=contract),
            contract=contract,
            measure=measure("BCS"),
            measurement_year=2026,
        )
    times = {"older": OLDER, "newer": NEWER}
    repointed: dict[str, object] = {}
    first_repointed, commit_first = threading.Event(), threading.Event()

    def batch(name: str) -> None:
        try:
            with transaction.atomic():
                repointed[name] = _add_predictions_and_repoint(contract, name, times[name])
                if name == first:
                    first_repointed.set()
                    assert commit_first.wait(WAIT_SECONDS), "never told to commit"
        except Exception as exc:  # recorded, so the assertion below names it
            repointed[name] = exc
        finally:
            connections.close_all()

    first_thread = threading.Thread(target=batch, args=(first,))
    second_thread = threading.Thread(target=batch, args=(second,))
    first_thread.start()
    assert first_repointed.wait(WAIT_SECONDS), repointed
    second_thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not _waiting_for_a_lock():
        assert time.monotonic() < deadline, "the second transaction never waited for the first"
        assert second_thread.is_alive(), repointed
        time.sleep(0.01)
    commit_first.set()
    for thread in (first_thread, second_thread):
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "a transaction hung"

    # The first pointed every gap at its own prediction; the second moved them on only if its was newer.
    assert repointed == {first: GAPS, second: GAPS if second == "newer" else 0}
    pointed_at = CareGap.objects.filter(contract=contract).values_list(
        "current_prediction__model_version", flat=True
    )
    assert list(pointed_at) == ["newer"] * GAPS

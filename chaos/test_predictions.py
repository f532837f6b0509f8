"""Scenarios 2 and 3: prediction batches for the same gaps at the same time.

2. Four model versions upload batches for the same gaps concurrently, round after round: never a
   503 or a 500 (a 409 "busy" with Retry-After is allowed once retries are spent), every
   acknowledged batch stored as sent, and every gap pointing at its data-latest prediction —
   highest `predicted_at`, then highest id (`predictions/services.py`, `gaps/services.py`).
3. The pointer race: a batch with newer prediction times and one with older times for the same
   gaps, sent 0.1 s apart in both orders; the gaps end at the newer batch whichever commits last.
"""

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from chaos.data import YEAR
from chaos.http import Client, Recorder, figures, run_together, slowest, statuses

BULK = "/api/predictions/bulk/"
RETRIES = 4
CLIENTS = 4
ROUNDS = 6
UPLOAD_GAPS = 1000
RACE_GAPS = 2500
RACE_DELAY = 0.1
# The gap's data-latest prediction across model versions, as the portal defines it, and its tier.
NOT_AT_LATEST = """
SELECT count(*) FROM gaps_caregap gap
CROSS JOIN LATERAL (
    SELECT prediction.id, prediction.risk_tier FROM predictions_prediction prediction
    WHERE prediction.member_id = gap.member_id AND prediction.measure_id = gap.measure_id
      AND prediction.measurement_year = gap.measurement_year
    ORDER BY prediction.predicted_at DESC, prediction.id DESC LIMIT 1
) latest
WHERE gap.id = ANY(%s)
  AND (gap.current_prediction_id, gap.risk_tier) IS DISTINCT FROM (latest.id, latest.risk_tier)
"""


def _row(gap: dict, model_version: str, probability: float, predicted_at: datetime) -> dict:
    return {
        "member_id": gap["raw_member_id"],
        "measure": gap["measure"],
        "measurement_year": YEAR,
        "model_version": model_version,
        "probability": probability,
        "risk_tier": "high" if probability >= 0.6 else "medium" if probability >= 0.3 else "low",
        "top_features": [],
        "predicted_at": predicted_at.isoformat(),
    }


def _upload(client: Client, rows: list[dict], label: str):
    """Post a batch, sending it again after each 409 "busy" (as its Retry-After asks); the last answer."""
    for _ in range(RETRIES):
        answer = client.post(BULK, json={"predictions": rows}, label=label)
        if not answer.is_busy:
            return answer
        time.sleep(min(int(answer.retry_after), 2))
    return answer


def _predictions(database, model_versions: list[str]) -> int:
    return database.value(
        "SELECT count(*) FROM predictions_prediction WHERE model_version = ANY(%s)", model_versions
    )


@pytest.mark.budget(120)
def test_concurrent_uploads_of_distinct_model_versions_leave_each_gap_at_its_data_latest_prediction(
    stack, database, tokens
):
    gaps = database.claim_gaps(UPLOAD_GAPS, contract="H9001")
    gap_ids = [gap["id"] for gap in gaps]
    versions = [f"chaos-upload-{client}" for client in range(CLIENTS)]
    draw = random.Random(14)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Times drawn from a few hours, to the minute: batches of different models often tie on a gap's
    # time, and a later round may move a model's time backwards (then another row is the latest).
    batches = [
        [
            [
                _row(gap, version, round(draw.random(), 3), start + timedelta(minutes=draw.randrange(240)))
                for gap in gaps
            ]
            for _ in range(ROUNDS)
        ]
        for version in versions
    ]
    recorder = Recorder()
    acknowledged: dict[str, list[dict]] = {}
    created = []
    before = _predictions(database, versions)
    total_before = database.value("SELECT count(*) FROM predictions_prediction")

    def client_rounds(client: int) -> None:
        api = Client(stack.base_url, tokens["quality.analyst"], recorder, timeout=30)
        for rows in batches[client]:
            answer = _upload(api, rows, label=versions[client])
            if answer.status == 200:
                acknowledged[versions[client]] = rows
                created.append(answer.body["created"])

    started = time.monotonic()
    run_together([lambda c=client: client_rounds(c) for client in range(CLIENTS)], timeout=100)
    elapsed = time.monotonic() - started

    answers = recorder.select()
    stored = {
        (member, code, version): (probability, predicted_at)
        for member, code, version, probability, predicted_at in database.rows(
            "SELECT prediction.member_id, measure.code, prediction.model_version, prediction.probability,"
            " prediction.predicted_at FROM predictions_prediction prediction"
            " JOIN ratings_measure measure ON measure.id = prediction.measure_id"
            " WHERE prediction.model_version = ANY(%s)",
            versions,
        )
    }
    member_of = {gap["raw_member_id"]: gap["member"] for gap in gaps}
    expected = {
        (member_of[row["member_id"]], row["measure"], version): (
            row["probability"],
            datetime.fromisoformat(row["predicted_at"]),
        )
        for version, rows in acknowledged.items()
        for row in rows
    }
    off_latest = database.value(NOT_AT_LATEST, gap_ids)
    after = _predictions(database, versions)
    total_after = database.value("SELECT count(*) FROM predictions_prediction")
    figures(
        "2. prediction uploads with distinct model versions",
        {
            "clients x rounds x rows": f"{CLIENTS} x {ROUNDS} x {UPLOAD_GAPS}",
            "requests": len(answers),
            "statuses": statuses(answers),
            "busy answers retried": sum(answer.is_busy for answer in answers),
            "answer times": slowest(answers),
            "predictions of these models before/after": f"{before} / {after}",
            "predictions created (answers / rows added)": f"{sum(created)} / {after - before}",
            "all predictions before/after": f"{total_before} / {total_after}",
            "gaps not at their data-latest prediction": f"{off_latest} of {len(gap_ids)}",
            "elapsed": f"{elapsed:.1f} s",
        },
    )
    assert all(answer.status == 200 or answer.is_busy for answer in answers), statuses(answers)
    assert sorted(acknowledged) == versions, "a model's every round was refused as busy"
    assert after - before == sum(created) == CLIENTS * UPLOAD_GAPS
    # Each model's last acknowledged batch is what is stored: no acknowledged write was lost.
    assert stored == expected
    assert off_latest == 0


@pytest.mark.budget(90)
@pytest.mark.parametrize("first", ["newer", "older"])
def test_the_pointer_race_ends_at_the_newer_batch_whichever_is_sent_first(stack, database, tokens, first):
    gaps = database.claim_gaps(RACE_GAPS, contract="H9002")
    gap_ids = [gap["id"] for gap in gaps]
    # Later than every other prediction of these gaps (the demo's are from today).
    newer_at = datetime.now(UTC) + timedelta(days=30)
    batches = {
        "newer": [_row(gap, f"chaos-race-{first}-first-B", 0.7, newer_at) for gap in gaps],
        "older": [
            _row(gap, f"chaos-race-{first}-first-A", 0.2, newer_at - timedelta(hours=1)) for gap in gaps
        ],
    }
    order = [first, "older" if first == "newer" else "newer"]
    recorder = Recorder()
    spans: dict[str, tuple[float, float]] = {}
    ready = threading.Barrier(2)

    def send(which: str, delay: float):
        api = Client(stack.base_url, tokens["quality.analyst"], recorder, timeout=60)
        ready.wait()
        time.sleep(delay)
        answer = _upload(api, batches[which], label=which)
        spans[which] = (answer.started, answer.started + answer.elapsed)
        return answer

    last = run_together([lambda: send(order[0], 0.0), lambda: send(order[1], RACE_DELAY)], timeout=80)
    answers = recorder.select()
    pointed = dict(
        database.rows(
            "SELECT prediction.model_version, count(*) FROM gaps_caregap gap"
            " JOIN predictions_prediction prediction ON prediction.id = gap.current_prediction_id"
            " AND prediction.risk_tier = gap.risk_tier"
            " WHERE gap.id = ANY(%s) GROUP BY prediction.model_version",
            gap_ids,
        )
    )
    (first_start, first_end), (second_start, _) = spans[order[0]], spans[order[1]]
    figures(
        f"3. pointer race, {first} batch sent first",
        {
            "rows per batch": RACE_GAPS,
            "requests": len(answers),
            "statuses": statuses(answers),
            "answer times": slowest(answers),
            "second sent after first": f"{second_start - first_start:.3f} s",
            "overlap": f"{max(first_end - second_start, 0):.3f} s",
            "gaps by the model they point at": pointed,
        },
    )
    assert [answer.status for answer in last] == [200, 200], statuses(answers)
    assert all(answer.status == 200 or answer.is_busy for answer in answers), statuses(answers)
    assert pointed == {f"chaos-race-{first}-first-B": RACE_GAPS}

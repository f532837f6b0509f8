"""Scenarios 5 and 6: the database stops, or freezes, while readers and writers use the portal.

5. Stopped (fast shutdown) for a few seconds, then started again on the same port.
6. Frozen: every process of the private cluster SIGSTOPped for 20 s, then SIGCONTinued.

Through either, every API request answers within its bound with success or 503 in the error shape
with Retry-After (never a 500, never a hang), `/health/ready` too (bounds below); once the
database answers again, service recovers within `RECOVERY_SECONDS` without restarting gunicorn,
and a job started then runs to its end (the job worker lived through it too); and every write
acknowledged (a remark's 201, an assignment's 200) is stored.
"""

import time

import pytest

from chaos.data import Database
from chaos.http import (
    NO_CONNECTION,
    TIMED_OUT,
    Answer,
    Client,
    Recorder,
    figures,
    follow_job,
    slowest,
    statuses,
)
from chaos.traffic import API_LABELS, GAPS_PER_WRITER, WRITERS, Traffic

WARM_UP = 3.0
AFTER = 10.0
STOPPED_FOR = 6.0
FROZEN_FOR = 20.0
RECOVERY_SECONDS = 5.0
# The portal's bound on a web request's wait for a database that does not answer is
# DB_STATEMENT_TIMEOUT + DB_WAIT_GRACE (5 + 1 s, the defaults the stack runs with). A request
# either waits that long itself or queues behind requests that do, not both: once one wait has
# ended, the process's other waits end within 0.1 s and it answers 503 at once for
# DB_NO_ANSWER_BACKOFF. So every answer, the readiness probe's included, comes within 6 s and a
# margin for this loaded 2-core machine.
API_BOUND = 8.0
READY_BOUND = 8.0
SUCCESS = (200, 201)
# A small job on a contract the traffic does not touch.
FORECAST = {"contract": "H9002", "measurement_year": 2026, "draws": 500}


def _remarks_stored(database: Database, notes: list[str]) -> dict[str, int]:
    return dict(
        database.rows("SELECT note, count(*) FROM gaps_gapremark WHERE note = ANY(%s) GROUP BY note", notes)
    )


def _last_assignments_kept(database: Database, assigned: list[tuple]) -> bool:
    """Whether each gap holds the version and assignee of its last acknowledged assignment, or a later
    version (an assignment that committed but whose answer was lost, a 503)."""
    last = {gap_id: (version, assignee) for gap_id, version, assignee in assigned}
    stored = {
        gap_id: (version, assignee)
        for gap_id, version, assignee in database.rows(
            "SELECT id, version, assignee_id FROM gaps_caregap WHERE id = ANY(%s)", list(last)
        )
    }
    return all(
        stored[gap_id][0] > version or stored[gap_id] == (version, assignee)
        for gap_id, (version, assignee) in last.items()
    )


def _first_success_after(answers: list[Answer], moment: float) -> float | None:
    """Seconds from `moment` until the first success answered to a request sent after it."""
    ends = [a.started + a.elapsed for a in answers if a.started >= moment and a.status in SUCCESS]
    return min(ends) - moment if ends else None


def _through_a_fault(stack, database, tokens, *, name: str, fault, restore, hold: float):
    """Run the traffic, put the fault on for `hold` seconds, restore; the figures, then the checks."""
    gaps = database.claim_gaps(WRITERS * GAPS_PER_WRITER, contract="H9001")
    remarks_before = database.value("SELECT count(*) FROM gaps_gapremark")
    web_before = stack.web_pids()
    traffic = Traffic(
        stack,
        tokens,
        gaps,
        database.user_ids()["care.manager"],
        timeout=API_BOUND + 2,
        ready_timeout=READY_BOUND + 1,
    )
    traffic.start()
    try:
        time.sleep(WARM_UP)
        fault_start = time.monotonic()
        fault()
        time.sleep(max(hold - (time.monotonic() - fault_start), 0))
    finally:
        restore()
        fault_end = time.monotonic()
        time.sleep(AFTER)
        traffic.stop()
    web_after = stack.web_pids()
    jobs = Client(stack.base_url, tokens["quality.analyst"], Recorder(), timeout=30)
    job = jobs.post("/api/forecasts/", json=FORECAST, label="job")
    job_seen = follow_job(jobs, job.body["id"], timeout=30) if job.status == 202 else []

    api = traffic.answers(labels=API_LABELS)
    ready = traffic.answers(labels=["ready"])
    overlapping = [a for a in api + ready if a.started < fault_end and a.started + a.elapsed > fault_start]
    during_api = [a for a in overlapping if a.label in API_LABELS]
    during_ready = [a for a in overlapping if a.label == "ready"]
    over_bound = {
        f"{a.label} {a.started - fault_start:+.1f}": f"{a.elapsed:.2f}"
        for a in api + ready
        if a.elapsed > (READY_BOUND if a.label == "ready" else API_BOUND)
    }
    settled = [a for a in api + ready if a.started >= fault_end + RECOVERY_SECONDS]
    recovery = {
        label: _first_success_after(traffic.answers(labels=[label]), fault_end)
        for label in [*API_LABELS, "ready"]
    }
    stored = _remarks_stored(database, traffic.remarks)
    remarks_after = database.value("SELECT count(*) FROM gaps_gapremark")
    versions = database.audited_versions([gap["id"] for gap in gaps])
    audited = sum(versions[gap_id, version] == 1 for gap_id, version, _ in traffic.assigned)
    kept = _last_assignments_kept(database, traffic.assigned)
    figures(
        name,
        {
            "requests": len(api) + len(ready),
            "statuses (API)": statuses(api),
            "statuses (ready)": statuses(ready),
            "during the fault (API)": f"{statuses(during_api)}; {slowest(during_api)}",
            "during the fault (ready)": f"{statuses(during_ready)}; {slowest(during_ready)}",
            "503s in the error shape with Retry-After": (
                f"{sum(a.is_outage for a in during_api)} of {sum(a.status == 503 for a in during_api)}"
            ),
            "fault held": f"{fault_end - fault_start:.1f} s",
            "over their bound (sent at s from the fault's start: took s)": over_bound,
            "first success after the database returned": {
                label: "none" if seconds is None else f"{seconds:.2f} s"
                for label, seconds in recovery.items()
            },
            "after recovery": statuses(settled),
            "gunicorn PIDs before/after": f"{sorted(web_before)} / {sorted(web_after)}",
            "a job started after recovery": f"{job.status} {job_seen}",
            "remarks acknowledged / found": f"{len(traffic.remarks)} / {sum(stored.values())}",
            "remark rows before/after": f"{remarks_before} / {remarks_after}",
            "assignments acknowledged / audited once": f"{len(traffic.assigned)} / {audited}",
            "each gap's last acknowledged assignment kept": kept,
        },
    )

    everything = api + ready
    assert not [a for a in everything if a.status == 500], "500s: " + statuses(everything)
    hung = [a for a in everything if a.status in (TIMED_OUT, NO_CONNECTION)]
    assert not hung, f"{len(hung)} requests had no answer: {statuses(hung)}"
    assert any(a.status == 503 for a in during_api), "the fault was not seen: no 503 while it lasted"
    for answer in during_api:
        assert answer.status in (*SUCCESS, 409) or answer.is_outage, answer
    assert not over_bound, f"over their bound ({API_BOUND:g} s API, {READY_BOUND:g} s ready): {over_bound}"
    assert all(seconds is not None and seconds <= RECOVERY_SECONDS for seconds in recovery.values()), recovery
    assert all(answer.status in (*SUCCESS, 409) for answer in settled), statuses(settled)
    assert web_after == web_before, "gunicorn was restarted"
    assert job_seen and job_seen[-1] == ("succeeded", "done"), f"job after the fault: {job.status} {job_seen}"
    # No lost write: every acknowledged remark stored once, every acknowledged assignment audited once.
    assert stored == dict.fromkeys(traffic.remarks, 1)
    assert audited == len(traffic.assigned) and kept


@pytest.mark.budget(90)
def test_a_stopped_database_is_a_503_with_retry_after_and_service_recovers_when_it_returns(
    stack, database, tokens, cluster
):
    _through_a_fault(
        stack,
        database,
        tokens,
        name="5. database stop/start with readers and writers",
        fault=cluster.stop,
        restore=cluster.start,
        hold=STOPPED_FOR,
    )


@pytest.mark.budget(120)
def test_a_frozen_database_is_a_503_on_time_and_service_recovers_when_it_thaws(
    stack, database, tokens, cluster
):
    _through_a_fault(
        stack,
        database,
        tokens,
        name="6. database frozen (SIGSTOP) with readers and writers",
        fault=cluster.freeze,
        restore=cluster.thaw,
        hold=FROZEN_FOR,
    )

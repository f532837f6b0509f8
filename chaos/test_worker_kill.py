"""Scenario 9: kill -9 of the job worker in the middle of an optimizer run.

The run is not an import, so it is not run again: its lease fails it (read through the API, which
reaps), nothing of it is stored (no run, the worklist's priorities as they were), its contract's
planning lane is free again, and the worker scripts/serve starts in its place runs the next job.
"""

import random
import signal
import time

import pytest

from chaos.http import Client, Recorder, figures, follow_job, statuses

CONTRACT = "H9002"
# Seconds of work on the demo plan, long enough to be killed at a progress point of its own.
OPTIMIZE = {"contract": CONTRACT, "measurement_year": 2026, "budget": "250000", "draws": 200_000}
FORECAST = {"contract": CONTRACT, "measurement_year": 2026, "draws": 1000}
RUNS = (
    "SELECT count(*) FROM ratings_portfoliorun run JOIN members_contract contract"
    " ON contract.id = run.contract_id WHERE contract.contract_id = %s"
)
# The worklist's priorities of the contract, as one digest: an optimizer run rewrites them all.
PRIORITIES = (
    "SELECT md5(string_agg(gap.id || ':' || coalesce(gap.priority_score::text, '-'), ',' ORDER BY gap.id))"
    " FROM gaps_caregap gap JOIN members_contract contract ON contract.id = gap.contract_id"
    " WHERE contract.contract_id = %s"
)


@pytest.mark.budget(120)
def test_a_job_whose_worker_is_killed_fails_by_its_lease_and_a_new_worker_runs_the_next(
    stack, database, tokens
):
    recorder = Recorder()
    client = Client(stack.base_url, tokens["quality.analyst"], recorder, timeout=30)
    runs_before = database.value(RUNS, CONTRACT)
    priorities_before = database.value(PRIORITIES, CONTRACT)

    accepted = client.post("/api/optimizer/runs/", json=OPTIMIZE, label="optimize")
    assert accepted.status == 202, accepted
    job_id = accepted.body["id"]
    seen = database.watch_job(job_id, lambda job: job["progress"] > 0, timeout=60)
    time.sleep(random.uniform(0.2, 1.0))
    killed_at = database.job(job_id)
    killed_when = time.monotonic()
    killed = stack.signal_workers(signal.SIGKILL)
    replaced_in = stack.replaced_worker(killed, 30)
    states = follow_job(client, job_id, timeout=30)
    failed_in = time.monotonic() - killed_when
    failed = database.job(job_id)
    runs_after_kill = database.value(RUNS, CONTRACT)
    priorities_after_kill = database.value(PRIORITIES, CONTRACT)

    later = client.post("/api/forecasts/", json=FORECAST, label="forecast")
    later_seen = database.watch_job_to_end(later.body["id"], timeout=60) if later.status == 202 else []
    job_files = database.value("SELECT count(*) FROM hedis_portal_jobfile WHERE job_id = %s", job_id)
    tasks_left_running = database.value(
        "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'RUNNING'"
    )
    answers = recorder.select()
    figures(
        "9. kill -9 of the worker mid-job (optimizer run)",
        {
            "requests": len(answers),
            "statuses": statuses(answers),
            "stages before the kill": seen,
            "killed at": f"{killed_at['stage']!r}, progress {killed_at['progress']:.2f}",
            "worker PIDs killed": killed,
            "job worker replaced by scripts/serve after": f"{replaced_in:.1f} s",
            "job after the kill": f"{states} in {failed_in:.1f} s",
            "error": failed["error"],
            "runs of the contract before / after kill / after next job": (
                f"{runs_before} / {runs_after_kill} / {database.value(RUNS, CONTRACT)}"
            ),
            "priorities unchanged by the killed run": priorities_after_kill == priorities_before,
            "next job (forecast) on a new worker": f"{later.status} {later_seen}",
            "job files left": job_files,
            "task-backend rows left RUNNING": tasks_left_running,
        },
    )
    assert killed, "no worker was running"
    assert (failed["status"], failed["attempts"]) == ("failed", 1), states
    assert failed["error"]["message"].startswith("The worker running this job stopped"), failed["error"]
    assert failed["finished_at"] is not None
    assert runs_after_kill == runs_before and priorities_after_kill == priorities_before
    assert later.status == 202, later
    assert later_seen[-1] == ("succeeded", "done"), later_seen
    assert database.value(RUNS, CONTRACT) == runs_before + 1
    assert job_files == 0

"""The job figures: how fast a request that starts long work answers, and how soon an idle database
worker picks the job up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from hedis_portal.jobs import job_cancel
from hedis_portal.models import Job
from synthetic.bench.figures import Bench, BenchError
from synthetic.bench.timing import Figure, Samples, measure_pair

ROOT = Path(__file__).resolve().parents[2]
# The smallest forecast the API takes: the figures time starting and picking up, not the work.
FORECAST = {"measurement_year": None, "draws": 100, "seed": 0}
POLL_SECONDS = 0.01
PICKUP_TIMEOUT = 60.0
# The worker's wait between polls of an empty queue, as `make run` starts it (WORKER_POLL_SECONDS).
INTERVAL = 0.5


def _body(bench: Bench) -> bytes:
    return json.dumps(
        {
            **FORECAST,
            "contract": bench.plan.contract.contract_id,
            "measurement_year": bench.plan.measurement_year,
        }
    ).encode()


def job_figures(bench: Bench) -> list[Figure]:
    """The 202 of `POST /api/forecasts/` beside a read of the job it made; then the pickup delay."""
    return [_accepted(bench), _pickup(bench)]


def _accepted(bench: Bench) -> Figure:
    scale, body = bench.scale, _body(bench)
    started: list[str] = []

    def post(run: int) -> None:
        response = bench.request("analyst", "POST", "/api/forecasts/", body=body, expect=202)
        started.append(response.json()["id"])

    def cancel(run: int) -> None:
        # No worker runs here: cancel the queued job, untimed, so the next POST finds the
        # contract's planning lane free (with the immediate backend it has already run).
        job = Job.objects.get(pk=started[-1])
        if job.status in Job.ACTIVE:
            job_cancel(job=job)

    def read(run: int) -> None:
        bench.request("analyst", "GET", f"/api/jobs/{started[-1]}/")

    subject, baseline = measure_pair(
        post, read, warmup=scale.warmup, repeats=scale.repeats, before_baseline=cancel
    )
    figure = Figure.latency(
        "job accepted (POST /api/forecasts/)",
        subject,
        baseline,
        target="p95 ≤ 50 ms",
        met=lambda f: f.p95 <= 50,
        baseline_text="GET /api/jobs/{id}/ of the job just started (then cancelled, untimed)",
        notes=["202 with Location; the job row and its task row are written in the request"],
    )
    bench.progress(f"  job accepted: median {figure.median:.1f} ms")
    return figure


def _pickup(bench: Bench) -> Figure:
    """Start a `db_worker`, then time each job from its creation to its start, one at a time."""
    runs = max(3, bench.scale.repeats // 3)
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            str(INTERVAL),
        ],
        cwd=ROOT,
        env={**os.environ, "TASKS_BACKEND": "database", "DATABASE_URL": database_url()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    delays = []
    try:
        time.sleep(2.0)  # let the worker start and reach its first idle poll
        for _ in range(runs):
            job_id = bench.request(
                "analyst", "POST", "/api/forecasts/", body=_body(bench), expect=202
            ).json()["id"]
            job = _finished(job_id)
            delays.append((job.started_at - job.created_at).total_seconds())
            time.sleep(1.0)  # idle again before the next job
    finally:
        worker.terminate()
        worker.wait(30)
    figure = Figure.latency(
        "job picked up by an idle db_worker",
        Samples(tuple(delays)),
        Samples((INTERVAL,)),
        target="median ≤ 1 s",
        met=lambda f: f.median <= 1000,
        baseline_text=f"the worker's poll interval on an empty queue ({INTERVAL:g} s, as in make run)",
        notes=[
            f"{runs} forecast jobs of {FORECAST['draws']} draws, one at a time, each posted to an idle worker"
        ],
    )
    bench.progress(f"  job picked up: median {figure.median:.0f} ms")
    return figure


def database_url() -> str:
    """The database this process is connected to, for the worker (a test run's is not DATABASE_URL's)."""
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _finished(job_id: str) -> Job:
    deadline = time.monotonic() + PICKUP_TIMEOUT
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status not in Job.ACTIVE:
            if job.status != Job.Status.SUCCEEDED:
                raise BenchError(f"Bench job {job_id} ended {job.status}: {job.error}")
            return job
        time.sleep(POLL_SECONDS)
    raise BenchError(f"No worker finished bench job {job_id} within {PICKUP_TIMEOUT:.0f} s")

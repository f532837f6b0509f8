"""Jobs through a real database worker (`manage.py db_worker` in its own process) on the demo plan:
submit, watch the progress, succeed with the result linked; cancel a running job; kill the
worker with SIGKILL mid-job and find the job failed by the lease, with nothing half-written.

The optimizer on the demo plan with many draws takes seconds, long enough to watch and to stop.
Runs on the database the suite runs on: a fresh PostgreSQL database beside the test database,
or a SQLite file.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.ratings.conftest import SMALL_2024

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """A migrated database holding the demo plan: `(env, job)`, `job(id, column)` reading a job's column."""
    default = settings.DATABASES["default"]
    env = {**os.environ, "TASKS_BACKEND": "database", "JOB_HEARTBEAT_SECONDS": "0.3", "PYTHONUNBUFFERED": "1"}
    if connection.vendor == "postgresql":
        name = f"hedis_jobs_{uuid.uuid4().hex[:8]}"
        server = _server()
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        credentials = f"{default['USER']}:{default['PASSWORD'] or ''}"
        env["DATABASE_URL"] = f"postgres://{credentials}@{default['HOST']}:{default['PORT']}/{name}"

        def query(sql, *params):
            with psycopg.connect(dbname=name, **server) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()

        def key(job_id):
            return job_id

    else:
        path = tmp_path_factory.mktemp("jobs") / "db.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{path}"

        def query(sql, *params):
            with sqlite3.connect(path, timeout=10) as connection:
                return connection.execute(sql, params).fetchall()

        def key(job_id):
            return uuid.UUID(job_id).hex  # how Django keeps a UUID in SQLite

    for command in (["migrate", "--no-input"], ["load_demo_data"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True
        )
    query.key = key
    yield env, query
    if connection.vendor == "postgresql":
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _server() -> dict:
    """psycopg's connection arguments for the test run's PostgreSQL server."""
    default = settings.DATABASES["default"]
    keys = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD"}
    return {key: default[setting] for key, setting in keys.items() if default[setting]}


def _manage(env, code: str) -> str:
    """Run Python in the portal's shell against the worker's database; its printed output."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


# Starts the job named in $JOB (kind and parameters) for the demo's analyst on H9001; prints its ID.
START = """
import json, os
from django.contrib.auth import get_user_model
from django.db import transaction
from hedis_portal.jobs import job_start
from members.models import Contract
wanted = json.loads(os.environ["JOB"])
analyst = get_user_model().objects.get(username="quality.analyst")
with transaction.atomic():
    job, _ = job_start(user=analyst, contract=Contract.objects.get(contract_id="H9001"), **wanted)
print(job.pk)
"""
CANCEL = """
import os
from hedis_portal.jobs import Job, job_cancel
print(job_cancel(job=Job.objects.get(pk=os.environ["JOB"])).status)
"""
REAP = "from hedis_portal.jobs import jobs_reap_stale; print(jobs_reap_stale())"


def _start(env, kind: str, parameters: dict) -> str:
    return _manage({**env, "JOB": json.dumps({"kind": kind, "parameters": parameters})}, START)


def _worker(env, output=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.2", "--no-reload", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
    )


def _watch(query, job_id: str, until, timeout: float = 180.0) -> list[tuple]:
    """Poll the job's (status, progress, stage) until `until(row)`; every distinct row seen."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = tuple(_job(query, job_id, "status, progress, stage"))
        if not seen or seen[-1] != row:
            seen.append(row)
        if until(row):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s; seen {seen}")


def _job(query, job_id: str, columns: str) -> tuple:
    """Columns of one job row; JSON columns as Python values on either database."""
    row = query(f"SELECT {columns} FROM hedis_portal_job WHERE id = ?", query.key(job_id))[0]
    return tuple(
        json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value for value in row
    )


def _runs(query) -> int:
    return query("SELECT count(*) FROM ratings_portfoliorun")[0][0]


def test_a_worker_runs_an_optimizer_job_reporting_its_stages_and_links_the_run(database):
    env, query = database
    worker = _worker(env)
    try:
        job_id = _start(env, "optimize", _plan_parameters())
        seen = _watch(query, job_id, lambda row: row[0] in ("succeeded", "failed", "cancelled"))
    finally:
        worker.terminate()
        worker.wait(30)
    assert seen[-1] == ("succeeded", 1.0, "done"), seen
    running = [(progress, stage) for status, progress, stage in seen if status == "running" and progress > 0]
    assert running and running == sorted(running, key=lambda row: row[0]), seen
    (result,) = _job(query, job_id, "result")
    assert result["url"] == f"/api/optimizer/runs/{result['portfolio_run']}/"


def test_a_running_job_is_cancelled_at_its_next_progress_point_with_nothing_stored(database):
    env, query = database
    before = _runs(query)
    worker = _worker(env)
    try:
        job_id = _start(env, "optimize", _plan_parameters())
        _watch(query, job_id, lambda row: row[0] == "running" and row[1] > 0)
        _manage({**env, "JOB": job_id}, CANCEL)
        seen = _watch(query, job_id, lambda row: row[0] in ("succeeded", "failed", "cancelled"))
    finally:
        worker.terminate()
        worker.wait(30)
    assert seen[-1][0] == "cancelled" and seen[-1][2] == "Cancelled on request.", seen
    assert _runs(query) == before


def test_a_job_whose_worker_is_killed_fails_by_its_lease_with_nothing_stored(database):
    env, query = database
    before = _runs(query)
    worker = _worker(env)
    job_id = _start(env, "optimize", _plan_parameters())
    _watch(query, job_id, lambda row: row[0] == "running" and row[1] > 0)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    time.sleep(2.5)
    reaped = _manage({**env, "JOB_LEASE_SECONDS": "2"}, REAP)
    assert reaped == "1"
    status, error = _job(query, job_id, "status, error")
    assert status == "failed"
    assert error["message"] == "The worker running this job stopped (no heartbeat for 2 s)."
    assert _runs(query) == before


# Posts one request through the API as a demo user, as a client would; prints the status and body.
POST = """
import json, os
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
request = json.loads(os.environ["REQUEST"])
client = APIClient()
client.force_authenticate(get_user_model().objects.get(username=request["user"]))
if request["files"]:
    body = {**request["body"], **{
        name: [SimpleUploadedFile(upload, content.encode()) for upload, content in files]
        for name, files in request["files"].items()
    }}
    response = client.post(request["path"], body, format="multipart")
else:
    response = client.post(request["path"], request["body"], format="json")
print(json.dumps([response.status_code, response.json()]))
"""
GET = """
import os
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
client = APIClient()
client.force_authenticate(get_user_model().objects.get(username=os.environ["USER_NAME"]))
print(client.get(os.environ["URL"]).status_code)
"""
GAP_FILE = (
    "member_id,measure,compliance_status,birth_year\nWORKER-0001,BCS,open,1950\nWORKER-0002,COL,open,1951\n"
)
# Every kind of job, started as its API starts it: (kind, user, path, JSON or form body, files).
# A run's ID in a path is the result of the optimizer run started before it.
EVERY_KIND = [
    (
        "forecast",
        "quality.analyst",
        "/api/forecasts/",
        {"contract": "H9001", "measurement_year": 2026, "draws": 200},
        {},
    ),
    (
        "forecast",
        "quality.analyst",
        "/api/forecasts/",
        {
            "contract": "H9001",
            "measurement_year": 2026,
            "draws": 200,
            "name": "BCS to 90%",
            "assumptions": {"C01": {"target_rate": "90"}},
        },
        {},
    ),
    (
        "optimize",
        "quality.analyst",
        "/api/optimizer/runs/",
        {"contract": "H9002", "measurement_year": 2026, "budget": "5000", "draws": 200},
        {},
    ),
    ("propose", "quality.analyst", "/api/optimizer/runs/{run}/propose/", {}, {}),
    (
        "snapshot",
        "quality.analyst",
        "/api/snapshots/take/",
        {"contract": "H9001", "measurement_year": 2026},
        {},
    ),
    ("snapshot_all", "quality.analyst", "/api/snapshots/take-all/", {"measurement_year": 2026}, {}),
    (
        "gap_import",
        "administrator",
        "/api/gaps/import/",
        {"contract": "H9001", "measurement_year": 2026},
        {"file": [["gaps.csv", GAP_FILE]]},
    ),
    (
        "predictions_import",
        "quality.analyst",
        "/api/predictions/import/",
        {},
        {
            "file": [
                [
                    "scores.csv",
                    "member_id,measure,measurement_year,model_version,probability,risk_tier,predicted_at\n"
                    "WORKER-0001,BCS,2026,worker-test,0.6,medium,2026-11-01T00:00:00Z\n",
                ]
            ]
        },
    ),
    (
        "cut_point_projection",
        "quality.analyst",
        "/api/cut-point-projections/",
        {"target_star_year": 2028, "draws": 10},
        {},
    ),  # Last: it replaces a star year's national benchmark (2024; the demo rates against 2026's).
    (
        "cms_import",
        "administrator",
        "/api/cms-imports/",
        {"star_year": 2024},
        {"files": [[name, text] for name, text in SMALL_2024.items()]},
    ),
]


def test_every_kind_of_job_is_listed_here():
    from hedis_portal.job_registry import job_kinds

    assert {kind for kind, *_ in EVERY_KIND} == set(job_kinds())


def test_every_kind_of_job_runs_through_a_worker_from_its_api_request_to_its_linked_result(database):
    env, query = database
    worker = _worker(env)
    results = []
    try:
        for kind, user, path, body, files in EVERY_KIND:
            request = {
                "user": user,
                "path": path.format(run=results[-1].get("portfolio_run")) if results else path,
            }
            status, job = json.loads(
                _manage({**env, "REQUEST": json.dumps({**request, "body": body, "files": files})}, POST)
            )
            assert (status, job["kind"]) == (202, kind), job
            seen = _watch(query, job["id"], lambda row: row[0] in ("succeeded", "failed", "cancelled"))
            assert seen[-1] == ("succeeded", 1.0, "done"), (kind, seen, _job(query, job["id"], "error"))
            (result,) = _job(query, job["id"], "result")
            results.append(result)
            assert _manage({**env, "USER_NAME": user, "URL": result["url"]}, GET) == "200", (kind, result)
    finally:
        worker.terminate()
        worker.wait(30)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="closes a PostgreSQL database to connections")
def test_a_worker_lives_through_a_database_outage_and_runs_the_jobs_after_it(database, tmp_path):
    env, query = database
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = _worker(env, output)
    try:
        time.sleep(3)  # started and polling
        with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            time.sleep(3)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert worker.poll() is None
        job_id = _start(env, "snapshot", {"measurement_year": 2026})
        seen = _watch(query, job_id, lambda row: row[0] in ("succeeded", "failed", "cancelled"), timeout=60)
    finally:
        worker.terminate()
        worker.wait(30)
    assert seen[-1] == ("succeeded", 1.0, "done"), seen
    assert (
        "Job worker: the database is unavailable (OperationalError); trying again in 2 s" in log.read_text()
    )


def _plan_parameters() -> dict:
    """An optimizer run on the demo plan that takes seconds (many draws, a large budget)."""
    return {
        "measurement_year": 2026,
        "budget": "250000",
        "objective": "expected_overall",
        "draws": 200_000,
        "seed": 0,
        "time_limit": 60.0,
    }

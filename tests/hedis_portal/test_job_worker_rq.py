"""Jobs through a real RQ worker (`TASKS_BACKEND=rq`, `manage.py rqworker default`) on the demo plan
and the Redis server that CI starts: an optimizer job runs in the work horse RQ forks for it, its
heartbeat writes the stages as they pass, and it succeeds with the run linked; the worker itself
keeps no database connection to hand down. And RQ's own time limit per job never comes first.

The demo database and the helpers are test_job_worker's; the queue lives in a Redis database
claimed for this test alone, so runs on one machine do not take each other's tasks.
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Queue

from tests.hedis_portal import test_job_worker as db_worker_tests
from tests.hedis_portal.test_job_worker import ROOT, _job, _manage, _plan_parameters, _start, _watch

pytestmark = pytest.mark.slow

# test_job_worker's migrated demo database (its module-scoped fixture, made again for this module).
database = db_worker_tests.database

REDIS_SERVER = "redis://127.0.0.1:6379"
CLAIM = "hedis-portal:test-claim"


@pytest.fixture
def redis_database():
    """An empty Redis database (1–15) claimed for this test: its URL; emptied afterwards."""
    try:
        redis.Redis.from_url(REDIS_SERVER).ping()
    except redis.ConnectionError as error:
        reason = f"no Redis server at {REDIS_SERVER} ({error}); .ci/run starts one"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    for number in random.sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{number}")
        # Empty and claimed by us alone (SET NX), so flushing it afterwards drops only our keys.
        if client.dbsize() == 0 and client.set(CLAIM, "1", nx=True, ex=3600):
            break
    else:
        pytest.fail(f"no empty Redis database at {REDIS_SERVER} to claim")
    yield f"{REDIS_SERVER}/{number}"
    client.flushdb()
    client.close()


def _rq_worker(env, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(worker: subprocess.Popen) -> None:
    """SIGTERM: RQ's warm shutdown, at once when idle; if a job still runs, a second SIGTERM kills
    its work horse (in a process group of its own) and then the worker."""
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.terminate()
        worker.wait(30)


def _connections_held_once_idle(env, query, worker_pid: int, timeout: float = 10.0) -> int:
    """Database connections still open after the job: the worker's SQLite file handles, or every
    other session on the PostgreSQL database. Polled, since the work horse exits after the job."""
    deadline = time.monotonic() + timeout
    while True:
        if env["DATABASE_URL"].startswith("sqlite:///"):
            path = os.path.realpath(env["DATABASE_URL"].removeprefix("sqlite:///"))
            fds = Path(f"/proc/{worker_pid}/fd").iterdir()
            held = sum(os.path.realpath(fd) == path for fd in fds)
        else:
            others = "datname = current_database() AND pid <> pg_backend_pid()"
            held = query(f"SELECT count(*) FROM pg_stat_activity WHERE {others}")[0][0]
        if held == 0 or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


def test_an_rq_worker_runs_an_optimizer_job_in_its_work_horse_and_links_the_run(
    database, redis_database, tmp_path
):
    env, query = database
    env = {**env, "TASKS_BACKEND": "rq", "TASKS_REDIS_URL": redis_database}
    log_path = tmp_path / "rqworker.log"
    with log_path.open("w") as log:
        worker = _rq_worker(env, log)
        try:
            job_id = _start(env, "optimize", _plan_parameters())
            seen = _watch(query, job_id, lambda row: row[0] in ("succeeded", "failed", "cancelled"))
            held = _connections_held_once_idle(env, query, worker.pid)
        finally:
            _stop(worker)
    worker_log = log_path.read_text()
    assert seen[-1] == ("succeeded", 1.0, "done"), (seen, worker_log)
    # The heartbeat thread, inside the forked work horse on its own connection, wrote the stages
    # as they passed: at least one between start and done (how many the 0.1 s poll catches
    # depends on how fast the machine solves), in rising order.
    running = [(progress, stage) for status, progress, stage in seen if status == "running" and progress > 0]
    assert running and running == sorted(running, key=lambda row: row[0]), seen
    # The worker's own process holds no database connection between jobs, so none is shared
    # across the fork into a work horse, and the horse's connections ended with it.
    assert held == 0, worker_log
    (result,) = _job(query, job_id, "result")
    assert result["url"] == f"/api/optimizer/runs/{result['portfolio_run']}/"
    assert query("SELECT count(*) FROM ratings_portfoliorun WHERE id = ?", result["portfolio_run"]) == [(1,)]
    # It went through Redis: RQ recorded one task, finished, on this run's queue, and none failed.
    queue = Queue("default", connection=redis.Redis.from_url(redis_database))
    assert queue.finished_job_registry.count == 1, worker_log
    assert queue.failed_job_registry.count == 0, worker_log
    assert "default: hedis_portal.jobs.run_job" in worker_log, worker_log


# RQ's own time limit per job and the longest any kind may run before its heartbeat interrupts it.
LIMITS = """
import json
from django.conf import settings
from hedis_portal.job_registry import job_kinds
longest = max(kind.seconds_allowed() for kind in job_kinds().values()) + settings.JOB_OVERRUN_GRACE_SECONDS
print(json.dumps([settings.RQ_QUEUES["default"]["DEFAULT_TIMEOUT"], longest]))
"""


@pytest.mark.parametrize("time_limits", ["", "optimize=7200,forecast=300"])
def test_rq_never_stops_a_job_before_the_jobs_own_time_limit_would(time_limits):
    env = {**os.environ, "TASKS_BACKEND": "rq", "JOB_TIME_LIMITS": time_limits}
    rq_timeout, longest = json.loads(_manage(env, LIMITS))
    assert rq_timeout > longest

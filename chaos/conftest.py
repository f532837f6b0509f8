"""The reliability suite's fixtures: a private PostgreSQL cluster holding the demo plan, and the
portal served on it for each scenario.

Run with `.venv/bin/pytest chaos -p no:cacheprovider -s`. It needs PostgreSQL's server programs
and nginx (as `make run` does), not the shared server on 5432, which it never touches; all its
traffic goes to 127.0.0.1.

- `cluster` (once): `initdb` in a temporary folder, a free port, started by the suite and
  stopped, frozen and thawed by its postmaster's PID; removed at the end.
- `database` (once): the portal migrated there with the demo plan, and API tokens for its users.
- `stack` (each scenario): the portal served by `scripts/serve` (nginx, gunicorn, job worker) on a
  free port (`chaos.stack`), with short job leases; every process ended by PID when the scenario ends.

Each scenario runs within its `budget` (seconds, a marker; `DEFAULT_BUDGET` otherwise) and prints
its figures; the session prints its wall time and fails past `SUITE_BUDGET`.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from chaos.cluster import PrivateCluster
from chaos.data import MEMBER_ID_HASH_KEY, Database
from chaos.processes import ROOT
from chaos.stack import Stack
from synthetic.demo import DEMO_USERS

DEFAULT_BUDGET = 60.0
SUITE_BUDGET = 600.0
# A job whose worker stopped is noticed after JOB_LEASE_SECONDS without a heartbeat.
JOB_HEARTBEAT_SECONDS = 0.5
JOB_LEASE_SECONDS = 3

_started = time.monotonic()


class BudgetExceeded(Exception):
    """A scenario ran past its time budget: something hung."""


def pytest_configure(config):
    config.addinivalue_line("markers", "budget(seconds): the scenario's time limit; past it, it fails")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Run the scenario under an alarm set to its budget."""
    marker = item.get_closest_marker("budget")
    seconds = marker.args[0] if marker else DEFAULT_BUDGET

    def overrun(signum, frame):
        raise BudgetExceeded(f"{item.name} ran past its budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, overrun)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        print(f"\n   ({item.name}: {time.monotonic() - started:.1f} s of a {seconds:g} s budget)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the `stack` fixture knows whether to show its logs."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def pytest_sessionfinish(session, exitstatus):
    elapsed = time.monotonic() - _started
    print(f"\nchaos suite wall time: {elapsed:.1f} s (budget {SUITE_BUDGET:g} s)")
    if elapsed > SUITE_BUDGET:
        print("chaos suite: over its time budget")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def cluster():
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="hedis-chaos-")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def portal_env(cluster) -> dict:
    """The environment of every portal process: the private cluster, short job leases, no throttling
    in the way of the scenarios' traffic."""
    return {
        **os.environ,
        "DJANGO_ENV": "development",
        "DATABASE_URL": cluster.url("hedis"),
        "DATABASE_REPLICA_URL": "",
        "MEMBER_ID_HASH_KEY": MEMBER_ID_HASH_KEY,
        "TASKS_BACKEND": "database",
        "JOB_HEARTBEAT_SECONDS": str(JOB_HEARTBEAT_SECONDS),
        "JOB_LEASE_SECONDS": str(JOB_LEASE_SECONDS),
        "THROTTLE_USER": "1000000/min",
        "THROTTLE_ANON": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict, *arguments: str, timeout: float = 120) -> str:
    """Run a management command against the private cluster; its output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def database(cluster, portal_env) -> Database:
    """The portal's database on the private cluster: migrated, with the demo plan."""
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:
        connection.execute("CREATE DATABASE hedis")
    started = time.monotonic()
    manage(portal_env, "migrate", "--no-input")
    manage(portal_env, "load_demo_data")
    elapsed = time.monotonic() - started
    print(f"\nprivate cluster on port {cluster.port}: migrated, demo plan loaded in {elapsed:.1f} s")
    return Database(cluster.url("hedis"))


# Prints a knox token (`Authorization: Token …`) for each demo user, as JSON.
_TOKENS = """
import json
from django.contrib.auth import get_user_model
from knox.models import AuthToken
users = get_user_model().objects.filter(username__in={usernames!r})
print(json.dumps({{user.username: AuthToken.objects.create(user=user)[1] for user in users}}))
"""


@pytest.fixture(scope="session")
def tokens(database, portal_env) -> dict[str, str]:
    """An API token for each demo user, by username."""
    output = manage(portal_env, "shell", "-c", _TOKENS.format(usernames=list(DEMO_USERS)))
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture
def stack(request, database, portal_env, tmp_path):
    """The portal served on the private cluster for one scenario; its logs shown if the scenario failed."""
    served = Stack(portal_env, tmp_path)
    try:
        served.start()
        yield served
    finally:
        served.stop()
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            for log in sorted(tmp_path.glob("*.log")):
                print(f"\n--- last lines of {log.name}")
                print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))

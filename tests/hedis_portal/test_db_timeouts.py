"""Bounds on the database: a statement runs at most DB_STATEMENT_TIMEOUT (short for web requests,
long for jobs and commands), and no wait for the server outlasts DB_WAIT_TIMEOUT, so a database that
never answers is a 503 on time, not a hung request."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connection, connections

from hedis_portal.postgresql.base import DatabaseWrapper, NoAnswer

ROOT = Path(__file__).resolve().parents[2]
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="bounds PostgreSQL's waits")

SETTINGS_OF_A_PROCESS = """
import json
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps([database["ENGINE"], database["OPTIONS"]["options"],
                  settings.DB_STATEMENT_TIMEOUT, settings.DB_WAIT_TIMEOUT]))
"""


def _settings_of(entry: str, **env: str) -> list:
    """The database bounds a process started through `entry` ("wsgi" or "manage") configures."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PORTAL_"))}
    base["DATABASE_URL"] = "postgres://portal@127.0.0.1:5432/portal"
    if entry == "wsgi":
        command = [sys.executable, "-c", "import hedis_portal.wsgi\n" + SETTINGS_OF_A_PROCESS]
    else:
        command = [sys.executable, "manage.py", "shell", "-c", SETTINGS_OF_A_PROCESS]
    done = subprocess.run(
        command, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_web_requests_get_short_bounds_and_jobs_and_commands_long_ones():
    assert _settings_of("wsgi") == ["hedis_portal.postgresql", "-c statement_timeout=5000", 5.0, 6.0]
    assert _settings_of("manage") == [
        "hedis_portal.postgresql",
        "-c statement_timeout=3600000",
        3600.0,
        3601.0,
    ]


def test_the_bounds_are_settings():
    assert _settings_of("wsgi", DB_STATEMENT_TIMEOUT="2.5", DB_WAIT_GRACE="0.5") == [
        "hedis_portal.postgresql",
        "-c statement_timeout=2500",
        2.5,
        3.0,
    ]
    assert _settings_of("manage", DB_JOB_STATEMENT_TIMEOUT="0") == [
        "hedis_portal.postgresql",
        "-c statement_timeout=0",
        0.0,
        0.0,
    ]


@postgresql_only
@pytest.mark.django_db
def test_the_server_ends_statements_at_the_processs_statement_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("1h",)  # the test run is not a web process


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_server_that_does_not_answer_ends_the_wait_and_the_connection(settings):
    """pg_sleep stands for a frozen server: the query is sent and no answer comes."""
    settings.DB_WAIT_TIMEOUT = 0.3
    settings.DB_NO_ANSWER_BACKOFF = 1.0
    waiting = connections.create_connection("default")
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised, waiting.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(3)")
        waited = time.monotonic() - started
        assert isinstance(raised.value.__cause__, NoAnswer)
        assert str(raised.value) == "no answer from the database within 0.3 s"
        assert 0.3 <= waited < 1
        assert waiting.connection.closed
        waiting.close()
        # For DB_NO_ANSWER_BACKOFF the process does not wait for that server again: it fails at once.
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            waiting.ensure_connection()
        assert time.monotonic() - started < 0.2
        assert str(raised.value) == "the database gave no answer moments ago; not waiting for it again yet"
        time.sleep(1.0)
        with waiting.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        waiting.close()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_wait_already_under_way_ends_when_another_thread_finds_the_server_silent(settings):
    """Two threads of one process, each on its own connection, wait for a server that gives neither an
    answer (pg_sleep stands for a frozen server). The first gives up at DB_WAIT_TIMEOUT; the second,
    which began later, gives up with it rather than at its own DB_WAIT_TIMEOUT."""
    settings.DB_WAIT_TIMEOUT = 2.0
    settings.DB_NO_ANSWER_BACKOFF = 0.5
    ended: dict[str, tuple[float, str]] = {}
    started = time.monotonic()

    def wait(name: str, after: float) -> None:
        waiting = connections.create_connection("default")
        try:
            waiting.ensure_connection()
            time.sleep(max(after - (time.monotonic() - started), 0))
            with pytest.raises(OperationalError) as raised, waiting.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(5)")
            ended[name] = (time.monotonic() - started, str(raised.value))
        finally:
            waiting.close()

    threads = [threading.Thread(target=wait, args=args) for args in [("first", 0.0), ("second", 1.0)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    time.sleep(settings.DB_NO_ANSWER_BACKOFF)  # the test database's teardown connects again
    (first, first_said), (second, second_said) = ended["first"], ended["second"]
    assert first_said == "no answer from the database within 2 s"
    assert second_said == "the database gave another request no answer meanwhile"
    # Its own timeout would have ended it at 3 s; it ended on psycopg's next wake-up after the first.
    assert first <= second < 2.8


@pytest.mark.django_db
def test_a_server_that_takes_the_connection_but_never_answers_fails_it_on_time(settings):
    """A listening socket that never speaks stands for a frozen server at connection time: libpq's
    connect_timeout (2 s at least) ends the attempt, and the next one fails at once."""
    settings.DB_NO_ANSWER_BACKOFF = 30
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        database = {
            **connections.settings["default"],
            "ENGINE": "hedis_portal.postgresql",
            "NAME": "portal",
            "USER": "portal",
            "HOST": "127.0.0.1",
            "PORT": silent.getsockname()[1],
            "OPTIONS": {"connect_timeout": 2},
        }
        wrapper = DatabaseWrapper(database, alias="silent")
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            wrapper.ensure_connection()
        assert isinstance(raised.value.__cause__, psycopg.errors.ConnectionTimeout)
        assert 2 <= time.monotonic() - started < 5
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            wrapper.ensure_connection()
        assert isinstance(raised.value.__cause__, NoAnswer)
        assert time.monotonic() - started < 0.2
    assert connection.vendor != "postgresql" or _can_query("default"), "another alias was not held back"


def _can_query(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_wait_with_its_own_timeout_keeps_it(settings):
    """psycopg's own bounded waits (notifications, cancellation) keep their timeouts and errors."""
    settings.DB_WAIT_TIMEOUT = 30
    waiting = connections.create_connection("default")
    try:
        waiting.ensure_connection()
        started = time.monotonic()
        assert list(waiting.connection.notifies(timeout=0.2)) == []
        assert time.monotonic() - started < 5
        assert not waiting.connection.closed
    finally:
        waiting.close()


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("cause", "seconds"),
    [
        ("server", 0),  # the server ends the statement (statement_timeout)
        ("client", 0.3),  # the portal stops waiting (DB_WAIT_TIMEOUT)
    ],
)
def test_api_answers_503_in_time_when_the_database_is_too_slow(
    api, care_manager, settings, monkeypatch, cause, seconds
):
    settings.DB_WAIT_TIMEOUT = seconds
    settings.DB_NO_ANSWER_BACKOFF = 0
    connection.close()  # the request opens a connection with this bound

    def slow(user):
        with connection.cursor() as cursor:
            if cause == "server":
                cursor.execute("SET statement_timeout = 200")
            cursor.execute("SELECT pg_sleep(3)")

    monkeypatch.setattr("members.api.selectors.members_for", slow)
    client = api(care_manager)
    client.raise_request_exception = False
    started = time.monotonic()
    response = client.get("/api/members/")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json() == {
        "message": "The database did not answer in time; try again shortly.",
        "extra": {},
    }
    assert response["Retry-After"] == "5"
    connection.close()


def test_psycopg_is_pinned_to_the_version_whose_private_wait_timeout_the_backend_uses():
    """hedis_portal/postgresql/base.py catches psycopg.errors._WaitTimeout from Connection.wait."""
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert f"psycopg[binary]=={psycopg.__version__}" in requirements
    assert issubclass(psycopg.errors._WaitTimeout, psycopg.OperationalError)

"""The served configuration (`scripts/serve`: nginx in front of gunicorn) keeps answering while
slow clients hold connections, and cuts them off at nginx's header timeout.

Before (issue #14, gunicorn gthread alone, 2 workers x 4 threads): 8 connections sending one
header line every 2 s held all 8 request threads, and every other request, /health/live
included, timed out after 30 s. Here 16 such connections are held open against nginx while
ordinary requests must each answer within 5 s (a bound for "not stalled", not a latency target).

Runs the whole stack in its own process group, on a database of its own: a fresh PostgreSQL
database beside the test database, or a SQLite file.
"""

import http.client
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SLOW_CLIENTS = 16
HEADER_LINE_EVERY = 2.0  # seconds between a slow client's header lines
NOT_STALLED = 5.0  # seconds an ordinary request may take while they are held
HEADER_TIMEOUT = 10.0  # client_header_timeout in deploy/nginx.conf
RAW_ID = "ZQX-778812345"  # in the slow clients' request line: nginx's log must not show it
PROBES = {
    "/health/live": {200},
    "/health/ready": {200},
    "/api/gaps/": {401, 403},
    "/admin/login/": {200},
    "/static/admin/css/base.css": {200},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def database_url():
    """On PostgreSQL, a new database beside the test database: its `DATABASE_URL` (None on SQLite)."""
    default = settings.DATABASES["default"]
    if default["ENGINE"] != "django.db.backends.postgresql":
        yield None  # `served` makes a SQLite file in its own folder
        return
    name = f"hedis_served_{uuid.uuid4().hex[:8]}"
    server = {
        key: value
        for key, value in {
            "host": default["HOST"],
            "port": default["PORT"],
            "user": default["USER"],
            "password": default["PASSWORD"],
        }.items()
        if value
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    credentials = f"{default['USER']}:{default['PASSWORD'] or ''}"
    yield f"postgres://{credentials}@{default['HOST']}:{default['PORT']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def served(database_url, tmp_path_factory):
    """`scripts/serve` on a free port, answering /health/live: `(port, log path)`."""
    folder = tmp_path_factory.mktemp("served")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url or f"sqlite:///{folder / 'db.sqlite3'}",
        "STATIC_ROOT": str(folder / "static"),
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("SERVE_BIND", None)
    # What `make run` does first, both at once: migrate the database, collect the static files.
    preparing = [
        subprocess.Popen(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for command in (["migrate", "--no-input"], ["collectstatic", "--no-input", "-v0"])
    ]
    for step in preparing:
        _, errors = step.communicate(timeout=120)
        assert step.returncode == 0, errors.decode()

    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        stack = subprocess.Popen(
            [ROOT / "scripts" / "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while _status(port, "/health/live", timeout=1) != 200:
            assert stack.poll() is None, f"scripts/serve ended ({stack.returncode}):\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"no answer from /health/live:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield port, log_path
    finally:
        # scripts/serve ends the job worker, gunicorn and nginx it started; its group is ended
        # only if it did not.
        stack.terminate()
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()


def _status(port: int, path: str, timeout: float) -> int | None:
    """The status of a GET on a new connection; None when it failed or took longer than `timeout`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


class SlowClients:
    """Connections that send a request line, then one header line every `HEADER_LINE_EVERY` s."""

    def __init__(self, port: int, count: int):
        self.opened = time.monotonic()
        self.sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(f"GET /api/members/{RAW_ID}/?q={RAW_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        self.closed_after: dict[socket.socket, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def open_count(self) -> int:
        return len(self.sockets) - len(self.closed_after)

    def _trickle(self) -> None:
        line = 0
        while True:
            line += 1
            for sock in self.sockets:
                if sock in self.closed_after:
                    continue
                try:
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable and sock.recv(4096) == b"":
                        raise ConnectionResetError
                    sock.sendall(f"X-Slow-{line}: still sending\r\n".encode())
                except OSError:
                    self.closed_after[sock] = time.monotonic() - self.opened
            if not self.open_count() or self._stop.wait(HEADER_LINE_EVERY):
                return

    def wait_closed(self, timeout: float) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def test_slow_clients_neither_stall_the_served_portal_nor_outlast_nginx_header_timeout(served):
    port, log_path = served
    slow = SlowClients(port, SLOW_CLIENTS)
    timings: list[tuple[str, int | None, float]] = []
    try:
        time.sleep(HEADER_LINE_EVERY)  # the first header lines are in: every connection is mid-request

        def probe(path: str) -> tuple[str, int | None, float]:
            started = time.monotonic()
            status = _status(port, path, timeout=NOT_STALLED)
            return path, status, time.monotonic() - started

        # Three rounds of every probe at once, while all 16 connections are held.
        with ThreadPoolExecutor(len(PROBES)) as pool:
            for _ in range(3):
                timings += pool.map(probe, PROBES)
                time.sleep(1)
        held_through_probes = slow.open_count()
        slow.wait_closed(timeout=HEADER_TIMEOUT + 5)
        closed_after = sorted(slow.closed_after.values())
    finally:
        slow.close()

    statuses = Counter(status for _, status, _ in timings)
    slowest_path, _, slowest = max(timings, key=lambda timing: timing[2])
    cut_off = f"{closed_after[0]:.1f}-{closed_after[-1]:.1f} s" if closed_after else "never"
    print(
        f"\nslow connections held: {SLOW_CLIENTS} (a header line every {HEADER_LINE_EVERY:g} s); "
        f"requests made meanwhile: {len(timings)}, statuses {dict(statuses)}, "
        f"slowest answer {slowest * 1000:.0f} ms ({slowest_path}); slow clients cut off after {cut_off}"
    )
    wrong = [(path, status) for path, status, _ in timings if status not in PROBES[path]]
    assert not wrong, f"answered wrongly or not within {NOT_STALLED:g} s: {wrong}"
    assert held_through_probes == SLOW_CLIENTS
    assert len(closed_after) == SLOW_CLIENTS
    assert closed_after[0] >= HEADER_TIMEOUT - 1 and closed_after[-1] <= HEADER_TIMEOUT + 5
    # nginx logs each of them as its 408, without the request line and the raw ID in its path.
    log = log_path.read_text()
    assert log.count('"GET" 408') == SLOW_CLIENTS
    assert RAW_ID not in log

"""What the served portal writes about a request: routes and request IDs, never paths."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAW_ID = "ZQX-778812345"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _get(url: str) -> int:
    try:
        with _opener.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def gunicorn_log(tmp_path_factory):
    """Serves the portal with the project's gunicorn.conf.py, makes requests, returns what it logged."""
    folder = tmp_path_factory.mktemp("gunicorn")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "API_LOG_FLUSH_SIZE": "1",
    }
    python = Path(sys.executable)
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    log_path = folder / "access.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [python.parent / "gunicorn", "-c", "gunicorn.conf.py", "hedis_portal.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/health/live", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            statuses = {
                "member": _get(f"{base}/api/members/{RAW_ID}/"),
                "lookup": _get(f"{base}/api/members/lookup/?q={RAW_ID}"),
                "admin search": _get(f"{base}/admin/members/member/?q={RAW_ID}"),
                "unknown path": _get(f"{base}/{RAW_ID}/"),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    return statuses, log_path.read_text()


def test_access_log_never_holds_a_path_or_query_string(gunicorn_log):
    statuses, log = gunicorn_log
    assert statuses == {"member": 401, "lookup": 401, "admin search": 302, "unknown path": 404}
    assert RAW_ID not in log


def test_access_log_names_each_request_by_its_route_and_request_id(gunicorn_log):
    _, log = gunicorn_log
    lines = [line for line in log.splitlines() if '"GET ' in line and "health/live" not in line]
    routes = [line.split('"')[1] for line in lines]
    assert routes == [
        "GET api/members/<pk>/",
        "GET api/members/lookup/",
        "GET admin/members/member/",
        "GET <unresolved>",
    ]
    assert all(len(line.rsplit(" ", 1)[1]) == 32 for line in lines)

"""The served throughput figure: the portal as `make run` serves it, under a mix of requests over HTTP.

`scripts/serve` (nginx in front of gunicorn, with its job worker) is started against the bench's
database; then, at each concurrency, that many client threads (one keep-alive connection each)
send the care manager's mix for a fixed time: worklist pages with one to three random filters and
a random ordering, member histories, and remarks added to gaps. The figure is the throughput at
concurrency 8 beside concurrency 1 on the same stack, the same data and the same minute. The
load generator runs on the same machine as the portal, as a real one would not.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import numpy as np

from synthetic.bench.figures import WORKLIST_ORDERINGS, Bench, BenchError, worklist_filters
from synthetic.bench.jobs import ROOT, database_url
from synthetic.bench.timing import Figure

CONCURRENCIES = (1, 4, 8, 16)
# The share of each kind of request in the mix (the rest are worklist pages).
MEMBER_HISTORY_SHARE = 0.2
WRITE_SHARE = 0.1
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0
# The clients stand for many care managers but send one user's token: the per-user limit
# (THROTTLE_USER, 6,000 a minute) would answer 429 to what the portal itself could serve.
UNTHROTTLED = "1000000/min"
TARGET = "throughput at 8 ≥ 1.6 × at 1; p95 at 8 ≤ 4 × p50 at 1; 0 errors"


@dataclass(frozen=True)
class Level:
    """What one concurrency level measured: requests answered in its window, their latencies, errors."""

    concurrency: int
    seconds: float
    latencies: tuple[float, ...]
    errors: tuple[str, ...]

    @property
    def throughput(self) -> float:
        """Requests answered per second."""
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        """A latency percentile in milliseconds."""
        return float(np.percentile(self.latencies, q)) * 1000

    def summary(self) -> str:
        """One line: throughput, latencies and errors."""
        return (
            f"concurrency {self.concurrency}: {self.throughput:.1f} req/s, p50 {self.percentile(50):.0f} ms, "
            f"p95 {self.percentile(95):.0f} ms, {len(self.errors)} errors of {len(self.latencies)}"
        )

    def as_dict(self) -> dict:
        return {
            "concurrency": self.concurrency,
            "requests": len(self.latencies),
            "throughput": self.throughput,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "errors": len(self.errors),
            "first_errors": list(self.errors[:5]),
        }


class _Mix:
    """The care manager's requests, drawn at random: what to send and which status means success."""

    def __init__(self, bench: Bench):
        plan = bench.plan
        # Each filter parameter with the values the bench gives it (the API refuses a repeated one).
        self.filters: dict[str, list[str]] = {}
        for query in worklist_filters(plan):
            if query and "&" not in query:
                self.filters.setdefault(query.split("=")[0], []).append(query)
        self.members = plan.member_pks.tolist()
        self.open_gaps = plan.gap_pks[plan.gap_status == "open"].tolist()

    def draw(self, rng: random.Random) -> tuple[str, str, bytes | None, int]:
        roll = rng.random()
        if roll < WRITE_SHARE:
            body = json.dumps({"code": "other", "note": "bench served mix"}).encode()
            return "POST", f"/api/gaps/{rng.choice(self.open_gaps)}/remarks/", body, 201
        if roll < WRITE_SHARE + MEMBER_HISTORY_SHARE:
            return "GET", f"/api/members/{rng.choice(self.members)}/", None, 200
        names = rng.sample(sorted(self.filters), rng.randint(1, 3))
        query = "&".join(rng.choice(self.filters[name]) for name in names)
        ordering = rng.choice(WORKLIST_ORDERINGS)
        return "GET", f"/api/gaps/?{query}" + (f"&ordering={ordering}" if ordering else ""), None, 200


def served_throughput(bench: Bench, *, quick: bool = False) -> list[Figure]:
    """The mix at concurrency 1, 4, 8 and 16 against the served portal, for a fixed time each."""
    window, warmup = (2.0, 0.5) if quick else (30.0, 3.0)
    mix = _Mix(bench)
    token = bench.plan.tokens["care_manager"]
    port = _free_port()
    serve = subprocess.Popen(
        [str(ROOT / "scripts" / "serve")],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), "PORT": str(port), "THROTTLE_USER": UNTHROTTLED},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_ready(port, serve)
        levels = []
        for concurrency in CONCURRENCIES:
            levels.append(_level(port, token, mix, concurrency, window=window, warmup=warmup))
            bench.progress(f"  served, {levels[-1].summary()}")
    finally:
        _stop(serve)
    return [_figure(levels, window)]


def _figure(levels: list[Level], window: float) -> Figure:
    by_concurrency = {level.concurrency: level for level in levels}
    one, eight = by_concurrency[1], by_concurrency[8]
    errors = sum(len(level.errors) for level in levels)
    ratio = eight.throughput / one.throughput
    return Figure(
        name="served throughput (worklist, member history, remarks; concurrency 8)",
        unit="req/s",
        best=max(level.throughput for level in levels),
        median=eight.throughput,
        p95=None,
        baseline_median=one.throughput,
        baseline_p95=None,
        ratio=ratio,
        target=TARGET,
        met=ratio >= 1.6 and eight.percentile(95) <= 4 * one.percentile(50) and errors == 0,
        runs=sum(len(level.latencies) for level in levels),
        baseline="the same mix at concurrency 1, on the same stack and data",
        notes=[
            f"scripts/serve (nginx, gunicorn, job worker) over HTTP, the per-user throttle lifted "
            f"({UNTHROTTLED}); {window:g} s per level; the care "
            f"manager's mix: {1 - WRITE_SHARE - MEMBER_HISTORY_SHARE:.0%} worklist pages (1-3 random "
            f"filters, random ordering), {MEMBER_HISTORY_SHARE:.0%} member histories, "
            f"{WRITE_SHARE:.0%} remarks",
            *(level.summary() for level in levels),
        ],
        extra={"levels": [level.as_dict() for level in levels]},
    )


def _level(port: int, token: str, mix: _Mix, concurrency: int, *, window: float, warmup: float) -> Level:
    """`concurrency` clients send the mix for `warmup + window` s; requests started in the window count."""
    start = time.monotonic() + warmup
    end = start + window
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(concurrency * 1000 + number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        try:
            while (began := time.monotonic()) < end:
                method, path, body, expect = mix.draw(rng)
                sent = {**headers, "Content-Type": "application/json"} if body else headers
                try:
                    connection.request(method, path, body=body, headers=sent)
                    response = connection.getresponse()
                    response.read()
                    outcome = None if response.status == expect else f"{method} {path}: {response.status}"
                except (OSError, http.client.HTTPException) as error:
                    outcome = f"{method} {path}: {type(error).__name__}"
                    connection.close()
                elapsed = time.monotonic() - began
                if began >= start:
                    with lock:
                        latencies.append(elapsed)
                        if outcome:
                            errors.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not latencies:
        raise BenchError(f"served throughput: no answer at concurrency {concurrency}")
    return Level(concurrency, window, tuple(latencies), tuple(errors))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(port: int, serve: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise BenchError(f"scripts/serve ended with {serve.returncode} before it was ready")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/health/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise BenchError(f"scripts/serve was not ready on port {port} within {READY_TIMEOUT:.0f} s")


def _stop(serve: subprocess.Popen) -> None:
    """SIGTERM to scripts/serve, which stops nginx, gunicorn and the worker it started, by their PIDs."""
    if serve.poll() is None:
        serve.send_signal(signal.SIGTERM)
    try:
        serve.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait()

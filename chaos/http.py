"""Talking to the served portal as its clients do, with every answer kept for the figures."""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests

from chaos.data import JOB_FINISHED

# What a request that got no answer is recorded as, in place of a status code.
TIMED_OUT = "timeout"
NO_CONNECTION = "no connection"
# Bodies of the API's one error shape (README: `{"message": str, "extra": object}`).
ERROR_KEYS = {"message", "extra"}


@dataclass(frozen=True)
class Answer:
    """One request: what was asked (`label`), when it started, how long it took, what came back."""

    label: str
    started: float
    elapsed: float
    status: int | str
    retry_after: str | None = None
    body: object = None

    @property
    def in_error_shape(self) -> bool:
        return (
            isinstance(self.body, dict)
            and set(self.body) == ERROR_KEYS
            and isinstance(self.body["message"], str)
            and isinstance(self.body["extra"], dict)
        )

    @property
    def is_outage(self) -> bool:
        """A 503 in the API's error shape with a Retry-After of whole seconds."""
        return self.status == 503 and self.in_error_shape and (self.retry_after or "").isdigit()

    @property
    def is_busy(self) -> bool:
        """A 409 in the error shape with Retry-After: concurrent writes won, nothing was written."""
        return self.status == 409 and self.in_error_shape and (self.retry_after or "").isdigit()


class Recorder:
    """Every answer of a scenario, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: list[Answer] = []

    def add(self, answer: Answer) -> Answer:
        with self._lock:
            self.answers.append(answer)
        return answer

    def select(
        self, *, labels: Iterable[str] | None = None, since: float = 0.0, until: float = float("inf")
    ) -> list[Answer]:
        """Answers to requests started in [since, until), of these labels (all by default)."""
        wanted = set(labels) if labels is not None else None
        with self._lock:
            return [
                answer
                for answer in self.answers
                if since <= answer.started < until and (wanted is None or answer.label in wanted)
            ]


class Client:
    """One client of the portal (one connection pool: use one per thread), token-authenticated."""

    def __init__(self, base_url: str, token: str | None, recorder: Recorder, *, timeout: float):
        self.base_url = base_url
        self.recorder = recorder
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, *, label: str, timeout: float | None = None, **kw) -> Answer:
        """Send one request; the answer is recorded and returned, a missing answer as a status word."""
        started = time.monotonic()
        try:
            response = self.session.request(
                method, f"{self.base_url}{path}", timeout=(3, timeout or self.timeout), **kw
            )
        except requests.Timeout:
            return self.recorder.add(Answer(label, started, time.monotonic() - started, TIMED_OUT))
        except requests.ConnectionError:
            return self.recorder.add(Answer(label, started, time.monotonic() - started, NO_CONNECTION))
        try:
            body = response.json()
        except ValueError:
            body = response.text[:200]
        return self.recorder.add(
            Answer(
                label,
                started,
                time.monotonic() - started,
                response.status_code,
                response.headers.get("Retry-After"),
                body,
            )
        )

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.request("POST", path, **kwargs)


def follow_job(client: Client, job_id: str, *, timeout: float) -> list[tuple]:
    """Read the job through the API every 0.2 s until it has finished (or `timeout` passed); each
    distinct (status, stage) seen. Reading a job reaps it once its lease has passed (README,
    Background jobs)."""
    seen: list[tuple] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}/", label="job").body
        if not seen or seen[-1] != (job["status"], job["stage"]):
            seen.append((job["status"], job["stage"]))
        if job["status"] in JOB_FINISHED:
            break
        time.sleep(0.2)
    return seen


def statuses(answers: Iterable[Answer]) -> str:
    """Status counts as `200: 12, 409: 180`, in order of status."""
    counts = Counter(str(answer.status) for answer in answers)
    return ", ".join(f"{status}: {count}" for status, count in sorted(counts.items())) or "none"


def slowest(answers: Iterable[Answer]) -> str:
    times = sorted(answer.elapsed for answer in answers)
    if not times:
        return "-"
    return f"median {times[len(times) // 2]:.3f} s, max {times[-1]:.3f} s"


def figures(title: str, rows: dict[str, object]) -> None:
    """Print a scenario's figures as an aligned table under its title."""
    width = max(len(name) for name in rows)
    print(f"\n== {title}")
    for name, value in rows.items():
        print(f"   {name:<{width}}  {value}")


def run_together(tasks: list[Callable[[], object]], *, timeout: float) -> list[object]:
    """Run every task in a thread of its own, released at the same moment; their results, in order.

    Fails if any thread is still running after `timeout` seconds (the clients' own timeouts
    should have ended it: a hang).
    """
    barrier = threading.Barrier(len(tasks))
    results: list[object] = [None] * len(tasks)
    failures: list[BaseException] = []

    def run(index: int, task: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = task()
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(index, task), daemon=True) for index, task in enumerate(tasks)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {len(threads)} clients still waiting after {timeout:g} s"
    if failures:
        raise failures[0]
    return results

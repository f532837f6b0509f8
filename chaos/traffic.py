"""Readers and writers that keep using the portal while the database is stopped or frozen.

Readers page the worklist and open gaps; writers each own a few gaps, add remarks to them (each
with a note of its own, so an acknowledged remark can be looked for afterwards) and assign them
with the version they last saw; a probe asks `/health/ready`. Every answer is recorded with when
its request started, so a scenario can tell what was answered before, during and after a fault.
"""

import itertools
import threading
import time
import uuid

from chaos.http import Answer, Client, Recorder

PAUSE = 0.05  # seconds between one client's requests
READERS = 4
WRITERS = 4
GAPS_PER_WRITER = 2
API_LABELS = ("read", "remark", "assign")


class Traffic:
    """`READERS` readers, `WRITERS` writers (assigning their gaps to `assignee` and back to no one)
    and a readiness probe against `stack`, until `stop()`."""

    def __init__(
        self,
        stack,
        tokens: dict[str, str],
        gaps: list[dict],
        assignee: int,
        *,
        timeout: float,
        ready_timeout: float,
    ):
        self.stack = stack
        self.tokens = tokens
        self.gaps = gaps
        self.assignee = assignee
        self.timeout = timeout
        self.ready_timeout = ready_timeout
        self.recorder = Recorder()
        self.remarks: list[str] = []  # notes of remarks answered 201
        self.assigned: list[tuple[int, int, int | None]] = []  # (gap, version, assignee) answered 200
        self.run_id = uuid.uuid4().hex[:8]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        roles = [(self._reader, number) for number in range(READERS)]
        roles += [(self._writer, number) for number in range(WRITERS)]
        roles.append((self._probe, 0))
        for target, number in roles:
            thread = threading.Thread(target=target, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop every client after its request in flight (each is bounded by its timeout)."""
        self._stop.set()
        deadline = time.monotonic() + self.timeout + 5
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        assert not any(thread.is_alive() for thread in self._threads), "a client is still waiting"

    def _client(self, username: str | None) -> Client:
        token = self.tokens[username] if username else None
        return Client(self.stack.base_url, token, self.recorder, timeout=self.timeout)

    def _reader(self, number: int) -> None:
        client = self._client("care.manager")
        gap_ids = itertools.cycle(gap["id"] for gap in self.gaps)
        for turn in itertools.count():
            if self._stop.is_set():
                return
            if (turn + number) % 2:
                client.get("/api/gaps/?contract=H9001&measure=COL", label="read")
            else:
                client.get(f"/api/gaps/{next(gap_ids)}/", label="read")
            time.sleep(PAUSE)

    def _writer(self, number: int) -> None:
        client = self._client("care.manager")
        mine = self.gaps[number * GAPS_PER_WRITER : (number + 1) * GAPS_PER_WRITER]
        versions = {gap["id"]: gap["version"] for gap in mine}
        for turn in itertools.count():
            if self._stop.is_set():
                return
            gap_id = mine[turn % len(mine)]["id"]
            note = f"chaos {self.run_id} writer {number} turn {turn}"
            answer = client.post(
                f"/api/gaps/{gap_id}/remarks/", json={"code": "other", "note": note}, label="remark"
            )
            if answer.status == 201:
                self.remarks.append(note)
            # Each accepted assignment flips the gap between the assignee and no one.
            assignee = self.assignee if versions[gap_id] % 2 else None
            answer = client.post(
                f"/api/gaps/{gap_id}/assign/",
                json={"assignee": assignee, "version": versions[gap_id]},
                label="assign",
            )
            if answer.status == 200:
                versions[gap_id] = answer.body["version"]
                self.assigned.append((gap_id, answer.body["version"], assignee))
            elif answer.status == 409:
                # An assignment whose answer was lost (a 503 after its commit) moved the version on.
                current = client.get(f"/api/gaps/{gap_id}/", label="read")
                if current.status == 200:
                    versions[gap_id] = current.body["version"]
            time.sleep(PAUSE)

    def _probe(self, number: int) -> None:
        client = self._client(None)
        while not self._stop.is_set():
            client.get("/health/ready", label="ready", timeout=self.ready_timeout)
            time.sleep(PAUSE * 4)

    def answers(self, **selection) -> list[Answer]:
        return self.recorder.select(**selection)

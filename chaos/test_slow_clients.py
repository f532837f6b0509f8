"""Scenario 7: slow clients.

Sixteen connections each send a request's header one line every 2 s (a slowloris). Meanwhile an
ordinary client's requests must still answer within 5 s: the server may cut the slow ones off, but
must not let them hold every request thread. (Passes behind nginx, which reads a request whole
before gunicorn sees it; gunicorn alone gives each slow header a thread.)
"""

import socket
import threading
import time
from collections import Counter

import pytest

from chaos.http import Client, Recorder, figures, slowest, statuses

SLOW_CLIENTS = 16
LINE_EVERY = 2.0
SLOW_FOR = 16.0
PROBE_EVERY = 0.5
PROBE_BOUND = 5.0


def _slow_request(port: int, number: int, until: float) -> str:
    """Send a request's header a line at a time until `until`, then end it; what became of it."""
    started = time.monotonic()
    lines = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_BOUND) as connection:
            connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while time.monotonic() < until:
                time.sleep(LINE_EVERY)
                connection.sendall(f"X-Slow-{lines}: {number}\r\n".encode())
                lines += 1
            connection.sendall(b"Connection: close\r\n\r\n")
            status_line = connection.recv(64).split(b"\r\n")[0].decode(errors="replace")
    except OSError:
        return f"cut off after {round(time.monotonic() - started)} s"
    return f"answered {status_line.split(' ')[1] if status_line else 'nothing'}"


@pytest.mark.budget(60)
def test_ordinary_requests_answer_within_5_s_while_sixteen_clients_send_headers_slowly(stack, tokens):
    until = time.monotonic() + SLOW_FOR
    outcomes: list[str] = []
    slow = [
        threading.Thread(
            target=lambda n=number: outcomes.append(_slow_request(stack.port, n, until)), daemon=True
        )
        for number in range(SLOW_CLIENTS)
    ]
    for thread in slow:
        thread.start()
    time.sleep(1.0)  # every slow connection open, its first lines sent
    recorder = Recorder()
    client = Client(stack.base_url, tokens["care.manager"], recorder, timeout=PROBE_BOUND + 1)
    # A new connection each time, as from many clients: a kept-alive one can get through a server
    # that makes new ones wait.
    client.session.headers["Connection"] = "close"
    probes = 0
    while time.monotonic() < until:
        path = "/api/gaps/?contract=H9001&measure=COL" if probes % 2 else "/health/live"
        client.get(path, label="ordinary")
        probes += 1
        time.sleep(PROBE_EVERY)
    for thread in slow:
        thread.join(PROBE_BOUND + LINE_EVERY + 5)
    answers = recorder.select()
    figures(
        "7. slow clients",
        {
            "slow connections": f"{SLOW_CLIENTS}, a header line every {LINE_EVERY:g} s for {SLOW_FOR:g} s",
            "what became of them": dict(Counter(outcomes)),
            "ordinary requests": len(answers),
            "statuses": statuses(answers),
            "answer times": slowest(answers),
        },
    )
    assert len(outcomes) == SLOW_CLIENTS, "a slow client is still sending"
    assert all(answer.status == 200 for answer in answers), statuses(answers)
    assert max(answer.elapsed for answer in answers) <= PROBE_BOUND, slowest(answers)

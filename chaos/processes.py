"""Processes the suite starts: each in a process group of its own, found again by PID, ended by PID."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(command: list[str], *, env: dict, log: Path, user: str | None = None) -> subprocess.Popen:
    """Start `command` from the project folder in a new session (so its PID is its process group's),
    its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
        )


def end(process: subprocess.Popen, *, signum: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """End the process group that `process` leads: `signum`, then SIGKILL after `grace` seconds."""
    try:
        os.killpg(process.pid, signum)
        process.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    # Whatever of its group is left (children that outlived it, or a leader that ignored `signum`).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def end_with_descendants(process: subprocess.Popen, *, grace: float) -> None:
    """`end` the process, then SIGKILL those of its descendants (as they were before) that outlived it:
    children that put themselves in process groups of their own."""
    family = [(pid, command_line(pid)) for pid in descendants(process.pid)]
    end(process, grace=grace)
    for pid, line in family:
        # Still that process, not a new one that got its PID.
        if line and command_line(pid) == line:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) is in parentheses and may hold spaces: the parent follows the last ")".
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(pid: int) -> list[int]:
    """The PIDs of every living process below `pid`, parents before their children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def command_line(pid: int) -> str:
    """The process's command line, words joined by spaces ("" once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1):
    """Poll `condition` until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)

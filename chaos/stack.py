"""The served portal: web server and job worker against the private cluster, ended by PID.

`SERVE_COMMANDS` is the one place that says how the portal is served; each command runs in a
process group of its own, ended by its PID, and whatever it started that outlives it is ended by
PID too. The job worker and gunicorn are found among their descendants by their command lines, so
a scenario can pause or kill the worker whichever way it was started.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from chaos.processes import (
    ROOT,
    command_line,
    descendants,
    end_with_descendants,
    free_port,
    spawn,
    wait_until,
)

# As `make run` serves it: nginx on $PORT in front of gunicorn (gunicorn.conf.py, 2 workers x 4
# threads), and a database job worker; scripts/serve stops all three when one of them ends.
SERVE_COMMANDS = [[str(ROOT / "scripts" / "serve")]]
# Long enough for gunicorn's graceful stop (30 s) of requests still in flight.
STOP_GRACE = 35.0


class Stack:
    """The portal served on `base_url`, with its job worker(s); `stop()` ends every process it started."""

    def __init__(self, env: dict, logs: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PORT": str(self.port)}
        self.logs = logs
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        for number, command in enumerate(SERVE_COMMANDS):
            self.processes.append(spawn(command, env=self.env, log=self.logs / f"serve-{number}.log"))
        wait_until(self._ready, timeout=60, what=f"the portal on {self.base_url} to be ready")

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/health/ready", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _pids(self) -> list[int]:
        pids = []
        for process in self.processes:
            if process.poll() is None:
                pids += [process.pid, *descendants(process.pid)]
        return pids

    def worker_pids(self) -> list[int]:
        """The PIDs of the job workers running now."""
        return [pid for pid in self._pids() if "db_worker" in command_line(pid)]

    def web_pids(self) -> set[int]:
        """The PIDs of the web server's processes (master and workers)."""
        return {pid for pid in self._pids() if "gunicorn" in command_line(pid)}

    def signal_workers(self, signum: int) -> list[int]:
        """Send `signum` to every job worker (SIGSTOP pauses, SIGCONT resumes, SIGKILL kills); their PIDs."""
        pids = self.worker_pids()
        for pid in pids:
            os.kill(pid, signum)
        return pids

    def replaced_worker(self, killed: list[int], seconds: float) -> float:
        """Seconds until a job worker other than `killed` runs (scripts/serve replaces one that ends)."""
        started = time.monotonic()
        while not set(self.worker_pids()) - set(killed):
            if time.monotonic() - started > seconds:
                raise AssertionError(f"no job worker replaced {killed} within {seconds:g} s")
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self) -> None:
        self.signal_workers(signal.SIGCONT)
        for process in reversed(self.processes):
            end_with_descendants(process, grace=STOP_GRACE)
        self.processes = []

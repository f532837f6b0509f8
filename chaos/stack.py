"""The served portal: web server and job worker against the private cluster, ended by PID.

`SERVE_COMMANDS` is the one place that says how the portal is served; each command runs in a
process group of its own. The job worker is found among their descendants by its command line,
so a scenario can pause or kill it whichever way it was started.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from chaos.processes import command_line, descendants, end, free_port, spawn, wait_until

BIN = Path(sys.executable).parent
WORKER = [sys.executable, "manage.py", "db_worker", "--no-reload", "--interval", "0.5"]
# gunicorn (gunicorn.conf.py: 2 workers x 4 threads) on $GUNICORN_BIND, and a database job worker,
# as `make run` serves the portal.
SERVE_COMMANDS = [[str(BIN / "gunicorn"), "hedis_portal.wsgi"], WORKER]


class Stack:
    """The portal served on `base_url`, with its job worker(s); `stop()` ends every process it started."""

    def __init__(self, env: dict, logs: Path):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PORT": str(self.port), "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
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

    def start_worker(self) -> None:
        """One more job worker, in a group of its own, ended with the stack."""
        self.processes.append(spawn(WORKER, env=self.env, log=self.logs / "worker-extra.log"))

    def stop(self) -> None:
        self.signal_workers(signal.SIGCONT)
        for process in reversed(self.processes):
            end(process)
        self.processes = []

"""A PostgreSQL cluster of the suite's own: `initdb` in a temporary folder, its own port on 127.0.0.1.

Faults that stop or freeze the database happen here, never on the shared server other tests use.
PostgreSQL refuses to run as root: when the suite runs as root, the folder is given to the
`postgres` user and `initdb` and the server run as that user (the postmaster is still the
process the suite started, so its PID is known).
"""

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg

from chaos.processes import descendants, end, free_port, spawn, wait_until

POSTGRES_USER = "postgres"


def _bindir() -> Path:
    """Where PostgreSQL's server programs are: `pg_config --bindir`, else Debian's PostgreSQL 15."""
    try:
        found = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    except FileNotFoundError:
        found = Path()
    return found if (found / "initdb").exists() else Path("/usr/lib/postgresql/15/bin")


class PrivateCluster:
    """One cluster in `folder`: start, stop (fast shutdown), freeze (SIGSTOP), thaw, close."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.bindir = _bindir()
        self.as_user = POSTGRES_USER if os.geteuid() == 0 else None
        self.postmaster: subprocess.Popen | None = None
        self.frozen: list[int] = []
        if self.as_user:
            shutil.chown(folder, user=self.as_user)
        subprocess.run(
            [self.bindir / "initdb", "-D", self.data, "-A", "trust", "-U", POSTGRES_USER],
            user=self.as_user,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def url(self, database: str) -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def accepting(self) -> bool:
        """Whether the server answers a query now (a new connection, bounded by its timeout)."""
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def start(self) -> None:
        """Start the postmaster on the cluster's data and port, and wait until it answers."""
        self.postmaster = spawn(
            [
                str(self.bindir / "postgres"),
                *("-D", str(self.data), "-p", str(self.port), "-k", str(self.folder)),
                *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
            ],
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
            log=self.log,
            user=self.as_user,
        )
        wait_until(self.accepting, timeout=30, what=f"the private cluster on port {self.port} to answer")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended, then a checkpoint), as `pg_ctl stop` does."""
        end(self.postmaster, signum=signal.SIGINT, grace=30)
        self.postmaster = None

    def freeze(self) -> None:
        """SIGSTOP the postmaster, then every process below it: connections stay open, nothing answers."""
        self.frozen = [self.postmaster.pid]
        os.kill(self.postmaster.pid, signal.SIGSTOP)
        for pid in descendants(self.postmaster.pid):
            os.kill(pid, signal.SIGSTOP)
            self.frozen.append(pid)

    def thaw(self) -> None:
        """SIGCONT whatever `freeze` stopped, children first."""
        for pid in reversed(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def close(self) -> None:
        """Thaw, stop and remove the cluster."""
        self.thaw()
        if self.postmaster is not None:
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

"""Keeps HiGHS's stray console prints off the process's standard output.

The HiGHS inside SciPy (1.12 in SciPy 1.17) prints
"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();" with a bare C `printf`
each time it repairs an incumbent found on the presolved problem, whatever `disp` or
`output_flag` say (ERGO-Code/HiGHS#2783). C stdio writes to file descriptor 1, where replacing
`sys.stdout` cannot reach, so `manage.py optimize --json` printed that line into its JSON and a
web or task worker's stdout collected it. Every solve therefore runs with fd 1 on /dev/null.
"""

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["native_stdout_silenced"]

# The process's C library: `fflush(NULL)` empties every C stdio buffer, HiGHS's included. Without
# it, text HiGHS printed into a (pipe's, fully buffered) `stdout` buffer would reach the restored
# fd 1 at the next flush or at exit.
_libc = ctypes.CDLL(None)
# fd 1 belongs to the process: overlapping solves share one redirection, and the last one out
# restores it (otherwise the second would "restore" /dev/null and stdout would stay lost).
_lock = threading.Lock()
_depth = 0
_saved_stdout: int | None = None


@contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Point file descriptor 1 at /dev/null while the block runs; restore it however it ends.

    Python text written before the block is flushed to the real stdout first. The redirection is
    process-wide, so it assumes nothing else writes to stdout during a solve: true of the
    management commands and the task worker (the solve runs in the only thread that prints), not
    of a threaded web server, where another thread's stdout (gunicorn's access log) written during
    a solve is discarded. stderr is left alone, so crashes and warnings still show.
    """
    global _depth, _saved_stdout
    with _lock:
        if _depth == 0:
            if sys.stdout is not None:
                sys.stdout.flush()
            _libc.fflush(None)
            _saved_stdout = os.dup(1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _libc.fflush(None)
                os.dup2(_saved_stdout, 1)
                os.close(_saved_stdout)
                _saved_stdout = None

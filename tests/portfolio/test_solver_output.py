"""What a solve may write to file descriptor 1: nothing, while the caller's own output still shows."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ratings.portfolio.solver_output import native_stdout_silenced

ROOT = Path(__file__).resolve().parents[2]


def test_writes_to_fd_1_inside_the_block_are_discarded(capfd):
    os.write(1, b"before ")
    with native_stdout_silenced():
        os.write(1, b"solver noise ")
    os.write(1, b"after")
    assert capfd.readouterr().out == "before after"


def test_stdout_is_restored_when_the_solve_raises(capfd):
    with pytest.raises(RuntimeError), native_stdout_silenced():
        os.write(1, b"solver noise ")
        raise RuntimeError("solver failed")
    os.write(1, b"after")
    assert capfd.readouterr().out == "after"


def test_overlapping_solves_restore_stdout_only_when_the_last_one_ends(capfd):
    first, second = native_stdout_silenced(), native_stdout_silenced()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    os.write(1, b"second still solving ")
    second.__exit__(None, None, None)
    os.write(1, b"after")
    assert capfd.readouterr().out == "after"


def _run_buffered(script: str) -> str:
    """stdout of a Python child writing to a pipe, buffered as in production (C stdio and Python)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_c_printf_left_in_the_stdio_buffer_is_discarded_too():
    # No newline and a pipe: HiGHS's text would sit in the C buffer and reach the restored stdout
    # at exit, after the JSON, unless the block empties that buffer while stdout is /dev/null.
    out = _run_buffered(
        """
        import ctypes
        from ratings.portfolio.solver_output import native_stdout_silenced
        with native_stdout_silenced():
            ctypes.CDLL(None).printf(b"HighsMipSolverData::transformNewIntegerFeasibleSolution ")
        print("after")
        """
    )
    assert out == "after\n"


def test_python_text_printed_before_the_solve_is_not_lost():
    # "before" sits in Python's buffer; a flush during the solve must not send it to /dev/null.
    out = _run_buffered(
        """
        import os, sys
        from ratings.portfolio.solver_output import native_stdout_silenced
        print("before", end=" ")
        with native_stdout_silenced():
            os.write(1, b"solver noise ")
            sys.stdout.flush()
        print("after")
        """
    )
    assert out == "before after\n"

"""`optimize --json` and `forecast --json` print one JSON document on stdout, and nothing else.

Run as real processes on the demo: HiGHS writes its stray lines to file descriptor 1 from C, which
`call_command` with a StringIO would never see.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """The environment of a process on a freshly loaded demo database."""
    folder = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}"}
    for command in (["migrate", "-v0"], ["load_demo_data"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return env


def _stdout(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.stdout


def test_optimize_json_prints_one_json_document_and_no_solver_lines(demo_env):
    # H9002 at $50,000: HiGHS repairs incumbents found on the presolved problem and printf()s
    # "HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();" each time.
    out = _stdout(
        demo_env,
        "optimize",
        "--contract",
        "H9002",
        "--measurement-year",
        "2026",
        "--budget",
        "50000",
        "--json",
    )
    assert "Highs" not in out
    plan = json.loads(out)  # "Extra data" or "Expecting value" if anything but one document is printed
    assert plan["solver_status"] == "optimal"
    assert plan["budget"] == 50000.0
    assert 0 < plan["total_cost"] <= 50000.0


def test_forecast_json_prints_one_json_document(demo_env):
    out = _stdout(demo_env, "forecast", "--contract", "H9002", "--measurement-year", "2026", "--json")
    outlook = json.loads(out)
    assert outlook["current_rating"] == 3.5
    assert 0.0 <= outlook["p_overall_at_least_4"] <= 1.0

"""`manage.py bench --quick --json`: the harness produces every figure, so it never rots.

Timings are not asserted (a test machine is not a benchmark machine); the figures' presence and
shape are. PostgreSQL only: the baselines are COPY statements. The bench commits and vacuums as
it does in production, so it runs outside a test transaction (`transaction=True`): tens of
thousands of rows rolled back at the end of a test would stay behind as dead rows under the
statistics of every later test.
"""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from members.models import Contract
from synthetic.bench.plan import BENCH_CONTRACT_ID, BENCH_SECOND_CONTRACT_ID

FIGURES = [
    "worklist page",
    "worklist, care manager, one contract (worst filter)",
    "worklist, quality analyst, two contracts (worst filter)",
    "worklist, administrator, two contracts (worst filter)",
    "admin pages, care manager, one contract (slowest)",
    "admin pages, quality analyst, two contracts (slowest)",
    "admin pages, administrator, two contracts (slowest)",
    "member history",
    "served throughput (worklist, member history, remarks; concurrency 8)",
    "live contract rating",
    "portfolio snapshot",
    "optimizer",
    "job accepted (POST /api/forecasts/)",
    "job picked up by an idle db_worker",
    "prediction ingest (new model version: inserts)",
    "prediction ingest",
    "gap CSV import",
    "gap CSV re-import (unchanged)",
    "prototype: single prediction insert",
    "prototype: 100-row prediction batch",
    "prototype: gap list",
    "prototype: portfolio snapshot",
    "prototype: member history",
]
NUMBERS = ("median", "p95", "baseline_median", "ratio")

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the benchmark's baselines are PostgreSQL COPY statements; run with DATABASE_URL=postgres://…",
)


@postgresql_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_quick_run_writes_every_figure_with_numbers_and_leaves_no_plan(tmp_path):
    path = tmp_path / "bench.json"
    call_command("bench", "--quick", "--json", str(path), stdout=StringIO())
    figures = {figure["name"]: figure for figure in json.loads(path.read_text())}
    assert list(figures) == FIGURES
    served = figures.pop("served throughput (worklist, member history, remarks; concurrency 8)")
    for figure in figures.values():
        assert figure["unit"] in {"ms", "rows/s"}
        assert isinstance(figure["target"], str) and figure["target"]
        assert isinstance(figure["met"], bool)
        for field in NUMBERS:
            assert isinstance(figure[field], float) and figure[field] > 0, (figure["name"], field)
    # The served portal at each concurrency, over HTTP: every request answered as it should be.
    assert [level["concurrency"] for level in served["levels"]] == [1, 4, 8, 16]
    for level in served["levels"]:
        assert level["requests"] > 0 and level["throughput"] > 0 and level["p95_ms"] >= level["p50_ms"] > 0
        assert level["errors"] == 0, level["first_errors"]
    eight, one = served["levels"][2], served["levels"][0]
    assert served["unit"] == "req/s"
    assert (served["median"], served["baseline_median"]) == (eight["throughput"], one["throughput"])
    assert served["ratio"] == pytest.approx(eight["throughput"] / one["throughput"])
    # The optimizer's wall time beside its own core solve (same runs), and the ratio between them.
    optimizer = figures["optimizer"]
    assert optimizer["wall_median"] == optimizer["median"]
    assert optimizer["core_solve_median"] == optimizer["baseline_median"] < optimizer["median"]
    assert (
        optimizer["wall_to_core_solve"]
        == optimizer["ratio"]
        == pytest.approx(optimizer["median"] / optimizer["core_solve_median"])
    )
    assert optimizer["forecast_run_median"] > 0
    # Each persona's worklist: the slowest of every filter × ordering, named, beside its raw SQL.
    # And each persona's admin pages: the slowest of the worklist's filters and sorts and the other
    # pages, named, beside its own SELECTs run raw.
    for persona in ("care_manager", "analyst", "administrator"):
        worklist, admin = [f for f in figures.values() if f.get("persona") == persona]
        assert worklist["combinations"] == len(worklist["scan_medians_ms"]) > 50
        assert worklist["worst_request"] in worklist["scan_medians_ms"]
        assert admin["pages"] == len(admin["scan_medians_ms"]) > 20
        assert admin["slowest_page"] in admin["scan_medians_ms"]
    assert not Contract.objects.filter(contract_id__in=[BENCH_CONTRACT_ID, BENCH_SECOND_CONTRACT_ID]).exists()


def test_the_bench_refuses_anything_but_postgresql(settings):
    if connection.vendor == "postgresql":
        pytest.skip("refusal is for databases other than PostgreSQL")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("bench", "--quick")

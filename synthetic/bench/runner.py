"""Run the whole benchmark: build the plan, measure every figure, print the table, drop the plan."""

from __future__ import annotations

import gc
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from auditlog.context import set_actor
from django.db import connection
from django.utils import timezone

from synthetic.bench import figures
from synthetic.bench.admin_pages import admin_pages
from synthetic.bench.jobs import job_figures
from synthetic.bench.optimizer import optimizer
from synthetic.bench.plan import plan_create, plan_drop, plan_vacuum
from synthetic.bench.served import served_throughput
from synthetic.bench.timing import Figure

QUICK_MEMBERS = 1_000


# Server settings that move the figures, printed with them.
SERVER_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "jit",
    "synchronous_commit",
    "random_page_cost",
)


class BenchUnavailable(RuntimeError):
    """The configured database cannot run the benchmark (it needs PostgreSQL)."""


@dataclass
class BenchResult:
    """The figures, the machine they were measured on, and (on request) the two query plans."""

    table: list[Figure]
    machine: list[str]
    plans: dict[str, str] = field(default_factory=dict)


def machine_summary() -> list[str]:
    """CPU, memory, Python and PostgreSQL (version and the settings that matter here)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
            [list(SERVER_SETTINGS)],
        )
        server = ", ".join(f"{name}={value}" for name, value in cursor.fetchall())
    return [
        f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, "
        f"Python {platform.python_version()}",
        f"PostgreSQL {version}: {server}",
    ]


def scale_for(members: int, *, quick: bool) -> figures.Scale:
    """Runs and sizes: a real plan's sizes at plan scale (docs/performance.md), small ones for `--quick`.

    The gap file has 5 rows per member (1,000,000 at 200,000 members); ingest batches are
    10,000 rows unless the plan is too small to give every run fresh rows.
    """
    runs = 2 if quick else 6
    warmup = 1
    batch = min(10_000, members * 6 // (2 * (warmup + runs)))
    return figures.Scale(
        warmup=warmup,
        repeats=10 if quick else 200,
        write_repeats=runs,
        batch_rows=batch,
        import_rows=members * 5,
    )


def run_bench(
    *,
    members: int,
    quick: bool,
    progress: Callable[[str], None],
    keep: bool = False,
    explain: bool = False,
) -> BenchResult:
    """Build a plan of `members` members, measure every figure, and drop the plan (unless `keep`).

    With `explain`, the worklist query and the rating aggregate are also run under EXPLAIN
    ANALYZE on the fresh plan, before any figure writes to it.
    """
    if connection.vendor != "postgresql":
        raise BenchUnavailable(
            "The benchmark needs PostgreSQL (COPY baselines, plan scale): set DATABASE_URL=postgres://…"
        )
    if connection.in_atomic_block:
        raise BenchUnavailable(
            "The benchmark commits its plan and vacuums between figures: run it outside a transaction."
        )
    machine = machine_summary()
    for line in machine:
        progress(line)
    measurement_year = timezone.localdate().year
    scale = scale_for(members, quick=quick)
    started = time.perf_counter()
    progress(f"Loading a synthetic plan of {members:,} members with COPY…")
    plan = plan_create(members=members, measurement_year=measurement_year)
    progress(
        f"  {plan.member_count:,} members, {plan.gap_count:,} gaps, {plan.gap_count:,} predictions, "
        f"{len(plan.outreach_members):,} interventions in {time.perf_counter() - started:.0f} s"
    )
    # Every timed run starts with a garbage collection (timing.measure_pair); frozen, the objects
    # that exist already (the plan's arrays, and in a test run the whole suite's) are not walked
    # by each of those collections again.
    gc.freeze()
    try:
        bench = figures.Bench.for_plan(plan, scale, progress)
        with set_actor(plan.users["administrator"]):
            progress("Measuring (reads first, then writes)…")
            worklist, worklist_samples = figures.worklist(bench)
            worklist += figures.worklist_personas(bench) + admin_pages(bench)
            history, history_samples = figures.member_history(bench)
            rating, _ = figures.live_rating(bench)
            snapshots, snapshot_samples = figures.snapshot(bench)
            plans = figures.explain_plans(bench) if explain else {}
            served = served_throughput(bench, quick=quick)
            planning = optimizer(bench, quick=quick) + job_figures(bench)
            # The optimizer re-scored every open gap's priority; vacuum as autovacuum would,
            # so its dead rows do not sit under the write figures.
            plan_vacuum()
            writes = figures.prediction_ingest(bench) + figures.gap_import(bench)
            prototype = figures.prototype_writes(bench) + figures.prototype_reads(
                worklist_samples, history_samples, snapshot_samples
            )
            table = worklist + history + served + rating + snapshots + planning + writes + prototype
    finally:
        gc.unfreeze()
        if not keep:
            progress("Dropping the synthetic plan…")
            plan_drop()
    progress(f"Done in {time.perf_counter() - started:.0f} s.")
    return BenchResult(table=table, machine=machine, plans=plans)


def _number(value: float | None, unit: str) -> str:
    """A figure's value as printed: rows/s without decimals, milliseconds with two under 100."""
    if value is None:
        return "—"
    if unit == "rows/s":
        return f"{value:,.0f}"
    if unit == "req/s":
        return f"{value:,.1f}"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def format_table(table: list[Figure]) -> str:
    """The figures as a fixed-width text table, each followed by its baseline and notes."""
    header = ("figure", "unit", "min/best", "median", "p95", "baseline", "ratio", "target", "met")
    rows = [
        (
            figure.name,
            figure.unit,
            _number(figure.best, figure.unit),
            _number(figure.median, figure.unit),
            _number(figure.p95, figure.unit),
            _number(figure.baseline_median, figure.unit),
            "—" if figure.ratio is None else f"{figure.ratio:.2f}",
            figure.target,
            "yes" if figure.met else "NO",
        )
        for figure in table
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for figure, row in zip(table, rows, strict=True):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if figure.baseline:
            lines.append(f"    baseline: {figure.baseline}")
        lines.extend(f"    {note}" for note in figure.notes)
    return "\n".join(lines)

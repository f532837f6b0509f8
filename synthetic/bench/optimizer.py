"""The optimizer figure: an optimizer run's wall time beside its core solve, and a forecast run alone.

The wall time is the whole `optimizer_run_create` (the context read from the database, the solve,
each gap's priority scored and written, the stored run); the core solve is `optimize` alone,
timed by the run itself (`result["timings"]["total"]`), so the ratio is what the database side
adds to the mathematics, in the same runs.
"""

from __future__ import annotations

from ratings.planning.services import forecast_run_create, optimizer_run_create
from synthetic.bench.figures import Bench
from synthetic.bench.timing import Figure, Samples, measure_pair

# $15 a member for the year: the round budget at which the synthetic plan (3.5 expected, below
# the 4-star boundary) can cross it; at $5 no plan within budget moves the rating, and the
# optimizer rightly spends nothing.
BUDGET_PER_MEMBER = 15.0
# A smaller plan gets the exact (non-aggregated) formulation, whose solves can run to their
# time limit; the quick run caps them so that it stays quick.
QUICK_TIME_LIMIT = 10.0
NAME = "optimizer"
TARGET = "wall ≤ 1.5 × the core solve, priorities included; report the optimality gap"
WALL_TO_SOLVE = 1.5


def optimizer(bench: Bench, *, quick: bool = False) -> list[Figure]:
    """`optimizer_run_create` (context, MILP, stored run, re-scored worklist) vs its own `optimize`,
    with `forecast_run_create` interleaved and reported beside them."""
    plan, scale = bench.plan, bench.scale
    budget = BUDGET_PER_MEMBER * plan.member_count
    analyst = plan.users["analyst"]
    contract, year = plan.contract, plan.measurement_year
    limits = {"time_limit": QUICK_TIME_LIMIT} if quick else {}
    runs = []

    def optimizer_run(run: int) -> None:
        runs.append(
            optimizer_run_create(
                contract=contract, measurement_year=year, user=analyst, budget=budget, **limits
            )
        )

    def forecast_run(run: int) -> None:
        forecast_run_create(contract=contract, measurement_year=year, user=analyst)

    repeats = max(1, scale.write_repeats // 2)
    subject, forecast = measure_pair(optimizer_run, forecast_run, warmup=0, repeats=repeats)
    core = Samples(tuple(run.result["timings"]["total"] for run in runs))
    result = runs[-1].result
    gap = runs[-1].optimality_gap
    figure = Figure.latency(
        NAME,
        subject,
        core,
        target=TARGET,
        met=lambda f: gap is not None and f.ratio <= WALL_TO_SOLVE,
        baseline_text="the core solve of the same runs (optimize: forecast, MILP, marginal value), "
        "timed by the run itself",
        notes=[
            f"budget ${budget:,.0f} (${BUDGET_PER_MEMBER:g} a member); {result.get('solver_status')}; "
            f"optimality gap {gap} (relative {result.get('relative_gap')}); "
            f"spent ${result.get('total_cost', 0):,.0f}",
            f"expected overall {result.get('expected_overall_before')} → "
            f"{result.get('expected_overall_after')}; P(≥ 4 stars) "
            f"{result.get('p_overall_at_least_4_before')} → {result.get('p_overall_at_least_4_after')}",
            f"a forecast run alone (forecast_run_create: the same context build, Monte Carlo), interleaved: "
            f"median {forecast.median * 1000:,.0f} ms",
        ],
    )
    figure.extra = {
        "optimality_gap": gap,
        "relative_gap": result.get("relative_gap"),
        "wall_median": figure.median,
        "core_solve_median": figure.baseline_median,
        "wall_to_core_solve": figure.ratio,
        "forecast_run_median": forecast.median * 1000,
    }
    bench.progress(
        f"  optimizer: median {figure.median:,.0f} ms, core solve {figure.baseline_median:,.0f} ms "
        f"(× {figure.ratio:.2f}), optimality gap {gap}"
    )
    return [figure]

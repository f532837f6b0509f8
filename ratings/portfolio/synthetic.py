"""A generated contract at any size, and the scale run a benchmark command times.

`synthetic_portfolio` builds an MA-PD contract on the 2026 methodology and the shipped 2026 cut
points with NumPy only: every member-level measure of the catalog, a share of the members in
each denominator, today's rate about 60% of the way to a year-end rate placed near a cut point,
Beta-distributed closure probabilities (5% without a prediction), contract-level stars of 2 to
5, and a five-type catalog with bundles and one capacity. `scale_run` forecasts and
optimizes it once and reports the timings and the headline figures.
"""

from __future__ import annotations

import time

import numpy as np

from ratings.cms.engine import ContractProfile, RatingType
from ratings.cms.methodology import DATA_DIR, Methodology, RatedAs
from ratings.cms.tables import load_tables
from ratings.portfolio.forecast import DEFAULT_DRAWS, forecast
from ratings.portfolio.inputs import ContractMeasure, InterventionType, MemberMeasure, PortfolioInput
from ratings.portfolio.optimize import optimize

__all__ = ["SYNTHETIC_CATALOG", "scale_run", "synthetic_portfolio"]

STAR_YEAR = 2026
FALLBACK_PROBABILITY = 0.15
# Enough to lift the generated contract from 3.5 to 4 stars at any size (≈ $740k of $1M at 200,000).
BUDGET_PER_MEMBER = 5.0
SYNTHETIC_CATALOG = (
    ("mailer", 3.0, {"C01": 0.03, "C02": 0.03, "C10": 0.03}, None),
    (
        "phone_call",
        12.0,
        {"C01": 0.08, "C02": 0.08, "C10": 0.08, "C11": 0.06, "C14": 0.06, "C19": 0.05},
        None,
    ),
    ("pharmacy_outreach", 18.0, {"D08": 0.12, "D09": 0.12, "D10": 0.12, "D12": 0.10, "C19": 0.08}, None),
    ("care_transition", 60.0, {"C17": 0.25, "C20": 0.25, "C21": 0.25}, None),
    ("home_visit", 150.0, {"C08": 0.3, "C09": 0.3, "C11": 0.3, "C12": 0.25, "C13": 0.3, "C14": 0.25}, 0.01),
)


def synthetic_portfolio(members: int, seed: int = 0) -> PortfolioInput:
    """A generated MA-PD contract of `members` members (about 6 open gaps per member)."""
    rng = np.random.default_rng(seed)
    methodology = Methodology.for_star_year(STAR_YEAR)
    tables = load_tables((DATA_DIR / str(STAR_YEAR)).glob("cut-points-*.csv"))
    member_level = [m for m in methodology.measures if m.member_level]
    measures = []
    for measure in member_level:
        cut = tables.cut_points_for(measure.id, "MA-PD")
        share = rng.uniform(0.45, 0.85)
        eligible_members = np.flatnonzero(rng.random(members) < share)
        eligible = eligible_members.size
        level = int(rng.integers(3, 6))
        # Half the measures end the year just short of a cut point (within reach of outreach),
        # the others well inside a star band.
        short = rng.uniform(0.001, 0.006) if rng.random() < 0.5 else rng.uniform(0.02, 0.04)
        year_end = float(cut.thresholds[level].value) / 100 - short
        today = 0.6 * year_end
        closed = round(today * eligible)
        open_members = rng.permutation(eligible_members)[: eligible - closed]
        mean = min(0.95, max(0.02, (year_end * eligible - closed) / max(1, open_members.size)))
        concentration = 4.0
        probabilities = rng.beta(mean * concentration, (1 - mean) * concentration, open_members.size)
        probabilities[rng.random(open_members.size) < 0.05] = np.nan
        measures.append(
            MemberMeasure(
                cms_id=measure.id,
                cut_points=cut,
                precision=measure.precision,
                closed=closed,
                eligible=eligible,
                gap_members=np.sort(open_members),
                gap_probabilities=probabilities,
            )
        )
    member_ids = {m.id for m in member_level}
    contract = [
        ContractMeasure(m.id, star=int(rng.choice([3, 4, 4, 4, 5])))
        for m in methodology.measures
        if m.id not in member_ids
    ]
    catalog = [
        InterventionType(code, cost, uplift, None if capacity is None else max(1, int(capacity * members)))
        for code, cost, uplift, capacity in SYNTHETIC_CATALOG
    ]
    profile = ContractProfile(
        contract_id="H9999",
        contract_type="ccp_without_snp",
        rated_as=RatedAs.MA_PD,
        fac={RatingType.OVERALL: 5, RatingType.PART_C: 5, RatingType.PART_D: 4},
    )
    return PortfolioInput(
        methodology=methodology,
        profile=profile,
        member_measures=tuple(measures),
        contract_measures=tuple(contract),
        interventions=tuple(catalog),
        fallback_probability=FALLBACK_PROBABILITY,
    )


def scale_run(
    members: int,
    *,
    seed: int = 0,
    budget: float | None = None,
    objective: str = "expected_overall",
    draws: int = DEFAULT_DRAWS,
) -> dict:
    """Generate, forecast and optimize one synthetic contract; timings and headline figures as JSON.

    The budget defaults to `BUDGET_PER_MEMBER` dollars per member.
    """
    started = time.perf_counter()
    portfolio = synthetic_portfolio(members, seed)
    generated = time.perf_counter()
    projection = forecast(portfolio, draws=draws, seed=seed)
    forecasted = time.perf_counter()
    plan = optimize(
        portfolio,
        budget if budget is not None else BUDGET_PER_MEMBER * members,
        objective,
        draws=draws,
        seed=seed,
    )
    optimized = time.perf_counter()
    return {
        "members": members,
        "open_gaps": portfolio.gap_count(),
        "measures": len(portfolio.member_measures),
        "draws": draws,
        "seed": seed,
        "seconds": {
            "generate": round(generated - started, 3),
            "forecast": round(forecasted - generated, 3),
            "optimize": round(optimized - forecasted, 3),
            "optimize_steps": {k: round(v, 3) for k, v in plan.timings.items()},
        },
        "expected_overall": projection.expected_rating,
        "p_overall_at_least_4": projection.p_at_least_4,
        "plan": {
            "objective": plan.objective,
            "budget": plan.budget,
            "total_cost": plan.total_cost,
            "interventions": len(plan.interventions),
            "expected_overall_before": plan.expected_overall_before,
            "expected_overall_after": plan.expected_overall_after,
            "p_overall_at_least_4_before": plan.forecast_before.p_at_least_4,
            "p_overall_at_least_4_after": plan.forecast_after.p_at_least_4,
            "objective_value": plan.objective_value,
            "objective_bound": plan.objective_bound,
            "optimality_gap": plan.optimality_gap,
            "solver_status": plan.solver_status,
            "aggregated": plan.aggregated,
            "candidates": plan.candidate_count,
            "classes": plan.class_count,
            "milp_size": plan.milp_size,
        },
    }

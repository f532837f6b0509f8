"""Budget optimizer: which members get which interventions, to maximize the rating or P(rating ≥ 4).

The steps, each reported with its time:

1. Forecast today (Monte Carlo) and the value of an expected closure per measure (`priority`).
2. Candidates: (member, type) pairs, exact or aggregated into classes (`candidates`), and a
   small relaxation of them (one column per type and set of worked measures).
3. MILP (`milp`), solved by HiGHS, lexicographically, for the surrogate of `surrogate`:
   first, for each attainable rating level r (just 4.0 for "p_at_least_4"), the largest
   Σ log P(target reached) over targets rated ≥ r; the level with the best value wins (for
   "expected_overall" value = R₀ + (R(target) − R₀) · P(target), for "p_at_least_4" P(target)).
   Levels are searched by branch and bound with the relaxation's bounds (`_search`). Then the
   cheapest plan for the winning target star vector keeping its log-probability (money that buys
   nothing stays unspent). If no target of 4 stars or more is reachable, "p_at_least_4" falls
   back to "expected_overall" and says so.
4. Aggregated: round the class counts (down, then up by value per dollar within the budget).
   Expand class counts to members, best first (the worklist's order).
5. Score the realized plan by the surrogate (its objective value) and bound the optimum by the
   relaxation's HiGHS dual bounds (tightened by the exact MILP's own in exact mode), so
   optimality_gap = bound − realized value is a proven gap for the surrogate objective.
6. Forecast the plan (Monte Carlo, same seed, so before/after differ by the plan, not by noise),
   and the marginal value of the next dollar: the budget row's LP dual at the chosen target, and
   the first stage re-solved at budget + step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr

from ratings.portfolio.candidates import (
    Candidates,
    Expansion,
    apply_interventions,
    build_candidates,
    dense_probabilities,
    expand,
    probabilities_of,
    relaxation,
)
from ratings.portfolio.forecast import DEFAULT_DRAWS, Forecast, forecast_prepared
from ratings.portfolio.inputs import PortfolioInput, PortfolioInputError
from ratings.portfolio.milp import Formulation, MilpResult
from ratings.portfolio.model import Prepared, prepare
from ratings.portfolio.plan import ChosenIntervention, GapEffect, MeasurePlan, Plan, json_number
from ratings.portfolio.priority import marginal_values, plan_values
from ratings.portfolio.surrogate import (
    CONTINUITY,
    OBJECTIVES,
    SurrogateValue,
    closure_gradient,
    evaluate,
    objective_value,
    sigma_bound,
)

__all__ = [
    "EXACT_MAX_CANDIDATES",
    "ChosenIntervention",
    "GapEffect",
    "MeasurePlan",
    "Plan",
    "optimize",
    "with_interventions",
]

# Up to this many (member, type) candidates each gets its own binary variable; beyond, classes.
# Exact binary knapsacks of a few thousand items can already take HiGHS tens of seconds.
EXACT_MAX_CANDIDATES = 2_000
DEFAULT_BUCKET_WIDTH = 0.02
# HiGHS gaps are relative to 1 + |Σ log P| (see `Formulation.solve`). 1e-3 is 0.1% of the target's
# probability: below what the classes' aggregation costs, and below the Monte Carlo's resolution
# that scores every plan (its standard error on a probability is ~0.5% at 10,000 draws). Tighter
# gaps are slow to prove on exact problems of a thousand or more binaries (each tenfold tightening
# takes HiGHS many times longer, or past its time limit), for plans whose surrogate values differ
# by a few ten-thousandths of a star. Pass `mip_rel_gap` to ask for more.
MIP_GAP = 1e-3
# The relaxation is small: solving it tightly costs milliseconds and sharpens the reported bound.
RELAXATION_MIP_GAP = 1e-6
RELAXATION_TIME_LIMIT = 10.0
# Stages that only improve a plan already in hand get this long: the full MILP after the
# aggregated one, and the cheapest plan for the chosen target (proving the cheapest exact knapsack
# can take HiGHS its whole time limit, for a plan barely cheaper than the first).
POLISH_TIME_LIMIT = 5.0
# The cheapest-plan stage keeps the first stage's Σ log P up to this much.
LOG_PROBABILITY_TOLERANCE = 1e-7
# ... and proves its cost within this fraction of the cheapest (1% of a $15,000 plan is $150). The
# plan's value is held by the Σ log P row; at 1e-3 the exact knapsack on the 1,000-member plan
# after re-scored predictions (1,462 binaries, distinct gains) ran to its 5 s limit for a plan
# $10 cheaper than the one found at 1e-2 in 0.1 s.
COST_MIP_GAP = 1e-2
MARGINAL_TIME_LIMIT = 5.0
MARGINAL_MIP_GAP = 1e-4
# "The value of the next $10,000": the step the marginal re-solve adds to the budget, in dollars.
MARGINAL_STEP = 10_000.0
# Money left below half a cent is rounding: the budget is spent.
UNSPENT_ROUNDING = 0.005


def _check_request(prepared: Prepared, budget: float, objective: str) -> None:
    """Bad budgets, objectives and catalogs fail loudly, never as an empty plan."""
    if objective not in OBJECTIVES:
        raise PortfolioInputError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not math.isfinite(budget)
        or budget <= 0
    ):
        raise PortfolioInputError(f"budget must be a positive amount, got {budget!r}")
    open_gaps = sum(int(np.count_nonzero(m.probabilities < 1.0)) for m in prepared.measures)
    if open_gaps == 0:
        raise PortfolioInputError("the portfolio has no open gaps to work")
    if not prepared.types:
        raise PortfolioInputError("the intervention catalog is empty")
    applicable = [
        t
        for t in range(len(prepared.types))
        if any(prepared.uplift[t, m.index] > 0 and np.any(m.probabilities < 1.0) for m in prepared.measures)
    ]
    if not applicable:
        raise PortfolioInputError(
            "no intervention in the catalog has an uplift on a measure with open gaps "
            f"(measures: {', '.join(m.cms_id for m in prepared.measures)})"
        )
    usable = [t for t in applicable if prepared.types[t].capacity != 0]
    if not usable:
        raise PortfolioInputError(
            "infeasible capacity: every applicable intervention type has capacity 0 "
            f"({', '.join(prepared.types[t].code for t in applicable)})"
        )
    cheapest = min(prepared.costs[t] for t in usable)
    if budget < cheapest:
        raise PortfolioInputError(
            f"budget {budget} is below the cheapest applicable intervention ({cheapest})"
        )


def _star_at_expectation(prepared: Prepared, expected: np.ndarray) -> np.ndarray:
    """The star each measure gets if exactly its expected closures happen (E ≥ n − ½)."""
    return np.array(
        [
            int(np.count_nonzero(m.needed[1:] - CONTINUITY <= expected[m.index] + 1e-6))
            for m in prepared.measures
        ]
    )


@dataclass(frozen=True, eq=False)
class _Level:
    """One target rating level: its relaxation bound and, unless pruned, the plan MILP's solve."""

    level: float
    relaxed: MilpResult
    upper: float
    result: MilpResult | None
    value: float

    def as_dict(self) -> dict:
        """JSON summary of the level's solves."""
        summary = {
            "min_rating": self.level,
            "relaxation_status": self.relaxed.status,
            "relaxation_bound": json_number(self.upper),
            "relaxation_seconds": round(self.relaxed.seconds, 4),
            "pruned": self.result is None,
        }
        if self.result is not None:
            summary.update(
                {
                    "status": self.result.status,
                    "log_probability": json_number(self.result.log_probability),
                    "value": json_number(self.value),
                    "mip_gap": json_number(self.result.mip_gap),
                    "seconds": round(self.result.seconds, 4),
                    "nodes": self.result.nodes,
                }
            )
        return summary


@dataclass(frozen=True, eq=False)
class _Search:
    """The first stage over target rating levels and the winning one."""

    objective: str
    floor_rating: float
    levels: tuple[_Level, ...]
    best: _Level | None

    @property
    def value(self) -> float:
        """The first stage's optimum: the best level's value, or that of buying nothing."""
        nothing = _nothing(self.objective, self.floor_rating)
        return max(self.best.value, nothing) if self.best is not None else nothing

    @property
    def bound(self) -> float:
        """An upper bound on the optimum over all member-level plans."""
        return max([self.value] + [level.upper for level in self.levels])

    def runs(self) -> list[dict]:
        """JSON summary of every level."""
        return [level.as_dict() for level in self.levels]


def _nothing(objective: str, floor_rating: float) -> float:
    """The surrogate value of buying nothing useful: today's rating, or no chance of 4 stars."""
    return floor_rating if objective == "expected_overall" else 0.0


def _search(
    primal: Formulation,
    relaxed: Formulation,
    objective: str,
    floor_rating: float,
    *,
    exact: bool,
    time_limit: float,
    mip_rel_gap: float,
    polish: bool = True,
    report: Callable[[int, int, float], None] = lambda index, count, level: None,
) -> _Search:
    """Maximize Σ L for each target level (4.0, or every reachable rating above today's).

    Branch and bound over the levels, lowest first. Each is bounded by the LP of the relaxation; a
    level whose bound cannot beat the best value found so far is pruned, otherwise it is bounded
    again by the relaxation's MILP (its class counts continuous in exact mode), told the
    log-probability it must reach to matter (at most
    `RELAXATION_TIME_LIMIT` seconds: hopeless levels are slow to prove hopeless), and solved on
    the plan's MILP — exactly in exact mode
    (whose dual bound then tightens the level's bound); aggregated, first with the relaxation's
    target star vector held (relax-and-fix: an LP), and only after every level has such a plan
    does the full MILP polish (if `polish`) the levels still short of their bound by more than the
    tolerance.
    """
    if objective == "p_at_least_4":
        candidates: tuple[float, ...] = (4.0,)
    else:
        # The relaxation reaches at least every level the plan MILP reaches.
        candidates = tuple(float(r) for r in relaxed.ratings if r > floor_rating)
    linear = []
    for level in candidates:
        result = relaxed.solve(
            "log_probability",
            min_rating=level,
            linear_relaxation=True,
            time_limit=time_limit,
            mip_rel_gap=mip_rel_gap,
        )
        linear.append((level, result, _level_bound(objective, floor_rating, level, result)))
    incumbent = _nothing(objective, floor_rating)
    levels: dict[float, _Level] = {}
    # Lowest level first: it is the likeliest, and its value prunes the long shots above it.
    for index, (level, bound_result, upper) in enumerate(sorted(linear, key=lambda item: item[0])):
        report(index, len(linear), level)
        if upper > incumbent + 1e-12:
            cutoff = _log_probability_to_beat(objective, floor_rating, level, incumbent)
            bound_result = relaxed.solve(
                "log_probability",
                min_rating=level,
                min_log_probability=cutoff,
                # In exact mode the plan's own MILP bounds the level next, so this solve only
                # prunes: continuous class counts (a looser bound, still valid) took 0.1 s where
                # integral ones took 2.8-3.7 s on the 1,000-member plan after re-scored predictions.
                integral_counts=not exact,
                time_limit=min(time_limit, RELAXATION_TIME_LIMIT),
                mip_rel_gap=min(mip_rel_gap, RELAXATION_MIP_GAP),
            )
            if bound_result.status == "infeasible" and cutoff is not None:
                # Nothing at this level beats the incumbent: that is the level's bound.
                upper = min(upper, incumbent)
            else:
                upper = min(upper, _level_bound(objective, floor_rating, level, bound_result))
        if upper <= incumbent + 1e-12:
            levels[level] = _Level(level, bound_result, upper, None, -math.inf)
            continue
        if exact:
            result = primal.solve(
                "log_probability",
                min_rating=level,
                integral_counts=True,
                time_limit=time_limit,
                mip_rel_gap=mip_rel_gap,
            )
            upper = min(upper, _level_bound(objective, floor_rating, level, result))
        else:
            result = primal.solve(
                "log_probability",
                min_rating=level,
                integral_counts=False,
                fixed_stars=bound_result.stars if bound_result.feasible else None,
                time_limit=time_limit,
                mip_rel_gap=mip_rel_gap,
            )
        levels[level] = _Level(level, bound_result, upper, result, _value_of(objective, floor_rating, result))
        incumbent = max(incumbent, levels[level].value)
    if polish and not exact:
        for level, entry in list(levels.items()):
            if entry.result is None or entry.upper <= max(incumbent, entry.value) + mip_rel_gap:
                continue
            full = primal.solve(
                "log_probability",
                min_rating=level,
                integral_counts=False,
                # A plan is in hand already: the full MILP only polishes, so it gets less time.
                time_limit=min(time_limit, POLISH_TIME_LIMIT),
                mip_rel_gap=mip_rel_gap,
            )
            value = _value_of(objective, floor_rating, full)
            if value > entry.value:
                levels[level] = _Level(level, entry.relaxed, entry.upper, full, value)
                incumbent = max(incumbent, value)
    solved = [entry for entry in levels.values() if entry.result is not None and entry.value > -math.inf]
    best = max(solved, key=lambda entry: entry.value, default=None)
    return _Search(objective, floor_rating, tuple(sorted(levels.values(), key=lambda e: e.level)), best)


def _log_probability_to_beat(
    objective: str, floor_rating: float, level: float, incumbent: float
) -> float | None:
    """The Σ log P a target rated `level` needs to be worth more than `incumbent` (None: any)."""
    share = incumbent if objective == "p_at_least_4" else (incumbent - floor_rating) / (level - floor_rating)
    return math.log(share) if share > 0 else None


def _value_of(objective: str, floor_rating: float, result: MilpResult) -> float:
    """The surrogate value of a solve's target and log-probability (−inf without a solution)."""
    if not result.feasible:
        return -math.inf
    return objective_value(objective, floor_rating, result.rating, result.log_probability)


def _level_bound(objective: str, floor_rating: float, level: float, result: MilpResult) -> float:
    """A target rated ρ ≥ level is worth at most (ρ − R₀)·exp(bound) — taken at the level itself,
    since higher ratings are levels of their own; −inf when the level is infeasible."""
    if result.status == "infeasible":
        return -math.inf
    dual = min(result.bound, 0.0) if math.isfinite(result.bound) else 0.0
    return objective_value(objective, floor_rating, level, dual)


def optimize(
    portfolio: PortfolioInput,
    budget: float,
    objective: str = "expected_overall",
    *,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    aggregate: bool | None = None,
    bucket_width: float = DEFAULT_BUCKET_WIDTH,
    time_limit: float = 60.0,
    mip_rel_gap: float = MIP_GAP,
    marginal_step: float | None = None,
    progress: Callable[[float, str], None] = lambda fraction, stage: None,
) -> Plan:
    """Choose member-level interventions within the budget and capacities to maximize the objective.

    `aggregate` None picks exact binaries up to `EXACT_MAX_CANDIDATES` candidates, classes above;
    `time_limit` (seconds) and `mip_rel_gap` apply to each HiGHS solve — the gap is relative to
    1 + |Σ log P|; `marginal_step` (default `MARGINAL_STEP`, $10,000) is the extra budget the
    stepped marginal value is measured at. The plan says why any budget is left unspent.
    `progress(fraction, stage)` hears each step and each target level's solve (e.g. "solving for
    4.5 stars (2 of 3)").
    """
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        """Record the time since the previous lap under `name`."""
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    prepared = prepare(portfolio)
    _check_request(prepared, budget, objective)
    if not 0 < bucket_width < 1:
        raise PortfolioInputError("bucket_width must be between 0 and 1")
    base = [m.probabilities for m in prepared.measures]
    expected = np.array([float(p.sum()) for p in base])
    sigma = sigma_bound(prepared, base)
    dense = dense_probabilities(prepared, base)
    lap("prepare")
    progress(0.05, f"forecasting today's rating ({draws:,} draws)")
    before, outlooks, stars = forecast_prepared(prepared, base, draws=draws, seed=seed)
    value = marginal_values(prepared, outlooks, stars)
    floor_rating = before.current_rating
    lap("forecast_before")
    progress(0.25, "choosing the intervention candidates")

    valued = np.array([m.in_rating and m.current_star < 5 for m in prepared.measures])
    if aggregate is None:
        open_rows = ~np.isnan(dense) & (dense < 1.0)
        estimate = sum(
            int(np.count_nonzero(open_rows[:, (prepared.uplift[t] > 0) & valued].any(axis=1)))
            for t in range(len(prepared.types))
        )
        aggregate = estimate > EXACT_MAX_CANDIDATES
    candidates = build_candidates(
        prepared, dense, valued, value, aggregate=aggregate, bucket_width=bucket_width
    )
    lap("candidates")

    primal = Formulation(prepared, candidates, candidates.gain_low, budget, expected, sigma)
    relaxed_candidates = relaxation(candidates)
    relaxed = Formulation(prepared, relaxed_candidates, relaxed_candidates.gain_high, budget, expected, sigma)
    used = objective
    settings = {
        "exact": not aggregate,
        "time_limit": time_limit,
        "mip_rel_gap": mip_rel_gap,
        "report": lambda index, count, level: progress(
            0.3 + 0.4 * index / count, f"solving for {level:g} stars ({index + 1} of {count})"
        ),
    }
    search = _search(primal, relaxed, used, floor_rating, **settings)
    notes = []
    if used == "p_at_least_4" and search.best is None:
        notes.append(
            "No target rated 4 stars or more is reachable within the budget (even with 4 standard "
            "deviations of luck), so the plan maximizes the expected rating instead."
        )
        used = "expected_overall"
        search = _search(primal, relaxed, used, floor_rating, **settings)
    chosen: MilpResult | None = None
    lead = search.best.result if search.best is not None else None
    if search.best is not None and lead is not None:
        progress(0.72, f"finding the cheapest plan that reaches {search.best.level:g} stars")
        cheapest = primal.solve(
            "cost",
            min_rating=search.best.level,
            min_log_probability=lead.log_probability - LOG_PROBABILITY_TOLERANCE,
            integral_counts=not aggregate,
            fixed_stars=lead.stars,
            time_limit=min(time_limit, POLISH_TIME_LIMIT),
            mip_rel_gap=max(mip_rel_gap, COST_MIP_GAP),
        )
        # Cut short, the cheapest stage's best plan may cost more than the one in hand.
        chosen = cheapest if cheapest.feasible and cheapest.cost <= lead.cost else lead
    else:
        notes.append("No target above today's rating is reachable within the budget: the plan buys nothing.")
    lap("milp")
    progress(0.78, "assigning interventions to members")
    bound = search.bound
    bound_method = (
        "HiGHS dual bounds per target level on a relaxation (classes of one type and set of worked "
        "measures merged at their members' largest gains)"
        + ("" if aggregate else ", tightened by the exact one-binary-per-member MILP's own dual bounds")
    )

    weight = np.zeros(len(prepared.measures))
    if chosen is None:
        counts = np.zeros(candidates.class_count, dtype=np.int64)
    else:
        weight = closure_gradient(prepared, expected + chosen.planned_gain, chosen.stars, sigma)
        counts = primal.round_counts(chosen, candidates.gain_low @ weight) if aggregate else chosen.counts
    expansion = expand(prepared, candidates, counts, dense, weight)
    after_dense = apply_interventions(prepared, dense, expansion.member_codes, expansion.type_index)
    after = probabilities_of(prepared, after_dense)
    expected_after = np.array([float(p.sum()) for p in after])
    realized = evaluate(prepared, expected_after, sigma, used)
    target_probability = math.exp(realized.log_probability) if realized.log_probability > -math.inf else 0.0
    if np.any(realized.target_stars > prepared.current_stars):
        # The plan's own value of an expected closure: what `gap_priorities(portfolio, plan)` uses.
        value = plan_values(
            prepared,
            expected_after,
            realized.target_stars,
            target_probability,
            realized.target_rating - floor_rating,
        )
    lap("expand")

    progress(0.82, "valuing the next dollar")
    step = marginal_step if marginal_step is not None else MARGINAL_STEP
    wider = Formulation(prepared, candidates, candidates.gain_low, budget + step, expected, sigma)
    wider_relaxed = Formulation(
        prepared, relaxed_candidates, relaxed_candidates.gain_high, budget + step, expected, sigma
    )
    at_budget = search.value
    # The stepped value is indicative, not the plan: a looser gap and a shorter limit keep it cheap.
    step_settings = settings | {
        "time_limit": min(time_limit, MARGINAL_TIME_LIMIT),
        "mip_rel_gap": max(mip_rel_gap, MARGINAL_MIP_GAP),
        "polish": False,
        "report": lambda index, count, level: None,
    }
    stepped = _search(wider, wider_relaxed, used, floor_rating, **step_settings)
    at_more = stepped.value
    shadow = primal.budget_shadow_price(lead) if lead is not None else 0.0
    # d value / d Σ L: the value is R₀ + (R − R₀)·e^ΣL, or e^ΣL for P(≥ 4).
    slope = 0.0
    if lead is not None:
        slope = math.exp(lead.log_probability) * (
            lead.rating - floor_rating if used == "expected_overall" else 1.0
        )
    marginal = {
        "units": "stars per dollar" if used == "expected_overall" else "probability per dollar",
        "dual_value_per_dollar": slope * shadow,
        "dual_method": "LP dual of the budget row with the chosen target star vector held",
        "budget_step": step,
        "objective_at_budget": json_number(at_budget),
        "objective_at_budget_plus_step": json_number(at_more),
        "step_value_per_dollar": json_number((at_more - at_budget) / step),
        "step_method": "first stage re-solved at budget + step",
        "step_statuses": sorted(
            {level.result.status for level in stepped.levels if level.result is not None}
        ),
    }
    lap("marginal")
    progress(0.9, f"forecasting the rating with the plan ({draws:,} draws)")
    after_forecast = forecast_prepared(prepared, after, draws=draws, seed=seed)[0]
    lap("forecast_after")

    incumbent = realized.value
    bound = max(bound, incumbent)
    gap = bound - incumbent
    total_cost = float(prepared.costs[expansion.type_index].sum())
    return Plan(
        objective=objective,
        objective_used=used,
        budget=float(budget),
        total_cost=total_cost,
        interventions=_interventions(prepared, expansion, dense, value),
        measures=_measures(
            prepared, expected, expected_after, chosen, realized, sigma, value, before, after_forecast
        ),
        objective_value=incumbent,
        objective_bound=bound,
        optimality_gap=gap,
        relative_gap=gap / abs(bound) if bound else 0.0,
        bound_method=bound_method,
        solver_status=lead.status if lead is not None else "nothing_to_buy",
        solver_message=lead.message if lead is not None else notes[-1],
        mip_gap=lead.mip_gap if lead is not None else None,
        milp_runs=search.runs(),
        target_rating=realized.target_rating,
        target_probability=target_probability,
        forecast_before=before,
        forecast_after=after_forecast,
        marginal=marginal,
        aggregated=aggregate,
        candidate_count=candidates.candidate_count,
        class_count=candidates.class_count,
        milp_size={
            "variables": lead.variables if lead is not None else primal.u0,
            "constraints": lead.constraints if lead is not None else len(primal.rows.lower),
            "frontier_cells": lead.cells if lead is not None else 0,
            "reachable_cells": primal.cell_count,
        },
        timings={**timings, "total": time.perf_counter() - started},
        budget_left=_budget_left(
            prepared,
            candidates,
            expansion,
            budget=float(budget),
            total_cost=total_cost,
            objective=used,
            search=search,
            target_rating=realized.target_rating if chosen is not None else None,
            expected_before=before.expected_rating,
            expected_after=after_forecast.expected_rating,
        ),
        notes=tuple(notes),
    )


def _dollars(amount: float) -> str:
    """Dollars for a sentence, as `hedis_portal.formats.money` writes them: "$24,917", "$12.50"."""
    cents = round(amount * 100)
    return f"${cents // 100:,}" if cents % 100 == 0 else f"${cents / 100:,.2f}"


def _budget_left(
    prepared: Prepared,
    candidates: Candidates,
    expansion: Expansion,
    *,
    budget: float,
    total_cost: float,
    objective: str,
    search: _Search,
    target_rating: float | None,
    expected_before: float,
    expected_after: float,
) -> dict:
    """The budget the plan leaves unspent, and why, in a sentence for people.

    The first reason that holds, from what the optimizer knows: every candidate (member, type)
    is in the plan (candidates are the open gaps on rated measures below 5 stars); the types with
    candidates left are at capacity; what is left costs more than the money left; or more
    outreach would not raise the objective — the next target level above the plan's was out of
    reach within the budget (not among the levels the relaxation reaches, or its LP infeasible),
    or reachable but too unlikely to be worth more than the plan.
    """
    unspent = max(budget - total_cost, 0.0)
    if unspent < UNSPENT_ROUNDING:
        reason = f"The budget is spent: the plan uses {_dollars(total_cost)} of {_dollars(budget)}."
        return {"unspent": round(unspent, 2), "reason": reason}
    count = len(prepared.types)
    offered = np.bincount(candidates.type_index, weights=candidates.size, minlength=count)
    used = np.bincount(expansion.type_index, minlength=count)
    capacity_left = np.array(
        [
            math.inf if kind.capacity is None else kind.capacity - used[t]
            for t, kind in enumerate(prepared.types)
        ]
    )
    open_types = offered > used
    available = open_types & (capacity_left > 0)
    if not open_types.any():
        reason = (
            "Every open gap the interventions reach on a rated measure below 5 stars is already in the plan."
        )
    elif not available.any():
        reason = "The interventions' capacities are used up."
    elif prepared.costs[available].min() > unspent + 1e-9:
        reason = (
            f"The {_dollars(unspent)} left buys no further intervention: the cheapest costs "
            f"{_dollars(float(prepared.costs[available].min()))}."
        )
    elif objective == "p_at_least_4":
        reason = (
            "4 stars or more is as likely as outreach can make it: more outreach would not raise the chance."
        )
    else:
        reason = _out_of_reach(search, target_rating, expected_before, expected_after)
    return {"unspent": round(unspent, 2), "reason": reason}


def _out_of_reach(
    search: _Search, target_rating: float | None, expected_before: float, expected_after: float
) -> str:
    """Why more outreach would not raise the expected rating: the next level above the plan's target."""
    aim = target_rating if target_rating is not None else search.floor_rating
    above = [level for level in search.levels if level.level > aim + 1e-9]
    if not above and aim >= 5.0:
        return "The plan aims at 5 stars already: more outreach would not raise the expected rating."
    level = min(above, key=lambda entry: entry.level) if above else None
    rating = level.level if level is not None else aim + 0.5
    # A level's bound is −inf when even the relaxation's LP cannot reach it within the budget.
    reachable = level is not None and level.upper > -math.inf
    verdict = "is too long a shot to be worth aiming at" if reachable else "is out of reach"
    if target_rating is None:
        return (
            f"{rating:g} stars {verdict}: no plan within the budget raises the expected "
            f"{expected_before:.2f} stars."
        )
    return (
        f"{rating:g} stars {verdict}: the best plan reaches an expected {expected_after:.2f} stars, "
        "and more outreach would not raise it."
    )


def with_interventions(portfolio: PortfolioInput, chosen: Sequence[tuple[int, str]]) -> PortfolioInput:
    """The portfolio with (member key, intervention code) pairs applied, by the optimizer's rule.

    For evaluating any plan — a hand-made one, a greedy one — with `forecast`: an intervention
    works all the member's open gaps on the measures its type uplifts, a gap worked by several
    closes with probability min(1, p + Σ uplifts), and a member gets a type at most once.
    """
    prepared = prepare(portfolio)
    codes = {kind.code: t for t, kind in enumerate(prepared.types)}
    unknown = sorted({code for _, code in chosen} - set(codes))
    if unknown:
        raise PortfolioInputError(f"intervention types not in the catalog: {', '.join(unknown)}")
    if len(set(chosen)) != len(chosen):
        raise PortfolioInputError("a member gets one intervention of a type at most")
    keys = np.array([member for member, _ in chosen], dtype=np.int64)
    positions = np.searchsorted(prepared.member_keys, keys)
    inside = positions < prepared.member_keys.size
    if not (np.all(inside) and np.array_equal(prepared.member_keys[positions], keys)):
        raise PortfolioInputError("interventions name members without open gaps in this portfolio")
    types = np.array([codes[code] for _, code in chosen], dtype=np.int64)
    dense = dense_probabilities(prepared, [m.probabilities for m in prepared.measures])
    after = probabilities_of(prepared, apply_interventions(prepared, dense, positions, types))
    measures = tuple(
        replace(measure.source, gap_probabilities=probabilities)
        for measure, probabilities in zip(prepared.measures, after, strict=True)
    )
    return replace(portfolio, member_measures=measures)


def _interventions(
    prepared: Prepared,
    expansion: Expansion,
    dense: np.ndarray,
    value: np.ndarray,
) -> tuple[ChosenIntervention, ...]:
    """The concrete interventions, best value per dollar first.

    Each lists the gaps it works with their probability before any intervention and after the
    whole plan (a gap several interventions work shows their combined effect in each).
    """
    after = apply_interventions(prepared, dense, expansion.member_codes, expansion.type_index)
    open_gap = ~np.isnan(dense) & (dense < 1.0)
    ids = [m.cms_id for m in prepared.measures]
    result = []
    for code, t in zip(expansion.member_codes, expansion.type_index, strict=True):
        covered = np.flatnonzero((prepared.uplift[t] > 0) & open_gap[code])
        rises = np.minimum(prepared.uplift[t, covered], 1.0 - dense[code, covered])
        cost = float(prepared.costs[t])
        result.append(
            ChosenIntervention(
                member=int(prepared.member_keys[code]),
                intervention=prepared.types[t].code,
                cost=cost,
                gaps=tuple(GapEffect(ids[m], float(dense[code, m]), float(after[code, m])) for m in covered),
                value_per_dollar=float(rises @ value[covered]) / cost,
            )
        )
    result.sort(key=lambda c: (-c.value_per_dollar, c.member, c.intervention))
    return tuple(result)


def _measures(
    prepared: Prepared,
    expected: np.ndarray,
    expected_after: np.ndarray,
    chosen: MilpResult | None,
    realized: SurrogateValue,
    sigma: np.ndarray,
    value: np.ndarray,
    before: Forecast,
    after: Forecast,
) -> tuple[MeasurePlan, ...]:
    """Per-measure report of the plan."""
    at_expectation_before = _star_at_expectation(prepared, expected)
    at_expectation_after = _star_at_expectation(prepared, expected_after)
    result = []
    for measure in prepared.measures:
        m = measure.index
        target = int(realized.target_stars[m])
        if target <= measure.current_star:
            probability = 1.0
        elif sigma[m] > 0:
            z = (expected_after[m] - measure.needed[target] + CONTINUITY) / sigma[m]
            probability = float(ndtr(z))
        else:
            probability = 1.0 if expected_after[m] >= measure.needed[target] - 1e-9 else 0.0
        forecast_before, forecast_after = before.measures[m], after.measures[m]
        result.append(
            MeasurePlan(
                cms_id=measure.cms_id,
                in_rating=measure.in_rating,
                current_star=measure.current_star,
                expected_closures_before=float(expected[m]),
                planned_extra_closures=float(chosen.planned_gain[m]) if chosen is not None else 0.0,
                expected_closures_after=float(expected_after[m]),
                star_at_expectation_before=int(at_expectation_before[m]),
                star_at_expectation_after=int(at_expectation_after[m]),
                target_star=target,
                target_probability=probability,
                expected_star_before=forecast_before.expected_star,
                expected_star_after=forecast_after.expected_star,
                star_probabilities_before=forecast_before.star_probabilities,
                star_probabilities_after=forecast_after.star_probabilities,
                value_per_closure=float(value[m]),
            )
        )
    return tuple(result)

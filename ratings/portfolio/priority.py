"""Each gap's priority: the expected rating it adds per dollar, from the forecast's and the plan's model.

A gap's priority is the best value per dollar of an intervention that would work it: Σ over the
member's gaps that intervention works of δ · v_m (δ: the rise of the gap's closure probability,
v_m: expected rating points per expected closure on measure m), divided by its cost.

With a plan, v is the optimizer's own: its objective R₀ + (R(target) − R₀) · P(targets reached)
differentiated by an expected closure on each measure at the plan's state (`closure_gradient`),
so a gap is worth what it adds to the plan's chance of its target rating — the same values the
optimizer ranks members by when it turns class counts into people, so the worklist and the plan
agree. Planned gaps are scored by their planned intervention, other interventions by what they add
on top of the plan. Measures outside the target score 0: alone they move nothing the plan counts.

Without a plan (or with one that targets nothing), v is the forecast's local derivative of the
expected rating: with measures independent, E[R] = E[R(s₋m, s0_m)] + Σ_k P(s_m ≥ k) · Δ_mk, where
Δ_mk = E over the other measures' stars of R(·, k) − R(·, k − 1) (engine-rated, averaged over the
Monte Carlo draws); one more expected closure on m raises P(s_m ≥ k) by P(X₋g = n_mk − 1), for
which the full count's mass stands in, so v_m = Σ_k P(X = n_mk − 1) · Δ_mk. It is large only near a
cut point whose crossing moves the rating — and 0 for every gap when no single closure can move
it, as in a large contract far from its cut points: then only a plan can rank the gaps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ratings.portfolio.candidates import (
    apply_interventions,
    dense_probabilities,
    gains_of_type,
    probabilities_of,
)
from ratings.portfolio.forecast import MeasureOutlook, forecast_prepared
from ratings.portfolio.inputs import PortfolioInput, PortfolioInputError
from ratings.portfolio.model import Prepared, prepare
from ratings.portfolio.plan import Plan
from ratings.portfolio.surrogate import closure_gradient, sigma_bound

__all__ = [
    "PRIORITY_DRAWS",
    "gap_priorities",
    "marginal_values",
    "plan_codes",
    "plan_values",
    "priorities_for",
]

PRIORITY_DRAWS = 4_000
NEGLIGIBLE_MASS = 1e-12


def marginal_values(prepared: Prepared, outlooks: Sequence[MeasureOutlook], stars: np.ndarray) -> np.ndarray:
    """v_m: expected rating points per additional expected closure on each member-level measure."""
    oracle = prepared.oracle
    values = np.zeros(len(prepared.measures))
    for measure, outlook in zip(prepared.measures, outlooks, strict=True):
        if not measure.in_rating or outlook.distribution is None:
            continue
        m = measure.index
        rows, weights = measure.threshold_sets()
        for level in range(2, 6):
            # P(one more closure reaches `level`), averaged over the draws of the cut points.
            finite = np.isfinite(rows[:, level]) & (rows[:, level] > 0)
            if not finite.any():
                continue
            point = outlook.distribution.point(rows[finite, level] - 1)
            mass = float(weights[finite] @ point)
            if mass < NEGLIGIBLE_MASS:
                continue
            upper, lower = stars.copy(), stars.copy()
            upper[:, m], lower[:, m] = level, level - 1
            step = oracle.rate(upper)[0] - oracle.rate(lower)[0]
            values[m] += mass * float(step.mean())
    return values


def priorities_for(
    prepared: Prepared,
    dense: np.ndarray,
    value: np.ndarray,
    member_codes: np.ndarray,
    type_index: np.ndarray,
) -> np.ndarray:
    """Rating points per dollar of every open gap, in flat gap order (measure order, then gap order).

    A gap's score is the best value per dollar of an intervention that works it: one the plan
    gives its member (its rise on each gap it works, from today's probability), else any other
    type at the plan's probabilities (rise min(uplift, 1 − p), the plan's uplifts included).
    """
    after = apply_interventions(prepared, dense, member_codes, type_index)
    best = np.full(dense.shape, np.nan)
    everyone = np.arange(dense.shape[0])
    for t in range(len(prepared.types)):
        gains = gains_of_type(prepared, after, t, everyone)
        per_dollar = (gains @ value) / prepared.costs[t]
        best = np.where(gains > 0, np.fmax(best, per_dollar[:, None]), best)
    planned = np.full(dense.shape, np.nan)
    for t in np.unique(type_index):
        rows = member_codes[type_index == t]
        gains = gains_of_type(prepared, dense, t, rows)
        per_dollar = (gains @ value) / prepared.costs[t]
        planned[rows] = np.where(gains > 0, np.fmax(planned[rows], per_dollar[:, None]), planned[rows])
    best = np.where(np.isnan(planned), best, planned)
    best = np.nan_to_num(best, nan=0.0)
    return np.concatenate([best[m.members, m.index] for m in prepared.measures])


def plan_codes(prepared: Prepared, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The plan's interventions as (member code, type index) arrays of this portfolio."""
    members = np.array([c.member for c in plan.interventions], dtype=np.int64)
    codes = {kind.code: t for t, kind in enumerate(prepared.types)}
    unknown = {c.intervention for c in plan.interventions} - set(codes)
    if unknown:
        raise PortfolioInputError(f"the plan uses intervention types not in the catalog: {sorted(unknown)}")
    positions = np.searchsorted(prepared.member_keys, members)
    inside = positions < prepared.member_keys.size
    if not np.all(inside) or not np.array_equal(prepared.member_keys[positions[inside]], members):
        raise PortfolioInputError("the plan names members without open gaps in this portfolio")
    types = np.array([codes[c.intervention] for c in plan.interventions], dtype=np.int64)
    return positions, types


def plan_values(
    prepared: Prepared,
    expected: np.ndarray,
    target_stars: np.ndarray,
    target_probability: float,
    rating_gain: float,
) -> np.ndarray:
    """v_m under a plan: d/dE_m of R₀ + (R(target) − R₀) · P(targets reached), at the plan's state.

    `expected` are the expected closures with the plan, `rating_gain` is R(target) − R₀.
    """
    sigma = sigma_bound(prepared, [m.probabilities for m in prepared.measures])
    return target_probability * rating_gain * closure_gradient(prepared, expected, target_stars, sigma)


def gap_priorities(
    portfolio: PortfolioInput, plan: Plan | None = None, draws: int = PRIORITY_DRAWS, seed: int = 0
) -> np.ndarray:
    """Expected rating points per dollar of every open gap (flat order: measures, then their gaps).

    Without a plan the values are today's local ones (`draws` Monte Carlo draws for Δ); with a
    plan, the plan's own (see the module docstring). Gaps no intervention type works score 0.
    """
    prepared = prepare(portfolio)
    dense = dense_probabilities(prepared, [m.probabilities for m in prepared.measures])
    if plan is None:
        member_codes, type_index = np.empty(0, np.int64), np.empty(0, np.int64)
    else:
        member_codes, type_index = plan_codes(prepared, plan)
    after = apply_interventions(prepared, dense, member_codes, type_index)
    if plan is not None and any(m.target_star > m.current_star for m in plan.measures):
        value = plan_values(
            prepared,
            np.array([float(p.sum()) for p in probabilities_of(prepared, after)]),
            np.array([m.target_star for m in plan.measures], dtype=np.int64),
            plan.target_probability,
            plan.target_rating - plan.forecast_before.current_rating,
        )
    else:
        _, outlooks, stars = forecast_prepared(
            prepared, probabilities_of(prepared, after), draws=draws, seed=seed
        )
        value = marginal_values(prepared, outlooks, stars)
    return priorities_for(prepared, dense, value, member_codes, type_index)

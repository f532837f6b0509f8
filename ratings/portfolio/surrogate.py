"""The deterministic objective the optimizer maximizes exactly, and the scoring of any plan against it.

The true objectives (expected rating, P(rating ≥ 4)) are expectations over random closures and
not linear in the choices, so the MILP maximizes a lower bound on them built from one *target*
star vector s (s_m ≥ today's star): with E_m the expected closures of measure m under the plan
(today's Σ p plus the uplifts of the worked gaps) and n_mk the closures star k needs,

    P(every measure reaches its target) ≈ Π_m Φ(z_m),   z_m = (E_m − n_m,s_m + ½) / σ̄_m

(normal approximation with continuity correction; σ̄_m bounds the measure's closure standard
deviation under any plan — each gap at the largest p(1 − p) any option gives it — so for z ≥ 0 it
under-states the chance). log Φ is replaced by g, its concave chord interpolation on 33 points of
[−Z_MAX, Z_MAX], capped at 0, and a target may ask at most Z_MAX deviations of luck. Then, if the
rating never falls when a star rises, R ≥ R(s) on that event and R ≥ R₀ (today's stars) always:

- "expected_overall": value = max over s of R₀ + (R(s) − R₀) · exp(Σ_m g(z_m)), a lower bound on
  E[rating]; R is the engine's highest-level rating (reward factor, CAI, improvement rule, half-
  star rounding). Solved as one MILP per attainable rating level r ("max Σ g with R(s) ≥ r").
- "p_at_least_4": value = max over s with R(s) ≥ 4 of exp(Σ_m g(z_m)), a lower bound on P(R ≥ 4).

The reward factor's variance test can make a higher star lower the rating, so "lower bound" holds
up to that CMS quirk; the Monte Carlo forecast of every plan reports the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from ratings.portfolio.model import Prepared

__all__ = [
    "CONTINUITY",
    "OBJECTIVES",
    "REACH_TOLERANCE",
    "Z_MAX",
    "SurrogateValue",
    "chords",
    "closure_gradient",
    "evaluate",
    "level_allowed",
    "level_log_probability",
    "log_probability",
    "margins",
    "objective_value",
    "sigma_bound",
]

OBJECTIVES = ("expected_overall", "p_at_least_4")
Z_MAX = 4.0
BREAKPOINTS = np.linspace(-Z_MAX, Z_MAX, 33)
CONTINUITY = 0.5
# Plans come back from the solver with its 1e-7 feasibility tolerance; scoring allows for it.
REACH_TOLERANCE = 1e-6
TARGET_RATING = 4.0


def chords() -> tuple[np.ndarray, np.ndarray]:
    """Intercepts and slopes of the chords of log Φ between consecutive breakpoints."""
    values = log_ndtr(BREAKPOINTS)
    slopes = np.diff(values) / np.diff(BREAKPOINTS)
    intercepts = values[:-1] - slopes * BREAKPOINTS[:-1]
    return intercepts, slopes


def log_probability(z: np.ndarray) -> np.ndarray:
    """g(z): the concave chord interpolation of log Φ(z), capped at 0 (min over the chord lines)."""
    intercepts, slopes = chords()
    z = np.asarray(z, dtype=np.float64)
    lines = intercepts[:, None] + slopes[:, None] * z.reshape(1, -1)
    return np.minimum(0.0, lines.min(axis=0)).reshape(z.shape)


def sigma_bound(prepared: Prepared, probabilities: list[np.ndarray]) -> np.ndarray:
    """σ̄_m: each gap at the largest Bernoulli variance that leaving it or any covering type gives it."""
    result = np.zeros(len(prepared.measures))
    for measure in prepared.measures:
        p = probabilities[measure.index]
        variance = p * (1.0 - p)
        for t in np.flatnonzero(prepared.uplift[:, measure.index] > 0):
            lifted = np.minimum(1.0, p + prepared.uplift[t, measure.index])
            variance = np.maximum(variance, lifted * (1.0 - lifted))
        result[measure.index] = float(np.sqrt(variance.sum()))
    return result


def margins(prepared: Prepared, expected: np.ndarray) -> np.ndarray:
    """E_m − n_mk + ½ for every measure and level 0..5 (−inf where the level is out of reach)."""
    needed = np.array([m.needed for m in prepared.measures])
    return expected[:, None] - needed + CONTINUITY


def level_allowed(margin: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Which levels a target may ask for: within Z_MAX deviations (certain ones when σ̄ = 0)."""
    floor = np.where(sigma > 0, -Z_MAX * sigma, 0.0)[:, None]
    return margin >= floor - REACH_TOLERANCE


def level_log_probability(margin: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """g(z_mk) for every measure and level; 0 for measures whose closures are certain (σ̄ = 0)."""
    safe = np.where(sigma > 0, sigma, 1.0)[:, None]
    z = np.where(np.isfinite(margin), margin, -Z_MAX) / safe
    return np.where(sigma[:, None] > 0, log_probability(z), 0.0)


@dataclass(frozen=True, eq=False)
class SurrogateValue:
    """A plan's surrogate value (stars, or a probability) and the target star vector attaining it."""

    objective: str
    value: float
    target_stars: np.ndarray
    target_rating: float
    log_probability: float


def objective_value(objective: str, floor_rating: float, rating: float, log_prob: float) -> float:
    """The surrogate value of one target: expected-rating bound, or probability of ≥ 4 stars."""
    probability = float(np.exp(log_prob)) if log_prob > -np.inf else 0.0
    if objective == "p_at_least_4":
        return probability if rating >= TARGET_RATING else 0.0
    return floor_rating + (rating - floor_rating) * probability


def evaluate(prepared: Prepared, expected: np.ndarray, sigma: np.ndarray, objective: str) -> SurrogateValue:
    """Score expected closures per measure (today's Σ p plus the plan's uplifts) by the surrogate."""
    margin = margins(prepared, expected)
    allowed = level_allowed(margin, sigma)
    values = level_log_probability(margin, sigma)
    current = prepared.current_stars
    high = current.copy()
    for measure in prepared.measures:
        for level in range(measure.current_star + 1, 6):
            if not allowed[measure.index, level]:
                break
            high[measure.index] = level
    level_values = [np.where(np.arange(6) > m.current_star, values[m.index], 0.0) for m in prepared.measures]
    best = prepared.oracle.best_by_key(current, high, level_values)
    witnesses = np.array([w for _, w in best.values()])
    totals = np.array([v for v, _ in best.values()])
    ratings = prepared.oracle.rate(witnesses)[0]
    floor_rating = float(prepared.oracle.rate(current[None, :])[0][0])
    scores = np.array(
        [objective_value(objective, floor_rating, r, t) for r, t in zip(ratings, totals, strict=True)]
    )
    chosen = int(np.argmax(scores))
    return SurrogateValue(
        objective, float(scores[chosen]), witnesses[chosen], float(ratings[chosen]), float(totals[chosen])
    )


def closure_gradient(
    prepared: Prepared, expected: np.ndarray, stars: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """d log P(every target reached) / d expected closure, per measure (0 off target or when certain).

    The derivative of log Φ(z_m) (the smooth form of g) through z_m = (E_m − n_m + ½)/σ̄_m.
    """
    gradient = np.zeros(len(prepared.measures))
    for measure in prepared.measures:
        m = measure.index
        if stars[m] > measure.current_star and sigma[m] > 0:
            z = (expected[m] - measure.needed[stars[m]] + CONTINUITY) / sigma[m]
            gradient[m] = float(np.exp(-0.5 * z * z - log_ndtr(z)) / np.sqrt(2 * np.pi)) / sigma[m]
    return gradient

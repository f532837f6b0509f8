"""The optimizer's answer as data: the plan, its interventions, the gaps they work, each measure's outlook."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ratings.portfolio.forecast import STARS, Forecast


@dataclass(frozen=True)
class GapEffect:
    """One gap an intervention works: its closure probability before and after."""

    cms_id: str
    probability_before: float
    probability_after: float

    def as_dict(self) -> dict:
        """JSON-serializable form."""
        return {
            "cms_id": self.cms_id,
            "probability_before": round(self.probability_before, 6),
            "probability_after": round(self.probability_after, 6),
            "uplift": round(self.probability_after - self.probability_before, 6),
        }


@dataclass(frozen=True)
class ChosenIntervention:
    """One proposed intervention: member key, type, cost, the gaps it works, rating points per dollar."""

    member: int
    intervention: str
    cost: float
    gaps: tuple[GapEffect, ...]
    value_per_dollar: float

    def as_dict(self) -> dict:
        """JSON-serializable form."""
        return {
            "member": self.member,
            "intervention": self.intervention,
            "cost": self.cost,
            "gaps": [g.as_dict() for g in self.gaps],
            "value_per_dollar": self.value_per_dollar,
        }


@dataclass(frozen=True)
class MeasurePlan:
    """A measure before and after the plan: expected closures, stars, target, distributions.

    `star_at_expectation_*` is the star if exactly the expected closures happen (E ≥ n − ½);
    `target_star` the star of the plan's target vector; `target_probability` the normal
    approximation (with σ̄) of reaching it after the plan; `value_per_closure` the plan's v_m
    (expected rating points per extra expected closure at the plan's state, see `priority`;
    today's local value when the plan targets nothing).
    """

    cms_id: str
    in_rating: bool
    current_star: int
    expected_closures_before: float
    planned_extra_closures: float
    expected_closures_after: float
    star_at_expectation_before: int
    star_at_expectation_after: int
    target_star: int
    target_probability: float
    expected_star_before: float
    expected_star_after: float
    star_probabilities_before: tuple[float, ...]
    star_probabilities_after: tuple[float, ...]
    value_per_closure: float

    def as_dict(self) -> dict:
        """JSON-serializable form."""
        return {
            "cms_id": self.cms_id,
            "in_rating": self.in_rating,
            "current_star": self.current_star,
            "expected_closures_before": round(self.expected_closures_before, 6),
            "planned_extra_closures": round(self.planned_extra_closures, 6),
            "expected_closures_after": round(self.expected_closures_after, 6),
            "star_at_expectation_before": self.star_at_expectation_before,
            "star_at_expectation_after": self.star_at_expectation_after,
            "target_star": self.target_star,
            "target_probability": round(self.target_probability, 6),
            "expected_star_before": round(self.expected_star_before, 6),
            "expected_star_after": round(self.expected_star_after, 6),
            "star_probabilities_before": _stars_dict(self.star_probabilities_before),
            "star_probabilities_after": _stars_dict(self.star_probabilities_after),
            "value_per_closure": self.value_per_closure,
        }


def _stars_dict(probabilities: tuple[float, ...]) -> dict[str, float]:
    """P(star = 1..5) keyed "1".."5" for JSON."""
    return {str(s): round(p, 6) for s, p in zip(STARS, probabilities, strict=True)}


def json_number(value: float | None) -> float | None:
    """A float for JSON: None for NaN/inf (JSON has neither)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class Plan:
    """The optimizer's answer: interventions, per-measure effects, before/after forecasts, proof of quality.

    `objective_value`, `objective_bound` and `optimality_gap` are the surrogate's (`surrogate`)
    for the realized plan: a lower bound on the expected rating in stars ("expected_overall") or
    on P(rating ≥ 4) ("p_at_least_4"). `bound_method` says where the bound comes from and
    `milp_runs` lists each target level's solve. The before/after forecasts are the Monte Carlo
    truth of the plan. `budget_left` is the money left unspent, `{"unspent": dollars, "reason":
    a sentence for people}`.
    """

    objective: str
    objective_used: str
    budget: float
    total_cost: float
    interventions: tuple[ChosenIntervention, ...]
    measures: tuple[MeasurePlan, ...]
    objective_value: float
    objective_bound: float
    optimality_gap: float
    relative_gap: float
    bound_method: str
    solver_status: str
    solver_message: str
    mip_gap: float | None
    milp_runs: list[dict]
    target_rating: float
    target_probability: float
    forecast_before: Forecast
    forecast_after: Forecast
    marginal: dict
    aggregated: bool
    candidate_count: int
    class_count: int
    milp_size: dict
    timings: dict[str, float]
    budget_left: dict = field(default_factory=dict)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def expected_overall_before(self) -> float:
        """Monte Carlo expected rating without the plan."""
        return self.forecast_before.expected_rating

    @property
    def expected_overall_after(self) -> float:
        """Monte Carlo expected rating with the plan."""
        return self.forecast_after.expected_rating

    def as_dict(self) -> dict:
        """JSON-serializable form (what `manage.py optimize --json` prints and the run stores)."""
        return {
            "objective": self.objective,
            "objective_used": self.objective_used,
            "budget": self.budget,
            "total_cost": round(self.total_cost, 2),
            "expected_overall_before": round(self.forecast_before.expected_rating, 6),
            "expected_overall_after": round(self.forecast_after.expected_rating, 6),
            "p_overall_at_least_4_before": round(self.forecast_before.p_at_least_4, 6),
            "p_overall_at_least_4_after": round(self.forecast_after.p_at_least_4, 6),
            "overall_probabilities_before": self.forecast_before.as_dict()["overall_probabilities"],
            "overall_probabilities_after": self.forecast_after.as_dict()["overall_probabilities"],
            "solver_status": self.solver_status,
            "solver_message": self.solver_message,
            "objective_value": json_number(self.objective_value),
            "objective_bound": json_number(self.objective_bound),
            "optimality_gap": json_number(self.optimality_gap),
            "relative_gap": json_number(self.relative_gap),
            "bound_method": self.bound_method,
            "mip_gap": json_number(self.mip_gap),
            "milp_runs": self.milp_runs,
            "target_rating": json_number(self.target_rating),
            "target_probability": json_number(self.target_probability),
            "marginal_value": self.marginal,
            "budget_left": self.budget_left,
            "aggregated": self.aggregated,
            "candidate_count": self.candidate_count,
            "class_count": self.class_count,
            "milp_size": self.milp_size,
            "measures": [m.as_dict() for m in self.measures],
            "interventions": [i.as_dict() for i in self.interventions],
            "draws": self.forecast_before.draws,
            "seed": self.forecast_before.seed,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }

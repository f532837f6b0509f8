"""The optimizer: exhaustive search agrees, greedy loses, plans obey the rules, bounds hold."""

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from ratings.cms.engine import rate_contract
from ratings.portfolio import (
    InterventionType,
    exact_distribution,
    forecast,
    optimize,
    with_interventions,
)
from ratings.portfolio.model import prepare
from ratings.portfolio.surrogate import (
    CONTINUITY,
    REACH_TOLERANCE,
    Z_MAX,
    log_probability,
    objective_value,
    sigma_bound,
)
from tests.portfolio.instances import METHODOLOGY, PROFILE, greedy_trap, random_small

OBJECTIVES = ("expected_overall", "p_at_least_4")


def exhaustive_optimum(portfolio, budget: float, objective: str) -> float:
    """The surrogate optimum by enumerating every feasible set of (member, type) interventions.

    Independent of the MILP: ratings come from `rate_contract` directly, target star vectors are
    enumerated outright, and only the surrogate's definitions (g, σ̄, Z_MAX) are shared.
    """
    prepared = prepare(portfolio)
    ids = [m.cms_id for m in prepared.measures]
    sigma = sigma_bound(prepared, [m.probabilities for m in prepared.measures])
    ratings: dict[tuple[int, ...], float] = {}

    def rating(stars: tuple[int, ...]) -> float:
        """The engine's overall rating of member-level stars, memoized by the whole vector."""
        if stars not in ratings:
            everything = {m.cms_id: m.star for m in portfolio.contract_measures} | dict(
                zip(ids, stars, strict=True)
            )
            ratings[stars] = float(rate_contract(everything, PROFILE, METHODOLOGY).overall.rating)
        return ratings[stars]

    today = tuple(m.current_star for m in prepared.measures)
    floor = rating(today)
    gaps = {
        (int(member), m.index): float(p)
        for m in prepared.measures
        for member, p in zip(m.source.gap_members, m.probabilities, strict=True)
    }
    options = [
        (
            member,
            kind,
            [
                (member, m)
                for m, cms_id in enumerate(ids)
                if kind.uplift.get(cms_id, 0) > 0 and (member, m) in gaps
            ],
        )
        for member in sorted({member for member, _ in gaps})
        for kind in portfolio.interventions
    ]
    options = [option for option in options if option[2]]
    best = floor if objective == "expected_overall" else 0.0
    for size in range(len(options) + 1):
        for subset in itertools.combinations(options, size):
            if sum(kind.unit_cost for _, kind, _ in subset) > budget + 1e-9:
                continue
            if any(
                kind.capacity is not None and sum(1 for _, k, _ in subset if k is kind) > kind.capacity
                for kind in portfolio.interventions
            ):
                continue
            lifts: dict[tuple[int, int], float] = {}
            for _, kind, covered in subset:
                for member, m in covered:
                    lifts[(member, m)] = lifts.get((member, m), 0.0) + kind.uplift[ids[m]]
            expected = np.array([m.probabilities.sum() for m in prepared.measures])
            for (member, m), lift in lifts.items():
                expected[m] += min(1.0, gaps[(member, m)] + lift) - gaps[(member, m)]
            choices = []
            for measure in prepared.measures:
                levels = [(measure.current_star, 0.0)]
                for level in range(measure.current_star + 1, 6):
                    margin = expected[measure.index] - measure.needed[level] + CONTINUITY
                    spread = sigma[measure.index]
                    if not np.isfinite(margin) or margin < -Z_MAX * spread - REACH_TOLERANCE:
                        break
                    value = float(log_probability(np.array([margin / spread]))[0]) if spread > 0 else 0.0
                    levels.append((level, value))
                choices.append(levels)
            for target in itertools.product(*choices):
                stars = tuple(level for level, _ in target)
                total = sum(value for _, value in target)
                best = max(best, objective_value(objective, floor, rating(stars), total))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_optimizer_matches_exhaustive_search_on_small_instances(seed, objective):
    portfolio, budget = random_small(seed)
    plan = optimize(portfolio, budget, objective, draws=1_000, mip_rel_gap=1e-9)
    assert not plan.aggregated
    assert plan.objective_used == objective
    assert plan.objective_value == pytest.approx(exhaustive_optimum(portfolio, budget, objective), abs=1e-7)
    # One binary per member and type: the bound is HiGHS's own and the gap closes.
    assert plan.optimality_gap <= 1e-6


def test_small_instances_are_not_trivial():
    values = [optimize(*random_small(seed), "p_at_least_4", draws=500).objective_value for seed in range(6)]
    assert sum(0.0 < v < 1.0 for v in values) >= 3


def greedy_by_probability(portfolio, budget: float) -> list[tuple[int, str]]:
    """Highest closure probability first, one call per member, until the budget runs out."""
    call = portfolio.interventions[0]
    gaps = sorted(
        (
            (float(p), int(member))
            for m in portfolio.member_measures
            for member, p in zip(m.gap_members, m.gap_probabilities, strict=True)
        ),
        key=lambda gap: (-gap[0], gap[1]),
    )
    affordable = int(budget // call.unit_cost)
    return [(member, call.code) for _, member in gaps[:affordable]]


def test_optimizer_beats_greedy_by_probability_where_cut_points_decide():
    portfolio = greedy_trap()
    greedy = exact_distribution(with_interventions(portfolio, greedy_by_probability(portfolio, 50.0)))
    plan = optimize(portfolio, 50.0, "expected_overall", draws=20_000)
    chosen = exact_distribution(
        with_interventions(portfolio, [(c.member, c.intervention) for c in plan.interventions])
    )
    # Greedy calls the five GSD members (p = 0.7) whose measure cannot reach 3 stars: nothing changes.
    assert greedy.p_at_least_4 == pytest.approx(0.35038928, abs=1e-8)
    assert greedy.expected_rating == pytest.approx(3.67519464, abs=1e-8)
    # The optimizer calls five CBP members: CBP's 4 closures come with P = 0.7460, not 0.3504.
    assert len(plan.interventions) == 5
    assert all(5 <= c.member < 15 for c in plan.interventions)
    assert plan.total_cost == 50.0
    assert chosen.p_at_least_4 == pytest.approx(0.74601285, abs=1e-8)
    assert chosen.expected_rating == pytest.approx(3.87300643, abs=1e-8)
    assert plan.forecast_after.p_at_least_4 == pytest.approx(
        0.7460, abs=4 * math.sqrt(0.746 * 0.254 / 20_000)
    )


def test_the_optimizer_reports_each_step_and_each_target_levels_solve_in_order():
    heard = []
    optimize(greedy_trap(), 50.0, "expected_overall", draws=2_000, progress=lambda f, s: heard.append((f, s)))
    fractions = [fraction for fraction, _ in heard]
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] < 1
    stages = [stage for _, stage in heard]
    assert stages[0] == "forecasting today's rating (2,000 draws)"
    solves = [stage for stage in stages if stage.startswith("solving for ")]
    count = len(solves)
    assert count >= 1 and solves[-1].endswith(f"({count} of {count})")
    assert stages[-1] == "forecasting the rating with the plan (2,000 draws)"


def test_both_objectives_choose_the_same_plan_on_the_trap():
    plan = optimize(greedy_trap(), 50.0, "p_at_least_4", draws=2_000)
    assert len(plan.interventions) == 5
    assert all(5 <= c.member < 15 for c in plan.interventions)
    # P(5 gaps at 0.6 and 5 at 0.3 give ≥ 4 closures) ≈ Φ((4.5 − 4 + ½)/σ̄): the surrogate, not the truth.
    assert 0.6 < plan.objective_value < 0.8


def test_plan_respects_budget_and_capacity_and_adds_uplifts_on_shared_gaps():
    portfolio, budget = random_small(3)
    plan = optimize(portfolio, budget, "expected_overall", draws=2_000)
    assert plan.total_cost == pytest.approx(sum(c.cost for c in plan.interventions))
    assert plan.total_cost <= budget
    for kind in portfolio.interventions:
        used = sum(1 for c in plan.interventions if c.intervention == kind.code)
        assert kind.capacity is None or used <= kind.capacity
    pairs = [(c.member, c.intervention) for c in plan.interventions]
    assert len(pairs) == len(set(pairs))
    uplift = {kind.code: kind.uplift for kind in portfolio.interventions}
    lifts: dict[tuple[int, str], float] = {}
    for chosen in plan.interventions:
        for gap in chosen.gaps:
            lifts[(chosen.member, gap.cms_id)] = (
                lifts.get((chosen.member, gap.cms_id), 0.0) + uplift[chosen.intervention][gap.cms_id]
            )
    assert any(
        sum(1 for c in plan.interventions for g in c.gaps if (c.member, g.cms_id) == k) > 1 for k in lifts
    )
    for chosen in plan.interventions:
        for gap in chosen.gaps:
            combined = min(1.0, gap.probability_before + lifts[(chosen.member, gap.cms_id)])
            assert gap.probability_after == pytest.approx(combined)


def test_plan_forecasts_are_the_forecasts_of_the_portfolio_before_and_after():
    portfolio = greedy_trap()
    plan = optimize(portfolio, 30.0, draws=3_000, seed=9)
    after = forecast(
        with_interventions(portfolio, [(c.member, c.intervention) for c in plan.interventions]), 3_000, 9
    )
    assert plan.forecast_before.as_dict() | {"elapsed_seconds": 0} == forecast(
        portfolio, 3_000, 9
    ).as_dict() | {"elapsed_seconds": 0}
    assert plan.forecast_after.rating_probabilities == after.rating_probabilities


def test_plan_json_carries_what_the_command_prints():
    plan = optimize(greedy_trap(), 50.0, draws=1_000)
    document = json.loads(json.dumps(plan.as_dict()))
    required = {
        "total_cost",
        "expected_overall_before",
        "expected_overall_after",
        "p_overall_at_least_4_before",
        "p_overall_at_least_4_after",
        "solver_status",
        "optimality_gap",
        "interventions",
        "marginal_value",
        "measures",
        "timings",
    }
    assert required <= set(document)
    assert document["solver_status"] == "optimal"
    assert document["interventions"][0]["gaps"][0]["cms_id"] == "C14"
    assert document["measures"][1]["target_star"] == 3


def test_marginal_value_of_the_next_dollar_is_positive_when_certainty_can_still_be_bought():
    plan = optimize(greedy_trap(), 30.0, "p_at_least_4", draws=1_000, marginal_step=20.0)
    marginal = plan.marginal
    assert marginal["budget_step"] == 20.0
    assert marginal["objective_at_budget_plus_step"] > marginal["objective_at_budget"]
    assert marginal["step_value_per_dollar"] == pytest.approx(
        (marginal["objective_at_budget_plus_step"] - marginal["objective_at_budget"]) / 20.0
    )
    # The LP dual is the slope at the budget: two more calls at ≈ $0.0067 of probability per dollar.
    assert marginal["dual_value_per_dollar"] == pytest.approx(marginal["step_value_per_dollar"], rel=0.05)


def test_p_at_least_4_falls_back_to_expected_rating_when_4_stars_are_out_of_reach():
    portfolio = greedy_trap()
    gsd, cbp = portfolio.member_measures
    # From 45 closed, CBP's 3 stars need 14 closures and only 10 gaps are open.
    hopeless = replace(cbp, closed=45)
    plan = optimize(replace(portfolio, member_measures=(gsd, hopeless)), 50.0, "p_at_least_4", draws=500)
    assert plan.objective_used == "expected_overall"
    assert "No target rated 4 stars" in plan.notes[0]
    assert plan.interventions == ()


def test_aggregated_classes_stay_within_the_proven_bound_of_the_exact_plan():
    portfolio, budget = random_small(4)
    rng = np.random.default_rng(0)
    # Two hundred members per measure: both modes are cheap and the exact MILP is the yardstick.
    measures = []
    for measure in portfolio.member_measures:
        members = np.arange(200)
        measures.append(
            replace(
                measure,
                closed=measure.closed * 20,
                eligible=measure.eligible * 20 + 200,
                gap_members=members,
                gap_probabilities=np.round(rng.uniform(0.05, 0.95, members.size), 3),
            )
        )
    portfolio = replace(portfolio, member_measures=tuple(measures))
    exact = optimize(
        portfolio, budget * 15, draws=1_000, aggregate=False, marginal_step=10.0, mip_rel_gap=1e-9
    )
    aggregated = optimize(
        portfolio, budget * 15, draws=1_000, aggregate=True, bucket_width=0.05, marginal_step=10.0
    )
    assert aggregated.aggregated and not exact.aggregated
    assert aggregated.class_count < exact.class_count
    assert aggregated.objective_value <= exact.objective_value + 1e-9
    assert aggregated.objective_bound >= exact.objective_value - 1e-9
    assert aggregated.objective_value >= aggregated.objective_bound - aggregated.optimality_gap - 1e-12
    assert aggregated.total_cost <= budget * 15


def test_capacity_limits_the_bundle_type():
    portfolio = greedy_trap()
    capped = InterventionType("call", 10.0, {"C12": 0.3, "C14": 0.3}, capacity=2)
    plan = optimize(replace(portfolio, interventions=(capped,)), 50.0, draws=500)
    assert len(plan.interventions) == 2

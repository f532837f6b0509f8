"""The exact mode's cheaper stages: pruning on a relaxation with continuous class counts and the
cheapest plan proved to `COST_MIP_GAP` keep the plan's value, its bound and its budget."""

import pytest

from ratings.portfolio import optimize
from ratings.portfolio.optimize import COST_MIP_GAP, MIP_GAP
from tests.portfolio.instances import random_small
from tests.portfolio.test_optimize import OBJECTIVES, exhaustive_optimum


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_exact_plans_at_the_default_gaps_reach_the_optimum_and_bound_it(seed, objective):
    portfolio, budget = random_small(seed)
    optimum = exhaustive_optimum(portfolio, budget, objective)

    plan = optimize(portfolio, budget, objective, draws=1_000)

    assert not plan.aggregated
    # HiGHS's gap is relative to 1 + |Σ log P|; a value within 2 × MIP_GAP of the optimum.
    assert plan.objective_value == pytest.approx(optimum, abs=2 * MIP_GAP)
    assert plan.objective_bound >= optimum - 1e-9
    assert plan.total_cost <= budget + 1e-9


def test_the_cheapest_plan_is_proved_to_a_percent_of_its_cost():
    assert COST_MIP_GAP == 0.01 and COST_MIP_GAP >= MIP_GAP

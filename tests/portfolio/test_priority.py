"""Gap priorities: expected rating points per dollar, from the forecast's own model and the plan's."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import binom, norm

from ratings.portfolio import InterventionType, gap_priorities, optimize
from tests.portfolio.instances import greedy_trap, random_small


def test_priorities_value_gaps_by_the_rating_a_closure_can_move_per_dollar():
    portfolio = greedy_trap()
    priorities = gap_priorities(portfolio, draws=4_000)
    assert priorities.shape == (portfolio.gap_count(),)
    # GSD (the first 5 gaps) cannot reach its next cut point: worth nothing.
    assert np.all(priorities[:5] == 0.0)
    # CBP: a closure matters when exactly 3 of the others close (P = 0.2668 for Bin(10, 0.3)) and
    # then lifts the contract from 3.5 to 4.0; a call adds 0.3 closures for $10.
    expected = binom.pmf(3, 10, 0.3) * 0.5 * 0.3 / 10.0
    assert priorities[5:] == pytest.approx(np.full(10, expected), rel=1e-9)


def test_under_a_plan_priorities_are_the_plans_objective_gradient():
    portfolio = greedy_trap()
    plan = optimize(portfolio, 50.0, draws=2_000)
    priorities = gap_priorities(portfolio, plan)
    cbp = priorities[5:]
    # GSD is not in the target (it cannot move): its gaps score 0.
    assert np.all(priorities[:5] == 0.0)
    # CBP after the plan: 5 gaps at 0.6 and 5 at 0.3, E = 4.5 against the 4 closures 3 stars need;
    # σ̄² = 10 × 0.24 (every gap at its largest p(1 − p) over "no call" and "call").
    z = (4.5 - 4 + 0.5) / np.sqrt(2.4)
    per_closure = plan.target_probability * (4.0 - 3.5) * norm.pdf(z) / norm.cdf(z) / np.sqrt(2.4)
    # Every CBP gap, planned or not, is worth one call's 0.3 expected closures for $10.
    assert cbp == pytest.approx(np.full(10, per_closure * 0.3 / 10.0), rel=1e-9)
    assert plan.measures[1].target_star == 3


def test_uncovered_gaps_score_zero():
    portfolio = replace(greedy_trap(), interventions=(InterventionType("mail", 2.0, {"C12": 0.1}),))
    priorities = gap_priorities(portfolio, draws=1_000)
    assert np.all(priorities == 0.0)


def test_the_plan_and_the_worklist_value_its_interventions_alike():
    portfolio, budget = random_small(3)
    plan = optimize(portfolio, budget, draws=2_000)
    priorities = gap_priorities(portfolio, plan)
    flat = {
        (int(member), measure.cms_id): index
        for index, (member, measure) in enumerate(
            (member, measure) for measure in portfolio.member_measures for member in measure.gap_members
        )
    }
    assert plan.interventions
    for chosen in plan.interventions:
        for gap in chosen.gaps:
            # A gap's score is the best of its planned interventions' values per dollar.
            assert priorities[flat[(chosen.member, gap.cms_id)]] >= chosen.value_per_dollar - 1e-15

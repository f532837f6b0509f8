"""Gap priorities: expected rating points per dollar, from the forecast's own model and the plan's."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import binom

from ratings.portfolio import InterventionType, gap_priorities, optimize, poisson_binomial_pmf
from tests.portfolio.instances import greedy_trap


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


def test_the_plans_gaps_lead_the_worklist():
    portfolio = greedy_trap()
    plan = optimize(portfolio, 50.0, draws=2_000)
    priorities = gap_priorities(portfolio, plan, draws=4_000)
    planned = {c.member for c in plan.interventions}
    cbp_members = portfolio.member_measures[1].gap_members
    in_plan = np.array([member in planned for member in cbp_members])
    cbp = priorities[5:]
    assert in_plan.sum() == 5
    # Planned gaps are scored by their planned call at the plan's state; GSD gaps stay at zero.
    assert cbp[in_plan].min() > 0
    assert np.all(priorities[:5] == 0.0)
    # At the plan's state CBP's closures are 5 Bernoulli(0.6) + 5 Bernoulli(0.3): a closure
    # decides when exactly 3 others close, and every call (planned or next) adds 0.3 for $10.
    at_plan = poisson_binomial_pmf(np.array([0.6] * 5 + [0.3] * 5))[3] * 0.5 * 0.3 / 10.0
    assert cbp == pytest.approx(np.full(10, at_plan), rel=1e-9)


def test_uncovered_gaps_score_zero():
    portfolio = replace(greedy_trap(), interventions=(InterventionType("mail", 2.0, {"C12": 0.1}),))
    priorities = gap_priorities(portfolio, draws=1_000)
    assert np.all(priorities == 0.0)

"""Why a plan leaves budget unspent, in a sentence, and the value of the next $10,000."""

from dataclasses import replace

import pytest
from scipy.stats import binom

from ratings.portfolio import InterventionType, exact_distribution, optimize, with_interventions
from tests.portfolio.instances import greedy_trap, random_small


def exact_rating_after(portfolio, plan) -> float:
    """The plan's expected rating, computed exactly (not by the Monte Carlo the plan reports)."""
    chosen = [(c.member, c.intervention) for c in plan.interventions]
    return exact_distribution(with_interventions(portfolio, chosen)).expected_rating


def test_a_plan_that_spends_the_budget_says_so():
    # Five $10 calls on CBP members: exactly the $50.
    plan = optimize(greedy_trap(), 50.0, draws=1_000)
    assert plan.as_dict()["budget_left"] == {
        "unspent": 0.0,
        "reason": "The budget is spent: the plan uses $50 of $50.",
    }


def test_money_left_below_the_cheapest_intervention_is_explained_by_its_price():
    plan = optimize(greedy_trap(), 55.0, draws=1_000)
    assert plan.total_cost == 50.0
    assert plan.budget_left == {
        "unspent": 5.0,
        "reason": "The $5 left buys no further intervention: the cheapest costs $10.",
    }


def test_a_few_cents_left_are_not_called_spent():
    # $0.40 is under 1% of the budget, but it is left, and the reason is the price of a call.
    plan = optimize(greedy_trap(), 50.4, draws=1_000)
    assert plan.budget_left == {
        "unspent": 0.4,
        "reason": "The $0.40 left buys no further intervention: the cheapest costs $10.",
    }


def test_a_higher_rating_out_of_reach_leaves_the_rest_unspent():
    portfolio = greedy_trap()
    plan = optimize(portfolio, 200.0, draws=20_000)
    # All ten CBP members are called ($100); GSD cannot reach 3 stars, so 4.5 is out of reach and
    # the five GSD calls would buy nothing. CBP's 4 of 10 closures at p = 0.6: E = 3.5 + 0.5 P.
    assert plan.total_cost == 100.0
    assert all(5 <= c.member < 15 for c in plan.interventions)
    expected = 3.5 + 0.5 * binom.sf(3, 10, 0.6)
    assert expected == pytest.approx(3.97262, abs=1e-5)
    assert exact_rating_after(portfolio, plan) == pytest.approx(expected, abs=1e-9)
    assert plan.budget_left == {
        "unspent": 100.0,
        "reason": "4.5 stars is out of reach: the best plan reaches an expected 3.97 stars, "
        "and more outreach would not raise it.",
    }


def test_for_four_stars_a_certain_enough_target_leaves_the_rest_unspent():
    plan = optimize(greedy_trap(), 200.0, "p_at_least_4", draws=1_000)
    assert plan.budget_left == {
        "unspent": 100.0,
        "reason": "4 stars or more is as likely as outreach can make it: "
        "more outreach would not raise the chance.",
    }


def test_a_level_within_reach_but_worth_less_than_the_plan_is_a_long_shot():
    portfolio, budget = random_small(0)
    plan = optimize(portfolio, budget, draws=20_000)
    # From 3.0 stars the plan makes 3.5 all but certain for $42 of $72; the 4.0 level's bound
    # (its best possible value) is below the 3.5 plan's value, so it was pruned, not infeasible.
    assert (budget, plan.total_cost, plan.target_rating) == (72.0, 42.0, 3.5)
    four = next(run for run in plan.milp_runs if run["min_rating"] == 4.0)
    assert four["pruned"] and four["relaxation_bound"] < plan.objective_value
    assert exact_rating_after(portfolio, plan) == pytest.approx(3.52917, abs=1e-5)
    assert plan.budget_left == {
        "unspent": 30.0,
        "reason": "4 stars is too long a shot to be worth aiming at: the best plan reaches an expected "
        "3.53 stars, and more outreach would not raise it.",
    }


def test_a_plan_that_buys_nothing_says_the_next_star_is_out_of_reach():
    portfolio = greedy_trap()
    gsd, cbp = portfolio.member_measures
    # From 45 closed, CBP's 3 stars need 14 closures and only 10 gaps are open.
    hopeless = replace(portfolio, member_measures=(gsd, replace(cbp, closed=45)))
    plan = optimize(hopeless, 50.0, draws=1_000)
    assert plan.interventions == ()
    assert plan.budget_left == {
        "unspent": 50.0,
        "reason": "4 stars is out of reach: no plan within the budget raises the expected 3.50 stars.",
    }


def test_every_reachable_gap_in_the_plan_leaves_the_rest_unspent():
    # A call that works CBP only: its ten members are all the candidates there are.
    cbp_call = InterventionType("call", 10.0, {"C14": 0.3})
    plan = optimize(replace(greedy_trap(), interventions=(cbp_call,)), 1_000.0, draws=1_000)
    assert (len(plan.interventions), plan.total_cost) == (10, 100.0)
    assert plan.budget_left == {
        "unspent": 900.0,
        "reason": "Every open gap the interventions reach on a rated measure below 5 stars "
        "is already in the plan.",
    }


def test_used_up_capacities_leave_the_rest_unspent():
    capped = InterventionType("call", 10.0, {"C12": 0.3, "C14": 0.3}, capacity=2)
    plan = optimize(replace(greedy_trap(), interventions=(capped,)), 1_000.0, draws=1_000)
    assert plan.budget_left == {"unspent": 980.0, "reason": "The interventions' capacities are used up."}


def test_the_marginal_value_is_that_of_the_next_ten_thousand_dollars():
    portfolio = greedy_trap()
    marginal = optimize(portfolio, 30.0, draws=1_000).marginal
    assert marginal["budget_step"] == 10_000.0
    # $10,030 calls every CBP member: the first stage at budget + step is that plan's value.
    wide = optimize(portfolio, 10_030.0, draws=1_000)
    assert marginal["objective_at_budget_plus_step"] == pytest.approx(wide.objective_value, abs=1e-9)
    assert marginal["objective_at_budget"] == pytest.approx(
        optimize(portfolio, 30.0, draws=1_000).objective_value, abs=1e-9
    )
    assert marginal["step_value_per_dollar"] == pytest.approx(
        (marginal["objective_at_budget_plus_step"] - marginal["objective_at_budget"]) / 10_000.0
    )

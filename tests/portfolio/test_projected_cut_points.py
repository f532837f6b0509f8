"""Projected cut points in the portfolio core (issue #18, item 3): a measure whose cut points are
uncertain has a star distribution averaged over the projection's draws, in the Monte Carlo
forecast, the exact distribution, the what-ifs and the priorities; the optimizer plans against the
median."""

from dataclasses import replace

import numpy as np
import pytest

from ratings.cms.tables import Direction
from ratings.portfolio import Assumption, PortfolioInputError, exact_distribution, forecast, optimize, what_if
from ratings.portfolio.model import prepare
from tests.portfolio.instances import cut_points, greedy_trap

# Greedy trap's CBP: 55 of 100 closed, 10 open gaps at p = 0.3. At a 3-star cut point of 59 it
# needs 4 closures (P = 0.35038928); at 64, 9 (P(X ≥ 9) = 10·0.3⁹·0.7 + 0.3¹⁰ = 0.00014369).
P_AT_59 = 0.35038928
P_AT_64 = 10 * 0.3**9 * 0.7 + 0.3**10
AT_59 = cut_points("40", "59", "70", "80")
AT_64 = cut_points("40", "64", "70", "80")


def with_projection(*draws):
    portfolio = greedy_trap()
    gsd, cbp = portfolio.member_measures
    return replace(portfolio, member_measures=(gsd, replace(cbp, projected=tuple(draws))))


def test_the_star_distribution_averages_over_the_draws_of_the_cut_points():
    exact = exact_distribution(with_projection(AT_59, AT_64))
    expected_three = 0.5 * (P_AT_59 + P_AT_64)
    assert exact.star_probabilities["C14"] == pytest.approx((0.0, 1 - expected_three, expected_three, 0, 0))
    # The contract is 4.0 exactly when CBP reaches 3 stars (see greedy_trap).
    assert exact.p_at_least_4 == pytest.approx(expected_three)


def test_repeated_draws_weigh_as_often_as_they_were_drawn():
    exact = exact_distribution(with_projection(AT_59, AT_64, AT_64, AT_64))
    assert exact.p_at_least_4 == pytest.approx(0.25 * P_AT_59 + 0.75 * P_AT_64)
    cbp = prepare(with_projection(AT_59, AT_64, AT_64, AT_64)).measures[1]
    assert cbp.needed_draws.shape == (2, 6)
    assert list(cbp.draw_weights) == [0.25, 0.75]
    assert [list(row[2:4]) for row in cbp.needed_draws] == [[0.0, 4.0], [0.0, 9.0]]


def test_the_monte_carlo_forecast_agrees_with_the_exact_mixture():
    portfolio = with_projection(AT_59, AT_64)
    estimate = forecast(portfolio, draws=20_000, seed=3)
    truth = 0.5 * (P_AT_59 + P_AT_64)
    assert abs(estimate.p_at_least_4 - truth) <= 4 * np.sqrt(truth * (1 - truth) / 20_000)


def test_a_certain_projection_changes_nothing():
    certain = exact_distribution(with_projection(AT_59, AT_59))
    assert certain.p_at_least_4 == pytest.approx(exact_distribution(greedy_trap()).p_at_least_4)


def test_an_assumed_outcome_is_still_uncertain_when_the_cut_points_are():
    # Five more closures reach 60%: 3 stars at a cut point of 59, 2 stars at 64.
    result = what_if(
        with_projection(AT_59, AT_64), {"C14": Assumption(extra_closures=5)}, draws=4_000, seed=1
    )
    stars = result.measure("C14").star_probabilities
    assert stars[1] == pytest.approx(0.5, abs=0.05) and stars[2] == pytest.approx(0.5, abs=0.05)


def test_projected_cut_points_need_all_four_thresholds_and_the_measures_direction():
    partial = replace(AT_64, thresholds={level: AT_64.thresholds[level] for level in (2, 3, 4)})
    with pytest.raises(PortfolioInputError, match="thresholds for stars 2 to 5"):
        prepare(with_projection(AT_59, partial))
    with pytest.raises(PortfolioInputError, match="direction"):
        prepare(with_projection(cut_points("80", "70", "60", "40", direction=Direction.LOWER)))


def test_the_optimizer_plans_against_the_median_and_scores_the_plan_with_the_draws():
    # Two of three draws say 64: the median. Planned against it, CBP's third star needs 9 closures.
    portfolio = greedy_trap()
    gsd, cbp = portfolio.member_measures
    projected = replace(cbp, cut_points=AT_64, projected=(AT_59, AT_64, AT_64))
    portfolio = replace(portfolio, member_measures=(gsd, projected))
    assert list(prepare(portfolio).measures[1].needed[2:4]) == [0.0, 9.0]
    plan = optimize(portfolio, budget=50.0, objective="p_at_least_4", draws=20_000, seed=1)
    before = exact_distribution(portfolio).p_at_least_4
    assert before == pytest.approx(P_AT_59 / 3 + 2 * P_AT_64 / 3)
    assert abs(plan.forecast_before.p_at_least_4 - before) <= 4 * np.sqrt(before * (1 - before) / 20_000)
    assert plan.forecast_after.p_at_least_4 > plan.forecast_before.p_at_least_4

"""Monte Carlo forecast against the exact distribution, what-if scenarios, and the JSON shape."""

import json
import math
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from ratings.cms.engine import rate_contract
from ratings.cms.methodology import RatingColumn
from ratings.portfolio import (
    Assumption,
    ContractMeasure,
    PortfolioInputError,
    exact_distribution,
    forecast,
    what_if,
)
from tests.portfolio.instances import METHODOLOGY, PROFILE, greedy_trap, random_small

DRAWS = 20_000
# Tolerance: 4 Monte Carlo standard errors (a false alarm about once in 16,000 comparisons).
SIGMAS = 4.0


def assert_within_monte_carlo_error(estimate: float, exact: float, draws: int) -> None:
    """|estimate − exact| ≤ 4 standard errors of a proportion (exact when the proportion is 0 or 1)."""
    error = math.sqrt(exact * (1 - exact) / draws)
    assert abs(estimate - exact) <= SIGMAS * error + 1e-12


@pytest.mark.parametrize("portfolio", [greedy_trap(), random_small(2)[0], random_small(5)[0]])
def test_monte_carlo_agrees_with_the_exact_distribution_within_four_standard_errors(portfolio):
    estimate = forecast(portfolio, draws=DRAWS, seed=11)
    exact = exact_distribution(portfolio)
    assert_within_monte_carlo_error(estimate.p_at_least_4, exact.p_at_least_4, DRAWS)
    for measure in estimate.measures:
        for simulated, truth in zip(
            measure.star_probabilities, exact.star_probabilities[measure.cms_id], strict=True
        ):
            assert_within_monte_carlo_error(simulated, truth, DRAWS)
    for label, truth in exact.rating_probabilities.items():
        assert_within_monte_carlo_error(estimate.rating_probabilities.get(label, 0.0), truth, DRAWS)
    variance = sum((float(r) - exact.expected_rating) ** 2 * p for r, p in exact.rating_probabilities.items())
    assert (
        abs(estimate.expected_rating - exact.expected_rating) <= SIGMAS * math.sqrt(variance / DRAWS) + 1e-12
    )


def test_greedy_trap_forecast_is_a_coin_flip_on_cbp():
    # CBP needs 4 of 10 gaps at p = 0.3: P(X ≥ 4) = 1 − Σ_{k<4} C(10,k) 0.3^k 0.7^(10−k) = 0.3504;
    # GSD cannot move, so the contract is 4.0 exactly when CBP reaches 3 stars.
    exact = exact_distribution(greedy_trap())
    assert exact.p_at_least_4 == pytest.approx(0.35038928, abs=1e-8)
    assert exact.rating_probabilities == pytest.approx({"3.5": 0.64961072, "4.0": 0.35038928})
    assert exact.expected_rating == pytest.approx(3.5 + 0.5 * 0.35038928)


def test_expected_closures_and_rates_are_exact_and_use_the_fallback():
    portfolio = greedy_trap()
    cbp = portfolio.member_measures[1]
    unknown = np.array(cbp.gap_probabilities)
    unknown[:4] = np.nan
    portfolio = replace(
        portfolio,
        member_measures=(portfolio.member_measures[0], replace(cbp, gap_probabilities=unknown)),
        fallback_probability=0.05,
    )
    projection = forecast(portfolio, draws=1_000, seed=0).measure("C14")
    assert projection.expected_closures == pytest.approx(4 * 0.05 + 6 * 0.3)
    assert projection.expected_rate == pytest.approx(100 * (55 + 2.0) / 100)
    assert projection.current_rate == 55.0
    assert projection.current_star == 2
    assert projection.closures_to_next_star == 4
    assert projection.method == "exact"


def test_the_same_seed_gives_the_same_forecast_and_reports_it():
    first = forecast(greedy_trap(), draws=5_000, seed=3)
    again = forecast(greedy_trap(), draws=5_000, seed=3)
    assert first.as_dict() | {"elapsed_seconds": 0} == again.as_dict() | {"elapsed_seconds": 0}
    assert (first.draws, first.seed) == (5_000, 3)


def test_forecast_json_has_the_fields_the_command_prints():
    document = json.loads(json.dumps(forecast(greedy_trap(), draws=2_000, seed=0).as_dict()))
    assert {"expected_overall", "p_overall_at_least_4", "overall_probabilities", "measures"} <= set(document)
    assert document["measures"][1]["star_probabilities"].keys() == {"1", "2", "3", "4", "5"}
    assert sum(document["overall_probabilities"].values()) == pytest.approx(1.0)


def test_what_if_closures_make_the_outcome_certain():
    scenario = what_if(greedy_trap(), {"C14": Assumption(extra_closures=4)}, draws=2_000)
    assert scenario.p_at_least_4 == 1.0
    assert scenario.rating_probabilities == {"4.0": 1.0}
    assert scenario.measure("C14").method == "assumed"
    assert scenario.measure("C14").star_probabilities == (0.0, 0.0, 1.0, 0.0, 0.0)
    assert scenario.assumptions == {"C14": {"extra_closures": 4}}


def test_what_if_target_rate_takes_the_fewest_closures_reaching_it():
    # 59% of 100 from 55 closed: 4 closures.
    scenario = what_if(greedy_trap(), {"C14": Assumption(target_rate=Decimal("59"))}, draws=1_000)
    assert scenario.measure("C14").expected_closures == 4.0
    assert scenario.measure("C14").expected_rate == 59.0
    assert scenario.rating_probabilities == {"4.0": 1.0}


def test_what_if_recomputes_reward_factor_and_cai_with_the_engine():
    portfolio = greedy_trap()
    raised = {m.cms_id: Assumption(star=5) for m in portfolio.contract_measures[:25]}
    raised["C12"] = Assumption(extra_closures=0)
    raised["C14"] = Assumption(extra_closures=10)
    scenario = what_if(portfolio, raised, draws=500)
    stars = {m.cms_id: m.star for m in portfolio.contract_measures} | dict.fromkeys(list(raised)[:25], 5)
    stars |= {"C12": 2, "C14": 4}
    engine = rate_contract(stars, PROFILE, METHODOLOGY).overall
    assert scenario.rating_probabilities == {f"{float(engine.rating):.1f}": 1.0}
    assert scenario.reward_factor_probabilities == {f"{float(engine.chosen.reward_factor):.1f}": 1.0}
    # All those 5s: high mean, and the reward factor the engine picks is 0.3 or 0.4, not today's.
    assert engine.chosen.reward_factor >= Decimal("0.3")
    assert engine.chosen.cai == METHODOLOGY.cai_value(RatingColumn.OVERALL, 4)
    assert forecast(portfolio, draws=500).reward_factor_probabilities.keys() <= {"0.0", "0.2"}


def test_what_if_score_for_a_contract_measure_uses_its_cut_points():
    portfolio = greedy_trap()
    scored = ContractMeasure(
        "C01", score=Decimal("70"), cut_points=portfolio.member_measures[0].cut_points, precision=0
    )
    portfolio = replace(
        portfolio,
        contract_measures=(*(m for m in portfolio.contract_measures if m.cms_id != "C01"), scored),
    )
    # With 40/60/70/80 cut points 70 is 4 stars and 81 is 5.
    assert forecast(portfolio, draws=200).contract_measure_stars["C01"] == 4
    assert what_if(portfolio, {"C01": Assumption(score=81)}, draws=200).contract_measure_stars["C01"] == 5


@pytest.mark.parametrize(
    ("assumed", "message"),
    [
        ({"C99": Assumption(star=3)}, "does not have: C99"),
        ({"C14": Assumption(star=3)}, "member-level: assume extra closures or a target rate"),
        (
            {"C14": Assumption(extra_closures=1, target_rate=60)},
            "exactly one of extra_closures or target_rate",
        ),
        ({"C14": Assumption(extra_closures=11)}, "extra closures must be 0 to 10"),
        ({"C14": Assumption(target_rate=50)}, "already passed today"),
        ({"C14": Assumption(target_rate=70)}, "out of reach"),
        ({"C01": Assumption(extra_closures=2)}, "contract-level: assume a star or a score"),
        ({"C01": Assumption(score=80)}, "needs the measure's cut points"),
    ],
)
def test_bad_what_if_assumptions_are_refused(assumed, message):
    with pytest.raises(PortfolioInputError, match=message):
        what_if(greedy_trap(), assumed, draws=100)

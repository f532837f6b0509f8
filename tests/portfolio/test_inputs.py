"""Bad input fails with a `PortfolioInputError` (a `ValueError`) that says what is wrong."""

from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from ratings.portfolio import (
    ContractMeasure,
    InterventionType,
    PortfolioInputError,
    forecast,
    optimize,
    with_interventions,
)
from tests.portfolio.instances import greedy_trap

CALL = {"C12": 0.3, "C14": 0.3}


def with_catalog(*kinds: InterventionType):
    """The greedy trap with another intervention catalog."""
    return replace(greedy_trap(), interventions=kinds)


def with_cbp(**changes):
    """The greedy trap with its CBP measure changed."""
    portfolio = greedy_trap()
    gsd, cbp = portfolio.member_measures
    return replace(portfolio, member_measures=(gsd, replace(cbp, **changes)))


def test_the_error_is_a_value_error():
    assert issubclass(PortfolioInputError, ValueError)


@pytest.mark.parametrize("budget", [0, -10.0, float("nan"), float("inf"), True, "100"])
def test_budget_must_be_positive(budget):
    with pytest.raises(PortfolioInputError, match="budget must be a positive amount"):
        optimize(greedy_trap(), budget, draws=100)


@pytest.mark.parametrize(
    ("portfolio", "budget", "message"),
    [
        (
            with_catalog(InterventionType("call", 10.0, {"C14": 1.5})),
            50.0,
            "uplift for C14 must be a probability",
        ),
        (
            with_catalog(InterventionType("call", 10.0, {"C14": -0.1})),
            50.0,
            "uplift for C14 must be a probability",
        ),
        (with_catalog(InterventionType("call", 0.0, CALL)), 50.0, "unit cost must be positive"),
        (
            with_catalog(InterventionType("call", 10.0, CALL, capacity=-1)),
            50.0,
            "capacity must be a whole number",
        ),
        (
            with_catalog(InterventionType("call", 10.0, CALL, capacity=2.5)),
            50.0,
            "capacity must be a whole number",
        ),
        (with_catalog(InterventionType("call", 10.0, CALL, capacity=0)), 50.0, "infeasible capacity"),
        (
            with_catalog(InterventionType("a", 5.0, CALL), InterventionType("a", 6.0, CALL)),
            50.0,
            "codes must be unique",
        ),
        (with_catalog(), 50.0, "catalog is empty"),
        (
            with_catalog(InterventionType("lab", 10.0, {"C13": 0.3})),
            50.0,
            "no intervention in the catalog has an uplift",
        ),
        (greedy_trap(), 5.0, "below the cheapest applicable intervention"),
        (replace(greedy_trap(), member_measures=()), 50.0, "no gaps at all"),
        (with_cbp(gap_probabilities=np.full(10, 1.2)), 50.0, "closure probabilities must be between 0 and 1"),
        (with_cbp(gap_probabilities=np.full(10, np.nan)), 50.0, "have no prediction \\(NaN\\)"),
        (with_cbp(gap_members=np.full(10, 7)), 50.0, "more than one open gap"),
        (with_cbp(gap_members=np.arange(10) - 1), 50.0, "non-negative"),
        (with_cbp(gap_members=np.arange(10.0)), 50.0, "integer member keys"),
        (with_cbp(closed=95), 50.0, "exceed eligible"),
        (with_cbp(eligible=0, closed=0), 50.0, "needs eligible members"),
        (with_cbp(cms_id="C99"), 50.0, "not in the 2026 catalog: C99"),
        (with_cbp(cms_id="C12"), 50.0, "given more than once: C12"),
        (
            replace(greedy_trap(), fallback_probability=1.5),
            50.0,
            "fallback_probability must be a probability",
        ),
    ],
)
def test_bad_portfolios_budgets_and_catalogs_are_refused(portfolio, budget, message):
    with pytest.raises(PortfolioInputError, match=message):
        optimize(portfolio, budget, draws=100)


def test_a_portfolio_without_open_gaps_has_nothing_to_optimize_but_can_be_forecast():
    closed = with_cbp(gap_members=np.empty(0, np.int64), gap_probabilities=np.empty(0))
    closed = replace(
        closed,
        member_measures=(
            replace(
                closed.member_measures[0], gap_members=np.empty(0, np.int64), gap_probabilities=np.empty(0)
            ),
            closed.member_measures[1],
        ),
    )
    with pytest.raises(PortfolioInputError, match="no open gaps to work"):
        optimize(closed, 50.0, draws=100)
    assert forecast(closed, draws=100).rating_probabilities == {"3.5": 1.0}


@pytest.mark.parametrize(
    ("contract_measure", "message"),
    [
        (ContractMeasure("C01", star=4, score=Decimal(80)), "exactly one of star or score"),
        (ContractMeasure("C01"), "exactly one of star or score"),
        (ContractMeasure("C01", star=6), "star must be 1 to 5"),
        (ContractMeasure("C01", score=Decimal(80)), "a score needs cut points"),
    ],
)
def test_bad_contract_level_measures_are_refused(contract_measure, message):
    portfolio = greedy_trap()
    others = tuple(m for m in portfolio.contract_measures if m.cms_id != "C01")
    with pytest.raises(PortfolioInputError, match=message):
        forecast(replace(portfolio, contract_measures=(*others, contract_measure)), draws=100)


@pytest.mark.parametrize(("objective", "message"), [("max_stars", "objective must be one of")])
def test_unknown_objective_is_refused(objective, message):
    with pytest.raises(PortfolioInputError, match=message):
        optimize(greedy_trap(), 50.0, objective, draws=100)


@pytest.mark.parametrize("draws", [0, -5, 2.5, True])
def test_draws_must_be_a_positive_whole_number(draws):
    with pytest.raises(PortfolioInputError, match="draws must be a positive whole number"):
        forecast(greedy_trap(), draws=draws)


def test_bucket_width_must_be_a_fraction():
    with pytest.raises(PortfolioInputError, match="bucket_width"):
        optimize(greedy_trap(), 50.0, draws=100, bucket_width=0.0)


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ([(5, "call"), (5, "call")], "one intervention of a type at most"),
        ([(5, "visit")], "not in the catalog: visit"),
        ([(99, "call")], "members without open gaps"),
    ],
)
def test_bad_hand_made_plans_are_refused(chosen, message):
    with pytest.raises(PortfolioInputError, match=message):
        with_interventions(greedy_trap(), chosen)

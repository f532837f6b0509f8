"""The scale run a benchmark command calls, here at 20,000 members (≈ 120,000 open gaps)."""

import json

import pytest

from ratings.portfolio import scale_run, synthetic_portfolio


def test_synthetic_contract_has_about_six_open_gaps_per_member():
    portfolio = synthetic_portfolio(2_000, seed=1)
    assert len(portfolio.member_measures) == 17
    assert 10_000 <= portfolio.gap_count() <= 14_000
    assert {kind.code for kind in portfolio.interventions} >= {"mailer", "phone_call", "home_visit"}


@pytest.mark.slow
def test_scale_run_forecasts_and_optimizes_twenty_thousand_members():
    report = json.loads(json.dumps(scale_run(20_000, seed=0, draws=5_000)))
    plan = report["plan"]
    assert report["members"] == 20_000
    assert 100_000 <= report["open_gaps"] <= 140_000
    assert plan["aggregated"] is True
    assert plan["classes"] < plan["candidates"] / 5
    assert plan["total_cost"] <= plan["budget"]
    # The generated contract sits at 3.5 stars with 4 within reach of $5 per member.
    assert report["expected_overall"] == 3.5
    assert plan["expected_overall_after"] > 3.9
    assert plan["p_overall_at_least_4_after"] > 0.9
    assert 0.0 <= plan["optimality_gap"] <= 0.01
    assert plan["objective_bound"] >= plan["objective_value"]
    assert set(report["seconds"]) == {"generate", "forecast", "optimize", "optimize_steps"}

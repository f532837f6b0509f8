"""Each persona walks the Star Ratings console on the demo plan, in Chromium at 1366 × 768.

The analyst answers the console's six questions, each in at most five clicks from the admin's front
page: (a) H9002's projected overall and why, (b) the three measures where a star is cheapest,
(c) what $25,000 buys and P(≥ 4 ★) before and after (then proposes the plan), (d) scenario A
against B, (e) the equity gap per measure, (f) where H9002 ranks nationally on each measure, (g)
where the star year 2028 cut points are heading (after projecting them).
Figures are read back from what the engine stored, never typed in here.
"""

import pytest

from hedis_portal import formats
from interventions.models import Intervention
from members.models import Contract
from ratings.live.rating import contract_live_rating
from ratings.models import PortfolioRun
from tests.browser import DEMO_PASSWORD, demo_loaded, log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Clicks:
    """Counts a walk's clicks (ticking a box is one), so each question is answered in at most five."""

    def __init__(self, page):
        self.page, self.count = page, 0

    def click(self, selector: str, **options) -> None:
        self.page.click(selector, **options)
        self.count += 1

    def check(self, locator) -> None:
        locator.check()
        self.count += 1

    def fill(self, selector: str, value: str) -> None:
        self.page.fill(selector, value)

    def start(self) -> "Clicks":
        """From the admin's front page, counting again from nothing."""
        self.page.goto(self.page.url.split("/admin/")[0] + "/admin/")
        self.count = 0
        return self


def _drawn(watched, chart_id: str) -> list[dict]:
    watched.page.wait_for_function(
        "id => window.Chart && Chart.getChart(document.querySelector(`#${id} canvas`))", arg=chart_id
    )
    return watched.chart_series(chart_id)


def _scenario_box(page, label: str):
    """The tick box of the saved scenario named `label` on the Scenarios tab."""
    return page.locator(".scenarios-table tbody tr", has_text=label).locator("input[name=run]")


@pytest.fixture
def demo(db):
    demo_loaded("quality.analyst", "care.manager", "administrator")


def test_a_quality_analyst_answers_the_six_questions(demo, watched, live_server):
    page = watched.page
    log_in(page, live_server, "quality.analyst", DEMO_PASSWORD)
    walk = Clicks(page)
    h9002 = Contract.objects.get(contract_id="H9002")
    overall = contract_live_rating(contract=h9002, measurement_year=2026).as_dict()["overall"]

    # (a) The projected overall and why: one click.
    walk.start().click("text=H9002 · measurement year 2026")
    assert page.inner_text("#rating-overall .value") == formats.stars(overall["rating"]) == "3.5 ★"
    why = page.inner_text("#rating-overall p")
    assert "weighted mean" in why and "rounds to 3.5 ★" in why
    assert walk.count == 1

    # (b) The three measures where a star is cheapest: the first three rows, on the first screen.
    rows = page.locator(".overview-measures tbody tr")
    cheapest = [rows.nth(n).locator("th a").first.inner_text() for n in range(3)]
    assert len(set(cheapest)) == 3 and rows.nth(2).bounding_box()["y"] < 768
    assert walk.count == 1

    # (c) What $25,000 buys: Scenarios, the budget, start; the job's page opens the plan when done.
    walk.start().click("text=H9002 · measurement year 2026")
    walk.click("nav.console-tabs >> text=Scenarios")
    walk.fill("#id_optimize-name", "A $25,000 plan")
    walk.fill("#id_optimize-budget", "25000")
    walk.click("text=Start the optimizer")
    page.wait_for_url("**/admin/star-ratings/runs/*/", timeout=120_000)
    assert walk.count == 3
    plan = PortfolioRun.objects.get(kind=PortfolioRun.Kind.OPTIMIZE, name="A $25,000 plan")
    before, after = plan.result["p_overall_at_least_4_before"], plan.result["p_overall_at_least_4_after"]
    assert 0.2 <= before <= 0.6 and after >= before + 0.2
    headline = page.inner_text(".console-figures")
    assert f"{formats.probability(before)} → {formats.probability(after)}" in headline
    assert formats.money(plan.result["total_cost"]) in headline
    assert [series["label"] for series in _drawn(watched, "run-distribution")] == [
        "Without the plan",
        "With the plan",
    ]
    assert plan.result["budget_left"]["reason"] in page.inner_text("#run-budget")

    # ... and proposes it: each intervention then awaits a human's approval.
    proposed_before = Intervention.objects.count()
    walk.click("#run-propose")
    page.wait_for_selector("#run-proposed", timeout=60_000)
    plan.refresh_from_db()
    assert plan.proposed_at is not None
    assert Intervention.objects.count() - proposed_before == len(plan.result["interventions"])

    # (d) Scenario A against B: the demo's forecast (A) against the plan (B), side by side.
    forecast = PortfolioRun.objects.get(contract=h9002, kind=PortfolioRun.Kind.FORECAST)
    walk.start().click("text=H9002 · measurement year 2026")
    walk.click("nav.console-tabs >> text=Scenarios")
    walk.check(_scenario_box(page, f"Forecast #{forecast.pk}"))
    walk.check(_scenario_box(page, "A $25,000 plan"))
    walk.click("text=Compare selected")
    assert walk.count == 5
    series = _drawn(watched, "compare-distribution")
    assert [each["label"] for each in series] == [f"Forecast #{forecast.pk}", "A $25,000 plan"]
    assert [round(sum(each["data"])) for each in series] == [100, 100]
    assert series[1]["data"][-1] == round(100 * plan.result["overall_probabilities_after"]["4.0"], 2)
    figures = page.locator(".compare-table tbody tr")
    p_at_least_4 = figures.filter(has_text="P(≥ 4 ★)").locator("td").all_inner_texts()
    assert p_at_least_4 == [
        formats.probability(forecast.result["p_overall_at_least_4"]),
        formats.probability(after),
    ]

    # (e) The equity gap per measure.
    walk.start().click("text=H9002 · measurement year 2026")
    walk.click("nav.console-tabs >> text=Equity")
    assert walk.count == 2
    equity = _drawn(watched, "equity-rates")
    assert len(equity) == 4 and "pts" in page.inner_text("#content")

    # (f) Where H9002 ranks nationally on each measure.
    walk.start().click("text=H9002 · measurement year 2026")
    walk.click("nav.console-tabs >> text=National benchmark")
    assert walk.count == 2
    percentiles = _drawn(watched, "benchmark-percentiles")[0]["data"]
    assert len(percentiles) > 30 and all(0 <= value <= 100 for value in percentiles if value is not None)
    assert " of " in page.inner_text("#content")  # "258 of 499"

    # (g) The cut points of the star year MY2026 counts toward: projected (10 draws here), then read.
    walk.start().click("text=H9002 · measurement year 2026")
    walk.click("nav.console-tabs >> text=Cut points")
    assert "No projection of star year 2028's cut points yet" in page.inner_text("#content")
    walk.fill("#id_draws", "10")
    # The job runs inside the request here (the test settings' immediate backend): wait for its end.
    walk.click("text=Start the projection", no_wait_after=True)
    page.wait_for_selector("#cut-points-table", timeout=180_000)
    assert walk.count == 3
    breast = page.locator("#cut-points-table tbody tr", has_text="Breast Cancer Screening").inner_text()
    assert breast.startswith("C01") and "→" in breast and ("harder" in breast or "easier" in breast)

    assert watched.problems() == []


def test_a_care_manager_sees_her_contracts_rating_but_plans_nothing(demo, watched, live_server):
    page = watched.page
    log_in(page, live_server, "care.manager", DEMO_PASSWORD)

    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#content-main-star-ratings tbody a").all_inner_texts() == [
        "H9001 · measurement year 2026",
        "Ratings, forecasts and plans of all your contracts",
    ]
    page.click("text=H9001 · measurement year 2026")
    assert page.inner_text("#rating-overall .value").endswith("★")
    tabs = page.locator("nav.console-tabs a").all_inner_texts()
    assert tabs == ["Overview", "Trend", "Cut points", "Scenarios", "Equity"]

    page.click("nav.console-tabs >> text=Scenarios")
    assert page.locator("text=Start the optimizer").count() == 0
    assert page.locator("text=Start the forecast").count() == 0

    # She compares the demo's forecast of H9001 with its plan, as the analyst would.
    h9001 = Contract.objects.get(contract_id="H9001")
    forecast = PortfolioRun.objects.get(contract=h9001, kind=PortfolioRun.Kind.FORECAST)
    plan = PortfolioRun.objects.get(contract=h9001, kind=PortfolioRun.Kind.OPTIMIZE)
    _scenario_box(page, f"Forecast #{forecast.pk}").check()
    _scenario_box(page, plan.name).check()
    page.click("text=Compare selected")
    assert [series["label"] for series in _drawn(watched, "compare-distribution")] == [
        f"Forecast #{forecast.pk}",
        plan.name,
    ]

    assert watched.problems() == []

    # Pages beyond her role or her contracts answer as refused, not as pages.
    benchmark = page.goto(f"{live_server.url}/admin/star-ratings/H9001/2026/benchmark/")
    other_contract = page.goto(f"{live_server.url}/admin/star-ratings/H9002/2026/")
    assert (benchmark.status, other_contract.status) == (403, 404)


def test_an_administrator_walks_every_tab_of_both_contracts_and_plans_for_h9001(demo, watched, live_server):
    page = watched.page
    log_in(page, live_server, "administrator", DEMO_PASSWORD)
    charts = {
        "Overview": "forecast-distribution",
        "Trend": "trend-ratings",
        "Equity": "equity-rates",
        "National benchmark": "benchmark-percentiles",
    }
    for contract_id in ("H9001", "H9002"):
        page.goto(f"{live_server.url}/admin/")
        page.click(f"text={contract_id} · measurement year 2026")
        for tab, chart_id in charts.items():
            page.click(f"nav.console-tabs >> text={tab}")
            assert _drawn(watched, chart_id), (contract_id, tab)

    # A plan for the contract already safe at 4 stars, then it against the demo's forecast.
    page.goto(f"{live_server.url}/admin/")
    page.click("text=H9001 · measurement year 2026")
    page.click("nav.console-tabs >> text=Scenarios")
    page.fill("#id_optimize-name", "H9001 at $10,000")
    page.fill("#id_optimize-budget", "10000")
    page.click("text=Start the optimizer")
    page.wait_for_url("**/admin/star-ratings/runs/*/", timeout=120_000)
    plan = PortfolioRun.objects.get(name="H9001 at $10,000")
    assert plan.contract.contract_id == "H9001" and plan.result["total_cost"] <= 10_000
    assert _drawn(watched, "run-distribution")
    page.click("nav.console-tabs >> text=Scenarios")
    boxes = page.locator("input[type=checkbox][name=run]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("text=Compare selected")
    assert [series["label"] for series in _drawn(watched, "compare-distribution")][1] == "H9001 at $10,000"
    assert watched.problems() == []

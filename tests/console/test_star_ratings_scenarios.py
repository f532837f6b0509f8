"""The console's scenario workspace: saved runs, the forms that start forecasts, what-ifs and
optimizer runs as jobs, and 2–4 runs compared side by side."""

import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from hedis_portal import formats, roles
from hedis_portal.models import Job
from interventions.models import InterventionType
from ratings.models import PortfolioRun
from ratings.planning import services as planning
from tests.browser import log_in
from tests.conftest import query_count
from tests.factories import UserFactory
from tests.ratings import conftest as ratings_fixtures
from tests.ratings import test_planning

pytestmark = pytest.mark.django_db

# The plan the ratings tests forecast: H2001 one BCS cut point short of 4 stars, a mammography outreach.
cut_points_2026 = ratings_fixtures.cut_points_2026
planned = test_planning.planned

PAGE = "/admin/star-ratings/H2001/2026/scenarios/"
COMPARE = "/admin/star-ratings/H2001/2026/compare/"


def _what_if_post(**rows) -> dict:
    """The what-if form as a browser posts it: its fields, and three assumption rows (blank unless given)."""
    data = {
        "start": "what_if",
        "what_if-name": "Mammography push",
        "what_if-draws": "2000",
        "what_if-seed": "7",
        "assume-TOTAL_FORMS": "3",
        "assume-INITIAL_FORMS": "0",
        "assume-MIN_NUM_FORMS": "0",
        "assume-MAX_NUM_FORMS": "60",
    }
    for index in range(3):
        data |= {
            f"assume-{index}-measure": "",
            f"assume-{index}-kind": "target_rate",
            f"assume-{index}-value": "",
        }
    for field, value in rows.items():
        row, name = field.split("_", 1)
        data[f"assume-{row}-{name}"] = value
    return data


def _optimizer_post(kind: InterventionType, **changes) -> dict:
    prefix = f"type-{kind.pk}"
    return {
        "start": "optimize",
        "optimize-name": "Spend $1,000",
        "optimize-budget": "1000",
        "optimize-objective": "p_at_least_4",
        "optimize-draws": "2000",
        "optimize-seed": "3",
        "optimize-time_limit": "30",
        f"{prefix}-unit_cost": "100",
        f"{prefix}-capacity": "",
        f"{prefix}-uplift_BCS": "60",
        **{f"{prefix}-{field}": value for field, value in changes.items()},
    }


def _errors(response) -> str:
    """The page's error messages as a reader sees them, in one line."""
    html = response.content.decode()
    lists = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    return " | ".join(re.sub(r"<[^>]+>", "", item).strip() for item in lists)


# --- the saved scenarios ------------------------------------------------------------------------


@pytest.fixture
def runs(planned, analyst):
    """A forecast, a what-if assuming BCS at 80% and an optimizer run of $1,000 on H2001."""
    common = {"contract": planned, "measurement_year": 2026, "user": analyst, "draws": 2000}
    return {
        "forecast": planning.forecast_run_create(**common),
        "what_if": planning.what_if_run_create(
            **common, name="BCS at 80%", assumptions={"C01": {"target_rate": Decimal(80)}}
        ),
        "optimize": planning.optimizer_run_create(**common, budget=Decimal(1000)),
    }


def test_only_the_optimizer_run_says_it_set_the_worklists_priorities(runs):
    assert {kind: run.priorities_set for kind, run in runs.items()} == {
        "forecast": False,
        "what_if": False,
        "optimize": True,
    }


def test_the_saved_scenarios_are_listed_newest_first_with_their_headline(client, analyst, runs):
    client.force_login(analyst)

    response = client.get(PAGE)

    assert response.status_code == 200
    listed = response.context["runs"]
    assert [run["pk"] for run in listed] == [runs["optimize"].pk, runs["what_if"].pk, runs["forecast"].pk]
    optimized, what_if = runs["optimize"].result, runs["what_if"].result
    assert listed[0]["label"] == f"Optimizer run #{runs['optimize'].pk}"
    assert listed[0]["expected"] == optimized["expected_overall_after"]
    assert listed[0]["p_at_least_4"] == optimized["p_overall_at_least_4_after"]
    assert (listed[0]["cost"], listed[0]["budget"]) == (optimized["total_cost"], 1000.0)
    assert (listed[1]["label"], listed[1]["expected"]) == ("BCS at 80%", what_if["expected_overall"])
    assert listed[2]["cost"] is None
    html = response.content.decode()
    assert f'{formats.money(optimized["total_cost"])} <span class="console-note">of $1,000</span>' in html
    assert formats.stars(what_if["expected_overall"], 2) in html
    assert f'href="{reverse("star_ratings:run", args=[runs["forecast"].pk])}"' in html
    assert f'name="run" value="{runs["what_if"].pk}"' in html


def test_the_list_reads_the_same_number_of_queries_for_any_number_of_runs(client, planned, analyst):
    manager = UserFactory(username="cm2", role=roles.CARE_MANAGER, contracts=[planned])
    client.force_login(manager)
    planning.forecast_run_create(contract=planned, measurement_year=2026, user=analyst, draws=500)
    one = query_count(lambda: client.get(PAGE))
    for seed in range(1, 4):
        planning.forecast_run_create(
            contract=planned, measurement_year=2026, user=analyst, draws=500, seed=seed
        )

    assert query_count(lambda: client.get(PAGE)) == one


def test_a_care_manager_sees_the_saved_list_but_no_forms_and_may_not_post(client, planned, runs):
    manager = UserFactory(username="cm2", role=roles.CARE_MANAGER, contracts=[planned])
    client.force_login(manager)

    page = client.get(PAGE)
    refused = client.post(PAGE, {"start": "forecast", "forecast-draws": "2000", "forecast-seed": "0"})

    assert page.status_code == 200
    assert len(page.context["runs"]) == 3
    assert b"Compare selected" in page.content
    assert b'name="start"' not in page.content
    assert refused.status_code == 403
    assert not Job.objects.exists()


def test_another_contracts_workspace_and_scenarios_are_404(client, analyst, other_contract, runs):
    client.force_login(analyst)
    theirs = PortfolioRun.objects.create(
        kind=PortfolioRun.Kind.FORECAST,
        contract=other_contract,
        measurement_year=2026,
        parameters={},
        inputs={},
        result={},
        duration_ms=1,
    )

    assert client.get("/admin/star-ratings/H1002/2026/scenarios/").status_code == 404
    assert client.post("/admin/star-ratings/H1002/2026/scenarios/", {"start": "forecast"}).status_code == 404
    assert client.get(f"{COMPARE}?run={runs['forecast'].pk}&run={theirs.pk}").status_code == 404


# --- the forms ------------------------------------------------------------------------------------


def test_the_forecast_form_starts_a_forecast_job_and_goes_to_its_page(client, analyst, planned):
    client.force_login(analyst)

    response = client.post(PAGE, {"start": "forecast", "forecast-draws": "3000", "forecast-seed": "11"})

    job = Job.objects.get()
    assert (job.kind, job.contract, job.created_by) == ("forecast", planned, analyst)
    assert job.parameters == {"measurement_year": 2026, "draws": 3000, "seed": 11, "cut_points": "projected"}
    assert response.status_code == 302
    assert response["Location"] == reverse("star_ratings:job", args=[job.pk]) + "?follow"


def test_a_named_forecast_is_saved_by_its_name(client, analyst, planned, run_jobs):
    client.force_login(analyst)

    with run_jobs():
        client.post(
            PAGE,
            {
                "start": "forecast",
                "forecast-name": "Before the fall push",
                "forecast-draws": "500",
                "forecast-seed": "0",
            },
        )

    assert Job.objects.get().parameters["name"] == "Before the fall push"
    run = PortfolioRun.objects.get()
    assert (run.kind, run.name) == (PortfolioRun.Kind.FORECAST, "Before the fall push")
    assert "Before the fall push" in client.get(PAGE).content.decode()


def test_the_what_if_form_starts_the_scenario_with_its_assumptions_by_cms_id(client, analyst, planned):
    client.force_login(analyst)
    page = client.get(PAGE)
    choices = dict(page.context["assumption_rows"].forms[0].fields["measure"].choices)

    response = client.post(
        PAGE,
        _what_if_post(**_row(0, "C01", "target_rate", "80.5"), **_row(1, "C03", "star", "5")),
    )

    assert choices["C01"] == "BCS · Breast Cancer Screening (C01)"
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.parameters == {
        "measurement_year": 2026,
        "draws": 2000,
        "seed": 7,
        "cut_points": "projected",
        "name": "Mammography push",
        "assumptions": {"C01": {"target_rate": "80.5"}, "C03": {"star": 5}},
    }


def _row(index: int, measure: str = "", kind: str = "target_rate", value: str = "") -> dict:
    return {f"{index}_measure": measure, f"{index}_kind": kind, f"{index}_value": value}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (_row(0, "C01", "target_rate", "120"), "BCS: a target rate is a percentage between 0 and 100."),
        (
            _row(0, "C01", "star", "4"),
            "BCS: its rate comes from members' gaps; assume extra gaps closed or a target rate.",
        ),
        (
            _row(0, "C03", "extra_closures", "4"),
            "ANNUAL-FLU-VACCINE: it is a contract-level score; assume a star or a score.",
        ),
        (_row(0, "C03", "star", "6"), "ANNUAL-FLU-VACCINE: a star is a whole number from 1 to 5."),
        (
            _row(0, "C01", "extra_closures", "31"),
            "BCS: extra gaps closed is a whole number from 0 to 30 (its open gaps).",
        ),
        (_row(0, "C01", "target_rate"), "BCS: give the value to assume."),
        (_row(0, "", "star", "4"), "Choose the measure this row assumes something about."),
        ({}, "Assume something about at least one measure."),
        (
            _row(0, "C01", "target_rate", "80") | _row(1, "C01", "extra_closures", "3"),
            "BCS is assumed twice; keep one row for it.",
        ),
    ],
)
def test_the_what_if_form_says_what_is_wrong_in_words(client, analyst, planned, rows, message):
    client.force_login(analyst)

    response = client.post(PAGE, _what_if_post(**rows))

    assert response.status_code == 200
    assert message in _errors(response).replace("&#x27;", "'")
    assert not Job.objects.exists()


def test_a_busy_contract_is_a_form_error_in_words(client, analyst, planned):
    client.force_login(analyst)
    client.post(PAGE, {"start": "forecast", "forecast-draws": "2000", "forecast-seed": "0"})

    response = client.post(PAGE, _what_if_post(**_row(0, "C01", "target_rate", "80")))

    assert response.status_code == 200
    assert "H2001 already has a job in progress (forecast, queued); wait for it to finish or cancel it." in (
        _errors(response)
    )
    assert Job.objects.count() == 1


def test_the_optimizer_form_shows_each_active_intervention_types_figures(client, analyst, planned):
    InterventionType.objects.create(name="Retired outreach", channel="mail", unit_cost=5, active=False)
    client.force_login(analyst)

    response = client.get(PAGE)

    (shown,) = response.context["intervention_types"]
    assert shown.intervention_type.name == "Mobile mammography"
    assert shown["unit_cost"].value() == Decimal("100.00")
    assert shown["uplift_BCS"].value() == Decimal("60.0")
    assert b"Retired outreach" not in response.content
    assert b"Chance of 4 stars or more" in response.content


def test_the_optimizer_form_starts_the_run_with_the_edited_figures(client, analyst, planned):
    kind = InterventionType.objects.get(name="Mobile mammography")
    client.force_login(analyst)

    response = client.post(PAGE, _optimizer_post(kind, unit_cost="80", capacity="25", uplift_BCS="45"))

    assert response.status_code == 302, _errors(response)
    job = Job.objects.get()
    assert job.kind == "optimize"
    parameters = job.parameters
    assert (
        Decimal(parameters["budget"]),
        parameters["objective"],
        parameters["draws"],
        parameters["seed"],
    ) == (
        Decimal(1000),
        "p_at_least_4",
        2000,
        3,
    )
    assert parameters["name"] == "Spend $1,000"
    (figures,) = parameters["intervention_types"]
    assert figures["id"] == kind.pk
    assert Decimal(str(figures["unit_cost"])) == Decimal(80)
    assert figures["capacity"] == 25
    assert figures["uplifts"] == {"BCS": 0.45}


def test_the_optimizer_form_refuses_figures_out_of_range_in_words(client, analyst, planned):
    kind = InterventionType.objects.get(name="Mobile mammography")
    client.force_login(analyst)

    response = client.post(PAGE, _optimizer_post(kind, uplift_BCS="140", **{"unit_cost": "-1"}))
    budgetless = client.post(PAGE, _optimizer_post(kind) | {"optimize-budget": "0"})

    errors = _errors(response)
    assert "Mobile mammography: the BCS uplift is between 0 and 100 points." in errors
    assert "Ensure this value is greater than or equal to 0." in errors
    assert "greater than or equal to 0.01" in _errors(budgetless)
    assert not Job.objects.exists()


def test_a_runs_link_opens_its_page(client, analyst, runs):
    client.force_login(analyst)

    assert client.get(reverse("star_ratings:run", args=[runs["what_if"].pk])).status_code == 200


# --- comparing ------------------------------------------------------------------------------------


def test_comparing_shows_each_scenario_oldest_first_with_its_difference_from_the_oldest(
    client, analyst, runs
):
    client.force_login(analyst)
    forecast, what_if, optimized = runs["forecast"], runs["what_if"], runs["optimize"]

    response = client.get(f"{COMPARE}?run={optimized.pk}&run={forecast.pk}&run={what_if.pk}")

    assert response.status_code == 200
    scenarios = response.context["scenarios"]
    assert [each["label"] for each in scenarios] == [
        f"Forecast #{forecast.pk}",
        "BCS at 80%",
        f"Optimizer run #{optimized.pk}",
    ]
    after = optimized.result["expected_overall_after"]
    assert scenarios[2]["expected_change"] == pytest.approx(after - forecast.result["expected_overall"])
    assert scenarios[2]["p_change"] == pytest.approx(
        (optimized.result["p_overall_at_least_4_after"] - forecast.result["p_overall_at_least_4"]) * 100
    )
    html = response.content.decode()
    assert formats.stars_change(after - forecast.result["expected_overall"]) in html
    assert "BCS (C01): its rate reaches 80.0% by the year end." in html
    assert "A budget of $1,000, aiming for expected overall stars." in html
    assert (
        formats.money(optimized.result["total_cost"]) + ' <span class="console-note">of a $1,000 budget'
        in html
    )
    assert "Nothing assumed: today&#x27;s gaps and scores" in html


def test_the_comparison_chart_has_a_dataset_per_scenario_over_the_overall_ratings(client, analyst, runs):
    client.force_login(analyst)
    forecast, optimized = runs["forecast"], runs["optimize"]

    response = client.get(f"{COMPARE}?run={forecast.pk}&run={optimized.pk}")

    config = json.loads(
        re.search(
            r'id="compare-distribution-config"[^>]*>(.*?)</script>', response.content.decode(), re.S
        ).group(1)
    )
    before, after = forecast.result["overall_probabilities"], optimized.result["overall_probabilities_after"]
    levels = sorted(set(before) | set(after), key=float)
    assert config["type"] == "bar"
    assert config["data"]["labels"] == [formats.stars(float(level)) for level in levels]
    assert [(each["label"], each["data"]) for each in config["data"]["datasets"]] == [
        (f"Forecast #{forecast.pk}", [round(before.get(level, 0) * 100, 2) for level in levels]),
        (f"Optimizer run #{optimized.pk}", [round(after.get(level, 0) * 100, 2) for level in levels]),
    ]


@pytest.mark.parametrize("chosen", [1, 5])
def test_comparing_fewer_than_two_or_more_than_four_says_so(client, analyst, runs, chosen):
    client.force_login(analyst)
    query = "&".join(f"run={pk}" for pk in range(1, chosen + 1))

    response = client.get(f"{COMPARE}?{query}", follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert f"Choose two to four scenarios to compare (you chose {chosen})" in response.content.decode()


@pytest.mark.parametrize(
    "odd",
    ["abc", "", "%C2%B2", "%D9%A1", "-1", "1.0", str(2**63), "9" * 40],
    ids=["letters", "empty", "superscript-2", "arabic-1", "negative", "decimal", "past-bigint", "40-digits"],
)
def test_a_run_id_that_names_no_run_is_404_not_a_server_error(client, analyst, runs, odd):
    client.force_login(analyst)

    response = client.get(f"{COMPARE}?run={runs['forecast'].pk}&run={odd}")

    assert response.status_code == 404


def test_a_run_of_another_measurement_year_is_not_compared(client, analyst, runs):
    client.force_login(analyst)
    forecast, what_if = runs["forecast"], runs["what_if"]
    PortfolioRun.objects.filter(pk=what_if.pk).update(measurement_year=2025)

    response = client.get(f"{COMPARE}?run={forecast.pk}&run={what_if.pk}")

    assert response.status_code == 404


def test_the_same_run_twice_counts_once(client, analyst, runs):
    client.force_login(analyst)
    pk = runs["forecast"].pk

    response = client.get(f"{COMPARE}?run={pk}&run={pk}", follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert "Choose two to four scenarios to compare (you chose 1)" in response.content.decode()


# --- in a browser ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_analyst_starts_a_what_if_then_compares_two_scenarios_in_a_browser(
    watched, live_server, cut_points_2026, planned, analyst, runs
):
    page = watched.page
    log_in(page, live_server, "analyst", "test-password")

    page.goto(f"{live_server.url}{PAGE}")
    page.select_option("#id_assume-0-measure", "C01")
    page.select_option("#id_assume-0-kind", "extra_closures")
    page.fill("#id_assume-0-value", "10")
    page.click("text=Add a measure")
    page.select_option("#id_assume-3-measure", "C03")
    page.select_option("#id_assume-3-kind", "star")
    page.fill("#id_assume-3-value", "5")
    page.fill("#id_what_if-name", "Ten more mammograms")
    page.fill("#id_what_if-draws", "1000")
    page.click("text=Start the what-if")
    page.wait_for_url("**/runs/**")

    job = Job.objects.get(kind="forecast")
    assert page.url == live_server.url + reverse("star_ratings:run", args=[job.result["portfolio_run"]])
    assert job.parameters["assumptions"] == {"C01": {"extra_closures": 10}, "C03": {"star": 5}}

    page.goto(f"{live_server.url}{PAGE}")
    page.check(f"#compare-{runs['forecast'].pk}")
    page.check(f"#compare-{runs['optimize'].pk}")
    page.click("text=Compare selected")
    page.wait_for_url("**/compare/**")
    page.wait_for_load_state("load")

    forecast, optimized = runs["forecast"].result, runs["optimize"].result
    levels = sorted(
        set(forecast["overall_probabilities"]) | set(optimized["overall_probabilities_after"]), key=float
    )
    assert watched.chart_series("compare-distribution") == [
        {
            "label": f"Forecast #{runs['forecast'].pk}",
            "data": [round(forecast["overall_probabilities"].get(x, 0) * 100, 2) for x in levels],
        },
        {
            "label": f"Optimizer run #{runs['optimize'].pk}",
            "data": [round(optimized["overall_probabilities_after"].get(x, 0) * 100, 2) for x in levels],
        },
    ]
    assert watched.problems() == []

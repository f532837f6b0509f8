"""Forecasts, what-if scenarios and optimizer runs through the API, the commands and the admin."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from gaps.models import CareGap
from hedis_portal import roles
from interventions.models import Intervention, InterventionStatus
from interventions.services import intervention_type_create
from members.models import Contract
from ratings.models import ContractMeasureScore, PortfolioRun
from ratings.models import StarYearMeasure as Edition
from tests.factories import ContractFactory, UserFactory, measure
from tests.ratings.test_live import FOUR_STAR_SCORES, add_gaps

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(cut_points_2026, analyst):
    """An MA-only contract one BCS cut point short of more stars, and a mammography outreach."""
    contract = ContractFactory(
        contract_id="H2001",
        organization_type=Contract.OrganizationType.MA_ONLY,
        lis_de_percent=Decimal(10),
        disability_percent=Decimal(10),
    )
    analyst.contracts.add(contract)
    add_gaps(contract, "BCS", closed=70, open=30)  # 70%: 3 stars; 76% is the 4-star cut point
    add_gaps(contract, "COL", closed=7, open=3)
    for cms_id, score in FOUR_STAR_SCORES.items():
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2028,
            measure=Edition.objects.get(star_year=2026, cms_id=cms_id).measure,
            score=Decimal(score),
            entered_by=analyst,
        )
    intervention_type_create(
        name="Mobile mammography", channel="provider", unit_cost=Decimal(100), uplifts={measure("BCS"): 0.6}
    )
    return contract


def _forecast(client, **extra):
    return client.post(
        "/api/forecasts/", {"contract": "H2001", "measurement_year": 2026, "draws": 2000, **extra}
    )


def _optimize(client, **extra):
    body = {"contract": "H2001", "measurement_year": 2026, "budget": "1000", "draws": 2000, **extra}
    return client.post("/api/optimizer/runs/", body)


def test_forecast_is_stored_with_what_it_saw(api, analyst, planned):
    response = _forecast(api(analyst))
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "forecast" and body["created_by"] == analyst.username
    assert body["parameters"] == {"draws": 2000, "seed": 0}
    assert body["inputs"]["open_gaps"] == 33
    # No gap has a prediction: the documented fallback probability applies to all of them.
    assert body["inputs"]["gaps_without_prediction"] == 33
    result = body["result"]
    assert result["draws"] == 2000
    assert 0 <= result["p_overall_at_least_4"] <= 1
    assert sum(result["overall_probabilities"].values()) == pytest.approx(1)
    assert {m["cms_id"] for m in result["measures"]} == {"C01", "C02"}
    assert PortfolioRun.objects.get().duration_ms > 0


def test_what_if_is_a_named_scenario_that_recomputes_the_rating(api, analyst, planned):
    client = api(analyst)
    baseline = _forecast(client).json()["result"]
    scenario = _forecast(client, name="BCS to 90%", assumptions={"C01": {"target_rate": "90"}})
    assert scenario.status_code == 201
    body = scenario.json()
    assert (body["kind"], body["name"]) == ("what_if", "BCS to 90%")
    bcs = next(m for m in body["result"]["measures"] if m["cms_id"] == "C01")
    assert bcs["star_probabilities"]["5"] == 1.0
    assert body["result"]["expected_overall"] >= baseline["expected_overall"]


@pytest.mark.parametrize(
    "extra",
    [
        {"name": "no assumptions"},
        {"assumptions": {"C01": {"star": 4}}},
        {"name": "two at once", "assumptions": {"C01": {"star": 4, "extra_closures": 3}}},
        {"name": "unknown measure", "assumptions": {"C99": {"star": 4}}},
    ],
)
def test_bad_what_if_requests_are_400(api, analyst, planned, extra):
    response = _forecast(api(analyst), **extra)
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


def test_optimizer_plan_stays_in_budget_scores_the_worklist_and_is_proposed_once(api, analyst, planned):
    client = api(analyst)
    response = _optimize(client)
    assert response.status_code == 201
    run = response.json()
    result = run["result"]
    assert run["solver_status"] == result["solver_status"] == "optimal"
    assert run["optimality_gap"] == result["optimality_gap"]
    assert 0 < result["total_cost"] <= 1000
    assert all(i["cost"] == 100 for i in result["interventions"])
    assert result["expected_overall_after"] >= result["expected_overall_before"]
    assert result["p_overall_at_least_4_after"] >= result["p_overall_at_least_4_before"]

    # The worklist's priorities come from the same model.
    bcs = CareGap.objects.filter(contract=planned, measure=measure("BCS"), compliance_status="open")
    assert bcs.filter(priority_score__gt=0).exists()
    assert not CareGap.objects.filter(
        contract=planned, compliance_status="closed", priority_score__gt=0
    ).exists()

    proposed = client.post(f"/api/optimizer/runs/{run['id']}/propose/")
    assert proposed.json() == {"proposed": len(result["interventions"])}
    assert Intervention.objects.filter(status=InterventionStatus.PROPOSED).count() == len(
        result["interventions"]
    )
    assert set(Intervention.objects.values_list("cost", flat=True)) == {Decimal("100.00")}
    again = client.post(f"/api/optimizer/runs/{run['id']}/propose/")
    assert again.status_code == 400 and "already proposed" in again.json()["message"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"budget": "0"}, "budget"), ({"budget": "-5"}, "budget"), ({"objective": "cheapest"}, "objective")],
)
def test_bad_optimizer_requests_are_400(api, analyst, planned, extra, field):
    response = _optimize(api(analyst), **extra)
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


def test_a_catalog_with_no_applicable_intervention_is_400(api, analyst, planned):
    from interventions.models import InterventionType

    InterventionType.objects.update(active=False)
    response = _optimize(api(analyst))
    assert response.status_code == 400
    assert not PortfolioRun.objects.exists()


def test_a_contract_without_gaps_is_400(api, analyst, planned):
    empty = ContractFactory(contract_id="H2002", organization_type=Contract.OrganizationType.MA_ONLY)
    analyst.contracts.add(empty)
    response = api(analyst).post(
        "/api/forecasts/", {"contract": "H2002", "measurement_year": 2026, "draws": 2000}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("persona", "create", "read"),
    [("care_manager", 403, 200), ("analyst", 201, 200), ("colleague", 403, 404), (None, 401, 401)],
)
def test_runs_by_persona(request, api, planned, persona, create, read):
    user = request.getfixturevalue(persona) if persona else None
    if persona == "care_manager":
        user.contracts.add(planned)
    analyst_run = _forecast(api(request.getfixturevalue("analyst"))).json()
    client = api(user)
    assert _forecast(client).status_code == create
    assert client.get(f"/api/forecasts/{analyst_run['id']}/").status_code == read


def test_care_manager_cannot_propose_a_plan(api, analyst, care_manager, planned):
    care_manager.contracts.add(planned)
    run = _optimize(api(analyst)).json()
    assert api(care_manager).post(f"/api/optimizer/runs/{run['id']}/propose/").status_code == 403
    assert not Intervention.objects.exists()


def test_forecast_and_optimize_commands_print_the_documented_json(planned, capsys):
    call_command("forecast", contract="H2001", measurement_year=2026, draws=2000, as_json=True)
    forecast = json.loads(capsys.readouterr().out)
    assert {"expected_overall", "p_overall_at_least_4", "measures"} <= set(forecast)

    proposer = UserFactory(username="planner", role=roles.QUALITY_ANALYST, contracts=[planned])
    call_command(
        "optimize",
        contract="H2001",
        measurement_year=2026,
        budget="1000",
        draws=2000,
        propose="planner",
        as_json=True,
    )
    plan = json.loads(capsys.readouterr().out)
    assert {
        "total_cost",
        "expected_overall_before",
        "expected_overall_after",
        "p_overall_at_least_4_before",
        "p_overall_at_least_4_after",
        "solver_status",
        "optimality_gap",
        "interventions",
    } <= set(plan)
    assert plan["proposed"] == len(plan["interventions"])
    assert set(Intervention.objects.values_list("created_by", flat=True)) == {proposer.pk}


@pytest.mark.parametrize(
    ("budget", "message"), [("0", "more than zero"), ("-1", "more than zero"), ("lots", "not a number")]
)
def test_optimize_command_refuses_a_bad_budget(planned, budget, message):
    with pytest.raises(CommandError, match=message):
        call_command("optimize", contract="H2001", measurement_year=2026, budget=budget)


def test_admin_proposes_an_optimizer_plan(client, analyst, planned):
    run = _optimize_run(analyst)
    client.force_login(analyst)
    client.post(
        "/admin/ratings/portfoliorun/", {"action": "propose_interventions", "_selected_action": [run.pk]}
    )
    run.refresh_from_db()
    assert run.proposed_at is not None
    assert Intervention.objects.count() == len(run.result["interventions"])


def _optimize_run(user) -> PortfolioRun:
    from ratings.planning.services import optimizer_run_create

    return optimizer_run_create(
        contract=Contract.objects.get(contract_id="H2001"),
        measurement_year=2026,
        user=user,
        budget=1000,
        draws=2000,
    )


def test_a_snapshot_quotes_the_latest_forecast_and_plan(api, analyst, planned):
    from ratings.live.services import portfolio_snapshot_create

    client = api(analyst)
    assert portfolio_snapshot_create(contract=planned, measurement_year=2026).data["projection"] is None
    forecast = _forecast(client).json()
    plan = _optimize(client).json()
    data = portfolio_snapshot_create(contract=planned, measurement_year=2026).data
    assert data["projection"]["run"] == forecast["id"]
    assert data["projection"]["p_overall_at_least_4"] == forecast["result"]["p_overall_at_least_4"]
    assert data["plan"]["run"] == plan["id"]
    assert data["plan"]["total_cost"] == plan["result"]["total_cost"]


def test_opening_an_optimizer_run_is_an_access_entry_in_the_api_and_the_admin(api, client, analyst, planned):
    from auditlog.models import LogEntry

    run = PortfolioRun.objects.get(pk=_optimize(api(analyst)).json()["id"])
    response = api(analyst).get(f"/api/optimizer/runs/{run.pk}/")
    assert response.status_code == 200
    client.force_login(analyst)
    assert client.get(f"/admin/ratings/portfoliorun/{run.pk}/change/").status_code == 200
    reads = LogEntry.objects.get_for_object(run).filter(action=LogEntry.Action.ACCESS)
    assert [(entry.actor, bool(entry.cid)) for entry in reads] == [(analyst, True), (analyst, True)]
    assert reads.order_by("timestamp").first().cid == response["X-Request-ID"]

"""Forecasts, what-if scenarios and optimizer runs through the API, the commands and the admin."""

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from gaps.models import CareGap
from hedis_portal import roles
from hedis_portal.errors import ApplicationError
from hedis_portal.models import Job
from interventions.models import Intervention, InterventionStatus, InterventionType
from interventions.services import intervention_type_create
from members.models import Contract
from ratings.models import ContractMeasureScore, PortfolioRun
from ratings.models import StarYearMeasure as Edition
from tests.conftest import finished_job
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


def _forecast(client, run_jobs, **extra):
    """POST a forecast (a what-if with `name` and `assumptions`); the job it starts runs."""
    with run_jobs():
        return client.post(
            "/api/forecasts/", {"contract": "H2001", "measurement_year": 2026, "draws": 2000, **extra}
        )


def _optimize(client, run_jobs, **extra):
    """POST an optimizer run; the job it starts runs."""
    body = {"contract": "H2001", "measurement_year": 2026, "budget": "1000", "draws": 2000, **extra}
    with run_jobs():
        return client.post("/api/optimizer/runs/", body)


def _succeeded(client, started) -> tuple[dict, dict]:
    """The job a POST started, which must have succeeded, and the run its result links."""
    job = finished_job(client, started)
    assert (job["status"], job["progress"], job["error"]) == ("succeeded", 1.0, None)
    run = client.get(job["result"]["url"])
    assert run.status_code == 200, run.json()
    return job, run.json()


def _failed(client, started) -> dict:
    """The error of the job a POST started, which must have failed and made nothing."""
    job = finished_job(client, started)
    assert (job["status"], job["result"]) == ("failed", {})
    return job["error"]


def test_forecast_is_stored_with_what_it_saw(api, analyst, planned, run_jobs):
    client = api(analyst)
    started = _forecast(client, run_jobs)
    # The POST answers before the work runs; the job's page shows how it ended.
    assert (started.json()["status"], started.json()["progress"]) == ("queued", 0.0)
    job, body = _succeeded(client, started)
    assert started["Location"].endswith(f"/api/jobs/{job['id']}/")
    assert (job["kind"], job["contract"], job["created_by"]) == ("forecast", "H2001", analyst.username)
    assert job["parameters"] == {
        "measurement_year": 2026,
        "draws": 2000,
        "seed": 0,
        "cut_points": "projected",
    }
    assert job["result"] == {
        "portfolio_run": body["id"],
        "url": f"/api/forecasts/{body['id']}/",
        "admin_url": f"/admin/ratings/portfoliorun/{body['id']}/change/",
    }
    assert body["kind"] == "forecast" and body["created_by"] == analyst.username
    assert body["parameters"] == {"draws": 2000, "seed": 0, "cut_points": "projected"}
    assert body["inputs"]["open_gaps"] == 33
    # No gap has a prediction: the documented fallback probability applies to all of them.
    assert body["inputs"]["gaps_without_prediction"] == 33
    result = body["result"]
    assert result["draws"] == 2000
    assert 0 <= result["p_overall_at_least_4"] <= 1
    assert sum(result["overall_probabilities"].values()) == pytest.approx(1)
    assert {m["cms_id"] for m in result["measures"]} == {"C01", "C02"}
    assert PortfolioRun.objects.get().duration_ms > 0


def test_what_if_is_a_named_scenario_that_recomputes_the_rating(api, analyst, planned, run_jobs):
    client = api(analyst)
    baseline = _succeeded(client, _forecast(client, run_jobs))[1]["result"]
    scenario = _forecast(client, run_jobs, name="BCS to 90%", assumptions={"C01": {"target_rate": "90"}})
    job, body = _succeeded(client, scenario)
    assert job["kind"] == "forecast"
    # The job holds the assumption's decimal as text (JSON has no decimals).
    assert job["parameters"]["assumptions"] == {"C01": {"target_rate": "90.000"}}
    assert job["result"] == {
        "portfolio_run": body["id"],
        "url": f"/api/forecasts/{body['id']}/",
        "admin_url": f"/admin/ratings/portfoliorun/{body['id']}/change/",
    }
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
    ],
)
def test_bad_what_if_requests_are_400(api, analyst, planned, run_jobs, extra):
    response = _forecast(api(analyst), run_jobs, **extra)
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert not Job.objects.exists()


def test_a_what_if_names_measures_by_code_or_cms_id(api, analyst, planned, run_jobs):
    client = api(analyst)
    scenario = _forecast(
        client,
        run_jobs,
        name="both",
        assumptions={"bcs": {"target_rate": "90"}, "C02": {"extra_closures": 1}},
    )
    job, body = _succeeded(client, scenario)
    assert job["parameters"]["assumptions"] == {
        "C01": {"target_rate": "90.000"},
        "C02": {"extra_closures": 1},
    }
    assert body["parameters"]["assumptions"] == job["parameters"]["assumptions"]


@pytest.mark.parametrize(
    ("assumptions", "problems"),
    [
        (
            {"XYZ": {"star": 4}, "C99": {"star": 4}},
            {
                "XYZ": [
                    "No measure XYZ is rated for measurement year 2026; name it by its measure code "
                    "or its CMS ID, e.g. BCS or C01."
                ],
                "C99": [
                    "No measure C99 is rated for measurement year 2026; name it by its measure code "
                    "or its CMS ID, e.g. BCS or C01."
                ],
            },
        ),
        (
            {"BCS": {"star": 4}, "C01": {"star": 5}},
            {"C01": ["C01 has an assumption already, under another name."]},
        ),
    ],
)
def test_a_what_if_on_a_measure_that_is_not_rated_is_400_naming_it(
    api, analyst, planned, run_jobs, assumptions, problems
):
    response = _forecast(api(analyst), run_jobs, name="unknown measure", assumptions=assumptions)
    assert response.status_code == 400
    assert response.json() == {"message": "Validation error", "extra": {"fields": {"assumptions": problems}}}
    assert not Job.objects.exists()


def test_a_what_if_on_a_rated_measure_the_contract_has_no_data_for_fails_its_job(
    api, analyst, planned, run_jobs
):
    client = api(analyst)
    cms_id = Edition.objects.get(star_year=2026, measure__code="EED").cms_id
    error = _failed(client, _forecast(client, run_jobs, name="no data", assumptions={"EED": {"star": 4}}))
    assert error == {
        "message": f"assumptions for measures the portfolio does not have: {cms_id}",
        "extra": {},
    }
    assert not PortfolioRun.objects.exists()


def test_optimizer_plan_stays_in_budget_scores_the_worklist_and_is_proposed_once(
    api, analyst, planned, run_jobs
):
    client = api(analyst)
    job, run = _succeeded(client, _optimize(client, run_jobs))
    assert job["kind"] == "optimize" and job["parameters"]["budget"] == "1000.00"
    assert job["result"] == {
        "portfolio_run": run["id"],
        "url": f"/api/optimizer/runs/{run['id']}/",
        "admin_url": f"/admin/ratings/portfoliorun/{run['id']}/change/",
    }
    result = run["result"]
    assert run["solver_status"] == result["solver_status"] == "optimal"
    assert run["optimality_gap"] == result["optimality_gap"]
    assert 0 < result["total_cost"] <= 1000
    assert all(i["cost"] == 100 for i in result["interventions"])
    assert result["expected_overall_after"] >= result["expected_overall_before"]
    assert result["p_overall_at_least_4_after"] >= result["p_overall_at_least_4_before"]
    # Ten $100 vans spend the $1,000; the next $10,000 is valued by re-solving at $11,000.
    assert result["budget_left"] == {
        "unspent": 0.0,
        "reason": "The budget is spent: the plan uses $1,000 of $1,000.",
    }
    assert result["marginal_value"]["budget_step"] == 10_000.0
    # No types given: the run records the stored figures it used.
    stored = [
        {
            "id": InterventionType.objects.get().pk,
            "name": "Mobile mammography",
            "unit_cost": "100.00",
            "capacity": None,
            "uplifts": {"BCS": 0.6},
        }
    ]
    assert job["parameters"]["intervention_types"] == run["parameters"]["intervention_types"] == stored

    # The worklist's priorities come from the same model, in stars per $1,000, each open gap ranked.
    bcs = CareGap.objects.filter(contract=planned, measure=measure("BCS"), compliance_status="open")
    assert bcs.filter(priority_score__gt=0).exists()
    assert not CareGap.objects.filter(
        contract=planned, compliance_status="closed", priority_score__gt=0
    ).exists()
    ranks = list(bcs.order_by("-priority_score", "-id").values_list("priority_rank", flat=True))
    assert ranks[0] == 1 and ranks == sorted(ranks) and None not in ranks
    assert not CareGap.objects.filter(
        contract=planned, compliance_status="closed", priority_rank__isnull=False
    ).exists()
    facts = result["priorities"]
    assert facts["unit_dollars"] == 1000
    assert facts["measures"]["BCS"]["interventions"] == ["Mobile mammography"]
    assert set(facts["measures"]["BCS"]) == {
        "star",
        "closures_to_next_star",
        "weight",
        "stars_per_closure",
        "interventions",
    }
    # The score is the plan's rating points per dollar × 1,000.
    best = bcs.order_by("-priority_score").first()
    assert best.priority_score == pytest.approx(
        1000 * max(i["value_per_dollar"] for i in result["interventions"])
    )

    with run_jobs():
        started = client.post(f"/api/optimizer/runs/{run['id']}/propose/")
    proposal, proposed_run = _succeeded(client, started)
    assert (proposal["kind"], proposal["parameters"]) == ("propose", {"portfolio_run": run["id"]})
    assert proposal["result"] == {**job["result"], "proposed": len(result["interventions"])}
    assert proposed_run["proposed_at"] is not None
    assert Intervention.objects.filter(status=InterventionStatus.PROPOSED).count() == len(
        result["interventions"]
    )
    assert set(Intervention.objects.values_list("cost", flat=True)) == {Decimal("100.00")}
    with run_jobs():
        again = client.post(f"/api/optimizer/runs/{run['id']}/propose/")
    assert "already proposed" in _failed(client, again)["message"]
    assert Intervention.objects.count() == len(result["interventions"])


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"budget": "0"}, "budget"),
        ({"budget": "-5"}, "budget"),
        ({"objective": "cheapest"}, "objective"),
        ({"seed": 2**32}, "seed"),
        (
            {
                "intervention_types": [
                    {"id": 1, "unit_cost": "10", "capacity": 2**31, "uplifts": {"BCS": 0.1}}
                ]
            },
            "intervention_types",
        ),
    ],
)
def test_bad_optimizer_requests_are_400(api, analyst, planned, run_jobs, extra, field):
    response = _optimize(api(analyst), run_jobs, **extra)
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not Job.objects.exists()


def test_an_optimizer_run_plans_with_its_own_costs_capacities_and_uplifts_and_records_them(
    api, analyst, planned, run_jobs
):
    vans = InterventionType.objects.get(name="Mobile mammography")
    figures = [{"id": vans.pk, "unit_cost": "80", "capacity": 5, "uplifts": {"bcs": 0.5}}]
    client = api(analyst)
    job, run = _succeeded(
        client, _optimize(client, run_jobs, name="Five vans at $80", intervention_types=figures)
    )
    recorded = [
        {
            "id": vans.pk,
            "name": "Mobile mammography",
            "unit_cost": "80.00",
            "capacity": 5,
            "uplifts": {"BCS": 0.5},
        }
    ]
    assert job["parameters"]["intervention_types"] == run["parameters"]["intervention_types"] == recorded
    assert (job["parameters"]["name"], run["name"]) == ("Five vans at $80", "Five vans at $80")
    result = run["result"]
    # Five interventions at the run's $80 (not the catalog's $100), each lifting a BCS gap by 0.5.
    assert [i["cost"] for i in result["interventions"]] == [80.0] * 5
    gaps = [gap for i in result["interventions"] for gap in i["gaps"]]
    assert {gap["cms_id"] for gap in gaps} == {"C01"}
    assert all(gap["uplift"] == pytest.approx(min(0.5, 1 - gap["probability_before"])) for gap in gaps)
    assert result["budget_left"] == {"unspent": 600.0, "reason": "The interventions' capacities are used up."}
    vans.refresh_from_db()
    assert (vans.unit_cost, vans.capacity) == (Decimal(100), None)


@pytest.fixture
def home_visits():
    """An inactive intervention type."""
    return intervention_type_create(
        name="Home visit", channel="home_visit", unit_cost=Decimal(150), uplifts={measure("BCS"): 0.4}
    )


@pytest.mark.parametrize(
    ("given", "problems"),
    [
        ({"id": 999}, ["Intervention type 1: no intervention type has the id 999."]),
        ({"id": "visits"}, ["Home visit is not active: activate it in the catalog to plan with it."]),
        (
            {"uplifts": {"XYZ": 0.5, "BCS": 0}},
            [
                "Mobile mammography: no measure XYZ is rated for measurement year 2026.",
                "Mobile mammography: the uplift on BCS must be more than 0 and at most 1 (got 0.0).",
            ],
        ),
        (
            {"uplifts": {"BCS": 0.5, "C01": 0.4}},
            ["Mobile mammography: BCS has an uplift already, under another name."],
        ),
    ],
)
def test_bad_intervention_figures_are_400_in_words(
    api, analyst, planned, home_visits, run_jobs, given, problems
):
    home_visits.active = False
    home_visits.save()
    vans = InterventionType.objects.get(name="Mobile mammography")
    figures = {"id": vans.pk, "unit_cost": "80", "capacity": None, "uplifts": {"BCS": 0.5}} | given
    if figures["id"] == "visits":
        figures["id"] = home_visits.pk
    response = _optimize(api(analyst), run_jobs, intervention_types=[figures])
    assert response.status_code == 400
    assert response.json() == {
        "message": " ".join(problems),
        "extra": {"fields": {"intervention_types": problems}},
    }
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (
            {"unit_cost": "0"},
            "the unit cost must be an amount of dollars more than 0, in whole cents (got 0).",
        ),
        (
            {"unit_cost": 12.345},
            "the unit cost must be an amount of dollars more than 0, in whole cents (got 12.345).",
        ),
        ({"capacity": -1}, "the capacity must be a whole number, 0 or more, or null for no limit (got -1)."),
        (
            {"capacity": True},
            "the capacity must be a whole number, 0 or more, or null for no limit (got True).",
        ),
        ({"uplifts": {"BCS": 1.5}}, "the uplift on BCS must be more than 0 and at most 1 (got 1.5)."),
        ({"uplifts": ["BCS"]}, "the uplifts must be an object of measure codes and uplifts."),
        ({"cost": 5}, "give exactly id, unit_cost, capacity and uplifts."),
    ],
)
def test_the_service_refuses_bad_figures_naming_the_type(planned, given, problem):
    from ratings.planning.services import run_intervention_types

    vans = InterventionType.objects.get(name="Mobile mammography")
    figures = {"id": vans.pk, "unit_cost": Decimal(80), "capacity": 3, "uplifts": {"C01": 0.5}} | given
    with pytest.raises(ApplicationError) as refused:
        run_intervention_types(measurement_year=2026, intervention_types=[figures])
    assert refused.value.extra == {"fields": {"intervention_types": [f"Mobile mammography: {problem}"]}}


def test_the_service_takes_a_list_of_types_in_its_order_and_refuses_an_empty_one(planned, home_visits):
    from ratings.planning.services import run_intervention_types

    vans = InterventionType.objects.get(name="Mobile mammography")
    given = [
        {"id": home_visits.pk, "unit_cost": 120.5, "capacity": 0, "uplifts": {"C01": 0.25}},
        {"id": vans.pk, "name": "ignored", "unit_cost": Decimal("99.90"), "capacity": None, "uplifts": {}},
    ]
    assert run_intervention_types(measurement_year=2026, intervention_types=given) == [
        {
            "id": home_visits.pk,
            "name": "Home visit",
            "unit_cost": "120.50",
            "capacity": 0,
            "uplifts": {"BCS": 0.25},
        },
        {"id": vans.pk, "name": "Mobile mammography", "unit_cost": "99.90", "capacity": None, "uplifts": {}},
    ]
    with pytest.raises(ApplicationError, match=r"^An optimizer run needs at least one intervention type\.$"):
        run_intervention_types(measurement_year=2026, intervention_types=[])


def test_an_optimizer_run_without_an_active_intervention_type_is_400(api, analyst, planned, run_jobs):
    InterventionType.objects.update(active=False)
    response = _optimize(api(analyst), run_jobs)
    problem = "No intervention type is active: activate one in the catalog, or give the run its own."
    assert (response.status_code, response.json()) == (
        400,
        {"message": problem, "extra": {"fields": {"intervention_types": [problem]}}},
    )
    assert not Job.objects.exists()


def test_types_with_no_uplift_on_the_contracts_open_gaps_fail_the_job(api, analyst, planned, run_jobs):
    vans = InterventionType.objects.get()
    figures = [{"id": vans.pk, "unit_cost": "100", "capacity": None, "uplifts": {"CBP": 0.3}}]
    client = api(analyst)
    error = _failed(client, _optimize(client, run_jobs, intervention_types=figures))
    assert error == {
        "message": "no intervention in the catalog has an uplift on a measure with open gaps "
        "(measures: C01, C02)",
        "extra": {},
    }
    assert not PortfolioRun.objects.exists()


def test_a_contract_without_gaps_fails_the_job(api, analyst, planned, run_jobs):
    empty = ContractFactory(contract_id="H2002", organization_type=Contract.OrganizationType.MA_ONLY)
    analyst.contracts.add(empty)
    client = api(analyst)
    error = _failed(client, _forecast(client, run_jobs, contract="H2002"))
    assert error == {"message": "This contract has no gaps for that measurement year.", "extra": {}}
    assert not PortfolioRun.objects.exists()


@pytest.mark.parametrize(
    ("persona", "create", "read"),
    [("care_manager", 403, 200), ("analyst", 202, 200), ("colleague", 403, 404), (None, 401, 401)],
)
def test_runs_by_persona(request, api, planned, run_jobs, persona, create, read):
    user = request.getfixturevalue(persona) if persona else None
    if persona == "care_manager":
        user.contracts.add(planned)
    analyst_client = api(request.getfixturevalue("analyst"))
    analyst_run = _succeeded(analyst_client, _forecast(analyst_client, run_jobs))[1]
    client = api(user)
    assert _forecast(client, run_jobs).status_code == create
    assert PortfolioRun.objects.count() == (2 if create == 202 else 1)
    assert client.get(f"/api/forecasts/{analyst_run['id']}/").status_code == read


def test_one_planning_job_at_a_time_on_a_contract(api, analyst, planned):
    client = api(analyst)
    body = {"contract": "H2001", "measurement_year": 2026, "draws": 2000}
    # Outside `run_jobs` nothing commits, so the optimizer run's job stays queued.
    queued = client.post("/api/optimizer/runs/", {**body, "budget": "1000"}).json()
    refused = client.post("/api/forecasts/", body)
    assert (refused.status_code, refused.json()["extra"]) == (409, {"job": queued["id"]})
    assert refused.json()["message"].startswith("H2001 already has a job in progress (optimizer run, queued)")
    assert Job.objects.get().status == "queued"


def test_care_manager_cannot_propose_a_plan(api, analyst, care_manager, planned, run_jobs):
    care_manager.contracts.add(planned)
    analyst_client = api(analyst)
    run = _succeeded(analyst_client, _optimize(analyst_client, run_jobs))[1]
    with run_jobs():
        response = api(care_manager).post(f"/api/optimizer/runs/{run['id']}/propose/")
    assert response.status_code == 403
    assert not Job.objects.filter(kind="propose").exists() and not Intervention.objects.exists()


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
        name="From the command",
        propose="planner",
        as_json=True,
    )
    plan = json.loads(capsys.readouterr().out)
    assert PortfolioRun.objects.get(pk=plan["run"]).name == "From the command"
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


def test_admin_proposes_an_optimizer_plan_in_a_job_and_shows_its_page(client, analyst, planned, run_jobs):
    run = _optimize_run(analyst)
    client.force_login(analyst)
    with run_jobs():
        response = client.post(
            "/admin/ratings/portfoliorun/", {"action": "propose_interventions", "_selected_action": [run.pk]}
        )
    job = Job.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/admin/hedis_portal/job/{job.pk}/change/")
    assert client.get(response["Location"]).status_code == 200
    assert (job.kind, job.status, job.parameters) == ("propose", "succeeded", {"portfolio_run": run.pk})
    assert job.result["proposed"] == len(run.result["interventions"])
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


def test_a_snapshot_quotes_the_latest_forecast_and_plan(api, analyst, planned, run_jobs):
    from ratings.live.services import portfolio_snapshot_create

    client = api(analyst)
    assert portfolio_snapshot_create(contract=planned, measurement_year=2026).data["projection"] is None
    forecast = _succeeded(client, _forecast(client, run_jobs))[1]
    plan = _succeeded(client, _optimize(client, run_jobs))[1]
    data = portfolio_snapshot_create(contract=planned, measurement_year=2026).data
    assert data["projection"]["run"] == forecast["id"]
    assert data["projection"]["p_overall_at_least_4"] == forecast["result"]["p_overall_at_least_4"]
    assert data["plan"]["run"] == plan["id"]
    assert data["plan"]["total_cost"] == plan["result"]["total_cost"]


def test_opening_an_optimizer_run_is_an_access_entry_in_the_api_and_the_admin(
    api, client, analyst, planned, run_jobs
):
    from auditlog.models import LogEntry

    # The run's pk from the job, not by reading the run: that read would be an access entry too.
    analyst_client = api(analyst)
    job = finished_job(analyst_client, _optimize(analyst_client, run_jobs))
    run = PortfolioRun.objects.get(pk=job["result"]["portfolio_run"])
    response = api(analyst).get(f"/api/optimizer/runs/{run.pk}/")
    assert response.status_code == 200
    client.force_login(analyst)
    assert client.get(f"/admin/ratings/portfoliorun/{run.pk}/change/").status_code == 200
    reads = LogEntry.objects.get_for_object(run).filter(action=LogEntry.Action.ACCESS)
    assert [(entry.actor, bool(entry.cid)) for entry in reads] == [(analyst, True), (analyst, True)]
    assert reads.order_by("timestamp").first().cid == response["X-Request-ID"]


def test_the_same_idempotency_key_returns_the_first_job_and_an_overlong_one_is_400(api, analyst, planned):
    client = api(analyst)
    body = {"contract": "H2001", "measurement_year": 2026, "draws": 2000}
    first = client.post("/api/forecasts/", body, HTTP_IDEMPOTENCY_KEY="retry-1")
    again = client.post("/api/forecasts/", body, HTTP_IDEMPOTENCY_KEY="retry-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    too_long = client.post("/api/forecasts/", body, HTTP_IDEMPOTENCY_KEY="k" * 101)
    assert too_long.status_code == 400
    assert too_long.json()["extra"]["fields"] == {"Idempotency-Key": ["At most 100 characters."]}


def test_the_runs_list_offers_a_forecast_and_an_optimizer_run_to_who_may_start_them(client, analyst, planned):
    client.force_login(analyst)
    page = client.get("/admin/ratings/portfoliorun/").content.decode()
    assert (
        '<a href="/admin/ratings/portfoliorun/forecast/" class="addlink">Forecast the year-end rating</a>'
        in page
    )
    assert '<a href="/admin/ratings/portfoliorun/optimize/" class="addlink">Run the optimizer</a>' in page
    form = client.get("/admin/ratings/portfoliorun/optimize/").context["form"]
    assert [field.name for field in form] == [
        "contract",
        "measurement_year",
        "budget",
        "objective",
        "cut_points",
        "draws",
        "seed",
        "time_limit",
    ]
    assert [value for value, _ in form.fields["contract"].choices] == ["H1001", "H2001"]


def test_an_optimizer_run_started_in_the_admin_lands_on_its_job_and_stores_the_plan(
    client, analyst, planned, run_jobs
):
    client.force_login(analyst)
    body = {
        "contract": "H2001",
        "measurement_year": 2026,
        "budget": "1000",
        "objective": "expected_overall",
        "draws": 2000,
        "seed": 0,
        "time_limit": 60,
    }
    with run_jobs():
        response = client.post("/admin/ratings/portfoliorun/optimize/", body)
    job = Job.objects.get()
    assert response["Location"] == f"/admin/hedis_portal/job/{job.pk}/change/"
    run = PortfolioRun.objects.get(pk=job.result["portfolio_run"])
    assert (job.kind, job.status, run.kind, run.created_by) == ("optimize", "succeeded", "optimize", analyst)
    assert (job.parameters["budget"], run.parameters["budget"]) == ("1000", 1000.0)
    page = client.get(response["Location"]).content.decode()
    assert f'<a href="/admin/ratings/portfoliorun/{run.pk}/change/">' in page


def test_a_forecast_started_in_the_admin_runs_as_the_api_would_start_it(client, analyst, planned, run_jobs):
    client.force_login(analyst)
    with run_jobs():
        client.post(
            "/admin/ratings/portfoliorun/forecast/",
            {"contract": "H2001", "measurement_year": 2026, "draws": 2000, "seed": 3},
        )
    job = Job.objects.get()
    assert (job.kind, job.status, job.parameters) == (
        "forecast",
        "succeeded",
        {"measurement_year": 2026, "draws": 2000, "seed": 3, "cut_points": "projected"},
    )


def test_a_second_planning_run_from_the_admin_is_refused_on_the_form(client, analyst, planned):
    client.force_login(analyst)
    body = {"contract": "H2001", "measurement_year": 2026, "draws": 2000, "seed": 0}
    client.post("/admin/ratings/portfoliorun/forecast/", body)
    again = client.post("/admin/ratings/portfoliorun/forecast/", body)
    assert "H2001 already has a job in progress (forecast, queued)" in again.content.decode()
    assert Job.objects.count() == 1


def test_care_managers_get_no_planning_pages(client, care_manager):
    client.force_login(care_manager)
    assert client.get("/admin/ratings/portfoliorun/optimize/").status_code == 403
    assert Job.objects.count() == 0

"""Forecasts and optimizer runs rate the measurement year against the projected cut points of the
star year it is rated in (issue #18, item 3), with "latest published" as an explicit choice; every
run records which it used; projections are made by a job through the API and the console."""

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command

from hedis_portal.models import Job
from ratings.models import CutPointProjection
from tests.conftest import finished_job
from tests.factories import measure
from tests.ratings.conftest import cut_points_2026, national_2025, national_2026  # noqa: F401 (fixtures)
from tests.ratings.test_planning import _forecast, _optimize, _succeeded, planned  # noqa: F401 (fixture)

PLANNED = pytest.mark.usefixtures("planned")

pytestmark = pytest.mark.django_db

# Star year 2028's BCS thresholds as three draws: two put 3 stars at 74% and 4 at 80%, one keeps
# 2026's 71% and 76%.
BCS_DRAWS = [[58, 74, 80, 84], [58, 74, 80, 84], [58, 71, 76, 84]]


def _projection(analyst, base_star_year: int = 2026) -> CutPointProjection:
    """A kept projection of star year 2028 with BCS alone projected (by hand, not computed)."""
    thresholds = [
        {"star": star, "latest_published": published, "median": median, "low": min(col), "high": max(col)}
        for star, published, median, col in zip(
            (2, 3, 4, 5), (58, 71, 76, 84), (58, 74, 80, 84), zip(*BCS_DRAWS, strict=True), strict=True
        )
    ]
    return CutPointProjection.objects.create(
        target_star_year=2028,
        base_star_year=base_star_year,
        trend_star_year=base_star_year - 1,
        draws=len(BCS_DRAWS),
        seed=1,
        computed_by=analyst,
        data={
            "measures": [
                {
                    "measure": "C01",
                    "name": "Breast Cancer Screening",
                    "org_type": None,
                    "direction": "higher",
                    "note": "",
                    "thresholds": thresholds,
                    "measure_id": measure("BCS").pk,
                    "precision": 0,
                    "inclusive": dict.fromkeys(("2", "3", "4", "5"), True),
                    "draws": BCS_DRAWS,
                }
            ],
            "notes": [],
        },
    )


def _bcs(run: dict) -> dict:
    return next(m for m in run["result"]["measures"] if m["cms_id"] == "C01")


@PLANNED
def test_a_forecast_plans_against_the_projected_median_and_records_the_projection(api, analyst, run_jobs):
    projection = _projection(analyst)
    client = api(analyst)

    _, run = _succeeded(client, _forecast(client, run_jobs))

    basis = run["inputs"]["cut_points"]
    assert run["parameters"]["cut_points"] == "projected"
    assert {
        key: basis[key] for key in ("requested", "basis", "star_year", "projection", "projected_from")
    } == {
        "requested": "projected",
        "basis": "projected",
        "star_year": 2028,
        "projection": projection.pk,
        "projected_from": 2026,
    }
    assert (basis["draws"], basis["measures_projected"], basis["trend_from"]) == (3, 1, [2025, 2026])
    # BCS: 70 of 100 closed, 2 stars. 3 stars at the median 74% need 4 more closures (1 at 2026's 71%).
    assert _bcs(run)["closures_to_next_star"] == 4


@PLANNED
def test_latest_published_is_an_explicit_choice(api, analyst, run_jobs):
    _projection(analyst)
    client = api(analyst)

    _, run = _succeeded(client, _forecast(client, run_jobs, cut_points="latest_published"))

    assert run["inputs"]["cut_points"] == {
        "requested": "latest_published",
        "basis": "latest_published",
        "star_year": 2026,
        "note": "The star year 2026 cut points, as if they stand still until 2028.",
    }
    assert _bcs(run)["closures_to_next_star"] == 1


@PLANNED
def test_without_a_projection_a_run_says_it_used_the_latest_published_ones(api, analyst, run_jobs):
    client = api(analyst)

    _, run = _succeeded(client, _forecast(client, run_jobs))

    basis = run["inputs"]["cut_points"]
    assert (basis["requested"], basis["basis"], basis["star_year"]) == ("projected", "latest_published", 2026)
    assert basis["note"].startswith("No projection of star year 2028's cut points is kept")
    assert _bcs(run)["closures_to_next_star"] == 1


@PLANNED
def test_a_projection_from_before_the_newest_import_is_not_used(api, analyst, run_jobs):
    _projection(analyst, base_star_year=2025)
    client = api(analyst)

    _, run = _succeeded(client, _forecast(client, run_jobs))

    basis = run["inputs"]["cut_points"]
    assert basis["basis"] == "latest_published"
    assert basis["note"] == (
        "The projection of star year 2028 starts from 2025, but 2026 is imported since: the 2026 cut "
        "points are used until it is projected again."
    )


@PLANNED
def test_an_optimizer_run_records_its_cut_points_and_an_unknown_choice_is_400(api, analyst, run_jobs):
    _projection(analyst)
    client = api(analyst)

    _, run = _succeeded(client, _optimize(client, run_jobs))

    assert (run["parameters"]["cut_points"], run["inputs"]["cut_points"]["basis"]) == (
        "projected",
        "projected",
    )
    refused = client.post(
        "/api/forecasts/",
        {"contract": "H2001", "measurement_year": 2026, "cut_points": "guessed"},
        format="json",
    )
    assert refused.status_code == 400
    assert "cut_points" in refused.json()["extra"]["fields"]


@pytest.fixture
def both_years(national_2025, national_2026):  # noqa: F811 (fixtures)
    return None


def test_a_projection_runs_as_a_job_kept_audited_and_served(api, analyst, care_manager, both_years, run_jobs):
    assert (
        api(care_manager).post("/api/cut-point-projections/", {"target_star_year": 2027}).status_code == 403
    )
    client = api(analyst)

    with run_jobs():
        started = client.post(
            "/api/cut-point-projections/", {"target_star_year": 2027, "draws": 10, "seed": 3}
        )
    job = finished_job(client, started)

    assert (job["status"], job["result"]["target_star_year"], job["result"]["base_star_year"]) == (
        "succeeded",
        2027,
        2026,
    )
    detail = client.get(job["result"]["url"]).json()
    assert (detail["draws"], detail["seed"], detail["computed_by"], detail["trend_star_year"]) == (
        10,
        3,
        "analyst",
        2025,
    )
    breast = next(m for m in detail["measures"] if m["measure"] == "C01")
    assert [t["latest_published"] for t in breast["thresholds"]] == [58.0, 71.0, 76.0, 84.0]
    assert all(t["low"] <= t["median"] <= t["high"] for t in breast["thresholds"])
    listed = client.get("/api/cut-point-projections/").json()["results"]
    assert [set(row) for row in listed] == [
        {
            "id",
            "target_star_year",
            "base_star_year",
            "trend_star_year",
            "draws",
            "seed",
            "computed_at",
            "computed_by",
        }
    ]
    stored = CutPointProjection.objects.get()
    entry = LogEntry.objects.get_for_object(stored).get()
    assert (entry.action, entry.actor) == (LogEntry.Action.CREATE, analyst)


def test_a_projection_with_no_earlier_year_fails_its_job_and_keeps_nothing(
    api, analyst, both_years, run_jobs
):
    client = api(analyst)

    with run_jobs():
        started = client.post("/api/cut-point-projections/", {"target_star_year": 2020, "draws": 10})
    job = finished_job(client, started)

    assert (job["status"], job["error"]["message"]) == (
        "failed",
        "No star year before 2020 is imported: import the newest published year's CMS data tables first.",
    )
    assert not CutPointProjection.objects.exists()
    assert Job.objects.get().kind == "cut_point_projection"


def test_the_command_keeps_a_projection_replacing_the_one_before(both_years, capsys):
    call_command("project_cut_points", "--star-year", "2027", "--draws", "2", "--save")
    first = CutPointProjection.objects.get()
    call_command("project_cut_points", "--star-year", "2027", "--draws", "3", "--seed", "5", "--save")

    again = CutPointProjection.objects.get()
    assert (again.pk, again.draws, again.seed, again.base_star_year) == (first.pk, 3, 5, 2026)
    assert all(len(m["draws"]) == 3 for m in again.data["measures"] if m["draws"])
    assert "Kept the star year 2027 projection from 2026 (3 draws, seed 5" in capsys.readouterr().out


@PLANNED
def test_the_commands_take_the_cut_points_and_say_which_they_used(analyst, capsys):
    _projection(analyst)
    call_command("forecast", "--contract", "H2001", "--measurement-year", "2026", "--draws", "500")
    assert "Cut points: Member-level measures rated against star year 2028's projected cut points" in (
        capsys.readouterr().out
    )
    call_command(
        "optimize",
        *("--contract", "H2001", "--measurement-year", "2026", "--budget", "500", "--draws", "500"),
        *("--cut-points", "latest_published"),
    )
    assert "  cut points: The star year 2026 cut points, as if they stand still until 2028." in (
        capsys.readouterr().out
    )

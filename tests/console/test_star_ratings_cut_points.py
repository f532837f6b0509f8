"""The console's Cut points page: the star year a measurement year is rated in, its projected cut
points beside the latest published ones, and starting a projection as a job (issue #18)."""

import pytest
from django.utils import timezone

from hedis_portal.models import Job
from ratings.planning.services import forecast_run_create
from tests.console.test_star_ratings_overview import ma_only, text  # noqa: F401 (fixture)
from tests.ratings.conftest import cut_points_2026  # noqa: F401 (fixture)
from tests.ratings.test_planning_cut_points import _projection

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ma_only")]

PAGE = "/admin/star-ratings/H2001/2026/cut-points/"


def test_without_a_projection_the_page_says_what_runs_use_and_offers_one(client, analyst):
    client.force_login(analyst)

    response = client.get(PAGE)

    page = text(response)
    assert (
        "Measurement year 2026 is rated in star year 2028 . Its cut points are not published yet: the "
        "newest are star year 2026's." in page
    )
    assert (
        "No projection of star year 2028's cut points yet: forecasts and optimizer runs use the star "
        "year 2026 cut points, and say so." in page
    )
    assert "Project star year 2028's cut points" in page and "Start the projection" in page
    assert [tab["label"] for tab in response.context["tabs"]][:3] == ["Overview", "Trend", "Cut points"]


def test_a_projection_is_shown_threshold_by_threshold_beside_the_published_ones(client, analyst):
    _projection(analyst)
    client.force_login(analyst)

    response = client.get(PAGE)

    page = text(response)
    assert (
        "from the star year 2026 scores with each measure's trend from 2025 to 2026; 3 draws, seed 1." in page
    )
    assert "Forecasts, what-ifs and optimizer runs for this measurement year, unless they ask" in page
    (bcs,) = response.context["rows"]
    assert [
        (cell["published"], cell["median"], cell["interval"], cell["change"]) for cell in bcs["cells"]
    ] == [
        ("58", "58", "58–58", "no change"),
        ("71", "74", "71–74", "+3 (harder)"),
        ("76", "80", "76–80", "+4 (harder)"),
        ("84", "84", "84–84", "no change"),
    ]
    assert "71 → 74 71–74 · +3 (harder)" in page


def test_a_projection_from_before_the_newest_import_is_flagged(client, analyst):
    _projection(analyst, base_star_year=2025)
    client.force_login(analyst)
    assert "No run: star year 2026 was imported after it. Project again to use it." in text(client.get(PAGE))


def test_a_published_star_year_needs_no_projection(client, analyst):
    client.force_login(analyst)
    page = text(client.get("/admin/star-ratings/H2001/2024/cut-points/"))
    assert "Measurement year 2024 is rated in star year 2026 . Its cut points are published" in page
    assert "Start the projection" not in page


def test_a_care_manager_reads_the_page_but_cannot_project(client, care_manager, ma_only):  # noqa: F811
    care_manager.contracts.add(ma_only)
    client.force_login(care_manager)

    assert "Start the projection" not in text(client.get(PAGE))
    assert client.post(PAGE, {"draws": 10, "seed": 1}).status_code == 403
    assert not Job.objects.exists()


def test_starting_a_projection_goes_to_its_job_then_back_here(client, analyst):
    client.force_login(analyst)

    started = client.post(PAGE, {"draws": 20, "seed": 4})

    job = Job.objects.get()
    assert (job.kind, job.contract, job.parameters) == (
        "cut_point_projection",
        None,
        {"target_star_year": 2028, "draws": 20, "seed": 4},
    )
    follow = f"/admin/star-ratings/jobs/{job.pk}/?follow&next=" + PAGE.replace("/", "%2F")
    assert (started.status_code, started["Location"]) == (302, follow)
    running = client.get(follow)
    assert running.status_code == 200 and f'data-next="{PAGE}"' in running.content.decode()
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED, finished_at=timezone.now(), progress=1.0
    )
    assert client.get(follow)["Location"] == PAGE
    elsewhere = client.get(f"/admin/star-ratings/jobs/{job.pk}/?follow&next=https://example.org/")
    assert elsewhere.status_code == 200 and "example.org" not in elsewhere.content.decode()


def test_bad_figures_are_form_errors(client, analyst):
    client.force_login(analyst)
    response = client.post(PAGE, {"draws": 5, "seed": -1})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"draws", "seed"}
    assert not Job.objects.exists()


def test_the_overview_says_which_cut_points_its_forecast_used(client, analyst, ma_only):  # noqa: F811
    _projection(analyst)
    forecast_run_create(contract=ma_only, measurement_year=2026, user=analyst, draws=500)
    client.force_login(analyst)

    page = text(client.get("/admin/star-ratings/H2001/2026/"))

    assert (
        "Cut points: Member-level measures rated against star year 2028's projected cut points (3 draws "
        "from 2026): planned against each threshold's median, forecast over every draw. Contract-level "
        "measures keep their stars. The stars in the tables below use the star year 2026 cut points" in page
    )
    assert "(the Cut points tab shows star year 2028's projection)" in page

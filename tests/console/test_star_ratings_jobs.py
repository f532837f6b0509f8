"""A job's console page: its progress, stage and status from the Job row, cancelling it, only for
jobs the user may see; and in a browser, followed to the run it made."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from hedis_portal.models import Job
from ratings.models import PortfolioRun
from ratings.planning import services as planning
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixtures)
from tests.ratings.conftest import cut_points_2026  # noqa: F401 (fixture)
from tests.ratings.test_planning import planned  # noqa: F401 (fixture)


def _job(contract, user, **fields) -> Job:
    """An optimizer job on `contract`, as far as `fields` say."""
    defaults = {
        "kind": "optimize",
        "contract": contract,
        "parameters": {"measurement_year": 2026},
        "created_by": user,
    }
    return Job.objects.create(**(defaults | fields))


@pytest.mark.django_db
def test_a_running_jobs_page_shows_its_progress_stage_and_a_cancel_button(client, analyst, contract):
    job = _job(
        contract,
        analyst,
        status=Job.Status.RUNNING,
        progress=0.42,
        stage="optimizing: level 2 of 3",
        started_at=timezone.now() - timezone.timedelta(seconds=75),
    )
    client.force_login(analyst)

    response = client.get(f"/admin/star-ratings/jobs/{job.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["title"] == "Optimizer run for H1001"
    assert 'max="1" value="0.42"' in page and '<span id="job-percent">42%</span>' in page
    assert '<p class="job-stage" id="job-stage">Optimizing: level 2 of 3</p>' in page
    assert '<dd id="job-status">Running</dd>' in page
    assert re.search(r"<dd id=\"job-elapsed\">1 min 1[56] s</dd>", page), page[page.index("job-facts") :][
        :600
    ]
    assert 'id="job-cancel"' in page and 'id="job-refresh"' in page
    assert f'data-api="/api/jobs/{job.pk}/"' in page


@pytest.mark.django_db
def test_a_failed_job_says_why_and_a_finished_one_links_its_run(client, analyst, contract):
    failed = _job(
        contract, analyst, status=Job.Status.FAILED, error={"message": "No cut points.", "extra": {}}
    )
    done = _job(contract, analyst, status=Job.Status.SUCCEEDED, progress=1.0, result={"portfolio_run": 7})
    client.force_login(analyst)

    failed_page = client.get(f"/admin/star-ratings/jobs/{failed.pk}/").content.decode()
    done_page = client.get(f"/admin/star-ratings/jobs/{done.pk}/").content.decode()

    assert "It failed: No cut points." in failed_page and 'id="job-cancel"' not in failed_page
    assert '<a href="/admin/star-ratings/runs/7/" id="job-run">open the result</a>' in done_page


@pytest.mark.django_db
def test_a_job_just_started_opens_its_run_as_soon_as_it_is_done(client, analyst, contract):
    done = _job(contract, analyst, status=Job.Status.SUCCEEDED, progress=1.0, result={"portfolio_run": 7})
    running = _job(contract, analyst, status=Job.Status.RUNNING, progress=0.5, lane="")
    client.force_login(analyst)

    followed = client.get(f"/admin/star-ratings/jobs/{done.pk}/?follow")
    looked_at = client.get(f"/admin/star-ratings/jobs/{done.pk}/")
    still_running = client.get(f"/admin/star-ratings/jobs/{running.pk}/?follow")

    assert (followed.status_code, followed["Location"]) == (302, "/admin/star-ratings/runs/7/")
    assert (looked_at.status_code, still_running.status_code) == (200, 200)


@pytest.mark.django_db
def test_a_proposals_page_is_placed_in_its_runs_measurement_year(client, analyst, contract):
    run = PortfolioRun.objects.create(
        kind=PortfolioRun.Kind.OPTIMIZE,
        contract=contract,
        measurement_year=2025,
        parameters={},
        inputs={},
        result={},
        duration_ms=1.0,
    )
    job = _job(contract, analyst, kind="propose", parameters={"portfolio_run": run.pk})
    client.force_login(analyst)

    response = client.get(f"/admin/star-ratings/jobs/{job.pk}/")

    assert response.status_code == 200
    assert response.context["measurement_year"] == 2025
    assert '<a href="/admin/star-ratings/H1001/2025/">H1001 · 2025</a>' in response.content.decode()


@pytest.mark.django_db
def test_cancelling_a_queued_job_from_its_page(client, analyst, contract):
    job = _job(contract, analyst)
    client.force_login(analyst)

    response = client.post(f"/admin/star-ratings/jobs/{job.pk}/cancel/")

    job.refresh_from_db()
    assert (response.status_code, response["Location"]) == (302, f"/admin/star-ratings/jobs/{job.pk}/")
    assert job.status == Job.Status.CANCELLED
    assert "Cancelled" in client.get(response["Location"]).content.decode()


@pytest.mark.django_db
def test_a_care_manager_follows_a_job_but_may_not_cancel_it(client, care_manager, analyst, contract):
    job = _job(contract, analyst)
    client.force_login(care_manager)

    page = client.get(f"/admin/star-ratings/jobs/{job.pk}/").content.decode()

    assert "Queued" in page and 'id="job-cancel"' not in page
    assert client.post(f"/admin/star-ratings/jobs/{job.pk}/cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


@pytest.mark.django_db
def test_a_job_of_another_contract_or_of_a_kind_the_role_may_not_see_is_404(
    client, care_manager, analyst, contract, other_contract
):
    elsewhere = _job(other_contract, analyst)
    national = _job(None, care_manager, kind="cms_import", parameters={"star_year": 2026})
    client.force_login(care_manager)
    assert client.get(f"/admin/star-ratings/jobs/{elsewhere.pk}/").status_code == 404
    assert client.post(f"/admin/star-ratings/jobs/{elsewhere.pk}/cancel/").status_code == 404
    assert client.get(f"/admin/star-ratings/jobs/{national.pk}/").status_code == 404


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_job_page_follows_the_run_to_its_plan(watched, live_server, planned, analyst):  # noqa: F811
    """Start at a queued optimizer job; once a worker takes it, the page says when it started and
    for how long it has run; as the worker reports, the bar moves; once it succeeds the browser
    opens the plan with its before/after chart drawn."""
    job = _job(planned, analyst)
    page = watched.page
    log_in(page, live_server, "analyst", "test-password")
    page.goto(f"{live_server.url}/admin/star-ratings/jobs/{job.pk}/")
    assert page.inner_text("#job-percent") == "0%"
    assert page.inner_text("#job-started").startswith("not yet (queued ")

    started = timezone.now() - timezone.timedelta(seconds=75)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        progress=0.1,
        stage="optimizing",
        started_at=started,
        heartbeat_at=timezone.now(),
    )
    page.wait_for_selector("#job-percent:text-is('10%')")
    assert page.inner_text("#job-status") == "Running"
    assert page.inner_text("#job-started") == f"{started:%Y-%m-%d %H:%M:%S}"
    assert re.fullmatch(r"1 min \d+ s", page.inner_text("#job-elapsed"))

    Job.objects.filter(pk=job.pk).update(progress=0.6, stage="scoring each gap's priority from the plan")
    page.wait_for_selector("#job-percent:text-is('60%')")
    assert page.inner_text("#job-stage") == "Scoring each gap's priority from the plan"

    run = planning.optimizer_run_create(
        contract=planned, measurement_year=2026, user=analyst, budget=Decimal(1000), draws=2000
    )
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED, progress=1.0, stage="done", result={"portfolio_run": run.pk}
    )
    page.wait_for_url(f"{live_server.url}/admin/star-ratings/runs/{run.pk}/")
    page.wait_for_load_state("load")

    before, after = watched.chart_series("run-distribution")
    assert (before["label"], after["label"]) == ("Without the plan", "With the plan")
    assert sum(after["data"]) == pytest.approx(100, abs=0.1)
    assert after["data"] == [
        round(100 * run.result["overall_probabilities_after"].get(f"{level:.1f}", 0.0), 2)
        for level in sorted(
            {float(k) for key in ("before", "after") for k in run.result[f"overall_probabilities_{key}"]}
        )
    ]
    assert page.is_visible("#run-propose") and page.is_visible("#run-csv")
    assert watched.problems() == []

"""Background jobs: how one runs and ends, cancels, limits, the lease, the lanes and idempotency,
and the jobs API and admin page. The work here is test kinds registered for the test only."""

import logging
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from auditlog.models import LogEntry
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from hedis_portal import job_registry, jobs
from hedis_portal.errors import ApplicationError, ConflictError
from hedis_portal.jobs import job_cancel, job_start, jobs_reap_stale, run_job
from hedis_portal.models import Job
from hedis_portal.postgresql.base import NoAnswer
from members.models import Contract
from tests.conftest import query_count

pytestmark = pytest.mark.django_db

SEEN = "ratings.view_portfoliorun"
STARTED_BY = "ratings.add_portfoliorun"


@pytest.fixture
def kinds(monkeypatch):
    """Register test kinds (removed after the test); returns the register function."""

    def register(name: str, run, **options) -> None:
        options = {"label": name, "view_permission": SEEN, "start_permission": STARTED_BY, **options}
        monkeypatch.setitem(
            job_registry.job_kinds(), name, job_registry.JobKind(name=name, run=run, **options)
        )

    return register


def _renamed(job, context):
    """Rename the job's contract in one transaction, reporting progress before and after."""
    context.progress(0.25, "renaming")
    with transaction.atomic():
        Contract.objects.filter(pk=job.contract_id).update(name=job.parameters["name"])
        context.progress(0.75, "renamed")
    return {"renamed": job.contract.contract_id}


def _started(kind, user, contract, run_jobs, **parameters) -> Job:
    with run_jobs():
        job, created = job_start(kind=kind, user=user, contract=contract, parameters=parameters)
    assert created
    job.refresh_from_db()
    return job


def test_a_job_runs_its_kind_and_records_how_it_ended(kinds, analyst, contract, run_jobs):
    kinds("rename", _renamed)
    job = _started("rename", analyst, contract, run_jobs, name="Renamed")
    assert (job.status, job.progress, job.stage, job.result) == (
        "succeeded",
        1.0,
        "done",
        {"renamed": "H1001"},
    )
    assert job.attempts == 1 and job.started_at <= job.finished_at and job.error == {}
    assert Contract.objects.get(pk=contract.pk).name == "Renamed"


def test_the_works_audit_entries_name_the_jobs_user_and_carry_its_id(kinds, analyst, contract, run_jobs):
    def save_contract(job, context):
        job.contract.name = "Audited"
        job.contract.save()
        return {}

    kinds("audited", save_contract)
    job = _started("audited", analyst, contract, run_jobs)
    entry = LogEntry.objects.get_for_object(contract).latest("timestamp")
    assert (entry.actor, entry.cid, entry.changes_dict["name"][1]) == (analyst, str(job.pk), "Audited")


def test_a_refusal_fails_the_job_with_the_api_error_shape(kinds, analyst, contract, run_jobs):
    def refuse(job, context):
        raise ApplicationError("No gaps to forecast.", {"contract": "H1001"})

    kinds("refused", refuse)
    job = _started("refused", analyst, contract, run_jobs)
    assert job.status == "failed"
    assert job.error == {"message": "No gaps to forecast.", "extra": {"contract": "H1001"}}


def test_an_unexpected_error_fails_the_job_without_its_text_and_is_logged(
    kinds, analyst, contract, run_jobs, caplog
):
    def crash(job, context):
        raise RuntimeError("a detail that stays in the server log")

    kinds("crash", crash)
    with caplog.at_level(logging.ERROR, logger="hedis_portal.jobs"):
        job = _started("crash", analyst, contract, run_jobs)
    assert job.status == "failed"
    assert job.error == {
        "message": "The job failed unexpectedly; the server log has the details.",
        "extra": {},
    }
    assert f"Job {job.pk} (crash) failed" in caplog.text


class _Deadlock(Exception):
    sqlstate = "40P01"


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        (ConnectionRefusedError(), "The database is unavailable; try again shortly."),
        (NoAnswer(), "The database did not answer in time; try again shortly."),
        (
            _Deadlock(),
            "Other writes to the same rows were under way; nothing was written. Send the request again.",
        ),
    ],
)
def test_a_job_the_database_stopped_says_so_instead_of_failing_unexpectedly(
    kinds, analyst, contract, run_jobs, caplog, cause, message
):
    def stopped(job, context):
        raise OperationalError("a detail that stays in the server log") from cause

    kinds("stopped", stopped)
    with caplog.at_level(logging.WARNING, logger="hedis_portal.jobs"):
        job = _started("stopped", analyst, contract, run_jobs)
    assert job.status == "failed"
    assert job.error == {"message": message, "extra": {}}
    assert f"Job {job.pk} (stopped) stopped by the database: OperationalError" in caplog.text
    assert "a detail" not in caplog.text


def test_a_cancelled_queued_job_never_runs(kinds, analyst, contract, run_jobs):
    ran = []
    kinds("never", lambda job, context: ran.append(job) or {})
    with run_jobs():
        job, _ = job_start(kind="never", user=analyst, contract=contract, parameters={})
        job_cancel(job=job)
    job.refresh_from_db()
    assert (job.status, ran, job.finished_at is not None) == ("cancelled", [], True)
    entry = LogEntry.objects.get_for_object(job).latest("timestamp")
    assert entry.changes_dict == {"status": ["queued", "cancelled"]}


def test_a_running_job_asked_to_stop_ends_cancelled_at_its_next_progress_point_with_nothing_written(
    kinds, analyst, contract, run_jobs
):
    def cancel_midway(job, context):
        context.progress(0.25, "renaming")
        job_cancel(job=job)  # as the API would, while the work runs
        with transaction.atomic():
            Contract.objects.filter(pk=job.contract_id).update(name="Half-written")
            context.stop = jobs.JobStopped("cancelled", "Cancelled on request.")  # what the heartbeat reads
            context.progress(0.75, "renamed")
        return {}

    kinds("cancelled", cancel_midway)
    job = _started("cancelled", analyst, contract, run_jobs)
    assert (job.status, job.stage, job.progress, job.cancel_requested) == (
        "cancelled",
        "Cancelled on request.",
        0.75,
        True,
    )
    assert Contract.objects.get(pk=contract.pk).name == contract.name


def test_work_past_its_time_limit_is_stopped_and_fails(kinds, analyst, contract, run_jobs, settings):
    kinds("slow", _renamed, time_limit=60.0)
    settings.JOB_TIME_LIMITS = {"slow": 0.0}
    job = _started("slow", analyst, contract, run_jobs, name="Too late")
    assert (job.status, job.error["message"]) == ("failed", jobs.TIME_LIMIT_PASSED)
    assert Contract.objects.get(pk=contract.pk).name == contract.name


def test_finishing_or_finished_jobs_cannot_be_cancelled(kinds, analyst, contract, run_jobs):
    kinds("rename", _renamed)
    job = _started("rename", analyst, contract, run_jobs, name="Done")
    with pytest.raises(ConflictError, match=r"already finished \(succeeded\)"):
        job_cancel(job=job)


def test_one_queued_or_running_job_per_contract_and_lane(
    kinds, analyst, administrator, contract, other_contract
):
    kinds("heavy", _renamed, lane="planning")
    kinds("other_lane", _renamed, lane="snapshot")
    first, _ = job_start(kind="heavy", user=analyst, contract=contract, parameters={"name": "A"})
    with pytest.raises(
        ConflictError, match=r"H1001 already has a job in progress \(heavy, queued\)"
    ) as refused:
        job_start(kind="heavy", user=administrator, contract=contract, parameters={"name": "B"})
    assert refused.value.extra == {"job": str(first.pk)}
    assert job_start(kind="heavy", user=administrator, contract=other_contract, parameters={"name": "C"})[1]
    assert job_start(kind="other_lane", user=analyst, contract=contract, parameters={"name": "D"})[1]
    Job.objects.filter(pk=first.pk).update(status="succeeded")
    assert job_start(kind="heavy", user=analyst, contract=contract, parameters={"name": "E"})[1]


def test_the_lane_is_a_database_constraint(kinds, analyst, contract):
    kinds("heavy", _renamed, lane="planning")
    job_start(kind="heavy", user=analyst, contract=contract, parameters={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind="heavy", contract=contract, lane="planning", created_by=analyst)


def test_an_idempotency_key_returns_the_first_job_and_refuses_another_request(kinds, analyst, contract):
    kinds("heavy", _renamed, lane="planning")
    first, created = job_start(
        kind="heavy", user=analyst, contract=contract, parameters={"x": 1}, idempotency_key="k1"
    )
    again, created_again = job_start(
        kind="heavy", user=analyst, contract=contract, parameters={"x": 1}, idempotency_key="k1"
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    with pytest.raises(ConflictError, match="already used for a different request"):
        job_start(kind="heavy", user=analyst, contract=contract, parameters={"x": 2}, idempotency_key="k1")
    assert Job.objects.count() == 1


def test_a_job_whose_worker_stopped_fails_after_the_lease_or_runs_once_more_if_idempotent(
    kinds, analyst, contract, run_jobs, settings
):
    kinds("plain", _renamed)
    kinds("import", _renamed, retry_once=True)
    stale = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    plain = Job.objects.create(
        kind="plain", contract=contract, created_by=analyst, status="running", attempts=1
    )
    retried = Job.objects.create(
        kind="import",
        contract=contract,
        created_by=analyst,
        status="running",
        attempts=1,
        parameters={"name": "Imported"},
    )
    fresh = Job.objects.create(
        kind="plain", contract=contract, created_by=analyst, status="running", attempts=1
    )
    Job.objects.filter(pk__in=[plain.pk, retried.pk]).update(heartbeat_at=stale)
    Job.objects.filter(pk=fresh.pk).update(heartbeat_at=timezone.now())

    with run_jobs():
        assert jobs_reap_stale() == 2
    plain.refresh_from_db(), retried.refresh_from_db(), fresh.refresh_from_db()
    assert (plain.status, plain.error["message"]) == (
        "failed",
        f"The worker running this job stopped (no heartbeat for {settings.JOB_LEASE_SECONDS} s).",
    )
    assert (retried.status, retried.attempts, retried.result) == ("succeeded", 2, {"renamed": "H1001"})
    assert fresh.status == "running"
    # A job tried twice is not tried a third time.
    Job.objects.filter(pk=retried.pk).update(status="running", heartbeat_at=stale)
    assert jobs_reap_stale() == 1
    retried.refresh_from_db()
    assert retried.status == "failed"


def test_a_job_claimed_by_another_worker_or_cancelled_is_not_run_again(kinds, analyst, contract):
    ran = []
    kinds("once", lambda job, context: ran.append(job) or {})
    job = Job.objects.create(kind="once", contract=contract, created_by=analyst, status="running")
    run_job.call(str(job.pk))
    Job.objects.filter(pk=job.pk).update(status="cancelled")
    run_job.call(str(job.pk))
    assert ran == []


# --- the API and the admin -------------------------------------------------------------------


def test_the_jobs_api_shows_each_user_their_contracts_jobs_of_kinds_their_role_sees(
    kinds, api, analyst, care_manager, colleague, administrator, contract, other_contract
):
    kinds("rename", _renamed)
    kinds("benchmark", _renamed, view_permission="ratings.view_cmsdataimport")
    mine = job_start(kind="rename", user=analyst, contract=contract, parameters={})[0]
    theirs = job_start(kind="rename", user=administrator, contract=other_contract, parameters={})[0]
    analysts = job_start(kind="benchmark", user=analyst, contract=None, parameters={})[0]

    def listed(user, **filters):
        response = api(user).get("/api/jobs/", filters)
        assert response.status_code == 200, response.json()
        return {job["id"] for job in response.json()["results"]}

    assert listed(analyst) == {str(mine.pk), str(analysts.pk)}
    assert listed(care_manager) == {str(mine.pk)}  # a care manager's role does not see benchmark jobs
    assert listed(colleague) == {str(theirs.pk)}
    assert listed(administrator) == {str(mine.pk), str(theirs.pk)}  # contract-less jobs are their creator's
    assert listed(analyst, kind="benchmark") == {str(analysts.pk)}
    assert listed(administrator, contract="h1002", status="queued") == {str(theirs.pk)}
    assert api(colleague).get(f"/api/jobs/{mine.pk}/").status_code == 404
    body = api(analyst).get(f"/api/jobs/{mine.pk}/").json()
    assert body["url"].endswith(f"/api/jobs/{mine.pk}/") and body["contract"] == "H1001"
    assert (body["status"], body["progress"], body["error"], body["created_by"]) == (
        "queued",
        0.0,
        None,
        "analyst",
    )
    assert api(None).get("/api/jobs/").status_code == 401


def test_listing_jobs_takes_the_same_queries_for_one_or_many(
    kinds, api, analyst, contract, django_assert_num_queries
):
    kinds("rename", _renamed)
    client = api(analyst)
    job_start(kind="rename", user=analyst, contract=contract, parameters={})
    one = query_count(lambda: client.get("/api/jobs/"))
    for _ in range(5):
        Job.objects.create(kind="rename", contract=contract, created_by=analyst, status="succeeded")
    assert query_count(lambda: client.get("/api/jobs/")) == one


def test_cancelling_through_the_api(kinds, api, analyst, care_manager, contract):
    kinds("rename", _renamed)
    job = job_start(kind="rename", user=analyst, contract=contract, parameters={})[0]
    assert api(care_manager).post(f"/api/jobs/{job.pk}/cancel/").status_code == 403
    cancelled = api(analyst).post(f"/api/jobs/{job.pk}/cancel/")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    again = api(analyst).post(f"/api/jobs/{job.pk}/cancel/")
    assert (again.status_code, again.json()["message"]) == (409, "The job has already finished (cancelled).")


def test_the_admin_jobs_page_shows_progress_and_reloads_while_the_job_runs(kinds, client, analyst, contract):
    kinds("rename", _renamed)
    job = job_start(kind="rename", user=analyst, contract=contract, parameters={"name": "X"})[0]
    Job.objects.filter(pk=job.pk).update(
        status="running", progress=0.4, stage="renaming", heartbeat_at=timezone.now()
    )
    client.force_login(analyst)
    listing = client.get("/admin/hedis_portal/job/")
    assert listing.status_code == 200
    assert b'<progress value="40" max="100">' in listing.content and b"renaming" in listing.content
    page = client.get(f"/admin/hedis_portal/job/{job.pk}/change/")
    assert b'<meta http-equiv="refresh" content="3">' in page.content
    Job.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0)
    assert b'http-equiv="refresh"' not in client.get(f"/admin/hedis_portal/job/{job.pk}/change/").content


def test_the_admin_cancel_action(kinds, client, analyst, contract):
    kinds("rename", _renamed)
    job = job_start(kind="rename", user=analyst, contract=contract, parameters={})[0]
    client.force_login(analyst)
    client.post("/admin/hedis_portal/job/", {"action": "cancel_jobs", "_selected_action": [str(job.pk)]})
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_a_job_page_says_what_the_job_is_and_cancels_it_with_a_button(kinds, client, analyst, contract):
    kinds("rename", _renamed, label="contract rename")
    job = job_start(kind="rename", user=analyst, contract=contract, parameters={"name": "X"})[0]
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    client.force_login(analyst)
    page = client.get(f"/admin/hedis_portal/job/{job.pk}/change/").content.decode()
    assert "<h2>Contract rename for H1001, running</h2>" in page
    cancel = f"/admin/hedis_portal/job/{job.pk}/cancel/"
    assert f'<form method="post" action="{cancel}">' in page
    assert client.get(cancel).status_code == 403  # a POST only
    response = client.post(cancel)
    assert response["Location"] == f"/admin/hedis_portal/job/{job.pk}/change/"
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("running", True)
    assert "Cancel this job" not in client.get(response["Location"]).content.decode()


def test_a_job_page_lists_its_parameters_in_words_with_the_json_collapsed(kinds, client, analyst, contract):
    kinds("plan", _renamed, label="optimizer run")
    parameters = {
        "measurement_year": 2026,
        "budget": "25000.00",
        "draws": 10000,
        "seed": 0,
        "time_limit": 60.0,
        "full_snapshot": False,
        "assumptions": {"C14": {"extra_closures": 40}},
    }
    job = job_start(kind="plan", user=analyst, contract=contract, parameters=parameters)[0]
    assert str(job) == "Optimizer run for H1001, queued"  # the kind's label, not its name
    client.force_login(analyst)
    page = client.get(f"/admin/hedis_portal/job/{job.pk}/change/").content.decode()
    assert "<h2>Optimizer run for H1001, queued</h2>" in page  # the kind's label, not its name
    table, _, raw = page.partition('<details class="raw-documents">')
    for row in [
        ("Measurement year", "2026"),
        ("Budget", "$25,000"),
        ("Draws", "10,000"),
        ("Seed", "0"),
        ("Time limit", "60 s"),
        ("Full snapshot", "no"),
        ("Assumptions", "C14: extra closures: 40"),
    ]:
        assert '<tr><th scope="row">{}</th><td>{}</td></tr>'.format(*row) in table, row
    assert "&quot;budget&quot;: &quot;25000.00&quot;" in raw.partition("</details>")[0]
    assert "&quot;budget&quot;" not in table


def test_only_who_may_start_a_kind_cancels_its_jobs_from_their_page(kinds, client, analyst, contract):
    kinds("rename", _renamed, start_permission="ratings.add_cmsdataimport")
    job = job_start(kind="rename", user=analyst, contract=contract, parameters={})[0]
    client.force_login(analyst)
    assert "Cancel this job" not in client.get(f"/admin/hedis_portal/job/{job.pk}/change/").content.decode()
    assert client.post(f"/admin/hedis_portal/job/{job.pk}/cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


def test_a_finished_jobs_page_links_what_it_made_and_lists_its_figures(
    kinds, client, analyst, contract, run_jobs
):
    kinds("rename", _renamed)
    job = _started("rename", analyst, contract, run_jobs, name="X")
    Job.objects.filter(pk=job.pk).update(result={"admin_url": "/admin/", "rows": 12000, "renamed": "H1001"})
    client.force_login(analyst)
    page = client.get(f"/admin/hedis_portal/job/{job.pk}/change/").content.decode()
    links = '<div><a href="/admin/">Open what it made</a></div>'
    assert f"{links}<div>rows: 12,000</div><div>renamed: H1001</div>" in page


def test_work_that_reaches_no_progress_point_after_its_time_limit_is_interrupted(
    kinds, analyst, contract, run_jobs, settings
):
    def busy(job, context):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # pure Python, never reporting progress
            pass
        return {"finished": True}

    kinds("busy", busy)
    settings.JOB_TIME_LIMITS = {"busy": 0.2}
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    settings.JOB_OVERRUN_GRACE_SECONDS = 0.1
    started = time.monotonic()
    job = _started("busy", analyst, contract, run_jobs)
    assert (job.status, job.error["message"], job.result) == ("failed", jobs.TIME_LIMIT_PASSED, {})
    assert time.monotonic() - started < 5


def test_a_job_the_task_queue_cannot_take_fails_at_once_and_frees_its_lane(
    kinds, analyst, contract, run_jobs, monkeypatch, caplog
):
    def unreachable(*args):
        raise ConnectionError("the task queue is down")

    kinds("heavy", _renamed, lane="planning")
    monkeypatch.setattr(jobs, "run_job", SimpleNamespace(enqueue=unreachable))
    with caplog.at_level(logging.ERROR, logger="hedis_portal.jobs"):
        job = _started("heavy", analyst, contract, run_jobs)
    assert (job.status, job.stage) == ("failed", "failed: not queued")
    assert (
        job.error["message"] == "The job could not be queued (the task queue is unreachable); start it again."
    )
    assert f"Job {job.pk} could not be queued" in caplog.text
    assert job_start(kind="heavy", user=analyst, contract=contract, parameters={})[1]


def test_the_jobs_kind_filter_offers_the_kinds_the_role_may_see(client, care_manager, analyst, administrator):

    def offered(user):
        client.force_login(user)
        page = client.get("/admin/hedis_portal/job/")
        return [
            choice["display"] for choice in page.context["cl"].filter_specs[0].choices(page.context["cl"])
        ][1:]

    labels = {name: kind.label for name, kind in job_registry.job_kinds().items()}
    care = [
        "cut_point_projection",
        "forecast",
        "gap_import",
        "optimize",
        "predictions_import",
        "propose",
        "snapshot",
        "snapshot_all",
    ]
    assert offered(care_manager) == sorted(labels[name] for name in care)
    assert offered(administrator) == sorted(labels.values())

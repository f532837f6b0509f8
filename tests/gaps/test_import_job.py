"""A gap file uploaded through the API: checked at the edge, stored without raw IDs, applied by a job."""

import hashlib
from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gaps.models import CareGap
from hedis_portal.jobs import jobs_reap_stale
from hedis_portal.models import Job, JobFile
from members.identifiers import member_id_hash
from members.models import Member
from tests.conftest import finished_job
from tests.factories import MemberFactory, measure

pytestmark = pytest.mark.django_db

HEADER = "member_id,measure,compliance_status,evidence_date,evidence_source,birth_year,sex"
GOOD = f"{HEADER}\nRAW-A-0001,BCS,open,,,1956,F\nRAW-A-0002,BCS,closed,2026-03-04,claims,1950,F\n".encode()


@pytest.fixture(autouse=True)
def _measures():
    measure("BCS")


def _body(content: bytes = GOOD, **fields) -> dict:
    return {
        "file": SimpleUploadedFile("upload.csv", content, content_type="text/csv"),
        "contract": "H1001",
        "measurement_year": 2026,
        **fields,
    }


def test_an_upload_is_answered_202_and_its_job_writes_the_gaps(api, administrator, contract, run_jobs):
    client = api(administrator)
    with run_jobs():
        started = client.post("/api/gaps/import/", _body(), format="multipart")
    assert started.status_code == 202
    assert started["Location"] == f"http://testserver/api/jobs/{started.json()['id']}/"
    job = finished_job(client, started)
    assert job["kind"] == "gap_import"
    assert job["status"] == "succeeded"
    assert job["contract"] == "H1001"
    assert job["parameters"] == {
        "measurement_year": 2026,
        "full_snapshot": False,
        "sha256": hashlib.sha256(GOOD).hexdigest(),
        "rows": 2,
    }
    assert job["result"] == {
        "rows": 2,
        "members_created": 2,
        "gaps_created": 2,
        "gaps_updated": 0,
        "gaps_unchanged": 0,
        "gaps_left_denominator": 0,
        "sha256": hashlib.sha256(GOOD).hexdigest(),
        "url": "/api/gaps/?contract=H1001&measurement_year=2026",
        "admin_url": "/admin/gaps/caregap/?contract=H1001&measurement_year=2026",
    }
    assert sorted(CareGap.objects.values_list("compliance_status", flat=True)) == ["closed", "open"]
    assert len(client.get(job["result"]["url"]).json()["results"]) == 2
    entry = LogEntry.objects.get(object_pk="batch", object_repr__startswith="Gap import")
    assert entry.actor == administrator
    assert entry.additional_data["batch"]["channel"] == "api"
    assert entry.additional_data["batch"]["file"] == {
        "sha256": hashlib.sha256(GOOD).hexdigest(),
        "size_bytes": len(GOOD),
        "rows": 2,
    }
    assert JobFile.objects.count() == 0  # the upload is kept only while its job may read it


def test_the_stored_upload_holds_checked_rows_with_hashed_ids_only(api, administrator, contract):
    started = api(administrator).post("/api/gaps/import/", _body(), format="multipart")
    stored = JobFile.objects.get(job_id=started.json()["id"])
    text = stored.read().decode()
    assert "RAW-A-000" not in text and "raw-a-000" not in text.lower()
    assert member_id_hash("RAW-A-0001") in text and member_id_hash("RAW-A-0002") in text
    assert (stored.sha256, stored.size_bytes, stored.rows, stored.name) == (
        hashlib.sha256(GOOD).hexdigest(),
        len(GOOD),
        2,
        "",
    )


def test_a_file_with_bad_rows_is_refused_at_once_and_nothing_is_kept(api, administrator, contract):
    bad = f"{HEADER}\nRAW-A-0001,BCS,nope,,,1956,F\nRAW-A-0002,XYZ,open,,,1950,F\n".encode()
    response = api(administrator).post("/api/gaps/import/", _body(bad), format="multipart")
    assert response.status_code == 400
    assert response.json()["extra"] == {
        "errors": [
            {
                "line": 2,
                "field": "compliance_status",
                "message": response.json()["extra"]["errors"][0]["message"],
            },
            {"line": 3, "field": "measure", "message": "not a known member-level measure code"},
        ],
        "error_count": 2,
    }
    assert (Job.objects.count(), JobFile.objects.count(), CareGap.objects.count()) == (0, 0, 0)


def test_a_member_of_another_contract_fails_the_job_and_writes_nothing(
    api, administrator, contract, other_contract, run_jobs
):
    MemberFactory(contract=other_contract, raw_member_id="RAW-A-0002")
    client = api(administrator)
    with run_jobs():
        started = client.post("/api/gaps/import/", _body(), format="multipart")
    job = finished_job(client, started)
    assert job["status"] == "failed"
    assert job["error"] == {
        "message": "1 problem in the file; nothing was imported.",
        "extra": {
            "errors": [
                {
                    "line": 3,
                    "field": "member_id",
                    "message": "member is not enrolled in H1001",
                }
            ],
            "error_count": 1,
        },
    }
    assert CareGap.objects.count() == 0
    assert Member.objects.filter(contract=contract).count() == 0
    assert JobFile.objects.count() == 0


def test_a_second_import_of_the_contract_waits_its_turn_with_409(api, administrator, contract):
    client = api(administrator)
    first = client.post("/api/gaps/import/", _body(), format="multipart")
    second = client.post("/api/gaps/import/", _body(), format="multipart")
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["extra"] == {"job": first.json()["id"]}
    assert "gap file import" in second.json()["message"]


def test_the_same_idempotency_key_returns_the_first_job_and_a_different_file_is_refused(
    api, administrator, contract
):
    client = api(administrator)
    first = client.post("/api/gaps/import/", _body(), format="multipart", HTTP_IDEMPOTENCY_KEY="upload-1")
    again = client.post("/api/gaps/import/", _body(), format="multipart", HTTP_IDEMPOTENCY_KEY="upload-1")
    other = GOOD.replace(b"1956", b"1957")
    changed = client.post(
        "/api/gaps/import/", _body(other), format="multipart", HTTP_IDEMPOTENCY_KEY="upload-1"
    )
    assert (first.status_code, again.status_code, changed.status_code) == (202, 202, 409)
    assert again.json()["id"] == first.json()["id"]
    assert (Job.objects.count(), JobFile.objects.count()) == (1, 1)


def test_cancelling_a_queued_import_discards_its_upload(api, administrator, contract):
    client = api(administrator)
    started = client.post("/api/gaps/import/", _body(), format="multipart")
    cancelled = client.post(f"/api/jobs/{started.json()['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert JobFile.objects.count() == 0
    assert CareGap.objects.count() == 0


def test_an_import_whose_worker_died_runs_once_more_from_its_kept_upload(
    api, administrator, contract, run_jobs, settings
):
    client = api(administrator)
    started = client.post("/api/gaps/import/", _body(), format="multipart")
    stale = timezone.now() - timedelta(seconds=settings.JOB_LEASE_SECONDS + 1)
    # As a worker killed after claiming it leaves it: running, one attempt, no heartbeat since.
    Job.objects.filter(pk=started.json()["id"]).update(status="running", attempts=1, heartbeat_at=stale)
    with run_jobs():
        assert jobs_reap_stale() == 1
    job = finished_job(client, started)
    assert (job["status"], job["result"]["gaps_created"]) == ("succeeded", 2)
    assert Job.objects.get(pk=job["id"]).attempts == 2
    assert CareGap.objects.count() == 2


def test_the_job_reports_its_stages(administrator, contract):
    from gaps.importing import gaps_upload_check
    from gaps.jobs import gap_import
    from hedis_portal.jobs import JobContext

    checked = gaps_upload_check(GOOD, measurement_year=2026)
    job = Job.objects.create(
        kind="gap_import",
        contract=contract,
        created_by=administrator,
        parameters={"measurement_year": 2026, "full_snapshot": False},
    )
    JobFile.holding(checked.content, job=job, sha256=checked.sha256, size_bytes=checked.size_bytes).save()
    stages = []

    class Recording(JobContext):
        def progress(self, fraction, stage):
            stages.append((fraction, stage))

    gap_import(job, Recording(job_id=job.pk, deadline=float("inf")))
    assert stages == [
        (0.0, "waiting for another import of this contract to finish"),
        (0.1, "matching the members of 2 rows"),
        (0.3, "writing 2 gaps"),
    ]


def test_a_failed_imports_job_page_lists_its_refused_rows(
    api, client, administrator, other_contract, run_jobs
):
    MemberFactory(contract=other_contract, raw_member_id="RAW-A-0002")
    with run_jobs():
        started = api(administrator).post("/api/gaps/import/", _body(), format="multipart")
    client.force_login(administrator)
    page = client.get(f"/admin/hedis_portal/job/{started.json()['id']}/change/").content.decode()
    assert "1 problem in the file; nothing was imported." in page
    assert "<div>line 3, member_id: member is not enrolled in H1001</div>" in page


def test_administrators_upload_a_gap_file_in_the_admin_and_land_on_its_job(client, administrator, run_jobs):
    client.force_login(administrator)
    worklist = client.get("/admin/gaps/caregap/").content.decode()
    assert '<a href="/admin/gaps/caregap/upload/" class="addlink">Import a gap file</a>' in worklist
    form = client.get("/admin/gaps/caregap/upload/")
    assert form.status_code == 200
    assert [field.name for field in form.context["form"]] == [
        "file",
        "contract",
        "measurement_year",
        "full_snapshot",
    ]
    assert [value for value, _ in form.context["form"].fields["contract"].choices] == ["H1001", "H1002"]
    body = {**_body(), "contract": "H1001", "measurement_year": 2026}
    with run_jobs():
        response = client.post("/admin/gaps/caregap/upload/", body)
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/hedis_portal/job/{job.pk}/change/"
    assert (job.kind, job.status, job.result["gaps_created"]) == ("gap_import", "succeeded", 2)


def test_a_bad_gap_file_uploaded_in_the_admin_lists_its_rows_and_starts_nothing(client, administrator):
    client.force_login(administrator)
    bad = f"{HEADER}\nRAW-A-0001,XYZ,open,,,1956,F\n".encode()
    response = client.post("/admin/gaps/caregap/upload/", _body(bad))
    page = response.content.decode()
    assert response.status_code == 200
    assert "1 problem in the file; nothing was imported." in page
    assert "<li>line 2, measure: not a known member-level measure code</li>" in page
    assert "RAW-A-0001" not in page
    assert (Job.objects.count(), JobFile.objects.count()) == (0, 0)


def test_only_who_may_add_gaps_sees_and_opens_the_upload(client, care_manager):
    client.force_login(care_manager)
    assert "Import a gap file" not in client.get("/admin/gaps/caregap/").content.decode()
    assert client.get("/admin/gaps/caregap/upload/").status_code == 403
    assert client.post("/admin/gaps/caregap/upload/", _body()).status_code == 403
    assert Job.objects.count() == 0


def test_an_admin_upload_while_the_contract_imports_says_so_on_the_form(client, administrator):
    client.force_login(administrator)
    client.post("/admin/gaps/caregap/upload/", _body())
    again = client.post("/admin/gaps/caregap/upload/", _body())
    assert again.status_code == 200
    assert "H1001 already has a job in progress (gap file import, queued)" in again.content.decode()
    assert Job.objects.count() == 1

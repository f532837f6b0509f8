"""A predictions file uploaded through the API: checked at the edge, kept as checked rows, run as a job."""

import hashlib
import json

import pytest
from auditlog.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile

from hedis_portal.models import Job, JobFile
from members.identifiers import member_id_hash
from predictions.models import Prediction
from predictions.services import OPTIONAL_FIELDS, ROW_FIELDS
from tests.conftest import finished_job
from tests.factories import measure
from tests.predictions.conftest import OTHER_RAW_ID, OWN_RAW_ID, prediction_row

pytestmark = pytest.mark.django_db

# The required row fields, in the services' order (a CSV file may leave top_features out).
COLUMNS = [name for name in ROW_FIELDS if name not in OPTIONAL_FIELDS]


@pytest.fixture(autouse=True)
def _measures():
    measure("BCS")
    measure("COL")


def _csv(*rows: dict) -> bytes:
    lines = [",".join(COLUMNS), *(",".join(str(row[name]) for name in COLUMNS) for row in rows)]
    return "".join(f"{line}\n" for line in lines).encode()


def _jsonl(*rows: dict) -> bytes:
    return "".join(f"{json.dumps(row)}\n" for row in rows).encode()


def _upload(content: bytes, name: str = "scores.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def test_an_upload_is_answered_202_and_its_job_writes_the_predictions(api, analyst, member, run_jobs):
    content = _csv(prediction_row(), prediction_row(measure="COL", probability=0.2, risk_tier="low"))
    client = api(analyst)
    with run_jobs():
        started = client.post("/api/predictions/import/", {"file": _upload(content)}, format="multipart")
    job = finished_job(client, started)
    assert (job["kind"], job["status"], job["contract"]) == ("predictions_import", "succeeded", None)
    assert job["parameters"] == {"format": "csv", "sha256": hashlib.sha256(content).hexdigest(), "rows": 2}
    assert job["result"] == {
        "received": 2,
        "created": 2,
        "updated": 0,
        "sha256": hashlib.sha256(content).hexdigest(),
        "url": "/api/predictions/",
        "admin_url": "/admin/predictions/prediction/",
    }
    assert sorted(Prediction.objects.values_list("measure__code", "probability", "risk_tier")) == [
        ("BCS", 0.73, "high"),
        ("COL", 0.2, "low"),
    ]
    entry = LogEntry.objects.get(object_pk="batch", content_type__model="prediction")
    assert entry.actor == analyst
    assert entry.additional_data["batch"]["channel"] == "api"
    assert entry.additional_data["batch"]["file"] == {
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "rows": 2,
    }
    assert JobFile.objects.count() == 0


def test_json_lines_are_read_by_the_file_name_or_the_format_field(api, analyst, member, run_jobs):
    client = api(analyst)
    features = [{"feature": "prior_screening", "weight": 0.41}]
    with run_jobs():
        named = client.post(
            "/api/predictions/import/",
            {"file": _upload(_jsonl(prediction_row()), "s.JSONL")},
            format="multipart",
        )
    assert finished_job(client, named)["result"]["created"] == 1
    with run_jobs():
        told = client.post(
            "/api/predictions/import/",
            {"file": _upload(_jsonl(prediction_row(probability=0.5)), "scores"), "format": "jsonl"},
            format="multipart",
        )
    assert finished_job(client, told)["result"]["updated"] == 1
    prediction = Prediction.objects.get()
    assert (prediction.probability, prediction.top_features) == (0.5, features)


def test_without_a_format_a_name_without_a_known_suffix_is_a_400(api, analyst, member):
    response = api(analyst).post(
        "/api/predictions/import/",
        {"file": _upload(_jsonl(prediction_row()), "scores.txt")},
        format="multipart",
    )
    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["format"]
    assert Job.objects.count() == 0


def test_the_stored_upload_holds_no_member_id_raw_or_hashed(api, analyst, member):
    started = api(analyst).post(
        "/api/predictions/import/", {"file": _upload(_csv(prediction_row()))}, format="multipart"
    )
    text = JobFile.objects.get(job_id=started.json()["id"]).read().decode()
    assert OWN_RAW_ID not in text and member_id_hash(OWN_RAW_ID) not in text
    assert json.loads(text)[0] == member.pk


def test_bad_rows_and_members_out_of_scope_are_refused_at_once(api, analyst, member, other_member):
    content = _csv(prediction_row(probability=2), prediction_row(OTHER_RAW_ID))
    response = api(analyst).post("/api/predictions/import/", {"file": _upload(content)}, format="multipart")
    assert response.status_code == 400
    assert [(error["line"], error["field"]) for error in response.json()["extra"]["errors"]] == [
        (2, "probability"),
        (3, "member_id"),
    ]
    assert (Job.objects.count(), JobFile.objects.count(), Prediction.objects.count()) == (0, 0, 0)


def test_a_care_manager_may_not_upload_predictions(api, care_manager, member):
    response = api(care_manager).post(
        "/api/predictions/import/", {"file": _upload(_csv(prediction_row()))}, format="multipart"
    )
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_the_job_reports_rows_written_batch_by_batch(analyst, member):
    from hedis_portal.jobs import JobContext
    from predictions.importing import predictions_import_checked, predictions_upload_check

    rows = [prediction_row(model_version=f"m{n}") for n in range(5)]
    checked = predictions_upload_check(content=_jsonl(*rows), file_format="jsonl", user=analyst)
    stages = []

    class Recording(JobContext):
        def progress(self, fraction, stage):
            stages.append((round(fraction, 2), stage))

    context = Recording(job_id=None, deadline=float("inf"))
    result = predictions_import_checked(
        content=checked.content,
        sha256=checked.sha256,
        size_bytes=checked.size_bytes,
        batch_size=2,
        progress=context.stages({"importing": (0.0, 1.0, "wrote {done:,} of {total:,} predictions")}),
    )
    assert (result.received, result.created) == (5, 5)
    assert stages == [
        (0.4, "wrote 2 of 5 predictions"),
        (0.8, "wrote 4 of 5 predictions"),
        (1.0, "wrote 5 of 5 predictions"),
    ]


def test_a_predictions_file_uploaded_in_the_admin_lands_on_its_job(client, analyst, member, run_jobs):
    client.force_login(analyst)
    assert "Import a predictions file" in client.get("/admin/predictions/prediction/").content.decode()
    with run_jobs():
        response = client.post(
            "/admin/predictions/prediction/upload/",
            {"file": _upload(_jsonl(prediction_row()), "scores.jsonl")},
        )
    job = Job.objects.get()
    assert response["Location"] == f"/admin/hedis_portal/job/{job.pk}/change/"
    assert (job.kind, job.status, job.result["created"]) == ("predictions_import", "succeeded", 1)


def test_an_admin_upload_needs_a_format_it_can_tell_and_good_rows(client, analyst, member, other_member):
    client.force_login(analyst)
    unnamed = client.post(
        "/admin/predictions/prediction/upload/", {"file": _upload(_csv(prediction_row()), "x")}
    )
    assert unnamed.context["form"].errors == {
        "format": ["Choose csv or jsonl, or upload a file named .csv or .jsonl."]
    }
    outside = client.post(
        "/admin/predictions/prediction/upload/",
        {"file": _upload(_csv(prediction_row(OTHER_RAW_ID))), "format": "csv"},
    )
    assert "<li>line 2, member_id: " in outside.content.decode()
    assert OTHER_RAW_ID not in outside.content.decode()
    assert Job.objects.count() == 0


def test_care_managers_have_no_predictions_upload(client, care_manager):
    client.force_login(care_manager)
    assert client.get("/admin/predictions/prediction/upload/").status_code == 403

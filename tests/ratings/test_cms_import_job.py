"""CMS data tables imported as a job: `POST /api/cms-imports/` and the admin's import page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from hedis_portal.jobs import JobContext
from hedis_portal.models import Job, JobFile
from ratings.models import CmsContract, CmsDataImport, CmsMeasureValue
from tests.conftest import finished_job, query_count
from tests.factories import UserFactory
from tests.ratings.conftest import SMALL_2024, SMALL_2026

pytestmark = pytest.mark.django_db
URL = "/api/cms-imports/"
ADMIN_IMPORT = "/admin/ratings/cmsdataimport/upload/"


def tables(files: dict[str, str] = SMALL_2026, encoding: str = "utf-8-sig") -> list[SimpleUploadedFile]:
    """CMS-style uploads (CRLF line ends, as CMS publishes them), under their file names."""
    return [
        SimpleUploadedFile(name, text.replace("\n", "\r\n").encode(encoding), content_type="text/csv")
        for name, text in files.items()
    ]


def upload(client, files=None, star_year=2026, **headers):
    body = {"star_year": star_year, "files": tables() if files is None else files}
    return client.post(URL, body, format="multipart", headers=headers)


def stored_benchmark() -> tuple[int, int, int]:
    return CmsDataImport.objects.count(), CmsContract.objects.count(), CmsMeasureValue.objects.count()


@pytest.mark.parametrize(
    ("persona", "read", "start"),
    [
        ("administrator", 200, 202),
        ("analyst", 200, 403),
        ("care_manager", 403, 403),
        (None, 401, 401),
    ],
)
def test_who_may_read_and_start_imports(request, api, run_jobs, persona, read, start):
    client = api(request.getfixturevalue(persona) if persona else None)
    assert client.get(URL).status_code == read
    with run_jobs():
        assert upload(client).status_code == start
    assert CmsDataImport.objects.exists() == (start == 202)


def test_an_upload_is_imported_by_a_job_that_links_what_it_stored(api, administrator, run_jobs):
    client = api(administrator)
    with run_jobs():
        started = upload(client)
    job = finished_job(client, started)
    stored = CmsDataImport.objects.get()
    assert (job["kind"], job["status"], job["progress"], job["contract"]) == (
        "cms_import",
        "succeeded",
        1.0,
        None,
    )
    result = dict(job["result"])
    assert {f["name"]: (f["table"], f["rows"], f["encoding"]) for f in result.pop("files")} == {
        "cai.csv": ("cai", 2, "UTF-8 with BOM"),
        "cut-points-part-c.csv": ("part_c_cut_points", 3, "UTF-8 with BOM"),
        "measure-data.csv": ("measure_data", 2, "UTF-8 with BOM"),
        "measure-stars.csv": ("measure_stars", 2, "UTF-8 with BOM"),
        "summary-ratings.csv": ("summary_ratings", 2, "UTF-8 with BOM"),
    }
    assert result == {
        "cms_data_import": stored.pk,
        "star_year": 2026,
        "contracts": 2,
        "cut_points": 3,
        "measure_values": 6,
        "contract_types": 0,
        "skipped": [],
        "url": f"/api/cms-imports/{stored.pk}/",
        "admin_url": f"/admin/ratings/cmsdataimport/{stored.pk}/change/",
    }
    assert [file["name"] for file in job["parameters"]["files"]] == list(SMALL_2026)
    assert stored_benchmark() == (1, 2, 6)
    assert stored.imported_by == administrator
    assert JobFile.objects.count() == 0  # the upload is kept only while its job may read it
    detail = client.get(job["result"]["url"]).json()
    assert (detail["star_year"], detail["imported_by"], detail["measure_value_count"]) == (2026, "admin", 6)
    assert {file["name"]: file["table"] for file in detail["files"]}["cai.csv"] == "cai"


def test_a_contract_type_file_among_the_uploads_types_its_contracts(api, administrator, run_jobs):
    types = SimpleUploadedFile(
        "types.csv", b"contract,type\r\nH0001,CCP with Only I-SNP\r\n", content_type="text/csv"
    )
    with run_jobs():
        started = upload(api(administrator), [*tables(), types])
    job = finished_job(api(administrator), started)
    assert (job["status"], job["result"]["contract_types"]) == ("succeeded", 1)
    assert dict(CmsContract.objects.values_list("contract_id", "contract_type")) == {
        "H0001": "ccp_only_isnp",
        "H0002": "",
    }


def test_the_importers_lines_are_the_jobs_stages_with_a_rising_fraction(
    api, administrator, run_jobs, monkeypatch
):
    reported = []
    original = JobContext.progress

    def recorded(context, fraction, stage):
        reported.append((fraction, stage))
        original(context, fraction, stage)

    monkeypatch.setattr(JobContext, "progress", recorded)
    with run_jobs():
        upload(api(administrator))
    fractions = [fraction for fraction, _ in reported]
    stages = [stage for _, stage in reported]
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 1
    assert stages[0] == "reading 5 files"
    assert "read measure-data.csv: measure data, 2 contracts × 3 measures (UTF-8 with BOM)" in stages
    assert stages[-1] == "stored 6 measure values"


def test_refused_tables_fail_the_job_with_the_import_error_rows_and_write_nothing(
    api, administrator, run_jobs
):
    client = api(administrator)
    with run_jobs():
        started = upload(client, files=tables(SMALL_2024, encoding="cp1252"))
    job = finished_job(client, started)
    assert job["status"] == "failed"
    errors = job["error"]["extra"]["errors"]
    assert job["error"]["extra"]["error_count"] == 1
    assert set(errors[0]) == {"file", "line", "field", "message"}
    assert (errors[0]["file"], errors[0]["line"], errors[0]["field"]) == ("cuts.csv", 1, "file")
    assert "not 2026" in errors[0]["message"]
    assert "cuts.csv" in job["error"]["message"]
    assert stored_benchmark() == (0, 0, 0)
    assert JobFile.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"star_year": 2026}, "files"),
        ({"star_year": 2026, "files": [SimpleUploadedFile("measure-data.xlsx", b"x")]}, "files"),
        ({"files": "tables"}, "star_year"),
        ({"star_year": 1999, "files": "tables"}, "star_year"),
    ],
)
def test_a_bad_form_is_a_400_naming_the_field_and_stores_nothing(api, administrator, body, field):
    if body.get("files") == "tables":
        body = {**body, "files": tables()}
    response = api(administrator).post(URL, body, format="multipart")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert (Job.objects.count(), JobFile.objects.count()) == (0, 0)


def test_a_file_not_named_csv_is_named_in_the_refusal(api, administrator):
    files = [*tables(), SimpleUploadedFile("notes.txt", b"x")]
    response = upload(api(administrator), files=files)
    assert response.json()["extra"]["fields"]["files"] == [
        "notes.txt is not a CSV file (its name must end in .csv)."
    ]


def test_files_over_the_limit_together_are_a_413(api, administrator, settings):
    settings.CMS_IMPORT_MAX_BYTES = sum(len(text) for text in SMALL_2026.values()) // 2
    response = upload(api(administrator))
    assert response.status_code == 413
    assert response.json()["extra"] == {"max_bytes": settings.CMS_IMPORT_MAX_BYTES}
    assert (Job.objects.count(), JobFile.objects.count()) == (0, 0)


def test_an_idempotency_key_returns_the_first_job(api, administrator, run_jobs):
    client = api(administrator)
    with run_jobs():
        first = upload(client, **{"Idempotency-Key": "cms-2026"})
    again = upload(client, **{"Idempotency-Key": "cms-2026"})
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert Job.objects.count() == 1
    other_files = upload(client, files=tables()[:2], **{"Idempotency-Key": "cms-2026"})
    assert other_files.status_code == 409


def test_two_uploads_with_one_name_are_both_read(api, administrator, run_jobs):
    client = api(administrator)
    twice = [*tables(), *tables({"cai.csv": SMALL_2026["cai.csv"]})]
    with run_jobs():
        started = upload(client, files=twice)
    job = finished_job(client, started)
    assert job["status"] == "failed"
    assert job["error"]["message"].startswith("two CAI tables: cai.csv and cai.csv")


def test_the_import_list_costs_the_same_queries_however_many_years(api, administrator):
    client = api(administrator)

    def grow(years):
        for star_year in years:
            CmsDataImport.objects.create(star_year=star_year, imported_by=UserFactory())

    grow([2020, 2021])
    few = query_count(lambda: client.get(URL))
    grow(range(2022, 2030))
    assert query_count(lambda: client.get(URL)) == few
    assert [row["star_year"] for row in client.get(URL).json()["results"]][:2] == [2029, 2028]


# --- the admin's import page ---------------------------------------------------------------------


def test_the_changelist_offers_the_import_page_to_whom_may_import(client, administrator, analyst):
    client.force_login(administrator)
    assert ADMIN_IMPORT in client.get("/admin/ratings/cmsdataimport/").content.decode()
    client.force_login(analyst)
    assert ADMIN_IMPORT not in client.get("/admin/ratings/cmsdataimport/").content.decode()
    assert client.get(ADMIN_IMPORT).status_code == 403


def test_the_import_page_starts_the_job_and_goes_to_its_page(client, administrator, run_jobs):
    client.force_login(administrator)
    page = client.get(ADMIN_IMPORT).content.decode()
    assert 'name="star_year"' in page
    assert 'type="file" name="files"' in page and "multiple" in page
    with run_jobs():
        response = client.post(ADMIN_IMPORT, {"star_year": 2026, "files": tables()})
    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:hedis_portal_job_change", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.result["measure_values"], job.parameters["source"]) == (
        "succeeded",
        6,
        "admin upload",
    )
    assert CmsDataImport.objects.get().imported_by == administrator
    assert JobFile.objects.count() == 0
    assert (
        "Import CMS data tables: the job has started; its progress is below"
        in client.get(response["Location"]).content.decode()
    )


def test_the_import_page_shows_a_bad_form_again_with_its_errors(client, administrator):
    client.force_login(administrator)
    response = client.post(ADMIN_IMPORT, {"star_year": 2026, "files": [SimpleUploadedFile("a.pdf", b"x")]})
    assert response.status_code == 200
    assert "a.pdf is not a CSV file" in response.content.decode()
    assert not Job.objects.exists()

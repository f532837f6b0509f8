"""The predictions app's background job: writing an uploaded predictions file (`hedis_portal.jobs`).

The API's edge checked every row of the upload within the user's contracts and stored only the
checked rows, resolved to primary keys (`predictions.importing.predictions_upload_check`); the
job writes them in one transaction, batch by batch, as the command does after its own checks.
A file may span the user's contracts, so the job belongs to no one contract (its creator sees
it). Writing is all or nothing, so a job whose worker died is run once more.
"""

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse

from hedis_portal.errors import PayloadTooLarge
from hedis_portal.job_registry import job_kind
from hedis_portal.jobs import Job, JobContext, job_start
from hedis_portal.models import JobFile
from predictions.importing import FORMATS, predictions_import_checked, predictions_upload_check

_STAGES = {"importing": (0.0, 1.0, "wrote {done:,} of {total:,} predictions")}


@job_kind(
    "predictions_import",
    label="predictions file import",
    view_permission="predictions.view_prediction",
    start_permission="predictions.add_prediction",
    retry_once=True,
)
def predictions_import(job: Job, context: JobContext) -> dict:
    """Write the job's checked predictions; the result counts them and links the predictions."""
    upload = job.files.get()
    context.progress(0.0, f"writing {upload.rows:,} predictions")
    result = predictions_import_checked(
        content=upload.read(),
        sha256=upload.sha256,
        size_bytes=upload.size_bytes,
        progress=context.stages(_STAGES),
    )
    return {
        "received": result.received,
        "created": result.created,
        "updated": result.updated,
        "sha256": upload.sha256,
        "url": reverse("api:prediction-list"),
        "admin_url": reverse("admin:predictions_prediction_changelist"),
    }


def file_format_of(upload: UploadedFile, told: str = "") -> str:
    """The upload's format: as `told`, else by its name's suffix; "" when neither is one of `FORMATS`."""
    file_format = told or Path(upload.name or "").suffix.lstrip(".").lower()
    return file_format if file_format in FORMATS else ""


def predictions_import_start(
    *, user, upload: UploadedFile, file_format: str, idempotency_key: str = ""
) -> Job:
    """Check an uploaded predictions file within `user`'s contracts and keep its checked rows with a
    new `predictions_import` job (the API's and the admin's upload); the job, or the first one for
    `idempotency_key`.

    `ImportRejected` if a row is bad (nothing is kept), `PayloadTooLarge` over
    `PREDICTIONS_IMPORT_MAX_BYTES`. The upload's name is not kept.
    """
    if upload.size > settings.PREDICTIONS_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(f"The file is larger than {settings.PREDICTIONS_IMPORT_MAX_BYTES} bytes.")
    checked = predictions_upload_check(content=upload.read(), file_format=file_format, user=user)
    job, _ = job_start(
        kind="predictions_import",
        user=user,
        parameters={"format": file_format, "sha256": checked.sha256, "rows": checked.rows},
        idempotency_key=idempotency_key,
        files=[
            JobFile.holding(
                checked.content, sha256=checked.sha256, size_bytes=checked.size_bytes, rows=checked.rows
            )
        ],
    )
    return job

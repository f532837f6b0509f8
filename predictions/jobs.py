"""The predictions app's background job: writing an uploaded predictions file (`hedis_portal.jobs`).

The API's edge checked every row of the upload within the user's contracts and stored only the
checked rows, resolved to primary keys (`predictions.importing.predictions_upload_check`); the
job writes them in one transaction, batch by batch, as the command does after its own checks.
A file may span the user's contracts, so the job belongs to no one contract (its creator sees
it). Writing is all or nothing, so a job whose worker died is run once more.
"""

from django.urls import reverse

from hedis_portal.jobs import Job, JobContext, job_kind
from predictions.importing import predictions_import_checked

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

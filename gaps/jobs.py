"""The gaps app's background job: importing an uploaded gap file (`hedis_portal.jobs`).

The API's edge checked every row of the upload and stored only the checked rows, member IDs
hashed (`gaps.importing.gaps_upload_check`); the job matches the members and writes the gaps,
as the command does after its own checks. Imports of one contract share the "imports" lane, so
they run one at a time in the order they were accepted. An import is all or nothing, so a job
whose worker died is run once more.
"""

from urllib.parse import urlencode

from django.urls import reverse

from gaps.importing import gaps_import_checked
from hedis_portal.jobs import Job, JobContext, job_kind

_STAGES = {
    "waiting": (0.0, 0.0, "waiting for another import of this contract to finish"),
    "matching members": (0.1, 0.1, "matching the members of {total:,} rows"),
    "writing gaps": (0.3, 0.3, "writing {total:,} gaps"),
}


@job_kind(
    "gap_import",
    label="gap file import",
    view_permission="gaps.view_caregap",
    start_permission="gaps.add_caregap",
    lane="imports",
    retry_once=True,
)
def gap_import(job: Job, context: JobContext) -> dict:
    """Apply the job's checked gap file; the result counts what changed and links the worklist."""
    upload = job.files.get()
    parameters = job.parameters
    result = gaps_import_checked(
        content=upload.read(),
        sha256=upload.sha256,
        size_bytes=upload.size_bytes,
        contract=job.contract,
        measurement_year=parameters["measurement_year"],
        full_snapshot=parameters["full_snapshot"],
        progress=context.stages(_STAGES),
    )
    worklist = urlencode(
        {"contract": job.contract.contract_id, "measurement_year": parameters["measurement_year"]}
    )
    return {
        **result.as_dict(),
        "url": f"{reverse('api:caregap-list')}?{worklist}",
        "admin_url": f"{reverse('admin:gaps_caregap_changelist')}?{worklist}",
    }

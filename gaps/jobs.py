"""The gaps app's background job: importing an uploaded gap file (`hedis_portal.jobs`).

The API's edge checked every row of the upload and stored only the checked rows, member IDs
hashed (`gaps.importing.gaps_upload_check`); the job matches the members and writes the gaps,
as the command does after its own checks. Imports of one contract share the "imports" lane, so
they run one at a time in the order they were accepted. An import is all or nothing, so a job
whose worker died is run once more.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse

from gaps.importing import gaps_import_checked, gaps_upload_check
from hedis_portal.errors import PayloadTooLarge
from hedis_portal.job_registry import job_kind
from hedis_portal.jobs import Job, JobContext, job_start
from hedis_portal.models import JobFile
from members.models import Contract

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


def gap_import_start(
    *,
    user,
    contract: Contract,
    upload: UploadedFile,
    measurement_year: int,
    full_snapshot: bool,
    idempotency_key: str = "",
) -> Job:
    """Check an uploaded gap file and keep its checked rows with a new `gap_import` job (the API's
    and the admin's upload); the job, or the first one for `idempotency_key`.

    `ImportRejected` if a row is bad (nothing is kept), `PayloadTooLarge` over
    `GAP_IMPORT_MAX_BYTES`, 409 while another import of the contract is queued or running.
    The upload's name is not kept: names often carry identifiers.
    """
    if upload.size > settings.GAP_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(f"The file is larger than {settings.GAP_IMPORT_MAX_BYTES} bytes.")
    checked = gaps_upload_check(upload.read(), measurement_year=measurement_year)
    job, _ = job_start(
        kind="gap_import",
        user=user,
        contract=contract,
        parameters={
            "measurement_year": measurement_year,
            "full_snapshot": full_snapshot,
            "sha256": checked.sha256,
            "rows": checked.rows,
        },
        idempotency_key=idempotency_key,
        files=[
            JobFile.holding(
                checked.content, sha256=checked.sha256, size_bytes=checked.size_bytes, rows=checked.rows
            )
        ],
    )
    return job

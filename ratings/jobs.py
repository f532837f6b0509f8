"""The ratings app's background jobs: forecasts, what-if scenarios, optimizer runs, proposing a
plan's interventions, portfolio snapshots, importing CMS's data tables and projecting a star
year's cut points (`hedis_portal.jobs`).

Each job's parameters are what the API accepted, as JSON; each returns links to what it made.
Forecasts, what-ifs, optimizer runs and proposals on one contract share the "planning" lane:
one at a time, so two heavy runs (or a run and a proposal that re-scores the same worklist)
never overlap.
"""

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse

from hedis_portal.errors import ApplicationError, PayloadTooLarge
from hedis_portal.job_registry import job_kind
from hedis_portal.jobs import Job, JobContext, job_start
from hedis_portal.models import JobFile
from members.selectors import contracts_for
from ratings.benchmark.importing import cms_star_data_import
from ratings.benchmark.projection import DEFAULT_DRAWS, DEFAULT_SEED, NoBaseYear, cut_point_projection_create
from ratings.live.services import portfolio_snapshot_create
from ratings.models import CmsDataImport, PortfolioRun
from ratings.planning import services as planning

RUN_VIEW, RUN_START = "ratings.view_portfoliorun", "ratings.add_portfoliorun"
SNAPSHOT_VIEW, SNAPSHOT_START = "ratings.view_portfoliosnapshot", "ratings.add_portfoliosnapshot"
# What-if assumptions held as text in the job's parameters (JSON has no decimals).
DECIMAL_ASSUMPTIONS = ("target_rate", "score")


def _run_links(run: PortfolioRun) -> dict:
    route = "api:optimizerrun-detail" if run.kind == PortfolioRun.Kind.OPTIMIZE else "api:forecast-detail"
    return {
        "portfolio_run": run.pk,
        "url": reverse(route, args=[run.pk]),
        "admin_url": reverse("admin:ratings_portfoliorun_change", args=[run.pk]),
    }


@job_kind("forecast", label="forecast", view_permission=RUN_VIEW, start_permission=RUN_START, lane="planning")
def forecast(job: Job, context: JobContext) -> dict:
    """A year-end forecast, or a what-if scenario when the parameters hold assumptions."""
    parameters = job.parameters
    common = {
        "contract": job.contract,
        "measurement_year": parameters["measurement_year"],
        "user": job.created_by,
        "draws": parameters["draws"],
        "seed": parameters["seed"],
        # Jobs queued before runs chose their cut points take the default.
        "cut_points": parameters.get("cut_points", "projected"),
        "progress": context.progress,
    }
    if parameters.get("assumptions"):
        assumptions = {
            cms_id: {
                key: Decimal(value) if key in DECIMAL_ASSUMPTIONS else value for key, value in assumed.items()
            }
            for cms_id, assumed in parameters["assumptions"].items()
        }
        run = planning.what_if_run_create(name=parameters["name"], assumptions=assumptions, **common)
    else:
        run = planning.forecast_run_create(name=parameters.get("name", ""), **common)
    return _run_links(run)


@job_kind(
    "optimize",
    label="optimizer run",
    view_permission=RUN_VIEW,
    start_permission=RUN_START,
    lane="planning",
    time_limit=3600.0,
)
def optimize(job: Job, context: JobContext) -> dict:
    """An optimizer run: the plan within the budget, stored with the worklist re-scored from it.

    HiGHS gets the run's own time limit or the job's time left, whichever is shorter.
    """
    parameters = job.parameters
    run = planning.optimizer_run_create(
        contract=job.contract,
        measurement_year=parameters["measurement_year"],
        user=job.created_by,
        budget=Decimal(parameters["budget"]),
        objective=parameters["objective"],
        draws=parameters["draws"],
        seed=parameters["seed"],
        time_limit=min(parameters["time_limit"], context.seconds_left()),
        name=parameters.get("name", ""),
        cut_points=parameters.get("cut_points", "projected"),
        # Jobs queued before runs recorded their types take the active types as stored.
        intervention_types=parameters.get("intervention_types"),
        progress=context.progress,
    )
    return _run_links(run)


@job_kind(
    "propose",
    label="proposal of a plan's interventions",
    view_permission=RUN_VIEW,
    start_permission=RUN_START,
    lane="planning",
)
def propose(job: Job, context: JobContext) -> dict:
    """Turn an optimizer run's plan into proposed interventions."""
    run = PortfolioRun.objects.get(pk=job.parameters["portfolio_run"], contract=job.contract)
    context.progress(0.1, "proposing the plan's interventions")
    proposed = planning.optimizer_run_propose(run=run, user=job.created_by)
    return {**_run_links(run), "proposed": proposed}


@job_kind(
    "snapshot",
    label="portfolio snapshot",
    view_permission=SNAPSHOT_VIEW,
    start_permission=SNAPSHOT_START,
    lane="snapshot",
)
def snapshot(job: Job, context: JobContext) -> dict:
    """A snapshot of the contract's live rating for a measurement year."""
    context.progress(0.1, "rating the contract")
    taken = portfolio_snapshot_create(
        contract=job.contract, measurement_year=job.parameters["measurement_year"], taken_by=job.created_by
    )
    return {
        "snapshot": taken.pk,
        "url": reverse("api:portfoliosnapshot-detail", args=[taken.pk]),
        "admin_url": reverse("admin:ratings_portfoliosnapshot_change", args=[taken.pk]),
    }


@job_kind(
    "snapshot_all",
    label="portfolio snapshots of every contract",
    view_permission=SNAPSHOT_VIEW,
    start_permission=SNAPSHOT_START,
)
def snapshot_all(job: Job, context: JobContext) -> dict:
    """A snapshot of each contract the job's user may see, all or none (one transaction)."""
    contracts = list(contracts_for(job.created_by).order_by("contract_id"))
    taken = []
    with transaction.atomic():
        for index, contract in enumerate(contracts):
            context.progress(
                index / max(len(contracts), 1), f"rating {contract} ({index + 1} of {len(contracts)})"
            )
            taken.append(
                portfolio_snapshot_create(
                    contract=contract,
                    measurement_year=job.parameters["measurement_year"],
                    taken_by=job.created_by,
                ).pk
            )
    year = urlencode({"measurement_year": job.parameters["measurement_year"]})
    return {
        "snapshots": taken,
        "url": f"{reverse('api:portfoliosnapshot-list')}?{year}",
        "admin_url": f"{reverse('admin:ratings_portfoliosnapshot_changelist')}?{year}",
    }


@job_kind(
    "cms_import",
    label="CMS data table import",
    view_permission="ratings.view_cmsdataimport",
    start_permission="ratings.add_cmsdataimport",
    retry_once=True,
)
def cms_import(job: Job, context: JobContext) -> dict:
    """Replace a star year's national benchmark with the job's uploaded CMS data tables.

    The importer reads files from disk, so the tables are written to a temporary folder under
    their own names (which its messages and error rows quote), each in a folder of its own: two
    uploads with one name are both read (and refused if they hold the same table). The folders
    keep the files in name order, the order the importer reads (and the command's). All or
    nothing (the importer's one transaction), so a job whose worker died is run once more.
    """
    parameters = job.parameters
    with tempfile.TemporaryDirectory(prefix="cms-import-") as folder:
        paths = []
        for index, upload in enumerate(sorted(job.files.all(), key=lambda file: (file.name, file.pk))):
            path = Path(folder) / f"{index:04d}" / upload.name
            path.parent.mkdir()
            path.write_bytes(upload.read())
            paths.append(path)
        context.progress(0.0, f"reading {len(paths)} files")
        # One transaction around the import and the read of its record: a read inside a
        # transaction stays on the primary (`hedis_portal.routers`), where the record is.
        with transaction.atomic():
            result = cms_star_data_import(
                star_year=parameters["star_year"],
                paths=paths,
                imported_by=job.created_by,
                source=parameters["source"],
                progress=_said_as_progress(context, files=len(paths)),
            )
            stored = CmsDataImport.objects.get(star_year=result.star_year)
    return {
        "cms_data_import": stored.pk,
        "star_year": result.star_year,
        "contracts": result.contracts,
        "cut_points": result.cut_points,
        "measure_values": result.measure_values,
        "contract_types": result.contract_types,
        "files": result.files,
        "skipped": result.skipped,
        "url": reverse("api:cmsdataimport-detail", args=[stored.pk]),
        "admin_url": reverse("admin:ratings_cmsdataimport_change", args=[stored.pk]),
    }


@job_kind(
    "cut_point_projection",
    label="cut point projection",
    view_permission="ratings.view_cutpointprojection",
    start_permission="ratings.add_cutpointprojection",
    retry_once=True,
)
def cut_point_projection(job: Job, context: JobContext) -> dict:
    """Project a star year's cut points and keep them for the runs working toward that year (one
    transaction: the earlier projection stays until the new one is stored, so a retry is safe)."""
    parameters = job.parameters
    try:
        stored = cut_point_projection_create(
            target_star_year=parameters["target_star_year"],
            draws=parameters["draws"],
            seed=parameters["seed"],
            user=job.created_by,
            progress=context.progress,
        )
    except NoBaseYear as exc:
        raise ApplicationError(str(exc)) from None
    return {
        "cut_point_projection": stored.pk,
        "target_star_year": stored.target_star_year,
        "base_star_year": stored.base_star_year,
        "url": reverse("api:cutpointprojection-detail", args=[stored.pk]),
        "admin_url": reverse("admin:ratings_cutpointprojection_change", args=[stored.pk]),
    }


def cut_point_projection_start(
    *,
    user,
    target_star_year: int,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    idempotency_key: str = "",
) -> Job:
    """Start a `cut_point_projection` job (the console's and the API's start)."""
    job, _ = job_start(
        kind="cut_point_projection",
        user=user,
        parameters={"target_star_year": target_star_year, "draws": draws, "seed": seed},
        idempotency_key=idempotency_key,
    )
    return job


def _said_as_progress(context: JobContext, *, files: int) -> Callable[[str], None]:
    """The importer's `say(message)` as the job's progress: each message is the stage, and each
    moves the fraction one step on.

    The importer says a line per file read, then one per write (the year's old benchmark, the
    contracts, the cut points, each 10,000 measure values, their total): about `files + 5`
    lines, so a step is one `files + 6`th, and a large year's extra lines stop short of done.
    """
    said = 0
    step = 1 / (files + 6)

    def say(message: str) -> None:
        nonlocal said
        said += 1
        context.progress(min(said * step, 1 - step), message)

    return say


def cms_import_start(
    *,
    user,
    star_year: int,
    uploads: Sequence[UploadedFile],
    source: str,
    idempotency_key: str = "",
) -> tuple[Job, bool]:
    """Keep uploaded CMS data tables with a new `cms_import` job, which imports them; `(job, created)`.

    Only the upload is checked here (the tables themselves by the job, whose refusal lists the
    problem's file, line and column): each file a `.csv` with a plain name (`ValidationError` on
    "files"), and all of them together no larger than `CMS_IMPORT_MAX_BYTES` (413). Their names
    are CMS's public file names, so they are kept, shown in the job's parameters with each
    file's SHA-256: the same idempotency key with other files is a conflict, not the first job.
    """
    limit = JobFile._meta.get_field("name").max_length
    problems = []
    for upload in uploads:
        if len(upload.name) > limit or not upload.name.isprintable():
            problems.append(f"A file name must be printable and at most {limit} characters.")
        elif not upload.name.lower().endswith(".csv"):
            problems.append(f"{upload.name} is not a CSV file (its name must end in .csv).")
    if problems:
        raise ValidationError({"files": problems})
    total = sum(upload.size for upload in uploads)
    if total > settings.CMS_IMPORT_MAX_BYTES:
        raise PayloadTooLarge(
            f"The files are larger than {settings.CMS_IMPORT_MAX_BYTES} bytes together.",
            {"max_bytes": settings.CMS_IMPORT_MAX_BYTES},
        )
    files = []
    for upload in uploads:
        content = b"".join(upload.chunks())
        files.append(
            JobFile.holding(
                content,
                name=upload.name,
                sha256=hashlib.sha256(content).hexdigest(),
                size_bytes=len(content),
            )
        )
    return job_start(
        kind="cms_import",
        user=user,
        parameters={
            "star_year": star_year,
            "source": source,
            "files": [
                {"name": file.name, "sha256": file.sha256, "size_bytes": file.size_bytes} for file in files
            ],
        },
        idempotency_key=idempotency_key,
        files=files,
    )


def forecast_start(
    *,
    user,
    contract,
    measurement_year: int,
    draws: int,
    seed: int,
    name: str = "",
    assumptions: dict | None = None,
    cut_points: str = "projected",
    idempotency_key: str = "",
) -> Job:
    """Start a `forecast` job (a what-if scenario with `assumptions`, which needs a `name`; a plain
    forecast's name is optional); the API's, the admin's and the console's start. Assumptions'
    decimals are kept as their text, read back exactly by the job."""
    parameters = {
        "measurement_year": measurement_year,
        "draws": draws,
        "seed": seed,
        "cut_points": cut_points,
    }
    if name:
        parameters["name"] = name
    if assumptions:
        parameters |= {
            "assumptions": {
                cms_id: {
                    key: str(value) if isinstance(value, Decimal) else value for key, value in assumed.items()
                }
                for cms_id, assumed in assumptions.items()
            },
        }
    job, _ = job_start(
        kind="forecast", user=user, contract=contract, parameters=parameters, idempotency_key=idempotency_key
    )
    return job


def optimize_start(
    *,
    user,
    contract,
    measurement_year: int,
    budget: Decimal,
    objective: str,
    draws: int,
    seed: int,
    time_limit: float,
    name: str = "",
    intervention_types: list[dict] | None = None,
    cut_points: str = "projected",
    idempotency_key: str = "",
) -> Job:
    """Start an `optimize` job (the API's and the admin's start); the budget is kept as its text.

    `name` names the run; `intervention_types` are the types it may use with the run's own costs,
    capacities and uplifts (`planning.run_intervention_types`; None: the active types as stored).
    They are checked here (a problem is an `ApplicationError` in words, before any job exists) and
    the job's parameters hold the figures the run will use, money as text.
    """
    types = planning.run_intervention_types(
        measurement_year=measurement_year, intervention_types=intervention_types
    )
    job, _ = job_start(
        kind="optimize",
        user=user,
        contract=contract,
        parameters={
            "measurement_year": measurement_year,
            "budget": str(budget),
            "objective": objective,
            "draws": draws,
            "seed": seed,
            "time_limit": time_limit,
            "name": name.strip(),
            "cut_points": cut_points,
            "intervention_types": types,
        },
        idempotency_key=idempotency_key,
    )
    return job

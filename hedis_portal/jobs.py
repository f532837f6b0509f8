"""Background jobs: long work run by a task worker, with progress, cancellation and a lease.

Each app registers the kinds of long work it offers in its `jobs` module (`job_kind`, from
`hedis_portal.job_registry`), found at
start-up the way the admin finds `admin` modules. `job_start` records a `Job` and, once the
transaction commits, enqueues `run_job` through Django's Tasks API (the `django-tasks`
backport): the database backend and its `db_worker` by default, Redis-backed workers at scale
(`docs/scaling.md`). The worker runs the kind's function with a `JobContext`:

- `context.progress(fraction, stage)` records how far the work has got. A heartbeat thread, on
  its own database connection (outside the job's transactions), writes progress and the
  heartbeat at most once per `JOB_HEARTBEAT_SECONDS` and reads whether a cancel was requested.
- A cancel request or the kind's time limit stops the work at its next progress point with
  `JobStopped`; work stuck past its time limit is interrupted by the heartbeat thread. A kind's
  writes are atomic (each service owns its transaction), so a failed or stopped job leaves
  nothing half-written.
- A worker killed mid-job stops its heartbeat: `jobs_reap_stale` then fails the job with the
  reason, or queues it once more when its kind is idempotent (an import).
- `lane`: at most one queued or running job per contract and lane (a database constraint), so
  two heavy runs on one contract cannot overlap; an idempotency key returns the first job.
- `files`: what a job reads that came with its request (an upload, as `JobFile`s) is kept in
  the database, so a worker on any machine reads it, and deleted once the job has ended, failed
  or been cancelled (kept when a dead worker's job is queued again).
"""

import ctypes
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_tasks import task

from hedis_portal.audit import job_actor
from hedis_portal.backends import visible_contract_ids
from hedis_portal.errors import ApplicationError, ConflictError, database_trouble
from hedis_portal.job_registry import JobKind, job_kinds
from hedis_portal.models import Job, JobFile

logger = logging.getLogger(__name__)

Status = Job.Status
TIME_LIMIT_PASSED = "The job ran past its time limit and was stopped."


class JobStopped(Exception):
    """Raised inside the work at a progress point: a cancel was requested, or time ran out."""

    def __init__(self, status: str = Status.FAILED, message: str = TIME_LIMIT_PASSED):
        # Without arguments (as the heartbeat thread raises it into overrun work): time ran out.
        super().__init__(message)
        self.status = status
        self.message = message


def discover_job_kinds() -> None:
    """Import each installed app's `jobs` module, where it registers its kinds."""
    autodiscover_modules("jobs")


# --- starting, reading, cancelling -----------------------------------------------------------


def jobs_visible_to(user):
    """Jobs of the kinds `user`'s role may see: on their contracts, or their own contract-less ones."""
    if not user.is_authenticated:
        return Job.objects.none()
    kinds = [kind.name for kind in job_kinds().values() if user.has_perm(kind.view_permission)]
    jobs = Job.objects.filter(kind__in=kinds).select_related("contract", "created_by")
    if user.is_superuser:
        return jobs
    return jobs.filter(
        Q(contract_id__in=visible_contract_ids(user)) | Q(contract__isnull=True, created_by=user)
    )


def job_start(
    *,
    kind: str,
    user: AbstractBaseUser,
    contract=None,
    parameters: dict,
    idempotency_key: str = "",
    files: Sequence[JobFile] = (),
) -> tuple[Job, bool]:
    """Record a job (with the unsaved `files` it works on) and enqueue it when the transaction
    commits; `(job, created)`.

    The same `idempotency_key` from the same user returns the first job (`created` False); a
    queued or running job in the kind's lane for the contract refuses the new one with 409.
    """
    spec = job_kinds()[kind]
    if idempotency_key:
        existing = Job.objects.filter(created_by=user, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _same_request(existing, spec, contract, parameters), False
    if spec.lane and contract is not None:
        _refuse_if_busy(spec, contract)
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=kind,
                contract=contract,
                lane=spec.lane if contract is not None else "",
                parameters=parameters,
                idempotency_key=idempotency_key,
                created_by=user,
                stage="queued",
            )
            for file in files:
                file.job = job
            JobFile.objects.bulk_create(files)
    except IntegrityError:
        # Another request won the race for the lane or the key; answer as if it had come first.
        if idempotency_key:
            existing = Job.objects.filter(created_by=user, idempotency_key=idempotency_key).first()
            if existing is not None:
                return _same_request(existing, spec, contract, parameters), False
        _refuse_if_busy(spec, contract)
        raise
    transaction.on_commit(lambda: _enqueue(str(job.pk)))
    return job, True


def _same_request(existing: Job, spec: JobKind, contract, parameters: dict) -> Job:
    same = (
        existing.kind == spec.name
        and existing.contract_id == getattr(contract, "pk", None)
        and existing.parameters == parameters
    )
    if not same:
        raise ConflictError(
            "This idempotency key was already used for a different request.", {"job": str(existing.pk)}
        )
    return existing


def _refuse_if_busy(spec: JobKind, contract) -> None:
    jobs_reap_stale()
    busy = Job.objects.filter(contract=contract, lane=spec.lane, status__in=Job.ACTIVE).first()
    if busy is not None:
        raise ConflictError(
            f"{contract} already has a job in progress ({job_kinds()[busy.kind].label}, {busy.status}); "
            "wait for it to finish or cancel it.",
            {"job": str(busy.pk)},
        )


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued job at once, or ask a running one to stop at its next progress point."""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=now, stage="cancelled before it started"
    ):
        changes = {"status": [Status.QUEUED, Status.CANCELLED]}
        _discard_files(job.pk)
    elif Job.objects.filter(pk=job.pk, status=Status.RUNNING).update(cancel_requested=True):
        changes = {"cancel_requested": [False, True]}
    else:
        job.refresh_from_db()
        raise ConflictError(f"The job has already finished ({job.status}).", {"status": job.status})
    job.refresh_from_db()
    LogEntry.objects.log_create(job, force_log=True, action=LogEntry.Action.UPDATE, changes=changes)
    return job


def jobs_reap_stale() -> int:
    """Jobs whose worker stopped (no heartbeat within `JOB_LEASE_SECONDS`): fail them, or queue an
    idempotent kind's job once more. Returns how many were reaped."""
    lease = settings.JOB_LEASE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=lease)
    reaped = 0
    for job in Job.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).only(
        "pk", "kind", "attempts"
    ):
        spec = job_kinds().get(job.kind)
        stale = Job.objects.filter(pk=job.pk, status=Status.RUNNING, heartbeat_at__lt=cutoff)
        if spec is not None and spec.retry_once and job.attempts < 2:
            if stale.update(status=Status.QUEUED, stage="queued again: its worker stopped", progress=0.0):
                transaction.on_commit(lambda pk=str(job.pk): _enqueue(pk))
                reaped += 1
        elif stale.update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            stage="failed: its worker stopped",
            error=_error(f"The worker running this job stopped (no heartbeat for {lease} s)."),
        ):
            _discard_files(job.pk)
            reaped += 1
    return reaped


def _enqueue(job_id: str) -> None:
    """Hand the job to the task backend; if it cannot take it (Redis down), fail the job at once,
    so it neither waits for a task that will never come nor holds its contract's lane."""
    try:
        run_job.enqueue(job_id)
    except Exception:
        logger.exception("Job %s could not be queued", job_id)
        Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            stage="failed: not queued",
            error=_error("The job could not be queued (the task queue is unreachable); start it again."),
        )
        _discard_files(job_id)


def _discard_files(job_id) -> None:
    """Delete a finished job's files: an upload is kept only while its job may still read it."""
    JobFile.objects.filter(job_id=job_id).delete()


def _error(message: str, extra: dict | None = None) -> dict:
    """A job's error in the API's error shape."""
    return {"message": message, "extra": extra or {}}


# --- running ---------------------------------------------------------------------------------


@dataclass
class JobContext:
    """What the work sees of its job: report progress, learn whether to stop, how much time is left."""

    job_id: uuid.UUID
    deadline: float
    fraction: float = 0.0
    stage: str = "started"
    stop: JobStopped | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, fraction: float, stage: str) -> None:
        """Record progress (a fraction 0–1 and a stage in words); stop here if asked to."""
        with self._lock:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
            self.stage = stage[:200]
        self.check()

    def check(self) -> None:
        """Raise `JobStopped` if a cancel was requested or the time limit has passed."""
        if self.stop is None and time.monotonic() > self.deadline:
            self.stop = JobStopped(Status.FAILED, TIME_LIMIT_PASSED)
        if self.stop is not None:
            raise self.stop

    def stages(self, stages: dict[str, tuple[float, float, str]]) -> Callable[[str, int, int | None], None]:
        """An importer's `progress(stage, done, total)` callback that reports to this job.

        `stages` gives each stage the fractions it spans and its words, formatted with `done`
        and `total` (e.g. "validated {done:,} of {total:,} rows").
        """

        def report(stage: str, done: int, total: int | None) -> None:
            start, end, words = stages[stage]
            share = min(done / total, 1.0) if total else 0.0
            self.progress(start + (end - start) * share, words.format(done=done, total=total))

        return report

    def seconds_left(self) -> float:
        """Time left before the limit (for solvers that take a time limit of their own)."""
        return max(self.deadline - time.monotonic(), 0.0)


class _Heartbeat(threading.Thread):
    """Writes the job's heartbeat and progress, reads its cancel request; interrupts overrun work."""

    def __init__(self, context: JobContext, worker: int):
        super().__init__(name=f"job-heartbeat-{context.job_id}", daemon=True)
        self.context = context
        self.worker = worker
        self.done = threading.Event()

    def run(self) -> None:
        interval = settings.JOB_HEARTBEAT_SECONDS
        interrupted = False
        try:
            while not self.done.wait(interval):
                self._beat()
                overdue = time.monotonic() - self.context.deadline
                if not interrupted and overdue > settings.JOB_OVERRUN_GRACE_SECONDS:
                    # The work has not reached a progress point since its time ran out.
                    interrupted = True
                    self.context.stop = JobStopped(Status.FAILED, TIME_LIMIT_PASSED)
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(self.worker), ctypes.py_object(JobStopped)
                    )
        finally:
            connection.close()

    def _beat(self) -> None:
        with self.context._lock:
            fraction, stage = self.context.fraction, self.context.stage
        try:
            Job.objects.filter(pk=self.context.job_id, status=Status.RUNNING).update(
                heartbeat_at=timezone.now(), progress=fraction, stage=stage
            )
            cancel = Job.objects.filter(pk=self.context.job_id, cancel_requested=True).exists()
        except Exception:  # a busy SQLite file or a dropped connection: try again next beat
            logger.warning("Job %s: heartbeat not written", self.context.job_id, exc_info=True)
            return
        if cancel and self.context.stop is None:
            self.context.stop = JobStopped(Status.CANCELLED, "Cancelled on request.")


@task()
def run_job(job_id: str) -> None:
    """The task every worker runs: claim the job, run its kind, record how it ended."""
    jobs_reap_stale()
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, stage="started"
    )
    if not claimed:
        return  # cancelled before it started, or another worker has it
    job = Job.objects.select_related("contract", "created_by").get(pk=job_id)
    spec = job_kinds()[job.kind]
    context = JobContext(job_id=job.pk, deadline=time.monotonic() + spec.seconds_allowed())
    heartbeat = _Heartbeat(context, threading.get_ident())
    heartbeat.start()
    outcome = {"status": Status.SUCCEEDED, "result": {}, "error": {}, "stage": "done", "progress": 1.0}
    try:
        with job_actor(user=job.created_by, job_id=str(job.pk)):
            outcome["result"] = spec.run(job, context) or {}
    except JobStopped as stopped:
        reason = context.stop or stopped
        outcome.update(status=reason.status, stage=reason.message, progress=context.fraction)
        if reason.status == Status.FAILED:
            outcome["error"] = _error(reason.message)
    except ApplicationError as refused:
        outcome.update(
            status=Status.FAILED,
            stage="failed",
            progress=context.fraction,
            error=_error(refused.message, refused.extra),
        )
    except Exception as failed:
        message = database_trouble(failed)
        if message is None:
            logger.exception("Job %s (%s) failed", job.pk, job.kind)
            message = "The job failed unexpectedly; the server log has the details."
        else:
            logger.warning("Job %s (%s) stopped by the database: %s", job.pk, job.kind, type(failed).__name__)
        outcome.update(status=Status.FAILED, stage="failed", progress=context.fraction, error=_error(message))
    finally:
        heartbeat.done.set()
        heartbeat.join()
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now(), heartbeat_at=timezone.now(), **outcome)
    _discard_files(job.pk)

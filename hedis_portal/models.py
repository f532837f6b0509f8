"""Cross-cutting models: the API request log and background jobs."""

import uuid
import zlib

from django.conf import settings
from django.db import models

from hedis_portal.job_registry import job_label


class ApiRequestLog(models.Model):
    """One API request: method, resolved route, user, status, duration, error class, request ID.

    Never the body, the query string or the raw path: those can carry member identifiers.
    """

    started_at = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    route = models.CharField(max_length=200, help_text="URL pattern, e.g. api/members/<pk>/")
    # No FK constraint: the log outlives users and must never block deleting one.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    status = models.PositiveSmallIntegerField()
    duration_ms = models.FloatField()
    error_class = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(
                fields=["-started_at"],
                condition=models.Q(status__gte=400),
                name="apilog_errors_recent",
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.route} → {self.status}"


class Job(models.Model):
    """Long work run by a task worker: what it is, for whom, how far it has got, and how it ended.

    The kinds and what each runs are registered by the apps (`hedis_portal.jobs`). Parameters,
    stage and errors never hold a raw member ID or a file name; results link to what the job made.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    contract = models.ForeignKey(
        settings.CONTRACT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # Jobs that may not run side by side on one contract share a lane (e.g. "planning").
    lane = models.CharField(max_length=20, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    error = models.JSONField(default=dict, blank=True, help_text="The API's error shape: message and extra.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["contract", "-created_at"], name="job_contract_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "lane"],
                condition=models.Q(status__in=["queued", "running"]) & ~models.Q(lane=""),
                name="job_one_active_per_contract_lane",
                violation_error_message="A job of this kind is already queued or running for the contract.",
            ),
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_idempotency_key_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=1),
                name="job_progress_fraction",
                violation_error_message="Progress is a fraction between 0 and 1.",
            ),
        ]

    def __str__(self) -> str:
        label = job_label(self.kind)
        where = f" for {self.contract}" if self.contract_id else ""
        return f"{label[:1].upper()}{label[1:]}{where}, {self.get_status_display().lower()}"


class JobFile(models.Model):
    """A file a job works on (an upload), held only while the job is queued or running.

    Kept in the database, not on a local disk, so a worker on any machine can read it. An
    import's edge stores its file with every member ID already replaced by its keyed hash
    (raw IDs are never stored); the content is zlib-compressed. The name is kept only where it
    identifies nothing but a public table (CMS data tables); uploads of member data have none.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200, blank=True)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64, help_text="Of the file as it was uploaded.")
    size_bytes = models.PositiveBigIntegerField(help_text="Of the file as it was uploaded.")
    rows = models.PositiveIntegerField(default=0, help_text="Data rows, when the edge counted them.")

    class Meta:
        ordering = ["job", "pk"]

    def __str__(self) -> str:
        return f"file of {self.job}"

    @classmethod
    def holding(cls, content: bytes, **fields) -> "JobFile":
        """An unsaved file holding `content` (compressed: fast rather than small)."""
        return cls(content=zlib.compress(content, 1), **fields)

    def read(self) -> bytes:
        """The content as it was given to `holding`."""
        return zlib.decompress(self.content)

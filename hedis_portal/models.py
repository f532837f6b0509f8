"""Cross-cutting models: the API request log."""

from django.conf import settings
from django.db import models


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

"""Liveness and readiness probes."""

from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def live(request):
    """The process answers; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request):
    """The process can serve: every configured database answers a trivial query."""
    for alias in connections:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            return JsonResponse(
                {"status": "unavailable", "reason": f"database '{alias}': {type(exc).__name__}"},
                status=503,
            )
    return JsonResponse({"status": "ok"})

"""Liveness and readiness probes."""

import threading

from django.conf import settings
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
    """The process can serve: every configured database answers a trivial query, within
    `HEALTH_READY_SECONDS`.

    The query runs in a thread of its own, on connections of its own (new ones, so
    `DB_CONNECT_TIMEOUT` bounds them too), which it closes as it ends: a database that accepts
    connections but never answers (a frozen server, which neither libpq's timeouts nor the
    server's own can end) makes the probe a 503 on time instead of a request that hangs.
    """
    outcome: dict[str, str] = {}
    check = threading.Thread(target=_check_databases, args=(outcome,), name="health-ready", daemon=True)
    check.start()
    check.join(settings.HEALTH_READY_SECONDS)
    if check.is_alive():
        reason = f"no answer from the database within {settings.HEALTH_READY_SECONDS:g} s"
        return JsonResponse({"status": "unavailable", "reason": reason}, status=503)
    if "reason" in outcome:
        return JsonResponse({"status": "unavailable", "reason": outcome["reason"]}, status=503)
    return JsonResponse({"status": "ok"})


def _check_databases(outcome: dict[str, str]) -> None:
    """`SELECT 1` on every database; the first failure's class goes in `outcome["reason"]`."""
    try:
        for alias in connections:
            try:
                with connections[alias].cursor() as cursor:
                    cursor.execute("SELECT 1")
            except DatabaseError as exc:
                outcome["reason"] = f"database '{alias}': {type(exc).__name__}"
                return
    finally:
        connections.close_all()

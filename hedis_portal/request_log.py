"""Buffered writer for the API request log.

Writing one row per request would add a database round trip to every API call. Entries
are buffered per process and written with one multi-row INSERT when the buffer is full or
old; server errors are written at once (except 503s: the database they could not reach would only
hold up the answer again), and the buffer is flushed when the process exits.
"""

import atexit
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_buffer: list = []
_oldest_at: float | None = None
# While the database is down the buffer is capped so an outage cannot exhaust memory.
_MAX_BUFFERED = 10_000


def record(entry) -> None:
    """Queue one `ApiRequestLog` (unsaved) and flush when due."""
    global _oldest_at
    with _lock:
        if len(_buffer) >= _MAX_BUFFERED:
            _buffer.pop(0)
        _buffer.append(entry)
        _oldest_at = _oldest_at or time.monotonic()
        due = (
            (entry.status >= 500 and entry.status != 503)
            or len(_buffer) >= settings.API_LOG_FLUSH_SIZE
            or time.monotonic() - _oldest_at >= settings.API_LOG_FLUSH_SECONDS
        )
    if due:
        flush()


def flush() -> int:
    """Write every buffered entry in one INSERT; keep them if the database is unavailable."""
    global _oldest_at
    from hedis_portal.models import ApiRequestLog

    with _lock:
        pending = list(_buffer)
        _buffer.clear()
        _oldest_at = None
    if not pending:
        return 0
    try:
        ApiRequestLog.objects.bulk_create(pending)
    except DatabaseError as exc:
        logger.warning("API request log not written (%s); kept %d entries", type(exc).__name__, len(pending))
        with _lock:
            _buffer[:0] = pending[-_MAX_BUFFERED:]
            _oldest_at = _oldest_at or time.monotonic()
        return 0
    return len(pending)


def pending_count() -> int:
    """Entries waiting to be written (for tests and the shutdown hook)."""
    with _lock:
        return len(_buffer)


atexit.register(flush)

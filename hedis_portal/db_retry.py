"""Run a write again when PostgreSQL ended it in favour of a concurrent one.

Of two transactions that wait for each other's locks PostgreSQL ends one (deadlock_detected);
above READ COMMITTED it also ends one whose snapshot a concurrent commit made stale
(serialization_failure). Nothing of it was written, and the same work run again normally
succeeds. `atomic_with_retry` runs a service in its own transaction and, after such an end, runs
it again, `ATTEMPTS` times in all; then it gives up with `DatabaseBusy` (409 with Retry-After:
"send it again"), never the 503 that means the database is unreachable. Locks taken in one
order (gaps by id, say) keep these rare; this is for what remains.

Called inside a transaction (a file import writing batch after batch), it runs in a savepoint:
rolling back to it releases the locks taken since, which breaks a cycle among them, and the rest
of the caller's transaction stands. A cycle through locks the caller took before cannot be
broken there: it ends in `DatabaseBusy`, and the caller's whole transaction rolls back.

The service must be safe to run again: every effect in the database or deferred with `on_commit`
(which a rollback discards).
"""

import functools
import itertools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction

from hedis_portal.errors import DatabaseBusy, lost_lock_race

logger = logging.getLogger(__name__)

Params = ParamSpec("Params")
Result = TypeVar("Result")

ATTEMPTS = 3
# Before attempt n + 1, a random pause of up to BACKOFF_SECONDS × 2ⁿ: random, so that the
# transactions that met once do not meet again.
BACKOFF_SECONDS = 0.05


def atomic_with_retry(service: Callable[Params, Result]) -> Callable[Params, Result]:
    """`transaction.atomic` for `service`, run again after a deadlock or serialization failure."""

    @functools.wraps(service)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        for attempt in itertools.count(1):
            try:
                with transaction.atomic():
                    return service(*args, **kwargs)
            except OperationalError as exc:
                if not lost_lock_race(exc):
                    raise
                # The SQLSTATE, not the message: it names rows and processes, which help no one here.
                logger.warning(
                    "%s: ended by the database in favour of a concurrent transaction "
                    "(SQLSTATE %s), attempt %d of %d",
                    service.__qualname__,
                    exc.__cause__.sqlstate,
                    attempt,
                    ATTEMPTS,
                )
                if attempt == ATTEMPTS:
                    raise DatabaseBusy() from exc
                time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))

    return run

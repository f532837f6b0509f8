"""`manage.py db_worker`: django-tasks-db's job worker, living through database outages.

django-tasks-db's worker ends on the first database error it meets outside a task (a restart of
PostgreSQL, a network cut, a frozen server answered by `DB_WAIT_TIMEOUT`), and with it every job
queued after. This one says so in its log, waits `RETRY_SECONDS` and starts polling again, with
the same worker ID and options, until it is asked to stop. A job that was running when the
database went away is failed by its lease (`hedis_portal.jobs.jobs_reap_stale`), or queued once
more if its kind allows.
"""

import logging
import time

from django.db import InterfaceError, OperationalError, connections
from django_tasks_db.management.commands import db_worker

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


class Command(db_worker.Command):
    help = f"{db_worker.Command.help} Lives through database outages, trying again every {RETRY_SECONDS:g} s."

    def handle(self, **options):
        while True:
            try:
                return super().handle(**options)
            except (OperationalError, InterfaceError) as exc:
                logger.warning(
                    "Job worker: the database is unavailable (%s); trying again in %g s",
                    type(exc).__name__,
                    RETRY_SECONDS,
                )
                connections.close_all()
                time.sleep(RETRY_SECONDS)

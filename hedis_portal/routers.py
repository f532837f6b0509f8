"""Database routing: analytics reads go to a read replica when one is configured; writes never do.

With `DATABASE_REPLICA_URL` set, settings define a `replica` alias (a streaming replica of the
primary) and this router sends two kinds of reads to it:

- by model: the national benchmark and the analytics records — CMS data imports, CMS contracts
  and their measure values, star-year measure editions, cut points, portfolio snapshots and
  optimizer runs. They are written rarely, by imports and jobs, and read by rating, benchmark,
  trend and rank pages; a replica a few hundred milliseconds behind shows the same thing.
- by explicit hint: every read inside `with analytics_reads():`, whatever its model. The live
  rating's gap aggregate reads `CareGap`, which the worklist reads too and which must stay
  fresh there, so it cannot be routed by model; its callers wrap it instead.

Never routed to the replica: writes; and reads made inside a transaction on the primary (a
service that reads then writes, such as taking a snapshot, must read its own transaction's
data). Without a `replica` alias the router routes nothing and everything uses `default`.
Migrations run on the primary only; the replica receives them by replication.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
# (app label, model name) of the models whose reads go to the replica.
ANALYTICS_MODELS = frozenset(
    {
        ("ratings", "cmsdataimport"),
        ("ratings", "cmscontract"),
        ("ratings", "cmsmeasurevalue"),
        ("ratings", "staryearmeasure"),
        ("ratings", "cutpoint"),
        ("ratings", "portfoliosnapshot"),
        ("ratings", "portfoliorun"),
    }
)

_analytics_reads: ContextVar[bool] = ContextVar("analytics_reads", default=False)


@contextmanager
def analytics_reads() -> Iterator[None]:
    """Send every read made inside the block to the replica (when there is one)."""
    token = _analytics_reads.set(True)
    try:
        yield
    finally:
        _analytics_reads.reset(token)


def _replica_configured() -> bool:
    return REPLICA in connections.settings


class AnalyticsReplicaRouter:
    """Routes analytics reads to `replica` (see the module docstring); everything else to `default`."""

    def db_for_read(self, model, **hints):
        """`replica` for analytics reads outside a write transaction on the primary, else no opinion."""
        if not _replica_configured() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        key = (model._meta.app_label, model._meta.model_name)
        if _analytics_reads.get() or key in ANALYTICS_MODELS:
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        """Every write goes to the primary."""
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        """Rows read from the replica are the primary's rows: relations between the two are fine."""
        both = {obj1._state.db, obj2._state.db}
        if both <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        """Migrate the primary only; the replica gets the schema by replication."""
        if db == REPLICA:
            return False
        return None

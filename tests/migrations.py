"""Migration tests: the database taken back to a migration, rows written with that state's models,
then migrated forward to the latest (run in `django_db(transaction=True)` tests)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@contextmanager
def migrated_back_to(targets: list[tuple[str, str]]) -> Iterator[Apps]:
    """Unapply every migration after `targets` and give the models as they were there; on leaving,
    apply every migration again, also when the block failed (later tests need the latest schema)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    try:
        yield executor.loader.project_state(targets).apps
    finally:
        # A fresh executor: the one that went back holds a stale graph.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

"""Migration tests: the database taken back to a migration, rows written with that state's models,
then migrated forward to the latest (run in `django_db(transaction=True)` tests)."""

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_back_to(targets: list[tuple[str, str]]) -> Apps:
    """Unapply every migration after `targets`; the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest() -> None:
    """Apply every migration (a fresh executor: the one that went back holds a stale graph)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

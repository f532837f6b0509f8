"""App config for cross-cutting code: API request log, roles, audit helpers."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HedisPortalConfig(AppConfig):
    """Registers the role synchronisation that runs after every `migrate`."""

    name = "hedis_portal"
    verbose_name = "Portal operations"

    def ready(self) -> None:
        from hedis_portal import roles, schema  # noqa: F401  (schema registers extensions)

        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="hedis_portal.roles")

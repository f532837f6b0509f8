"""App config for cross-cutting code: API request log, roles, audit helpers, background jobs."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HedisPortalConfig(AppConfig):
    """Registers the role synchronisation that runs after every `migrate`, and the login and user audit."""

    name = "hedis_portal"
    verbose_name = "Portal operations"

    def ready(self) -> None:
        # schema registers extensions; login_security and users connect their signal receivers
        # and register the user and group models with auditlog.
        from hedis_portal import login_security, roles, schema, users  # noqa: F401
        from hedis_portal.jobs import discover_job_kinds
        from hedis_portal.json_types import install as check_json_types

        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="hedis_portal.roles")
        check_json_types()
        discover_job_kinds()

"""Ratings app: the measure catalog, CMS Star Ratings methodology and the ratings engine."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RatingsConfig(AppConfig):
    """Keeps the shipped measure catalog loaded after every `migrate`."""

    name = "ratings"

    def ready(self) -> None:
        from ratings import catalog

        post_migrate.connect(catalog.sync_catalog_after_migrate, sender=self, dispatch_uid="ratings.catalog")

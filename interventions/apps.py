"""Interventions app: the outreach catalog and the outreach done for members."""

from django.apps import AppConfig


class InterventionsConfig(AppConfig):
    """Intervention types and interventions."""

    name = "interventions"

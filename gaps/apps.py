"""Gaps app: care gaps, their workflow and remarks; the care managers' worklist."""

from django.apps import AppConfig


class GapsConfig(AppConfig):
    """Care gaps."""

    name = "gaps"

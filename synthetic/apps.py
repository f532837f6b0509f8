"""Synthetic app: made-up plans for the demo data and the plan-scale benchmark."""

from django.apps import AppConfig


class SyntheticConfig(AppConfig):
    """One synthetic-plan generator behind `load_demo_data` and `bench`; the top of the layer order.

    It writes through every app's services, so it may import any app, and nothing imports it
    but tests.
    """

    name = "synthetic"

"""Predictions app: models' probabilities that a gap closes by year end."""

from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    """Gap-closure predictions."""

    name = "predictions"

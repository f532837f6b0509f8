"""Predictions of gap closure, arriving in bulk from external models."""

from auditlog.registry import auditlog
from django.db import models

from members.models import Contract, ContractScopedQuerySet, Member
from ratings.models import Measure


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class PredictionQuerySet(ContractScopedQuerySet):
    """Predictions, scoped by their (denormalized) contract."""


class Prediction(models.Model):
    """A model's probability that a member's gap on a measure closes by the end of the year."""

    # No single-column indexes where prediction_unique / prediction_contract already lead with the column.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="predictions", db_index=False)
    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, related_name="predictions", db_index=False
    )
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="predictions")
    measurement_year = models.PositiveSmallIntegerField()
    model_version = models.CharField(max_length=50)
    probability = models.FloatField(help_text="Probability of closure by year end, 0–1.")
    risk_tier = models.CharField(max_length=6, choices=RiskTier.choices)
    top_features = models.JSONField(default=list, blank=True, help_text="The model's top features, no PHI.")
    predicted_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PredictionQuerySet.as_manager()

    class Meta:
        ordering = ["-predicted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "measure", "measurement_year", "model_version"], name="prediction_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(probability__gte=0, probability__lte=1),
                name="prediction_probability_range",
                violation_error_message="A probability must be between 0 and 1.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["member", "measure", "measurement_year", "-predicted_at"], name="prediction_latest"
            ),
            models.Index(fields=["contract", "measurement_year", "risk_tier"], name="prediction_contract"),
        ]

    def __str__(self) -> str:
        return f"{self.measure.code} {self.measurement_year} p={self.probability:.2f} ({self.model_version})"


auditlog.register(Prediction)

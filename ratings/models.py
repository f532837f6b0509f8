"""The Star Ratings measure catalog: stable measures and their per-star-year editions."""

from auditlog.registry import auditlog
from django.db import models


class Part(models.TextChoices):
    C = "C", "Part C"
    D = "D", "Part D"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


class Measure(models.Model):
    """A Star Ratings measure as a stable concept (e.g. BCS), whatever its ID in a given year.

    `member_level` measures are computed per member from care gaps; the others (CAHPS,
    HOS, complaints, appeals, call centre) arrive as contract-level scores.
    """

    code = models.CharField(max_length=60, help_text="Stable code, e.g. BCS, CBP, ADH-DIAB.")
    part = models.CharField(max_length=1, choices=Part.choices)
    name = models.CharField(max_length=200)
    data_source = models.CharField(max_length=100)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    member_level = models.BooleanField(default=False)

    class Meta:
        ordering = ["part", "code"]
        constraints = [
            models.UniqueConstraint(fields=["part", "code"], name="measure_part_code_unique"),
            models.UniqueConstraint(
                fields=["code"],
                condition=models.Q(member_level=True),
                name="measure_member_level_code_unique",
                violation_error_message="Member-level measure codes must be unique across parts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class StarYearMeasure(models.Model):
    """A measure as rated in one star year: its ID that year (IDs shift), weight and precision."""

    star_year = models.PositiveSmallIntegerField()
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="editions")
    cms_id = models.CharField("measure ID", max_length=4, help_text="C01…C33, D01…D12 in 2026.")
    name = models.CharField(max_length=200, help_text="The measure's name as published that year.")
    weight = models.DecimalField(max_digits=4, decimal_places=2)
    display_precision = models.PositiveSmallIntegerField(
        help_text="Decimal places scores are rounded to before comparing with cut points."
    )
    improvement = models.BooleanField(default=False, help_text="An improvement measure (C30/D04 in 2026).")

    class Meta:
        ordering = ["star_year", "cms_id"]
        constraints = [
            models.UniqueConstraint(fields=["star_year", "cms_id"], name="staryearmeasure_id_unique"),
            models.UniqueConstraint(fields=["star_year", "measure"], name="staryearmeasure_measure_unique"),
            models.CheckConstraint(
                condition=models.Q(weight__gte=0),
                name="staryearmeasure_weight_nonnegative",
                violation_error_message="A measure weight cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.star_year} {self.cms_id}: {self.name}"


auditlog.register(Measure)
auditlog.register(StarYearMeasure)

"""Star Ratings data: the measure catalog, CMS's national benchmark per star year, and the
plan's own rating inputs (contract-level scores, CAI categories) and portfolio snapshots."""

from decimal import Decimal

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from hedis_portal.errors import ApplicationError
from members.models import Contract, ContractScopedQuerySet
from ratings.cms import tables
from ratings.cms.methodology import Methodology, MethodologyNotAvailable, RatingColumn

# Scores, cut points and improvement values: CMS publishes up to six decimals (improvement
# measures, 'Calculation Precision'); percentages go up to 100.
SCORE_DIGITS = {"max_digits": 12, "decimal_places": 6}
STATUS_LENGTH = 100


class Part(models.TextChoices):
    C = "C", "Part C"
    D = "D", "Part D"


class Direction(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


class CatalogSource(models.TextChoices):
    """Where a star-year edition of a measure was defined."""

    METHODOLOGY = "methodology", "Technical Notes (shipped methodology)"
    DATA_TABLES = "data_tables", "CMS data table header (weight unknown)"


class ContractType(models.TextChoices):
    """The contract types of Technical Notes Tables 4-7 (keys of the methodology's `contract_types`)."""

    COST_1876 = "1876_cost", "1876 Cost"
    CCP_WITHOUT_SNP = "ccp_without_snp", "CCP w/o SNP"
    CCP_WITH_SNP = "ccp_with_snp", "CCP with SNP"
    CCP_ONLY_ISNP = "ccp_only_isnp", "CCP with Only I-SNP"
    MSA = "msa", "MSA"
    PDP = "pdp", "PDP"
    PFFS = "pffs", "PFFS"


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
    """A measure as rated in one star year: its ID that year (IDs shift), weight and precision.

    Editions of shipped methodology years come from the Technical Notes. For a year whose
    methodology is not shipped, the CMS data table import creates editions from the header
    row (`source` = data tables): their weight is unknown (NULL), and their precision is the
    number of decimals the cut points are written with.
    """

    star_year = models.PositiveSmallIntegerField()
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="editions")
    cms_id = models.CharField("measure ID", max_length=4, help_text="C01…C33, D01…D12 in 2026.")
    name = models.CharField(max_length=200, help_text="The measure's name as published that year.")
    weight = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Attachment G weight; empty when unknown (edition read from a data table header).",
    )
    display_precision = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Decimal places scores are rounded to before comparing with cut points.",
    )
    improvement = models.BooleanField(default=False, help_text="An improvement measure (C30/D04 in 2026).")
    source = models.CharField(max_length=12, choices=CatalogSource.choices, default=CatalogSource.METHODOLOGY)

    class Meta:
        ordering = ["star_year", "cms_id"]
        constraints = [
            models.UniqueConstraint(fields=["star_year", "cms_id"], name="staryearmeasure_id_unique"),
            models.UniqueConstraint(fields=["star_year", "measure"], name="staryearmeasure_measure_unique"),
            models.CheckConstraint(
                condition=models.Q(weight__isnull=True) | models.Q(weight__gte=0),
                name="staryearmeasure_weight_nonnegative",
                violation_error_message="A measure weight cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(source=CatalogSource.DATA_TABLES)
                | models.Q(weight__isnull=False, display_precision__isnull=False),
                name="staryearmeasure_methodology_complete",
                violation_error_message="A measure from the Technical Notes needs a weight and a precision.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.star_year} {self.cms_id}: {self.name}"


class CmsDataImport(models.Model):
    """The provenance of one star year's national benchmark: which files, when, by whom."""

    star_year = models.PositiveSmallIntegerField(unique=True)
    imported_at = models.DateTimeField(default=timezone.now)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    files = models.JSONField(default=list, help_text="Each file's name, table kind and SHA-256.")
    contract_count = models.PositiveIntegerField(default=0)
    cut_point_count = models.PositiveIntegerField(default=0)
    measure_value_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-star_year"]
        verbose_name = "CMS data import"

    def __str__(self) -> str:
        return f"{self.star_year} CMS data tables"


def _value_or_status(number: str, status: str, name: str) -> models.CheckConstraint:
    """A CMS cell holds a number or a status text such as "Plan too small to be measured", never both."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{number}__isnull": True}) | models.Q(**{status: ""}),
        name=name,
        violation_error_message=f"{number} is either a number or a status, not both.",
    )


class CmsContract(models.Model):
    """A contract as published in one star year's CMS data tables (the national benchmark).

    Not one of the plan's contracts: these are every contract CMS rated, with the summary
    table's SNP flag and disaster percentages, the published ratings and the CAI table's
    final adjustment categories (FAC). A NULL flag means the contract is not in that table.
    """

    star_year = models.PositiveSmallIntegerField()
    contract_id = models.CharField("CMS contract ID", max_length=5)
    organization_type = models.CharField(max_length=100, help_text="As CMS writes it, e.g. 'Local CCP'.")
    contract_name = models.CharField(max_length=200, blank=True)
    marketing_name = models.CharField(max_length=200, blank=True)
    parent_organization = models.CharField(max_length=200, blank=True)
    snp = models.BooleanField(
        "SNP", null=True, help_text="Empty if the contract is not in the summary table."
    )
    disaster_percent = models.JSONField(
        default=dict,
        blank=True,
        help_text="Year → % of enrollees in FEMA Individual Assistance areas (summary table).",
    )
    part_c_summary = models.DecimalField(max_digits=2, decimal_places=1, null=True, blank=True)
    part_c_summary_status = models.CharField(max_length=STATUS_LENGTH, blank=True)
    part_d_summary = models.DecimalField(max_digits=2, decimal_places=1, null=True, blank=True)
    part_d_summary_status = models.CharField(max_length=STATUS_LENGTH, blank=True)
    overall = models.DecimalField(max_digits=2, decimal_places=1, null=True, blank=True)
    overall_status = models.CharField(max_length=STATUS_LENGTH, blank=True)
    puerto_rico_only = models.BooleanField(
        null=True, help_text="Empty if the contract is not in the CAI table."
    )
    part_c_fac = models.PositiveSmallIntegerField("Part C FAC", null=True, blank=True)
    part_d_mapd_fac = models.PositiveSmallIntegerField("Part D MA-PD FAC", null=True, blank=True)
    part_d_pdp_fac = models.PositiveSmallIntegerField("Part D PDP FAC", null=True, blank=True)
    overall_fac = models.PositiveSmallIntegerField("overall FAC", null=True, blank=True)
    contract_type = models.CharField(
        max_length=20,
        choices=ContractType.choices,
        blank=True,
        help_text=(
            "Tables 4-7 type from the contract-type file given at import (e.g. 'CCP with Only "
            "I-SNP'); blank: inferred from the tables when rated."
        ),
    )

    class Meta:
        ordering = ["star_year", "contract_id"]
        verbose_name = "CMS contract"
        constraints = [
            models.UniqueConstraint(fields=["star_year", "contract_id"], name="cmscontract_unique"),
            _value_or_status("part_c_summary", "part_c_summary_status", "cmscontract_part_c_one_value"),
            _value_or_status("part_d_summary", "part_d_summary_status", "cmscontract_part_d_one_value"),
            _value_or_status("overall", "overall_status", "cmscontract_overall_one_value"),
        ]

    def __str__(self) -> str:
        return f"{self.star_year} {self.contract_id}"


class CutPoint(models.Model):
    """One measure edition's star thresholds for one organization type (Attachment K).

    A score earns star level k (2–5) when, after rounding to the display precision, it
    reaches `<k>_star`: at least it for higher-is-better measures, at most it for lower-is-
    better ones, inclusive or not exactly as the cut point text says. Part C has one row per
    measure (`org_type` blank); Part D has rows for MA-PD and PDP contracts.
    """

    class OrgType(models.TextChoices):
        """Part D cut points differ for MA-PD contracts and PDPs; Part C has one row for all."""

        ALL = "", "All contracts"
        MA_PD = "MA-PD", "MA-PD"
        PDP = "PDP", "PDP"

    edition = models.ForeignKey(StarYearMeasure, on_delete=models.PROTECT, related_name="cut_points")
    org_type = models.CharField(max_length=5, choices=OrgType.choices, blank=True)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    two_star = models.DecimalField(**SCORE_DIGITS)
    two_star_inclusive = models.BooleanField(default=True)
    three_star = models.DecimalField(**SCORE_DIGITS)
    three_star_inclusive = models.BooleanField(default=True)
    four_star = models.DecimalField(**SCORE_DIGITS)
    four_star_inclusive = models.BooleanField(default=True)
    five_star = models.DecimalField(**SCORE_DIGITS)
    five_star_inclusive = models.BooleanField(default=True)
    decimals = models.PositiveSmallIntegerField(
        default=0, help_text="Decimal places the thresholds are written with in the CMS file."
    )

    class Meta:
        ordering = ["edition__star_year", "edition__cms_id", "org_type"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "org_type"], name="cutpoint_unique"),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        direction=Direction.HIGHER,
                        three_star__gt=models.F("two_star"),
                        four_star__gt=models.F("three_star"),
                        five_star__gt=models.F("four_star"),
                    )
                    | models.Q(
                        direction=Direction.LOWER,
                        three_star__lt=models.F("two_star"),
                        four_star__lt=models.F("three_star"),
                        five_star__lt=models.F("four_star"),
                    )
                ),
                name="cutpoint_monotone",
                violation_error_message=(
                    "Cut points must rise (higher is better) or fall (lower is better) with stars."
                ),
            ),
        ]

    LEVELS = ((2, "two_star"), (3, "three_star"), (4, "four_star"), (5, "five_star"))

    def __str__(self) -> str:
        return f"{self.edition} {self.org_type or 'all'}"

    def as_cms(self) -> tables.CutPoints:
        """The engine's `CutPoints` (needs `edition`), thresholds written as in the CMS file.

        Written decimals matter: without a shipped methodology the engine takes a measure's
        display precision from them.
        """
        places = Decimal(1).scaleb(-self.decimals)
        thresholds = {
            level: tables.Threshold(getattr(self, name).quantize(places), getattr(self, f"{name}_inclusive"))
            for level, name in self.LEVELS
        }
        return tables.CutPoints(
            measure_id=self.edition.cms_id,
            measure_name=self.edition.name,
            org_type=self.org_type or None,
            direction=tables.Direction(self.direction),
            thresholds=thresholds,
        )


class CutPointProjection(models.Model):
    """A star year's non-CAHPS cut points projected from the imported years (issue #18).

    One per target star year, replaced when recomputed. `data` holds each measure's projection
    (`ratings.benchmark.projection.Projection.as_stored`): the base year's cut points, the median
    and 10th-90th percentile of each threshold, and every draw, which forecasts and optimizer runs
    working toward the target year use in their Monte Carlo.
    """

    target_star_year = models.PositiveSmallIntegerField(unique=True)
    base_star_year = models.PositiveSmallIntegerField(help_text="The newest imported year it starts from.")
    trend_star_year = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The year before the base year the trend is read from; blank: no trend.",
    )
    draws = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    computed_at = models.DateTimeField(default=timezone.now)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(help_text="Every measure's projected thresholds and draws, and the notes.")

    class Meta:
        ordering = ["-target_star_year"]
        verbose_name = "cut point projection"

    def __str__(self) -> str:
        return f"Star year {self.target_star_year} projected from {self.base_star_year}"


class CmsMeasureValue(models.Model):
    """A contract's published score (measure data) and star (measure stars) on one edition.

    Status texts ("Plan too small to be measured", "Not enough data available", …) are kept
    as statuses with no number: they are not zeros and must not be averaged (Attachment Q).
    """

    contract = models.ForeignKey(CmsContract, on_delete=models.CASCADE, related_name="measure_values")
    edition = models.ForeignKey(StarYearMeasure, on_delete=models.PROTECT, related_name="national_values")
    score = models.DecimalField(**SCORE_DIGITS, null=True, blank=True)
    score_status = models.CharField(max_length=STATUS_LENGTH, blank=True)
    star = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    star_status = models.CharField(max_length=STATUS_LENGTH, blank=True)

    class Meta:
        ordering = ["contract__star_year", "contract__contract_id", "edition__cms_id"]
        verbose_name = "CMS measure value"
        constraints = [
            models.UniqueConstraint(fields=["contract", "edition"], name="cmsmeasurevalue_unique"),
            _value_or_status("score", "score_status", "cmsmeasurevalue_score_one_value"),
            _value_or_status("star", "star_status", "cmsmeasurevalue_star_one_value"),
            models.CheckConstraint(
                condition=models.Q(star__isnull=True) | models.Q(star__gte=1, star__lte=5),
                name="cmsmeasurevalue_star_range",
                violation_error_message="A measure star is 1 to 5.",
            ),
        ]
        # National percentiles compare one edition's scores.
        indexes = [models.Index(fields=["edition", "score"], name="cmsmeasurevalue_percentile")]

    def __str__(self) -> str:
        return f"{self.contract} {self.edition.cms_id}"


class ContractRatingProfileQuerySet(ContractScopedQuerySet):
    """Rating profiles, scoped by contract."""


class ContractRatingProfile(models.Model):
    """What the rules need to rate one of the plan's contracts for a star year, beyond its stars.

    Empty fields are derived: the contract type from the contract's organization type and
    SNP flag, each final adjustment category from its LIS/DE % and disability % (Technical
    Notes Tables 10–21). Set them where the derivation does not hold (e.g. a contract that
    offers only I-SNPs, or one serving only Puerto Rico, whose LIS/DE % CMS modifies).
    """

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="rating_profiles")
    star_year = models.PositiveSmallIntegerField()
    contract_type = models.CharField(
        max_length=20,
        choices=ContractType.choices,
        blank=True,
        help_text="Tables 4–7 contract type; empty: from the contract's organization type and SNP flag.",
    )
    part_c_fac = models.PositiveSmallIntegerField("Part C FAC", null=True, blank=True)
    part_d_fac = models.PositiveSmallIntegerField("Part D FAC", null=True, blank=True)
    overall_fac = models.PositiveSmallIntegerField("overall FAC", null=True, blank=True)
    puerto_rico_only = models.BooleanField(
        default=False, help_text="Serves only Puerto Rico: adherence measures weigh 0 (Table G-2)."
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContractRatingProfileQuerySet.as_manager()

    class Meta:
        ordering = ["contract__contract_id", "-star_year"]
        permissions = [("view_contract_rating", "Can view live contract ratings and the health equity view")]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "star_year"],
                name="contractratingprofile_unique",
                violation_error_message="This contract already has a rating profile for that star year.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract} {self.star_year} rating profile"

    def clean(self) -> None:
        """Each final adjustment category must exist in the CAI tables the rating will use."""
        if self.contract_id is None:
            return
        try:
            methodology = Methodology.for_star_year_or_latest(self.star_year)
        except MethodologyNotAvailable:
            return
        if not methodology.rates_contracts:
            return  # no CAI tables to check a category against
        pdp = self.contract.organization_type == Contract.OrganizationType.PDP
        columns = {
            "part_c_fac": RatingColumn.PART_C,
            "part_d_fac": RatingColumn.PART_D_PDP if pdp else RatingColumn.PART_D_MAPD,
            "overall_fac": RatingColumn.OVERALL,
        }
        errors = {}
        for name, column in columns.items():
            value = getattr(self, name)
            known = sorted(methodology.cai_values.get(column, {}))
            if value is not None and value not in known:
                errors[name] = (
                    f"Star year {methodology.star_year} has final adjustment categories "
                    f"{known[0]}–{known[-1]} for this rating (Tables 12, 15, 18, 21)."
                )
        if errors:
            raise ValidationError(errors)


class ContractMeasureScoreQuerySet(ContractScopedQuerySet):
    """Contract-level scores, scoped by contract."""


class ContractMeasureScore(models.Model):
    """A contract-level score for a measure that is not computed from gaps (CAHPS, complaints, …).

    Keyed by the stable measure and the star year the score counts towards (measurement year
    + 2), so it survives measure IDs shifting and can be entered before that year's catalog
    ships. Holds a number or a CMS status text, never both.
    """

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="measure_scores")
    star_year = models.PositiveSmallIntegerField()
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="contract_scores")
    score = models.DecimalField(**SCORE_DIGITS, null=True, blank=True)
    status = models.CharField(
        max_length=STATUS_LENGTH,
        blank=True,
        help_text="A CMS status instead of a score, e.g. 'No data available'.",
    )
    note = models.CharField(max_length=500, blank=True, help_text="Where the figure comes from.")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entered_at = models.DateTimeField(default=timezone.now)

    objects = ContractMeasureScoreQuerySet.as_manager()

    class Meta:
        ordering = ["contract__contract_id", "-star_year", "measure__part", "measure__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "star_year", "measure"],
                name="contractmeasurescore_unique",
                violation_error_message="This contract already has a score for that measure and star year.",
            ),
            models.CheckConstraint(
                condition=(models.Q(score__isnull=False) & models.Q(status=""))
                | (models.Q(score__isnull=True) & ~models.Q(status="")),
                name="contractmeasurescore_score_or_status",
                violation_error_message="Give a score or a status: exactly one of them.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract} {self.star_year} {self.measure.code}"

    def clean(self) -> None:
        """Member-level measures are computed from care gaps, never entered by hand."""
        if self.measure_id is not None and self.measure.member_level:
            raise ValidationError(
                {"measure": "This measure is computed from care gaps; it takes no entered score."}
            )


class SnapshotImmutable(ApplicationError):
    """Portfolio snapshots are a record of a moment: they are never changed or deleted."""


class PortfolioSnapshotQuerySet(ContractScopedQuerySet):
    """Snapshots, scoped by contract; set-based updates and deletes are refused."""

    def update(self, **kwargs):
        raise SnapshotImmutable("Portfolio snapshots cannot be changed.")

    def delete(self):
        raise SnapshotImmutable("Portfolio snapshots cannot be deleted.")


class PortfolioSnapshot(models.Model):
    """A point-in-time record of a contract's portfolio, charted over the year as a trend.

    `data` (JSONB on PostgreSQL) holds per measure the denominator, closed, open, excluded,
    rate, stars and members to the next cut point, the stratified rates and the ratings with
    every intermediate — the live rating's `as_dict()` at `taken_at`. Immutable.
    """

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="portfolio_snapshots")
    measurement_year = models.PositiveSmallIntegerField()
    star_year = models.PositiveSmallIntegerField(help_text="The star year these results count towards.")
    taken_at = models.DateTimeField(default=timezone.now)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when taken by the scheduled snapshot_portfolio command.",
    )
    data = models.JSONField()

    objects = PortfolioSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [
            # The trend: one contract and measurement year over time.
            models.Index(fields=["contract", "measurement_year", "taken_at"], name="snapshot_trend"),
        ]

    def __str__(self) -> str:
        return f"{self.contract} MY{self.measurement_year} at {self.taken_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise SnapshotImmutable("Portfolio snapshots cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise SnapshotImmutable("Portfolio snapshots cannot be deleted.")


class PortfolioRunQuerySet(ContractScopedQuerySet):
    """Forecast, what-if and optimizer runs, scoped by contract."""


class PortfolioRun(models.Model):
    """One forecast, named what-if scenario or optimizer run: inputs, parameters, outputs, timing.

    Stored whole so a plan can be explained and acted on later; never changed afterwards
    (proposing its interventions is recorded on the run by `proposed_at`).
    """

    class Kind(models.TextChoices):
        FORECAST = "forecast", "Forecast"
        WHAT_IF = "what_if", "What-if scenario"
        OPTIMIZE = "optimize", "Optimizer run"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200, blank=True, help_text="A what-if scenario's name.")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="portfolio_runs")
    measurement_year = models.PositiveSmallIntegerField()
    parameters = models.JSONField(
        help_text="Draws, seed, budget, objective, assumptions, fallback probability."
    )
    inputs = models.JSONField(help_text="What the run saw: gaps and members per measure, catalog, notes.")
    result = models.JSONField()
    solver_status = models.CharField(max_length=100, blank=True)
    optimality_gap = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    proposed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its interventions were proposed."
    )
    # Said by a column, not asked of `result` (`result ? 'priorities'` decompresses a listing of
    # ~11 MB per optimizer run at plan scale, on every worklist page that names the latest run).
    priorities_set = models.BooleanField(
        default=False,
        help_text="It set the worklist's gap priorities "
        "(an optimizer run; its result says what they rest on).",
    )

    objects = PortfolioRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["contract", "measurement_year", "kind", "-created_at"], name="run_recent")
        ]

    def __str__(self) -> str:
        label = self.name or self.get_kind_display()
        return f"{label} for {self.contract} MY{self.measurement_year} ({self.created_at:%Y-%m-%d %H:%M})"


# The national benchmark (CmsDataImport, CmsContract, CutPoint, CmsMeasureValue) is written
# set-based by the import and audited with one batch entry per import, not per row.
auditlog.register(PortfolioRun, exclude_fields=["inputs", "result"])
auditlog.register(Measure)
auditlog.register(StarYearMeasure)
auditlog.register(ContractRatingProfile)
auditlog.register(ContractMeasureScore)
# The snapshot's JSON is the record itself; the audit entry says who took which snapshot when.
auditlog.register(PortfolioSnapshot, exclude_fields=["data"])
auditlog.register(CutPointProjection, exclude_fields=["data"])

"""Outreach: the intervention catalog, interventions (planned, paid, approved) and outreach records
(what a care manager already did, recorded as done), each covering one or more of a member's gaps."""

from auditlog.registry import auditlog
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from gaps.models import CareGap, WorkflowState
from members.models import Contract, ContractScopedQuerySet, Member
from ratings.models import Measure


class Channel(models.TextChoices):
    PHONE = "phone", "Phone call"
    MAIL = "mail", "Mailer"
    TEXT = "text", "Text message"
    HOME_VISIT = "home_visit", "Home visit"
    TELEHEALTH = "telehealth", "Telehealth visit"
    PHARMACY = "pharmacy", "Pharmacy outreach"
    PROVIDER = "provider", "Provider engagement"


class InterventionType(models.Model):
    """A kind of outreach with its unit cost and its expected uplift per measure."""

    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    unit_cost = models.DecimalField(max_digits=9, decimal_places=2, validators=[MinValueValidator(0)])
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many can be done this year (blank: no limit)."
    )
    active = models.BooleanField(default=True)
    measures = models.ManyToManyField(
        Measure, through="InterventionUplift", related_name="intervention_types"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_cost__gte=0),
                name="interventiontype_cost_nonnegative",
                violation_error_message="Unit cost cannot be negative.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class InterventionUplift(models.Model):
    """How much an intervention type raises the probability that a gap on a measure closes."""

    intervention_type = models.ForeignKey(InterventionType, on_delete=models.CASCADE, related_name="uplifts")
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="+")
    uplift = models.FloatField(
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Added closure probability, 0–1.",
    )

    class Meta:
        ordering = ["intervention_type", "measure"]
        constraints = [
            models.UniqueConstraint(fields=["intervention_type", "measure"], name="uplift_unique"),
            models.CheckConstraint(
                condition=models.Q(uplift__gte=0, uplift__lte=1),
                name="uplift_range",
                violation_error_message="An uplift must be between 0 and 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.intervention_type} → {self.measure.code}: +{self.uplift:.2f}"


class InterventionStatus(models.TextChoices):
    """proposed → approved → scheduled → completed | failed | cancelled (see `interventions.workflow`)."""

    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class InterventionQuerySet(ContractScopedQuerySet):
    """Interventions, scoped by their (denormalized) contract."""


class Intervention(models.Model):
    """One outreach action for one member, covering one or more of that member's gaps (a bundle).

    Completing an intervention does not close a gap: only data closes gaps.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="interventions")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="interventions")
    intervention_type = models.ForeignKey(
        InterventionType, on_delete=models.PROTECT, related_name="interventions"
    )
    status = models.CharField(
        max_length=10, choices=InterventionStatus.choices, default=InterventionStatus.PROPOSED
    )
    cost = models.DecimalField(max_digits=9, decimal_places=2, validators=[MinValueValidator(0)])
    gaps = models.ManyToManyField(CareGap, through="InterventionGap", related_name="interventions")
    scheduled_for = models.DateField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notes = models.CharField(max_length=500, blank=True, help_text="No names, IDs or clinical details.")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = InterventionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_intervention", "Can approve proposed interventions")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cost__gte=0),
                name="intervention_cost_nonnegative",
                violation_error_message="Cost cannot be negative.",
            )
        ]
        indexes = [
            models.Index(fields=["contract", "status", "-created_at"], name="intervention_contract_status"),
            models.Index(fields=["member", "-created_at"], name="intervention_member"),
        ]

    def __str__(self) -> str:
        return f"{self.intervention_type} #{self.pk} ({self.get_status_display()})"


class GapOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    CLOSED = "closed", "Gap closed"
    NOT_CLOSED = "not_closed", "Gap not closed"


class InterventionGap(models.Model):
    """A gap an intervention covers, with the outcome for that gap (recorded by the data feed)."""

    intervention = models.ForeignKey(Intervention, on_delete=models.CASCADE, related_name="covered")
    gap = models.ForeignKey(CareGap, on_delete=models.PROTECT, related_name="coverage")
    outcome = models.CharField(max_length=10, choices=GapOutcome.choices, default=GapOutcome.PENDING)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["intervention", "gap"], name="interventiongap_unique")]

    def __str__(self) -> str:
        return f"{self.gap}: {self.get_outcome_display()}"


class OutreachChannel(models.TextChoices):
    """How a care manager reached out (or tried to)."""

    CALL = "call", "Call"
    LETTER = "letter", "Letter"
    TEXT = "text", "Text message"
    HOME_VISIT = "home_visit", "Home visit"
    PROVIDER_OUTREACH = "provider_outreach", "Provider outreach"


class OutreachOutcome(models.TextChoices):
    """What came of it; each moves the gaps' workflow as `interventions.workflow.OUTCOME_STATES` says."""

    REACHED = "reached", "Reached"
    SCHEDULED = "scheduled", "Scheduled"
    REFUSED = "refused", "Refused"
    UNABLE_TO_REACH = "unable_to_reach", "Unable to reach"
    LEFT_MESSAGE = "left_message", "Left message"


class OutreachRecordQuerySet(ContractScopedQuerySet):
    """Outreach records, scoped by their (denormalized) contract."""


class OutreachRecord(models.Model):
    """Outreach a care manager has already made to one member about some of their open gaps.

    Recorded as done: no approval (approval is for planned, paid interventions such as the
    optimizer's proposals). Written once by `interventions.services.outreach_record_create`,
    which moves each gap's workflow as the outcome says; never changed afterwards.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="outreach_records")
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="outreach_records")
    channel = models.CharField(max_length=20, choices=OutreachChannel.choices)
    outcome = models.CharField(max_length=20, choices=OutreachOutcome.choices)
    contacted_on = models.DateField(help_text="The day of the outreach (today or earlier).")
    note = models.CharField(
        max_length=500,
        blank=True,
        help_text="No PHI: no names, member IDs, phone numbers, addresses or clinical details.",
    )
    gaps = models.ManyToManyField(CareGap, through="OutreachGap", related_name="outreach_records")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = OutreachRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["contract", "-recorded_at"], name="outreach_contract_recorded"),
            models.Index(fields=["member", "-contacted_on"], name="outreach_member"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} on {self.contacted_on:%Y-%m-%d}: {self.get_outcome_display()}"


class OutreachGap(models.Model):
    """A gap an outreach record covers, with the workflow state it had and the one it took."""

    record = models.ForeignKey(OutreachRecord, on_delete=models.CASCADE, related_name="moves")
    gap = models.ForeignKey(CareGap, on_delete=models.PROTECT, related_name="outreach_moves")
    state_before = models.CharField(max_length=20, choices=WorkflowState.choices)
    state_after = models.CharField(max_length=20, choices=WorkflowState.choices)

    class Meta:
        ordering = ["gap_id"]
        constraints = [models.UniqueConstraint(fields=["record", "gap"], name="outreachgap_unique")]

    def __str__(self) -> str:
        return f"{self.gap}: {self.get_state_before_display()} → {self.get_state_after_display()}"


auditlog.register(InterventionType, m2m_fields={"measures"})
auditlog.register(InterventionUplift)
auditlog.register(Intervention)
auditlog.register(InterventionGap)
auditlog.register(OutreachRecord)
auditlog.register(OutreachGap)

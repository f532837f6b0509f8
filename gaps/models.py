"""Care gaps: one row per member × measure × measurement year for every denominator member."""

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models

from members.models import Contract, ContractScopedQuerySet, Member
from predictions.models import RiskTier
from ratings.models import Measure


class ComplianceStatus(models.TextChoices):
    """Set by the HEDIS engine's data, never by a care manager."""

    OPEN = "open", "Open"
    CLOSED = "closed", "Closed (numerator met)"
    EXCLUDED = "excluded", "Excluded"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class WorkflowState(models.TextChoices):
    """The care manager's progress on the gap; transitions are defined in `gaps.workflow`."""

    NEW = "new", "New"
    ASSIGNED = "assigned", "Assigned"
    OUTREACH_ATTEMPTED = "outreach_attempted", "Outreach attempted"
    SCHEDULED = "scheduled", "Scheduled"
    AWAITING_DATA = "awaiting_data", "Awaiting data"
    RESOLVED = "resolved", "Resolved"
    UNABLE_TO_REACH = "unable_to_reach", "Unable to reach"
    REFUSED = "refused", "Refused"


class EvidenceSource(models.TextChoices):
    CLAIMS = "claims", "Claims"
    SUPPLEMENTAL = "supplemental", "Supplemental data"
    EHR = "ehr", "EHR"
    LAB = "lab", "Lab"


class RemarkCode(models.TextChoices):
    """Care-gap remarks after the Da Vinci DEQM gaps-in-care guidance. A remark never closes a gap."""

    PATIENT_REFUSED = "patient-refused", "Patient refused"
    SATISFIED_IN_EHR = "satisfied-in-EHR", "Satisfied in EHR (awaiting data)"
    ATTRIBUTION_MISMATCH = "attribution-mismatch", "Attribution mismatch"
    UNABLE_TO_CONTACT = "unable-to-contact", "Unable to contact"
    APPOINTMENT_SCHEDULED = "appointment-scheduled", "Appointment scheduled"
    OTHER = "other", "Other"


# `CareGap.priority_score`'s unit: expected overall stars gained per this many dollars of outreach.
PRIORITY_DOLLARS = 1_000


class CareGapQuerySet(ContractScopedQuerySet):
    """Care gaps, scoped by their (denormalized) contract."""


def _forget_prediction(collector, field, sub_objs, using):
    """A deleted prediction leaves its gaps without a current prediction and without its tier.

    The tier first: each update runs as a query on the gaps that point at the prediction, and
    after the pointer's none would."""
    collector.add_field_update(field.model._meta.get_field("risk_tier"), None, sub_objs)
    collector.add_field_update(field, None, sub_objs)


_forget_prediction.lazy_sub_objs = True  # as SET_NULL: the gaps are updated by query, not loaded


class CareGap(models.Model):
    """A member in a measure's denominator for a measurement year, compliant or not.

    Every denominator row is kept (open, closed, excluded, not applicable) so that rates
    are computable: rate = closed ÷ (denominator − excluded). `contract` repeats the
    member's contract so every large table can be scoped, indexed and sharded by it.
    """

    # No single-column indexes where a composite index below already leads with the column
    # (caregap_unique, caregap_worklist, caregap_assignee_priority, which holds every gap with an
    # assignee): each would be one more entry written on every insert.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="gaps", db_index=False)
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="gaps", db_index=False)
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT, related_name="gaps")
    measurement_year = models.PositiveSmallIntegerField()
    compliance_status = models.CharField(
        max_length=16, choices=ComplianceStatus.choices, default=ComplianceStatus.OPEN
    )
    status_reason = models.CharField(
        max_length=200, blank=True, help_text="Why the compliance status is what it is, when not obvious."
    )
    exclusion_reason = models.CharField(max_length=200, blank=True)
    evidence_date = models.DateField(null=True, blank=True)
    evidence_source = models.CharField(max_length=16, choices=EvidenceSource.choices, blank=True)
    workflow_state = models.CharField(max_length=20, choices=WorkflowState.choices, default=WorkflowState.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_gaps",
        db_index=False,
    )
    priority_score = models.FloatField(
        default=0,
        help_text="Expected overall stars gained per $1,000 of outreach on this gap (set by optimizer runs).",
    )
    priority_rank = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Rank 1-100 within the contract and year at the last optimizer run (1: its top 1%).",
    )
    current_prediction = models.ForeignKey(
        "predictions.Prediction",
        null=True,
        blank=True,
        on_delete=_forget_prediction,
        related_name="+",
        help_text="The latest prediction for this member, measure and year (kept by the prediction upsert).",
    )
    # The current prediction's tier, copied onto the gap so that the worklist's `risk_tier`
    # filter reads an index in priority order: through the prediction, the page read each gap's
    # prediction until 51 were high (288 ms at 1.2 million gaps). Written with the pointer, by
    # the same statements; null exactly when the pointer is.
    risk_tier = models.CharField(
        max_length=6,
        choices=RiskTier.choices,
        null=True,
        editable=False,
        help_text="From the gap's latest prediction.",
    )
    last_outreach_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Optimistic concurrency: bumped on every change."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CareGapQuerySet.as_manager()

    class Meta:
        ordering = ["-priority_score", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "measure", "measurement_year"], name="caregap_unique"),
            models.CheckConstraint(
                condition=~models.Q(compliance_status="excluded") | ~models.Q(exclusion_reason=""),
                name="caregap_excluded_has_reason",
                violation_error_message="An excluded gap needs an exclusion reason.",
            ),
            models.CheckConstraint(
                condition=~models.Q(compliance_status="closed")
                | (models.Q(evidence_date__isnull=False) & ~models.Q(evidence_source="")),
                name="caregap_closed_has_evidence",
                violation_error_message="A closed gap needs evidence: a date and a source.",
            ),
        ]
        indexes = [
            # The worklist: contract + measure + state, highest priority first (cursor order).
            models.Index(
                fields=["contract", "measure", "workflow_state", "-priority_score", "-id"],
                name="caregap_worklist",
            ),
            models.Index(fields=["contract", "-priority_score", "-id"], name="caregap_contract_priority"),
            # The worklist's other orderings and its most selective filter, per contract (a worklist
            # over several contracts is read contract by contract: gaps.selectors.PerContractRows).
            # Without them `?ordering=-updated_at` sorted every gap of the contract (1.1 s at 1.2
            # million gaps) and `?compliance_status=excluded` walked past every open gap (0.46 s).
            models.Index(fields=["contract", "-updated_at", "-id"], name="caregap_contract_updated"),
            models.Index(
                fields=["contract", "compliance_status", "-priority_score", "-id"],
                name="caregap_contract_status",
            ),
            # A workflow state without a measure, in either priority order: a rare state walked past
            # every other gap (0.4 s at 1.2 million gaps once PostgreSQL reused a generic plan for
            # the prepared statement), and `new` in ascending order past the closed gaps at 0 first.
            models.Index(
                fields=["contract", "workflow_state", "-priority_score", "-id"], name="caregap_contract_state"
            ),
            # One risk tier, in priority order.
            models.Index(
                fields=["contract", "risk_tier", "-priority_score", "-id"], name="caregap_contract_tier"
            ),
            # Oldest or newest first within a contract: the primary key alone walked past the
            # other contracts' gaps (0.15 s for a contract whose gaps came after 1.2 million others).
            models.Index(fields=["contract", "id"], name="caregap_contract_id"),
            # Rate aggregation per contract, year and measure.
            models.Index(
                fields=["contract", "measurement_year", "measure", "compliance_status"], name="caregap_rates"
            ),
            # Filters only worked gaps match, in either priority order: ascending, the contract's
            # priority index walked past its ~920,000 closed and excluded gaps at 0 before the first
            # assigned or reached one (0.13 s at 1.32 million gaps). Partial: an unassigned gap, or
            # one never reached, has no entry, so a first import writes neither.
            models.Index(
                fields=["assignee", "contract", "-priority_score", "-id"],
                name="caregap_assignee_priority",
                condition=models.Q(assignee__isnull=False),
            ),
            models.Index(
                fields=["contract", "-priority_score", "-id"],
                name="caregap_reached_priority",
                condition=models.Q(last_outreach_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        """ "BCS 2026 · K7QD-2M9X-HT4P": measure, year and member, unique, and no internal ID."""
        return f"{self.measure.code} {self.measurement_year} · {self.member.pseudonym}"


class GapRemark(models.Model):
    """A care manager's remark on a gap (history, append-only). Notes must not contain PHI."""

    gap = models.ForeignKey(CareGap, on_delete=models.CASCADE, related_name="remarks")
    code = models.CharField(max_length=32, choices=RemarkCode.choices)
    note = models.CharField(max_length=500, blank=True, help_text="No names, IDs or clinical details.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.code} on gap #{self.gap_id}"


auditlog.register(CareGap)
auditlog.register(GapRemark)

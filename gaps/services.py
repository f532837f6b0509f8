"""Writes on care gaps: assign, move through the workflow, remark — one at a time or in bulk.

Single-gap writes check the version the client read (optimistic concurrency: a stale
write is a 409, never a lost update) and are audited per change by django-auditlog.
Bulk writes are set-based (one UPDATE) and audited with one batch entry.
"""

from collections.abc import Iterable

from auditlog.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gaps import workflow
from gaps.models import CareGap, ComplianceStatus, GapRemark, RemarkCode, WorkflowState
from hedis_portal.audit import log_batch
from hedis_portal.errors import ApplicationError, ConflictError
from members.models import Contract


class InvalidAssignee(ApplicationError):
    """The assignee cannot work this contract's gaps."""


def _locked(gap: CareGap, expected_version: int) -> CareGap:
    """The gap, locked for update, if it is still at the version the client read."""
    current = CareGap.objects.select_for_update().get(pk=gap.pk)
    if current.version != expected_version:
        raise ConflictError(
            "This gap changed since you read it; reload it and try again.",
            {"current_version": current.version, "your_version": expected_version},
        )
    return current


def _check_assignee(*, assignee, contract_ids: set[int]) -> None:
    if assignee is None or assignee.is_superuser:
        return
    assigned = set(Contract.objects.filter(users=assignee, pk__in=contract_ids).values_list("pk", flat=True))
    if assigned != contract_ids:
        raise InvalidAssignee(
            "The assignee is not assigned to the gap's contract.",
            {"fields": {"assignee": ["not assigned to this contract"]}},
        )


@transaction.atomic
def gap_assign(*, gap: CareGap, assignee: AbstractBaseUser | None, expected_version: int) -> CareGap:
    """Assign (or unassign) a gap; a new gap becomes `assigned`."""
    gap = _locked(gap, expected_version)
    _check_assignee(assignee=assignee, contract_ids={gap.contract_id})
    gap.assignee = assignee
    if assignee is not None and gap.workflow_state == WorkflowState.NEW:
        gap.workflow_state = WorkflowState.ASSIGNED
    gap.version += 1
    gap.save()
    return gap


@transaction.atomic
def gap_set_workflow_state(*, gap: CareGap, workflow_state: str, expected_version: int) -> CareGap:
    """Move a gap to another workflow state, if the workflow allows it."""
    gap = _locked(gap, expected_version)
    workflow.check_transition(
        from_state=gap.workflow_state, to_state=workflow_state, compliance_status=gap.compliance_status
    )
    gap.workflow_state = workflow_state
    if workflow_state == WorkflowState.OUTREACH_ATTEMPTED:
        gap.last_outreach_at = timezone.now()
    gap.version += 1
    gap.save()
    return gap


@transaction.atomic
def gap_add_remark(*, gap: CareGap, code: str, note: str = "", author) -> GapRemark:
    """Add a remark to a gap's history. A remark never changes compliance."""
    remark = GapRemark(gap=gap, code=code, note=note, author=author)
    remark.full_clean()
    remark.save()
    return remark


def _bulk_summary(verb: str, count: int, skipped: int) -> str:
    return f"{verb} {count} gaps" + (f" ({skipped} skipped)" if skipped else "")


@transaction.atomic
def gaps_assign_bulk(*, gaps, assignee) -> int:
    """Assign every gap of `gaps` (a scoped queryset) in one UPDATE; returns how many changed."""
    contract_ids = set(gaps.values_list("contract_id", flat=True).distinct())
    _check_assignee(assignee=assignee, contract_ids=contract_ids)
    ids = list(gaps.values_list("pk", flat=True))
    target = CareGap.objects.filter(pk__in=ids)
    if assignee is not None:
        target.filter(workflow_state=WorkflowState.NEW).update(
            workflow_state=WorkflowState.ASSIGNED, version=F("version") + 1
        )
    changed = target.update(assignee=assignee, version=F("version") + 1, updated_at=timezone.now())
    log_batch(
        model=CareGap,
        action=LogEntry.Action.UPDATE,
        count=changed,
        summary=_bulk_summary("Assigned", changed, 0),
        details={"gap_ids": ids, "assignee_id": getattr(assignee, "pk", None)},
    )
    return changed


@transaction.atomic
def gaps_set_workflow_state_bulk(*, gaps, workflow_state: str) -> tuple[int, int]:
    """Move every gap that may make the move; returns (changed, skipped)."""
    allowed_from = workflow.states_allowing(workflow_state)
    ids = list(gaps.values_list("pk", flat=True))
    movable = CareGap.objects.filter(
        pk__in=ids, workflow_state__in=allowed_from, compliance_status=ComplianceStatus.OPEN
    )
    extra = {"last_outreach_at": timezone.now()} if workflow_state == WorkflowState.OUTREACH_ATTEMPTED else {}
    changed = movable.update(
        workflow_state=workflow_state, version=F("version") + 1, updated_at=timezone.now(), **extra
    )
    skipped = len(ids) - changed
    log_batch(
        model=CareGap,
        action=LogEntry.Action.UPDATE,
        count=changed,
        summary=_bulk_summary(f"Moved to {workflow_state}", changed, skipped),
        details={"gap_ids": ids, "workflow_state": workflow_state, "skipped": skipped},
    )
    return changed, skipped


@transaction.atomic
def gaps_add_remark_bulk(*, gaps: Iterable[CareGap], code: str, note: str = "", author) -> int:
    """Add the same remark to many gaps with one INSERT."""
    if code not in RemarkCode.values:
        raise ApplicationError(
            "Unknown remark code.", {"fields": {"code": [f"'{code}' is not a remark code"]}}
        )
    remarks = GapRemark.objects.bulk_create(
        [GapRemark(gap=gap, code=code, note=note, author=author) for gap in gaps]
    )
    log_batch(
        model=GapRemark,
        action=LogEntry.Action.CREATE,
        count=len(remarks),
        summary=f"Remark {code} on {len(remarks)} gaps",
        details={"gap_ids": [r.gap_id for r in remarks], "code": code},
    )
    return len(remarks)

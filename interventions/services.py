"""Writes for the intervention catalog and interventions: the one path the API, admin and jobs share.

Single-intervention writes check the version the client read (optimistic concurrency: a
stale write is a 409, never a lost update) and are audited per change by django-auditlog.
Bulk writes are set-based (a constant number of queries) and audited with one batch entry.
Nothing here changes a gap's compliance status: only data closes gaps.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import NamedTuple

from auditlog.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status

from gaps import workflow as gap_workflow
from gaps.models import CareGap, ComplianceStatus, WorkflowState
from gaps.services import gap_set_workflow_state, gaps_stamp_outreach
from hedis_portal.audit import log_batch
from hedis_portal.errors import ApplicationError, ConflictError
from hedis_portal.services import model_update
from interventions import workflow
from interventions.models import (
    GapOutcome,
    Intervention,
    InterventionGap,
    InterventionStatus,
    InterventionType,
    InterventionUplift,
    OutreachGap,
    OutreachOutcome,
    OutreachRecord,
)
from members.models import Member
from ratings.models import Measure

APPROVE_PERMISSION = "interventions.approve_intervention"
CHANGE_PERMISSION = "interventions.change_intervention"

# What the API's PATCH and the admin's change form may change; uplifts have their own argument.
INTERVENTION_TYPE_UPDATE_FIELDS = ("name", "channel", "unit_cost", "capacity", "active")


class PermissionRefused(ApplicationError):
    """The actor's role does not allow this change; answered as 403."""

    status_code = status.HTTP_403_FORBIDDEN


# --- The intervention catalog -------------------------------------------------------------


def _uplifts_set(*, intervention_type: InterventionType, uplifts: Mapping[Measure, float]) -> None:
    """Make the type's uplifts exactly `uplifts`, one audited row write per change."""
    existing = {row.measure_id: row for row in intervention_type.uplifts.all()}
    changed, problems = [], []
    for measure, uplift in uplifts.items():
        if not measure.member_level:
            problems.append(f"{measure.code}: uplifts apply to member-level measures (those with gaps).")
            continue
        row = existing.get(measure.pk)
        if row is None:
            row = InterventionUplift(intervention_type=intervention_type, measure=measure, uplift=uplift)
        elif row.uplift == uplift:
            continue
        else:
            row.uplift = uplift
        try:
            row.full_clean()
        except ValidationError as error:
            problems.extend(f"{measure.code}: {message}" for message in error.messages)
        changed.append(row)
    if problems:
        raise ValidationError({"uplifts": problems})
    wanted = {measure.pk for measure in uplifts}
    for measure_id, row in existing.items():
        if measure_id not in wanted:
            row.delete()
    for row in changed:
        row.save()


@transaction.atomic
def intervention_type_create(
    *,
    name: str,
    channel: str,
    unit_cost: Decimal,
    capacity: int | None = None,
    active: bool = True,
    uplifts: Mapping[Measure, float],
) -> InterventionType:
    """Add a kind of outreach to the catalog with its uplift (0–1) per member-level measure."""
    intervention_type = InterventionType(
        name=name, channel=channel, unit_cost=unit_cost, capacity=capacity, active=active
    )
    intervention_type.full_clean()
    intervention_type.save()
    _uplifts_set(intervention_type=intervention_type, uplifts=uplifts)
    return intervention_type


@transaction.atomic
def intervention_type_update(
    *,
    intervention_type: InterventionType,
    uplifts: Mapping[Measure, float] | None = None,
    **fields,
) -> InterventionType:
    """Change a catalog entry's attributes and, when `uplifts` is given, replace its uplifts."""
    intervention_type, _ = model_update(
        instance=intervention_type, fields=fields, allowed=INTERVENTION_TYPE_UPDATE_FIELDS
    )
    if uplifts is not None:
        _uplifts_set(intervention_type=intervention_type, uplifts=uplifts)
    return intervention_type


# --- Proposing interventions ---------------------------------------------------------------


class _GapRow(NamedTuple):
    """What the rules need to know about a gap, as stored now."""

    member_id: int
    contract_id: int
    compliance_status: str


def _ids_text(ids: Iterable[int]) -> str:
    return ", ".join(str(pk) for pk in sorted(ids))


def _gap_error(message: str, gap_ids: Iterable[int]) -> ApplicationError:
    gap_ids = sorted(gap_ids)
    return ApplicationError(message, {"fields": {"gaps": [message]}, "gap_ids": gap_ids})


def _selected(model: type[models.Model], objects: Iterable[models.Model]) -> tuple[models.QuerySet, set]:
    """Rows of `model` for `objects`, read afresh; plus the primary keys asked for (if known).

    A queryset (e.g. an admin selection across all pages) is used as a subquery instead of
    being loaded, so no list of keys grows with the selection.
    """
    if isinstance(objects, models.QuerySet):
        return model.objects.filter(pk__in=objects.values("pk")), set()
    wanted = {obj.pk for obj in objects}
    return model.objects.filter(pk__in=wanted), wanted


def _gap_rows(gaps: Iterable[CareGap]) -> dict[int, _GapRow]:
    """The gaps' member, contract and compliance as stored now, not as the caller last read them."""
    selected, wanted = _selected(CareGap, gaps)
    rows = {
        pk: _GapRow(member_id, contract_id, compliance_status)
        for pk, member_id, contract_id, compliance_status in selected.order_by().values_list(
            "pk", "member_id", "contract_id", "compliance_status"
        )
    }
    missing = wanted - rows.keys()
    if missing:
        raise _gap_error(f"Gaps {_ids_text(missing)} do not exist.", missing)
    if not rows:
        raise _gap_error("Choose at least one gap for the intervention to cover.", [])
    return rows


def _check_open(rows: Mapping[int, _GapRow]) -> None:
    not_open = [pk for pk, row in rows.items() if row.compliance_status != ComplianceStatus.OPEN]
    if not_open:
        raise _gap_error(
            f"Gaps {_ids_text(not_open)} are not open; only open gaps are covered by outreach.", not_open
        )


def _check_active(intervention_type: InterventionType) -> None:
    if not intervention_type.active:
        raise ApplicationError(
            f"The intervention type {intervention_type.name!r} is no longer offered.",
            {"fields": {"intervention_type": ["inactive"]}},
        )


def intervention_gaps_check(*, member: Member, gaps: Iterable[CareGap]) -> dict[int, _GapRow]:
    """Raise `ApplicationError` naming the gap ids unless every gap is an open gap of `member`."""
    rows = _gap_rows(gaps)
    foreign = [pk for pk, row in rows.items() if row.member_id != member.pk]
    if foreign:
        raise _gap_error(f"Gaps {_ids_text(foreign)} do not belong to this member.", foreign)
    _check_open(rows)
    return rows


@transaction.atomic
def intervention_create(
    *,
    member: Member,
    intervention_type: InterventionType,
    gaps: list[CareGap],
    created_by: AbstractBaseUser | None,
    notes: str = "",
    scheduled_for: date | None = None,
) -> Intervention:
    """Propose one outreach for a member covering some of their open gaps (a bundle)."""
    _check_active(intervention_type)
    rows = intervention_gaps_check(member=member, gaps=gaps)
    intervention = Intervention(
        member=member,
        contract_id=member.contract_id,
        intervention_type=intervention_type,
        cost=intervention_type.unit_cost,
        created_by=created_by,
        notes=notes,
        scheduled_for=scheduled_for,
    )
    intervention.full_clean()
    intervention.save()
    # A handful of rows: saved one by one so each coverage is audited with its actor.
    for gap_id in sorted(rows):
        InterventionGap(intervention=intervention, gap_id=gap_id).save()
    return intervention


@transaction.atomic
def interventions_create_for_gaps(
    *,
    gaps: Iterable[CareGap],
    intervention_type: InterventionType,
    created_by: AbstractBaseUser | None,
    notes: str = "",
) -> list[Intervention]:
    """Propose one intervention per member, covering all of that member's selected open gaps.

    Set-based, audited with one batch entry: the number of queries does not grow with the
    gaps (bar the batches SQLite's parameter limit imposes on very large bulk inserts).
    """
    _check_active(intervention_type)
    rows = _gap_rows(gaps)
    _check_open(rows)
    bundles: dict[int, list[int]] = defaultdict(list)
    for gap_id in sorted(rows):
        bundles[rows[gap_id].member_id].append(gap_id)
    interventions = [
        Intervention(
            member_id=member_id,
            contract_id=rows[gap_ids[0]].contract_id,
            intervention_type=intervention_type,
            cost=intervention_type.unit_cost,
            created_by=created_by,
            notes=notes,
        )
        for member_id, gap_ids in sorted(bundles.items())
    ]
    # Every row shares type, cost and notes, so validating one validates all; the foreign
    # keys come from rows just read, so their per-row existence queries are skipped.
    interventions[0].full_clean(exclude=["member", "contract", "intervention_type", "created_by"])
    Intervention.objects.bulk_create(interventions)
    InterventionGap.objects.bulk_create(
        InterventionGap(intervention=intervention, gap_id=gap_id)
        for intervention in interventions
        for gap_id in bundles[intervention.member_id]
    )
    log_batch(
        model=Intervention,
        action=LogEntry.Action.CREATE,
        count=len(interventions),
        summary=f"{len(interventions)} {intervention_type.name} interventions proposed for {len(rows)} gaps",
        details={
            "intervention_type": intervention_type.pk,
            "intervention_ids": [intervention.pk for intervention in interventions],
            "gap_ids": sorted(rows),
        },
    )
    return interventions


# --- Moving through the workflow -----------------------------------------------------------


def actor_may_transition(actor: AbstractBaseUser, *, from_status: str, to_status: str) -> bool:
    """Whether the actor's role allows this status change (the workflow is checked separately).

    Approving is a human decision reserved to the approve permission; rejecting a proposal
    (proposed → cancelled) is the approver's call too. Every other move is working the
    intervention, which needs the change permission.
    """
    may_approve = actor.has_perm(APPROVE_PERMISSION)
    if to_status == InterventionStatus.APPROVED:
        return may_approve
    rejecting = from_status == InterventionStatus.PROPOSED and to_status == InterventionStatus.CANCELLED
    return (may_approve and rejecting) or actor.has_perm(CHANGE_PERMISSION)


def _permission_refused(to_status: str) -> PermissionRefused:
    if to_status == InterventionStatus.APPROVED:
        return PermissionRefused("Approving an intervention needs the approve permission.")
    return PermissionRefused(f"You may not move interventions to {to_status}.")


def _status_fields(*, to_status: str, actor: AbstractBaseUser, now: datetime) -> dict:
    """The fields a status change sets besides the status itself."""
    if to_status == InterventionStatus.APPROVED:
        return {"approved_by": actor, "approved_at": now}
    if to_status == InterventionStatus.COMPLETED:
        return {"completed_at": now}
    return {}


def _locked(intervention: Intervention, expected_version: int) -> Intervention:
    """The intervention, locked for update, if it is still at the version the client read."""
    current = Intervention.objects.select_for_update().get(pk=intervention.pk)
    if current.version != expected_version:
        raise ConflictError(
            "This intervention changed since you read it; reload it and try again.",
            {"current_version": current.version, "your_version": expected_version},
        )
    return current


@transaction.atomic
def intervention_update(
    *, intervention: Intervention, expected_version: int, notes: str, scheduled_for: date | None
) -> Intervention:
    """Change an intervention's notes and planned date (status changes go through the workflow)."""
    current = _locked(intervention, expected_version)
    current.notes = notes
    current.scheduled_for = scheduled_for
    current.version += 1
    current.full_clean()
    current.save()
    return current


def _stamp_outreach(*, intervention_ids: list[int], now: datetime) -> None:
    """Record, through `gaps`, that the members were contacted on the gaps these interventions cover."""
    gaps_stamp_outreach(
        gaps=CareGap.objects.filter(coverage__intervention_id__in=intervention_ids),
        at=now,
        details={"intervention_ids": intervention_ids},
    )


@transaction.atomic
def intervention_transition(
    *, intervention: Intervention, to_status: str, actor: AbstractBaseUser, expected_version: int
) -> Intervention:
    """Move an intervention to another status, if the workflow and the actor's role allow it."""
    current = _locked(intervention, expected_version)
    workflow.check_transition(from_status=current.status, to_status=to_status)
    if not actor_may_transition(actor, from_status=current.status, to_status=to_status):
        raise _permission_refused(to_status)
    now = timezone.now()
    current.status = to_status
    for name, value in _status_fields(to_status=to_status, actor=actor, now=now).items():
        setattr(current, name, value)
    current.version += 1
    current.save()
    if to_status in workflow.OUTREACH_MADE:
        _stamp_outreach(intervention_ids=[current.pk], now=now)
    return current


@dataclass(frozen=True)
class BulkTransition:
    """What a bulk status change did: the interventions changed, and why the others were skipped."""

    to_status: str
    changed: list[int]
    skipped: dict[int, str]

    def skipped_reasons(self) -> Counter:
        """How many were skipped for each reason."""
        return Counter(self.skipped.values())


@transaction.atomic
def interventions_transition_bulk(
    *, interventions: Iterable[Intervention], to_status: str, actor: AbstractBaseUser
) -> BulkTransition:
    """Move many interventions to `to_status`; those the workflow or role refuses are skipped.

    Set-based: the selected rows are locked in primary-key order (no deadlock between two
    bulk changes), changed with one UPDATE and audited with one batch entry.
    """
    workflow.check_status(to_status)
    selected, _ = _selected(Intervention, interventions)
    result = BulkTransition(to_status=to_status, changed=[], skipped={})
    for pk, from_status in selected.select_for_update().order_by("pk").values_list("pk", "status"):
        if not workflow.is_allowed(from_status=from_status, to_status=to_status):
            result.skipped[pk] = f"{from_status} cannot go to {to_status}"
        elif not actor_may_transition(actor, from_status=from_status, to_status=to_status):
            result.skipped[pk] = f"you may not move {from_status} interventions to {to_status}"
        else:
            result.changed.append(pk)
    if not result.changed:
        return result
    now = timezone.now()
    Intervention.objects.filter(pk__in=result.changed).update(
        status=to_status,
        version=F("version") + 1,
        updated_at=now,
        **_status_fields(to_status=to_status, actor=actor, now=now),
    )
    log_batch(
        model=Intervention,
        action=LogEntry.Action.UPDATE,
        count=len(result.changed),
        summary=f"{len(result.changed)} interventions moved to {to_status}",
        details={
            "to_status": to_status,
            "intervention_ids": result.changed,
            "skipped": {str(pk): reason for pk, reason in result.skipped.items()},
        },
    )
    if to_status in workflow.OUTREACH_MADE:
        _stamp_outreach(intervention_ids=result.changed, now=now)
    return result


# --- Outcomes ------------------------------------------------------------------------------


@transaction.atomic
def intervention_record_outcomes(*, intervention: Intervention, outcomes: Mapping[int, str]) -> Intervention:
    """Record the data feed's per-gap outcome for gaps this intervention covers.

    An outcome says whether the gap closed after the outreach; it is not what closes the
    gap (the gap's compliance comes from claims, supplemental or EHR data only).
    """
    if not outcomes:
        raise ApplicationError("Give at least one gap outcome.", {"fields": {"outcomes": ["empty"]}})
    unknown = sorted(gap_id for gap_id, outcome in outcomes.items() if outcome not in GapOutcome.values)
    if unknown:
        raise ApplicationError(
            f"Unknown outcomes for gaps {_ids_text(unknown)}; use one of {', '.join(GapOutcome.values)}.",
            {"fields": {"outcomes": ["unknown outcome"]}, "gap_ids": unknown},
        )
    current = Intervention.objects.select_for_update().get(pk=intervention.pk)
    if current.status not in workflow.OUTCOMES_RECORDABLE:
        raise ConflictError(
            f"Outcomes are recorded once outreach is over (completed or failed), not {current.status}.",
            {"fields": {"outcomes": [f"intervention is {current.status}"]}},
        )
    covered = {
        row.gap_id: row
        for row in InterventionGap.objects.select_for_update().filter(
            intervention=current, gap_id__in=list(outcomes)
        )
    }
    uncovered = sorted(set(outcomes) - set(covered))
    if uncovered:
        raise _gap_error(f"Gaps {_ids_text(uncovered)} are not covered by this intervention.", uncovered)
    # A few rows per intervention: saved one by one so each outcome change is audited.
    for gap_id, outcome in outcomes.items():
        row = covered[gap_id]
        if row.outcome != outcome:
            row.outcome = outcome
            row.save(update_fields=["outcome"])
    return current


# --- Recording outreach already done -------------------------------------------------------

# Most gaps one recording may cover: outreach is made member by member, a few gaps each.
MAX_OUTREACH_GAPS = 100


class GapsNotFound(ApplicationError):
    """Gaps that do not exist, or belong to a contract the user cannot see; answered as 404."""

    status_code = status.HTTP_404_NOT_FOUND


def _state_label(state: str) -> str:
    return WorkflowState(state).label


def outreach_time(contacted_on: date) -> datetime:
    """The moment `last_outreach_at` records for outreach made on `contacted_on`: now for today,
    noon of the day for an earlier one."""
    now = timezone.now()
    if contacted_on == timezone.localdate(now):
        return now
    return timezone.make_aware(datetime.combine(contacted_on, time(12)))


def _locked_gaps(*, actor: AbstractBaseUser, versions: Mapping[int, int]) -> list[CareGap]:
    """The user's gaps named in `versions`, locked in id order (no deadlock between two
    recordings), each still at the version the user read."""
    if not versions:
        raise _gap_error("Choose at least one of the member's open gaps.", [])
    if len(versions) > MAX_OUTREACH_GAPS:
        raise _gap_error(f"Record outreach for at most {MAX_OUTREACH_GAPS} gaps at a time.", [])
    gaps = list(
        CareGap.objects.visible_to(actor)
        .select_for_update(of=("self",))
        .select_related("measure", "member")
        .filter(pk__in=list(versions))
        .order_by("pk")
    )
    missing = sorted(set(versions) - {gap.pk for gap in gaps})
    if missing:
        raise GapsNotFound(f"Gaps {_ids_text(missing)} do not exist.", {"gap_ids": missing})
    stale = [gap for gap in gaps if gap.version != versions[gap.pk]]
    if stale:
        raise ConflictError(
            f"{', '.join(str(gap) for gap in stale)} changed since you read "
            f"{'it' if len(stale) == 1 else 'them'}; reload and try again. Nothing was recorded.",
            {
                "gap_ids": [gap.pk for gap in stale],
                "current_versions": {str(gap.pk): gap.version for gap in stale},
            },
        )
    return gaps


def _move_refusal(gap: CareGap, *, outcome: str, target: str) -> str | None:
    """Why the outcome may not move this gap to `target`, in words; None when it may (or it stays)."""
    if gap.compliance_status != ComplianceStatus.OPEN:
        return f"{gap} is {gap.get_compliance_status_display().lower()}: only open gaps are worked"
    if gap.workflow_state == target:
        return None
    try:
        gap_workflow.check_transition(
            from_state=gap.workflow_state, to_state=target, compliance_status=gap.compliance_status
        )
    except gap_workflow.InvalidTransition:
        allowed = [s for s in WorkflowState.values if s in gap_workflow.TRANSITIONS[gap.workflow_state]]
        return (
            f"outcome “{OutreachOutcome(outcome).label}” would move {gap} from "
            f"{_state_label(gap.workflow_state)} to {_state_label(target)}, which the workflow does not "
            f"allow (from {_state_label(gap.workflow_state)}: "
            f"{', '.join(_state_label(s) for s in allowed) or 'no move'})"
        )
    return None


def _check_moves(gaps: list[CareGap], *, outcome: str, target: str) -> None:
    refusals = [
        (gap.pk, reason)
        for gap in gaps
        if (reason := _move_refusal(gap, outcome=outcome, target=target)) is not None
    ]
    if refusals:
        message = "Nothing was recorded: " + "; ".join(reason for _, reason in refusals) + "."
        raise gap_workflow.InvalidTransition(
            message, {"fields": {"gaps": [message]}, "gap_ids": [pk for pk, _ in refusals]}
        )


def _check_contacted_on(contacted_on: date) -> None:
    if contacted_on > timezone.localdate():
        message = "The outreach date is in the future; record outreach once it is done."
        raise ApplicationError(message, {"fields": {"contacted_on": [message]}})


def _stamp_last_outreach(*, gaps: list[CareGap], at: datetime, record_ids: list[int]) -> None:
    """Each gap's last outreach becomes the later of the one it had and `at` (through `gaps`)."""
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for gap in gaps:
        by_time[max(gap.last_outreach_at or at, at)].append(gap.pk)
    for when, gap_ids in sorted(by_time.items()):
        gaps_stamp_outreach(
            gaps=CareGap.objects.filter(pk__in=gap_ids),
            at=when,
            details={"outreach_record_ids": record_ids},
        )


@transaction.atomic
def outreach_records_create(
    *,
    actor: AbstractBaseUser,
    versions: Mapping[int, int],
    channel: str,
    outcome: str,
    contacted_on: date,
    note: str = "",
    one_member: bool = True,
) -> list[OutreachRecord]:
    """Record outreach already made, one record per member, and move each gap as its outcome says.

    `versions` maps each gap id to the version the user read (a stale one is a 409). Gaps the
    user cannot see are a 404. Each gap moves to `workflow.OUTCOME_STATES[outcome]` (staying
    put if it is there already) and its last outreach is stamped; if the workflow forbids the
    move for any gap, or a gap is not open, nothing is recorded and the refusal names each gap.
    With `one_member`, the gaps must all be one member's (the API's one record). Audited: the
    records, each covered gap's move and the gaps' workflow changes entry by entry, the last
    outreach stamps in one batch entry per record set.
    """
    _check_contacted_on(contacted_on)
    if outcome not in workflow.OUTCOME_STATES:
        raise ApplicationError(
            f"Unknown outcome {outcome!r}.",
            {"fields": {"outcome": [f"use one of {', '.join(OutreachOutcome.values)}"]}},
        )
    gaps = _locked_gaps(actor=actor, versions=versions)
    by_member: dict[int, list[CareGap]] = defaultdict(list)
    for gap in gaps:
        by_member[gap.member_id].append(gap)
    if one_member and len(by_member) > 1:
        raise _gap_error(
            "These gaps belong to different members; record each member's outreach on its own.",
            [gap.pk for gap in gaps],
        )
    target = workflow.OUTCOME_STATES[outcome]
    _check_moves(gaps, outcome=outcome, target=target)
    records = []
    for member_id, member_gaps in sorted(by_member.items()):
        record = OutreachRecord(
            member_id=member_id,
            contract_id=member_gaps[0].contract_id,
            channel=channel,
            outcome=outcome,
            contacted_on=contacted_on,
            note=note,
            recorded_by=actor,
        )
        record.full_clean(exclude=["member", "contract", "recorded_by"])
        record.save()
        # A few gaps per member: each move is saved on its own, so each is audited with its actor.
        for gap in member_gaps:
            before = gap.workflow_state
            if before != target:
                gap_set_workflow_state(gap=gap, workflow_state=target, expected_version=gap.version)
            OutreachGap(record=record, gap=gap, state_before=before, state_after=target).save()
        records.append(record)
    _stamp_last_outreach(gaps=gaps, at=outreach_time(contacted_on), record_ids=[r.pk for r in records])
    return records

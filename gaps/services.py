"""Writes on care gaps: assign, move through the workflow, remark — one at a time or in bulk.

`gaps` owns the `CareGap` table: every write to it, raw SQL included, is a service here (or in
`gaps/importing.py`, the gap file import); other apps call these services
(`tests/gaps/test_ownership.py` checks the source). The rule for each kind of write:

- What a care manager could conflict with (workflow state, assignee, last outreach) bumps
  `version`. Single-gap writes check the version the client read (optimistic concurrency: a
  stale write is a 409, never a lost update) and are audited per change by django-auditlog.
  Bulk writes and outreach stamping are set-based (one UPDATE) and audited with one batch entry
  (`hedis_portal.audit.log_batch`).
- Derived fields (`current_prediction`, the pointer at the latest prediction, and `risk_tier`, its
  tier; `priority_score` and `priority_rank`)
  do not bump `version` and are not audited per gap: the system recomputes them after every
  prediction upsert or optimizer run, and a recomputation must not make a care manager's open
  form stale. The prediction batch and the optimizer run that caused them are the record.
- New gaps (the gap file import, the demo data, the benchmark's plans) are created in batches
  with one batch entry.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np
from auditlog.models import LogEntry
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from gaps import workflow
from gaps.models import CareGap, ComplianceStatus, GapRemark, RemarkCode, WorkflowState
from hedis_portal.audit import log_batch
from hedis_portal.errors import ApplicationError, ConflictError
from members.models import Contract
from predictions.models import Prediction


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


def gaps_stamp_outreach(*, gaps: QuerySet[CareGap], at: datetime, details: Mapping) -> int:
    """Record that the members were contacted on `gaps`: one UPDATE, one audit entry; how many.

    Only `last_outreach_at` (and `version`, which a care manager's form checks) is written:
    outreach never changes compliance, which only data does. Runs in the caller's transaction.
    """
    stamped = gaps.update(last_outreach_at=at, version=F("version") + 1, updated_at=at)
    if stamped:
        log_batch(
            model=CareGap,
            action=LogEntry.Action.UPDATE,
            count=stamped,
            summary=f"last outreach recorded on {stamped} gaps",
            details={"field": "last_outreach_at", **details},
        )
    return stamped


def gaps_point_at_latest_predictions(
    *, member_ids: Iterable[int], measure_ids: Iterable[int], measurement_years: Iterable[int]
) -> int:
    """Point each gap of these members × measures × years at its latest prediction, and copy its
    risk tier, in one UPDATE.

    "Latest" is the highest `predicted_at`, then the highest id, across model versions. The
    filter by members, measures and years may take in a few gaps the caller did not touch;
    recomputing theirs is harmless (the subquery gives their latest too), and rows whose
    pointer and tier are already right are left alone (a re-score can change the tier of the
    prediction a gap already points at). Derived fields: no version bump, no audit.

    The portable path, for SQLite, where a write transaction holds the whole database: no other
    batch can repoint these gaps meanwhile. PostgreSQL's batches use
    `gaps_point_at_latest_predictions_from_table`, which locks the gaps first.
    """
    latest = Prediction.objects.filter(
        member_id=OuterRef("member_id"),
        measure_id=OuterRef("measure_id"),
        measurement_year=OuterRef("measurement_year"),
    ).order_by("-predicted_at", "-id")
    latest_id, latest_tier = Subquery(latest.values("id")[:1]), Subquery(latest.values("risk_tier")[:1])
    return (
        CareGap.objects.filter(
            member_id__in=set(member_ids),
            measure_id__in=set(measure_ids),
            measurement_year__in=set(measurement_years),
        )
        .filter(
            Q(current_prediction__isnull=True)
            | ~Q(current_prediction_id=latest_id)
            | ~Q(risk_tier=latest_tier)
        )
        .update(current_prediction=latest_id, risk_tier=latest_tier)
    )


# Concurrent batches for the same gaps (each model version uploads its own) would otherwise update
# them in the order of each one's plan (a hash join scans the gaps in their order on disk, which
# every update changes) and deadlock. Every batch locks its gaps in the order of their ids first,
# in the mode its UPDATE takes (FOR NO KEY UPDATE, which lets foreign-key checks on the gaps pass).
# The count keeps the ids on the server.
_LOCK_GAPS = """
SELECT count(*) FROM (
    SELECT gap.id FROM gaps_caregap AS gap
    JOIN (SELECT DISTINCT member_id, measure_id, measurement_year FROM {keys_table}) AS batch_key
      ON gap.member_id = batch_key.member_id
     AND gap.measure_id = batch_key.measure_id
     AND gap.measurement_year = batch_key.measurement_year
    ORDER BY gap.id
    FOR NO KEY UPDATE OF gap
) AS locked
"""

# Run after `_LOCK_GAPS`, as a statement of its own: under READ COMMITTED a statement reads from a
# snapshot taken as it starts, so this one sees every prediction committed by the batches that held
# these gaps before, and a gap ends at the data's latest prediction whichever batch commits last. A
# lone UPDATE reads from a snapshot taken before it waited for those batches: the last to commit
# pointed the gaps at the latest it saw, which could be older (issue #14).
#
# Each (member, measure, year) of the keys table looks up its latest prediction once, through the
# `prediction_latest` index, and only gaps whose pointer differs are written, in the order of
# the unique index (rather than in hash order, so that neighbouring index pages stay hot). The correlated
# subquery this replaces ran twice per gap (in SET and in WHERE) over every gap of the batch's
# members × measures × years. "Latest" is the highest predicted_at, then the highest id, across
# model versions, and it is looked up in the table, not only among the batch's rows: a re-score
# that moves a prediction's time backwards can make another, older row the latest again. The
# latest's tier is copied with the pointer, and a re-score that changes only the tier rewrites the
# gap too.
_REPOINT_GAPS = """
UPDATE gaps_caregap AS gap SET current_prediction_id = latest.id, risk_tier = latest.risk_tier
FROM (
    SELECT DISTINCT member_id, measure_id, measurement_year FROM {keys_table} ORDER BY 1, 2, 3
) AS batch_key
CROSS JOIN LATERAL (
    SELECT prediction.id, prediction.risk_tier FROM predictions_prediction AS prediction
    WHERE prediction.member_id = batch_key.member_id
      AND prediction.measure_id = batch_key.measure_id
      AND prediction.measurement_year = batch_key.measurement_year
    ORDER BY prediction.predicted_at DESC, prediction.id DESC
    LIMIT 1
) AS latest
WHERE gap.member_id = batch_key.member_id
  AND gap.measure_id = batch_key.measure_id
  AND gap.measurement_year = batch_key.measurement_year
  AND (gap.current_prediction_id, gap.risk_tier) IS DISTINCT FROM (latest.id, latest.risk_tier)
"""


def gaps_point_at_latest_predictions_from_table(*, cursor: CursorWrapper, keys_table: str) -> int:
    """PostgreSQL: the same repointing for the (member_id, measure_id, measurement_year) rows of a
    table the caller filled (a temporary table loaded by COPY), in two statements on its cursor.

    Safe against concurrent batches for the same gaps: they wait for each other instead of
    deadlocking, and the gaps end at their latest prediction whichever commits last (see
    `_LOCK_GAPS`). The locks are held until the caller's transaction ends.
    """
    if not keys_table.isidentifier():
        raise ValueError(f"not a table name: {keys_table!r}")
    cursor.execute(_LOCK_GAPS.format(keys_table=keys_table))
    cursor.execute(_REPOINT_GAPS.format(keys_table=keys_table))
    return cursor.rowcount


def priority_ranks(gap_ids: Sequence[int], priorities: Sequence[float]) -> list[int]:
    """Each gap's rank 1-100 among `gap_ids`, in the worklist's order (highest priority first, then
    the newest gap): the gap at position i of n ranks i × 100 // n + 1, so 1 is the top 1 %."""
    ids, scores = np.asarray(gap_ids, dtype=np.int64), np.asarray(priorities, dtype=np.float64)
    ranks = np.empty(ids.size, dtype=np.int64)
    ranks[np.lexsort((-ids, -scores))] = np.arange(ids.size) * 100 // max(ids.size, 1) + 1
    return ranks.tolist()


# Only the gaps whose priority or rank changed are written: an UPDATE of a gap rewrites its row and
# adds an entry to each of the table's indexes (fourteen, two of them partial; `priority_score` is
# in seven of them, so it is never a HOT update): 16-34 s for the 283,000 open gaps of the
# 200,000-member benchmark plan (when the table had eight), against about 1 s to compare them.
# The arrays go as three text literals: psycopg adapts a list element by element (2.2-2.6 s for
# those gaps' three arrays, against 0.7-1.0 s sent as text and parsed by the server). The join
# is limited to the contract's open gaps of the year, so an id from another contract, or of a gap
# closed since the run read it, is never written.
_SET_PRIORITIES = """
UPDATE gaps_caregap AS gap SET priority_score = new.score, priority_rank = new.rank
FROM unnest(%s::text::bigint[], %s::text::double precision[], %s::text::smallint[]) AS new (id, score, rank)
WHERE gap.id = new.id
  AND gap.contract_id = %s AND gap.measurement_year = %s AND gap.compliance_status = %s
  AND (gap.priority_score, gap.priority_rank) IS DISTINCT FROM (new.score, new.rank)
"""


def _array_literal(values: np.ndarray) -> str:
    """A PostgreSQL array literal of numbers; `repr` keeps every float exact (shortest round trip)."""
    return "{" + ",".join(map(repr, values.tolist())) + "}"


def gaps_set_priorities(
    *, contract: Contract, measurement_year: int, gap_ids: Sequence[int], priorities: Sequence[float]
) -> int:
    """Store the priority of every open gap of a contract's measurement year, in expected stars per
    `PRIORITY_DOLLARS`, with its rank (`priority_ranks`); the year's other gaps (closed, excluded,
    not applicable) lose theirs. Writes only the gaps whose priority or rank changed, and only
    the contract's open gaps of the year; returns how many it wrote.

    Derived fields, recomputed by every optimizer run: no version bump, no audit.
    """
    ids = np.asarray(gap_ids, dtype=np.int64)
    scores = np.asarray(priorities, dtype=np.float64)
    ranks = np.asarray(priority_ranks(ids, scores), dtype=np.int64)
    CareGap.objects.filter(contract=contract, measurement_year=measurement_year).exclude(
        compliance_status=ComplianceStatus.OPEN
    ).exclude(priority_rank=None).update(priority_score=0, priority_rank=None)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _SET_PRIORITIES,
                [
                    _array_literal(ids),
                    _array_literal(scores),
                    _array_literal(ranks),
                    contract.pk,
                    measurement_year,
                    ComplianceStatus.OPEN,
                ],
            )
            return cursor.rowcount
    stored = {
        pk: (score, rank)
        for pk, score, rank in CareGap.objects.filter(
            contract=contract, measurement_year=measurement_year, compliance_status=ComplianceStatus.OPEN
        ).values_list("pk", "priority_score", "priority_rank")
    }
    gaps = [
        CareGap(pk=pk, priority_score=score, priority_rank=rank)
        for pk, score, rank in zip(ids.tolist(), scores.tolist(), ranks.tolist(), strict=True)
        if pk in stored and stored[pk] != (score, rank)
    ]
    CareGap.objects.bulk_update(gaps, ["priority_score", "priority_rank"], batch_size=2000)
    return len(gaps)


def gaps_copy_in(
    *, cursor: CursorWrapper, columns: Sequence[str], rows: Iterable[Sequence], summary: str, details: Mapping
) -> int:
    """COPY new gaps (`rows`, in `columns` order) into the table, with one audit entry for them all.

    PostgreSQL only, for plans too large for `gaps_create_bulk` (the benchmark's: COPY is about
    three times faster than `bulk_create` and builds no model instances). Returns the rows written.
    """
    table = connection.ops.quote_name(CareGap._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in columns)
    count = 0
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    log_batch(
        model=CareGap, action=LogEntry.Action.CREATE, count=count, summary=summary, details=dict(details)
    )
    return count


def gaps_delete_for_contract(*, cursor: CursorWrapper, contract_id: int, summary: str) -> int:
    """Delete every gap of a contract and their remarks in two statements, with one audit entry.

    For removing a whole plan (the benchmark's synthetic contract); through the ORM each of a
    million gaps would be loaded, cascaded and audited one by one. Returns the gaps deleted.
    """
    quote = connection.ops.quote_name
    gaps, remarks = CareGap._meta, GapRemark._meta
    cursor.execute(
        f"DELETE FROM {quote(remarks.db_table)} WHERE {quote(remarks.get_field('gap').column)} IN "
        f"(SELECT id FROM {quote(gaps.db_table)} WHERE contract_id = %s)",
        [contract_id],
    )
    cursor.execute(f"DELETE FROM {quote(gaps.db_table)} WHERE contract_id = %s", [contract_id])
    count = cursor.rowcount
    log_batch(model=CareGap, action=LogEntry.Action.DELETE, count=count, summary=summary, details={})
    return count


def gaps_create_bulk(*, gaps: list[CareGap], summary: str, details: Mapping) -> list[CareGap]:
    """Insert new gaps in batches of 5,000 rows, with one audit entry for them all."""
    created = CareGap.objects.bulk_create(gaps, batch_size=5000)
    log_batch(
        model=CareGap,
        action=LogEntry.Action.CREATE,
        count=len(created),
        summary=summary,
        details=dict(details),
    )
    return created

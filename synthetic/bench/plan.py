"""The benchmark's synthetic plan: one dedicated contract loaded with COPY, and its removal.

Everything the bench creates belongs to contract `H0000` (no CMS contract carries that number),
to its `bench.*` users or to the `[bench] …` intervention types, so dropping it touches no other
contract's rows. A plan of N members has 6 gaps per member on the member-level measures that have
cut points, a compliance mix 0 to 12 points below each measure's 4-star cut point (3 % excluded,
1 % no longer in the denominator), one prediction per gap (`current_prediction` points at it), a
care manager assigned to the contract with some gaps in her name, outreach for 3 % of members,
and contract-level scores at 2 to 4 stars: a contract rated 3.0 today and expected at 3.5, just
under the 4-star boundary, where the optimizer has something to decide.

Rows are generated with NumPy and written with psycopg 3 `COPY … FROM STDIN` into primary keys
reserved from each table's own sequence, so gaps can point at their predictions without a second
pass over a million rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.models import ForeignKey
from django.utils import timezone
from knox.models import AuthToken

from gaps.importing import SNAPSHOT_REASON
from gaps.models import CareGap, ComplianceStatus, WorkflowState
from hedis_portal import roles
from hedis_portal.models import ApiRequestLog
from interventions.models import Channel, Intervention, InterventionGap, InterventionType, InterventionUplift
from members.identifiers import member_id_hash
from members.models import Contract, Member
from predictions.models import Prediction
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR
from ratings.live.services import contract_measure_score_create
from ratings.models import CmsDataImport, CutPoint

BENCH_CONTRACT_ID = "H0000"
BENCH_USERS = {
    "care_manager": ("bench.care-manager", roles.CARE_MANAGER),
    "analyst": ("bench.analyst", roles.QUALITY_ANALYST),
    "administrator": ("bench.administrator", roles.ADMINISTRATOR),
}
BENCH_TYPE_PREFIX = "[bench] "
MODEL_VERSION = "bench-gbm-1"
GAPS_PER_MEMBER = 6
TOP_FEATURES = '["prior_year_compliance", "pcp_visits_ytd", "months_enrolled"]'
EXCLUSION_REASONS = np.array(["Hospice", "Advanced illness and frailty", "Palliative care"], dtype=object)
EVIDENCE_SOURCES = np.array(["claims", "supplemental", "ehr", "lab"], dtype=object)
# Open gaps' workflow states and their shares: most are untouched, some are being worked.
OPEN_STATES = np.array(
    [
        WorkflowState.NEW,
        WorkflowState.ASSIGNED,
        WorkflowState.OUTREACH_ATTEMPTED,
        WorkflowState.SCHEDULED,
        WorkflowState.AWAITING_DATA,
    ],
    dtype=object,
)
OPEN_STATE_SHARES = [0.70, 0.15, 0.08, 0.04, 0.03]
# How many members of an MA population are in each measure's denominator, relative to one another.
PREVALENCE = {
    "COL": 3.0,
    "BCS": 2.0,
    "CBP": 3.0,
    "ADH-STATIN": 2.5,
    "ADH-RAS": 2.5,
    "SUPD": 1.5,
    "ADH-DIAB": 1.5,
    "EED": 1.5,
    "GSD": 1.5,
    "KED": 1.5,
    "SPC": 1.0,
    "TRC": 0.8,
    "FMC": 0.6,
    "MRP": 0.8,
    "OMW": 0.3,
    "COA-MR": 0.5,
    "COA-PS": 0.5,
}
# name → (channel, unit cost, capacity, {measure code: uplift in closure probability})
BENCH_INTERVENTION_TYPES = {
    "Care manager phone call": (
        Channel.PHONE,
        25,
        None,
        {"BCS": 0.08, "COL": 0.08, "CBP": 0.05, "EED": 0.06},
    ),
    "Mailed FIT kit": (Channel.MAIL, 18, None, {"COL": 0.15}),
    "In-home health assessment": (
        Channel.HOME_VISIT,
        250,
        None,
        {"COA-MR": 0.55, "COA-PS": 0.55, "EED": 0.25, "KED": 0.40, "GSD": 0.20, "CBP": 0.30, "TRC": 0.30},
    ),
    "Pharmacist adherence outreach": (
        Channel.PHARMACY,
        40,
        None,
        {"ADH-DIAB": 0.12, "ADH-RAS": 0.12, "ADH-STATIN": 0.12, "SUPD": 0.20, "SPC": 0.15},
    ),
}
OUTREACH_SHARE = 0.03


def raw_member_id(number: int) -> str:
    """The made-up plan member ID of the bench's member `number` (0-based); hashed like a real one."""
    return f"BENCH-{number:09d}"


@dataclass
class BenchPlan:
    """The synthetic plan: its contract, users and tokens, and the generated rows kept as arrays.

    Gap i (primary key `gap_pks[i]`) belongs to member `gap_member[i]` (0-based member number;
    its primary key is `member_pks[gap_member[i]]`) and is on measure `gap_measure_code[i]`.
    """

    contract: Contract
    measurement_year: int
    users: dict[str, User]
    tokens: dict[str, str]
    member_pks: np.ndarray
    measure_pks: dict[str, int]
    gap_pks: np.ndarray
    gap_member: np.ndarray
    gap_measure_code: np.ndarray
    gap_status: np.ndarray
    gap_exclusion_reason: np.ndarray
    gap_evidence_date: np.ndarray
    gap_evidence_source: np.ndarray
    outreach_members: np.ndarray

    @property
    def member_count(self) -> int:
        """Members in the plan."""
        return len(self.member_pks)

    @property
    def gap_count(self) -> int:
        """Gaps (and predictions: one per gap) in the plan."""
        return len(self.gap_pks)


def _reserve_ids(cursor, model, count: int) -> np.ndarray:
    """`count` fresh primary keys from the table's own sequence, so concurrent writers never collide."""
    table = model._meta.db_table
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
    )
    return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64, count=count)


def _copy(cursor, model, columns: list[str], rows) -> None:
    """COPY `rows` (tuples in `columns` order) into the model's table."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(name) for name in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _ensure_cut_points() -> None:
    """Load CMS's 2026 cut points and national benchmark when no star year is loaded (reference data)."""
    if CutPoint.objects.exists() or CmsDataImport.objects.exists():
        return
    cms_star_data_import(star_year=2026, paths=sorted((DATA_DIR / "2026").glob("*.csv")), source="bench")


def _latest_cut_points():
    """Cut points of the latest loaded star year, for all contracts or MA-PD ones (the bench's type)."""
    latest = CutPoint.objects.order_by("-edition__star_year").values_list("edition__star_year", flat=True)[:1]
    return CutPoint.objects.filter(
        edition__star_year__in=list(latest), org_type__in=[CutPoint.OrgType.ALL, CutPoint.OrgType.MA_PD]
    )


def _measures_with_cut_points() -> tuple[dict[str, int], dict[str, float]]:
    """Member-level measures that the latest loaded cut points rate: primary keys and 4-star cut points."""
    rows = (
        _latest_cut_points()
        .filter(
            edition__measure__member_level=True,
        )
        .values_list("edition__measure__code", "edition__measure_id", "four_star")
    )
    pks = {code: pk for code, pk, _ in rows}
    four_star = {code: float(value) for code, _, value in rows}
    return pks, four_star


def _users() -> tuple[dict[str, User], dict[str, str]]:
    """The bench's users (one per role; assigned to the bench contract only) and an API token each."""
    users, tokens = {}, {}
    for key, (username, role) in BENCH_USERS.items():
        # No password: the bench users sign in with their tokens only.
        user = User.objects.create_user(username=username, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[key] = user
        tokens[key] = AuthToken.objects.create(user=user)[1]
    return users, tokens


def _intervention_types(measure_pks: dict[str, int]) -> list[InterventionType]:
    """The bench's own intervention catalog entries (removed with the plan)."""
    created = []
    for name, (channel, unit_cost, capacity, uplifts) in BENCH_INTERVENTION_TYPES.items():
        kind = InterventionType.objects.create(
            name=BENCH_TYPE_PREFIX + name, channel=channel, unit_cost=unit_cost, capacity=capacity
        )
        InterventionUplift.objects.bulk_create(
            InterventionUplift(intervention_type=kind, measure_id=measure_pks[code], uplift=uplift)
            for code, uplift in uplifts.items()
            if code in measure_pks
        )
        created.append(kind)
    return created


def _contract_level_scores(contract: Contract, measurement_year: int, analyst: User, rng) -> None:
    """Scores for the measures not computed from gaps (CAHPS, HOS, complaints, …) at 2 to 4 stars.

    Without them the contract has too few rated measures for an overall rating. Each score sits
    on the latest cut points' threshold for its star level (just past it when the threshold is
    exclusive), for star year = measurement year + 2.
    """
    cut_points = (
        _latest_cut_points().filter(edition__measure__member_level=False).select_related("edition__measure")
    )
    for cut in cut_points:
        stars = int(rng.choice([2, 3, 3, 4, 4]))
        name = dict(CutPoint.LEVELS)[stars]
        score = getattr(cut, name)
        if not getattr(cut, f"{name}_inclusive"):
            step = Decimal(1).scaleb(-cut.decimals)
            score = score + step if cut.direction == "higher" else score - step
        contract_measure_score_create(
            contract=contract,
            star_year=measurement_year + 2,
            measure=cut.edition.measure,
            score=score,
            note=f"Benchmark figure at the {stars}-star level",
            entered_by=analyst,
        )


def plan_create(*, members: int, measurement_year: int, seed: int = 2026) -> BenchPlan:
    """Create the bench contract with `members` members and their gaps, predictions and outreach.

    The bench administrator is the audit actor of everything created here, so the audit entries
    of the load leave with the plan.
    """
    plan_drop()
    _ensure_cut_points()
    rng = np.random.default_rng(seed)
    measure_pks, four_star = _measures_with_cut_points()
    now = timezone.now()
    with transaction.atomic():
        users, tokens = _users()
        with set_actor(users["administrator"]):
            contract = Contract.objects.create(
                contract_id=BENCH_CONTRACT_ID,
                name="Benchmark plan (synthetic)",
                organization_type=Contract.OrganizationType.MA_PD,
                snp=True,
                enrollment=members,
                lis_de_percent=Decimal("25.00"),
                disability_percent=Decimal("20.00"),
            )
            contract.users.add(*users.values())
            kinds = _intervention_types(measure_pks)
            _contract_level_scores(contract, measurement_year, users["analyst"], rng)
        with connection.cursor() as cursor:
            member_pks, female = _copy_members(cursor, contract, members, rng, now.isoformat())
            plan = _copy_gaps_and_predictions(
                cursor,
                contract,
                member_pks,
                female,
                measure_pks,
                four_star,
                measurement_year,
                users,
                rng,
                now,
            )
            plan.users, plan.tokens = users, tokens
            plan.outreach_members = _copy_interventions(cursor, plan, kinds, rng, now)
    plan_vacuum()
    return plan


def _copy_members(cursor, contract: Contract, count: int, rng, now: str) -> tuple[np.ndarray, np.ndarray]:
    """COPY the members; return their primary keys in member-number order, and who is a woman."""
    pks = _reserve_ids(cursor, Member, count)
    birth_years = rng.integers(1930, 1961, count)
    female = rng.random(count) < 0.56
    sexes = np.where(female, "F", "M")
    lis_de = rng.random(count) < 0.25
    disability = rng.random(count) < 0.20
    _copy(
        cursor,
        Member,
        [
            "id",
            "id_hash",
            "contract_id",
            "birth_year",
            "sex",
            "lis_de",
            "disability",
            "active",
            "created_at",
            "updated_at",
        ],
        zip(
            pks.tolist(),
            [member_id_hash(raw_member_id(number)) for number in range(count)],
            [contract.pk] * count,
            birth_years.tolist(),
            sexes.tolist(),
            lis_de.tolist(),
            disability.tolist(),
            [True] * count,
            [now] * count,
            [now] * count,
            strict=True,
        ),
    )
    return pks, female


def _pick_measures(rng, codes: list[str], female: np.ndarray) -> np.ndarray:
    """6 distinct measures per member, weighted by prevalence (breast cancer screening: women only).

    Gumbel top-k: adding Gumbel noise to log weights and keeping the k largest draws k measures
    without replacement in proportion to their weights, for every member at once.
    """
    weights = np.log(np.array([PREVALENCE.get(code, 1.0) for code in codes]))
    keys = weights[None, :] + rng.gumbel(size=(len(female), len(codes)))
    if "BCS" in codes:
        keys[~female, codes.index("BCS")] = -np.inf
    per_member = min(GAPS_PER_MEMBER, len(codes) - 1)
    return np.argpartition(-keys, per_member, axis=1)[:, :per_member]


def _copy_gaps_and_predictions(
    cursor, contract, member_pks, female, measure_pks, four_star, measurement_year, users, rng, now
) -> BenchPlan:
    """COPY one prediction per gap, then the gaps pointing at them; return the plan's arrays."""
    codes = sorted(measure_pks)
    chosen = _pick_measures(rng, codes, female)
    count = chosen.size
    gap_member = np.repeat(np.arange(len(member_pks)), chosen.shape[1])
    gap_code_index = chosen.ravel()
    gap_measure_code = np.array(codes, dtype=object)[gap_code_index]
    measure_ids = np.array([measure_pks[code] for code in codes])[gap_code_index]

    # Each measure's closed share sits 0 to 12 points under its 4-star cut point.
    offsets = rng.choice([-0.12, -0.09, -0.06, -0.03, 0.0], size=len(codes))
    closed_share = np.clip(np.array([four_star[c] / 100 for c in codes]) + offsets, 0.05, 0.97)
    draw = rng.random(count)
    status = np.full(count, ComplianceStatus.OPEN.value, dtype=object)
    status[draw < 0.04 + closed_share[gap_code_index] * 0.96] = ComplianceStatus.CLOSED.value
    status[draw < 0.04] = ComplianceStatus.NOT_APPLICABLE.value
    status[draw < 0.03] = ComplianceStatus.EXCLUDED.value
    is_open = status == ComplianceStatus.OPEN.value
    is_closed = status == ComplianceStatus.CLOSED.value
    is_excluded = status == ComplianceStatus.EXCLUDED.value

    exclusion_reason = np.where(is_excluded, rng.choice(EXCLUSION_REASONS, count), "")
    days_so_far = max(1, min(330, (timezone.localdate() - date(measurement_year, 1, 1)).days))
    evidence_days = rng.integers(0, days_so_far, count)
    first_day = date(measurement_year, 1, 1)
    evidence_date = np.array(
        [
            (first_day + timedelta(days=int(d))).isoformat() if c else None
            for d, c in zip(evidence_days, is_closed, strict=True)
        ],
        dtype=object,
    )
    evidence_source = np.where(is_closed, rng.choice(EVIDENCE_SOURCES, count), "")
    workflow = np.full(count, WorkflowState.RESOLVED.value, dtype=object)
    workflow[is_open] = rng.choice(OPEN_STATES, int(is_open.sum()), p=OPEN_STATE_SHARES)
    care_manager = users["care_manager"].pk
    assignee = np.where(is_open & (workflow != WorkflowState.NEW.value), care_manager, None)
    status_reason = np.where(status == ComplianceStatus.NOT_APPLICABLE.value, SNAPSHOT_REASON, "")

    probability = np.round(rng.beta(1.5, 4, count), 3)
    risk_tier = np.where(probability < 0.3, "high", np.where(probability < 0.6, "medium", "low"))
    priority = np.where(is_open, np.round(probability * rng.uniform(0.5, 3.0, count), 6), 0.0)

    prediction_pks = _reserve_ids(cursor, Prediction, count)
    gap_pks = _reserve_ids(cursor, CareGap, count)
    member_ids = member_pks[gap_member].tolist()
    # Timestamps go to COPY as text: formatting a million datetimes would cost seconds.
    predicted_at = (now - timedelta(days=1)).isoformat()
    stamp = now.isoformat()
    _copy(
        cursor,
        Prediction,
        [
            "id",
            "member_id",
            "contract_id",
            "measure_id",
            "measurement_year",
            "model_version",
            "probability",
            "risk_tier",
            "top_features",
            "predicted_at",
            "created_at",
        ],
        zip(
            prediction_pks.tolist(),
            member_ids,
            [contract.pk] * count,
            measure_ids.tolist(),
            [measurement_year] * count,
            [MODEL_VERSION] * count,
            probability.tolist(),
            risk_tier.tolist(),
            [TOP_FEATURES] * count,
            [predicted_at] * count,
            [stamp] * count,
            strict=True,
        ),
    )
    _copy(
        cursor,
        CareGap,
        [
            "id",
            "member_id",
            "contract_id",
            "measure_id",
            "measurement_year",
            "compliance_status",
            "status_reason",
            "exclusion_reason",
            "evidence_date",
            "evidence_source",
            "workflow_state",
            "assignee_id",
            "priority_score",
            "current_prediction_id",
            "version",
            "created_at",
            "updated_at",
        ],
        zip(
            gap_pks.tolist(),
            member_ids,
            [contract.pk] * count,
            measure_ids.tolist(),
            [measurement_year] * count,
            status.tolist(),
            status_reason.tolist(),
            exclusion_reason.tolist(),
            evidence_date.tolist(),
            evidence_source.tolist(),
            workflow.tolist(),
            assignee.tolist(),
            priority.tolist(),
            prediction_pks.tolist(),
            [1] * count,
            [stamp] * count,
            [stamp] * count,
            strict=True,
        ),
    )
    return BenchPlan(
        contract=contract,
        measurement_year=measurement_year,
        users={},
        tokens={},
        member_pks=member_pks,
        measure_pks=measure_pks,
        gap_pks=gap_pks,
        gap_member=gap_member,
        gap_measure_code=gap_measure_code,
        gap_status=status,
        gap_exclusion_reason=exclusion_reason,
        gap_evidence_date=evidence_date,
        gap_evidence_source=evidence_source,
        outreach_members=np.empty(0, dtype=np.int64),
    )


def _copy_interventions(cursor, plan: BenchPlan, kinds: list[InterventionType], rng, now) -> np.ndarray:
    """COPY outreach for 3 % of members: one intervention covering up to three of their open gaps."""
    open_gap = plan.gap_status == ComplianceStatus.OPEN.value
    per_member = plan.gap_pks.size // plan.member_count
    open_by_member = open_gap.reshape(plan.member_count, per_member)
    candidates = np.flatnonzero(open_by_member.any(axis=1))
    chosen = np.sort(rng.choice(candidates, max(1, int(plan.member_count * OUTREACH_SHARE)), replace=False))
    intervention_pks = _reserve_ids(cursor, Intervention, len(chosen))
    kind_index = rng.integers(0, len(kinds), len(chosen))
    statuses = rng.choice(
        ["proposed", "approved", "scheduled", "completed"], len(chosen), p=[0.4, 0.2, 0.2, 0.2]
    )
    care_manager = plan.users["care_manager"].pk
    analyst = plan.users["analyst"].pk
    interventions, covered = [], []
    for pk, member, kind, status in zip(intervention_pks.tolist(), chosen, kind_index, statuses, strict=True):
        approved = status != "proposed"
        interventions.append(
            (
                pk,
                int(plan.member_pks[member]),
                plan.contract.pk,
                kinds[kind].pk,
                status,
                kinds[kind].unit_cost,
                now.date() + timedelta(days=14) if status == "scheduled" else None,
                now if status == "completed" else None,
                analyst if approved else None,
                now if approved else None,
                care_manager,
                "",
                1,
                now,
                now,
            )
        )
        gaps = plan.gap_pks[member * per_member : (member + 1) * per_member][open_by_member[member]]
        covered.extend((pk, int(gap), "pending") for gap in gaps[:3])
    _copy(
        cursor,
        Intervention,
        [
            "id",
            "member_id",
            "contract_id",
            "intervention_type_id",
            "status",
            "cost",
            "scheduled_for",
            "completed_at",
            "approved_by_id",
            "approved_at",
            "created_by_id",
            "notes",
            "version",
            "created_at",
            "updated_at",
        ],
        interventions,
    )
    _copy(cursor, InterventionGap, ["intervention_id", "gap_id", "outcome"], covered)
    return chosen


def plan_vacuum() -> None:
    """VACUUM (ANALYZE) the tables the plan fills: statistics, visibility map and free space.

    Autovacuum would do the same a little later on a live system; measuring before it has run
    would time plans made from empty-table statistics. After a drop, the VACUUM lets the next
    plan reuse the freed space instead of growing the tables run after run.
    """
    tables = [m._meta.db_table for m in (Member, CareGap, Prediction, Intervention, InterventionGap)]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def _contract_scoped_models() -> list:
    """Every model with a foreign key to Contract (each large table carries its contract)."""
    return [
        (model, field)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.concrete_fields
        if isinstance(field, ForeignKey) and field.related_model is Contract
    ]


def _delete_contract_rows(cursor, contract_pk: int) -> None:
    """Delete every row of the contract, in any app, and the rows hanging off them.

    Django creates PostgreSQL foreign keys DEFERRABLE INITIALLY DEFERRED, so inside one
    transaction the order of the DELETEs does not matter; rows of tables without a contract
    column (an intervention's covered gaps, a gap's remarks) are found through their parent
    first, while the parent still exists.
    """
    quote = connection.ops.quote_name
    scoped = _contract_scoped_models()
    scoped_models = {model for model, _ in scoped}
    for parent, contract_field in scoped:
        for child in apps.get_models(include_auto_created=True):
            if child in scoped_models or child is Contract:
                continue
            for field in child._meta.concrete_fields:
                if isinstance(field, ForeignKey) and field.related_model is parent:
                    cursor.execute(
                        f"DELETE FROM {quote(child._meta.db_table)} WHERE {quote(field.column)} IN "
                        f"(SELECT {quote(parent._meta.pk.column)} FROM {quote(parent._meta.db_table)} "
                        f"WHERE {quote(contract_field.column)} = %s)",
                        [contract_pk],
                    )
    for model, field in scoped:
        cursor.execute(
            f"DELETE FROM {quote(model._meta.db_table)} WHERE {quote(field.column)} = %s", [contract_pk]
        )
    cursor.execute(f"DELETE FROM {quote(Contract._meta.db_table)} WHERE id = %s", [contract_pk])


def plan_drop() -> None:
    """Remove the bench contract with all its rows, the bench users and the bench intervention types.

    Audit and API-log entries whose actor is a bench user describe synthetic members only and go
    with them; no other row is touched.
    """
    usernames = [username for username, _ in BENCH_USERS.values()]
    with transaction.atomic(), connection.cursor() as cursor:
        contract_pk = (
            Contract.objects.filter(contract_id=BENCH_CONTRACT_ID).values_list("pk", flat=True).first()
        )
        if contract_pk is not None:
            _delete_contract_rows(cursor, contract_pk)
        user_ids = list(User.objects.filter(username__in=usernames).values_list("pk", flat=True))
        LogEntry.objects.filter(actor_id__in=user_ids).delete()
        ApiRequestLog.objects.filter(user_id__in=user_ids).delete()
        # Plain DELETEs: through the ORM each catalog row would write an actor-less audit entry.
        cursor.execute(
            "DELETE FROM interventions_interventionuplift WHERE intervention_type_id IN "
            "(SELECT id FROM interventions_interventiontype WHERE name LIKE %s)",
            [BENCH_TYPE_PREFIX + "%"],
        )
        cursor.execute(
            "DELETE FROM interventions_interventiontype WHERE name LIKE %s", [BENCH_TYPE_PREFIX + "%"]
        )
        User.objects.filter(pk__in=user_ids).delete()
    plan_vacuum()


def gap_file(plan: BenchPlan, rows: int) -> bytes:
    """A HEDIS engine gap file (CSV) of the plan's first `rows` gaps, keyed by raw member IDs."""
    rows = min(rows, plan.gap_count)
    out = io.StringIO()
    out.write("member_id,measure,compliance_status,exclusion_reason,evidence_date,evidence_source\n")
    members = plan.gap_member[:rows].tolist()
    dates = plan.gap_evidence_date[:rows].tolist()
    for i, member in enumerate(members):
        evidence = dates[i] or ""
        out.write(
            f"{raw_member_id(member)},{plan.gap_measure_code[i]},{plan.gap_status[i]},"
            f"{plan.gap_exclusion_reason[i]},{evidence},{plan.gap_evidence_source[i]}\n"
        )
    return out.getvalue().encode()

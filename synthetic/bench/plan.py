"""The benchmark's synthetic plan: dedicated contracts loaded with COPY, and their removal.

Everything the bench creates belongs to contract `H0000` or `R0000` (no CMS contract carries those
numbers), to its `bench.*` users or to the `[bench] …` intervention types, so dropping it touches
no other contract's rows. The plan is drawn by `synthetic.plan` with the `BENCH` recipe: 6 gaps
per member on the member-level measures that have cut points, a compliance mix 0 to 12 points
below each measure's 4-star cut point (3 % excluded, 1 % no longer in the denominator), one
prediction per gap (`current_prediction` points at it), a care manager assigned to the contract
with the open gaps being worked in her name, outreach for 3 % of members, and contract-level
scores at 2 to 4 stars: a contract rated 3.0 today and expected at 3.5, just under the 4-star
boundary, where the optimizer has something to decide. A second contract, `R0000` (a tenth of the
members, gaps and predictions only), is assigned to the analyst and the administrator, so their
worklists span two contracts; it goes with the plan.

Rows are written with psycopg 3 `COPY … FROM STDIN` into primary keys reserved from each table's
own sequence, so gaps can point at their predictions without a second pass over a million rows.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

import numpy as np
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.apps import apps
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import ForeignKey
from django.utils import timezone
from knox.models import AuthToken

from gaps.models import CareGap
from gaps.services import gaps_copy_in, gaps_delete_for_contract
from hedis_portal import roles
from hedis_portal.models import ApiRequestLog
from interventions.models import Intervention, InterventionGap, InterventionType
from members.identifiers import pseudonyms_allocate
from members.models import Contract, Member
from predictions.models import Prediction
from synthetic.plan import (
    TOP_FEATURES,
    ContractSpec,
    Denominator,
    Gaps,
    Members,
    Outreach,
    Recipe,
    closure_probabilities,
    cms_star_data_ensure,
    contract_get_or_create,
    contract_scores_create,
    gaps_draw,
    intervention_types_ensure,
    members_draw,
    outreach_draw,
    rated_measures,
    risk_tiers,
    user_create,
)

BENCH_CONTRACT_ID = "H0000"
# A second, smaller contract (a tenth of the members; no CMS contract has that number either) that
# the analyst and the administrator are also assigned to: their worklists span two contracts.
BENCH_SECOND_CONTRACT_ID = "R0000"
BENCH_SECOND_SHARE = 10
BENCH_USERS = {
    "care_manager": ("bench.care-manager", roles.CARE_MANAGER),
    "analyst": ("bench.analyst", roles.QUALITY_ANALYST),
    "administrator": ("bench.administrator", roles.ADMINISTRATOR),
}
BENCH_TYPE_PREFIX = "[bench] "
BENCH_INTERVENTION_TYPES = [
    "Care manager phone call",
    "Mailed FIT kit",
    "In-home health assessment",
    "Pharmacist adherence outreach",
]
MODEL_VERSION = "bench-gbm-1"
TOP_FEATURES_JSON = json.dumps(TOP_FEATURES)  # the jsonb column's text, as COPY writes it
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
# Every member is in 6 of the measures' denominators, breast cancer screening for women only:
# one shape for a plan of any size (the gap file and the member history rely on it).
BENCH = Recipe(
    name="Benchmark",
    member_id_format="BENCH-{number:09d}",
    denominators={
        code: Denominator(prevalence=weight, sex="F" if code == "BCS" else None)
        for code, weight in PREVALENCE.items()
    },
    measures_per_member=6,
    closed_offsets=(-0.12, -0.09, -0.06, -0.03, 0.0),
    not_applicable_share=0.01,
    closure_beta=(1.5, 4),
    score_stars=(2, 3, 3, 4, 4),
    outreach_share=0.03,
)


def raw_member_id(number: int) -> str:
    """The made-up plan member ID of the bench's member `number` (0-based); hashed like a real one."""
    return BENCH.raw_member_id(BENCH_CONTRACT_ID, number)


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
    second_contract: Contract | None = None

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


def _users() -> tuple[dict[str, User], dict[str, str]]:
    """The bench's users (one per role, no password) and an API token each."""
    users, tokens = {}, {}
    for key, (username, role) in BENCH_USERS.items():
        users[key] = user_create(username=username, role=role, contracts=[], password=None)
        tokens[key] = AuthToken.objects.create(user=users[key])[1]
    return users, tokens


def plan_create(*, members: int, measurement_year: int, seed: int = 2026) -> BenchPlan:
    """Create the bench contract with `members` members and their gaps, predictions and outreach.

    The bench administrator is the audit actor of everything created here, so the audit entries
    of the load leave with the plan.
    """
    plan_drop()
    cms_star_data_ensure(source="bench")
    rng = np.random.default_rng(seed)
    measures = rated_measures(BENCH)
    spec = ContractSpec(
        contract_id=BENCH_CONTRACT_ID,
        name="Benchmark plan (synthetic)",
        snp=True,
        lis_de_percent=Decimal("25.00"),
        disability_percent=Decimal("20.00"),
        members=members,
    )
    now = timezone.now()
    with transaction.atomic():
        users, tokens = _users()
        with set_actor(users["administrator"]):
            contract, _ = contract_get_or_create(spec)
            contract.users.add(*users.values())
            kinds = intervention_types_ensure(
                BENCH_INTERVENTION_TYPES, prefix=BENCH_TYPE_PREFIX, capacity=False
            )
            contract_scores_create(
                contract=contract,
                measurement_year=measurement_year,
                analyst=users["analyst"],
                recipe=BENCH,
                rng=rng,
            )
        drawn_members = members_draw(rng, recipe=BENCH, contract=contract, count=members)
        gaps = gaps_draw(
            rng,
            recipe=BENCH,
            members=drawn_members,
            measures=measures,
            measurement_year=measurement_year,
            snp=contract.snp,
        )
        probability = closure_probabilities(rng, recipe=BENCH, gaps=gaps)
        # A stand-in priority written with the gap, so the worklist's order has spread values to read:
        # the closure probability by a random factor. (The demo ranks its gaps with an optimizer
        # run, whose UPDATE of every gap would leave the table the figures read half dead rows.)
        priority = np.where(gaps.is_open, np.round(probability * rng.uniform(0.5, 3.0, len(gaps)), 6), 0.0)
        with connection.cursor() as cursor:
            member_pks = _copy_members(cursor, contract, drawn_members, now.isoformat())
            plan = BenchPlan(
                contract=contract,
                measurement_year=measurement_year,
                users=users,
                tokens=tokens,
                member_pks=member_pks,
                measure_pks={code: measure.pk for code, measure in measures.items()},
                gap_pks=np.empty(0, dtype=np.int64),
                gap_member=gaps.member,
                gap_measure_code=gaps.measure_code,
                gap_status=gaps.status,
                gap_exclusion_reason=gaps.exclusion_reason,
                gap_evidence_date=gaps.evidence_date,
                gap_evidence_source=gaps.evidence_source,
                outreach_members=np.empty(0, dtype=np.int64),
            )
            plan.gap_pks = _copy_gaps_and_predictions(cursor, plan, gaps, probability, priority, now)
            outreach = outreach_draw(
                rng, recipe=BENCH, gaps=gaps, member_count=members, kinds=BENCH_INTERVENTION_TYPES
            )
            _copy_interventions(cursor, plan, outreach, kinds, now)
            plan.outreach_members = outreach.member
            plan.second_contract = _second_contract_create(cursor, plan, rng, measures, now)
    plan_vacuum()
    return plan


def _second_contract_create(cursor, plan: BenchPlan, rng, measures, now) -> Contract:
    """The second contract (`BENCH_SECOND_CONTRACT_ID`), its members, gaps and predictions, drawn
    after the first contract's, which stay the same; the analyst and the administrator see both."""
    count = max(1, plan.member_count // BENCH_SECOND_SHARE)
    spec = ContractSpec(
        contract_id=BENCH_SECOND_CONTRACT_ID,
        name="Benchmark plan, second contract (synthetic)",
        snp=False,
        lis_de_percent=Decimal("25.00"),
        disability_percent=Decimal("20.00"),
        members=count,
    )
    with set_actor(plan.users["administrator"]):
        contract, _ = contract_get_or_create(spec)
        contract.users.add(plan.users["analyst"], plan.users["administrator"])
    # Member IDs of their own ("BENCH2-…"): a member ID hash is unique across contracts.
    recipe = replace(BENCH, member_id_format="BENCH2-{number:09d}")
    drawn = members_draw(rng, recipe=recipe, contract=contract, count=count)
    gaps = gaps_draw(
        rng,
        recipe=BENCH,
        members=drawn,
        measures=measures,
        measurement_year=plan.measurement_year,
        snp=contract.snp,
    )
    probability = closure_probabilities(rng, recipe=BENCH, gaps=gaps)
    priority = np.where(gaps.is_open, np.round(probability * rng.uniform(0.5, 3.0, len(gaps)), 6), 0.0)
    member_pks = _copy_members(cursor, contract, drawn, now.isoformat())
    second = replace(plan, contract=contract, member_pks=member_pks)
    _copy_gaps_and_predictions(cursor, second, gaps, probability, priority, now)
    return contract


def _copy_members(cursor, contract: Contract, members: Members, now: str) -> np.ndarray:
    """COPY the members, each with their pseudonym; return their primary keys in member-number order."""
    count = len(members)
    pks = _reserve_ids(cursor, Member, count)
    pseudonyms = pseudonyms_allocate(members.id_hash, Member.objects.filter(contract=contract))
    _copy(
        cursor,
        Member,
        [
            "id",
            "id_hash",
            "pseudonym",
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
            members.id_hash,
            pseudonyms,
            [contract.pk] * count,
            members.birth_year.tolist(),
            members.sex.tolist(),
            members.lis_de.tolist(),
            members.disability.tolist(),
            [True] * count,
            [now] * count,
            [now] * count,
            strict=True,
        ),
    )
    return pks


def _copy_gaps_and_predictions(
    cursor, plan: BenchPlan, gaps: Gaps, probability: np.ndarray, priority: np.ndarray, now
) -> np.ndarray:
    """COPY one prediction per gap, then the gaps pointing at them (with their tiers); return the
    gaps' primary keys."""
    count = len(gaps)
    contract = plan.contract
    measure_ids = np.array([plan.measure_pks[code] for code in gaps.codes])[gaps.code_index]
    care_manager = plan.users["care_manager"].pk
    assignee = np.where(gaps.assigned, care_manager, None)
    prediction_pks = _reserve_ids(cursor, Prediction, count)
    gap_pks = _reserve_ids(cursor, CareGap, count)
    member_ids = plan.member_pks[gaps.member].tolist()
    # Timestamps go to COPY as text: formatting a million datetimes would cost seconds.
    predicted_at = (now - timedelta(days=1)).isoformat()
    stamp = now.isoformat()
    tiers = risk_tiers(probability).tolist()
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
            [plan.measurement_year] * count,
            [MODEL_VERSION] * count,
            probability.tolist(),
            tiers,
            [TOP_FEATURES_JSON] * count,
            [predicted_at] * count,
            [stamp] * count,
            strict=True,
        ),
    )
    gaps_copy_in(
        cursor=cursor,
        columns=[
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
            "last_outreach_at",
            "priority_score",
            "current_prediction_id",
            "risk_tier",
            "version",
            "created_at",
            "updated_at",
        ],
        rows=zip(
            gap_pks.tolist(),
            member_ids,
            [contract.pk] * count,
            measure_ids.tolist(),
            [plan.measurement_year] * count,
            gaps.status.tolist(),
            gaps.status_reason.tolist(),
            gaps.exclusion_reason.tolist(),
            gaps.evidence_date.tolist(),
            gaps.evidence_source.tolist(),
            gaps.workflow_state.tolist(),
            assignee.tolist(),
            np.where(gaps.outreach_attempted, stamp, None).tolist(),
            priority.tolist(),
            prediction_pks.tolist(),
            tiers,
            [1] * count,
            [stamp] * count,
            [stamp] * count,
            strict=True,
        ),
        summary=f"Benchmark plan: {count} gaps created",
        details={"contract": contract.contract_id, "measurement_year": plan.measurement_year},
    )
    return gap_pks


def _copy_interventions(
    cursor, plan: BenchPlan, outreach: Outreach, kinds: list[InterventionType], now
) -> None:
    """COPY the drawn interventions (created by the care manager, approved by the analyst) and
    the gaps each covers."""
    intervention_pks = _reserve_ids(cursor, Intervention, len(outreach))
    care_manager = plan.users["care_manager"].pk
    analyst = plan.users["analyst"].pk
    interventions, covered = [], []
    for pk, member, kind_index, status, gaps in zip(
        intervention_pks.tolist(), outreach.member, outreach.kind, outreach.status, outreach.gaps, strict=True
    ):
        kind = kinds[kind_index]
        approved = status != "proposed"
        interventions.append(
            (
                pk,
                int(plan.member_pks[member]),
                plan.contract.pk,
                kind.pk,
                status,
                kind.unit_cost,
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
        covered.extend((pk, int(gap), "pending") for gap in plan.gap_pks[gaps])
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
    column (an intervention's covered gaps) are found through their parent first, while the
    parent still exists. The gaps app deletes its own tables (it owns them).
    """
    quote = connection.ops.quote_name
    gaps_delete_for_contract(cursor=cursor, contract_id=contract_pk, summary="Benchmark plan dropped")
    scoped = [(model, field) for model, field in _contract_scoped_models() if model._meta.app_label != "gaps"]
    scoped_models = {model for model, _ in scoped}
    for parent, contract_field in scoped:
        for child in apps.get_models(include_auto_created=True):
            if child in scoped_models or child is Contract or child._meta.app_label == "gaps":
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
        contracts = Contract.objects.filter(contract_id__in=[BENCH_CONTRACT_ID, BENCH_SECOND_CONTRACT_ID])
        for contract_pk in contracts.values_list("pk", flat=True):
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

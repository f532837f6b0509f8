"""The demo plan that `make run` loads: two contracts, members, gaps, predictions, outreach, a
forecast each and three measurement years of snapshots.

Drawn by `synthetic.plan` with the `DEMO` recipe: deterministic (seeded) and idempotent, a
second run adds nothing; only the earlier snapshots follow the day it is loaded (the quarter
ends before it). Raw member IDs are made up (`DEMO-…`) and hashed like real ones.
Members are in the denominators their age, sex and conditions put them in, and each measure's
rate today is set per contract, near real national figures, to tell one story:

- H9001, a D-SNP that has gained about 1.5 points a year, sits at or just past every 4-star cut
  point: 4.5 stars today and safely 4+ at year end.
- H9002 sits a point or two under the 4-star cut points, CBP and the adherence measures
  (weight 3) among them: 3.5 stars today and a 45 % chance of 4 at year end, which a $25,000
  plan (mostly rides to PCP visits for blood pressure and kidney checks, FIT kits and calls)
  turns into near certainty.

Everything is written through the same services the API and the imports use, but the earlier
snapshots (`synthetic.history`), which are rated by the same engine.
"""

import itertools
import secrets
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from gaps.models import CareGap, ComplianceStatus
from gaps.services import gaps_create_bulk
from hedis_portal import roles
from hedis_portal.audit import log_batch
from interventions.models import InterventionStatus, InterventionType
from interventions.services import interventions_create_for_gaps, interventions_transition_bulk
from members.identifiers import member_id_hash
from members.models import Contract, Member
from predictions.services import predictions_bulk_upsert
from ratings.live.rating import star_year_for
from ratings.live.services import contract_measure_score_create, portfolio_snapshot_create
from ratings.models import ContractMeasureScore, PortfolioRun, PortfolioSnapshot
from ratings.planning.services import forecast_run_create, optimizer_run_create
from synthetic.history import snapshots_backfill
from synthetic.plan import (
    INTERVENTION_TYPES,
    TOP_FEATURES,
    ContractSpec,
    Denominator,
    Gaps,
    Members,
    Outreach,
    RatedMeasure,
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

DEMO_MEASUREMENT_YEAR = 2026
DEMO_MODEL_VERSION = "demo-gbm-2026.11"

DEMO_CONTRACTS = [
    ContractSpec(
        contract_id="H9001",
        name="Demo Health Plan Advantage (MA-PD with D-SNP)",
        snp=True,
        lis_de_percent=Decimal("38.50"),
        disability_percent=Decimal("27.10"),
        members=3000,
        rates={
            "BCS": 77.0,
            "COL": 72.0,
            "COA-MR": 94.0,
            "COA-PS": 96.0,
            "EED": 81.0,
            "GSD": 88.0,
            "KED": 63.0,
            "CBP": 81.0,
            "SPC": 88.5,
            "TRC": 70.0,
            "ADH-DIAB": 89.5,
            "ADH-RAS": 91.5,
            "ADH-STATIN": 90.5,
            "SUPD": 89.5,
        },
        score_stars=(4, 4, 5),
    ),
    ContractSpec(
        contract_id="H9002",
        name="Demo Health Plan Select (MA-PD)",
        snp=False,
        lis_de_percent=Decimal("12.40"),
        disability_percent=Decimal("14.80"),
        members=2000,
        rates={
            "BCS": 73.5,
            "COL": 68.0,
            "EED": 77.0,
            "GSD": 84.5,
            "KED": 58.0,
            "CBP": 75.5,
            "SPC": 86.0,
            "TRC": 63.0,
            "ADH-DIAB": 86.5,
            "ADH-RAS": 88.5,
            "ADH-STATIN": 87.5,
            "SUPD": 86.5,
        },
        score_stars=(3, 4, 4),
    ),
]

# Points a year each contract's member-level rates have gained: H9001 has been climbing, H9002
# has stood still. The snapshots of the earlier measurement years follow it.
DEMO_YEARLY_GAIN = {"H9001": 1.5, "H9002": 0.3}
DEMO_HISTORY_YEARS = 2
# The budget of each contract's demo optimizer run, which sets the worklist's priorities.
DEMO_PLAN_BUDGET = 25_000
# How many demo member IDs to offer for the search box, by contract.
DEMO_SEARCH_MEMBERS = {"H9001": 3, "H9002": 2}

# username → (role, contracts assigned)
DEMO_USERS = {
    "care.manager": (roles.CARE_MANAGER, ["H9001"]),
    # Her lead: the same work, plus joining the worklist to the plan's roster for outreach.
    "care.lead": (roles.CARE_MANAGER_LEAD, ["H9001"]),
    "quality.analyst": (roles.QUALITY_ANALYST, ["H9001", "H9002"]),
    "administrator": (roles.ADMINISTRATOR, ["H9001", "H9002"]),
}

# Who is in each measure's denominator: ages reached in the measurement year, sex, clinical
# condition, SNP contracts only.
DEMO = Recipe(
    name="Demo",
    member_id_format="DEMO-{contract}-{number:06d}",
    denominators={
        "BCS": Denominator(ages=(52, 74), sex="F"),
        "COL": Denominator(ages=(45, 75)),
        "COA-MR": Denominator(ages=(66, 120), snp_only=True),
        "COA-PS": Denominator(ages=(66, 120), snp_only=True),
        "EED": Denominator(condition="diabetes", ages=(18, 75)),
        "GSD": Denominator(condition="diabetes", ages=(18, 75)),
        "KED": Denominator(condition="diabetes", ages=(18, 85)),
        "CBP": Denominator(condition="hypertension", ages=(18, 85)),
        "SPC": Denominator(condition="cvd", ages=(21, 75)),
        "TRC": Denominator(condition="discharge"),
        "ADH-DIAB": Denominator(condition="diabetes"),
        "ADH-RAS": Denominator(condition="hypertension"),
        "ADH-STATIN": Denominator(condition="statin"),
        "SUPD": Denominator(condition="diabetes", ages=(40, 75)),
    },
    measures_per_member=None,
    closed_offsets=(-0.09, -0.06, -0.04, -0.02, 0.01),
    not_applicable_share=0.0,
    # Late in the year most open gaps will stay open: mean closure probability about 0.13.
    closure_beta=(1.2, 8),
    score_stars=(3, 4, 4, 5),
    outreach_share=0.05,
)
DEMO_INTERVENTION_TYPES = list(INTERVENTION_TYPES)


@dataclass
class DemoResult:
    """What a load created; passwords only for users created by this run."""

    contracts_created: list[str] = field(default_factory=list)
    members_created: int = 0
    gaps_created: int = 0
    predictions_created: int = 0
    interventions_created: int = 0
    forecasts_created: int = 0
    plans_created: int = 0
    snapshots_created: int = 0
    new_credentials: dict[str, str] = field(default_factory=dict)


def _ensure_users(result: DemoResult) -> dict[str, User]:
    """The demo users by username, created (with a new password, kept in `result`) if missing."""
    users = {}
    for username, (role, contract_ids) in DEMO_USERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            contracts = Contract.objects.filter(contract_id__in=contract_ids)
            user = user_create(username=username, role=role, contracts=contracts, password=password)
            result.new_credentials[username] = password
        users[username] = user
    return users


def _members_create(contract: Contract, drawn: Members) -> list[Member]:
    """The drawn members of the contract, audited as one batch."""
    members = Member.objects.bulk_create(
        Member(
            id_hash=id_hash,
            contract=contract,
            birth_year=birth_year,
            sex=sex,
            lis_de=lis_de,
            disability=disability,
        )
        for id_hash, birth_year, sex, lis_de, disability in zip(
            drawn.id_hash,
            drawn.birth_year.tolist(),
            drawn.sex.tolist(),
            drawn.lis_de.tolist(),
            drawn.disability.tolist(),
            strict=True,
        )
    )
    log_batch(
        model=Member,
        action=LogEntry.Action.CREATE,
        count=len(members),
        summary=f"Demo {Member._meta.verbose_name_plural} for {contract.contract_id}",
        details={"source": "load_demo_data", "contract": contract.contract_id},
    )
    return members


def _gaps_create(
    contract: Contract, members: list[Member], gaps: Gaps, measures: dict[str, RatedMeasure], worker: User
) -> list[CareGap]:
    """The drawn gaps through `gaps_create_bulk`; the open ones being worked are `worker`'s."""
    measure_ids = np.array([measures[code].pk for code in gaps.codes])
    columns = {
        "member": np.array(members, dtype=object)[gaps.member],
        "measure_id": measure_ids[gaps.code_index],
        "compliance_status": gaps.status,
        "status_reason": gaps.status_reason,
        "exclusion_reason": gaps.exclusion_reason,
        "evidence_date": gaps.evidence_date,
        "evidence_source": gaps.evidence_source,
        "workflow_state": gaps.workflow_state,
        "assignee": np.where(gaps.assigned, worker, None),
        "last_outreach_at": np.where(gaps.outreach_attempted, timezone.now(), None),
    }
    rows = zip(*(values.tolist() for values in columns.values()), strict=True)
    year = DEMO_MEASUREMENT_YEAR
    return gaps_create_bulk(
        gaps=[
            CareGap(contract=contract, measurement_year=year, **dict(zip(columns, row, strict=True)))
            for row in rows
        ],
        summary=f"Demo {CareGap._meta.verbose_name_plural} for {contract.contract_id}",
        details={"source": "load_demo_data", "contract": contract.contract_id},
    )


def _predictions_create(contract: Contract, gaps: Gaps, probability: np.ndarray, admin: User) -> int:
    """A prediction for each open gap (a closed gap has nothing left to predict), by raw member ID."""
    predicted_at = timezone.now().replace(microsecond=0).isoformat()
    open_gaps = np.flatnonzero(gaps.is_open)
    tiers = risk_tiers(probability)
    rows = [
        {
            "member_id": DEMO.raw_member_id(contract.contract_id, int(gaps.member[gap])),
            "measure": gaps.codes[gaps.code_index[gap]],
            "measurement_year": DEMO_MEASUREMENT_YEAR,
            "model_version": DEMO_MODEL_VERSION,
            "probability": float(probability[gap]),
            "risk_tier": str(tiers[gap]),
            "top_features": TOP_FEATURES,
            "predicted_at": predicted_at,
        }
        for gap in open_gaps.tolist()
    ]
    created = 0
    for start in range(0, len(rows), 10_000):
        created += predictions_bulk_upsert(
            user=admin, rows=rows[start : start + 10_000], source="load_demo_data"
        ).created
    return created


def _interventions_create(
    outreach: Outreach,
    members: list[Member],
    created_gaps: list[CareGap],
    kinds: list[InterventionType],
    *,
    admin: User,
    worker: User,
) -> int:
    """The drawn outreach, proposed by `worker` and moved along the workflow to its drawn status.

    The administrator approves; the worker schedules and completes (which stamps the gaps'
    last outreach).
    """
    drawn = zip(outreach.member.tolist(), outreach.status.tolist(), strict=True)
    status_of = {members[member].pk: status for member, status in drawn}
    proposed = []
    for kind_index, kind in enumerate(kinds):
        mine = np.flatnonzero(outreach.kind == kind_index).tolist()
        covered = [created_gaps[gap] for i in mine for gap in outreach.gaps[i].tolist()]
        if covered:
            proposed += interventions_create_for_gaps(gaps=covered, intervention_type=kind, created_by=worker)
    path = [InterventionStatus.APPROVED, InterventionStatus.SCHEDULED, InterventionStatus.COMPLETED]
    for step, to_status in enumerate(path):
        moving = [i for i in proposed if status_of[i.member_id] in path[step:]]
        if moving:
            actor = admin if to_status == InterventionStatus.APPROVED else worker
            interventions_transition_bulk(interventions=moving, to_status=to_status, actor=actor)
    return len(proposed)


def _earlier_scores_create(contract: Contract, analyst: User) -> None:
    """The contract-level scores of the star years before the demo's, as this year's (for history).

    Only for star years that have none yet.
    """
    star_year = star_year_for(DEMO_MEASUREMENT_YEAR)
    current = list(ContractMeasureScore.objects.filter(contract=contract, star_year=star_year))
    for earlier in range(star_year - DEMO_HISTORY_YEARS, star_year):
        if ContractMeasureScore.objects.filter(contract=contract, star_year=earlier).exists():
            continue
        for entry in current:
            contract_measure_score_create(
                contract=contract,
                star_year=earlier,
                measure=entry.measure,
                score=entry.score,
                status=entry.status,
                note=entry.note,
                entered_by=analyst,
            )


def _history_create(contract: Contract, *, index: int, seed: int, analyst: User, result: DemoResult) -> None:
    """Today's forecast and the portfolio snapshots, for each part that does not exist yet.

    The snapshots: the quarter ends of the earlier measurement years and of this one so far,
    then one now (through the service, quoting the forecast).
    """
    year = DEMO_MEASUREMENT_YEAR
    forecasts = PortfolioRun.objects.filter(
        contract=contract, measurement_year=year, kind=PortfolioRun.Kind.FORECAST
    )
    if not forecasts.exists():
        forecast_run_create(contract=contract, measurement_year=year, user=analyst)
        result.forecasts_created += 1
    # The worklist's priorities come from an optimizer run, as in production.
    plans = PortfolioRun.objects.filter(
        contract=contract, measurement_year=year, kind=PortfolioRun.Kind.OPTIMIZE
    )
    if not plans.exists():
        optimizer_run_create(
            contract=contract, measurement_year=year, user=analyst, budget=DEMO_PLAN_BUDGET, name="Demo plan"
        )
        result.plans_created += 1
    if PortfolioSnapshot.objects.filter(contract=contract).exists():
        return
    _earlier_scores_create(contract, analyst)
    result.snapshots_created += snapshots_backfill(
        contract=contract,
        measurement_year=year,
        earlier_years=DEMO_HISTORY_YEARS,
        yearly_gain=DEMO_YEARLY_GAIN[contract.contract_id],
        rng=np.random.default_rng([seed, index, 2]),
    )
    portfolio_snapshot_create(contract=contract, measurement_year=year)
    result.snapshots_created += 1


def demo_member_ids() -> dict[str, list[str]]:
    """Raw demo member IDs to type in a search box, by contract: the first members with two or more
    open gaps (`DEMO_SEARCH_MEMBERS` of each loaded demo contract). Made up, like every demo ID."""
    found = {}
    for contract_id, wanted in DEMO_SEARCH_MEMBERS.items():
        contract = Contract.objects.filter(contract_id=contract_id).first()
        if contract is None:
            continue
        with_open_gaps = set(
            CareGap.objects.filter(
                contract=contract,
                measurement_year=DEMO_MEASUREMENT_YEAR,
                compliance_status=ComplianceStatus.OPEN,
            )
            .values("member__id_hash")
            .annotate(gaps=Count("id"))
            .filter(gaps__gte=2)
            .values_list("member__id_hash", flat=True)
        )
        raw_ids = (DEMO.raw_member_id(contract_id, number) for number in range(contract.enrollment))
        found[contract_id] = list(
            itertools.islice((raw for raw in raw_ids if member_id_hash(raw) in with_open_gaps), wanted)
        )
    return found


@transaction.atomic
def load_demo_data(*, seed: int = 2026) -> DemoResult:
    """Create whatever part of the demo plan does not exist yet."""
    result = DemoResult()
    roles.sync_roles()
    for spec in DEMO_CONTRACTS:
        contract, created = contract_get_or_create(spec)
        if created:
            result.contracts_created.append(contract.contract_id)
    users = _ensure_users(result)
    kinds = intervention_types_ensure(DEMO_INTERVENTION_TYPES)
    cms_star_data_ensure(source="load_demo_data")
    measures = rated_measures(DEMO)
    specs = {spec.contract_id: spec for spec in DEMO_CONTRACTS}
    for index, contract in enumerate(
        Contract.objects.filter(contract_id__in=list(specs)).order_by("contract_id")
    ):
        spec = specs[contract.contract_id]
        if contract.members.exists():
            continue
        # One stream per contract for its plan and one for its contract-level scores, so tuning
        # one contract's rates changes nothing else.
        rng = np.random.default_rng([seed, index, 0])
        # Outreach is recorded by the contract's care manager where it has one.
        worker = (
            users["care.manager"]
            if contract.users.filter(pk=users["care.manager"].pk).exists()
            else users["administrator"]
        )
        drawn = members_draw(rng, recipe=DEMO, contract=contract, count=contract.enrollment)
        members = _members_create(contract, drawn)
        gaps = gaps_draw(
            rng,
            recipe=DEMO,
            members=drawn,
            measures=measures,
            measurement_year=DEMO_MEASUREMENT_YEAR,
            snp=contract.snp,
            rates=spec.rates,
        )
        probability = closure_probabilities(rng, recipe=DEMO, gaps=gaps)
        created_gaps = _gaps_create(contract, members, gaps, measures, worker)
        result.members_created += len(members)
        result.gaps_created += len(created_gaps)
        result.predictions_created += _predictions_create(contract, gaps, probability, users["administrator"])
        outreach = outreach_draw(
            rng, recipe=DEMO, gaps=gaps, member_count=len(members), kinds=DEMO_INTERVENTION_TYPES
        )
        result.interventions_created += _interventions_create(
            outreach, members, created_gaps, kinds, admin=users["administrator"], worker=worker
        )
        contract_scores_create(
            contract=contract,
            measurement_year=DEMO_MEASUREMENT_YEAR,
            analyst=users["quality.analyst"],
            recipe=DEMO,
            rng=np.random.default_rng([seed, index, 1]),
            stars=spec.score_stars,
        )
    for index, contract in enumerate(
        Contract.objects.filter(contract_id__in=list(specs)).order_by("contract_id")
    ):
        _history_create(contract, index=index, seed=seed, analyst=users["quality.analyst"], result=result)
    return result

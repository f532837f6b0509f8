"""The demo plan that `make run` loads: two contracts, members, gaps, predictions and outreach.

Deterministic (seeded) and idempotent: a second run adds nothing. Raw member IDs are made
up (`DEMO-…`) and hashed like real ones. Each measure's current rate is set a few points
around the real 2026 4-star cut point, so the worklist and the ratings have something to
decide. Everything is written through the same services the API and the imports use.
"""

import random
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from gaps.models import CareGap, ComplianceStatus, EvidenceSource, WorkflowState
from gaps.services import gaps_assign_bulk, gaps_create_bulk, gaps_set_weighted_priorities
from hedis_portal import roles
from hedis_portal.audit import log_batch
from interventions.models import Channel, InterventionStatus, InterventionType
from interventions.services import (
    intervention_transition,
    intervention_type_create,
    interventions_create_for_gaps,
)
from members.identifiers import member_id_hash
from members.models import Contract, Member
from predictions.services import predictions_bulk_upsert
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR, Methodology
from ratings.live.services import contract_measure_score_create
from ratings.models import CmsDataImport, CutPoint, Measure, StarYearMeasure

DEMO_MEASUREMENT_YEAR = 2026
DEMO_CUT_POINT_STAR_YEAR = 2026  # the latest published cut points
DEMO_MODEL_VERSION = "demo-gbm-2026.11"

DEMO_CONTRACTS = [
    {
        "contract_id": "H9001",
        "name": "Demo Health Plan Advantage (MA-PD with D-SNP)",
        "organization_type": Contract.OrganizationType.MA_PD,
        "snp": True,
        "lis_de_percent": "38.50",
        "disability_percent": "27.10",
        "members": 3000,
    },
    {
        "contract_id": "H9002",
        "name": "Demo Health Plan Select (MA-PD)",
        "organization_type": Contract.OrganizationType.MA_PD,
        "snp": False,
        "lis_de_percent": "12.40",
        "disability_percent": "14.80",
        "members": 2000,
    },
]

# username → (role, contracts assigned)
DEMO_USERS = {
    "care.manager": (roles.CARE_MANAGER, ["H9001"]),
    "quality.analyst": (roles.QUALITY_ANALYST, ["H9001", "H9002"]),
    "administrator": (roles.ADMINISTRATOR, ["H9001", "H9002"]),
}

# Who is in each measure's denominator: (age range, sex, clinical condition, SNP only).
# Conditions are drawn per member (shares close to a typical MA population) and kept
# nowhere but in the denominators they decide.
CONDITION_SHARES = {"diabetes": 0.30, "hypertension": 0.55, "cvd": 0.15, "discharge": 0.12, "statin": 0.45}
DEMO_MEASURES = {
    "BCS": {"ages": (52, 74), "sex": "F"},
    "COL": {"ages": (45, 75)},
    "COA-MR": {"ages": (66, 120), "snp_only": True},
    "COA-PS": {"ages": (66, 120), "snp_only": True},
    "EED": {"condition": "diabetes", "ages": (18, 75)},
    "GSD": {"condition": "diabetes", "ages": (18, 75)},
    "KED": {"condition": "diabetes", "ages": (18, 85)},
    "CBP": {"condition": "hypertension", "ages": (18, 85)},
    "SPC": {"condition": "cvd", "ages": (21, 75)},
    "TRC": {"condition": "discharge"},
    "ADH-DIAB": {"condition": "diabetes"},
    "ADH-RAS": {"condition": "hypertension"},
    "ADH-STATIN": {"condition": "statin"},
    "SUPD": {"condition": "diabetes", "ages": (40, 75)},
}
EXCLUSION_REASONS = ["Hospice", "Advanced illness and frailty", "Palliative care"]

# name → (channel, unit cost, capacity, {measure code: uplift in closure probability})
DEMO_INTERVENTION_TYPES = {
    "Care manager phone call": (
        Channel.PHONE,
        "25.00",
        None,
        {"BCS": 0.08, "COL": 0.08, "CBP": 0.05, "EED": 0.06},
    ),
    "Mailed FIT kit": (Channel.MAIL, "18.00", None, {"COL": 0.15}),
    "Mobile mammography event": (Channel.PROVIDER, "120.00", 300, {"BCS": 0.35}),
    "In-home health assessment": (
        Channel.HOME_VISIT,
        "250.00",
        400,
        {"COA-MR": 0.55, "COA-PS": 0.55, "EED": 0.25, "KED": 0.40, "GSD": 0.20, "CBP": 0.30, "TRC": 0.30},
    ),
    "Pharmacist adherence outreach": (
        Channel.PHARMACY,
        "40.00",
        None,
        {"ADH-DIAB": 0.12, "ADH-RAS": 0.12, "ADH-STATIN": 0.12, "SUPD": 0.20, "SPC": 0.15},
    ),
    "Transportation to a PCP visit": (
        Channel.PROVIDER,
        "60.00",
        None,
        {"EED": 0.15, "GSD": 0.10, "KED": 0.20, "CBP": 0.15},
    ),
}
DEMO_INTERVENTIONS_PER_CONTRACT = 150


@dataclass
class DemoResult:
    """What a load created; passwords only for users created by this run."""

    contracts_created: list[str] = field(default_factory=list)
    members_created: int = 0
    gaps_created: int = 0
    predictions_created: int = 0
    interventions_created: int = 0
    new_credentials: dict[str, str] = field(default_factory=dict)


def _raw_id(contract: Contract, n: int) -> str:
    return f"DEMO-{contract.contract_id}-{n:06d}"


def _demo_members(contract: Contract, count: int, rng: random.Random) -> list[Member]:
    lis_rate = float(contract.lis_de_percent) / 100
    disability_rate = float(contract.disability_percent) / 100
    return [
        Member(
            id_hash=member_id_hash(_raw_id(contract, n)),
            contract=contract,
            birth_year=rng.randint(1930, 1959),
            sex=rng.choice([Member.Sex.FEMALE, Member.Sex.FEMALE, Member.Sex.MALE]),
            lis_de=rng.random() < lis_rate,
            disability=rng.random() < disability_rate,
        )
        for n in range(1, count + 1)
    ]


def _four_star_cut_points() -> dict[str, float]:
    """Each demo measure's 2026 4-star threshold (the MA-PD row for Part D measures)."""
    cut_points = CutPoint.objects.filter(
        edition__star_year=DEMO_CUT_POINT_STAR_YEAR,
        edition__measure__code__in=DEMO_MEASURES,
        edition__measure__member_level=True,
        org_type__in=[CutPoint.OrgType.ALL, CutPoint.OrgType.MA_PD],
    ).values_list("edition__measure__code", "four_star")
    return {code: float(four_star) for code, four_star in cut_points}


def _demo_gaps(contract: Contract, members: list[Member], rng: random.Random) -> list[CareGap]:
    measures = {m.code: m for m in Measure.objects.filter(member_level=True, code__in=DEMO_MEASURES)}
    four_star = _four_star_cut_points()
    conditions = {m.pk: {c for c, share in CONDITION_SHARES.items() if rng.random() < share} for m in members}
    gaps = []
    for code, rule in DEMO_MEASURES.items():
        if rule.get("snp_only") and not contract.snp:
            continue
        low, high = rule.get("ages", (18, 120))
        eligible = [
            m
            for m in members
            if low <= DEMO_MEASUREMENT_YEAR - m.birth_year <= high
            and rule.get("sex", m.sex) == m.sex
            and (rule.get("condition") is None or rule["condition"] in conditions[m.pk])
        ]
        # Today's rate sits a few points under or over the 4-star cut point; the open gaps
        # and their predictions decide where the year ends.
        closed_share = (four_star[code] + rng.choice([-9, -6, -4, -2, 1])) / 100
        for member in eligible:
            draw = rng.random()
            gap = CareGap(
                member=member,
                contract=contract,
                measure=measures[code],
                measurement_year=DEMO_MEASUREMENT_YEAR,
            )
            if draw < 0.03:
                gap.compliance_status = ComplianceStatus.EXCLUDED
                gap.exclusion_reason = rng.choice(EXCLUSION_REASONS)
                gap.workflow_state = WorkflowState.RESOLVED
            elif draw < 0.03 + closed_share * 0.97:
                gap.compliance_status = ComplianceStatus.CLOSED
                gap.evidence_date = date(DEMO_MEASUREMENT_YEAR, 1, 1) + timedelta(days=rng.randint(0, 320))
                gap.evidence_source = rng.choice(list(EvidenceSource.values))
                gap.workflow_state = WorkflowState.RESOLVED
            gaps.append(gap)
    return gaps


def _demo_predictions(contract: Contract, admin: User, rng: random.Random) -> int:
    open_gaps = (
        CareGap.objects.filter(contract=contract, compliance_status=ComplianceStatus.OPEN)
        .values_list("member_id", "measure__code")
        .order_by("pk")
    )
    raw_ids = {
        m.pk: _raw_id(contract, n)
        for n, m in enumerate(Member.objects.filter(contract=contract).order_by("pk"), start=1)
    }
    predicted_at = timezone.now().replace(microsecond=0)
    rows = []
    for member_id, code in open_gaps:
        # Late in the year most open gaps will stay open: mean closure probability about 0.2.
        probability = round(rng.betavariate(1.5, 6), 3)
        rows.append(
            {
                "member_id": raw_ids[member_id],
                "measure": code,
                "measurement_year": DEMO_MEASUREMENT_YEAR,
                "model_version": DEMO_MODEL_VERSION,
                "probability": probability,
                "risk_tier": "high" if probability < 0.3 else "medium" if probability < 0.6 else "low",
                "top_features": ["prior_year_compliance", "pcp_visits_ytd", "months_enrolled"],
                "predicted_at": predicted_at.isoformat(),
            }
        )
    created = 0
    for start in range(0, len(rows), 10_000):
        created += predictions_bulk_upsert(
            user=admin, rows=rows[start : start + 10_000], source="load_demo_data"
        ).created
    return created


def _demo_interventions(contract: Contract, admin: User, care_manager: User, rng: random.Random) -> int:
    types = list(InterventionType.objects.order_by("name"))
    open_gaps = list(
        CareGap.objects.filter(contract=contract, compliance_status=ComplianceStatus.OPEN)
        .select_related("measure")
        .order_by("pk")
    )
    created = []
    for intervention_type in types:
        covered = set(intervention_type.measures.values_list("code", flat=True))
        candidates = [gap for gap in open_gaps if gap.measure.code in covered]
        picked = rng.sample(candidates, min(len(candidates), DEMO_INTERVENTIONS_PER_CONTRACT // len(types)))
        created += interventions_create_for_gaps(
            gaps=picked, intervention_type=intervention_type, created_by=care_manager
        )
    # Move some along the workflow, as a quarter of outreach would be by late November.
    path = [InterventionStatus.APPROVED, InterventionStatus.SCHEDULED, InterventionStatus.COMPLETED]
    for intervention in created:
        steps = rng.choice([0, 1, 1, 2, 3, 3])
        for status in path[:steps]:
            actor = admin if status == InterventionStatus.APPROVED else care_manager
            intervention = intervention_transition(
                intervention=intervention,
                to_status=status,
                actor=actor,
                expected_version=intervention.version,
            )
    return len(created)


def _demo_contract_scores(contract: Contract, analyst: User, rng: random.Random) -> None:
    """Contract-level scores (CAHPS, HOS, complaints, call centre, …) at a 3-, 4- or 5-star level.

    They count towards star year MY + 2; the levels come from the latest cut points.
    """
    cut_points = CutPoint.objects.filter(
        edition__star_year=DEMO_CUT_POINT_STAR_YEAR,
        edition__measure__member_level=False,
        org_type__in=[CutPoint.OrgType.ALL, CutPoint.OrgType.MA_PD],
    ).select_related("edition__measure")
    methodology = Methodology.for_star_year(DEMO_CUT_POINT_STAR_YEAR)
    contract_type = "ccp_with_snp" if contract.snp else "ccp_without_snp"
    for cut in cut_points:
        if not methodology.measure(cut.edition.cms_id).required_for.get(contract_type):
            continue  # e.g. SNP Care Management for a contract without a SNP
        stars = rng.choice([3, 4, 4, 5])
        name = {3: "three_star", 4: "four_star", 5: "five_star"}[stars]
        threshold = getattr(cut, name)
        if not getattr(cut, f"{name}_inclusive"):
            # Just past a strict threshold, in the better direction.
            step = Decimal(1).scaleb(-cut.decimals)
            threshold = threshold + step if cut.direction == "higher" else threshold - step
        contract_measure_score_create(
            contract=contract,
            star_year=DEMO_MEASUREMENT_YEAR + 2,
            measure=cut.edition.measure,
            score=threshold,
            note=f"Demo figure at the {DEMO_CUT_POINT_STAR_YEAR} {stars}-star level",
            entered_by=analyst,
        )


def _demo_priorities(contract: Contract) -> None:
    """An interim priority until the optimizer scores gaps: measure weight × closure probability."""
    weights = dict(
        StarYearMeasure.objects.filter(star_year=DEMO_CUT_POINT_STAR_YEAR).values_list("measure_id", "weight")
    )
    gaps_set_weighted_priorities(contract=contract, weights=weights)


def _ensure_users(result: DemoResult) -> dict[str, User]:
    users = {}
    for username, (role, contract_ids) in DEMO_USERS.items():
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(username=username, password=password, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
            user.contracts.set(Contract.objects.filter(contract_id__in=contract_ids))
            result.new_credentials[username] = password
        users[username] = user
    return users


def _ensure_intervention_types() -> None:
    measures = {m.code: m for m in Measure.objects.filter(member_level=True)}
    for name, (channel, unit_cost, capacity, uplifts) in DEMO_INTERVENTION_TYPES.items():
        if not InterventionType.objects.filter(name=name).exists():
            intervention_type_create(
                name=name,
                channel=channel,
                unit_cost=Decimal(unit_cost),
                capacity=capacity,
                uplifts={measures[code]: uplift for code, uplift in uplifts.items()},
            )


@transaction.atomic
def load_demo_data(*, seed: int = 2026) -> DemoResult:
    """Create whatever part of the demo plan does not exist yet."""
    rng = random.Random(seed)
    result = DemoResult()
    roles.sync_roles()
    for spec in DEMO_CONTRACTS:
        spec = dict(spec)
        member_count = spec.pop("members")
        contract, created = Contract.objects.get_or_create(
            contract_id=spec["contract_id"], defaults={**spec, "enrollment": member_count}
        )
        if created:
            result.contracts_created.append(contract.contract_id)
    users = _ensure_users(result)
    _ensure_intervention_types()
    if not CmsDataImport.objects.filter(star_year=DEMO_CUT_POINT_STAR_YEAR).exists():
        # The national benchmark and its cut points: the demo's live ratings need them.
        cms_star_data_import(
            star_year=DEMO_CUT_POINT_STAR_YEAR,
            paths=sorted((DATA_DIR / str(DEMO_CUT_POINT_STAR_YEAR)).glob("*.csv")),
            source="load_demo_data",
        )
    for contract in Contract.objects.filter(contract_id__in=[c["contract_id"] for c in DEMO_CONTRACTS]):
        if contract.members.exists():
            continue
        members = Member.objects.bulk_create(_demo_members(contract, contract.enrollment, rng))
        details = {"source": "load_demo_data", "contract": contract.contract_id}
        log_batch(
            model=Member,
            action=LogEntry.Action.CREATE,
            count=len(members),
            summary=f"Demo {Member._meta.verbose_name_plural} for {contract.contract_id}",
            details=details,
        )
        gaps = gaps_create_bulk(
            gaps=_demo_gaps(contract, members, rng),
            summary=f"Demo {CareGap._meta.verbose_name_plural} for {contract.contract_id}",
            details=details,
        )
        result.members_created += len(members)
        result.gaps_created += len(gaps)
        result.predictions_created += _demo_predictions(contract, users["administrator"], rng)
        # Outreach is recorded by the contract's care manager where it has one.
        worker = (
            users["care.manager"]
            if contract.users.filter(pk=users["care.manager"].pk).exists()
            else users["administrator"]
        )
        gaps_assign_bulk(
            gaps=CareGap.objects.filter(
                contract=contract,
                compliance_status=ComplianceStatus.OPEN,
                pk__in=[g.pk for g in gaps if rng.random() < 0.15],
            ),
            assignee=worker,
        )
        result.interventions_created += _demo_interventions(contract, users["administrator"], worker, rng)
        _demo_contract_scores(contract, users["quality.analyst"], rng)
        _demo_priorities(contract)
    return result

"""One synthetic-plan generator behind the demo data (`load_demo_data`) and the benchmark (`bench`).

A plan is drawn from one seeded NumPy generator, a step at a time, in the caller's order:
contract-level scores, members, their gaps (who is in which measure's denominator, a compliance
mix a few points around each measure's 4-star cut point, evidence, workflow), a closure
probability per gap, and outreach. Each step returns arrays; the caller writes them: the demo
through the apps' services (any database, thousands of members), the benchmark with COPY
(PostgreSQL, hundreds of thousands). What differs between the two plans is their `Recipe`
(`synthetic.demo.DEMO`, `synthetic.bench.plan.BENCH`); the same seed draws the same plan.

Members are keyed like real ones: each made-up plan member ID is hashed by
`members.identifiers.member_id_hash`. Reference data (CMS's national benchmark and cut points,
the intervention catalog, contract-level scores) goes through the services that own it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth.models import Group, User
from django.utils import timezone

from gaps.importing import SNAPSHOT_REASON
from gaps.models import ComplianceStatus, EvidenceSource, WorkflowState
from interventions.models import Channel, InterventionStatus, InterventionType
from interventions.services import intervention_type_create
from members.identifiers import member_id_hash
from members.models import Contract, Member
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR, Methodology
from ratings.live.services import contract_measure_score_create
from ratings.models import CmsDataImport, CutPoint, Measure

# The national benchmarks shipped in ratings/cms/data: the latest rates the plan; the one before
# gives year-over-year history, cut point trends and the disaster rules their prior year.
SHIPPED_STAR_YEARS = (2025, 2026)
BIRTH_YEARS = (1930, 1960)
FEMALE_SHARE = 0.56
EXCLUDED_SHARE = 0.03
EXCLUSION_REASONS = np.array(["Hospice", "Advanced illness and frailty", "Palliative care"], dtype=object)
EVIDENCE_SOURCES = np.array(EvidenceSource.values, dtype=object)
# Open gaps' workflow states and their shares: most are untouched, some are being worked (and
# those have an assignee).
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
# Clinical conditions that put a member in some denominators, with shares close to a typical MA
# population; drawn per member and kept nowhere but in the denominators they decide.
CONDITION_SHARES = {"diabetes": 0.30, "hypertension": 0.55, "cvd": 0.15, "discharge": 0.12, "statin": 0.45}
TOP_FEATURES = ["prior_year_compliance", "pcp_visits_ytd", "months_enrolled"]
OUTREACH_STATUSES = np.array(
    [
        InterventionStatus.PROPOSED,
        InterventionStatus.APPROVED,
        InterventionStatus.SCHEDULED,
        InterventionStatus.COMPLETED,
    ],
    dtype=object,
)
OUTREACH_STATUS_SHARES = [0.4, 0.2, 0.2, 0.2]
GAPS_PER_INTERVENTION = 3

# name → (channel, unit cost, capacity, {measure code: uplift in closure probability})
INTERVENTION_TYPES = {
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


@dataclass(frozen=True)
class Denominator:
    """Who is in a measure's denominator, and how common it is next to the other measures.

    `ages` is the age range reached in the measurement year; `condition` one of
    `CONDITION_SHARES`; `prevalence` weighs the measure when each member is given a fixed
    number of measures (`Recipe.measures_per_member`).
    """

    ages: tuple[int, int] | None = None
    sex: str | None = None
    condition: str | None = None
    snp_only: bool = False
    prevalence: float = 1.0


@dataclass(frozen=True)
class Recipe:
    """What differs between two synthetic plans: member IDs, denominators, compliance, outreach."""

    name: str
    member_id_format: str  # made-up plan member IDs, from `{contract}` and `{number}` (from 0)
    denominators: Mapping[str, Denominator]  # who is in which measure (those with cut points get gaps)
    measures_per_member: int | None  # that many measures each, by prevalence; None: all they are in
    closed_offsets: tuple[float, ...]  # a measure's closed share: its 4-star cut point plus one of these
    not_applicable_share: float  # gaps no longer in the denominator (a snapshot import retired them)
    closure_beta: tuple[float, float]  # Beta(a, b) draws each gap's closure probability
    score_stars: tuple[int, ...]  # star levels drawn for contract-level scores
    outreach_share: float  # members with one intervention

    def raw_member_id(self, contract_id: str, number: int) -> str:
        """The made-up plan member ID of the contract's member `number` (0-based)."""
        return self.member_id_format.format(contract=contract_id, number=number)


@dataclass(frozen=True)
class ContractSpec:
    """A synthetic MA-PD contract (Part C and Part D measures both apply) and its member count.

    `rates` sets a member-level measure's rate today (a percentage, closed ÷ eligible), by
    measure code; a measure not named there gets the recipe's draw around its 4-star cut point.
    `score_stars` are the star levels its contract-level scores are drawn from (empty: the
    recipe's).
    """

    contract_id: str
    name: str
    snp: bool
    lis_de_percent: Decimal
    disability_percent: Decimal
    members: int
    rates: Mapping[str, float] = field(default_factory=dict)
    score_stars: tuple[int, ...] = ()


@dataclass(frozen=True)
class RatedMeasure:
    """A member-level measure with cut points: its primary key and 4-star threshold (a percentage)."""

    pk: int
    four_star: float


@dataclass
class Members:
    """A contract's drawn members: member `i` is row `i` of every array."""

    id_hash: list[str]
    birth_year: np.ndarray
    female: np.ndarray
    lis_de: np.ndarray
    disability: np.ndarray

    def __len__(self) -> int:
        return len(self.id_hash)

    @property
    def sex(self) -> np.ndarray:
        """`Member.sex` of each member."""
        return np.where(self.female, Member.Sex.FEMALE.value, Member.Sex.MALE.value)


@dataclass
class Gaps:
    """Drawn gaps, member by member: gap `i` is member `member[i]`'s gap on `codes[code_index[i]]`.

    `assigned` marks open gaps being worked (any workflow state but new): the writer gives them
    an assignee. Evidence dates are ISO dates (or None), as COPY and the ORM both take them.
    """

    codes: list[str]
    member: np.ndarray
    code_index: np.ndarray
    status: np.ndarray
    status_reason: np.ndarray
    exclusion_reason: np.ndarray
    evidence_date: np.ndarray
    evidence_source: np.ndarray
    workflow_state: np.ndarray
    assigned: np.ndarray

    def __len__(self) -> int:
        return len(self.member)

    @property
    def measure_code(self) -> np.ndarray:
        """Each gap's measure code."""
        return np.array(self.codes, dtype=object)[self.code_index]

    @property
    def is_open(self) -> np.ndarray:
        """Which gaps are open."""
        return self.status == ComplianceStatus.OPEN.value

    @property
    def outreach_attempted(self) -> np.ndarray:
        """Gaps whose member was contacted: the writer stamps their last outreach, as the move does."""
        return self.workflow_state == WorkflowState.OUTREACH_ATTEMPTED.value


@dataclass
class Outreach:
    """Drawn interventions: intervention `i` is member `member[i]`'s `kind[i]`, covering `gaps[i]`."""

    member: np.ndarray
    kind: np.ndarray
    gaps: list[np.ndarray]
    status: np.ndarray

    def __len__(self) -> int:
        return len(self.member)


# --- Reference data and the plan's contracts and users ----------------------------------------


def cms_star_data_ensure(*, source: str) -> None:
    """Import CMS's shipped national benchmarks and cut points, each star year unless loaded.

    Live ratings need them, and each measure's compliance is drawn around its 4-star cut point.
    """
    loaded = set(CmsDataImport.objects.values_list("star_year", flat=True))
    for star_year in SHIPPED_STAR_YEARS:
        if star_year not in loaded:
            cms_star_data_import(
                star_year=star_year, paths=sorted((DATA_DIR / str(star_year)).glob("*.csv")), source=source
            )


def latest_cut_points():
    """Cut points of the latest loaded star year, for all contracts or MA-PD ones (the plans' type)."""
    latest = CutPoint.objects.order_by("-edition__star_year").values_list("edition__star_year", flat=True)[:1]
    return CutPoint.objects.filter(
        edition__star_year__in=list(latest), org_type__in=[CutPoint.OrgType.ALL, CutPoint.OrgType.MA_PD]
    )


def rated_measures(recipe: Recipe) -> dict[str, RatedMeasure]:
    """The recipe's measures that the latest loaded cut points rate, by code."""
    rows = (
        latest_cut_points()
        .filter(edition__measure__member_level=True, edition__measure__code__in=list(recipe.denominators))
        .values_list("edition__measure__code", "edition__measure_id", "four_star")
    )
    return {code: RatedMeasure(pk=pk, four_star=float(four_star)) for code, pk, four_star in rows}


def contract_get_or_create(spec: ContractSpec) -> tuple[Contract, bool]:
    """The spec's contract, created if it does not exist yet; whether it was created."""
    return Contract.objects.get_or_create(
        contract_id=spec.contract_id,
        defaults={
            "name": spec.name,
            "organization_type": Contract.OrganizationType.MA_PD,
            "snp": spec.snp,
            "enrollment": spec.members,
            "lis_de_percent": spec.lis_de_percent,
            "disability_percent": spec.disability_percent,
        },
    )


def user_create(*, username: str, role: str, contracts: Iterable[Contract], password: str | None) -> User:
    """A staff user in one role's group, assigned to `contracts`; no password: tokens only."""
    user = User.objects.create_user(username=username, password=password, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    user.contracts.add(*contracts)
    return user


def intervention_types_ensure(
    names: list[str], *, prefix: str = "", capacity: bool = True
) -> list[InterventionType]:
    """The catalog's types `names` (named `prefix` + name), created through the service if missing.

    Without `capacity`, no type has a capacity limit: the catalog's limits fit a plan of a few
    thousand members, not one of any size.
    """
    measures = {m.code: m for m in Measure.objects.filter(member_level=True)}
    named = InterventionType.objects.filter(name__in=[prefix + name for name in names])
    existing = {kind.name: kind for kind in named}
    kinds = []
    for name in names:
        kind = existing.get(prefix + name)
        if kind is None:
            channel, unit_cost, limit, uplifts = INTERVENTION_TYPES[name]
            kind = intervention_type_create(
                name=prefix + name,
                channel=channel,
                unit_cost=Decimal(unit_cost),
                capacity=limit if capacity else None,
                uplifts={measures[code]: uplift for code, uplift in uplifts.items() if code in measures},
            )
        kinds.append(kind)
    return kinds


def contract_scores_create(
    *,
    contract: Contract,
    measurement_year: int,
    analyst: User,
    recipe: Recipe,
    rng: np.random.Generator,
    stars: tuple[int, ...] = (),
) -> int:
    """Scores for the measures not computed from gaps (CAHPS, HOS, complaints, …); how many.

    Without them a contract has too few rated measures for an overall rating. Each measure the
    contract's type is rated on gets one of `stars` (or the recipe's star levels), its score sitting on the
    latest cut points' threshold for that level (just past it, in the better direction, when the
    threshold is exclusive), for star year = measurement year + 2.
    """
    cut_points = list(
        latest_cut_points().filter(edition__measure__member_level=False).select_related("edition__measure")
    )
    if not cut_points:
        return 0
    methodology = Methodology.for_star_year(cut_points[0].edition.star_year)
    contract_type = "ccp_with_snp" if contract.snp else "ccp_without_snp"
    levels = dict(CutPoint.LEVELS)
    created = 0
    for cut in cut_points:
        if not methodology.measure(cut.edition.cms_id).required_for.get(contract_type):
            continue  # e.g. SNP Care Management for a contract without a SNP
        star = int(rng.choice(stars or recipe.score_stars))
        name = levels[star]
        score = getattr(cut, name)
        if not getattr(cut, f"{name}_inclusive"):
            step = Decimal(1).scaleb(-cut.decimals)
            score = score + step if cut.direction == "higher" else score - step
        contract_measure_score_create(
            contract=contract,
            star_year=measurement_year + 2,
            measure=cut.edition.measure,
            score=score,
            note=f"{recipe.name} figure at the {star}-star level",
            entered_by=analyst,
        )
        created += 1
    return created


# --- Members, gaps, predictions, outreach -----------------------------------------------------


def members_draw(rng: np.random.Generator, *, recipe: Recipe, contract: Contract, count: int) -> Members:
    """`count` members of the contract: birth year, sex, and its LIS/DE and disability shares."""
    birth_year = rng.integers(BIRTH_YEARS[0], BIRTH_YEARS[1] + 1, count)
    female = rng.random(count) < FEMALE_SHARE
    lis_de = rng.random(count) < float(contract.lis_de_percent) / 100
    disability = rng.random(count) < float(contract.disability_percent) / 100
    return Members(
        id_hash=[member_id_hash(recipe.raw_member_id(contract.contract_id, n)) for n in range(count)],
        birth_year=birth_year,
        female=female,
        lis_de=lis_de,
        disability=disability,
    )


def _eligible(
    rng: np.random.Generator,
    members: Members,
    denominators: list[Denominator],
    *,
    measurement_year: int,
    snp: bool,
) -> np.ndarray:
    """Member × measure: whether the member is in the measure's denominator."""
    age = measurement_year - members.birth_year
    conditions = {}
    if any(d.condition for d in denominators):
        names = list(CONDITION_SHARES)
        has = rng.random((len(members), len(names))) < np.array([CONDITION_SHARES[n] for n in names])
        conditions = {name: has[:, i] for i, name in enumerate(names)}
    eligible = np.ones((len(members), len(denominators)), dtype=bool)
    for column, rule in enumerate(denominators):
        if rule.snp_only and not snp:
            eligible[:, column] = False
        if rule.ages is not None:
            eligible[:, column] &= (rule.ages[0] <= age) & (age <= rule.ages[1])
        if rule.sex is not None:
            eligible[:, column] &= members.female if rule.sex == Member.Sex.FEMALE else ~members.female
        if rule.condition is not None:
            eligible[:, column] &= conditions[rule.condition]
    return eligible


def _pick_measures(
    rng: np.random.Generator, eligible: np.ndarray, prevalence: np.ndarray, count: int
) -> np.ndarray:
    """`count` distinct measures per member among those they are eligible for, weighted by prevalence.

    Gumbel top-k: adding Gumbel noise to log weights and keeping the k largest draws k measures
    without replacement in proportion to their weights, for every member at once.
    """
    per_member = min(count, eligible.shape[1] - 1)
    if (eligible.sum(axis=1) < per_member).any():
        raise ValueError(f"some members are in fewer than {per_member} of the recipe's denominators")
    keys = np.log(prevalence)[None, :] + rng.gumbel(size=eligible.shape)
    keys[~eligible] = -np.inf
    return np.argpartition(-keys, per_member, axis=1)[:, :per_member]


def gaps_draw(
    rng: np.random.Generator,
    *,
    recipe: Recipe,
    members: Members,
    measures: Mapping[str, RatedMeasure],
    measurement_year: int,
    snp: bool,
    rates: Mapping[str, float] | None = None,
) -> Gaps:
    """The members' gaps: denominators, compliance, evidence and workflow, member by member.

    Each measure's closed share is its 4-star cut point plus one of the recipe's offsets. Of
    every gap, 3 % are excluded (with a reason), the recipe's share is no longer in the
    denominator, and the rest is closed (with evidence this year) at that share or open. A
    measure named in `rates` (code → percentage) instead has exactly that share of its counted
    gaps closed (to the nearest member), drawn at random. Open gaps are spread over the workflow
    states.
    """
    codes = sorted(measures)
    denominators = [recipe.denominators[code] for code in codes]
    eligible = _eligible(rng, members, denominators, measurement_year=measurement_year, snp=snp)
    if recipe.measures_per_member:
        prevalence = np.array([d.prevalence for d in denominators])
        chosen = _pick_measures(rng, eligible, prevalence, recipe.measures_per_member)
        member = np.repeat(np.arange(len(members)), chosen.shape[1])
        code_index = chosen.ravel()
    else:
        member, code_index = np.nonzero(eligible)
    count = len(member)

    offsets = rng.choice(recipe.closed_offsets, size=len(codes))
    closed_share = np.clip(np.array([measures[c].four_star / 100 for c in codes]) + offsets, 0.05, 0.97)
    outside = EXCLUDED_SHARE + recipe.not_applicable_share
    draw = rng.random(count)
    status = np.full(count, ComplianceStatus.OPEN.value, dtype=object)
    status[draw < outside + closed_share[code_index] * (1 - outside)] = ComplianceStatus.CLOSED.value
    status[draw < outside] = ComplianceStatus.NOT_APPLICABLE.value
    status[draw < EXCLUDED_SHARE] = ComplianceStatus.EXCLUDED.value
    for code, rate in sorted((rates or {}).items()):
        _close_exactly(rng, status, code_index == codes.index(code), rate)
    is_open = status == ComplianceStatus.OPEN.value
    is_closed = status == ComplianceStatus.CLOSED.value

    exclusion_reason = np.where(
        status == ComplianceStatus.EXCLUDED.value, rng.choice(EXCLUSION_REASONS, count), ""
    )
    first_day = date(measurement_year, 1, 1)
    days_so_far = max(1, min(330, (timezone.localdate() - first_day).days))
    evidence_days = rng.integers(0, days_so_far, count)
    evidence_date = np.array(
        [
            (first_day + timedelta(days=int(d))).isoformat() if closed else None
            for d, closed in zip(evidence_days, is_closed, strict=True)
        ],
        dtype=object,
    )
    evidence_source = np.where(is_closed, rng.choice(EVIDENCE_SOURCES, count), "")
    workflow = np.full(count, WorkflowState.RESOLVED.value, dtype=object)
    workflow[is_open] = rng.choice(OPEN_STATES, int(is_open.sum()), p=OPEN_STATE_SHARES)
    return Gaps(
        codes=codes,
        member=member,
        code_index=code_index,
        status=status,
        status_reason=np.where(status == ComplianceStatus.NOT_APPLICABLE.value, SNAPSHOT_REASON, ""),
        exclusion_reason=exclusion_reason,
        evidence_date=evidence_date,
        evidence_source=evidence_source,
        workflow_state=workflow,
        assigned=is_open & (workflow != WorkflowState.NEW.value),
    )


def _close_exactly(rng: np.random.Generator, status: np.ndarray, measure: np.ndarray, rate: float) -> None:
    """Close `rate` % of the measure's counted (open or closed) gaps, chosen at random; open the rest."""
    counted = np.flatnonzero(
        measure & np.isin(status, [ComplianceStatus.OPEN.value, ComplianceStatus.CLOSED.value])
    )
    closing = rng.permutation(counted)[: round(rate / 100 * len(counted))]
    status[counted] = ComplianceStatus.OPEN.value
    status[closing] = ComplianceStatus.CLOSED.value


def closure_probabilities(rng: np.random.Generator, *, recipe: Recipe, gaps: Gaps) -> np.ndarray:
    """A predicted closure probability for every gap (three decimals)."""
    return np.round(rng.beta(*recipe.closure_beta, len(gaps)), 3)


def risk_tiers(probability: np.ndarray) -> np.ndarray:
    """Each prediction's risk tier: high under 0.3 (unlikely to close on its own), low from 0.6."""
    return np.where(probability < 0.3, "high", np.where(probability < 0.6, "medium", "low"))


def outreach_draw(
    rng: np.random.Generator, *, recipe: Recipe, gaps: Gaps, member_count: int, kinds: list[str]
) -> Outreach:
    """One intervention each for the recipe's share of members, covering up to three open gaps.

    Members are drawn among those with an open gap that one of `kinds` (catalog names) covers
    (has an uplift for); each gets one of the kinds covering one of their open gaps, covering
    the first three of those, at a status drawn from `OUTREACH_STATUS_SHARES`. `Outreach.kind`
    indexes `kinds`.
    """
    covers = np.array([[code in INTERVENTION_TYPES[name][3] for code in gaps.codes] for name in kinds])
    coverable = gaps.is_open & covers.any(axis=0)[gaps.code_index]
    candidates = np.unique(gaps.member[coverable])
    wanted = min(len(candidates), max(1, int(member_count * recipe.outreach_share)))
    chosen = np.sort(rng.choice(candidates, wanted, replace=False))
    # Gaps come member by member: each member's gaps are one slice.
    starts = np.searchsorted(gaps.member, chosen)
    ends = np.searchsorted(gaps.member, chosen, side="right")
    picks = rng.random(len(chosen))
    kind, covered = np.empty(len(chosen), dtype=np.int64), []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        own = start + np.flatnonzero(coverable[start:end])
        offered = np.flatnonzero(covers[:, gaps.code_index[own]].any(axis=1))
        kind[i] = offered[int(picks[i] * len(offered))]
        covered.append(own[covers[kind[i], gaps.code_index[own]]][:GAPS_PER_INTERVENTION])
    status = rng.choice(OUTREACH_STATUSES, len(chosen), p=OUTREACH_STATUS_SHARES)
    return Outreach(member=chosen, kind=kind, gaps=covered, status=status)

"""Forecasts, what-if scenarios and optimizer runs for one of the plan's contracts.

The portfolio core (`ratings.portfolio`) works on NumPy arrays; this module feeds it from the
database — the live rating (one gap aggregate, cut points, contract-level scores, the
contract's CMS profile) plus ONE read of the open gaps with their current prediction — and
stores every run whole (`PortfolioRun`). The same model scores each gap's priority on the
worklist, so the worklist and the optimizer never disagree.

A gap with no prediction takes the mean predicted probability of its measure's open gaps in
the same contract and year; if no gap of that measure has a prediction, the setting
`FORECAST_FALLBACK_PROBABILITY`. Each run records how many gaps used either fallback.
"""

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
from auditlog.models import LogEntry
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gaps.models import PRIORITY_DOLLARS, CareGap, ComplianceStatus
from gaps.services import gaps_set_priorities
from hedis_portal.audit import log_batch
from hedis_portal.errors import ApplicationError
from interventions.models import InterventionType
from interventions.services import interventions_create_for_gaps
from ratings.live.rating import contract_live_rating, rated_measure_ids
from ratings.models import PortfolioRun
from ratings.planning.cut_points import cut_point_basis
from ratings.portfolio.forecast import Assumption, forecast, what_if
from ratings.portfolio.inputs import ContractMeasure, MemberMeasure, PortfolioInput, PortfolioInputError
from ratings.portfolio.inputs import InterventionType as PlannedType
from ratings.portfolio.model import closures_needed
from ratings.portfolio.optimize import optimize
from ratings.portfolio.plan import Plan
from ratings.portfolio.priority import gap_priorities

OBJECTIVES = ("expected_overall", "p_at_least_4")
NAME_LENGTH = PortfolioRun._meta.get_field("name").max_length
CENT = Decimal("0.01")
# The largest seed a run takes (NumPy takes any, but a seed is typed by a person and kept in JSON)
# and the largest capacity (an intervention type's, stored in a PositiveIntegerField).
MAX_SEED = 2**32 - 1
MAX_CAPACITY = 2**31 - 1


class PlanningUnavailable(ApplicationError):
    """The contract cannot be forecast yet (no cut points, no methodology, no gaps…)."""


@dataclass
class PortfolioContext:
    """A contract's portfolio as the core sees it, and the keys to map its answers back."""

    portfolio: PortfolioInput
    gap_ids: dict[str, np.ndarray]  # cms_id → CareGap ids, aligned with that measure's gap arrays
    type_ids: dict[str, int]  # core intervention code → InterventionType pk
    summary: dict


def _open_gaps(contract, measurement_year: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """measure pk → (gap ids, member ids sorted, probabilities with NaN for none): one query."""
    query = CareGap.objects.filter(
        contract=contract, measurement_year=measurement_year, compliance_status=ComplianceStatus.OPEN
    ).values_list("measure_id", "pk", "member_id", "current_prediction__probability")
    # Plain rows into one float array (ids are far below 2⁵³; a missing probability becomes NaN),
    # ordered by measure and member in NumPy: the queryset's iterator built a tuple per gap
    # through Django's row converters, and the database's sort of the 283,000 open gaps of the
    # 200,000-member benchmark plan spilled to disk at the default work_mem.
    with connection.cursor() as cursor:
        cursor.execute(*query.order_by().query.sql_with_params())
        table = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 4)
    if not table.size:
        return {}
    table = table[np.lexsort((table[:, 2], table[:, 0]))]
    measure_ids = table[:, 0].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, measure_ids[1:] != measure_ids[:-1]])
    ends = np.r_[starts[1:], measure_ids.size]
    return {
        int(measure_ids[start]): (
            table[start:end, 1].astype(np.int64),
            table[start:end, 2].astype(np.int64),
            table[start:end, 3].copy(),
        )
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    }


def portfolio_context(
    *,
    contract,
    measurement_year: int,
    intervention_types: list[dict] | None = None,
    cut_points: str = "projected",
) -> PortfolioContext:
    """Build the core's input for a contract and measurement year from the database.

    `intervention_types` is the catalog as `run_intervention_types` gives it (None: the active
    types as stored, none for a forecast is fine); `cut_points` one of `CUT_POINT_BASES` (see
    `ratings.planning.cut_points`), what was used recorded in the summary's `cut_points`.
    """
    live = contract_live_rating(contract=contract, measurement_year=measurement_year)
    if live.methodology is None or live.engine_profile is None:
        raise PlanningUnavailable(
            "This contract cannot be forecast: " + " ".join(live.notes or ["no methodology or cut points."]),
            {"notes": live.notes},
        )
    basis = cut_point_basis(
        star_year=live.star_year,
        cut_point_star_year=live.cut_point_star_year,
        requested=cut_points,
        org_type="PDP" if contract.organization_type == "pdp" else "MA-PD",
    )
    gaps = _open_gaps(contract, measurement_year)
    default_fallback = settings.FORECAST_FALLBACK_PROBABILITY
    member_measures, contract_measures = [], []
    gap_ids, fallbacks, per_measure = {}, 0, {}
    for result in live.measures:
        if result.edition is None:
            continue
        cms_id = result.edition.cms_id
        if result.member_level and result.counts is not None and result.cut_points is not None:
            ids, members, probabilities = gaps.get(
                result.measure_pk, (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
            )
            missing = np.isnan(probabilities)
            if missing.any():
                known = probabilities[~missing]
                probabilities = np.where(
                    missing, known.mean() if known.size else default_fallback, probabilities
                )
                fallbacks += int(missing.sum())
            median, draws = basis.projected.get(result.measure_pk, (result.cut_points, ()))
            member_measures.append(
                MemberMeasure(
                    cms_id=cms_id,
                    cut_points=median,
                    precision=result.precision,
                    closed=result.counts.closed,
                    eligible=result.counts.eligible,
                    gap_members=members,
                    gap_probabilities=probabilities,
                    projected=draws,
                )
            )
            gap_ids[cms_id] = ids
            per_measure[cms_id] = {
                "code": result.measure_code,
                "open": int(ids.size),
                "eligible": result.counts.eligible,
            }
        elif not result.member_level and result.star is not None:
            contract_measures.append(ContractMeasure(cms_id=cms_id, star=result.star))
    if not member_measures:
        raise PlanningUnavailable("This contract has no gaps for that measurement year.")

    if intervention_types is None:
        intervention_types = _stored_types(rated_measure_ids(measurement_year))
    cms_by_code = {r.measure_code: r.edition.cms_id for r in live.measures if r.edition is not None}
    types, type_ids = [], {}
    for kind in intervention_types:
        uplift = {cms_by_code[code]: u for code, u in kind["uplifts"].items() if code in cms_by_code}
        types.append(
            PlannedType(
                code=str(kind["id"]),
                unit_cost=float(kind["unit_cost"]),
                uplift=uplift,
                capacity=kind["capacity"],
            )
        )
        type_ids[str(kind["id"])] = kind["id"]
    summary = {
        "star_year": live.star_year,
        "cut_point_star_year": live.cut_point_star_year,
        "cut_points": basis.record,
        "methodology_star_year": live.methodology_star_year,
        "measures": per_measure,
        "contract_level_measures": {m.cms_id: m.star for m in contract_measures},
        "open_gaps": int(sum(m.open_count for m in member_measures)),
        "gaps_without_prediction": fallbacks,
        "intervention_types": [{"id": pk, "code": code} for code, pk in type_ids.items()],
        "notes": live.notes,
    }
    portfolio = PortfolioInput(
        methodology=live.methodology,
        profile=live.engine_profile,
        member_measures=member_measures,
        contract_measures=contract_measures,
        interventions=types,
        fallback_probability=default_fallback,
    )
    return PortfolioContext(portfolio=portfolio, gap_ids=gap_ids, type_ids=type_ids, summary=summary)


def _type_figures(kind: InterventionType, unit_cost: Decimal, capacity, uplifts: dict) -> dict:
    """An intervention type as a run records it: money as text, uplifts by measure code."""
    return {
        "id": kind.pk,
        "name": kind.name,
        "unit_cost": str(unit_cost.quantize(CENT)),
        "capacity": capacity,
        "uplifts": uplifts,
    }


def run_intervention_types(
    *, measurement_year: int, intervention_types: list[dict] | None = None
) -> list[dict]:
    """The intervention types an optimizer run uses, as its parameters record them.

    None: the active types as stored, with their uplifts on the measures rated that year. Given:
    exactly those types, each `{"id", "unit_cost", "capacity", "uplifts": {measure: uplift}}` with
    the run's own figures — an active type's id, a cost in dollars (more than 0, whole cents), a
    capacity (a whole number, 0 or more; None for no limit), and uplifts (more than 0, at most 1)
    on measures rated that year, named by measure code (BCS) or CMS ID (C01). Each is recorded as
    `{"id", "name", "unit_cost": "100.00", "capacity", "uplifts": {"BCS": 0.6}}`. A problem is an
    `ApplicationError` that names the type by its name and the measure by its code.
    """
    rated = rated_measure_ids(measurement_year)
    if intervention_types is None:
        stored = _stored_types(rated)
        if not stored:
            raise _types_refused(
                ["No intervention type is active: activate one in the catalog, or give the run its own."]
            )
        return stored
    if not intervention_types:
        raise _types_refused(["An optimizer run needs at least one intervention type."])
    ids = [given.get("id") for given in intervention_types if isinstance(given, dict)]
    # Only ids a database key can hold: a larger number names no type (and would overflow SQLite's).
    known = InterventionType.objects.in_bulk(
        [pk for pk in ids if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63]
    )
    chosen, problems, seen = [], [], set()
    for position, given in enumerate(intervention_types, start=1):
        kind = known.get(given.get("id")) if isinstance(given, dict) else None
        if kind is None:
            shown = given.get("id") if isinstance(given, dict) else given
            problems.append(f"Intervention type {position}: no intervention type has the id {shown!r}.")
            continue
        if not kind.active:
            problems.append(f"{kind.name} is not active: activate it in the catalog to plan with it.")
            continue
        if kind.pk in seen:
            problems.append(f"{kind.name} is listed twice.")
            continue
        seen.add(kind.pk)
        figures, refusals = _given_type(kind, given, rated=rated, measurement_year=measurement_year)
        problems.extend(refusals)
        if not refusals:
            chosen.append(figures)
    if problems:
        raise _types_refused(problems)
    return chosen


def _stored_types(rated: dict[str, str]) -> list[dict]:
    """The active intervention types as stored, with their uplifts on the `rated` measures."""
    stored = InterventionType.objects.filter(active=True).prefetch_related("uplifts__measure").order_by("pk")
    return [
        _type_figures(
            kind,
            kind.unit_cost,
            kind.capacity,
            {u.measure.code: u.uplift for u in kind.uplifts.all() if u.measure.code in rated},
        )
        for kind in stored
    ]


def _given_type(
    kind: InterventionType, given: dict, *, rated: dict[str, str], measurement_year: int
) -> tuple[dict, list[str]]:
    """One given type's figures as the run records them, and what is wrong with them (in words)."""
    if (
        not {"unit_cost", "capacity", "uplifts"}
        <= set(given)
        <= {"id", "name", "unit_cost", "capacity", "uplifts"}
    ):
        return {}, [f"{kind.name}: give exactly id, unit_cost, capacity and uplifts."]
    problems = []
    unit_cost = _dollars(given["unit_cost"])
    if unit_cost is None:
        problems.append(
            f"{kind.name}: the unit cost must be an amount of dollars more than 0, in whole cents "
            f"(got {given['unit_cost']})."
        )
    capacity = given["capacity"]
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0):
        problems.append(
            f"{kind.name}: the capacity must be a whole number, 0 or more, or null for no limit "
            f"(got {capacity})."
        )
    if not isinstance(given["uplifts"], dict):
        return {}, [*problems, f"{kind.name}: the uplifts must be an object of measure codes and uplifts."]
    code_by_cms_id = {cms_id: name for name, cms_id in rated.items() if name != cms_id}
    uplifts = {}
    for name, uplift in given["uplifts"].items():
        code = code_by_cms_id.get(rated.get(str(name).strip().upper()))
        if code is None:
            problems.append(
                f"{kind.name}: no measure {name} is rated for measurement year {measurement_year}."
            )
        elif code in uplifts:
            problems.append(f"{kind.name}: {code} has an uplift already, under another name.")
        elif not _is_uplift(uplift):
            problems.append(
                f"{kind.name}: the uplift on {code} must be more than 0 and at most 1 (got {uplift})."
            )
        else:
            uplifts[code] = float(uplift)
    if problems:
        return {}, problems
    return _type_figures(kind, unit_cost, capacity, uplifts), []


def _types_refused(problems: list[str]) -> ApplicationError:
    """The refusal of a run's intervention types: each problem in words, under the field's name."""
    return ApplicationError(" ".join(problems), {"fields": {"intervention_types": problems}})


def _dollars(value) -> Decimal | None:
    """An amount more than 0 in whole cents from a Decimal, text or number; None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int | float):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        return None
    return amount


def _is_uplift(value) -> bool:
    """Whether `value` is a number more than 0 and at most 1."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        return False
    return math.isfinite(float(value)) and 0 < float(value) <= 1


def no_progress(fraction: float, stage: str) -> None:
    """The progress report of work that nobody follows (a command, a test)."""


Progress = Callable[[float, str], None]


def _run(
    kind: str,
    *,
    contract,
    measurement_year: int,
    user,
    parameters: dict,
    compute,
    name: str = "",
    intervention_types: list[dict] | None = None,
    progress: Progress = no_progress,
    then=None,
):
    """Build the input (with `intervention_types` as `run_intervention_types` gives them and the
    cut points `parameters["cut_points"]` asks for), compute, and store the run whole (with what
    `then` writes from it, in the same transaction); input problems answer 400.
    `progress(fraction, stage)` hears each step."""
    started = time.perf_counter()
    progress(0.02, "reading the contract's gaps, predictions and cut points")
    context = portfolio_context(
        contract=contract,
        measurement_year=measurement_year,
        intervention_types=intervention_types,
        cut_points=parameters["cut_points"],
    )
    try:
        outcome = compute(context)
    except PortfolioInputError as exc:
        raise ApplicationError(str(exc)) from None
    result = outcome.as_dict()
    progress(0.97, "storing the run")
    with transaction.atomic():
        run = PortfolioRun.objects.create(
            kind=kind,
            name=name,
            contract=contract,
            measurement_year=measurement_year,
            parameters=parameters,
            inputs=context.summary,
            result=result,
            solver_status=result.get("solver_status", ""),
            optimality_gap=result.get("optimality_gap"),
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            created_by=user,
            priorities_set=kind == PortfolioRun.Kind.OPTIMIZE and "priorities" in result,
        )
        if then is not None:
            then(context, run, outcome)
    return run


def forecast_run_create(
    *,
    contract,
    measurement_year: int,
    user,
    draws: int = 10_000,
    seed: int = 0,
    name: str = "",
    cut_points: str = "projected",
    progress: Progress = no_progress,
):
    """Forecast the year-end rating and store the run (named, when the analyst saves it by name)."""

    def compute(context: PortfolioContext):
        progress(0.1, f"forecasting the year end ({draws:,} draws)")
        return forecast(context.portfolio, draws=draws, seed=seed)

    return _run(
        PortfolioRun.Kind.FORECAST,
        name=name.strip(),
        contract=contract,
        measurement_year=measurement_year,
        user=user,
        parameters={"draws": draws, "seed": seed, "cut_points": cut_points},
        compute=compute,
        progress=progress,
    )


def what_if_run_create(
    *,
    contract,
    measurement_year: int,
    user,
    name: str,
    assumptions: dict[str, dict],
    draws: int = 10_000,
    seed: int = 0,
    cut_points: str = "projected",
    progress: Progress = no_progress,
):
    """A named scenario: the forecast with the analyst's assumed closures, rates, stars or scores."""
    if not name.strip():
        raise ApplicationError("A scenario needs a name.", {"fields": {"name": ["required"]}})
    try:
        assumed = {cms_id: Assumption(**values) for cms_id, values in assumptions.items()}
    except TypeError as exc:
        raise ApplicationError(
            f"Unknown assumption: {exc}", {"fields": {"assumptions": [str(exc)]}}
        ) from None

    def compute(context: PortfolioContext):
        progress(0.1, f"forecasting the scenario ({draws:,} draws)")
        return what_if(context.portfolio, assumed, draws=draws, seed=seed)

    return _run(
        PortfolioRun.Kind.WHAT_IF,
        name=name.strip(),
        contract=contract,
        measurement_year=measurement_year,
        user=user,
        parameters={
            "draws": draws,
            "seed": seed,
            "cut_points": cut_points,
            "assumptions": {k: v.as_dict() for k, v in assumed.items()},
        },
        compute=compute,
        progress=progress,
    )


def optimizer_run_create(
    *,
    contract,
    measurement_year: int,
    user,
    budget: Decimal | float,
    objective: str = "expected_overall",
    draws: int = 10_000,
    seed: int = 0,
    time_limit: float = 60.0,
    name: str = "",
    intervention_types: list[dict] | None = None,
    cut_points: str = "projected",
    progress: Progress = no_progress,
):
    """Choose interventions within the budget; store the plan and re-score the worklist from it.

    `name` names the run (a saved scenario); `intervention_types` are the types the run may use
    with its own costs, capacities and uplifts (None: the active types as stored; see
    `run_intervention_types`). Either way the run's parameters record the figures it used. The
    run and the worklist's new priorities are written in one transaction: both or neither.
    """
    if objective not in OBJECTIVES:
        raise ApplicationError(
            f"Unknown objective {objective!r}.",
            {"fields": {"objective": [f"one of {', '.join(OBJECTIVES)}"]}},
        )
    name = name.strip()
    if len(name) > NAME_LENGTH:
        raise ApplicationError(
            f"A run's name is at most {NAME_LENGTH} characters.",
            {"fields": {"name": [f"at most {NAME_LENGTH} characters"]}},
        )
    types = run_intervention_types(measurement_year=measurement_year, intervention_types=intervention_types)
    parameters = {
        "budget": float(budget),
        "objective": objective,
        "draws": draws,
        "seed": seed,
        "time_limit": time_limit,
        "cut_points": cut_points,
        "intervention_types": types,
    }

    def compute(context: PortfolioContext):
        progress(0.05, "optimizing")
        plan = optimize(
            context.portfolio,
            float(budget),
            objective,
            draws=draws,
            seed=seed,
            time_limit=time_limit,
            progress=lambda fraction, stage: progress(0.05 + 0.8 * fraction, stage),
        )
        progress(0.87, "scoring each gap's priority from the plan")
        return _Optimized(
            plan, gap_priorities(context.portfolio, plan, seed=seed), _priority_facts(context, plan, types)
        )

    return _run(
        PortfolioRun.Kind.OPTIMIZE,
        name=name,
        intervention_types=types,
        contract=contract,
        measurement_year=measurement_year,
        user=user,
        parameters=parameters,
        compute=compute,
        progress=progress,
        then=lambda context, run, optimized: _write_priorities(context, run, optimized.priorities),
    )


@dataclass(frozen=True)
class _Optimized:
    """An optimizer plan with the gap priorities scored from it and what they rest on per measure."""

    plan: Plan
    priorities: np.ndarray
    facts: dict

    def as_dict(self) -> dict:
        return {**self.plan.as_dict(), "priorities": self.facts}


def _priority_facts(context: PortfolioContext, plan: Plan, types: list[dict]) -> dict:
    """Per measure code, what its gaps' priorities rest on, for the worklist's "why" of each gap:
    its star today, the closures the next star needs, its weight, the stars one more expected
    closure adds under the plan, and the intervention types that work it."""
    planned = {m.cms_id: m for m in plan.measures}
    names = {str(kind["id"]): kind["name"] for kind in types}
    measures = {}
    for source in context.portfolio.member_measures:
        needed = closures_needed(source)
        star = int(np.count_nonzero(needed[1:] == 0))
        following = needed[star + 1] if star < 5 else math.inf
        measures[context.summary["measures"][source.cms_id]["code"]] = {
            "star": star,
            "closures_to_next_star": math.ceil(following) if math.isfinite(following) else None,
            "weight": str(context.portfolio.methodology.measure(source.cms_id).weight),
            "stars_per_closure": planned[source.cms_id].value_per_closure,
            "interventions": [
                names[kind.code] for kind in context.portfolio.interventions if kind.uplift.get(source.cms_id)
            ],
        }
    return {"unit_dollars": PRIORITY_DOLLARS, "measures": measures}


def _write_priorities(context: PortfolioContext, run: PortfolioRun, priorities: np.ndarray) -> int:
    """Store the plan's gap priorities (rating points per dollar, in the portfolio's gap order) through
    `gaps`, in its unit: expected stars per `PRIORITY_DOLLARS`."""
    ids = np.concatenate([context.gap_ids[m.cms_id] for m in context.portfolio.member_measures])
    return gaps_set_priorities(
        contract=run.contract,
        measurement_year=run.measurement_year,
        gap_ids=ids,
        priorities=priorities * PRIORITY_DOLLARS,
    )


@transaction.atomic
def optimizer_run_propose(*, run: PortfolioRun, user) -> int:
    """Turn an optimizer run's plan into `proposed` interventions (a human approves them before outreach)."""
    if run.kind != PortfolioRun.Kind.OPTIMIZE:
        raise ApplicationError("Only an optimizer run has interventions to propose.")
    run = PortfolioRun.objects.select_for_update().get(pk=run.pk)
    if run.proposed_at is not None:
        raise ApplicationError(
            f"This plan's interventions were already proposed on {run.proposed_at:%Y-%m-%d %H:%M}."
        )
    gap_ids_by_type: dict[int, list[int]] = defaultdict(list)
    gap_index = _plan_gap_index(run)
    for chosen in run.result["interventions"]:
        for gap in chosen["gaps"]:
            gap_ids_by_type[int(chosen["intervention"])].append(gap_index[(gap["cms_id"], chosen["member"])])
    created = 0
    types = InterventionType.objects.in_bulk(list(gap_ids_by_type))
    for type_id, gap_ids in gap_ids_by_type.items():
        gaps = CareGap.objects.filter(pk__in=gap_ids, compliance_status=ComplianceStatus.OPEN)
        created += len(
            interventions_create_for_gaps(
                gaps=gaps, intervention_type=types[type_id], created_by=user, notes=f"Optimizer run #{run.pk}"
            )
        )
    PortfolioRun.objects.filter(pk=run.pk).update(proposed_at=timezone.now())
    log_batch(
        model=PortfolioRun,
        action=LogEntry.Action.UPDATE,
        count=created,
        summary=f"Proposed {created} interventions from optimizer run #{run.pk}",
        details={"run": run.pk},
    )
    return created


def _plan_gap_index(run: PortfolioRun) -> dict[tuple[str, int], int]:
    """(cms_id, member id) → gap id for the run's contract and year, from one query."""
    cms_by_code = {measure["code"]: cms_id for cms_id, measure in run.inputs["measures"].items()}
    rows = CareGap.objects.filter(
        contract=run.contract, measurement_year=run.measurement_year, measure__code__in=list(cms_by_code)
    ).values_list("measure__code", "member_id", "pk")
    return {(cms_by_code[code], member_id): pk for code, member_id, pk in rows}

"""Reading the gaps' priorities: the run that set them, whether newer data has made them stale, and a
short "why" for each gap.

A gap's `priority_score` is in one unit everywhere: expected overall stars gained per $1,000 of
outreach (`PRIORITY_DOLLARS`). Optimizer runs set it, with `priority_rank` (1-100 within the
contract and measurement year, 1 being its top 1 %) and, in the run's result, what each measure's
gaps are worth (`priorities`), from which the "why" is written.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models.fields.json import KeyTransform

from gaps.models import PRIORITY_DOLLARS
from hedis_portal.formats import count, probability, significant
from hedis_portal.models import Job
from ratings.models import PortfolioRun


@dataclass(frozen=True)
class PriorityRun:
    """The optimizer run whose priorities a contract's measurement year holds, and what is newer."""

    run_id: int
    name: str
    created_at: datetime
    created_by: str
    measures: dict = field(repr=False)
    newer: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.newer)

    @property
    def label(self) -> str:
        """ "optimizer run #12 “Demo plan”"."""
        return f"optimizer run #{self.run_id}" + (f" “{self.name}”" if self.name else "")


def priority_runs(contract_years: Iterable[tuple[int, int]]) -> dict[tuple[int, int], PriorityRun]:
    """The latest priority-setting optimizer run of each (contract pk, measurement year), with what
    was imported after it: three queries however many pairs. Pairs without one are absent."""
    pairs = set(contract_years)
    if not pairs:
        return {}
    contracts = {contract for contract, _ in pairs}
    latest: dict[tuple[int, int], int] = {}
    for pk, contract, year in (
        PortfolioRun.objects.filter(
            kind=PortfolioRun.Kind.OPTIMIZE, contract__in=contracts, priorities_set=True
        )
        .order_by("-created_at", "-pk")
        .values_list("pk", "contract_id", "measurement_year")
    ):
        if (contract, year) in pairs:
            latest.setdefault((contract, year), pk)
    runs = (
        PortfolioRun.objects.filter(pk__in=latest.values())
        .values("pk", "name", "contract_id", "measurement_year", "created_at", "created_by__username")
        .annotate(measures=KeyTransform("measures", KeyTransform("priorities", "result")))
    )
    since = min((run["created_at"] for run in runs), default=None)
    imports = list(
        Job.objects.filter(
            kind__in=["gap_import", "predictions_import"], status=Job.Status.SUCCEEDED, finished_at__gt=since
        ).values_list("kind", "contract_id", "parameters__measurement_year", "finished_at")
        if since
        else []
    )
    found = {}
    for run in runs:
        key = (run["contract_id"], run["measurement_year"])
        found[key] = PriorityRun(
            run_id=run["pk"],
            name=run["name"],
            created_at=run["created_at"],
            created_by=run["created_by__username"] or "",
            measures=run["measures"] or {},
            newer=_newer(run, imports),
        )
    return found


def _newer(run: dict, imports: list[tuple]) -> tuple[str, ...]:
    """Sentences for the imports finished after `run` that concern its contract and year."""
    gap_files = sum(
        kind == "gap_import"
        and contract == run["contract_id"]
        and year == run["measurement_year"]
        and finished > run["created_at"]
        for kind, contract, year, finished in imports
    )
    prediction_files = sum(
        kind == "predictions_import" and finished > run["created_at"] for kind, _, _, finished in imports
    )
    sentences = []
    if gap_files:
        sentences.append(f"{count(gap_files)} gap file{'s' if gap_files > 1 else ''} imported since")
    if prediction_files:
        sentences.append(
            f"{count(prediction_files)} predictions file{'s' if prediction_files > 1 else ''} imported since"
        )
    return tuple(sentences)


def priority_reason(run: PriorityRun | None, measure_code: str, closure_probability: float | None) -> str:
    """Why a gap ranks where it does, in a line: "BCS: 12 closures from 4 ★ · weight 1 · P(close)
    62% · worked by Phone call, Home visit"; "" when no run has scored its measure."""
    facts = run.measures.get(measure_code) if run is not None else None
    if facts is None:
        return ""
    closures, star = facts["closures_to_next_star"], facts["star"]
    if star == 5:
        where = "already at 5 ★"
    elif closures is None:
        where = f"{star + 1} ★ out of reach this year"
    else:
        where = f"{count(closures)} closure{'s' if closures != 1 else ''} from {star + 1} ★"
    parts = [f"{measure_code}: {where}", f"weight {facts['weight']}"]
    if closure_probability is not None:
        parts.append(f"P(close) {probability(closure_probability)}")
    worked_by = facts["interventions"]
    parts.append(f"worked by {', '.join(worked_by)}" if worked_by else "no intervention type works it")
    if not facts["stars_per_closure"]:
        parts.append("moves no star the plan aims at")
    return " · ".join(parts)


def priority_figure(score: float | None) -> str:
    """A priority in its unit, never in scientific notation: "0.0123 ★ per $1,000"."""
    return f"{significant(score)} ★ per ${PRIORITY_DOLLARS:,}"

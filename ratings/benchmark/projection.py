"""Projected cut points of a star year not yet published, and the projection's backtest.

`project_cut_points(target_star_year=2028)` projects every non-CAHPS measure's thresholds from
the newest imported star year before the target (the base) with the model of
`ratings.cms.projection`, the trend read from the base year and the one before it when both are
imported. `backtest(star_year=2026)` projects an imported year from the years before it and
compares the projection's medians, and the naive rule "cut points stay where they are", with
what CMS published. A measure is followed across years by its identity
(`StarYearMeasure.measure`), not its ID.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.utils import timezone

from ratings.benchmark.cut_points import MeasureSeries, measure_series, org_type_of
from ratings.benchmark.selectors import loaded_star_years
from ratings.cms.cut_points import LEVELS, AttachmentK, TooFewContracts
from ratings.cms.projection import MeasureHistory, ThresholdProjection, project_measure
from ratings.models import CmsMeasureValue, CutPointProjection, Direction, StarYearMeasure

__all__ = [
    "DEFAULT_DRAWS",
    "DEFAULT_SEED",
    "Backtest",
    "MeasureBacktest",
    "MeasureProjection",
    "NoBaseYear",
    "Projection",
    "backtest",
    "cut_point_projection_create",
    "project_cut_points",
]

DEFAULT_DRAWS = 100
DEFAULT_SEED = 8675309


class NoBaseYear(ValueError):
    """No imported star year before the target to project from."""


@dataclass(frozen=True)
class MeasureProjection:
    """One measure's (and org type's) projected thresholds beside the base year's published ones.

    `thresholds` is empty when the measure could not be projected; `note` then says why (and
    otherwise anything the reader should know, e.g. no trend).
    """

    measure_id: int
    cms_id: str
    name: str
    org_type: str | None
    direction: str
    precision: int
    standing: dict[int, Decimal]
    inclusive: dict[int, bool]
    thresholds: dict[int, ThresholdProjection]
    note: str = ""

    def as_stored(self) -> dict[str, Any]:
        """As `CutPointProjection.data` keeps it: `as_json` plus the measure's key and every draw."""
        return {
            **self.as_json(),
            "measure_id": self.measure_id,
            "precision": self.precision,
            "inclusive": {str(level): value for level, value in self.inclusive.items()},
            "draws": (
                np.column_stack([self.thresholds[level].draws for level in LEVELS]).tolist()
                if self.thresholds
                else []
            ),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.cms_id,
            "name": self.name,
            "org_type": self.org_type,
            "direction": self.direction,
            "note": self.note,
            "thresholds": [
                {
                    "star": level,
                    "latest_published": float(self.standing[level]),
                    **(
                        {
                            "median": self.thresholds[level].median,
                            "low": self.thresholds[level].low,
                            "high": self.thresholds[level].high,
                        }
                        if self.thresholds
                        else {"median": None, "low": None, "high": None}
                    ),
                }
                for level in LEVELS
            ],
        }


@dataclass
class Projection:
    """Every non-CAHPS measure's projected thresholds for `target_star_year`."""

    target_star_year: int
    base_star_year: int
    trend_star_year: int | None
    draws: int
    seed: int
    measures: list[MeasureProjection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "target_star_year": self.target_star_year,
            "base_star_year": self.base_star_year,
            "trend_from": (
                None if self.trend_star_year is None else [self.trend_star_year, self.base_star_year]
            ),
            "draws": self.draws,
            "seed": self.seed,
            "interval": "10th-90th percentile of the draws",
            "measures": [measure.as_json() for measure in self.measures],
            "notes": list(self.notes),
        }


def project_cut_points(
    *,
    target_star_year: int,
    base_star_year: int | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[float, str], None] = lambda fraction, stage: None,
) -> Projection:
    """Project `target_star_year`'s non-CAHPS cut points from the newest imported year before it;
    `progress(fraction, stage)` hears each measure."""
    imported = set(loaded_star_years())
    if base_star_year is None:
        earlier = [year for year in imported if year < target_star_year]
        if not earlier:
            raise NoBaseYear(
                f"No star year before {target_star_year} is imported: import the newest published "
                "year's CMS data tables first."
            )
        base_star_year = max(earlier)
    trend_year = base_star_year - 1 if base_star_year - 1 in imported else None
    projection = Projection(
        target_star_year=target_star_year,
        base_star_year=base_star_year,
        trend_star_year=trend_year,
        draws=draws,
        seed=seed,
    )
    if trend_year is None:
        projection.notes.append(
            f"No {base_star_year - 1} measure data imported: the trend is 0 (the {base_star_year} "
            "score distribution, resampled, is the target year's)."
        )
    changes = _changes(base_star_year, trend_year) if trend_year else {}
    exempt = _exempt(target_star_year, base_star_year)
    steps = target_star_year - base_star_year
    every = measure_series(base_star_year)
    for done, series in enumerate(every):
        progress(
            done / len(every),
            f"projecting {series.cms_id}{f' ({series.org_type})' if series.org_type else ''}",
        )
        key = (series.cut.edition.measure_id, series.cut.org_type)
        projection.measures.append(
            _project_one(series, changes.get(key), exempt, steps=steps, draws=draws, seed=seed)
        )
    return projection


def _project_one(
    series: MeasureSeries,
    changes: list[float] | None,
    exempt: dict[str, str],
    *,
    steps: int,
    draws: int,
    seed: int,
) -> MeasureProjection:
    edition = series.cut.edition
    cut = series.cut.as_cms()
    standing = {level: threshold.value for level, threshold in cut.thresholds.items()}
    made = {
        "measure_id": edition.measure_id,
        "cms_id": series.cms_id,
        "name": edition.name,
        "org_type": series.org_type,
        "direction": series.cut.direction,
        "precision": series.precision,
        "standing": standing,
        "inclusive": {level: threshold.inclusive for level, threshold in cut.thresholds.items()},
    }
    if not series.scores:
        why = "no scores published (an improvement measure shows only stars)"
        return MeasureProjection(**made, thresholds={}, note=f"not projected: {why}")
    history = MeasureHistory(
        # The scores CMS clusters: a disaster-affected contract's published prior-year value is not.
        scores=series.clustered(),
        changes=np.asarray(changes or [], dtype=float),
        published={level: float(value) for level, value in standing.items()},
        higher_is_better=series.cut.direction == Direction.HIGHER,
        precision=series.precision,
        guarded=edition.measure.code not in exempt,
    )
    try:
        thresholds = project_measure(history, steps=steps, draws=draws, seed=seed)
    except TooFewContracts as exc:
        return MeasureProjection(
            **made, thresholds={}, note=f"not projected: too few contracts to cluster ({exc})"
        )
    notes = []
    if not changes:
        notes.append("no contract scored in both years: trend 0")
    if not history.guarded:
        notes.append(f"not guarded in the target year ({exempt[edition.measure.code]})")
    return MeasureProjection(**made, thresholds=thresholds, note="; ".join(notes))


def _exempt(target_star_year: int, base_star_year: int) -> dict[str, str]:
    """Measures (by code) the guardrails skip in the target year, and why (Attachment K).

    The target year's Attachment K says where it is shipped (a backtest). Otherwise a measure new
    in the base year (its Attachment K's "new measure") is still in its first three years up to
    two years on, so it stays unguarded; the other exemptions (measures in their second or third
    year, whose first year the tables do not give) are assumed to have ended.
    """
    attachment_k = AttachmentK.for_star_year(target_star_year)
    if attachment_k is not None:
        return _by_code(target_star_year, attachment_k.guardrail_exempt)
    base = AttachmentK.for_star_year(base_star_year)
    if base is None or target_star_year - base_star_year > 2:
        return {}
    return _by_code(
        base_star_year,
        {
            cms_id: f"new in {base_star_year}, so in its first three years in {target_star_year}"
            for cms_id, why in base.guardrail_exempt.items()
            if why.startswith("new measure")
        },
    )


def _by_code(star_year: int, by_cms_id: dict[str, str]) -> dict[str, str]:
    codes = dict(StarYearMeasure.objects.filter(star_year=star_year).values_list("cms_id", "measure__code"))
    return {codes[cms_id]: why for cms_id, why in by_cms_id.items() if cms_id in codes}


def _changes(base_star_year: int, trend_star_year: int) -> dict[tuple[int, str], list[float]]:
    """Each contract's score change from the trend year to the base year, per measure and org type.

    Keyed as the cut points are: Part C measures for all contracts (org type ""), Part D ones by
    the contract's organization type. One query.
    """
    scores: dict[tuple[int, str, str], dict[int, float]] = defaultdict(dict)
    rows = CmsMeasureValue.objects.filter(
        contract__star_year__in=(trend_star_year, base_star_year), score__isnull=False
    ).values_list(
        "edition__measure_id",
        "edition__measure__part",
        "contract__contract_id",
        "contract__organization_type",
        "contract__star_year",
        "score",
    )
    for measure_id, part, contract_id, organization_type, year, score in rows:
        org_type = "" if part == "C" else org_type_of(organization_type)
        scores[(measure_id, org_type, contract_id)][year] = float(score)
    changes: dict[tuple[int, str], list[float]] = defaultdict(list)
    for (measure_id, org_type, _contract), by_year in scores.items():
        if len(by_year) == 2:
            changes[(measure_id, org_type)].append(by_year[base_star_year] - by_year[trend_star_year])
    return changes


@dataclass(frozen=True)
class MeasureBacktest:
    """One measure's projected medians and the "stand still" rule against CMS's published values."""

    cms_id: str
    org_type: str | None
    precision: int
    published: dict[int, Decimal]
    projected: dict[int, float]
    standing: dict[int, Decimal]

    @property
    def projection_error(self) -> float:
        """Mean absolute error of the projected medians over the four thresholds."""
        return float(np.mean([abs(self.projected[level] - float(self.published[level])) for level in LEVELS]))

    @property
    def standing_error(self) -> float:
        """Mean absolute error of last year's cut points over the four thresholds."""
        return float(np.mean([abs(float(self.standing[level] - self.published[level])) for level in LEVELS]))

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.cms_id,
            "org_type": self.org_type,
            "published": {str(level): float(value) for level, value in self.published.items()},
            "projected_median": {str(level): value for level, value in self.projected.items()},
            "latest_published": {str(level): float(value) for level, value in self.standing.items()},
            "projection_mae": round(self.projection_error, 4),
            "stand_still_mae": round(self.standing_error, 4),
        }


@dataclass
class Backtest:
    """A published star year projected from the years before it, beside the "stand still" rule."""

    projection: Projection
    measures: list[MeasureBacktest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, *, percent_scale: bool) -> dict[str, Any]:
        """Both rules' mean absolute error over the measures on one kind of scale, and who wins."""
        chosen = [m for m in self.measures if (m.precision == 0) == percent_scale]
        if not chosen:
            return {"measures": 0, "projection_mae": None, "stand_still_mae": None, "projection_better": 0}
        return {
            "measures": len(chosen),
            "projection_mae": round(float(np.mean([m.projection_error for m in chosen])), 4),
            "stand_still_mae": round(float(np.mean([m.standing_error for m in chosen])), 4),
            "projection_better": sum(m.projection_error < m.standing_error for m in chosen),
            "stand_still_better": sum(m.projection_error > m.standing_error for m in chosen),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "star_year": self.projection.target_star_year,
            "projected_from": self.projection.base_star_year,
            "trend_from": self.projection.as_json()["trend_from"],
            "draws": self.projection.draws,
            "seed": self.projection.seed,
            "percentage_measures": self.summary(percent_scale=True),
            "other_measures": self.summary(percent_scale=False),
            "measures": [measure.as_json() for measure in self.measures],
            "notes": self.projection.notes + self.notes,
        }


def backtest(*, star_year: int, draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED) -> Backtest:
    """Project an imported star year from the year before it and compare with what CMS published."""
    if star_year not in loaded_star_years():
        raise NoBaseYear(f"Star year {star_year} is not imported: there is nothing to compare with.")
    projection = project_cut_points(
        target_star_year=star_year, base_star_year=star_year - 1, draws=draws, seed=seed
    )
    result = Backtest(projection=projection)
    published = {(s.cut.edition.measure_id, s.cut.org_type or None): s for s in measure_series(star_year)}
    projected = {(measure.measure_id, measure.org_type) for measure in projection.measures}
    result.notes.extend(
        f"{s.cms_id}{f' ({s.org_type})' if s.org_type else ''}: no {star_year - 1} cut points "
        "to project from."
        for key, s in published.items()
        if key not in projected
    )
    for measure in projection.measures:
        target = published.get((measure.measure_id, measure.org_type))
        label = f"{measure.cms_id}{f' ({measure.org_type})' if measure.org_type else ''}"
        if target is None:
            result.notes.append(f"{label}: no {star_year} cut points to compare with.")
        elif not measure.thresholds:
            result.notes.append(f"{label}: {measure.note}.")
        else:
            result.measures.append(
                MeasureBacktest(
                    cms_id=target.cms_id,
                    org_type=measure.org_type,
                    precision=target.precision,
                    published={
                        level: threshold.value for level, threshold in target.cut.as_cms().thresholds.items()
                    },
                    projected={level: measure.thresholds[level].median for level in LEVELS},
                    standing=measure.standing,
                )
            )
    return result


def cut_point_projection_create(
    *,
    target_star_year: int,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    user=None,
    progress: Callable[[float, str], None] = lambda fraction, stage: None,
) -> CutPointProjection:
    """Project a star year's cut points and keep them (replacing an earlier projection of that
    year), for the forecasts and optimizer runs working toward it. Audited (auditlog)."""
    projection = project_cut_points(
        target_star_year=target_star_year, draws=draws, seed=seed, progress=progress
    )
    progress(0.99, "storing the projection")
    stored, _ = CutPointProjection.objects.update_or_create(
        target_star_year=target_star_year,
        defaults={
            "base_star_year": projection.base_star_year,
            "trend_star_year": projection.trend_star_year,
            "draws": draws,
            "seed": seed,
            "computed_at": timezone.now(),
            "computed_by": user,
            "data": {
                "measures": [measure.as_stored() for measure in projection.measures],
                "notes": projection.notes,
            },
        },
    )
    return stored

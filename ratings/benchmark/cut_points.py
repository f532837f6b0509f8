"""Reproduce a star year's non-CAHPS cut points from its imported measure data, stage by stage.

`cut_points_reproduce(star_year=…)` runs CMS's method (`ratings.cms.cut_points`) on every
non-CAHPS measure's published scores, per organization type, guards the thresholds with the prior
star year's imported cut points, and compares each stage with what CMS published: the Tukey
cutoffs with Tables K-5/K-6 and the mean-resampling thresholds with Tables K-3/K-4 (where the
year's Attachment K is shipped), the final thresholds with the year's cut points. Every
difference carries its stage and reason; nothing falls back silently (a measure that cannot be
computed is named in `notes`).

A measure is followed across years by its identity (`StarYearMeasure.measure`), not its ID.

CMS clusters each contract's own score of the year (Attachment K: 'measure-specific scores for the
current year's Star Ratings'; the 60 percent rule that left disaster-affected contracts out was
removed for 2026). A disaster-affected contract whose prior-year star was the higher gets that
star 'and corresponding measure score' (Technical Notes, 'Data Handling of Measures for Contracts
Affected by a Major Disaster'), so its published score is the prior year's and its own, clustered
score is not published. Where the tables show it (the published score is the prior year's and its
star is above what the score earns on the year's cut points), that value is left out of the
clustering; it still counts in the Tukey quartiles, as the contract does in CMS's (left out of
the quartiles too, 3 PDP cutoffs of 2026 no longer match Tables K-5/K-6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ratings.benchmark.selectors import methodology_or_none
from ratings.cms import tables
from ratings.cms.cut_points import (
    ABSOLUTE_CAP,
    FENCE_IQR,
    LEVELS,
    AttachmentK,
    Fences,
    Resampling,
    TooFewContracts,
    guardrail,
    improvement_resampling,
    mean_resampling,
    restricted_range_cap,
    round_threshold,
    tukey_fences,
    within_fences,
)
from ratings.cms.disaster import disaster_year
from ratings.cms.engine import measure_star
from ratings.cms.lineage import LineageMeasure
from ratings.models import CmsMeasureValue, CutPoint, Direction

__all__ = [
    "CutPointReport",
    "Difference",
    "MeasureSeries",
    "ThresholdResult",
    "cut_points_reproduce",
    "measure_series",
    "org_type_of",
]

STAGES = ("tukey", "resampling", "guardrails_from_cms", "final")
NOT_PUBLISHED = (
    "no scores published: CMS shows only a star for the improvement measures ('Medicare shows only "
    "a Star Rating for this topic'), so they cannot be clustered from the tables"
)


@dataclass(frozen=True)
class ThresholdResult:
    """One star level of one measure (and org type): each stage's value beside CMS's."""

    measure: str
    org_type: str | None
    star: int
    computed: Decimal | None
    published: Decimal
    before_guardrail: float | None
    cms_before_guardrail: Decimal | None
    spread: tuple[float, float] | None
    guardrail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "org_type": self.org_type,
            "star": self.star,
            "computed": _number(self.computed),
            "published": _number(self.published),
            "before_guardrail": None if self.before_guardrail is None else round(self.before_guardrail, 4),
            "cms_before_guardrail": _number(self.cms_before_guardrail),
            "spread": None if self.spread is None else [round(value, 4) for value in self.spread],
            "guardrail": self.guardrail,
        }


@dataclass(frozen=True)
class Difference:
    """A value that differs from CMS's (or could not be computed), with its stage and why.

    `star` is the star level for the resampling and final stages; for the Tukey stage it is None
    and `cutoff` says which ("lower"/"upper", with the improvement group where there is one).
    """

    measure: str
    org_type: str | None
    stage: str
    star: int | None
    computed: Decimal | None
    published: Decimal
    reason: str
    cutoff: str | None = None

    def as_json(self) -> dict[str, Any]:
        found = {
            "measure": self.measure,
            "org_type": self.org_type,
            "star": self.star,
            "stage": self.stage,
            "computed": _number(self.computed),
            "published": _number(self.published),
            "reason": self.reason,
        }
        if self.cutoff is not None:
            found["cutoff"] = self.cutoff
        return found


@dataclass
class CutPointReport:
    """Every stage's comparison with CMS for one star year (see `as_json` for the shape)."""

    star_year: int
    prior_year: int | None
    seed: int
    resamples: int
    attachment_k: str | None
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {stage: {"compared": 0, "matched": 0} for stage in STAGES}
    )
    thresholds: list[ThresholdResult] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, stage: str, matched: bool) -> None:
        """Record one compared value of a stage."""
        self.counts[stage]["compared"] += 1
        self.counts[stage]["matched"] += int(matched)

    def as_json(self) -> dict[str, Any]:
        """The `cms_cut_points --json` object (issue #18's shape, plus org types and notes)."""
        return {
            "star_year": self.star_year,
            "prior_year": self.prior_year,
            "seed": self.seed,
            "resamples": self.resamples,
            "attachment_k": self.attachment_k,
            "tukey": dict(self.counts["tukey"]),
            "resampling": {
                "compared": self.counts["resampling"]["compared"],
                "within_precision": self.counts["resampling"]["matched"],
            },
            "guardrails_from_cms": dict(self.counts["guardrails_from_cms"]),
            "final": dict(self.counts["final"]),
            "thresholds": [row.as_json() for row in self.thresholds],
            "differences": [row.as_json() for row in self.differences],
            "notes": list(self.notes),
        }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@dataclass
class MeasureSeries:
    """One measure edition's published cut points for one org type and the scores behind them.

    `prior_year_values` are the published scores that are the prior year's, kept for a
    disaster-affected contract in place of its own (see the module's docstring).
    """

    cut: CutPoint
    scores: list[float] = field(default_factory=list)
    prior_year_values: list[float] = field(default_factory=list)

    @property
    def cms_id(self) -> str:
        return self.cut.edition.cms_id

    @property
    def org_type(self) -> str | None:
        return self.cut.org_type or None

    @property
    def precision(self) -> int:
        """Display precision: the catalog's, else the decimals CMS wrote the cut points with."""
        edition = self.cut.edition
        return edition.display_precision if edition.display_precision is not None else self.cut.decimals

    @property
    def on_0_100_scale(self) -> bool:
        """Whole-number displays (percentages, MPF Price Accuracy's score) run from 0 to 100;
        complaints per 1,000 enrollees (2 decimals) have only a lower bound of 0."""
        return self.precision == 0

    def fences(self) -> Fences:
        return tukey_fences(self.scores, minimum=0.0, maximum=100.0 if self.on_0_100_scale else None)

    def clustered(self) -> np.ndarray:
        """The scores clustered: the published ones less the prior year's values."""
        remaining = list(self.scores)
        for value in self.prior_year_values:
            remaining.remove(value)
        return np.asarray(remaining, dtype=float)


def org_type_of(organization_type: str) -> str:
    """Part D cut points differ for PDPs (stand-alone and employer PDPs) and MA-PD contracts."""
    return "PDP" if "PDP" in organization_type else "MA-PD"


def measure_series(star_year: int) -> list[MeasureSeries]:
    """A star year's non-CAHPS cut points with each one's published scores.

    At most three queries: the cut points with their editions and measures (joined), every
    numeric score of the year with its star and contract, and the prior year's scores of the
    disaster-affected contracts (`_mark_prior_year_values`, when there are any).
    """
    cuts = list(
        CutPoint.objects.filter(edition__star_year=star_year)
        .exclude(edition__measure__data_source="CAHPS")
        # Each row needs its edition's ID and precision and its measure's identity.
        .select_related("edition__measure")
        .order_by("edition__cms_id", "org_type")
    )
    by_key = {(cut.edition_id, cut.org_type): MeasureSeries(cut) for cut in cuts}
    scores = CmsMeasureValue.objects.filter(
        contract__star_year=star_year, score__isnull=False, edition_id__in={cut.edition_id for cut in cuts}
    ).values_list(
        "edition_id",
        "contract__contract_id",
        "contract__organization_type",
        "contract__disaster_percent",
        "score",
        "star",
    )
    published = []
    for edition_id, contract_id, organization_type, percents, score, star in scores:
        series = by_key.get((edition_id, "")) or by_key.get((edition_id, org_type_of(organization_type)))
        if series is not None:
            series.scores.append(float(score))
            published.append(_Published(series, contract_id, percents, score, star))
    _mark_prior_year_values(star_year, published)
    _share_part_c_scores(star_year, list(by_key.values()))
    return list(by_key.values())


@dataclass(frozen=True)
class _Published:
    """One published numeric value: its series, contract, the contract's disaster shares, score, star."""

    series: MeasureSeries
    contract_id: str
    disaster_percent: dict[str, str]
    score: Decimal
    star: int | None


def _mark_prior_year_values(star_year: int, published: list[_Published]) -> None:
    """Record the published scores that are the prior year's under the disaster rule.

    A value is the prior year's where its contract had at least the threshold share of enrollees
    in Individual Assistance areas in the measure's disaster year (`disaster.disaster_year`),
    its score equals the contract's prior-year score of the measure, and its star is above the
    star that score earns on the year's own cut points: the star, and so the score, came from
    the prior year. A value whose star the score earns is clustered (the year's own score may
    equal the prior year's). Without the year's catalog or the prior year's tables nothing is
    marked.
    """
    catalog = methodology_or_none(star_year)
    if catalog is None:
        return
    threshold = catalog.disaster_threshold_percent
    affected = [value for value in published if _affected(star_year, value, threshold)]
    if not affected:
        return
    prior = {
        (contract_id, measure_id): score
        for contract_id, measure_id, score in CmsMeasureValue.objects.filter(
            contract__star_year=star_year - 1,
            contract__contract_id__in={value.contract_id for value in affected},
            score__isnull=False,
        ).values_list("contract__contract_id", "edition__measure_id", "score")
    }
    for value in affected:
        series = value.series
        prior_score = prior.get((value.contract_id, series.cut.edition.measure_id))
        if prior_score is None or prior_score != value.score or value.star is None:
            continue
        if value.star > measure_star(value.score, series.cut.as_cms(), series.precision):
            series.prior_year_values.append(float(value.score))


def _affected(star_year: int, value: _Published, threshold: Decimal) -> bool:
    """At least the threshold share of the contract's enrollees in the measure's disaster year."""
    edition = value.series.cut.edition
    measure = LineageMeasure(
        part=edition.measure.part,
        name=edition.name,
        data_source=edition.measure.data_source,
        direction=tables.Direction(value.series.cut.direction),
        improvement=edition.improvement,
    )
    year = disaster_year(star_year, measure)
    percent = value.disaster_percent.get(str(year)) if year is not None else None
    return percent is not None and Decimal(percent) >= threshold


def _share_part_c_scores(star_year: int, series: list[MeasureSeries]) -> None:
    """Give the MA-PD cut points of a measure both parts share its Part C measure's scores.

    Complaints and Members Choosing to Leave are one data source rated in both parts (the
    catalog's `shared_group`): Tables K-4 and K-6 give D02 and D03 for MA-PD contracts exactly
    the Tukey cutoffs and thresholds Tables K-3 and K-5 give C28 and C29, so CMS clusters the
    Part C measure's contracts (MA-only ones too) for both.
    """
    catalog = methodology_or_none(star_year)
    if catalog is None:
        return
    group_of = {measure.id: measure.shared_group for measure in catalog.measures if measure.shared_group}
    part_c = {group_of[s.cms_id]: s for s in series if s.cms_id in group_of and s.cms_id.startswith("C")}
    for shared in series:
        source = part_c.get(group_of.get(shared.cms_id, ""))
        if shared.org_type == "MA-PD" and source is not None:
            shared.scores = list(source.scores)
            shared.prior_year_values = list(source.prior_year_values)


def _guardrail_exemption(
    series: MeasureSeries,
    attachment_k: AttachmentK | None,
    prior: MeasureSeries | None,
    prior_year_imported: bool,
) -> str | None:
    """Why the guardrails skip a measure (Attachment K), or None when they apply.

    Without the year's Attachment K the new measures are those the imported prior year lacks; a
    measure returning after a respecification cannot be told from the tables.
    """
    if series.cut.edition.improvement:
        return "improvement measure: guardrails are not applied to the improvement measures"
    if attachment_k is not None:
        return attachment_k.guardrail_exempt.get(series.cms_id)
    if prior is None and prior_year_imported:
        return "new measure: no cut points for it in the prior star year"
    return None


def cut_points_reproduce(*, star_year: int, seed: int, resamples: int) -> CutPointReport:
    """Recompute a star year's non-CAHPS cut points and compare every stage with CMS's tables."""
    attachment_k = AttachmentK.for_star_year(star_year)
    prior_year = star_year - 1
    current = measure_series(star_year)
    prior_series = measure_series(prior_year)
    report = CutPointReport(
        star_year=star_year,
        prior_year=prior_year if prior_series else None,
        seed=seed,
        resamples=resamples,
        attachment_k=attachment_k.source if attachment_k else None,
    )
    if attachment_k is None:
        report.notes.append(
            f"Tables K-3 to K-6 of the {star_year} Technical Notes are not shipped: only the final "
            "thresholds are compared."
        )
    if not prior_series:
        report.notes.append(
            f"No {prior_year} cut points are imported, so no guardrail is possible: the final "
            "thresholds are the unguarded mean-resampling thresholds, rounded. Nor can a "
            "disaster-affected contract's published prior-year value be told from its own, so "
            "every published score is clustered."
        )
    prior_by_measure = {(s.cut.edition.measure_id, s.cut.org_type): s for s in prior_series}
    for series in current:
        prior = prior_by_measure.get((series.cut.edition.measure_id, series.cut.org_type))
        # One seed for every measure, as CMS's PROC SURVEYSELECT runs with SEED=8675309 for each.
        _reproduce_one(report, series, prior, attachment_k, seed=seed)
    return report


def _reproduce_one(
    report: CutPointReport,
    series: MeasureSeries,
    prior: MeasureSeries | None,
    attachment_k: AttachmentK | None,
    *,
    seed: int,
) -> None:
    """All stages for one measure and org type; appends to the report."""
    label = f"{series.cms_id}{f' ({series.org_type})' if series.org_type else ''}"
    cms_tukey = {
        group: cutoffs
        for (measure, org_type, group), cutoffs in (attachment_k.tukey.items() if attachment_k else ())
        if measure == series.cms_id and org_type == series.org_type
    }
    cms_resampling = attachment_k.resampling.get((series.cms_id, series.org_type)) if attachment_k else None
    published = {level: threshold.value for level, threshold in series.cut.as_cms().thresholds.items()}
    if not series.scores:
        reason = NOT_PUBLISHED if series.cut.edition.improvement else "no numeric scores in the measure data"
        report.notes.append(f"{label}: not computed, {reason}.")
        _not_computed(report, series, cms_tukey, cms_resampling, published, reason)
        return
    if series.prior_year_values:
        report.notes.append(
            f"{label}: {len(series.prior_year_values)} published score(s) are the prior year's, kept "
            "for disaster-affected contracts whose own score (the one CMS clusters) earned fewer "
            "stars and is not published: counted in the Tukey quartiles, left out of the clustering."
        )
    try:
        resampling, fences_by_group = _resample(series, seed=seed, splits=report.resamples)
    except TooFewContracts as exc:
        report.notes.append(f"{label}: too few contracts to cluster ({exc}).")
        _not_computed(report, series, {}, cms_resampling, published, f"too few contracts to cluster ({exc})")
        return
    tukey_matched = all(
        [
            _compare_tukey(report, series, group, fences, cms_tukey.get(group))
            for group, fences in fences_by_group.items()
        ]
    )
    cap, prior_cut = _cap(report, series, prior, attachment_k, label)
    for level in LEVELS:
        mean = resampling.thresholds[level]
        cms_mean = cms_resampling.get(level) if cms_resampling else None
        if cms_mean is not None:
            _compare_resampling(report, series, level, resampling, cms_mean, tukey_matched)
        if cap is None or prior_cut is None:
            guarded, how = mean, _unguarded_reason(series, attachment_k, prior, report.prior_year is not None)
        else:
            guarded = guardrail(mean, float(prior_cut[level]), cap)
            how = "capped" if guarded != mean else "within the cap"
        final = round_threshold(guarded, series.precision)
        if cms_mean is not None:
            # The guardrail, exemption and rounding rules checked alone: CMS's own Table K-3/K-4
            # threshold through them should give the published one.
            report.count(
                "guardrails_from_cms",
                _through_guardrail(cms_mean, level, cap, prior_cut, series) == published[level],
            )
        report.thresholds.append(
            ThresholdResult(
                measure=series.cms_id,
                org_type=series.org_type,
                star=level,
                computed=final,
                published=published[level],
                before_guardrail=mean,
                cms_before_guardrail=cms_mean,
                spread=resampling.spread(level),
                guardrail=how,
            )
        )
        matched = final == published[level]
        report.count("final", matched)
        if not matched:
            reason = _final_reason(series, level, cms_mean, cap, prior_cut, published[level], how)
            report.differences.append(
                Difference(series.cms_id, series.org_type, "final", level, final, published[level], reason)
            )


def _resample(
    series: MeasureSeries, *, seed: int, splits: int
) -> tuple[Resampling, dict[str | None, Fences]]:
    """Tukey outlier deletion and mean resampling; the fences by improvement group (None: all).

    The fences are taken over every published score, the clustering leaves the prior year's
    values out (see the module's docstring).
    """
    if series.cut.edition.improvement:
        resampling, decline, improve = improvement_resampling(series.scores, seed=seed, splits=splits)
        return resampling, {"decline": decline, "improve": improve}
    fences = series.fences()
    resampling = mean_resampling(
        within_fences(series.clustered(), fences),
        higher_is_better=series.cut.direction == Direction.HIGHER,
        seed=seed,
        splits=splits,
    )
    return resampling, {None: fences}


def _unguarded_reason(
    series: MeasureSeries,
    attachment_k: AttachmentK | None,
    prior: MeasureSeries | None,
    prior_year_imported: bool,
) -> str:
    """Why a threshold was not guarded: an exempt measure, or no prior-year cut points."""
    exemption = _guardrail_exemption(series, attachment_k, prior, prior_year_imported)
    return exemption or "no prior-year cut points: not guarded"


def _cap(
    report: CutPointReport,
    series: MeasureSeries,
    prior: MeasureSeries | None,
    attachment_k: AttachmentK | None,
    label: str,
) -> tuple[float | None, dict[int, Decimal] | None]:
    """The guardrail cap and the prior year's thresholds, or (None, None) when not guarded."""
    if _guardrail_exemption(series, attachment_k, prior, report.prior_year is not None) is not None:
        return None, None
    if prior is None:
        if report.prior_year is not None:
            report.notes.append(f"{label}: no prior-year cut points for this measure, so it is not guarded.")
        return None, None
    prior_cut = {level: threshold.value for level, threshold in prior.cut.as_cms().thresholds.items()}
    if series.on_0_100_scale:
        return ABSOLUTE_CAP, prior_cut
    if not prior.scores:
        report.notes.append(
            f"{label}: no prior-year scores for the restricted-range cap, so it is not guarded."
        )
        return None, None
    return restricted_range_cap(prior.fences()), prior_cut


def _compare_tukey(
    report: CutPointReport,
    series: MeasureSeries,
    group: str | None,
    fences: Fences,
    cms: tuple[Decimal, Decimal] | None,
) -> bool:
    """Compare the outer fences with Table K-5/K-6 exactly; True when both match (or no table)."""
    if cms is None:
        return True
    both = True
    for name, computed, published in (("lower", fences.lower, cms[0]), ("upper", fences.upper, cms[1])):
        value = Decimal(repr(round(computed, 6)))
        matched = value == published
        both = both and matched
        report.count("tukey", matched)
        if not matched:
            reason = _tukey_reason(name, series, fences, cms)
            report.differences.append(
                Difference(
                    series.cms_id,
                    series.org_type,
                    "tukey",
                    None,
                    value,
                    published,
                    reason,
                    f"{name} ({group})" if group else name,
                )
            )
    return both


def _tukey_reason(name: str, series: MeasureSeries, fences: Fences, cms: tuple[Decimal, Decimal]) -> str:
    """Why an outer fence differs: the quartiles CMS's cutoffs imply, against the published scores.

    With neither cutoff at the scale's bound, lower = 4 Q1 - 3 Q3 and upper = 4 Q3 - 3 Q1 give
    both quartiles; with one at its bound (it no longer tells its quartile), the other cutoff
    gives its quartile on the published scores' other quartile.
    """
    lower, upper = float(cms[0]), float(cms[1])
    first, third = fences.first_quartile, fences.third_quartile
    lower_informative = lower > 0.0
    upper_informative = not (series.on_0_100_scale and upper >= 100.0)
    if lower_informative and upper_informative:
        implied_first, implied_third = (4 * lower + 3 * upper) / 7, (4 * upper + 3 * lower) / 7
    elif name == "lower":
        implied_first, implied_third = (lower + FENCE_IQR * third) / (1 + FENCE_IQR), third
    else:
        implied_first, implied_third = first, (upper + FENCE_IQR * first) / (1 + FENCE_IQR)
    scores = np.asarray(series.scores, dtype=float)
    counts = []
    if abs(implied_first - first) > 1e-9:
        at_most = int((scores <= implied_first + 1e-9).sum())
        counts.append(f"{at_most} are at or below {round(implied_first, 6):g}")
    if abs(implied_third - third) > 1e-9:
        at_least = int((scores >= implied_third - 1e-9).sum())
        counts.append(f"{at_least} are at or above {round(implied_third, 6):g}")
    return (
        f"the published scores give Q1 = {first:g} and Q3 = {third:g} (SAS PROC MEANS's default "
        f"quartile, QNTLDEF=5); CMS's cutoffs imply Q1 = {round(implied_first, 6):g} and Q3 = "
        f"{round(implied_third, 6):g}, and of the {scores.size} published scores {' and '.join(counts)}, "
        f"where a quartile there needs about a quarter of them ({scores.size / 4:g}): CMS took its "
        "quartiles over contracts the public table does not have (the Technical Notes: 'exclusion of "
        "some contracts' ratings from publicly-posted data (e.g., terminated contracts)')"
    )


def _compare_resampling(
    report: CutPointReport,
    series: MeasureSeries,
    level: int,
    resampling: Resampling,
    cms_mean: Decimal,
    tukey_matched: bool,
) -> None:
    """Compare a mean-resampling threshold with Table K-3/K-4 at the display precision."""
    value = round_threshold(resampling.thresholds[level], series.precision)
    matched = value == cms_mean
    report.count("resampling", matched)
    if matched:
        return
    low, high = (round_threshold(bound, series.precision) for bound in resampling.spread(level))
    if not tukey_matched:
        reason = "the Tukey cutoffs differ from Table K-5/K-6 (see tukey), so other contracts are clustered"
    elif low <= cms_mean <= high:
        reason = (
            f"CMS's value is within the spread of {report.resamples} random 10-group splits ({low}-{high}): "
            "CMS's single split (SAS PROC SURVEYSELECT, seed 8675309, which NumPy cannot replay) falls "
            "elsewhere in it"
        )
    else:
        kept = (
            f"; {len(series.prior_year_values)} contracts' own scores are unpublished (the prior year's "
            "kept by the disaster rule)"
            if series.prior_year_values
            else ""
        )
        reason = (
            f"outside the spread of {report.resamples} random 10-group splits ({low}-{high}), which need "
            "not cover CMS's single split, and the public table is not CMS's input: some contracts CMS "
            "clusters are not published (the Technical Notes: 'exclusion of some contracts' ratings from "
            f"publicly-posted data (e.g., terminated contracts)'){kept}"
        )
    report.differences.append(
        Difference(series.cms_id, series.org_type, "resampling", level, value, cms_mean, reason)
    )


def _through_guardrail(
    threshold: Decimal,
    level: int,
    cap: float | None,
    prior_cut: dict[int, Decimal] | None,
    series: MeasureSeries,
) -> Decimal:
    """A threshold through the guardrail (when one applies) and the display rounding."""
    if cap is None or prior_cut is None:
        return round_threshold(float(threshold), series.precision)
    return round_threshold(guardrail(float(threshold), float(prior_cut[level]), cap), series.precision)


def _final_reason(
    series: MeasureSeries,
    level: int,
    cms_mean: Decimal | None,
    cap: float | None,
    prior_cut: dict[int, Decimal] | None,
    published: Decimal,
    how: str,
) -> str:
    """Why a final threshold differs: traced through CMS's own Table K-3/K-4 value when shipped."""
    if cms_mean is None:
        unguarded = f"not guarded here ({how}); " if cap is None else ""
        return (
            f"{unguarded}no Table K-3/K-4 for this year tells whether the mean-resampling threshold "
            "differs from CMS's (see its spread across splits)"
        )
    via_cms = _through_guardrail(cms_mean, level, cap, prior_cut, series)
    if via_cms == published:
        return (
            f"inherited from mean resampling: CMS's Table K-3/K-4 value {cms_mean} taken through the same "
            "guardrail gives the published threshold"
        )
    if cap is None:
        return (
            f"not guarded here, but CMS's Table K-3/K-4 value {cms_mean} is not the published threshold "
            "either: CMS guarded (or otherwise changed) it"
        )
    return (
        f"CMS's Table K-3/K-4 value {cms_mean} through this guardrail (prior year {prior_cut[level]}, cap "
        f"{cap:g}) gives {via_cms}, not the published threshold"
    )


def _not_computed(
    report: CutPointReport,
    series: MeasureSeries,
    cms_tukey: dict[str | None, tuple[Decimal, Decimal]],
    cms_resampling: dict[int, Decimal] | None,
    published: dict[int, Decimal],
    reason: str,
) -> None:
    """List CMS's values of a measure that could not be computed as differences (none silent)."""
    for group, (lower, upper) in sorted(cms_tukey.items(), key=lambda item: item[0] or ""):
        for name, value in (("lower", lower), ("upper", upper)):
            cutoff = f"{name} ({group})" if group else name
            report.differences.append(
                Difference(series.cms_id, series.org_type, "tukey", None, None, value, reason, cutoff)
            )
    stages = [("resampling", cms_resampling or {}), ("final", published)]
    for stage, values in stages:
        for level, value in sorted(values.items()):
            report.differences.append(
                Difference(series.cms_id, series.org_type, stage, level, None, value, reason)
            )

"""Earlier portfolio snapshots of a demo contract, so its trend has history from the first load.

A real plan's snapshots pile up over the years (`snapshot_portfolio` runs on a schedule); a demo
loaded today would have one. This draws the quarter-end snapshots of the earlier measurement
years and of this year so far, in the shape `ratings.live.services.portfolio_snapshot_create`
writes, and rated by the same engine: each one is the contract's live rating for that
measurement year (its catalog, cut points, contract-level scores and CMS profile) with the
member-level measures' gap counts as they stood that day.

Those counts are today's, moved along two plausible curves: over the years each measure's
year-end rate drifts toward today's (by the contract's yearly gain, give or take a point), and
within a year a rate builds up as claims arrive, from the share a measure's lookback already
meets in January (`YEAR_START_SHARE`) to its year-end value.
"""

from dataclasses import replace
from datetime import date, datetime

import numpy as np
from django.utils import timezone

from members.models import Contract
from ratings.benchmark.selectors import national_percentiles
from ratings.cms.engine import measure_star, rate_contract
from ratings.live.rating import (
    LiveRating,
    MeasureResult,
    contract_live_rating,
    members_to_next_cut_point,
    star_year_for,
)
from ratings.live.selectors import GapCounts, Stratum, gap_counts
from ratings.models import CutPoint, PortfolioSnapshot

QUARTER_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))
# Share of a measure's year-end rate already met on 1 January: multi-year lookbacks (screenings)
# and last year's fills count at once, measures of this year's visits and readings start low.
YEAR_START_SHARE = {
    "BCS": 0.90,
    "COL": 0.92,
    "COA-MR": 0.50,
    "COA-PS": 0.55,
    "EED": 0.60,
    "GSD": 0.55,
    "KED": 0.50,
    "CBP": 0.45,
    "SPC": 0.80,
    "TRC": 0.60,
    "ADH-DIAB": 0.85,
    "ADH-RAS": 0.85,
    "ADH-STATIN": 0.85,
    "SUPD": 0.90,
}
YEARLY_NOISE = 0.7  # percentage points: one measure's year does not follow the trend exactly


def _year_fraction(day: date, year: int) -> float:
    """How far into calendar year `year` `day` is: 0 on 1 January (or before), 1 on 31 December (or after)."""
    start = date(year, 1, 1)
    return min(1.0, max(0.0, (day - start).days / (date(year, 12, 31) - start).days))


def _built_up(code: str, fraction: float) -> float:
    """Share of the year-end rate a measure has reached `fraction` of the way into the year."""
    start = YEAR_START_SHARE[code]
    return start + (1 - start) * fraction


def _counts_at(today: GapCounts, rate: float) -> GapCounts:
    """Today's counts of a measure with `rate` % of its eligible members closed (strata scaled)."""
    eligible = today.eligible
    closed = min(eligible, max(0, round(rate / 100 * eligible)))
    scale = closed / today.closed if today.closed else 0.0
    return GapCounts(
        measure_id=today.measure_id,
        denominator=today.denominator,
        closed=closed,
        open=eligible - closed,
        excluded=today.excluded,
        strata={
            name: Stratum(s.eligible, min(s.eligible, round(s.closed * scale)))
            for name, s in today.strata.items()
        },
    )


def _with_counts(result: MeasureResult, counts: GapCounts, cut: CutPoint) -> MeasureResult:
    """A member-level measure's result as the live rating computes it from `counts`."""
    cms_cut = cut.as_cms()
    precision = result.edition.display_precision
    precision = cut.decimals if precision is None else precision
    return replace(
        result,
        source="gaps",
        counts=counts,
        score=counts.rate,
        status=None,
        precision=precision,
        cut_points=cms_cut,
        star=measure_star(counts.rate, cms_cut, precision),
        next_cut=members_to_next_cut_point(
            numerator=counts.closed,
            eligible=counts.eligible,
            open_gaps=counts.open,
            cut=cms_cut,
            precision=precision,
        ),
        notes=[],
    )


def _snapshot_data(
    base: LiveRating, today: dict[int, GapCounts], rates: dict[str, float], cuts: dict
) -> dict:
    """The snapshot document of `base` (a live rating without gaps) with the member-level rates."""
    counted = {
        r.edition.pk: _counts_at(today[r.measure_pk], rates[r.measure_code])
        for r in base.measures
        if r.edition is not None and r.measure_code in rates and r.edition.pk in cuts
    }
    measures = [
        _with_counts(r, counted[r.edition.pk], cuts[r.edition.pk])
        if r.edition is not None and r.edition.pk in counted
        else r
        for r in base.measures
    ]
    rated = [r for r in measures if r.edition is not None and r.edition.pk in counted]
    found = national_percentiles(
        {r.edition.pk: (r.rounded_score, cuts[r.edition.pk].direction) for r in rated}
    )
    for r in rated:
        r.percentile = found[r.edition.pk] if found[r.edition.pk].contracts else None
    stars = {r.edition.cms_id: r.star for r in measures if r.edition is not None and r.star is not None}
    ratings = rate_contract(stars, base.engine_profile, base.methodology)
    data = replace(base, measures=measures, ratings=ratings).as_dict()
    data.update({"projection": None, "plan": None})
    return data


def snapshot_dates(measurement_year: int, *, before: date) -> list[date]:
    """The measurement year's quarter ends before `before`."""
    ends = [date(measurement_year, month, day) for month, day in QUARTER_ENDS]
    return [day for day in ends if day < before]


def snapshots_backfill(
    *,
    contract: Contract,
    measurement_year: int,
    earlier_years: int,
    yearly_gain: float,
    rng: np.random.Generator,
) -> int:
    """Quarter-end snapshots of the contract's `earlier_years` measurement years before
    `measurement_year` and of that year so far (before today); how many were written.

    Today's rates are the contract's gaps now; a year `k` years earlier ended `k × yearly_gain`
    points lower, give or take `YEARLY_NOISE`. Measures not in `YEAR_START_SHARE` are left as
    that year's live rating has them (no gaps: not rated).
    """
    today = timezone.localdate()
    counts = gap_counts(contract=contract, measurement_year=measurement_year)
    now = contract_live_rating(contract=contract, measurement_year=measurement_year)
    rate_now = {
        r.measure_code: float(counts[r.measure_pk].rate)
        for r in now.measures
        if r.measure_code in YEAR_START_SHARE and r.measure_pk in counts and counts[r.measure_pk].eligible
    }
    built_now = {code: _built_up(code, _year_fraction(today, measurement_year)) for code in rate_now}
    written = 0
    for year in range(measurement_year - earlier_years, measurement_year + 1):
        behind = measurement_year - year
        year_end = {
            code: rate / built_now[code]
            - behind * yearly_gain
            + (rng.normal(0, YEARLY_NOISE) if behind else 0)
            for code, rate in rate_now.items()
        }
        base = contract_live_rating(contract=contract, measurement_year=year)
        editions = [r.edition for r in base.measures if r.edition is not None]
        cuts = {
            cut.edition_id: cut
            for cut in CutPoint.objects.filter(edition__in=editions, org_type__in=["", "MA-PD"])
        }
        for day in snapshot_dates(year, before=today):
            fraction = _year_fraction(day, year)
            rates = {code: min(100.0, rate * _built_up(code, fraction)) for code, rate in year_end.items()}
            PortfolioSnapshot.objects.create(
                contract=contract,
                measurement_year=year,
                star_year=star_year_for(year),
                taken_at=timezone.make_aware(datetime(day.year, day.month, day.day, 6)),
                data=_snapshot_data(base, counts, rates, cuts),
            )
            written += 1
    return written

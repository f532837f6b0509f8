"""Ratings of a star year whose CAI values are not documented: checked for consistency.

The CAI values per final adjustment category (Technical Notes Tables 12, 15, 18 and 21) are
computed from beneficiary-level data, so they cannot be derived from the public tables; the 2026
notes give only 2026's. A rating computed without the CAI becomes the published one for an
interval of CAI values (`cai_interval`), and CMS gives every contract of one final adjustment
category (the CAI table) the same value. So per rating column and category the value most
non-disaster contracts allow is fitted (`shared_range`), and a contract matches when its
interval holds it. That tests everything but the CAI itself (measure weights, reward factor,
improvement hold harmless, minimum measures, rounding); it does not reproduce the ratings.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ratings.cms.engine import RatingResult, round_to_half_star
from ratings.cms.methodology import Methodology

__all__ = ["cai_interval", "shared_range"]

Interval = tuple[Decimal, Decimal]


def cai_interval(
    result: RatingResult, hold_harmless: bool, published: Decimal, methodology: Methodology
) -> Interval | None:
    """The CAI values [low, high) for which a rating computed with CAI 0 becomes `published`.

    The rating is the with-improvement result, or the without-improvement one when it is 4 stars
    or more and higher ('Applying the Improvement Measure(s)'); it never falls as the CAI grows,
    so the values giving one rating form an interval, whose ends are where half-star bands start.
    """
    assert result.with_improvement is not None and result.without_improvement is not None
    with_value = result.with_improvement.value_before_rounding
    without_value = result.without_improvement.value_before_rounding

    def rating(cai: Decimal) -> Decimal:
        with_rating = round_to_half_star(with_value + cai, methodology)
        without_rating = round_to_half_star(without_value + cai, methodology)
        if (
            hold_harmless
            and without_rating >= methodology.hold_harmless_minimum
            and with_rating < without_rating
        ):
            return without_rating
        return with_rating

    bounds = sorted(
        {low - value for low, _ in methodology.half_star_bands for value in (with_value, without_value)}
    )
    starts = [b for b in bounds if rating(b) == published]
    if not starts:
        return None
    ends = [b for b in bounds if b > starts[-1] and rating(b) != published]
    return starts[0], ends[0] if ends else Decimal("Infinity")


def shared_range(intervals: Iterable[tuple[Interval | None, bool]]) -> Interval | None:
    """The CAI range held by the most non-disaster contracts' intervals (then the most of all).

    `intervals` pairs each contract's interval (None: no CAI gives its rating) with whether it
    is a disaster contract.
    """
    known = [(interval, disaster) for interval, disaster in intervals if interval is not None]
    if not known:
        return None

    def holding(cai: Decimal) -> tuple[int, int]:
        held = [disaster for interval, disaster in known if interval[0] <= cai < interval[1]]
        return held.count(False), len(held)

    low = max(sorted({interval[0] for interval, _ in known}), key=holding)
    return low, min(interval[1] for interval, _ in known if interval[0] <= low < interval[1])

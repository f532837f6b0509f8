"""Intervention options for the MILP: one per (member, type), or aggregated into classes at scale.

The rule (`InterventionType`): one intervention of a type per member works all the member's open
gaps on the measures the type uplifts, and a gap worked by several interventions closes with
probability min(1, p + Σ uplifts). A candidate is a (member, type) pair that would raise at least
one open gap on a measure that can still change the rating; its gain on measure m is the rise
δ = min(uplift, 1 − p) of the member's gap on m.

Exact mode: every candidate is its own class (a binary variable). A gap two or more candidates
could work is "shared": its rise is a variable capped at both 1 − p and the sum of the chosen
candidates' uplifts, so the MILP applies the rule exactly.

Aggregated mode (large portfolios): candidates of one type whose gaps fall in the same
probability bucket on every valued measure form a class with an integer count variable. Bucket
edges include 1 − uplift of every type, so below them δ is exactly the uplift, and a grid of
`bucket_width` above them, so within a class δ varies by at most that width. Each class carries
the smallest and the largest δ of its members per measure: the smallest for the plan, the largest
for `relaxation`. Gains add up across types here (the cap on shared gaps binds only when p plus
two uplifts exceeds 1, i.e. for gaps already likely to close); the realized plan is scored with
the exact rule, and the relaxation's additive gains are an upper bound on every plan's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings.portfolio.model import Prepared

__all__ = [
    "Candidates",
    "Expansion",
    "apply_interventions",
    "build_candidates",
    "dense_probabilities",
    "expand",
    "gains_of_type",
    "probabilities_of",
    "relaxation",
]


def dense_probabilities(prepared: Prepared, probabilities: list[np.ndarray]) -> np.ndarray:
    """A (members × measures) matrix of open-gap probabilities, NaN where the member has no open gap."""
    matrix = np.full((prepared.member_keys.size, len(prepared.measures)), np.nan)
    for measure in prepared.measures:
        matrix[measure.members, measure.index] = probabilities[measure.index]
    return matrix


def probabilities_of(prepared: Prepared, dense: np.ndarray) -> list[np.ndarray]:
    """Per measure, its gaps' probabilities in input order, read from a dense matrix."""
    return [dense[m.members, m.index] for m in prepared.measures]


def gains_of_type(prepared: Prepared, dense: np.ndarray, type_index: int, rows: np.ndarray) -> np.ndarray:
    """δ = min(uplift, 1 − p) of one type for the given members on every measure (0 where no gap)."""
    uplift = prepared.uplift[type_index]
    block = dense[rows]
    gains = np.minimum(uplift[None, :], 1.0 - block)
    return np.where(np.isnan(block) | (uplift[None, :] <= 0), 0.0, gains)


def apply_interventions(
    prepared: Prepared, dense: np.ndarray, member_codes: np.ndarray, type_index: np.ndarray
) -> np.ndarray:
    """Gap probabilities after the interventions: p → min(1, p + the uplifts of every one working it)."""
    lift = np.zeros(dense.shape)
    np.add.at(lift, member_codes, prepared.uplift[type_index])
    return np.where(np.isnan(dense), dense, np.minimum(1.0, dense + lift))


@dataclass(frozen=True, eq=False)
class Candidates:
    """Classes of candidates: type, size, gain bounds, members (best first), shared gaps (exact mode).

    Shared gap s lies on measure `shared_measure[s]`, can rise by at most `shared_cap[s]` (1 − p),
    and candidate `shared_columns[i]` contributes uplift `shared_uplift[i]` to gap `shared_rows[i]`;
    the candidates' `gain_*` leave shared gaps out.
    """

    aggregated: bool
    type_index: np.ndarray
    size: np.ndarray
    gain_low: np.ndarray
    gain_high: np.ndarray
    member_start: np.ndarray
    members: np.ndarray
    candidate_count: int
    shared_measure: np.ndarray
    shared_cap: np.ndarray
    shared_rows: np.ndarray
    shared_columns: np.ndarray
    shared_uplift: np.ndarray

    @property
    def class_count(self) -> int:
        """Number of classes (MILP count variables)."""
        return self.size.size

    def class_members(self, j: int) -> np.ndarray:
        """The member codes of class j, best first."""
        return self.members[self.member_start[j] : self.member_start[j + 1]]


def _bucket_edges(prepared: Prepared, m: int, bucket_width: float) -> np.ndarray:
    """Probability bucket edges of a measure: 0, every 1 − uplift, a grid above the lowest, 1."""
    uplifts = prepared.uplift[:, m][prepared.uplift[:, m] > 0]
    kinks = 1.0 - uplifts
    start = kinks.min() if kinks.size else 1.0
    grid = np.arange(start, 1.0, bucket_width)
    return np.unique(np.concatenate([[0.0, 1.0], kinks, grid]))


def _buckets(prepared: Prepared, dense: np.ndarray, bucket_width: float) -> np.ndarray:
    """Per member and measure the bucket of the open gap (−1: none, or certain to close)."""
    buckets = np.full(dense.shape, -1, dtype=np.int64)
    for m in range(dense.shape[1]):
        edges = _bucket_edges(prepared, m, bucket_width)
        column = dense[:, m]
        open_gap = ~np.isnan(column) & (column < 1.0)
        buckets[open_gap, m] = np.searchsorted(edges, column[open_gap], side="right") - 1
    return buckets


def build_candidates(
    prepared: Prepared,
    dense: np.ndarray,
    valued: np.ndarray,
    member_value: np.ndarray,
    *,
    aggregate: bool,
    bucket_width: float,
) -> Candidates:
    """Build the MILP's classes; `valued` marks the measures whose gains count, `member_value` ranks members.

    `member_value` is the per-measure value of one expected closure (the priorities' marginal
    values), so "best first" inside a class is the worklist's order.
    """
    measure_count = dense.shape[1]
    open_gap = ~np.isnan(dense) & (dense < 1.0)
    buckets = _buckets(prepared, dense, bucket_width) if aggregate else None
    type_index, sizes, lows, highs, starts, members = [], [], [], [], [0], []
    candidate_count = 0
    candidate_of = np.full((len(prepared.types), dense.shape[0]), -1, dtype=np.int64)
    for t in range(len(prepared.types)):
        valued_cover = (prepared.uplift[t] > 0) & valued
        if not valued_cover.any():
            continue
        rows = np.flatnonzero(open_gap[:, valued_cover].any(axis=1))
        if rows.size == 0:
            continue
        gains = gains_of_type(prepared, dense, t, rows) * valued[None, :]
        score = gains @ member_value
        candidate_count += rows.size
        if not aggregate:
            first = len(sizes)
            candidate_of[t, rows] = np.arange(first, first + rows.size)
            type_index.extend([t] * rows.size)
            sizes.extend([1] * rows.size)
            lows.append(gains)
            highs.append(gains)
            members.extend(rows.tolist())
            starts.extend(range(starts[-1] + 1, starts[-1] + rows.size + 1))
            continue
        keys = buckets[rows][:, valued_cover]
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.lexsort((rows, -score, inverse))
        counts = np.bincount(inverse, minlength=len(unique))
        bounds = np.concatenate([[0], np.cumsum(counts)])
        ordered_gains = gains[order]
        lows.append(np.minimum.reduceat(ordered_gains, bounds[:-1], axis=0))
        highs.append(np.maximum.reduceat(ordered_gains, bounds[:-1], axis=0))
        type_index.extend([t] * len(unique))
        sizes.extend(counts.tolist())
        members.extend(rows[order].tolist())
        starts.extend((starts[-1] + bounds[1:]).tolist())
    low = np.vstack(lows) if lows else np.zeros((0, measure_count))
    high = np.vstack(highs) if highs else np.zeros((0, measure_count))
    kinds = np.array(type_index, dtype=np.int64)
    codes = np.array(members, dtype=np.int64)
    shared = (
        _shared_gaps(prepared, dense, candidate_of, valued, low, high, kinds, codes)
        if not aggregate
        else None
    )
    empty_int, empty = np.empty(0, np.int64), np.empty(0)
    return Candidates(
        aggregated=aggregate,
        type_index=kinds,
        size=np.array(sizes, dtype=np.int64),
        gain_low=low,
        gain_high=high,
        member_start=np.array(starts, dtype=np.int64),
        members=codes,
        candidate_count=candidate_count,
        shared_measure=shared[0] if shared else empty_int,
        shared_cap=shared[1] if shared else empty,
        shared_rows=shared[2] if shared else empty_int,
        shared_columns=shared[3] if shared else empty_int,
        shared_uplift=shared[4] if shared else empty,
    )


def _shared_gaps(
    prepared: Prepared,
    dense: np.ndarray,
    candidate_of: np.ndarray,
    valued: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    kinds: np.ndarray,
    codes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact mode: the valued gaps two or more candidates work, moved out of the candidates' gains."""
    measures, caps, rows, columns, uplifts = [], [], [], [], []
    for m in np.flatnonzero(valued):
        covering = np.flatnonzero(prepared.uplift[:, m] > 0)
        if covering.size < 2:
            continue
        members = np.flatnonzero(~np.isnan(dense[:, m]) & (dense[:, m] < 1.0))
        block = candidate_of[np.ix_(covering, members)].T
        shared = np.flatnonzero((block >= 0).sum(axis=1) >= 2)
        for gap in shared:
            takers = block[gap][block[gap] >= 0]
            low[takers, m] = 0.0
            high[takers, m] = 0.0
            rows.append(np.full(takers.size, len(caps)))
            columns.append(takers)
            uplifts.append(prepared.uplift[kinds[takers], m])
            measures.append(m)
            caps.append(1.0 - dense[members[gap], m])
    if not caps:
        return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return (
        np.array(measures, dtype=np.int64),
        np.array(caps),
        np.concatenate(rows),
        np.concatenate(columns),
        np.concatenate(uplifts),
    )


def relaxation(candidates: Candidates) -> Candidates:
    """Merge classes of one type and one set of worked measures, at their members' largest gains.

    Every member-level plan maps onto these few columns with no less gain (the uplifts on shared
    gaps add, never exceeding the sum), so the MILP over them is a relaxation: its dual bounds
    bound every plan, and with a few hundred columns HiGHS solves it in milliseconds where the
    full class problem can spend tens of seconds on root cuts. In exact mode the shared gaps'
    gains are restored at their uplifts (capped at 1 − p) before merging.
    """
    if candidates.class_count == 0:
        return candidates
    gains = candidates.gain_high.copy()
    if candidates.shared_rows.size:
        rise = np.minimum(candidates.shared_uplift, candidates.shared_cap[candidates.shared_rows])
        np.maximum.at(
            gains, (candidates.shared_columns, candidates.shared_measure[candidates.shared_rows]), rise
        )
    covered = gains > 0
    unique, inverse = np.unique(
        np.column_stack([candidates.type_index, covered]), axis=0, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    merged = np.zeros((unique.shape[0], gains.shape[1]))
    np.maximum.at(merged, inverse, gains)
    empty_int, empty = np.empty(0, np.int64), np.empty(0)
    return Candidates(
        aggregated=True,
        type_index=unique[:, 0].astype(np.int64),
        size=np.bincount(inverse, weights=candidates.size, minlength=unique.shape[0]).astype(np.int64),
        gain_low=merged,
        gain_high=merged,
        member_start=np.zeros(unique.shape[0] + 1, dtype=np.int64),
        members=empty_int,
        candidate_count=candidates.candidate_count,
        shared_measure=empty_int,
        shared_cap=empty,
        shared_rows=empty_int,
        shared_columns=empty_int,
        shared_uplift=empty,
    )


@dataclass(frozen=True, eq=False)
class Expansion:
    """Concrete interventions: member codes and type indices."""

    member_codes: np.ndarray
    type_index: np.ndarray


def expand(
    prepared: Prepared, candidates: Candidates, counts: np.ndarray, dense: np.ndarray, weight: np.ndarray
) -> Expansion:
    """Turn class counts into members: in each class those whose gains are worth most under
    `weight` (the plan's value of an expected closure per measure, `closure_gradient`) first,
    the worklist's order among equals.
    """
    chosen = np.flatnonzero(counts > 0)
    if chosen.size == 0:
        return Expansion(np.empty(0, np.int64), np.empty(0, np.int64))
    picked = []
    for j in chosen:
        members = candidates.class_members(j)
        worth = gains_of_type(prepared, dense, int(candidates.type_index[j]), members) @ weight
        picked.append(members[np.argsort(-worth, kind="stable")][: int(counts[j])])
    types = np.repeat(candidates.type_index[chosen], counts[chosen])
    return Expansion(np.concatenate(picked), types.astype(np.int64))

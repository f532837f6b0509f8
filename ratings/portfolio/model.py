"""The validated portfolio the forecast, the optimizer and the priorities all work on.

`prepare()` turns a `PortfolioInput` into NumPy arrays: per member-level measure its gap
probabilities (fallback applied), today's star and the number of extra closures each higher star
needs (found with the engine's own `measure_star`, so display-precision rounding and inclusive
bounds are CMS's), and a `RatingOracle` that rates member-level star vectors with the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ratings.cms.engine import (
    ContractProfile,
    RatingResult,
    RatingType,
    measure_star,
    rate_contract,
    rating_measures,
)
from ratings.cms.methodology import Methodology, RatedAs
from ratings.cms.tables import CutPoints, Direction
from ratings.portfolio.inputs import (
    ContractMeasure,
    InterventionType,
    MemberMeasure,
    PortfolioInput,
    PortfolioInputError,
    validate_input,
    validate_member_measure,
)

__all__ = ["HIGHEST_RATING", "Prepared", "PreparedMeasure", "RatingOracle", "prepare"]

# Technical Notes Table 3: the rating a contract is ultimately judged by.
HIGHEST_RATING = {
    RatedAs.MA_PD: RatingType.OVERALL,
    RatedAs.MA_ONLY: RatingType.PART_C,
    RatedAs.PDP: RatingType.PART_D,
}


def member_score(measure: MemberMeasure, extra_closures: int) -> Decimal:
    """The measure's score (a percentage) after `extra_closures` more gaps close."""
    closed = measure.closed + extra_closures
    if measure.cut_points.direction is Direction.LOWER:
        closed = measure.eligible - closed
    return Decimal(100 * closed) / Decimal(measure.eligible)


def closures_needed(measure: MemberMeasure, cut_points: CutPoints | None = None) -> np.ndarray:
    """Extra closures needed for each star level 0..5 (0 up to today's star, inf if out of reach),
    under the measure's cut points or the `cut_points` given (one of its projected draws).

    The star is nondecreasing in the closures, so each level's smallest count is found by binary
    search over 0..open gaps with the engine's `measure_star`.
    """
    cut = measure.cut_points if cut_points is None else cut_points

    def star(extra: int) -> int:
        """The engine's star after `extra` more closures."""
        return measure_star(member_score(measure, extra), cut, measure.precision)

    current, best = star(0), star(measure.open_count)
    needed = np.full(6, np.inf)
    needed[: current + 1] = 0.0
    for level in range(current + 1, best + 1):
        low, high = 0, measure.open_count
        while low < high:
            middle = (low + high) // 2
            if star(middle) >= level:
                high = middle
            else:
                low = middle + 1
        needed[level] = low
    return needed


@dataclass(frozen=True, eq=False)
class PreparedMeasure:
    """A member-level measure as arrays: dense member codes, probabilities, thresholds."""

    source: MemberMeasure
    index: int
    members: np.ndarray
    probabilities: np.ndarray
    current_star: int
    needed: np.ndarray
    weight: Decimal
    in_rating: bool
    needed_draws: np.ndarray | None = None
    draw_weights: np.ndarray | None = None

    @property
    def cms_id(self) -> str:
        """The measure ID of the star year, e.g. C01."""
        return self.source.cms_id

    def threshold_sets(self) -> tuple[np.ndarray, np.ndarray]:
        """The closures each star needs under every distinct projected draw of the cut points, and
        each draw's probability; `needed` alone, with probability 1, when the cut points are certain."""
        if self.needed_draws is None:
            return self.needed[None, :], np.ones(1)
        return self.needed_draws, self.draw_weights

    def star_probabilities_at(self, extra_closures: int) -> np.ndarray:
        """P(star = 1..5) after exactly `extra_closures` more closures (one-hot when the cut points
        are certain; spread over the projected draws otherwise)."""
        rows, weights = self.threshold_sets()
        per_draw = (rows[:, 1:] <= extra_closures).sum(axis=1)
        return np.bincount(per_draw - 1, weights=weights, minlength=5)

    def rate_for(self, extra_closures: float) -> float:
        """The score as a float percentage after `extra_closures` (possibly fractional) closures."""
        source = self.source
        closed = source.closed + extra_closures
        if source.cut_points.direction is Direction.LOWER:
            closed = source.eligible - closed
        return 100.0 * closed / source.eligible


class RatingOracle:
    """The contract's highest-level rating for member-level star vectors, computed by the engine.

    Attachment H's mean and variance depend on the member-level stars only through S = Σ w·s and
    Q = Σ w·s² (contract-level stars are fixed), so ratings are memoized on the key (S, Q, stars of
    the member-level measures whose weight or inclusion the engine may change: new measures when
    the profile has disaster percentages, for the new-measure hold harmless; adherence measures of
    Puerto Rico-only contracts, which weigh 0). Each distinct key is rated once by `rate_contract`
    on one vector that has it; `tests/portfolio/test_model.py` checks the memoized ratings against
    direct engine calls on random vectors for five kinds of contract. (The engine's Decimal
    arithmetic could, in principle, round two vectors with one key differently if the unrounded
    variance fell exactly on a 6-decimal tie that is itself a Table 9 threshold.)
    """

    def __init__(
        self,
        methodology: Methodology,
        profile: ContractProfile,
        fixed_stars: dict[str, int],
        member_ids: Sequence[str],
    ) -> None:
        self.methodology = methodology
        self.profile = profile
        self.fixed_stars = dict(fixed_stars)
        self.member_ids = tuple(member_ids)
        self.rating_type = HIGHEST_RATING[profile.rated_as]
        probe = {**self.fixed_stars, **dict.fromkeys(self.member_ids, 1)}
        entering = {m.id for m in rating_measures(methodology, self.rating_type, probe)}
        self.in_rating = np.array([i in entering for i in self.member_ids], dtype=bool)
        weights = [methodology.measure(i).weight for i in self.member_ids]
        scale = 10 ** max([0] + [-int(w.as_tuple().exponent) for w in weights])
        self.weights = np.array(
            [int(w * scale) if inside else 0 for w, inside in zip(weights, self.in_rating, strict=True)],
            dtype=np.int64,
        )
        # Without any disaster percentage the new-measure hold harmless cannot apply.
        disaster_data = any(v is not None for v in profile.disaster_percent.values())
        self.special = np.array(
            [
                index
                for index, cms_id in enumerate(self.member_ids)
                if self.in_rating[index]
                and (
                    (disaster_data and methodology.measure(cms_id).new_measure)
                    or (profile.puerto_rico_only and methodology.measure(cms_id).puerto_rico_zero_weight)
                )
            ],
            dtype=np.int64,
        )
        self._cache: dict[tuple[int, ...], tuple[float, float]] = {}

    def keys(self, stars: np.ndarray) -> np.ndarray:
        """The memo key of each row of a (rows × member measures) star matrix."""
        stars = np.asarray(stars, dtype=np.int64)
        columns = [stars @ self.weights, (stars * stars) @ self.weights]
        columns.extend(stars[:, i] for i in self.special)
        return np.column_stack(columns)

    def key_of(self, row: Sequence[int]) -> tuple[int, ...]:
        """The memo key of one star vector."""
        return tuple(int(v) for v in self.keys(np.asarray([row]))[0])

    def result(self, row: Sequence[int]) -> RatingResult:
        """The engine's full highest-level rating result for one member-level star vector."""
        stars = dict(self.fixed_stars)
        stars.update({cms_id: int(s) for cms_id, s in zip(self.member_ids, row, strict=True)})
        result = rate_contract(stars, self.profile, self.methodology).get(self.rating_type)
        assert result is not None, "Table 3 guarantees the highest-level rating exists"
        return result

    def _rate_key(self, key: tuple[int, ...], row: Sequence[int]) -> tuple[float, float]:
        """Rating and reward factor of a key (computed once from any vector with that key)."""
        cached = self._cache.get(key)
        if cached is None:
            result = self.result(row)
            if result.rating is None:
                cached = (np.nan, np.nan)
            else:
                assert result.chosen is not None
                cached = (float(result.rating), float(result.chosen.reward_factor))
            self._cache[key] = cached
        return cached

    def rate(self, stars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ratings and reward factors of each row of a star matrix (NaN where not rated)."""
        stars = np.asarray(stars, dtype=np.int64)
        if stars.shape[0] == 0:
            return np.empty(0), np.empty(0)
        keys = self.keys(stars)
        unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        ratings = np.empty(len(unique))
        rewards = np.empty(len(unique))
        for position, (key, row_index) in enumerate(zip(unique, first, strict=True)):
            ratings[position], rewards[position] = self._rate_key(
                tuple(int(v) for v in key), stars[row_index]
            )
        inverse = inverse.reshape(-1)
        return ratings[inverse], rewards[inverse]

    def best_by_key(
        self, low: np.ndarray, high: np.ndarray, level_values: Sequence[np.ndarray] | None = None
    ) -> dict[tuple[int, ...], tuple[float, np.ndarray]]:
        """Every key reachable with stars in [low, high], with the best additive value reaching it.

        A dynamic program over the measures: states are partial keys, each keeping the largest
        Σ level_values[m][s_m] found so far and a star vector attaining it. Measures outside the
        rating stay at `low`. With no values, it simply lists the reachable keys with a witness.
        """
        count = len(self.member_ids)
        special_position = {int(m): p for p, m in enumerate(self.special)}
        states: dict[tuple, tuple[float, tuple[int, ...]]] = {(0, 0, ()): (0.0, ())}
        for m in range(count):
            levels = range(int(low[m]), int(high[m]) + 1) if self.in_rating[m] else [int(low[m])]
            weight = int(self.weights[m])
            grown: dict[tuple, tuple[float, tuple[int, ...]]] = {}
            for (s_sum, q_sum, specials), (value, witness) in states.items():
                for level in levels:
                    extra = 0.0 if level_values is None else float(level_values[m][level])
                    new_specials = (*specials, level) if m in special_position else specials
                    key = (s_sum + weight * level, q_sum + weight * level * level, new_specials)
                    candidate = (value + extra, (*witness, level))
                    best = grown.get(key)
                    if best is None or candidate[0] > best[0]:
                        grown[key] = candidate
            states = grown
        return {
            (s_sum, q_sum, *specials): (value, np.array(witness, dtype=np.int64))
            for (s_sum, q_sum, specials), (value, witness) in states.items()
        }


@dataclass(frozen=True, eq=False)
class Prepared:
    """A validated portfolio: measures as arrays, fixed stars, catalog matrices, the oracle."""

    source: PortfolioInput
    measures: tuple[PreparedMeasure, ...]
    fixed_stars: dict[str, int]
    oracle: RatingOracle
    member_keys: np.ndarray
    types: tuple[InterventionType, ...]
    uplift: np.ndarray
    costs: np.ndarray

    @property
    def current_stars(self) -> np.ndarray:
        """Today's star of each member-level measure."""
        return np.array([m.current_star for m in self.measures], dtype=np.int64)


def _fixed_star(measure: ContractMeasure) -> int:
    """A contract-level measure's star: given, or from its score and cut points."""
    if measure.star is not None:
        return int(measure.star)
    return measure_star(Decimal(measure.score), measure.cut_points, measure.precision)


def _needed_draws(source: MemberMeasure) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The closures needed under each distinct projected draw of the cut points and its share of
    the draws (rounded thresholds repeat, so far fewer rows than draws); (None, None) without."""
    if not source.projected:
        return None, None
    distinct: dict[tuple, list] = {}
    for cut in source.projected:
        key = tuple((level, t.value, t.inclusive) for level, t in sorted(cut.thresholds.items()))
        distinct.setdefault(key, [cut, 0])[1] += 1
    rows = np.array([closures_needed(source, cut) for cut, _count in distinct.values()])
    weights = np.array([count for _cut, count in distinct.values()], dtype=float) / len(source.projected)
    return rows, weights


def prepare(portfolio: PortfolioInput) -> Prepared:
    """Validate a portfolio and build the arrays and the rating oracle every computation uses."""
    validate_input(portfolio)
    methodology = portfolio.methodology
    if portfolio.profile.contract_type not in methodology.contract_types:
        raise PortfolioInputError(
            f"unknown contract type {portfolio.profile.contract_type!r}; "
            f"expected one of {sorted(methodology.contract_types)}"
        )
    fixed = {m.cms_id: _fixed_star(m) for m in portfolio.contract_measures}
    probabilities = [
        validate_member_measure(m, portfolio.fallback_probability) for m in portfolio.member_measures
    ]
    raw_members = [np.asarray(m.gap_members, dtype=np.int64) for m in portfolio.member_measures]
    member_keys, codes = np.unique(
        np.concatenate(raw_members) if raw_members else np.empty(0, np.int64), return_inverse=True
    )
    offsets = np.cumsum([0] + [m.size for m in raw_members])
    ids = [m.cms_id for m in portfolio.member_measures]
    oracle = RatingOracle(methodology, portfolio.profile, fixed, ids)
    needed = [closures_needed(source) for source in portfolio.member_measures]
    drawn = [_needed_draws(source) for source in portfolio.member_measures]
    codes = codes.reshape(-1)
    measures = tuple(
        PreparedMeasure(
            source=source,
            index=index,
            members=codes[offsets[index] : offsets[index + 1]],
            probabilities=probabilities[index],
            current_star=int(np.count_nonzero(needed[index][1:] == 0)),
            needed=needed[index],
            weight=methodology.measure(source.cms_id).weight,
            in_rating=bool(oracle.in_rating[index]),
            needed_draws=drawn[index][0],
            draw_weights=drawn[index][1],
        )
        for index, source in enumerate(portfolio.member_measures)
    )
    baseline = oracle.result([m.current_star for m in measures])
    if baseline.rating is None:
        raise PortfolioInputError(
            f"the contract's {oracle.rating_type.value} rating cannot be computed: {baseline.status} "
            f"({baseline.rated_measure_count} rated measures, {baseline.minimum_required} required); "
            "give the contract-level measures' stars or scores"
        )
    measure_index = {cms_id: i for i, cms_id in enumerate(ids)}
    uplift = np.zeros((len(portfolio.interventions), len(ids)))
    for t, kind in enumerate(portfolio.interventions):
        for cms_id, value in kind.uplift.items():
            if cms_id in measure_index:
                uplift[t, measure_index[cms_id]] = float(value)
    return Prepared(
        source=portfolio,
        measures=measures,
        fixed_stars=fixed,
        oracle=oracle,
        member_keys=member_keys,
        types=tuple(portfolio.interventions),
        uplift=uplift,
        costs=np.array([float(t.unit_cost) for t in portfolio.interventions]),
    )

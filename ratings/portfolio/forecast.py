"""Year-end forecast of measure stars and the contract's rating, and what-if scenarios.

Model: each open gap closes by year end independently with its probability; contract-level
measures keep their star. Per member-level measure the closure count is Poisson-binomial
(`closures`), which gives each measure's star distribution exactly (or within the stated normal
bound for huge measures). The rating needs the joint outcome, so it is estimated by Monte Carlo:
each draw takes one star per measure from those distributions (measures are independent) and is
rated by the engine through the `RatingOracle` (reward factor, CAI, improvement rule and half-star
rounding included). Sampling the star directly is the same as sampling the closure count and
applying the cut points, at a fraction of the cost. Results carry the draws, the seed and standard
errors; `exact_distribution` enumerates the outcomes instead, for small portfolios and tests.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, Decimal

import numpy as np

from ratings.cms.tables import Direction
from ratings.portfolio.closures import ClosureDistribution, closure_distribution, poisson_binomial_pmf
from ratings.portfolio.inputs import ContractMeasure, PortfolioInput, PortfolioInputError
from ratings.portfolio.model import Prepared, PreparedMeasure, prepare

__all__ = [
    "DEFAULT_DRAWS",
    "Assumption",
    "ExactDistribution",
    "Forecast",
    "MeasureForecast",
    "exact_distribution",
    "forecast",
    "what_if",
]

DEFAULT_DRAWS = 10_000
STARS = (1, 2, 3, 4, 5)


def rating_label(rating: float) -> str:
    """A half-star rating as its JSON key, e.g. "3.5"."""
    return f"{rating:.1f}"


@dataclass(frozen=True)
class MeasureForecast:
    """One member-level measure's projection: counts today, expected year end, star distribution.

    `expected_closures` and `expected_rate` are exact (Σ p); `star_probabilities` (P(star = 1..5))
    and `expected_star` come from the Monte Carlo draws. `method` says how the closure count was
    modelled: "exact" (Poisson-binomial), "normal" (within `error_bound` of the exact CDF) or
    "assumed" (a what-if fixed the outcome).
    """

    cms_id: str
    eligible: int
    closed: int
    open_gaps: int
    current_rate: float
    current_star: int
    closures_to_next_star: int | None
    expected_closures: float
    expected_rate: float
    expected_star: float
    star_probabilities: tuple[float, ...]
    method: str
    error_bound: float

    def as_dict(self) -> dict:
        """JSON-serializable form."""
        return {
            "cms_id": self.cms_id,
            "eligible": self.eligible,
            "closed": self.closed,
            "open_gaps": self.open_gaps,
            "current_rate": round(self.current_rate, 6),
            "current_star": self.current_star,
            "closures_to_next_star": self.closures_to_next_star,
            "expected_closures": round(self.expected_closures, 6),
            "expected_rate": round(self.expected_rate, 6),
            "expected_star": round(self.expected_star, 6),
            "star_probabilities": {
                str(s): round(p, 6) for s, p in zip(STARS, self.star_probabilities, strict=True)
            },
            "method": self.method,
            "error_bound": self.error_bound,
        }


@dataclass(frozen=True)
class Forecast:
    """The projected year-end rating: expected value, distribution and P(rating ≥ 4), with draws and seed.

    `rating_type` is the contract's highest-level rating (overall for MA-PD, Part C for MA-only,
    Part D for PDPs). Standard errors are those of the Monte Carlo means.
    """

    rating_type: str
    draws: int
    seed: int
    current_rating: float
    expected_rating: float
    expected_rating_stderr: float
    rating_probabilities: dict[str, float]
    p_at_least_4: float
    p_at_least_4_stderr: float
    reward_factor_probabilities: dict[str, float]
    measures: tuple[MeasureForecast, ...]
    contract_measure_stars: dict[str, int]
    assumptions: dict[str, dict] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    def measure(self, cms_id: str) -> MeasureForecast:
        """The projection of one member-level measure."""
        for measure in self.measures:
            if measure.cms_id == cms_id:
                return measure
        raise KeyError(cms_id)

    def as_dict(self) -> dict:
        """JSON-serializable form (the shape the API, commands and snapshots store)."""
        return {
            "rating_type": self.rating_type,
            "draws": self.draws,
            "seed": self.seed,
            "current_rating": self.current_rating,
            "expected_overall": round(self.expected_rating, 6),
            "expected_overall_stderr": round(self.expected_rating_stderr, 6),
            "overall_probabilities": {k: round(v, 6) for k, v in self.rating_probabilities.items()},
            "p_overall_at_least_4": round(self.p_at_least_4, 6),
            "p_overall_at_least_4_stderr": round(self.p_at_least_4_stderr, 6),
            "reward_factor_probabilities": {
                k: round(v, 6) for k, v in self.reward_factor_probabilities.items()
            },
            "measures": [m.as_dict() for m in self.measures],
            "contract_measure_stars": dict(self.contract_measure_stars),
            "assumptions": dict(self.assumptions),
            "elapsed_seconds": round(self.elapsed_seconds, 4),
        }


@dataclass(frozen=True)
class MeasureOutlook:
    """A measure's year-end star distribution and closure model (internal to forecast and priorities)."""

    star_probabilities: np.ndarray
    distribution: ClosureDistribution | None
    fixed_closures: int | None

    @property
    def method(self) -> str:
        """exact / normal / assumed."""
        return "assumed" if self.distribution is None else self.distribution.method

    @property
    def expected_closures(self) -> float:
        """Expected extra closures by year end."""
        return float(self.fixed_closures) if self.distribution is None else self.distribution.mean


def measure_outlook(
    measure: PreparedMeasure, probabilities: np.ndarray, fixed_closures: int | None = None
) -> MeasureOutlook:
    """Star distribution of a measure from its gap probabilities (or a fixed number of closures)."""
    if fixed_closures is not None:
        return MeasureOutlook(measure.star_probabilities_at(fixed_closures), None, fixed_closures)
    distribution = closure_distribution(probabilities)
    rows, weights = measure.threshold_sets()
    # P(closures ≥ needed) for every star level of every distinct draw of the cut points, at once.
    at_least = distribution.at_least(rows[:, 1:].ravel()).reshape(rows.shape[0], 5)
    at_least[:, 0] = 1.0
    at_least = np.minimum.accumulate(at_least, axis=1)
    per_draw = at_least - np.concatenate([at_least[:, 1:], np.zeros((rows.shape[0], 1))], axis=1)
    return MeasureOutlook(weights @ per_draw, distribution, None)


def sample_stars(outlooks: Sequence[MeasureOutlook], draws: int, rng: np.random.Generator) -> np.ndarray:
    """A (draws × measures) matrix of independent star draws (inverse CDF of each distribution)."""
    cumulative = np.cumsum(np.array([o.star_probabilities for o in outlooks]), axis=1)[:, :4]
    uniform = rng.random((draws, len(outlooks)))
    return 1 + (uniform[:, :, None] >= cumulative[None, :, :]).sum(axis=2)


def _check_draws(draws: int) -> None:
    """Monte Carlo needs a positive whole number of draws."""
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise PortfolioInputError(f"draws must be a positive whole number, got {draws!r}")


def forecast_prepared(
    prepared: Prepared,
    probabilities: Sequence[np.ndarray],
    *,
    draws: int,
    seed: int,
    fixed_closures: Mapping[int, int] | None = None,
    assumptions: Mapping[str, dict] | None = None,
) -> tuple[Forecast, list[MeasureOutlook], np.ndarray]:
    """The forecast of a prepared portfolio under given gap probabilities; also the outlooks and draws."""
    _check_draws(draws)
    started = time.perf_counter()
    fixed_closures = fixed_closures or {}
    outlooks = [
        measure_outlook(m, probabilities[m.index], fixed_closures.get(m.index)) for m in prepared.measures
    ]
    rng = np.random.default_rng(seed)
    stars = sample_stars(outlooks, draws, rng)
    ratings, rewards = prepared.oracle.rate(stars)
    current = float(prepared.oracle.rate(prepared.current_stars[None, :])[0][0])
    values, counts = np.unique(ratings, return_counts=True)
    reward_values, reward_counts = np.unique(rewards, return_counts=True)
    at_least_4 = float(np.mean(ratings >= 4.0))
    measures = []
    for measure, outlook in zip(prepared.measures, outlooks, strict=True):
        source = measure.source
        next_needed = measure.needed[measure.current_star + 1] if measure.current_star < 5 else math.inf
        column = stars[:, measure.index]
        measures.append(
            MeasureForecast(
                cms_id=source.cms_id,
                eligible=source.eligible,
                closed=source.closed,
                open_gaps=source.open_count,
                current_rate=measure.rate_for(0.0),
                current_star=measure.current_star,
                closures_to_next_star=int(next_needed) if math.isfinite(next_needed) else None,
                expected_closures=outlook.expected_closures,
                expected_rate=measure.rate_for(outlook.expected_closures),
                expected_star=float(column.mean()),
                star_probabilities=tuple(float(np.mean(column == s)) for s in STARS),
                method=outlook.method,
                error_bound=0.0 if outlook.distribution is None else outlook.distribution.error_bound,
            )
        )
    result = Forecast(
        rating_type=prepared.oracle.rating_type.value,
        draws=draws,
        seed=seed,
        current_rating=current,
        expected_rating=float(ratings.mean()),
        expected_rating_stderr=float(ratings.std(ddof=1) / math.sqrt(draws)) if draws > 1 else 0.0,
        rating_probabilities={rating_label(v): int(c) / draws for v, c in zip(values, counts, strict=True)},
        p_at_least_4=at_least_4,
        p_at_least_4_stderr=math.sqrt(at_least_4 * (1.0 - at_least_4) / draws),
        reward_factor_probabilities={
            f"{v:.1f}": int(c) / draws for v, c in zip(reward_values, reward_counts, strict=True)
        },
        measures=tuple(measures),
        contract_measure_stars=dict(prepared.fixed_stars),
        assumptions=dict(assumptions or {}),
        elapsed_seconds=time.perf_counter() - started,
    )
    return result, outlooks, stars


def forecast(portfolio: PortfolioInput, draws: int = DEFAULT_DRAWS, seed: int = 0) -> Forecast:
    """Monte Carlo forecast of the year-end rating from today's gaps and their closure probabilities."""
    prepared = prepare(portfolio)
    return forecast_prepared(prepared, [m.probabilities for m in prepared.measures], draws=draws, seed=seed)[
        0
    ]


@dataclass(frozen=True)
class Assumption:
    """An analyst's what-if for one measure; set exactly one field.

    Member-level measures: `extra_closures` (that many of the open gaps close, for certain) or
    `target_rate` (the year-end rate, a percentage; the fewest closures reaching it are assumed).
    Contract-level measures: `star`, or `score` (rated with the measure's cut points).
    """

    extra_closures: int | None = None
    target_rate: Decimal | float | None = None
    star: int | None = None
    score: Decimal | float | None = None

    def as_dict(self) -> dict:
        """JSON-serializable form (only the field that is set)."""
        return {
            name: (str(value) if isinstance(value, Decimal) else value)
            for name, value in (
                ("extra_closures", self.extra_closures),
                ("target_rate", self.target_rate),
                ("star", self.star),
                ("score", self.score),
            )
            if value is not None
        }


def _closures_for_rate(measure: PreparedMeasure, target: Decimal) -> int:
    """Fewest extra closures whose rate reaches the target (from below, or from above for lower-is-better)."""
    source = measure.source
    if not Decimal(0) <= target <= Decimal(100):
        raise PortfolioInputError(f"{source.cms_id}: target rate must be a percentage between 0 and 100")
    if source.cut_points.direction is Direction.LOWER:
        raw = source.eligible - source.closed - target * source.eligible / 100
    else:
        raw = target * source.eligible / 100 - source.closed
    closures = int(raw.to_integral_value(rounding=ROUND_CEILING))
    if closures < 0:
        raise PortfolioInputError(
            f"{source.cms_id}: target rate {target} is already passed today ({measure.rate_for(0.0):.2f}); "
            "closed gaps cannot reopen"
        )
    if closures > source.open_count:
        raise PortfolioInputError(
            f"{source.cms_id}: target rate {target} is out of reach: closing all "
            f"{source.open_count} open gaps gives {measure.rate_for(source.open_count):.2f}"
        )
    return closures


def what_if(
    portfolio: PortfolioInput,
    assumed: Mapping[str, Assumption],
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> Forecast:
    """The forecast with some measures' outcomes set by the analyst (reward factor and CAI recomputed)."""
    member_ids = {m.cms_id for m in portfolio.member_measures}
    contract = {m.cms_id: m for m in portfolio.contract_measures}
    unknown = sorted(set(assumed) - member_ids - set(contract))
    if unknown:
        raise PortfolioInputError(
            f"assumptions for measures the portfolio does not have: {', '.join(unknown)}"
        )
    replaced = []
    for measure in portfolio.contract_measures:
        assumption = assumed.get(measure.cms_id)
        if assumption is None:
            replaced.append(measure)
            continue
        if assumption.extra_closures is not None or assumption.target_rate is not None:
            raise PortfolioInputError(f"{measure.cms_id} is contract-level: assume a star or a score")
        if (assumption.star is None) == (assumption.score is None):
            raise PortfolioInputError(f"{measure.cms_id}: assume exactly one of star or score")
        if assumption.star is not None:
            replaced.append(ContractMeasure(measure.cms_id, star=assumption.star))
        elif measure.cut_points is None or measure.precision is None:
            raise PortfolioInputError(
                f"{measure.cms_id}: a score needs the measure's cut points and precision"
            )
        else:
            replaced.append(replace(measure, star=None, score=Decimal(str(assumption.score))))
    prepared = prepare(replace(portfolio, contract_measures=tuple(replaced)))
    fixed: dict[int, int] = {}
    for measure in prepared.measures:
        assumption = assumed.get(measure.cms_id)
        if assumption is None:
            continue
        if assumption.star is not None or assumption.score is not None:
            raise PortfolioInputError(
                f"{measure.cms_id} is member-level: assume extra closures or a target rate"
            )
        if (assumption.extra_closures is None) == (assumption.target_rate is None):
            raise PortfolioInputError(
                f"{measure.cms_id}: assume exactly one of extra_closures or target_rate"
            )
        if assumption.extra_closures is not None:
            extra = assumption.extra_closures
            if (
                isinstance(extra, bool)
                or not isinstance(extra, int)
                or not 0 <= extra <= measure.source.open_count
            ):
                raise PortfolioInputError(
                    f"{measure.cms_id}: extra closures must be 0 to {measure.source.open_count} "
                    "(the open gaps)"
                )
            fixed[measure.index] = extra
        else:
            fixed[measure.index] = _closures_for_rate(measure, Decimal(str(assumption.target_rate)))
    return forecast_prepared(
        prepared,
        [m.probabilities for m in prepared.measures],
        draws=draws,
        seed=seed,
        fixed_closures=fixed,
        assumptions={cms_id: a.as_dict() for cms_id, a in assumed.items()},
    )[0]


@dataclass(frozen=True)
class ExactDistribution:
    """Exact star and rating probabilities by enumerating every combination of measure stars."""

    star_probabilities: dict[str, tuple[float, ...]]
    rating_probabilities: dict[str, float]
    expected_rating: float
    p_at_least_4: float
    combinations: int

    def as_dict(self) -> dict:
        """JSON-serializable form."""
        return {
            "star_probabilities": {k: list(v) for k, v in self.star_probabilities.items()},
            "overall_probabilities": dict(self.rating_probabilities),
            "expected_overall": self.expected_rating,
            "p_overall_at_least_4": self.p_at_least_4,
            "combinations": self.combinations,
        }


def exact_distribution(portfolio: PortfolioInput, max_combinations: int = 20_000) -> ExactDistribution:
    """The exact distribution of the forecast, for small portfolios.

    Each measure's star distribution comes from its exact Poisson-binomial closure distribution;
    the rating distribution sums, over every combination of stars with positive probability, the
    product of the measures' probabilities times the engine's rating (`rate_contract`, called
    directly, not through the oracle's memo key).
    """
    prepared = prepare(portfolio)
    per_measure = []
    for measure in prepared.measures:
        pmf = poisson_binomial_pmf(measure.probabilities)
        rows, weights = measure.threshold_sets()
        stars = (rows[:, None, 1:] <= np.arange(pmf.size)[None, :, None]).sum(axis=2)
        per_measure.append(
            sum(
                weight * np.bincount(row - 1, weights=pmf, minlength=5)
                for weight, row in zip(weights, stars, strict=True)
            )
        )
    supports = [np.flatnonzero(p > 0) + 1 for p in per_measure]
    combinations = math.prod(len(s) for s in supports)
    if combinations > max_combinations:
        raise PortfolioInputError(
            f"{combinations} star combinations exceed max_combinations={max_combinations}; use forecast()"
        )
    ratings: dict[float, float] = {}
    for combination in itertools.product(*supports):
        probability = math.prod(float(per_measure[m][s - 1]) for m, s in enumerate(combination))
        result = prepared.oracle.result(combination)
        rating = float(result.rating)
        ratings[rating] = ratings.get(rating, 0.0) + probability
    return ExactDistribution(
        star_probabilities={
            m.cms_id: tuple(float(v) for v in p) for m, p in zip(prepared.measures, per_measure, strict=True)
        },
        rating_probabilities={rating_label(r): ratings[r] for r in sorted(ratings)},
        expected_rating=sum(r * p for r, p in ratings.items()),
        p_at_least_4=float(sum(p for r, p in ratings.items() if r >= 4.0)),
        combinations=combinations,
    )

"""Project a measure's cut points to a later star year, as a distribution (no Django).

The model, deliberately simple so that it can be stated in one paragraph and checked:

* The national score distribution of the target year is the base year's, moved by the measure's
  trend. Each draw resamples the base year's contracts with replacement (which contracts report,
  and how the clustering falls on them) and draws the trend as the mean of a resample of the
  contracts' own year-to-year changes (each contract's score in the base year less its score the
  year before). Without a prior year the trend is 0, said so by `trend_years`.
* Every projected year runs CMS's method on the draw (`ratings.cms.cut_points`): Tukey outer
  fences, mean resampling with one random 10-group split (as CMS makes one), the guardrail from
  the year before (the base year's published cut points for the first step, the draw's own
  projected ones after) and the display rounding. Scores stay within the measure's range.
* Each threshold is summarised by the median and the 10th-90th percentile interval of its draws;
  the draws themselves are kept so a forecast can carry the uncertainty into its Monte Carlo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ratings.cms.cut_points import (
    ABSOLUTE_CAP,
    LEVELS,
    Fences,
    guardrail,
    mean_resampling,
    restricted_range_cap,
    round_threshold,
    tukey_fences,
    within_fences,
)

__all__ = ["INTERVAL", "MeasureHistory", "ThresholdProjection", "project_measure"]

# The interval reported around each projected threshold: its draws' 10th and 90th percentiles.
INTERVAL = (10.0, 90.0)


@dataclass(frozen=True)
class MeasureHistory:
    """What the projection of one measure (and org type) starts from.

    `scores` are the base year's published scores; `changes` each contract's change from the
    year before to the base year (empty without a prior year); `published` the base year's cut
    points by star level; `guarded` False for a measure the guardrails skip.
    """

    scores: np.ndarray
    changes: np.ndarray
    published: dict[int, float]
    higher_is_better: bool
    precision: int
    guarded: bool = True

    @property
    def on_0_100_scale(self) -> bool:
        """Whole-number displays run from 0 to 100; others (complaints per 1,000) only from 0."""
        return self.precision == 0

    @property
    def maximum(self) -> float | None:
        return 100.0 if self.on_0_100_scale else None

    def fences(self, scores: np.ndarray) -> Fences:
        return tukey_fences(scores, minimum=0.0, maximum=self.maximum)


@dataclass(frozen=True)
class ThresholdProjection:
    """One star level's projected threshold: median, 80% interval and every draw."""

    star: int
    median: float
    low: float
    high: float
    draws: np.ndarray


def project_measure(
    history: MeasureHistory, *, steps: int, draws: int, seed: int
) -> dict[int, ThresholdProjection]:
    """The measure's thresholds `steps` star years after the base year, by star level.

    Raises `TooFewContracts` when a draw has too few scores to cluster (the caller says so).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    generator = np.random.default_rng(seed)
    results = np.empty((draws, len(LEVELS)))
    for draw in range(draws):
        results[draw] = _one_draw(history, steps=steps, generator=generator)
    return {
        level: ThresholdProjection(
            star=level,
            median=float(np.median(results[:, column])),
            low=float(np.percentile(results[:, column], INTERVAL[0])),
            high=float(np.percentile(results[:, column], INTERVAL[1])),
            draws=results[:, column].copy(),
        )
        for column, level in enumerate(LEVELS)
    }


def _one_draw(history: MeasureHistory, *, steps: int, generator: np.random.Generator) -> list[float]:
    """One draw's rounded thresholds (levels 2-5) in the target year."""
    scores = history.scores[generator.integers(history.scores.size, size=history.scores.size)]
    trend = _trend(history.changes, generator)
    prior = dict(history.published)
    prior_fences = history.fences(history.scores)
    for _ in range(steps):
        scores = np.clip(scores + trend, 0.0, history.maximum)
        fences = history.fences(scores)
        resampling = mean_resampling(
            within_fences(scores, fences),
            higher_is_better=history.higher_is_better,
            seed=int(generator.integers(2**32)),
            splits=1,
        )
        cap = ABSOLUTE_CAP if history.on_0_100_scale else restricted_range_cap(prior_fences)
        prior = {
            level: float(
                round_threshold(
                    guardrail(resampling.thresholds[level], prior[level], cap)
                    if history.guarded
                    else resampling.thresholds[level],
                    history.precision,
                )
            )
            for level in LEVELS
        }
        prior_fences = fences
    return [prior[level] for level in LEVELS]


def _trend(changes: Sequence[float] | np.ndarray, generator: np.random.Generator) -> float:
    """One draw of the yearly trend: the mean of a resample of the contracts' changes (0 without)."""
    values = np.asarray(changes, dtype=float)
    if values.size == 0:
        return 0.0
    return float(values[generator.integers(values.size, size=values.size)].mean())

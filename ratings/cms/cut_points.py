"""How CMS sets the cut points of the non-CAHPS measures, on arrays of scores (no Django).

2026 Technical Notes, 'Methodology for Assigning Stars to the Part C and Part D Measures' and
Attachment K ('Clustering Methodology Detail'): Tukey outer-fence outliers are removed, the
contracts are split at random into 10 groups and Ward's hierarchical clustering is run 10 times,
each time leaving one group out; each star level's threshold is the mean of the 10 runs'. Each
1-5 star threshold then moves at most a guardrail's cap from the prior year's, and the result is
rounded to the measure's display precision. The Technical Notes publish the intermediate results
for 2026 (Tables K-3 to K-6): `AttachmentK` reads them from the JSON shipped in `data/`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from ratings.cms.engine import round_half_up
from ratings.cms.methodology import DATA_DIR

__all__ = [
    "ABSOLUTE_CAP",
    "FENCE_IQR",
    "GROUPS",
    "LEVELS",
    "AttachmentK",
    "Fences",
    "Resampling",
    "TooFewContracts",
    "cluster_thresholds",
    "guardrail",
    "improvement_resampling",
    "mean_resampling",
    "quartiles",
    "restricted_range_cap",
    "round_threshold",
    "tukey_fences",
    "within_fences",
]

# 'Mean resampling': the contracts are separated into 10 equal-sized groups.
GROUPS = 10
# Star levels with a threshold (1 star is everything below the 2-star threshold).
LEVELS = (2, 3, 4, 5)
# Attachment K: the outer fence is 3.0 interquartile ranges beyond the 1st or 3rd quartile.
FENCE_IQR = 3.0
# 'Guardrails': 5 percentage points on a 0-100 scale, else 5% of the prior year's restricted range.
ABSOLUTE_CAP = 5.0
RANGE_CAP_SHARE = 0.05


class TooFewContracts(ValueError):
    """A measure has too few scores to split into 10 groups and cluster into star levels."""


def quartiles(scores: Sequence[float]) -> tuple[float, float]:
    """The 1st and 3rd quartiles as SAS PROC MEANS computes them (its default QNTLDEF=5).

    Attachment K obtains the quartiles 'by using the MEANS procedure in SAS': the empirical
    distribution function with averaging, i.e. for n*p an integer j the mean of the j-th and
    (j+1)-th smallest scores, else the (floor(n*p)+1)-th smallest.
    """
    ordered = np.sort(np.asarray(scores, dtype=float))
    if ordered.size == 0:
        raise TooFewContracts("no scores")

    def quantile(p: float) -> float:
        position = ordered.size * p
        j = int(np.floor(position))
        if position == j:
            return float((ordered[j - 1] + ordered[j]) / 2)
        return float(ordered[j])

    return quantile(0.25), quantile(0.75)


@dataclass(frozen=True)
class Fences:
    """Tukey outer-fence outlier cutoffs; scores outside [lower, upper] are outliers."""

    lower: float
    upper: float
    first_quartile: float
    third_quartile: float


def tukey_fences(scores: Sequence[float], *, minimum: float | None, maximum: float | None) -> Fences:
    """Attachment K's Tukey cutoffs: Q1 - 3 IQR and Q3 + 3 IQR, capped at the measure's range.

    'Measures with data displays of percentages ... ranging from 0 to 100 will have the lower and
    upper outlier cutoffs capped at those values ... Any other measures with range restrictions,
    such as have a lower bound of zero, will have the respective outlier cutoff capped.'
    """
    first, third = quartiles(scores)
    spread = third - first
    lower, upper = first - FENCE_IQR * spread, third + FENCE_IQR * spread
    if minimum is not None:
        lower = max(lower, minimum)
    if maximum is not None:
        upper = min(upper, maximum)
    return Fences(lower=lower, upper=upper, first_quartile=first, third_quartile=third)


def within_fences(scores: np.ndarray, fences: Fences) -> np.ndarray:
    """The scores that are not outliers (the fences themselves are kept)."""
    return scores[(scores >= fences.lower) & (scores <= fences.upper)]


def cluster_thresholds(scores: np.ndarray, *, higher_is_better: bool, clusters: int = 5) -> list[float]:
    """One clustering run's thresholds for the top `clusters` star levels, worst level first.

    Attachment K steps 1-4: Ward's minimum-variance hierarchical clustering (SAS PROC CLUSTER
    METHOD=WARD on Euclidean distances) cut into `clusters` clusters (PROC TREE NCL=), ordered by
    their means; a level's threshold is its cluster's lowest score (highest for lower-is-better
    measures). Scores sharing one value fall in one cluster, so with fewer distinct values than
    levels there are fewer clusters: they take the best levels, and a level with no cluster gets
    0, as Table K-4 writes for MPF Price Accuracy (D07), whose non-outlier scores are all 99.
    """
    if scores.size < 2:
        raise TooFewContracts(f"{scores.size} score(s) to cluster")
    tree = linkage(scores.reshape(-1, 1), method="ward")
    labels = fcluster(tree, clusters, criterion="maxclust")
    groups = [scores[labels == label] for label in np.unique(labels)]
    # Best cluster first: the highest mean, or the lowest for lower-is-better measures.
    groups.sort(key=lambda group: float(group.mean()), reverse=higher_is_better)
    by_rank = [float(group.min() if higher_is_better else group.max()) for group in groups]
    by_rank += [0.0] * (clusters - len(by_rank))
    return list(reversed(by_rank))


@dataclass(frozen=True)
class Resampling:
    """Mean-resampling thresholds per star level over several random 10-group splits.

    `per_split[i]` is split i's thresholds (each the mean of its 10 leave-one-group-out runs, as
    CMS computes with its single split); `thresholds` is their mean over the splits.
    """

    thresholds: dict[int, float]
    per_split: list[dict[int, float]]
    contracts: int

    def spread(self, level: int) -> tuple[float, float]:
        """The lowest and highest threshold of a level across the splits."""
        values = [split[level] for split in self.per_split]
        return min(values), max(values)


def mean_resampling(
    scores: Sequence[float],
    *,
    higher_is_better: bool,
    levels: Sequence[int] = LEVELS,
    seed: int,
    splits: int,
) -> Resampling:
    """'Mean resampling' over `splits` random assignments of the contracts to 10 groups.

    CMS makes one assignment (SAS PROC SURVEYSELECT GROUPS=10 SEED=8675309, a generator NumPy
    cannot replay); each split here is one such assignment, drawn from `seed`. `levels` are the
    star levels clustered: 2-5 for most measures (5 clusters, the worst being 1 star).
    """
    values = np.asarray(scores, dtype=float)
    if values.size < GROUPS:
        raise TooFewContracts(f"{values.size} contracts: fewer than one for each of {GROUPS} groups")
    generator = np.random.default_rng(seed)
    clusters = len(levels) + 1
    per_split = []
    for _ in range(splits):
        # Equal-sized groups: a random permutation dealt round-robin into the 10 groups.
        groups = generator.permutation(values.size) % GROUPS
        runs = [
            cluster_thresholds(
                values[groups != left_out], higher_is_better=higher_is_better, clusters=clusters
            )
            for left_out in range(GROUPS)
        ]
        means = np.mean(np.asarray(runs)[:, 1:], axis=0)
        per_split.append({level: float(mean) for level, mean in zip(levels, means, strict=True)})
    thresholds = {level: float(np.mean([split[level] for split in per_split])) for level in levels}
    return Resampling(thresholds=thresholds, per_split=per_split, contracts=int(values.size))


def improvement_resampling(
    scores: Sequence[float], *, seed: int, splits: int
) -> tuple[Resampling, Fences, Fences]:
    """The improvement measures' thresholds: negative and non-negative scores clustered apart.

    Attachment K: contracts with an improvement score of zero or more get at least 3 stars, so
    Tukey outlier deletion and mean resampling run separately on the non-negative scores (3
    clusters: 3, 4 and 5 stars, the 3-star threshold being 0) and on the negative ones (2
    clusters: 1 and 2 stars). Improvement scores run from -1 to 1. Returns the thresholds of
    levels 2-5 and the fences of the negative ("decline") and non-negative ("improve") scores.
    """
    values = np.asarray(scores, dtype=float)
    decline_fences = tukey_fences(values[values < 0], minimum=-1.0, maximum=0.0)
    improve_fences = tukey_fences(values[values >= 0], minimum=0.0, maximum=1.0)
    decline = mean_resampling(
        within_fences(values[values < 0], decline_fences),
        higher_is_better=True,
        levels=(2,),
        seed=seed,
        splits=splits,
    )
    improve = mean_resampling(
        within_fences(values[values >= 0], improve_fences),
        higher_is_better=True,
        levels=(4, 5),
        seed=seed,
        splits=splits,
    )
    per_split = [
        {2: down[2], 3: 0.0, 4: up[4], 5: up[5]}
        for down, up in zip(decline.per_split, improve.per_split, strict=True)
    ]
    combined = Resampling(
        thresholds={2: decline.thresholds[2], 3: 0.0, 4: improve.thresholds[4], 5: improve.thresholds[5]},
        per_split=per_split,
        contracts=decline.contracts + improve.contracts,
    )
    return combined, decline_fences, improve_fences


def restricted_range_cap(prior_fences: Fences) -> float:
    """The guardrail cap of a measure not on a 0-100 scale: 5% of the prior year's restricted range.

    Attachment K: 'the prior year's (maximum score value - minimum score value excluding outer
    fence outliers) * 0.05'. The range is read as the span the prior year's outer fences restrict
    scores to: for complaints about the plan the published 2025 scores give fences of 0 and 0.92
    and a cap of 0.046, which moves 2025's 1.39, 0.76 and 0.37 to the published 2026 thresholds
    1.34, 0.71 and 0.32; the span of the non-outlier scores themselves (0 to 0.89) gives 0.0445,
    which rounds them to 1.35, 0.72 and 0.33.
    """
    return RANGE_CAP_SHARE * (prior_fences.upper - prior_fences.lower)


def guardrail(current: float, prior: float, cap: float) -> float:
    """A threshold moved at most `cap` from the prior year's, in either direction (Attachment K)."""
    if current > prior + cap:
        return prior + cap
    if current < prior - cap:
        return prior - cap
    return current


def round_threshold(value: float, precision: int) -> Decimal:
    """A threshold as CMS writes it: rounded half up to the measure's display precision."""
    return round_half_up(Decimal(repr(value)), precision)


@dataclass(frozen=True)
class AttachmentK:
    """A star year's published cut-point intermediates (Technical Notes Tables K-3 to K-6).

    `resampling[(measure ID, org type)]` holds Tables K-3/K-4 (mean-resampling thresholds before
    guardrails, by star level); `tukey[(measure ID, org type, group)]` holds Tables K-5/K-6
    (lower, upper) where `group` is "improve"/"decline" for the improvement measures, else None;
    `guardrail_exempt` maps the measures the guardrails skip to why. Org type is None for Part C.
    """

    star_year: int
    source: str
    resampling: dict[tuple[str, str | None], dict[int, Decimal]]
    tukey: dict[tuple[str, str | None, str | None], tuple[Decimal, Decimal]]
    guardrail_exempt: dict[str, str]

    @classmethod
    def for_star_year(cls, star_year: int) -> AttachmentK | None:
        """The shipped tables of a star year (`data/<year>-attachment-k.json`), or None."""
        path = DATA_DIR / f"{star_year}-attachment-k.json"
        if not path.is_file():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            star_year=raw["star_year"],
            source=raw["source"],
            resampling={
                (row["measure"], row["org_type"]): {
                    int(level): Decimal(value) for level, value in row["thresholds"].items()
                }
                for row in raw["mean_resampling_thresholds"]
            },
            tukey={
                (row["measure"], row["org_type"], row["group"]): (
                    Decimal(row["lower"]),
                    Decimal(row["upper"]),
                )
                for row in raw["tukey_outlier_cutoffs"]
            },
            guardrail_exempt=dict(raw["guardrail_exempt"]),
        )

"""The number of a measure's open gaps that close by year end: a Poisson-binomial distribution.

Gaps close independently with their own probabilities p_i, so the count X = Σ Bernoulli(p_i). Its
probability mass function is the coefficient list of Π (1 − p_i + p_i z), computed exactly (up to
floating-point rounding, ~1e-15 absolute) by multiplying the factors pairwise in a balanced tree,
with direct convolution for short factors and FFT for long ones: O(n log² n), fast enough that
the exact distribution is the default at every realistic size.

Above `EXACT_MAX_OPEN_GAPS` open gaps on one measure, and only when the Berry–Esseen bound
says it is accurate, the count is approximated by a normal distribution with continuity
correction: P(X ≤ k) ≈ Φ((k + ½ − μ)/σ). For independent, non-identically distributed summands
sup_x |P(X ≤ x) − Φ((x − μ)/σ)| ≤ C · Σ E|B_i − p_i|³ / σ³ with C = 0.5600 (Shevtsova 2010), and
E|B_i − p_i|³ = p_i(1 − p_i)(p_i² + (1 − p_i)²); evaluating the bound at x = k + ½ covers the
continuity-corrected form. The bound is computed for each measure and reported with the forecast;
the normal form is used only when it is at most `NORMAL_MAX_ERROR`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.fft import irfft, rfft
from scipy.special import ndtr

__all__ = [
    "BERRY_ESSEEN_CONSTANT",
    "EXACT_MAX_OPEN_GAPS",
    "NORMAL_MAX_ERROR",
    "ClosureDistribution",
    "berry_esseen_bound",
    "closure_distribution",
    "poisson_binomial_pmf",
]

EXACT_MAX_OPEN_GAPS = 250_000
NORMAL_MAX_ERROR = 0.005
# Shevtsova (2010), "An improvement of convergence rate estimates in the Lyapunov theorem".
BERRY_ESSEEN_CONSTANT = 0.5600
# Below this factor length a direct convolution beats an FFT round trip.
DIRECT_CONVOLUTION_MAX = 16


def poisson_binomial_pmf(probabilities: np.ndarray) -> np.ndarray:
    """P(X = k) for k = 0..n of a sum of independent Bernoulli(p_i): exact product of the factors."""
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.size
    if n == 0:
        return np.ones(1)
    rows = 1 << max(0, (n - 1).bit_length())
    # Pad to a power of two with the neutral factor 1 + 0·z so every level pairs rows evenly.
    polys = np.zeros((rows, 2))
    polys[:, 0] = 1.0
    polys[:n, 0] = 1.0 - p
    polys[:n, 1] = p
    while polys.shape[0] > 1:
        left, right = polys[0::2], polys[1::2]
        length = left.shape[1]
        out_length = 2 * length - 1
        if length <= DIRECT_CONVOLUTION_MAX:
            product = np.zeros((left.shape[0], out_length))
            for i in range(length):
                product[:, i : i + length] += left[:, i : i + 1] * right
        else:
            size = 1 << (out_length - 1).bit_length()
            product = irfft(rfft(left, size) * rfft(right, size), size)[:, :out_length]
        polys = product
    pmf = np.clip(polys[0, : n + 1], 0.0, None)
    return pmf / pmf.sum()


def berry_esseen_bound(probabilities: np.ndarray) -> float:
    """Bound on sup |CDF − normal CDF| for the closure count (inf when the variance is 0)."""
    p = np.asarray(probabilities, dtype=np.float64)
    variance = float(np.sum(p * (1.0 - p)))
    if variance <= 0.0:
        return float("inf")
    third = float(np.sum(p * (1.0 - p) * (p**2 + (1.0 - p) ** 2)))
    return BERRY_ESSEEN_CONSTANT * third / variance**1.5


@dataclass(frozen=True, eq=False)
class ClosureDistribution:
    """The distribution of one measure's year-end closure count, exact or normal."""

    method: str
    open_count: int
    mean: float
    variance: float
    error_bound: float
    pmf: np.ndarray | None

    def at_least(self, counts: np.ndarray) -> np.ndarray:
        """P(X ≥ k) for each k (inf → 0, k ≤ 0 → 1)."""
        k = np.asarray(counts, dtype=np.float64)
        if self.pmf is not None:
            survival = np.concatenate([np.cumsum(self.pmf[::-1])[::-1], [0.0]])
            index = np.clip(np.where(np.isfinite(k), k, survival.size - 1), 0, survival.size - 1)
            return np.where(k <= 0, 1.0, np.minimum(survival[index.astype(np.int64)], 1.0))
        sigma = np.sqrt(self.variance)
        possible = np.isfinite(k) & (k <= self.open_count)
        finite = np.where(possible, k, 0.0)
        tail = ndtr((self.mean - finite + 0.5) / sigma)
        return np.where(possible, np.where(k <= 0, 1.0, tail), 0.0)

    def point(self, counts: np.ndarray) -> np.ndarray:
        """P(X = k) for each k (0 outside the support)."""
        k = np.asarray(counts, dtype=np.float64)
        if self.pmf is not None:
            inside = np.isfinite(k) & (k >= 0) & (k < self.pmf.size)
            index = np.where(inside, k, 0).astype(np.int64)
            return np.where(inside, self.pmf[index], 0.0)
        sigma = np.sqrt(self.variance)
        finite = np.where(np.isfinite(k), k, 0.0)
        mass = ndtr((finite + 0.5 - self.mean) / sigma) - ndtr((finite - 0.5 - self.mean) / sigma)
        return np.where(np.isfinite(k) & (k >= 0) & (k <= self.open_count), mass, 0.0)


def closure_distribution(probabilities: np.ndarray) -> ClosureDistribution:
    """Exact Poisson-binomial, or the normal form when the gaps are many and the bound is small."""
    p = np.asarray(probabilities, dtype=np.float64)
    mean = float(p.sum())
    variance = float(np.sum(p * (1.0 - p)))
    if p.size > EXACT_MAX_OPEN_GAPS:
        bound = berry_esseen_bound(p)
        if bound <= NORMAL_MAX_ERROR:
            return ClosureDistribution("normal", p.size, mean, variance, bound, None)
    return ClosureDistribution("exact", p.size, mean, variance, 0.0, poisson_binomial_pmf(p))

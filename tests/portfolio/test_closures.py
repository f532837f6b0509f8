"""The Poisson-binomial closure count: exact pmf, the normal form and its Berry–Esseen bound."""

import itertools

import numpy as np
import pytest
from scipy.special import ndtr

from ratings.portfolio import closures
from ratings.portfolio.closures import berry_esseen_bound, closure_distribution, poisson_binomial_pmf


def brute_force_pmf(p: np.ndarray) -> np.ndarray:
    """P(X = k) by summing over all 2^n closure patterns."""
    pmf = np.zeros(p.size + 1)
    for pattern in itertools.product((0, 1), repeat=p.size):
        chosen = np.array(pattern, dtype=bool)
        pmf[chosen.sum()] += np.prod(np.where(chosen, p, 1 - p))
    return pmf


def recurrence_pmf(p: np.ndarray) -> np.ndarray:
    """The textbook O(n²) recurrence: add one gap at a time."""
    pmf = np.array([1.0])
    for q in p:
        pmf = np.concatenate([pmf * (1 - q), [0.0]]) + np.concatenate([[0.0], pmf * q])
    return pmf


@pytest.mark.parametrize("size", [0, 1, 2, 7, 12])
def test_pmf_equals_enumeration_of_every_closure_pattern(size):
    p = np.random.default_rng(size).random(size)
    assert np.allclose(poisson_binomial_pmf(p), brute_force_pmf(p), atol=1e-15)


@pytest.mark.parametrize("size", [17, 100, 1_000, 5_000])
def test_fft_product_equals_the_recurrence(size):
    # Sizes above the direct-convolution cutoff go through the FFT levels.
    p = np.random.default_rng(size).beta(2, 5, size)
    assert np.abs(poisson_binomial_pmf(p) - recurrence_pmf(p)).max() < 1e-13


def test_pmf_moments_are_the_sum_of_bernoulli_moments():
    p = np.random.default_rng(3).beta(2, 5, 200_000)
    pmf = poisson_binomial_pmf(p)
    k = np.arange(pmf.size)
    mean = (k * pmf).sum()
    assert mean == pytest.approx(p.sum(), abs=1e-6)
    assert ((k - mean) ** 2 * pmf).sum() == pytest.approx((p * (1 - p)).sum(), rel=1e-6)


def test_normal_form_is_within_its_berry_esseen_bound_of_the_exact_cdf():
    p = np.random.default_rng(4).uniform(0.1, 0.6, 4_000)
    exact = np.cumsum(poisson_binomial_pmf(p))
    mean, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    k = np.arange(p.size + 1)
    normal = ndtr((k + 0.5 - mean) / sd)
    bound = berry_esseen_bound(p)
    # Bound 0.56·ρ/σ³ ≈ 0.015 here; the actual error is far smaller, as it should be.
    assert 0 < bound < 0.02
    assert np.abs(exact - normal).max() <= bound


def test_berry_esseen_bound_is_infinite_without_variance():
    assert berry_esseen_bound(np.array([0.0, 1.0, 1.0])) == float("inf")


def test_large_measures_switch_to_the_normal_form_only_when_its_bound_is_small(monkeypatch):
    monkeypatch.setattr(closures, "EXACT_MAX_OPEN_GAPS", 1_000)
    spread = np.random.default_rng(5).uniform(0.2, 0.8, 50_000)
    nearly_certain = np.full(50_000, 1e-5)
    normal = closure_distribution(spread)
    assert normal.method == "normal"
    assert normal.pmf is None
    assert normal.error_bound <= closures.NORMAL_MAX_ERROR
    # 50,000 gaps of p = 1e-5: σ ≈ 0.7, the bound is useless, so the exact pmf is kept.
    assert closure_distribution(nearly_certain).method == "exact"


def test_tail_and_point_probabilities_of_both_forms_agree():
    p = np.random.default_rng(6).uniform(0.2, 0.8, 3_000)
    exact = closure_distribution(p)
    normal = closures.ClosureDistribution(
        "normal", p.size, exact.mean, exact.variance, berry_esseen_bound(p), None
    )
    counts = np.array([0, 1_400, 1_500, 1_600, 3_000, 3_001, np.inf])
    assert np.allclose(exact.at_least(counts), normal.at_least(counts), atol=normal.error_bound)
    assert exact.at_least(np.array([0.0, np.inf])).tolist() == [1.0, 0.0]
    assert normal.at_least(np.array([0.0, 3_001.0, np.inf])).tolist() == [1.0, 0.0, 0.0]
    assert np.allclose(exact.point(counts), normal.point(counts), atol=2 * normal.error_bound)

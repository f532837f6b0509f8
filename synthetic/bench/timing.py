"""Timing with warm-up and repeats, and the figure each measurement becomes.

A figure is always read beside a baseline taken in the same run, on the same data, so that a
noisy or slower machine moves both. Subject and baseline are interleaved (A, B, A, B, …) rather
than run one block after the other, so a burst of load from elsewhere hits both alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Samples:
    """Wall-clock seconds of each measured run (warm-up runs are not kept)."""

    seconds: tuple[float, ...]

    @property
    def minimum(self) -> float:
        """The fastest run."""
        return min(self.seconds)

    @property
    def median(self) -> float:
        """The median run."""
        return float(np.median(self.seconds))

    @property
    def p95(self) -> float:
        """The 95th percentile (linear interpolation between the closest runs)."""
        return float(np.percentile(self.seconds, 95))


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure_pair(
    subject: Callable[[int], object],
    baseline: Callable[[int], object] | None,
    *,
    warmup: int,
    repeats: int,
    before_baseline: Callable[[int], object] | None = None,
) -> tuple[Samples, Samples | None]:
    """Run `subject(i)` and `baseline(i)` alternately, `warmup` times unmeasured then `repeats` times.

    The run number `i` lets a write figure use fresh rows on each run; `before_baseline(i)`, if
    given, runs untimed before each baseline run (emptying a staging table). The garbage
    collector is paused for each timed call (and run between calls) so a collection triggered by
    an earlier run is not billed to the next one.
    """
    subject_seconds, baseline_seconds = [], []
    for run in range(warmup + repeats):
        for action, seconds in ((subject, subject_seconds), (baseline, baseline_seconds)):
            if action is None:
                continue
            if action is baseline and before_baseline is not None:
                before_baseline(run)
            gc.collect()
            gc.disable()
            try:
                elapsed = _timed(lambda action=action, run=run: action(run))
            finally:
                gc.enable()
            if run >= warmup:
                seconds.append(elapsed)
    return Samples(tuple(subject_seconds)), Samples(tuple(baseline_seconds)) if baseline else None


@dataclass
class Figure:
    """One line of the table: a measured operation, its baseline, the ratio and the target.

    Latency figures are in milliseconds (lower is better; ratio = figure ÷ baseline).
    Throughput figures are in rows per second (higher is better; ratio = figure ÷ baseline, so
    0.25 means a quarter of the baseline's rate); their p95 is the rate of the p95 run time, the
    slow end, and `best` the rate of the fastest run.
    """

    name: str
    unit: str
    best: float | None
    median: float | None
    p95: float | None
    baseline_median: float | None
    baseline_p95: float | None
    ratio: float | None
    target: str
    met: bool
    runs: int
    baseline: str
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @classmethod
    def latency(
        cls, name: str, samples: Samples, baseline: Samples, *, target: str, met, baseline_text: str, **extra
    ) -> Figure:
        """A figure in milliseconds; `met(figure)` decides whether the target is met."""
        figure = cls(
            name=name,
            unit="ms",
            best=samples.minimum * 1000,
            median=samples.median * 1000,
            p95=samples.p95 * 1000,
            baseline_median=baseline.median * 1000,
            baseline_p95=baseline.p95 * 1000,
            ratio=samples.median / baseline.median,
            target=target,
            met=False,
            runs=len(samples.seconds),
            baseline=baseline_text,
            **extra,
        )
        figure.met = bool(met(figure))
        return figure

    @classmethod
    def throughput(
        cls,
        name: str,
        rows: int,
        samples: Samples,
        baseline: Samples,
        *,
        target: str,
        met,
        baseline_text: str,
        **extra,
    ) -> Figure:
        """A figure in rows per second from the time `rows` rows took; `met(figure)` decides."""
        figure = cls(
            name=name,
            unit="rows/s",
            best=rows / samples.minimum,
            median=rows / samples.median,
            p95=rows / samples.p95,
            baseline_median=rows / baseline.median,
            baseline_p95=rows / baseline.p95,
            ratio=baseline.median / samples.median,
            target=target,
            met=False,
            runs=len(samples.seconds),
            baseline=baseline_text,
            **extra,
        )
        figure.met = bool(met(figure))
        return figure

    @classmethod
    def against_claim(cls, name: str, samples: Samples, claimed_ms: float, *, what: str) -> Figure:
        """The prototype's claimed latency beside ours: ratio = ours ÷ claimed; target 10× faster."""
        return cls.latency(
            f"prototype: {name}",
            samples,
            Samples((claimed_ms / 1000,)),
            target="≤ 0.1 × the prototype's claim (10× faster)",
            met=lambda figure: figure.median <= 0.1 * claimed_ms,
            baseline_text=f"the prototype's claimed ~{claimed_ms:g} ms (no harness); ours: {what}",
        )

    def as_dict(self) -> dict:
        """The JSON form written by `--json`."""
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "p95": self.p95,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "best": self.best,
            "baseline_p95": self.baseline_p95,
            "runs": self.runs,
            "baseline": self.baseline,
            "notes": list(self.notes),
            **self.extra,
        }

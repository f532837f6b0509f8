"""What the portfolio core is given: measures with their open gaps, the contract, the intervention catalog.

Plain frozen dataclasses and NumPy arrays, no Django: the caller (a selector, a command) builds a
`PortfolioInput` from SQL aggregates and bulk reads, and every function of the package validates it
the same way (`PortfolioInputError`, a `ValueError`, names the offending field).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ratings.cms.engine import ContractProfile
from ratings.cms.methodology import Methodology
from ratings.cms.tables import CutPoints

__all__ = [
    "ContractMeasure",
    "InterventionType",
    "MemberMeasure",
    "PortfolioInput",
    "PortfolioInputError",
]


class PortfolioInputError(ValueError):
    """The portfolio, budget or catalog cannot be forecast or optimized; the message says why."""


@dataclass(frozen=True, eq=False)
class MemberMeasure:
    """A member-level measure of the contract: today's counts and its open gaps.

    `eligible` is the denominator less exclusions and `closed` the numerator so far, so today's
    rate is closed ÷ eligible. Open gap i belongs to member `gap_members[i]` (any non-negative
    integer key, unique within the measure) and closes by year end with probability
    `gap_probabilities[i]`; NaN means "no prediction" and takes the input's fallback probability.

    For a lower-is-better measure the score is the share of eligible members still without the
    numerator event being avoided, i.e. 100 × (eligible − closed) ÷ eligible: closing a gap lowers it.

    `projected` holds cut points drawn from a projection of the star year's (each draw equally
    likely); empty when `cut_points` are certain. With draws, `cut_points` is the projection's
    median: the optimizer plans against it, and the forecast's star distribution averages over
    the draws.
    """

    cms_id: str
    cut_points: CutPoints
    precision: int
    closed: int
    eligible: int
    gap_members: np.ndarray
    gap_probabilities: np.ndarray
    projected: tuple[CutPoints, ...] = ()

    @property
    def open_count(self) -> int:
        """Number of open gaps."""
        return len(self.gap_members)


@dataclass(frozen=True)
class ContractMeasure:
    """A measure without member data, held fixed: a star, or a score with its cut points."""

    cms_id: str
    star: int | None = None
    score: Decimal | None = None
    cut_points: CutPoints | None = None
    precision: int | None = None


@dataclass(frozen=True)
class InterventionType:
    """One kind of outreach: cost per member, optional capacity, and uplift per measure.

    One intervention of a type for one member works ALL that member's open gaps on the measures
    the type uplifts (a bundle); a member gets each type at most once. A worked gap's closure
    probability becomes min(1, p + uplift); a gap several of the member's interventions work (a
    phone call and a pharmacy call both about statins) gets min(1, p + the sum of their uplifts).
    Uplifts for measures the portfolio does not have are ignored.
    """

    code: str
    unit_cost: float
    uplift: Mapping[str, float]
    capacity: int | None = None


@dataclass(frozen=True, eq=False)
class PortfolioInput:
    """Everything needed to forecast a contract's year-end rating and to plan interventions."""

    methodology: Methodology
    profile: ContractProfile
    member_measures: Sequence[MemberMeasure]
    contract_measures: Sequence[ContractMeasure] = ()
    interventions: Sequence[InterventionType] = ()
    fallback_probability: float | None = None

    def gap_count(self) -> int:
        """Open gaps over all member-level measures (the length of `gap_priorities`)."""
        return sum(m.open_count for m in self.member_measures)


def _check_probability(value: float, what: str) -> None:
    """Raise unless `value` is a real number in [0, 1]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise PortfolioInputError(f"{what} must be a probability between 0 and 1, got {value!r}")


def validate_member_measure(measure: MemberMeasure, fallback: float | None) -> np.ndarray:
    """Check one measure's counts and gap arrays; return its probabilities with the fallback applied."""
    name = measure.cms_id
    if measure.precision < 0:
        raise PortfolioInputError(f"{name}: precision must be 0 or more")
    if any(set(cut.thresholds) != {2, 3, 4, 5} for cut in (measure.cut_points, *measure.projected)):
        raise PortfolioInputError(f"{name}: cut points need thresholds for stars 2 to 5")
    if any(cut.direction is not measure.cut_points.direction for cut in measure.projected):
        raise PortfolioInputError(f"{name}: projected cut points must have the measure's direction")
    members = np.asarray(measure.gap_members)
    probabilities = np.asarray(measure.gap_probabilities, dtype=np.float64)
    if members.ndim != 1 or probabilities.shape != members.shape:
        raise PortfolioInputError(
            f"{name}: gap_members and gap_probabilities must be 1-D arrays of one length"
        )
    if members.size and not np.issubdtype(members.dtype, np.integer):
        raise PortfolioInputError(f"{name}: gap_members must be integer member keys")
    if members.size and members.min() < 0:
        raise PortfolioInputError(f"{name}: gap_members must be non-negative")
    if members.size and np.unique(members).size != members.size:
        raise PortfolioInputError(f"{name}: a member has more than one open gap on the measure")
    if measure.closed < 0 or measure.eligible <= 0:
        raise PortfolioInputError(
            f"{name}: needs eligible members (denominator less exclusions > 0) and closed >= 0; "
            "leave out measures nobody is eligible for"
        )
    if measure.closed + members.size > measure.eligible:
        raise PortfolioInputError(
            f"{name}: closed ({measure.closed}) + open gaps ({members.size}) "
            f"exceed eligible ({measure.eligible})"
        )
    missing = np.isnan(probabilities)
    known = probabilities[~missing]
    if known.size and (known.min() < 0.0 or known.max() > 1.0):
        raise PortfolioInputError(f"{name}: closure probabilities must be between 0 and 1")
    if missing.any():
        if fallback is None:
            raise PortfolioInputError(
                f"{name}: {int(missing.sum())} gaps have no prediction (NaN) "
                "and no fallback_probability is set"
            )
        probabilities = np.where(missing, fallback, probabilities)
    return probabilities


def validate_input(portfolio: PortfolioInput) -> None:
    """Structural checks shared by every entry point (measure-specific ones run per measure)."""
    if portfolio.fallback_probability is not None:
        _check_probability(portfolio.fallback_probability, "fallback_probability")
    if not portfolio.member_measures:
        raise PortfolioInputError("the portfolio has no gaps at all: no member-level measure was given")
    ids = [m.cms_id for m in portfolio.member_measures] + [m.cms_id for m in portfolio.contract_measures]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PortfolioInputError(f"measures given more than once: {', '.join(duplicates)}")
    known = {m.id for m in portfolio.methodology.measures}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise PortfolioInputError(
            f"measures not in the {portfolio.methodology.star_year} catalog: {', '.join(unknown)}"
        )
    for measure in portfolio.contract_measures:
        has_star = measure.star is not None
        has_score = measure.score is not None
        if has_star == has_score:
            raise PortfolioInputError(f"{measure.cms_id}: give exactly one of star or score")
        if has_star and measure.star not in (1, 2, 3, 4, 5):
            raise PortfolioInputError(f"{measure.cms_id}: star must be 1 to 5")
        if has_score and (measure.cut_points is None or measure.precision is None):
            raise PortfolioInputError(f"{measure.cms_id}: a score needs cut points and a precision")
    codes = [t.code for t in portfolio.interventions]
    if len(set(codes)) != len(codes):
        raise PortfolioInputError("intervention type codes must be unique")
    for kind in portfolio.interventions:
        if not (math.isfinite(kind.unit_cost) and kind.unit_cost > 0):
            raise PortfolioInputError(f"intervention {kind.code}: unit cost must be positive")
        for cms_id, uplift in kind.uplift.items():
            _check_probability(uplift, f"intervention {kind.code}: uplift for {cms_id}")
        if kind.capacity is not None and (
            isinstance(kind.capacity, bool) or not isinstance(kind.capacity, int) or kind.capacity < 0
        ):
            raise PortfolioInputError(
                f"intervention {kind.code}: capacity must be a whole number of interventions, 0 or more "
                f"(got {kind.capacity!r})"
            )

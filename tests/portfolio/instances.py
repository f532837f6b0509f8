"""Small portfolios the portfolio tests share: built by hand on the 2026 methodology, no database."""

from decimal import Decimal

import numpy as np

from ratings.cms.engine import ContractProfile, RatingType, rate_contract
from ratings.cms.methodology import Methodology, RatedAs
from ratings.cms.tables import CutPoints, Direction, Threshold
from ratings.portfolio import ContractMeasure, InterventionType, MemberMeasure, PortfolioInput

METHODOLOGY = Methodology.for_star_year(2026)
PROFILE = ContractProfile(
    "H0001",
    "ccp_without_snp",
    RatedAs.MA_PD,
    fac={RatingType.OVERALL: 4, RatingType.PART_C: 4, RatingType.PART_D: 3},
)
# GSD (C12) and CBP (C14) weigh 3, statin adherence (D08) weighs 3.
MEMBER_IDS = ("C12", "C14", "D08")


def cut_points(*thresholds: str, direction: Direction = Direction.HIGHER) -> CutPoints:
    """Inclusive thresholds for stars 2..5."""
    bounds = {star: Threshold(Decimal(v), True) for star, v in zip(range(2, 6), thresholds, strict=True)}
    return CutPoints("X00", "test measure", None, direction, bounds)


def contract_stars_at_boundary(member_stars: dict[str, int], target: str = "3.5") -> dict[str, int]:
    """Contract-level stars rating the contract `target` together with `member_stars`.

    Lowering stars one at a time from 4 to 3 walks the overall rating down; the first assignment
    that reaches `target` leaves the contract just under the next half star.
    """
    ids = [m.id for m in METHODOLOGY.measures if m.id not in member_stars]
    stars = dict.fromkeys(ids, 4)
    for cms_id in ids:
        rating = rate_contract({**stars, **member_stars}, PROFILE, METHODOLOGY).overall.rating
        if rating <= Decimal(target):
            break
        if not METHODOLOGY.measure(cms_id).improvement_measure:
            stars[cms_id] = 3
    return stars


def contract_measures(stars: dict[str, int]) -> tuple[ContractMeasure, ...]:
    """Contract-level measures held at the given stars."""
    return tuple(ContractMeasure(cms_id, star=star) for cms_id, star in stars.items())


def greedy_trap() -> PortfolioInput:
    """Cut points make the most likely gaps worthless and the unlikely ones decisive.

    GSD: 50 of 100 closed, the 3-star cut point at 60% needs 10 closures, only 5 gaps are open
    (p = 0.7): out of reach whatever is done. CBP: 55 of 100 closed, 3 stars at 59% need 4 of its
    10 open gaps (p = 0.3) to close. The contract sits at 3.5 stars and either measure's third
    star lifts it to 4.0. One call ($10) uplifts a member's GSD and CBP gaps by 0.3.
    """
    gsd = MemberMeasure(
        "C12",
        cut_points("40", "60", "70", "80"),
        0,
        closed=50,
        eligible=100,
        gap_members=np.arange(5),
        gap_probabilities=np.full(5, 0.7),
    )
    cbp = MemberMeasure(
        "C14",
        cut_points("40", "59", "70", "80"),
        0,
        closed=55,
        eligible=100,
        gap_members=np.arange(5, 15),
        gap_probabilities=np.full(10, 0.3),
    )
    stars = contract_stars_at_boundary({"C12": 2, "C14": 2})
    call = InterventionType("call", 10.0, {"C12": 0.3, "C14": 0.3})
    return PortfolioInput(METHODOLOGY, PROFILE, (gsd, cbp), contract_measures(stars), (call,))


def random_small(seed: int) -> tuple[PortfolioInput, float]:
    """A random three-measure portfolio of seven members with a three-type catalog, and a budget.

    Counts and cut points are drawn so that a few closures cross a cut point; the contract-level
    stars put the contract at 3.5 with today's member-level stars.
    """
    rng = np.random.default_rng(seed)
    measures = []
    today = {}
    for cms_id in MEMBER_IDS:
        eligible = int(rng.integers(10, 16))
        open_count = int(rng.integers(3, 6))
        closed = int(rng.integers(eligible // 3, eligible - open_count))
        base = 100 * closed / eligible
        steps = np.cumsum(rng.integers(3, 9, size=4))
        thresholds = [str(int(base) + int(step)) for step in steps]
        cut = cut_points(*thresholds)
        measures.append(
            MemberMeasure(
                cms_id,
                cut,
                0,
                closed=closed,
                eligible=eligible,
                gap_members=rng.choice(7, open_count, replace=False),
                gap_probabilities=np.round(rng.uniform(0.05, 0.8, open_count), 3),
            )
        )
        today[cms_id] = 1
    catalog = (
        InterventionType("call", float(rng.integers(5, 20)), {"C12": 0.3, "C14": 0.2}),
        InterventionType(
            "pharmacy", float(rng.integers(5, 20)), {"D08": 0.4, "C14": 0.1}, int(rng.integers(1, 4))
        ),
        InterventionType("visit", float(rng.integers(20, 50)), {"C12": 0.5, "C14": 0.5, "D08": 0.5}),
    )
    stars = contract_stars_at_boundary(today, "3.0")
    return (
        PortfolioInput(METHODOLOGY, PROFILE, tuple(measures), contract_measures(stars), catalog, 0.2),
        float(rng.integers(30, 90)),
    )

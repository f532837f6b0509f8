"""The prepared model: thresholds from the engine, and the memoizing rating oracle against `rate_contract`."""

from decimal import Decimal

import numpy as np
import pytest

from ratings.cms.engine import ContractProfile, RatingType, measure_star, rate_contract
from ratings.cms.methodology import RatedAs
from ratings.cms.tables import CutPoints, Direction, Threshold
from ratings.portfolio import MemberMeasure, PortfolioInput, PortfolioInputError
from ratings.portfolio.model import RatingOracle, closures_needed, member_score, prepare
from tests.portfolio.instances import METHODOLOGY, PROFILE, contract_measures, cut_points

MEMBER_LEVEL = tuple(m.id for m in METHODOLOGY.measures if m.member_level)


def random_fixed_stars(
    rng: np.random.Generator, member_ids: tuple[str, ...], part: str | None
) -> dict[str, int]:
    """Random stars for the catalog's other measures (of one part, or all)."""
    return {
        m.id: int(rng.integers(1, 6))
        for m in METHODOLOGY.measures
        if m.id not in member_ids and (part is None or m.part == part)
    }


PROFILES = {
    "ma_pd": (PROFILE, MEMBER_LEVEL, None),
    # 30% of enrollees in FEMA areas in 2024: the new-measure hold harmless (KED, C13) may apply.
    "ma_pd_disaster": (
        ContractProfile(
            "H0002",
            "ccp_with_snp",
            RatedAs.MA_PD,
            fac={RatingType.OVERALL: 2},
            disaster_percent={2024: Decimal(30)},
        ),
        MEMBER_LEVEL,
        None,
    ),
    # Puerto Rico only: the adherence measures (D08-D10) weigh 0.
    "puerto_rico": (
        ContractProfile("H0003", "ccp_without_snp", RatedAs.MA_PD, puerto_rico_only=True),
        MEMBER_LEVEL,
        None,
    ),
    "ma_only": (
        ContractProfile("H0004", "ccp_without_snp", RatedAs.MA_ONLY, fac={RatingType.PART_C: 6}),
        tuple(i for i in MEMBER_LEVEL if i.startswith("C")),
        "C",
    ),
    "pdp": (
        ContractProfile("S0001", "pdp", RatedAs.PDP, fac={RatingType.PART_D: 1}),
        tuple(i for i in MEMBER_LEVEL if i.startswith("D")),
        "D",
    ),
}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_memoized_ratings_equal_the_engine_on_random_star_vectors(name):
    profile, member_ids, part = PROFILES[name]
    rng = np.random.default_rng(len(name))
    for _ in range(2):
        fixed = random_fixed_stars(rng, member_ids, part)
        oracle = RatingOracle(METHODOLOGY, profile, fixed, member_ids)
        stars = rng.integers(1, 6, size=(300, len(member_ids)))
        ratings, rewards = oracle.rate(stars)
        for row, rating, reward in zip(stars, ratings, rewards, strict=True):
            stars_by_id = dict(zip(member_ids, row.tolist(), strict=True))
            result = rate_contract({**fixed, **stars_by_id}, profile, METHODOLOGY)
            expected = result.get(oracle.rating_type)
            if expected.rating is None:
                assert np.isnan(rating)
            else:
                assert rating == float(expected.rating)
                assert reward == float(expected.chosen.reward_factor)


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    # Puerto Rico keys also carry the three adherence stars: a narrower range keeps them few.
    [("ma_pd", 1, 5), ("ma_pd_disaster", 2, 4), ("ma_only", 1, 5), ("pdp", 1, 5), ("puerto_rico", 2, 4)],
)
def test_rating_never_falls_when_s_rises_and_q_falls(name, lowest, highest):
    # The optimizer's frontier cells rely on it (see `Formulation.frontier`): checked on every
    # key that star vectors reach, each rated by the engine, within each group of special stars.
    profile, member_ids, part = PROFILES[name]
    rng = np.random.default_rng(7)
    oracle = RatingOracle(METHODOLOGY, profile, random_fixed_stars(rng, member_ids, part), member_ids)
    count = len(member_ids)
    reachable = oracle.best_by_key(np.full(count, lowest), np.full(count, highest))
    keys = np.array(list(reachable))
    ratings = oracle.rate(np.array([witness for _, witness in reachable.values()]))[0]
    compared = 0
    for specials in np.unique(keys[:, 2:], axis=0):
        group = np.flatnonzero(np.all(keys[:, 2:] == specials, axis=1))
        s_sum, q_sum, rating = keys[group, 0], keys[group, 1], ratings[group]
        dominates = (s_sum[:, None] >= s_sum[None, :]) & (q_sum[:, None] <= q_sum[None, :])
        better, worse = np.nonzero(dominates & ~np.eye(group.size, dtype=bool))
        assert np.all(rating[better] >= rating[worse])
        compared += better.size
    assert compared > len(keys)


def measure(cut: CutPoints, closed: int, eligible: int, open_gaps: int, precision: int = 0) -> MemberMeasure:
    """A COL-like member-level measure with `open_gaps` gaps at p = 0.5."""
    return MemberMeasure(
        "C01", cut, precision, closed, eligible, np.arange(open_gaps), np.full(open_gaps, 0.5)
    )


@pytest.mark.parametrize(
    ("cut", "closed", "eligible", "open_gaps", "precision"),
    [
        (cut_points("58", "71", "76", "84"), 40, 80, 40, 0),
        (cut_points("58", "71", "76", "84"), 66, 80, 10, 0),
        (cut_points("57.5", "70.25", "75", "83.9"), 301, 713, 400, 1),
        (
            CutPoints(
                "X",
                "exclusive",
                None,
                Direction.HIGHER,
                {2: Threshold(Decimal(50), False), 3: Threshold(Decimal(60), False)}
                | {4: Threshold(Decimal(70), False), 5: Threshold(Decimal(80), True)},
            ),
            20,
            40,
            20,
            0,
        ),
        (cut_points("12", "10", "9", "7", direction=Direction.LOWER), 80, 100, 20, 0),
    ],
)
def test_closures_needed_matches_measure_star_at_every_count(cut, closed, eligible, open_gaps, precision):
    source = measure(cut, closed, eligible, open_gaps, precision)
    needed = closures_needed(source)
    for extra in range(open_gaps + 1):
        star = measure_star(member_score(source, extra), cut, precision)
        assert int(np.count_nonzero(needed[1:] <= extra)) == star


def test_a_contract_without_enough_rated_measures_is_refused():
    member = measure(cut_points("58", "71", "76", "84"), 40, 80, 10)
    portfolio = PortfolioInput(METHODOLOGY, PROFILE, (member,), contract_measures({"C02": 4}))
    with pytest.raises(PortfolioInputError, match="cannot be computed: Not enough data"):
        prepare(portfolio)

"""Consistency checks of the shipped 2026 methodology JSON against the Technical Notes rules."""

from decimal import Decimal

import pytest

from ratings.cms.methodology import (
    Methodology,
    MethodologyNotAvailable,
    RatedAs,
    RatingColumn,
    available_star_years,
)


@pytest.fixture(scope="module")
def methodology() -> Methodology:
    return Methodology.for_star_year(2026)


def test_catalog(methodology: Methodology) -> None:
    assert available_star_years() == [2026]
    assert [m.id for m in methodology.measures_of_part("C")] == [f"C{i:02}" for i in range(1, 34)]
    assert [m.id for m in methodology.measures_of_part("D")] == [f"D{i:02}" for i in range(1, 13)]
    assert {m.id for m in methodology.measures if m.improvement_measure} == {"C30", "D04"}
    assert {m.id for m in methodology.measures if m.is_cahps} == {
        "C03", "C22", "C23", "C24", "C25", "C26", "C27", "D05", "D06",
    }  # fmt: skip
    assert {m.id for m in methodology.measures if m.new_measure} == {"C04", "C05", "C13"}
    assert {m.id: m.code for m in methodology.measures if m.code in ("BCS", "CBP", "SUPD")} == {
        "C01": "BCS",
        "C14": "CBP",
        "D12": "SUPD",
    }


def test_weights_attachment_g(methodology: Methodology) -> None:
    weights = {m.id: m.weight for m in methodology.measures}
    assert {k for k, w in weights.items() if w == 3} == {"C12", "C14", "C18", "D08", "D09", "D10"}
    assert weights["C30"] == weights["D04"] == Decimal(5)
    assert weights["C04"] == weights["C05"] == Decimal(1)  # new measures, Table G-1 footnote
    assert weights["C22"] == weights["C28"] == weights["C31"] == Decimal(2)


def test_directions_and_precision(methodology: Methodology) -> None:
    lower = {m.id for m in methodology.measures if m.direction.value == "lower"}
    assert lower == {"C18", "C28", "C29", "D02", "D03"}
    assert methodology.measure("C28").precision == 2
    assert methodology.measure("C01").precision == 0


def test_minimum_rated_measures_follow_the_half_rule(methodology: Methodology) -> None:
    # Tables 6-7: half of the required measures (odd counts round up), from the measure
    # detail 'Reporting Requirements' tables; improvement measures are not counted.
    for rating, parts in (("part_c", "C"), ("part_d", "D"), ("overall", "CD")):
        for contract_type, (minimum, total) in methodology.minimum_rated_measures[rating].items():
            shared: set[str] = set()
            required = 0
            for m in methodology.measures:
                if m.part not in parts or m.improvement_measure or not m.required_for[contract_type]:
                    continue
                if rating == "overall" and m.shared_group:
                    if m.shared_group in shared:
                        continue
                    shared.add(m.shared_group)
                required += 1
            assert required == total, (rating, contract_type)
            assert minimum == (total + 1) // 2, (rating, contract_type)


def test_constants(methodology: Methodology) -> None:
    assert methodology.cai_value(RatingColumn.OVERALL, 9) == Decimal("0.145515")  # Table 12
    assert methodology.cai_value(RatingColumn.PART_D_PDP, 1) == Decimal("-0.227881")  # Table 21
    assert methodology.cai_value(RatingColumn.PART_C, None) == 0
    assert methodology.reward_thresholds[(RatingColumn.OVERALL, False, True)].mean_high == Decimal("3.953125")
    assert methodology.hold_harmless_ratings[RatedAs.MA_PD] == ("overall",)
    assert methodology.half_star_bands[-1] == (Decimal("4.750000"), Decimal("5.0"))
    assert all(methodology.sources.values())


def test_unknown_year() -> None:
    with pytest.raises(MethodologyNotAvailable, match="2031"):
        Methodology.for_star_year(2031)

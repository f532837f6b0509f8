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
    assert available_star_years() == [2025, 2026]
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


def test_cai_categories_cover_every_initial_cell_once(methodology: Methodology) -> None:
    # Tables 12, 15, 18 and 21 partition the LIS/DE × disability grid (10 × 5, PDP 4 × 4);
    # overlaps are refused when the JSON is read, gaps would show here.
    assert set(methodology.cai_categories) == set(RatingColumn)
    for column, categorization in methodology.cai_categories.items():
        lis_groups = len(categorization.lis_de_lower_bounds)
        disability_groups = len(categorization.disability_lower_bounds)
        grid = {(lis, dis) for lis in range(1, lis_groups + 1) for dis in range(1, disability_groups + 1)}
        assert set(categorization.cells) == grid, column
        assert set(categorization.cells.values()) == set(methodology.cai_values[column]), column


@pytest.mark.parametrize(
    ("column", "lis_de", "disability", "fac"),
    [
        (RatingColumn.OVERALL, "13.60", "10", 3),  # the notes' example: 13.60% is L4 (Table 10); L4 D1
        (RatingColumn.OVERALL, "100", "43.027888", 9),  # L10 is exactly 100%; D5 starts at 43.027888
        (RatingColumn.OVERALL, "99.99", "43.027887", 8),  # L9 D4
        (RatingColumn.PART_C, "10", "10", 2),  # L3 D1 (Tables 13-15)
        (RatingColumn.PART_D_MAPD, "38.5", "27.1", 3),  # L6 D3 (Tables 16-18)
        (RatingColumn.PART_D_PDP, "1", "5", 1),  # L1 D1 (Tables 19-21)
        (RatingColumn.PART_D_PDP, "5", "13", 3),  # L4 D4
    ],
)
def test_final_adjustment_category_from_percentages(
    methodology: Methodology, column: RatingColumn, lis_de: str, disability: str, fac: int
) -> None:
    assert methodology.final_adjustment_category(column, Decimal(lis_de), Decimal(disability)) == fac


def test_latest_methodology_stands_in_for_an_unshipped_year() -> None:
    assert Methodology.for_star_year_or_latest(2028).star_year == 2026
    assert Methodology.for_star_year_or_latest(2026).star_year == 2026

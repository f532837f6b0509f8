"""The disaster rules that need the prior star year: 2026 verified with the 2025 tables.

On the shipped tables, with 2025 imported, every non-CAHPS measure star of 2026 but one is
reproduced by the rule that decides it; the one left is a doubly affected contract whose
2025 star absent adjustments the tables do not publish. Given the six contracts' true SNP
types (a contract-type file), every summary and overall rating matches.
"""

from decimal import Decimal

import pytest

from ratings.cms.disaster import RULES, DisasterRules, disaster_year
from ratings.cms.engine import star_for_cell
from ratings.cms.lineage import LineageMeasure
from ratings.cms.methodology import Methodology
from ratings.cms.tables import (
    CellValue,
    CmsTables,
    ContractInfo,
    ContractMeasureValue,
    CutPoints,
    Direction,
    MeasureHeader,
    MeasureTable,
    SummaryRow,
    TableKind,
    Threshold,
    load_tables,
)
from ratings.cms.verify import RATING_RULES, UNEXPLAINED, verify
from tests.ratings.conftest import engine_files

# The contracts whose Tables 4-7 type the 2026 tables cannot tell, with their true types.
TRUE_TYPES = {
    "H3291": "ccp_with_snp",
    "H3467": "ccp_with_snp",
    "H3727": "ccp_with_snp",
    "H4091": "ccp_with_snp",
    "H6351": "ccp_with_snp",
    "H8067": "ccp_only_isnp",
}


@pytest.fixture(scope="module")
def report():
    return verify(
        load_tables(engine_files(2026)),
        Methodology.for_star_year(2026),
        prior=load_tables(engine_files(2025)),
        contract_types=TRUE_TYPES,
    )


def test_the_rule_tables_are_pinned_whole():
    assert list(RULES) == [
        "cut_points",
        "disaster_not_adjusted",
        "disaster_missing_data",
        "disaster_current_year",
        "disaster_prior_year",
        "disaster_same_score",
        "disaster_doubly_affected",
        "disaster_prior_year_not_imported",
    ]
    assert list(RATING_RULES) == [
        "weighted_mean",
        "improvement_hold_harmless",
        "disaster_new_measure_hold_harmless",
        "cai_fitted",
        "minimum_measures",
        "not_applicable",
    ]


def test_2026_non_cahps_measure_stars_with_the_2025_tables(report):
    assert report.counts["measure_stars_non_cahps"] == {
        "compared": 17040,
        "matched": 17039,
        "disaster_compared": 2214,
        "disaster_matched": 2213,
    }
    assert report.by_rule["measure_stars_non_cahps"] == {
        "cut_points": {"compared": 15027, "matched": 15027},
        "disaster_current_year": {"compared": 983, "matched": 983},
        "disaster_same_score": {"compared": 670, "matched": 669},
        "disaster_missing_data": {"compared": 186, "matched": 186},
        "disaster_doubly_affected": {"compared": 9, "matched": 9},
        "disaster_not_adjusted": {"compared": 165, "matched": 165},
    }
    assert report.match_rate("measure_stars_non_cahps") >= 0.995
    assert report.prior_star_year == 2025


def test_the_one_non_cahps_miss_is_explained_by_a_missing_input(report):
    non_cahps = [
        m for m in report.mismatches if m.what.startswith("measure star") and "CAHPS" not in m.reason
    ]
    assert [(m.contract, m.what, m.published, m.computed) for m in non_cahps] == [
        ("H5594", "measure star C31", "4", "5")
    ]
    assert non_cahps[0].reason.startswith("doubly affected disaster contract (2023: 97%, 2024: 100%)")
    assert "that unadjusted star is not in the tables" in non_cahps[0].reason
    assert not any(m.reason.startswith(UNEXPLAINED) for m in report.mismatches)


def test_every_rating_matches_given_the_true_contract_types(report):
    assert {
        key: (report.counts[key]["matched"], report.counts[key]["compared"])
        for key in ("part_c_summary", "part_d_summary", "overall")
    } == {"part_c_summary": (720, 720), "part_d_summary": (761, 761), "overall": (712, 712)}
    assert report.by_rule["overall"] == {
        "weighted_mean": {"compared": 470, "matched": 470},
        "minimum_measures": {"compared": 196, "matched": 196},
        "improvement_hold_harmless": {"compared": 44, "matched": 44},
        "disaster_new_measure_hold_harmless": {"compared": 2, "matched": 2},
    }


def test_each_disaster_value_names_its_rule_and_the_prior_years_value(report):
    by_key = {(v.contract, v.measure): v for v in report.disaster_values}
    # H5299's "Members Choosing to Leave the Plan": 28% in both years' tables, 2 stars as in
    # 2025 (2026's cut points would give 28% three stars): the 2025 value was kept.
    kept = by_key[("H5299", "C29")]
    assert (kept.rule, kept.published, kept.computed, kept.matched) == ("disaster_same_score", "2", "2", True)
    assert kept.detail == "2025: C26 score 28, 2 ★"
    # A data integrity issue in 2026 is missing data: the current year's 1 star stands.
    integrity = by_key[("H5374", "C07")]
    assert (integrity.rule, integrity.computed, integrity.matched) == ("disaster_missing_data", "1", True)
    assert {v.rule for v in report.disaster_values} == set(RULES) - {
        "cut_points",
        "disaster_prior_year_not_imported",
    }


# --- the rules on hand-built tables ---------------------------------------------------------

HEDIS = LineageMeasure("C", "Breast Cancer Screening", "HEDIS", Direction.HIGHER, False)
HOS = LineageMeasure("C", "Monitoring Physical Activity", "HEDIS-HOS", Direction.HIGHER, False)
CALLS = LineageMeasure("C", "Call Center", "Call Center", Direction.HIGHER, False)
CUTS = {2: 50, 3: 60, 4: 70, 5: 80}


def _tables(year: int, cells: dict[tuple[str, str], tuple[str, str]], disaster: dict[str, dict[int, int]]):
    """Tables of one year: (contract, measure) → (score, star) and each contract's disaster %."""
    contracts = {c for c, _ in cells} | set(disaster)
    measure_ids = sorted({m for _, m in cells})
    info = {c: ContractInfo(c, "Local CCP", c, c, c) for c in contracts}

    def table(kind, index):
        return MeasureTable(
            kind,
            year,
            [MeasureHeader(m, m, i) for i, m in enumerate(measure_ids)],
            info,
            {key: ContractMeasureValue(*key, CellValue.parse(value[index])) for key, value in cells.items()},
        )

    cut_points = [
        CutPoints(m, m, None, Direction.HIGHER, {k: Threshold(Decimal(v), True) for k, v in CUTS.items()})
        for m in measure_ids
    ]
    summary = {
        c: SummaryRow(
            c,
            "Local CCP",
            False,
            {y: Decimal(p) for y, p in disaster.get(c, {}).items()},
            CellValue(number=Decimal(4)),
            CellValue(number=Decimal(4)),
            CellValue(number=Decimal(4)),
        )
        for c in contracts
    }
    return CmsTables(
        year, cut_points, table(TableKind.MEASURE_DATA, 0), table(TableKind.MEASURE_STARS, 1), summary
    )


def _rules(current, prior, disaster_now, disaster_before=None, measure=HEDIS):
    """The rules for one contract H0001 and one measure C01 with a current and a prior (score, star)."""
    now = _tables(2026, {("H0001", "C01"): current}, {"H0001": disaster_now})
    before = (
        _tables(2025, {("H0001", "C01"): prior}, {"H0001": disaster_before or {}})
        if prior is not None
        else None
    )
    return DisasterRules(now, before, {"C01": measure}, {measure: "C01"} if before else {}, Decimal(25))


def _decide(rules, published_star: str):
    now = rules.tables
    score = now.measure_data.value("H0001", "C01")
    current = star_for_cell(score, now.cut_points[0], 0)
    return rules.decide("H0001", "C01", score, current, CellValue.parse(published_star))


def test_the_disaster_year_depends_on_the_data_source():
    assert disaster_year(2026, HEDIS) == 2024
    assert disaster_year(2026, HOS) == 2023
    assert disaster_year(2026, CALLS) is None


@pytest.mark.parametrize(
    ("current", "prior", "now", "before", "measure", "published", "rule", "star"),
    [
        # Under 25% in 2024: the cut points alone.
        (("65", "3"), ("85", "5"), {2023: 90, 2024: 24}, None, HEDIS, "3", "cut_points", "3"),
        # HOS measures count 2023's disasters, not 2024's.
        (("65", "3"), ("85", "5"), {2023: 10, 2024: 90}, None, HOS, "3", "cut_points", "3"),
        (("65", "3"), ("75", "4"), {2023: 30, 2024: 0}, None, HOS, "4", "disaster_prior_year", "4"),
        # Call Center measures are never adjusted.
        (("65", "3"), ("85", "5"), {2023: 90, 2024: 90}, None, CALLS, "3", "disaster_not_adjusted", "3"),
        # The higher star wins; equal stars keep the current year's.
        (("75", "4"), ("65", "3"), {2024: 25}, None, HEDIS, "4", "disaster_current_year", "4"),
        (("72", "4"), ("74", "4"), {2024: 25}, None, HEDIS, "4", "disaster_current_year", "4"),
        (("65", "3"), ("85", "5"), {2024: 40}, None, HEDIS, "5", "disaster_prior_year", "5"),
        # Missing data in either year: the current year's star.
        (
            ("65", "3"),
            ("Plan too small to be measured", "Plan too small to be measured"),
            {2024: 40},
            None,
            HEDIS,
            "3",
            "disaster_missing_data",
            "3",
        ),
        (
            ("CMS identified issues with this plan's data", "1"),
            ("85", "5"),
            {2024: 40},
            None,
            HEDIS,
            "1",
            "disaster_missing_data",
            "1",
        ),
        # Doubly affected (2023 too): the 2025 star as published may itself be adjusted.
        (("65", "3"), ("85", "5"), {2023: 30, 2024: 40}, None, HEDIS, "3", "disaster_doubly_affected", "3"),
        # HOS doubly affected reads 2022 from the prior year's summary table.
        (("65", "3"), ("85", "5"), {2023: 30}, {2022: 50}, HOS, "3", "disaster_doubly_affected", "3"),
        # The same score in both years' tables: either year's value fits the rule.
        (("65", "3"), ("65", "2"), {2024: 40}, None, HEDIS, "3", "disaster_same_score", "3"),
    ],
)
def test_each_rule(current, prior, now, before, measure, published, rule, star):
    rules = _rules(current, prior, now, before, measure)
    decision = _decide(rules, published)
    assert (decision.rule, str(decision.star)) == (rule, star)


def test_without_the_prior_year_the_rule_is_named_not_applied():
    decision = _decide(_rules(("65", "3"), None, {2024: 40}), "5")
    assert (decision.rule, str(decision.star)) == ("disaster_prior_year_not_imported", "3")


def test_prior_tables_of_another_year_are_refused():
    tables = load_tables(engine_files(2026))
    with pytest.raises(ValueError, match="prior tables are for star year 2026, not 2025"):
        verify(tables, Methodology.for_star_year(2026), prior=tables)

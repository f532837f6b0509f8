"""Cut points the way CMS computes them (issue #18): Tukey fences, Ward clustering, mean resampling
and guardrails on small hand-checked inputs; the shipped Tables K-3 to K-6 against the Technical
Notes; and `cms_cut_points` reproducing 2026 from the shipped tables, stage by stage."""

import io
import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ratings.cms.cut_points import (
    AttachmentK,
    Fences,
    TooFewContracts,
    cluster_thresholds,
    guardrail,
    improvement_resampling,
    mean_resampling,
    quartiles,
    restricted_range_cap,
    round_threshold,
    tukey_fences,
    within_fences,
)
from ratings.cms.methodology import DATA_DIR
from ratings.models import CmsMeasureValue

REFERENCE_NOTES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "reference"
    / "cms-2026"
    / "technical-notes-2026.txt"
)


# --- the method on small inputs ---------------------------------------------------------------


def test_quartiles_are_sas_proc_means_defaults_averaging_when_n_times_p_is_whole():
    assert quartiles([1, 2, 3, 4, 5, 6, 7, 8]) == (2.5, 6.5)
    assert quartiles([5, 1, 4, 2, 3]) == (2.0, 4.0)


def test_the_outer_fences_are_three_interquartile_ranges_out_capped_at_the_scale():
    scores = [40, 50, 50, 52, 54, 56, 58, 60, 60, 99]
    fences = tukey_fences(scores, minimum=0.0, maximum=100.0)
    assert (fences.first_quartile, fences.third_quartile) == (50.0, 60.0)
    assert (fences.lower, fences.upper) == (20.0, 90.0)
    assert list(within_fences(np.asarray(scores, dtype=float), fences)) == scores[:-1]
    wide = tukey_fences([0, 10, 10, 90, 90, 100], minimum=0.0, maximum=100.0)
    assert (wide.lower, wide.upper) == (0.0, 100.0)
    complaints = tukey_fences([0.1, 0.2, 0.3, 0.9], minimum=0.0, maximum=None)
    assert (complaints.lower, complaints.upper) == (0.0, pytest.approx(1.95))


def test_a_fence_itself_is_not_an_outlier():
    fences = Fences(lower=20.0, upper=90.0, first_quartile=50.0, third_quartile=60.0)
    assert list(within_fences(np.array([19.0, 20.0, 90.0, 91.0]), fences)) == [20.0, 90.0]


SEPARATED = np.array([1, 1, 2, 10, 11, 20, 21, 30, 40, 41], dtype=float)


def test_ward_clusters_give_each_levels_lowest_score_for_higher_is_better():
    assert cluster_thresholds(SEPARATED, higher_is_better=True) == [1.0, 10.0, 20.0, 30.0, 40.0]


def test_ward_clusters_give_each_levels_highest_score_for_lower_is_better():
    assert cluster_thresholds(SEPARATED, higher_is_better=False) == [41.0, 30.0, 21.0, 11.0, 2.0]


def test_fewer_distinct_scores_than_levels_fill_the_best_levels_and_write_0_below():
    # Table K-4's MPF Price Accuracy (D07): every non-outlier score is 99.
    assert cluster_thresholds(np.full(12, 99.0), higher_is_better=True) == [0.0, 0.0, 0.0, 0.0, 99.0]
    assert cluster_thresholds(np.array([70.0] * 5 + [80.0] * 5), higher_is_better=True) == [
        0.0,
        0.0,
        0.0,
        70.0,
        80.0,
    ]


def test_mean_resampling_of_well_separated_scores_finds_the_gaps_in_every_split():
    # Ten contracts at each of five scores: leaving out one group of five never empties a score.
    scores = np.repeat([10.0, 20.0, 30.0, 40.0, 50.0], 10)
    result = mean_resampling(scores, higher_is_better=True, seed=1, splits=3)
    assert result.thresholds == {2: 20.0, 3: 30.0, 4: 40.0, 5: 50.0}
    assert result.spread(2) == (20.0, 20.0)
    assert result.contracts == 50


def test_mean_resampling_is_the_mean_of_the_leave_one_group_out_runs_and_is_seeded():
    generator = np.random.default_rng(0)
    scores = np.round(np.concatenate([generator.normal(mean, 3, 40) for mean in (40, 55, 70, 85)]))
    first = mean_resampling(scores, higher_is_better=True, seed=7, splits=4)
    again = mean_resampling(scores, higher_is_better=True, seed=7, splits=4)
    assert first == again
    assert len(first.per_split) == 4
    for level in (2, 3, 4, 5):
        low, high = first.spread(level)
        assert low <= first.thresholds[level] <= high
        assert first.thresholds[level] == pytest.approx(np.mean([split[level] for split in first.per_split]))


def test_too_few_contracts_for_ten_groups_are_refused():
    with pytest.raises(TooFewContracts, match="9 contracts: fewer than one for each of 10 groups"):
        mean_resampling(np.arange(9.0), higher_is_better=True, seed=1, splits=1)


def test_improvement_scores_are_clustered_apart_below_and_from_zero_with_3_stars_from_zero():
    scores = [-0.5] * 10 + [-0.1] * 10 + [0.0] * 10 + [0.2] * 10 + [0.5] * 10
    result, decline, improve = improvement_resampling(scores, seed=3, splits=2)
    assert result.thresholds == pytest.approx({2: -0.1, 3: 0.0, 4: 0.2, 5: 0.5})
    assert result.spread(3) == (0.0, 0.0)
    assert result.contracts == 50
    assert (decline.lower, decline.upper) == (-1.0, 0.0)
    assert (improve.lower, improve.upper) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("current", "prior", "cap", "expected"),
    [
        (63.0, 53.0, 5.0, 58.0),  # rose more than the cap: held 5 points above last year (BCS 2026)
        (40.0, 53.0, 5.0, 48.0),  # fell more than the cap: held 5 points below
        (56.0, 53.0, 5.0, 56.0),  # within the cap: unchanged
        (58.0, 53.0, 5.0, 58.0),  # exactly the cap: unchanged
        (0.68, 1.39, 0.046, 1.344),  # restricted-range cap (complaints)
    ],
)
def test_the_guardrail_caps_moves_in_both_directions(current, prior, cap, expected):
    assert guardrail(current, prior, cap) == pytest.approx(expected)


def test_the_restricted_range_cap_is_5_percent_of_the_prior_years_fenced_range():
    assert restricted_range_cap(Fences(0.0, 0.92, 0.08, 0.29)) == pytest.approx(0.046)


def test_thresholds_round_half_up_to_the_display_precision():
    assert round_threshold(62.5, 0) == Decimal("63")
    assert round_threshold(62.49, 0) == Decimal("62")
    assert round_threshold(1.344, 2) == Decimal("1.34")
    assert round_threshold(0.125, 2) == Decimal("0.13")


# --- Tables K-3 to K-6 as shipped -------------------------------------------------------------

MEASURE_ROW = re.compile(r"\b([CD]\d{2})\b(?:\s+(MA-PD|PDP))?\s+(?=Less than|Greater than)")
NUMBER = re.compile(r"(-\s*)?\d+(?:\.\d+)?")
PAGE_NOISE = re.compile(r"^\s*(\(Last Updated.*|Measure ID .*|Notes?:.*|have been applied.*)$")
TUKEY_ROW = re.compile(
    r"^([CD]\d{2})(?: \((improve|decline)\))?(?: (MA-PD|PDP))? (-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)\s*$"
)


def _section(lines: list[str], start: str, end: str) -> list[str]:
    """The lines of a table: from its title (not the table of contents' entry) to the next title."""
    begin = next(i for i, line in enumerate(lines) if line.startswith(start) and "...." not in line)
    stop = next(i for i in range(begin + 1, len(lines)) if lines[i].startswith(end))
    return lines[begin + 1 : stop]


def _resampling_rows(lines: list[str]) -> list[dict]:
    """Tables K-3/K-4 rows: each star level's bound (lower for higher-is-better, upper for lower)."""
    text = " ".join(line for line in lines if not PAGE_NOISE.match(line))
    matches = list(MEASURE_ROW.finditer(text))
    rows = []
    for here, after in zip(matches, [*matches[1:], None], strict=True):
        body = text[here.end() : after.start() if after else len(text)]
        numbers = [found.group(0).replace(" ", "") for found in NUMBER.finditer(body)]
        assert len(numbers) == 8, (here.group(0), numbers)
        higher = body.startswith("Less than")
        # "Less than A | >= A to < B | >= B to < C | >= C to < D | >= D", or for lower-is-better
        # "Greater than A | > B to <= A | > C to <= B | > D to <= C | <= D".
        picks = (1, 3, 5, 7) if higher else (2, 4, 6, 7)
        rows.append(
            {
                "measure": here.group(1),
                "org_type": here.group(2),
                "direction": "higher" if higher else "lower",
                "thresholds": {str(star): numbers[i] for star, i in zip(range(2, 6), picks, strict=True)},
            }
        )
    return rows


def _tukey_rows(lines: list[str]) -> list[dict]:
    rows = []
    for line in lines:
        found = TUKEY_ROW.match(line.strip())
        if found:
            rows.append(
                {
                    "measure": found.group(1),
                    "org_type": found.group(3),
                    "group": found.group(2),
                    "lower": found.group(4),
                    "upper": found.group(5),
                }
            )
    return rows


def test_the_shipped_attachment_k_tables_are_the_technical_notes_own():
    if not REFERENCE_NOTES.is_file():
        pytest.skip(f"2026 Technical Notes not found at {REFERENCE_NOTES}")
    lines = REFERENCE_NOTES.read_text(encoding="utf-8").splitlines()
    shipped = json.loads((DATA_DIR / "2026-attachment-k.json").read_text(encoding="utf-8"))
    assert shipped["mean_resampling_thresholds"] == _resampling_rows(
        _section(lines, "Table K-3:", "Table K-4:")
    ) + _resampling_rows(_section(lines, "Table K-4:", "Table K-5:"))
    assert shipped["tukey_outlier_cutoffs"] == _tukey_rows(
        _section(lines, "Table K-5:", "Table K-6:")
    ) + _tukey_rows(_section(lines, "Table K-6:", "Guardrails are then applied"))


def test_the_shipped_tables_cover_every_non_cahps_measure_of_2026():
    tables = AttachmentK.for_star_year(2026)
    assert tables is not None
    assert len(tables.resampling) == 46  # 26 Part C measures, 10 Part D measures x MA-PD and PDP
    assert len(tables.tukey) == 49  # the improvement measures have an "improve" and a "decline" row
    assert tables.resampling[("C01", None)] == {
        2: Decimal(63),
        3: Decimal(71),
        4: Decimal(76),
        5: Decimal(84),
    }
    assert tables.tukey[("C30", None, "decline")] == (Decimal("-0.628528"), Decimal(0))
    assert sorted(tables.guardrail_exempt) == ["C04", "C05", "C13", "C18", "C20", "C21", "C30", "D04"]
    assert AttachmentK.for_star_year(2025) is None


# --- the 2026 reproduction with the command ---------------------------------------------------

SEED = 8675309
RESAMPLES = 10  # the command's default, so the pinned rates are the ones it prints
# Every Tukey cutoff the published 2026 scores do not reproduce: (measure, org type, cutoff,
# computed, Table K-5/K-6). The other 69 of the 86 computable cutoffs are CMS's exactly.
TUKEY_DIFFERENCES = [
    ("C02", None, "lower", 30.0, 26.0),
    ("C06", None, "lower", 22.0, 20.5),
    ("C06", None, "upper", 78.0, 80.0),
    ("C08", None, "lower", 72.0, 68.0),
    ("C09", None, "lower", 75.0, 71.0),
    ("C11", None, "lower", 40.0, 36.0),
    ("C13", None, "lower", 13.0, 9.0),
    ("C15", None, "lower", 19.0, 20.5),
    ("C15", None, "upper", 96.0, 94.0),
    ("C17", None, "lower", 5.0, 1.0),
    ("C21", None, "lower", 25.0, 21.0),
    ("C21", None, "upper", 95.0, 98.0),
    ("C28", None, "upper", 0.96, 1.04),
    ("C29", None, "upper", 74.0, 82.0),
    ("C33", None, "lower", 88.0, 80.0),
    ("D02", "MA-PD", "upper", 0.96, 1.04),
    ("D03", "MA-PD", "upper", 74.0, 82.0),
]


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("cms_cut_points", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def reproduction_2026(national_2025, national_2026, django_db_blocker):
    """`cms_cut_points --star-year 2026 --json` once for the module (2025 gives the guardrails)."""
    with django_db_blocker.unblock():
        return json.loads(
            _run("--star-year", "2026", "--json", "--seed", str(SEED), "--resamples", str(RESAMPLES))
        )


def test_the_output_states_the_seed_and_the_number_of_splits(reproduction_2026):
    assert (reproduction_2026["star_year"], reproduction_2026["prior_year"]) == (2026, 2025)
    assert (reproduction_2026["seed"], reproduction_2026["resamples"]) == (SEED, RESAMPLES)


def test_tukey_cutoffs_reproduce_69_of_86_and_each_other_one_is_pinned(reproduction_2026):
    assert reproduction_2026["tukey"] == {"compared": 86, "matched": 69}
    computed = [
        (row["measure"], row["org_type"], row["cutoff"], row["computed"], row["published"])
        for row in reproduction_2026["differences"]
        if row["stage"] == "tukey" and row["computed"] is not None
    ]
    assert computed == TUKEY_DIFFERENCES


def test_a_tukey_difference_gives_the_quartiles_cms_implies_and_how_far_the_public_scores_are(
    reproduction_2026,
):
    def reason(measure, cutoff):
        return next(
            row["reason"]
            for row in reproduction_2026["differences"]
            if (row["stage"], row["measure"], row.get("cutoff")) == ("tukey", measure, cutoff)
        )

    # Care for Older Adults - Medication Review: K-5's 68 needs Q1 = 92 (the upper cutoff is capped).
    assert (
        "CMS's cutoffs imply Q1 = 92 and Q3 = 100, and of the 331 published scores 72 are at or below 92"
        in (reason("C08", "lower"))
    )
    # Follow-up after ED visit: neither cutoff is capped, so both quartiles are implied.
    assert (
        "CMS's cutoffs imply Q1 = 54 and Q3 = 65, and of the 533 published scores 131 are at or below 54"
        in (reason("C21", "upper"))
    )
    assert "terminated contracts" in reason("C21", "upper")


def test_mean_resampling_and_final_thresholds_reach_the_measured_rates(reproduction_2026):
    assert reproduction_2026["resampling"] == {"compared": 172, "within_precision": 102}
    assert reproduction_2026["final"] == {"compared": 172, "matched": 120}


# The published values that are the prior year's (disaster-affected contracts whose 2025 star was
# the higher, so their own 2026 score, the one CMS clusters, is not published), per measure.
PRIOR_YEAR_VALUES = {
    "C01": 9,
    "C06": 1,
    "C09": 16,
    "C10": 3,
    "C11": 7,
    "C12": 6,
    "C14": 1,
    "C16": 3,
    "C17": 1,
    "C18": 30,
    "C20": 8,
    "C21": 41,
    "C28": 5,
    "C31": 15,
    "C32": 10,
    "D02 (MA-PD)": 5,
    "D03 (PDP)": 1,
    "D08 (MA-PD)": 18,
    "D09 (MA-PD)": 16,
    "D09 (PDP)": 2,
    "D10 (MA-PD)": 24,
    "D10 (PDP)": 2,
    "D11 (MA-PD)": 10,
}


def test_disaster_contracts_prior_year_values_count_in_the_quartiles_and_are_left_out_of_the_clustering(
    reproduction_2026,
):
    kept = {
        note.split(":")[0]: int(note.split(": ")[1].split(" ")[0])
        for note in reproduction_2026["notes"]
        if "published score(s) are the prior year's" in note
    }
    assert kept == PRIOR_YEAR_VALUES
    # D02 for MA-PD clusters C28's contracts, so it leaves out C28's prior-year values.
    assert kept["D02 (MA-PD)"] == kept["C28"]


def test_cms_own_resampling_thresholds_through_the_guardrails_give_every_published_cut_point(
    reproduction_2026,
):
    assert reproduction_2026["guardrails_from_cms"] == {"compared": 172, "matched": 172}


def test_every_final_difference_is_inherited_from_mean_resampling_or_not_computable(reproduction_2026):
    reasons = {
        row["reason"].split(":")[0] for row in reproduction_2026["differences"] if row["stage"] == "final"
    }
    assert reasons == {"inherited from mean resampling", "no scores published"}


def test_breast_cancer_screenings_2_star_threshold_is_held_by_the_guardrail(reproduction_2026):
    two_star = next(
        row for row in reproduction_2026["thresholds"] if (row["measure"], row["star"]) == ("C01", 2)
    )
    assert two_star["cms_before_guardrail"] == 63.0
    assert two_star["published"] == two_star["computed"] == 58.0
    assert two_star["guardrail"] == "capped"
    low, high = two_star["spread"]
    assert low <= two_star["before_guardrail"] <= high
    assert two_star["before_guardrail"] > 58


def test_mpf_price_accuracy_clusters_to_one_level_and_the_guardrail_gives_the_published_cut_points(
    reproduction_2026,
):
    rows = [row for row in reproduction_2026["thresholds"] if row["measure"] == "D07"]
    assert [
        (row["org_type"], row["before_guardrail"], row["computed"], row["published"]) for row in rows
    ] == [
        (org, before, final, final)
        for org in ("MA-PD", "PDP")
        for before, final in ((0.0, 92.0), (0.0, 93.0), (0.0, 94.0), (99.0, 99.0))
    ]


def test_shared_measures_cluster_the_part_c_contracts_for_ma_pd_as_tables_k_4_and_k_6_show(reproduction_2026):
    def rows(measure):
        return [
            (row["star"], row["before_guardrail"], row["cms_before_guardrail"])
            for row in reproduction_2026["thresholds"]
            if row["measure"] == measure and row["org_type"] in (None, "MA-PD")
        ]

    assert rows("D02") == rows("C28")
    assert rows("D03") == rows("C29")


def test_the_improvement_measures_are_named_not_computed(reproduction_2026):
    not_computed = [note.split(":")[0] for note in reproduction_2026["notes"] if "not computed" in note]
    assert not_computed == ["C30", "D04 (MA-PD)", "D04 (PDP)"]
    improvement = [row for row in reproduction_2026["differences"] if row["measure"] in ("C30", "D04")]
    assert {row["computed"] for row in improvement} == {None}
    assert len(improvement) == 3 * (4 + 4 + 4)  # 4 Tukey cutoffs, 4 K-3/K-4 and 4 final thresholds each


def test_new_and_respecified_measures_are_not_guarded(reproduction_2026):
    guardrails = {row["measure"]: row["guardrail"] for row in reproduction_2026["thresholds"]}
    assert guardrails["C13"].startswith("new measure")
    assert guardrails["C21"].startswith("3 years or less in the program")
    assert guardrails["C14"] in ("capped", "within the cap")  # Controlling Blood Pressure: guarded again


@pytest.mark.django_db
def test_a_year_without_its_prior_year_or_attachment_k_compares_only_the_unguarded_final_thresholds(
    national_2025,
):
    found = json.loads(_run("--star-year", "2025", "--json", "--resamples", "1"))
    assert found["prior_year"] is None
    assert found["tukey"] == {"compared": 0, "matched": 0}
    assert found["resampling"] == {"compared": 0, "within_precision": 0}
    assert found["final"]["compared"] == 160
    assert found["notes"][:2] == [
        "Tables K-3 to K-6 of the 2025 Technical Notes are not shipped: "
        "only the final thresholds are compared.",
        "No 2024 cut points are imported, so no guardrail is possible: "
        "the final thresholds are the unguarded mean-resampling thresholds, rounded. Nor can a "
        "disaster-affected contract's published prior-year value be told from its own, so "
        "every published score is clustered.",
    ]
    assert {row["guardrail"] for row in found["thresholds"]} == {"no prior-year cut points: not guarded"}


@pytest.mark.django_db
def test_a_measure_with_too_few_contracts_to_cluster_is_named(national_2025, national_2026):
    kept = CmsMeasureValue.objects.filter(
        contract__star_year=2026, edition__cms_id="C01", score__isnull=False
    ).values_list("pk", flat=True)[:8]
    CmsMeasureValue.objects.filter(
        contract__star_year=2026, edition__cms_id="C01", score__isnull=False
    ).exclude(pk__in=list(kept)).update(score=None, score_status="Plan too small to be measured")
    found = json.loads(_run("--star-year", "2026", "--json", "--resamples", "1"))
    assert (
        "C01: too few contracts to cluster (8 contracts: fewer than one for each of 10 groups)."
        in found["notes"]
    )
    assert not [row for row in found["thresholds"] if row["measure"] == "C01"]


@pytest.mark.django_db
def test_the_text_report_gives_each_stage_and_every_difference_with_its_reason(national_2025, national_2026):
    text = _run("--star-year", "2026", "--resamples", "1")
    assert f"(seed {SEED}, 1 random 10-group split(s) per measure," in text
    assert "Guardrails from the 2025 cut points." in text
    assert "Tukey outlier cutoffs (Tables K-5/K-6), exact: 69 of 86 (80.2%)" in text
    assert "CMS's Tables K-3/K-4 through these guardrails and rounding: 172 of 172 (100.0%)" in text
    assert "  tukey      C02 lower: 30.0 vs 26 — the published scores give Q1 = 66 and Q3 = 78" in text


@pytest.mark.django_db
def test_a_year_not_imported_is_refused():
    with pytest.raises(CommandError, match="Star year 2031 is not imported"):
        _run("--star-year", "2031")


@pytest.mark.django_db
def test_improvement_scores_when_given_are_clustered_by_group_and_not_guarded(national_2025, national_2026):
    values = list(
        CmsMeasureValue.objects.filter(contract__star_year=2026, edition__cms_id="C30").order_by("pk")[:60]
    )
    improvements = ("-0.4", "-0.1", "0", "0.05", "0.3", "0.6")
    for index, value in enumerate(values):
        value.score, value.score_status = Decimal(improvements[index % 6]), ""
    CmsMeasureValue.objects.bulk_update(values, ["score", "score_status"])
    found = json.loads(_run("--star-year", "2026", "--json", "--resamples", "1"))
    rows = [row for row in found["thresholds"] if row["measure"] == "C30"]
    assert [(row["star"], row["before_guardrail"], row["computed"]) for row in rows] == [
        (2, -0.1, -0.1),
        (3, 0.0, 0.0),
        (4, 0.3, 0.3),
        (5, 0.6, 0.6),
    ]
    assert {row["guardrail"] for row in rows} == {
        "improvement measure: guardrails are not applied to the improvement measures"
    }
    cutoffs = {
        row["cutoff"] for row in found["differences"] if row["measure"] == "C30" and row["stage"] == "tukey"
    }
    assert cutoffs <= {"lower (decline)", "upper (decline)", "lower (improve)", "upper (improve)"}
    assert "C30" not in [note.split(":")[0] for note in found["notes"]]

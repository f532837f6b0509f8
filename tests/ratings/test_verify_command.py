"""`verify_cms_ratings`: the engine against CMS's published 2026 ratings, from the database.

The figures asserted are the ones the engine achieves on the shipped tables. Outside the
disaster rules every non-CAHPS measure star is reproduced. The 11 ratings it misses (3 Part C
and 3 overall outside the disaster rules, 1 Part D, 2 + 2 of disaster contracts) belong to 6
contracts whose 'CCP with Only I-SNP' type the tables do not carry (see
`ratings.cms.verify._looks_isnp_only`); each is explained, and given those types every
rating matches.
"""

import io
import itertools
import json
import re

import pytest
from django.core.management import CommandError, call_command

from ratings.benchmark.selectors import cms_ratings_verify, verification_summary
from ratings.cms import Methodology, load_tables, verify
from ratings.cms.verify import UNEXPLAINED
from tests.ratings.conftest import SMALL_2024, shipped_2026_files, write_set

pytestmark = pytest.mark.django_db
COUNT_KEYS = {"compared", "matched", "disaster_compared", "disaster_matched"}


def run_json(*args) -> tuple[dict, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_cms_ratings", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


@pytest.fixture(scope="module")
def published(national_2026, django_db_blocker) -> dict:
    """`verify_cms_ratings --star-year 2026 --json` on the shipped tables, run once."""
    with django_db_blocker.unblock():
        return run_json("--star-year", "2026")[0]


def rate(counts: dict, *, disaster: bool | None = None) -> float:
    if disaster is None:
        return counts["matched"] / counts["compared"]
    if disaster:
        return counts["disaster_matched"] / counts["disaster_compared"]
    return (counts["matched"] - counts["disaster_matched"]) / (
        counts["compared"] - counts["disaster_compared"]
    )


def test_json_has_exactly_the_specified_shape(published):
    assert set(published) == {
        "star_year",
        "prior_star_year",
        "rules",
        "disaster_values",
        "fitted_cai",
        "measure_stars",
        "measure_stars_non_cahps",
        "part_c_summary",
        "part_d_summary",
        "overall",
        "mismatches",
    }
    assert published["star_year"] == 2026
    assert published["prior_star_year"] is None
    assert published["fitted_cai"] == []
    for key in ("measure_stars", "measure_stars_non_cahps", "part_c_summary", "part_d_summary", "overall"):
        assert set(published[key]) == COUNT_KEYS | {"by_rule"}
        assert set(published[key]["by_rule"]) <= set(published["rules"])
        assert sum(c["compared"] for c in published[key]["by_rule"].values()) == published[key]["compared"]
        assert sum(c["matched"] for c in published[key]["by_rule"].values()) == published[key]["matched"]
    assert all(
        set(v) == {"contract", "measure", "rule", "published", "computed", "matched", "detail"}
        for v in published["disaster_values"]
    )
    assert all(
        set(m) == {"contract", "what", "published", "computed", "reason"} for m in published["mismatches"]
    )


def test_measure_stars_match_cms(published):
    # Without the 2025 tables the disaster rules are named, not applied.
    assert published["measure_stars"] == {
        "compared": 21299,
        "matched": 20453,
        "disaster_compared": 2741,
        "disaster_matched": 2381,
        "by_rule": {
            "cut_points": {"compared": 18759, "matched": 18273},
            "disaster_not_adjusted": {"compared": 165, "matched": 165},
            "disaster_prior_year_not_imported": {"compared": 2375, "matched": 2015},
        },
    }
    non_cahps = published["measure_stars_non_cahps"]
    assert non_cahps == {
        "compared": 17040,
        "matched": 16804,
        "disaster_compared": 2214,
        "disaster_matched": 1978,
        "by_rule": {
            "cut_points": {"compared": 15027, "matched": 15027},
            "disaster_not_adjusted": {"compared": 165, "matched": 165},
            "disaster_prior_year_not_imported": {"compared": 1848, "matched": 1612},
        },
    }
    assert rate(non_cahps, disaster=False) == 1.0


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "part_c_summary",
            {"compared": 720, "matched": 715, "disaster_compared": 81, "disaster_matched": 79},
        ),
        (
            "part_d_summary",
            {"compared": 761, "matched": 760, "disaster_compared": 85, "disaster_matched": 85},
        ),
        ("overall", {"compared": 712, "matched": 707, "disaster_compared": 81, "disaster_matched": 79}),
    ],
)
def test_summary_and_overall_ratings_match_cms(published, key, expected):
    assert {k: v for k, v in published[key].items() if k != "by_rule"} == expected
    assert rate(published[key]) >= 0.99
    assert rate(published[key], disaster=False) >= 0.995


def test_every_mismatch_has_a_reason(published):
    assert len(published["mismatches"]) == 857
    for mismatch in published["mismatches"]:
        assert mismatch["reason"] and not mismatch["reason"].startswith(UNEXPLAINED), mismatch
    ratings = [m for m in published["mismatches"] if not m["what"].startswith("measure star")]
    assert len(ratings) == 11
    assert all(m["reason"].startswith(("contract type", "disaster contract")) for m in ratings)


def test_the_database_reproduces_the_file_based_verification(national_2026):
    from_files = verification_summary(
        verify(load_tables(shipped_2026_files()), Methodology.for_star_year(2026))
    )
    from_database = verification_summary(cms_ratings_verify(2026))

    def key(mismatch):
        return mismatch["contract"], mismatch["what"]

    assert {k: v for k, v in from_database.items() if k != "mismatches"} == {
        k: v for k, v in from_files.items() if k != "mismatches"
    }
    assert sorted(from_database["mismatches"], key=key) == sorted(from_files["mismatches"], key=key)


def test_text_output_gives_rates_per_rating_and_measure_and_every_mismatch(national_2026):
    out = io.StringIO()
    call_command("verify_cms_ratings", "--star-year", "2026", stdout=out)
    text = out.getvalue()
    assert (
        "Part C summary: 715 of 720 (99.31%) matched; outside the disaster rules 636 of 639 (99.53%)" in text
    )
    assert (
        "Measure stars (non-CAHPS): 16804 of 17040 (98.62%) matched; outside the disaster rules 14826 of "
        in text
    )
    assert "  C01: 490 of 499 (98.20%); outside the disaster rules 437 of 437 (100.00%)" in text
    assert "Mismatches (857):" in text
    assert len(re.findall(r"^  [A-Z]\d{4} .*: published .*, computed .* — .+$", text, re.MULTILINE)) == 857
    assert "Skipped: measure stars of C30, D04" in text


def test_known_contract_types_reproduce_every_rating(published, national_2026):
    # The mismatched ratings' reasons name the type that reproduces CMS; given those types
    # (as CMS's SNP Comprehensive Report would), every summary and overall rating matches.
    other = {"ccp_with_snp": "ccp_only_isnp", "ccp_only_isnp": "ccp_with_snp"}
    types = set()
    for mismatch in published["mismatches"]:
        if mismatch["reason"].startswith("contract type"):
            inferred = (
                "ccp_only_isnp" if "suggested 'CCP with Only I-SNP'" in mismatch["reason"] else "ccp_with_snp"
            )
            types.add(f"{mismatch['contract']}={other[inferred]}")
    assert len(types) == 6
    fixed, _ = run_json(
        "--star-year", "2026", *itertools.chain.from_iterable(("--contract-type", t) for t in types)
    )
    for key in ("part_c_summary", "part_d_summary", "overall"):
        assert fixed[key]["matched"] == fixed[key]["compared"], key
    with pytest.raises(CommandError, match="expected CONTRACT=TYPE"):
        call_command("verify_cms_ratings", "--star-year", "2026", "--contract-type", "H3291=isnp")


def test_a_year_without_methodology_verifies_measure_stars_only(tmp_path):
    write_set(tmp_path, SMALL_2024, encoding="cp1252")
    call_command("import_cms_star_data", str(tmp_path), "--star-year", "2024", stdout=io.StringIO())
    result, skipped = run_json("--star-year", "2024")
    # H0001: C01 71% -> 4, C03 12% -> 2; H0002: C01 80% -> 5, C02 74% -> 3.
    assert result["measure_stars"] == {
        "compared": 4,
        "matched": 4,
        "disaster_compared": 0,
        "disaster_matched": 0,
        "by_rule": {"cut_points": {"compared": 4, "matched": 4}},
    }
    # No 2024 catalog is needed: the lineage knows these measures by name, none is CAHPS.
    assert result["measure_stars_non_cahps"] == result["measure_stars"]
    assert result["part_c_summary"] is result["part_d_summary"] is result["overall"] is None
    assert "no methodology shipped for star year 2024" in skipped


def test_a_year_never_imported_is_a_clear_error():
    with pytest.raises(CommandError, match="No CMS data tables imported for star year 2031"):
        call_command("verify_cms_ratings", "--star-year", "2031")

"""The CMS data-table parser and the verification against CMS's published 2026 ratings.

The 2026 tables ship with the product (`ratings/cms/data/2026/`, copies of CMS's files; a test
checks them against the reference folder when it is present). Parser edge cases use small files
written to a temporary folder in the layouts of earlier years (cp1252, en dashes, empty trailing
columns, shifted measure IDs).
"""

from decimal import Decimal
from pathlib import Path

import pytest

from ratings.cms.methodology import DATA_DIR, Methodology
from ratings.cms.tables import (
    UNUSED_TABLES,
    CellValue,
    CmsTableError,
    Direction,
    TableKind,
    Threshold,
    load_tables,
    parse_file,
)
from ratings.cms.verify import UNEXPLAINED, VerificationReport, profile_from_tables, verify

SHIPPED = DATA_DIR / "2026"
REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "cms-2026"
RATING_KEYS = ("measure_stars_non_cahps", "part_c_summary", "part_d_summary", "overall")


@pytest.fixture(scope="module")
def reference_tables():
    return load_tables(SHIPPED.glob("*.csv"))


def test_shipped_tables_are_cms_files_unchanged() -> None:
    if not REFERENCE.is_dir():
        pytest.skip(f"CMS 2026 reference folder not found at {REFERENCE}")
    shipped = sorted(SHIPPED.glob("*.csv"))
    assert len(shipped) == 6
    for path in shipped:
        assert path.read_bytes() == (REFERENCE / path.name).read_bytes(), path.name


@pytest.fixture(scope="module")
def report(reference_tables) -> VerificationReport:
    return verify(reference_tables, Methodology.for_star_year(2026))


# --- the shipped reference data ----------------------------------------------------------


def test_reference_tables_are_recognised(reference_tables) -> None:
    kinds = {parse_file(path)[0] for path in SHIPPED.glob("*.csv")}
    assert kinds == set(TableKind) - set(UNUSED_TABLES)
    assert reference_tables.star_year == 2026
    assert len(reference_tables.summary) == len(reference_tables.cai) == 769
    assert len(reference_tables.measure_stars.measures) == 45
    # Part C has one row per measure; Part D has MA-PD and PDP rows.
    assert len(reference_tables.cut_points) == 33 + 2 * 12
    c18 = reference_tables.cut_points_for("C18", None)
    assert c18.direction is Direction.LOWER
    assert c18.thresholds[2] == Threshold(Decimal(12), inclusive=True)
    pdp_d01 = reference_tables.cut_points_for("D01", "PDP")
    assert pdp_d01.thresholds[5] == Threshold(Decimal(100), inclusive=True)  # "100%"


def test_reference_statuses_are_kept(reference_tables) -> None:
    stars = reference_tables.measure_stars
    assert stars.value("E3014", "C01") == CellValue(status="Plan not required to report measure")
    assert stars.value("H0028", "C04") == CellValue(status="Not enough data available")
    assert stars.value("H0028", "C01") == CellValue(number=Decimal(4))
    assert reference_tables.measure_data.value("H0028", "C28") == CellValue(number=Decimal("0.16"))
    summary = reference_tables.summary["H0028"]
    assert summary.snp and summary.disaster_percent == {2023: Decimal(1), 2024: Decimal(9)}
    assert reference_tables.cai["E3014"].part_c_fac is None


def test_non_cahps_measure_stars(report: VerificationReport) -> None:
    # Outside the disaster rules every non-CAHPS star is reproduced. Disaster contracts keep
    # the higher of their 2025 and 2026 star with that year's score, so their published stars
    # can come from 2025 cut points the tables do not carry; those are all explained below.
    assert report.match_rate("measure_stars_non_cahps", disaster=False) == 1.0
    assert report.match_rate("measure_stars_non_cahps") >= 0.98


@pytest.mark.parametrize("key", RATING_KEYS[1:])
def test_rating_match_rates_over_all_contracts(report: VerificationReport, key: str) -> None:
    assert report.match_rate(key) >= 0.99, report.counts[key]


@pytest.mark.parametrize("key", RATING_KEYS[1:])
def test_non_disaster_ratings(report: VerificationReport, key: str) -> None:
    # Every non-disaster difference is the I-SNP-only contract type the tables do not carry
    # (checked below); the rest matches.
    assert report.match_rate(key, disaster=False) >= 0.995, report.counts[key]


def test_every_mismatch_is_explained(report: VerificationReport) -> None:
    assert report.mismatches
    for mismatch in report.mismatches:
        assert mismatch.reason and not mismatch.reason.startswith(UNEXPLAINED), mismatch
    rating_mismatches = [m for m in report.mismatches if not m.what.startswith("measure star")]
    assert all(m.reason.startswith("contract type") for m in rating_mismatches), rating_mismatches
    star_mismatches = [m for m in report.mismatches if m.what.startswith("measure star")]
    assert all(m.reason.startswith(("CAHPS", "disaster contract")) for m in star_mismatches)


def test_given_contract_types_reproduce_every_rating(reference_tables, report) -> None:
    # With the SNP type from outside the tables (here taken from the mismatch explanations),
    # every Part C, Part D and overall rating of every contract matches.
    methodology = Methodology.for_star_year(2026)
    types = {}
    for mismatch in report.mismatches:
        if mismatch.reason.startswith("contract type"):
            inferred = profile_from_tables(reference_tables, mismatch.contract, methodology)
            other = {"ccp_with_snp": "ccp_only_isnp", "ccp_only_isnp": "ccp_with_snp"}
            types[mismatch.contract] = other[inferred.contract_type]
    fixed = verify(reference_tables, methodology, contract_types=types)
    for key in RATING_KEYS[1:]:
        assert fixed.match_rate(key) == 1.0, fixed.counts[key]


def test_report_shape(report: VerificationReport) -> None:
    result = report.as_dict()
    for key in ("measure_stars", *RATING_KEYS):
        assert set(result[key]) == {"compared", "matched", "disaster_compared", "disaster_matched"}
    assert result["per_measure"]["C01"]["compared"] > 0
    assert "C30" not in result["per_measure"]  # improvement measures publish no score
    assert set(result["mismatches"][0]) == {"contract", "what", "published", "computed", "reason"}


def test_cahps_mismatches_name_the_significance_test(report: VerificationReport) -> None:
    cahps = [m for m in report.mismatches if m.what == "measure star C25"]
    assert cahps and all("CAHPS" in m.reason for m in cahps)


# --- parser edge cases (earlier years' layouts) -------------------------------------------


def write(tmp_path: Path, name: str, text: str, encoding: str = "cp1252") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# 2025-style: cp1252 with en dashes, trailing spaces, empty trailing columns, and measure IDs
# that differ from 2026 (here C01 is Colorectal Cancer Screening).
STARS_2025 = (
    "2025 Star View: Medicare Report Card Master Table,,,,,,,,,\r\n"
    "CONTRACT_ID,Organization Type,Contract Name,Organization Marketing Name,Parent Organization,"
    "HD1: Staying Healthy,HD2: Managing Chronic (Long Term) Conditions,,,\r\n"
    ",,,,,C01: Colorectal Cancer Screening,C02: Care for Older Adults \u2013 Medication Review,"
    "C03: Plan All-Cause Readmissions,,\r\n"
    ",,,,,01/01/2023 \u2013 12/31/2023,01/01/2023 \u2013 12/31/2023,01/01/2023 \u2013 12/31/2023,,\r\n"
    "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,4 ,Plan too small to be measured ,2 ,,\r\n"
    "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,5 ,3 ,Plan too new to be measured ,,\r\n"
)
DATA_2025 = (
    STARS_2025.replace("Star View", "Data View")
    .replace(",4 ,Plan too small", ",71% ,Plan too small")
    .replace(",2 ,,", ",12% ,,")
    .replace(",5 ,3 ,", ",80% ,74% ,")
)
CUT_POINTS_2025 = (
    "2025 Part C Performance Metrics Threshold for Star Assignments,,,,,\r\n"
    "Number of Stars Displayed on the Plan Finder Tool,HD1: Staying Healthy,HD2: Managing,,,\r\n"
    ",C01: Colorectal Cancer Screening,C02: Care for Older Adults \u2013 Medication Review,"
    "C03: Plan All-Cause Readmissions,,\r\n"
    ",01/01/2023 \u2013 12/31/2023,01/01/2023 \u2013 12/31/2023,01/01/2023 \u2013 12/31/2023,,\r\n"
    "1star ,< 50 % ,< 60 % ,> 12 % ,,\r\n"
    "2star ,>= 50 % to < 60 % ,>= 60 % to < 70 % ,> 10 % to <= 12 % ,,\r\n"
    "3star ,>= 60 % to < 70 % ,>= 70 % to < 80 % ,> 9 % to <= 10 % ,,\r\n"
    "4star ,>= 70 % to < 80 % ,>= 80 % to < 90 % ,> 7 % to <= 9 % ,,\r\n"
    "5star ,>= 80 % ,>= 90 % ,<= 7 % ,,\r\n"
)


def test_cp1252_file_with_shifted_ids(tmp_path: Path) -> None:
    kind, year, table = parse_file(write(tmp_path, "anything.csv", STARS_2025))
    assert (kind, year) == (TableKind.MEASURE_STARS, 2025)
    assert [(m.measure_id, m.name) for m in table.measures] == [
        ("C01", "Colorectal Cancer Screening"),
        ("C02", "Care for Older Adults \u2013 Medication Review"),
        ("C03", "Plan All-Cause Readmissions"),
    ]
    assert table.contracts["H0001"].org_type == "Local CCP"
    assert table.value("H0001", "C01") == CellValue(number=Decimal(4))
    assert table.value("H0001", "C02") == CellValue(status="Plan too small to be measured")
    assert table.value("H0002", "C03") == CellValue(status="Plan too new to be measured")


def test_measure_data_and_cut_points_in_old_layout(tmp_path: Path) -> None:
    kind, _, data = parse_file(write(tmp_path, "x.csv", DATA_2025))
    assert kind is TableKind.MEASURE_DATA
    assert data.value("H0001", "C01") == CellValue(number=Decimal(71))
    kind, year, cut_points = parse_file(write(tmp_path, "y.csv", CUT_POINTS_2025))
    assert (kind, year) == (TableKind.PART_C_CUT_POINTS, 2025)
    readmissions = cut_points[2]
    assert (readmissions.measure_id, readmissions.direction) == ("C03", Direction.LOWER)
    assert readmissions.thresholds[5] == Threshold(Decimal(7), inclusive=True)


def test_verify_without_methodology_checks_measure_stars_only(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "a.csv", STARS_2025),
        write(tmp_path, "b.csv", DATA_2025),
        write(tmp_path, "c.csv", CUT_POINTS_2025),
    ]
    report = verify(load_tables(paths))
    # H0001: C01 71% -> 4, C03 12% -> 2; H0002: C01 80% -> 5, C02 74% -> 3.
    assert report.counts["measure_stars"] == {
        "compared": 4,
        "matched": 4,
        "disaster_compared": 0,
        "disaster_matched": 0,
    }
    # The measures are recognised by name through the lineage: none is CAHPS.
    assert report.counts["measure_stars_non_cahps"] == report.counts["measure_stars"]
    assert "part_c_summary" not in report.counts
    assert any("no methodology shipped for star year 2025" in s for s in report.skipped)


def test_utf8_with_bom(tmp_path: Path) -> None:
    kind, _, table = parse_file(write(tmp_path, "bom.csv", STARS_2025, encoding="utf-8-sig"))
    assert kind is TableKind.MEASURE_STARS
    assert table.measures[1].name == "Care for Older Adults \u2013 Medication Review"


def test_wrong_layout_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "members.csv", "member_id,name\r\n1,Ann\r\n")
    with pytest.raises(CmsTableError, match=r"members\.csv") as error:
        parse_file(path)
    assert error.value.file == "members.csv"


def test_non_monotone_cut_points_name_the_measure(tmp_path: Path) -> None:
    broken = CUT_POINTS_2025.replace(
        ">= 70 % to < 80 % ,>= 80 % to < 90 %", ">= 45 % to < 80 % ,>= 80 % to < 90 %"
    )
    with pytest.raises(CmsTableError, match=r"C01.*not monotone") as error:
        parse_file(write(tmp_path, "cuts.csv", broken))
    assert error.value.column == "C01: Colorectal Cancer Screening"


def test_unreadable_cut_point_names_row_and_column(tmp_path: Path) -> None:
    broken = CUT_POINTS_2025.replace("<= 7 %", "seven or less")
    with pytest.raises(CmsTableError, match="seven or less") as error:
        parse_file(write(tmp_path, "cuts.csv", broken))
    assert (error.value.row, error.value.column) == (9, "C03: Plan All-Cause Readmissions")


def test_summary_missing_column_is_named(tmp_path: Path) -> None:
    text = (
        "2026 Summary Star View: Medicare Report Card Master Table,,,\r\n"
        "Contract Number,Organization Type,2026 Part C Summary,2026 Overall\r\n"
        "H0001 ,Local CCP ,4 ,4\r\n"
    )
    with pytest.raises(CmsTableError, match="Part D Summary"):
        parse_file(write(tmp_path, "summary.csv", text))


def test_summary_statuses_and_half_stars(tmp_path: Path) -> None:
    text = (
        "2026 Summary Star View: Medicare Report Card Master Table,,,,,,,,,,,\r\n"
        "Contract Number,Organization Type,Contract Name,Organization Marketing Name,"
        "Parent Organization,SNP,2023 Disaster %,2024 Disaster %,2026 Part C Summary,"
        "2026 Part D Summary,2026 Overall,\r\n"
        "H0001 ,Local CCP ,A ,A ,A ,Yes ,0,30,3.5,Not enough data available ,"
        "Plan too new to be measured ,\r\n"
    )
    _, _, summary = parse_file(write(tmp_path, "s.csv", text))
    row = summary["H0001"]
    assert row.snp and row.disaster_percent == {2023: Decimal(0), 2024: Decimal(30)}
    assert row.part_c == CellValue(number=Decimal("3.5"))
    assert row.part_d == CellValue(status="Not enough data available")
    assert row.overall == CellValue(status="Plan too new to be measured")


def test_missing_contract_column_names_the_line_of_the_column_labels(tmp_path: Path) -> None:
    """Labels and measure IDs on one line (line 2): the error names that line, 1-based."""
    lines = STARS_2025.split("\r\n")
    merged = "CONTRACT_ID,Kind,Contract Name,Organization Marketing Name,Parent Organization," + lines[2][5:]
    broken = "\r\n".join([lines[0], merged, *lines[3:]])
    with pytest.raises(CmsTableError, match="missing required column") as error:
        parse_file(write(tmp_path, "stars.csv", broken))
    assert (error.value.row, error.value.column) == (2, "org_type")

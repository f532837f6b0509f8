"""Year over year: a CMS contract's scores and stars per measure in every imported star year (the same
measure across its shifting IDs), and each measure's cut points by year with the 4-star threshold's
change. Selectors, API (by persona), admin pages, schema examples and constant query counts."""

from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from hedis_portal import roles
from ratings.api.benchmark import CONTRACT_HISTORY_EXAMPLE, CUT_POINT_HISTORY_EXAMPLE
from ratings.benchmark.history import cms_contract_history, cut_point_history
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR
from ratings.cms.tables import Threshold
from ratings.models import CmsContract, CutPoint, Measure
from tests.conftest import query_count
from tests.console.test_star_ratings_overview import text
from tests.factories import UserFactory
from tests.ratings.conftest import SMALL_2026, write_set

pytestmark = pytest.mark.django_db
ADMIN = "/admin/ratings"


# Star year 2025 as CMS lays it out (cp1252, en dashes, trailing spaces), with 2025's own IDs for
# three of its measures: BCS and COL keep C01 and C02 in 2026, Plan All-Cause Readmissions moves
# from C15 to C18. 2026 is `SMALL_2026` (tests/ratings/conftest.py).
_HEADER_2025 = (
    "CONTRACT_ID,Organization Type,Contract Name,Organization Marketing Name,Parent Organization,"
    "HD1: Staying Healthy,,HD2: Managing Chronic (Long Term) Conditions,,\n"
    ",,,,,C01: Breast Cancer Screening,C02: Colorectal Cancer Screening,C15: Plan All-Cause Readmissions,,\n"
    ",,,,,01/01/2023 – 12/31/2023,01/01/2023 – 12/31/2023,01/01/2023 – 12/31/2023,,\n"
)
STARS_2025 = (
    "2025 Star View: Medicare Report Card Master Table,,,,,,,,,\n"
    + _HEADER_2025
    + "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,Plan too small to be measured ,4 ,2 ,,\n"
    + "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,3 ,5 ,Plan too new to be measured ,,\n"
)
DATA_2025 = (
    "2025 Data View: Medicare Report Card Master Table,,,,,,,,,\n"
    + _HEADER_2025
    + "H0001 ,Local CCP ,ALPHA ,Alpha ,Alpha Inc. ,Plan too small to be measured ,71% ,12% ,,\n"
    + "H0002 ,Local CCP ,BETA ,Beta ,Beta Inc. ,74% ,80% ,Plan too new to be measured ,,\n"
)
CUT_POINTS_2025 = (
    "2025 Part C Performance Metrics Threshold for Star Assignments,,,,,\n"
    "Number of Stars Displayed on the Plan Finder Tool,HD1: Staying Healthy,,HD2: Managing,,\n"
    ",C01: Breast Cancer Screening,C02: Colorectal Cancer Screening,C15: Plan All-Cause Readmissions,,\n"
    ",01/01/2023 – 12/31/2023,01/01/2023 – 12/31/2023,01/01/2023 – 12/31/2023,,\n"
    "1star ,< 50 % ,< 60 % ,> 14 % ,,\n"
    "2star ,>= 50 % to < 60 % ,>= 60 % to < 70 % ,> 12 % to <= 14 % ,,\n"
    "3star ,>= 60 % to < 70 % ,>= 70 % to < 80 % ,> 10 % to <= 12 % ,,\n"
    "4star ,>= 70 % to < 80 % ,>= 80 % to < 90 % ,> 8 % to <= 10 % ,,\n"
    "5star ,>= 80 % ,>= 90 % ,<= 8 % ,,\n"
)
SMALL_2025 = {"stars.csv": STARS_2025, "data.csv": DATA_2025, "cuts.csv": CUT_POINTS_2025}


def import_small(tmp_path, *star_years: int) -> None:
    """The small CMS sets (two contracts, three measures) of `star_years`."""
    sets = {2025: SMALL_2025, 2026: SMALL_2026}
    for star_year in star_years:
        paths = write_set(tmp_path / str(star_year), sets[star_year], encoding="cp1252")
        cms_star_data_import(star_year=star_year, paths=paths, source="tests")


@pytest.fixture
def two_years(tmp_path):
    import_small(tmp_path, 2025, 2026)


@pytest.fixture
def shipped():
    """The 2025 and 2026 tables shipped in ratings/cms/data, as CMS publishes them."""
    for star_year in (2025, 2026):
        paths = sorted((DATA_DIR / str(star_year)).glob("*.csv"))
        cms_star_data_import(star_year=star_year, paths=paths, source="tests")


def years(measure_history) -> dict[int, tuple]:
    """Each year's (ID, score, score status, star, star status) of one measure."""
    return {
        year: (value.cms_id, value.score, value.score_status, value.star, value.star_status)
        for year, value in measure_history.years.items()
    }


def by_code(contract_history) -> dict:
    return {measure.measure.code: measure for measure in contract_history.measures}


# --- selectors --------------------------------------------------------------------------------------


def test_a_measure_is_followed_across_its_ids_and_statuses_stay_words(two_years):
    history = cms_contract_history("h0002")
    assert history.contract_id == "H0002"
    assert history.star_years == [2025, 2026]
    measures = by_code(history)
    assert years(measures["COL"]) == {
        2025: ("C02", Decimal(80), "", 5, ""),
        2026: ("C02", Decimal(75), "", 4, ""),
    }
    # 2025's C15 is 2026's C18: Plan All-Cause Readmissions.
    assert years(measures["PCR"]) == {
        2025: ("C15", None, "Plan too new to be measured", None, "Plan too new to be measured"),
        2026: ("C18", None, "No data available", None, "No data available"),
    }
    assert years(measures["BCS"]) == {
        2025: ("C01", Decimal(74), "", 3, ""),
        2026: ("C01", None, "Plan too small to be measured", None, "Plan too small to be measured"),
    }
    assert measures["COL"].star_change(2026, 2025) == -1
    assert measures["PCR"].star_change(2026, 2025) is None
    assert [(m.measure.code, m.latest.cms_id) for m in history.measures] == [
        ("BCS", "C01"),
        ("COL", "C02"),
        ("PCR", "C18"),
    ]


def test_ratings_per_year_keep_cms_statuses(two_years):
    history = cms_contract_history("H0002")
    # The small 2025 set has no summary table: the contract is there with no ratings.
    assert [
        (r.star_year, r.part_c_summary, r.part_c_summary_status, r.overall, r.overall_status)
        for r in history.ratings
    ] == [
        (2025, None, "", None, ""),
        (2026, None, "Not enough data available", None, "Not Applicable"),
    ]


def test_a_contract_no_imported_year_has_is_none(two_years):
    assert cms_contract_history("H9999") is None


def test_cut_points_by_year_with_the_four_star_change_on_the_shipped_tables(shipped):
    found = {
        (h.measure.part, h.measure.code): h
        for h in cut_point_history(Measure.objects.filter(code__in=["BCS", "PCR", "CBP", "ADH-DIAB"]))
    }
    assert sorted(found) == [("C", "BCS"), ("C", "CBP"), ("C", "PCR"), ("D", "ADH-DIAB")]

    def four_stars(part, code, org_type=""):
        return [
            (y.star_year, y.cms_id, y.four_star, y.four_star_change, y.harder)
            for y in found[(part, code)].by_org_type[org_type]
        ]

    assert four_stars("C", "BCS") == [
        (2025, "C01", Threshold(Decimal(75), True), None, None),
        (2026, "C01", Threshold(Decimal(76), True), Decimal(1), True),
    ]
    # Lower is better: the threshold falling from 10% to 9% makes 4 stars harder.
    assert four_stars("C", "PCR") == [
        (2025, "C15", Threshold(Decimal(10), True), None, None),
        (2026, "C18", Threshold(Decimal(9), True), Decimal(-1), True),
    ]
    assert four_stars("C", "CBP") == [
        (2025, "C11", Threshold(Decimal(80), True), None, None),
        (2026, "C14", Threshold(Decimal(80), True), Decimal(0), None),
    ]
    assert four_stars("D", "ADH-DIAB", "MA-PD") == [
        (2025, "D08", Threshold(Decimal(87), True), None, None),
        (2026, "D08", Threshold(Decimal(89), True), Decimal(2), True),
    ]
    assert four_stars("D", "ADH-DIAB", "PDP")[-1][2:] == (Threshold(Decimal(89), True), Decimal(0), None)
    pcr_2026 = found[("C", "PCR")].by_org_type[""][-1]
    assert {level: t.value for level, t in pcr_2026.thresholds.items()} == {
        2: Decimal(12),
        3: Decimal(10),
        4: Decimal(9),
        5: Decimal(7),
    }


def test_a_contract_in_the_shipped_tables_across_both_years(shipped):
    history = cms_contract_history("H0028")
    measures = by_code(history)
    # Monitoring Physical Activity moved from C04 to C06 and gained a star.
    assert years(measures["PAO"]) == {
        2025: ("C04", Decimal(51), "", 3, ""),
        2026: ("C06", Decimal(54), "", 4, ""),
    }
    assert years(measures["CBP"])[2025][0] == "C11" and years(measures["CBP"])[2026][0] == "C14"
    assert sum(len(m.years) == 2 for m in history.measures) == 42
    assert sorted(m.measure.code for m in history.measures if len(m.years) == 1) == [
        "IMPROVING-OR-MAINTAINING-MENTAL-HEALTH",
        "IMPROVING-OR-MAINTAINING-PHYSICAL-HEALTH",
        "KED",
    ]
    assert [(r.star_year, r.part_c_summary, r.part_d_summary, r.overall) for r in history.ratings] == [
        (2025, Decimal("3.5"), Decimal("3.5"), Decimal("3.5")),
        (2026, Decimal("3.5"), Decimal("3.0"), Decimal("3.5")),
    ]


def test_selector_query_counts_do_not_grow_with_star_years(tmp_path):
    import_small(tmp_path, 2026)
    one_year = (query_count(lambda: cms_contract_history("H0001")), query_count(cut_point_history))
    import_small(tmp_path, 2025)
    # The imported years, the contract's rows, its values with their editions and measures; and
    # the cut points with their editions and measures.
    assert one_year == (3, 1)
    assert (query_count(lambda: cms_contract_history("H0001")), query_count(cut_point_history)) == (3, 1)


# --- API --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "history_status", "cut_points_status"),
    [
        ("care_manager", 403, 200),
        ("colleague", 403, 200),
        ("analyst", 200, 200),
        ("other_analyst", 200, 200),
        ("administrator", 200, 200),
        (None, 401, 401),
    ],
)
def test_who_may_read_the_histories(
    request, api, two_years, other_contract, persona, history_status, cut_points_status
):
    # The national tables are every contract's public figures: whoever may read /api/cms-contracts/
    # reads any contract's history, whichever of the plan's contracts they are assigned.
    if persona == "other_analyst":
        user = UserFactory(username="other-analyst", role=roles.QUALITY_ANALYST, contracts=[other_contract])
    else:
        user = request.getfixturevalue(persona) if persona else None
    client = api(user)
    col = Measure.objects.get(code="COL")
    assert client.get("/api/cms-contracts/H0001/history/").status_code == history_status
    assert client.get(f"/api/measures/{col.pk}/cut-point-history/").status_code == cut_points_status


def test_the_contract_history_answers_by_cms_contract_id(api, analyst, two_years):
    body = api(analyst).get("/api/cms-contracts/h0002/history/").json()
    assert body["contract_id"] == "H0002" and body["star_years"] == [2025, 2026]
    assert body["ratings"][1] == {
        "star_year": 2026,
        "organization_type": "Local CCP",
        "contract_name": "BETA",
        "marketing_name": "Beta",
        "part_c_summary": None,
        "part_c_summary_status": "Not enough data available",
        "part_d_summary": None,
        "part_d_summary_status": "Not Applicable",
        "overall": None,
        "overall_status": "Not Applicable",
    }
    pcr = next(m for m in body["measures"] if m["code"] == "PCR")
    assert [(year["star_year"], year["cms_id"], year["score_status"]) for year in pcr["years"]] == [
        (2025, "C15", "Plan too new to be measured"),
        (2026, "C18", "No data available"),
    ]
    col = next(m for m in body["measures"] if m["code"] == "COL")
    assert col == {
        "measure_id": Measure.objects.get(code="COL").pk,
        "code": "COL",
        "part": "C",
        "name": "Colorectal Cancer Screening",
        "direction": "higher",
        "percentage": True,
        "years": [
            {
                "star_year": 2025,
                "cms_id": "C02",
                "score": "80",
                "score_status": "",
                "star": 5,
                "star_status": "",
            },
            {
                "star_year": 2026,
                "cms_id": "C02",
                "score": "75",
                "score_status": "",
                "star": 4,
                "star_status": "",
            },
        ],
    }


def test_an_unknown_contract_or_measure_is_404(api, analyst, two_years):
    client = api(analyst)
    assert client.get("/api/cms-contracts/H9999/history/").status_code == 404
    assert client.get("/api/measures/999999/cut-point-history/").status_code == 404
    assert client.get(f"/api/measures/{2**63}/cut-point-history/").status_code == 404


def test_a_measures_cut_point_history(api, analyst, tmp_path):
    import_small(tmp_path, 2025, 2026)
    pcr = Measure.objects.get(code="PCR")
    body = api(analyst).get(f"/api/measures/{pcr.pk}/cut-point-history/").json()
    assert (body["code"], body["direction"], body["percentage"]) == ("PCR", "lower", True)
    (series,) = body["org_types"]
    assert series["org_type"] == ""
    assert [
        (y["star_year"], y["cms_id"], y["four_star"], y["four_star_change"], y["four_star_harder"])
        for y in series["years"]
    ] == [(2025, "C15", "10", None, None), (2026, "C18", "9", "-1", True)]
    assert series["years"][0]["thresholds"] == [
        {"stars": 2, "value": "14", "inclusive": True},
        {"stars": 3, "value": "12", "inclusive": True},
        {"stars": 4, "value": "10", "inclusive": True},
        {"stars": 5, "value": "8", "inclusive": True},
    ]
    # A measure with no cut points imported (Part D here) has no organization types.
    untouched = Measure.objects.filter(part="D").first()
    assert api(analyst).get(f"/api/measures/{untouched.pk}/cut-point-history/").json()["org_types"] == []


def test_api_query_counts_do_not_grow_with_years(api, analyst, tmp_path):
    client = api(analyst)
    import_small(tmp_path, 2026)
    col = Measure.objects.get(code="COL")
    urls = ["/api/cms-contracts/H0001/history/", f"/api/measures/{col.pk}/cut-point-history/"]
    one_year = [query_count(lambda url=url: client.get(url)) for url in urls]
    import_small(tmp_path, 2025)
    assert [query_count(lambda url=url: client.get(url)) for url in urls] == one_year


@pytest.fixture(scope="module")
def schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(document)
    return document


def test_the_schema_shows_real_examples_as_objects(schema):
    for path, example in [
        ("/api/cms-contracts/{contract_id}/history/", CONTRACT_HISTORY_EXAMPLE),
        ("/api/measures/{id}/cut-point-history/", CUT_POINT_HISTORY_EXAMPLE),
    ]:
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        (shown,) = [e["value"] for e in content["examples"].values()]
        assert shown == example and isinstance(shown, dict)
    years = schema["components"]["schemas"]["MeasureHistory"]["properties"]["years"]
    assert years["items"] == {"$ref": "#/components/schemas/MeasureYear"}


def test_the_examples_are_what_the_api_answers_on_the_shipped_tables(api, analyst, shipped):
    client = api(analyst)
    contract = client.get("/api/cms-contracts/H0028/history/").json()
    shown = {m["code"] for m in CONTRACT_HISTORY_EXAMPLE["measures"]}
    trimmed = {**contract, "measures": [m for m in contract["measures"] if m["code"] in shown]}
    example = CONTRACT_HISTORY_EXAMPLE
    real_ids = {m["code"]: m["measure_id"] for m in trimmed["measures"]}
    assert {**trimmed, "measures": [{**m, "measure_id": 0} for m in trimmed["measures"]]} == {
        **example,
        "measures": [{**m, "measure_id": 0} for m in example["measures"]],
    }
    assert set(real_ids) == shown
    adh = Measure.objects.get(code="ADH-DIAB")
    cut_points = client.get(f"/api/measures/{adh.pk}/cut-point-history/").json()
    assert {**cut_points, "measure_id": 0} == {**CUT_POINT_HISTORY_EXAMPLE, "measure_id": 0}


# --- admin ------------------------------------------------------------------------------------------


def test_the_cms_contract_page_reads_year_over_year(client, analyst, two_years):
    client.force_login(analyst)
    h0002 = CmsContract.objects.get(star_year=2026, contract_id="H0002")
    page = text(client.get(f"{ADMIN}/cmscontract/{h0002.pk}/change/"))
    assert "Year over year: H0002's published ratings" in page
    assert "Part C summary — Not enough data available" in page
    assert "Measure 2025 2026 Stars 2025 → 2026" in page
    assert "COL · Colorectal Cancer Screening C02: 80% · 5 ★ C02: 75% · 4 ★ −1 ★" in page
    assert (
        "PCR · Plan All-Cause Readmissions C15: Plan too new to be measured C18: No data available —" in page
    )
    assert "BCS · Breast Cancer Screening C01: 74% · 3 ★ C01: Plan too small to be measured —" in page


def test_the_cms_contract_pages_query_count_does_not_grow_with_years(client, analyst, tmp_path):
    client.force_login(analyst)
    import_small(tmp_path, 2026)
    h0001 = CmsContract.objects.get(star_year=2026, contract_id="H0001")
    url = f"{ADMIN}/cmscontract/{h0001.pk}/change/"
    one_year = query_count(lambda: client.get(url))
    import_small(tmp_path, 2025)
    assert query_count(lambda: client.get(url)) == one_year


def test_the_measure_and_cut_point_pages_show_the_cut_point_trend(client, analyst, shipped):
    client.force_login(analyst)
    pcr = Measure.objects.get(code="PCR")
    expected = (
        "Star year Measure ID Contracts 2 ★ 3 ★ 4 ★ 5 ★ 4 ★ change "
        "2025 C15 All contracts ≤ 14% ≤ 12% ≤ 10% ≤ 8% — "
        "2026 C18 All contracts ≤ 12% ≤ 10% ≤ 9% ≤ 7% −1 pts, harder"
    )
    assert expected in text(client.get(f"{ADMIN}/measure/{pcr.pk}/change/"))
    cut = CutPoint.objects.get(edition__star_year=2026, edition__measure__code="ADH-DIAB", org_type="PDP")
    page = text(client.get(f"{ADMIN}/cutpoint/{cut.pk}/change/"))
    assert "2026 D08 MA-PD ≥ 83% ≥ 86% ≥ 89% ≥ 92% +2 pts, harder" in page
    assert "2026 D08 PDP ≥ 85% ≥ 87% ≥ 89% ≥ 92% ±0 pts" in page
    # Complaints are a rate per 1,000 enrollees (not a percentage), written to two decimals.
    ctm = CutPoint.objects.get(edition__star_year=2026, edition__cms_id="C28")
    page = text(client.get(f"{ADMIN}/cutpoint/{ctm.pk}/change/"))
    assert (
        "2025 C25 All contracts ≤ 1.39 ≤ 0.76 ≤ 0.37 ≤ 0.12 — "
        "2026 C28 All contracts ≤ 1.34 ≤ 0.71 ≤ 0.32 ≤ 0.11 −0.05, harder"
    ) in page


def test_a_measure_without_cut_points_says_so(client, analyst):
    client.force_login(analyst)
    kidney = Measure.objects.get(code="KED")
    page = text(client.get(f"{ADMIN}/measure/{kidney.pk}/change/"))
    assert "Cut points by star year No cut points are imported for this measure." in page

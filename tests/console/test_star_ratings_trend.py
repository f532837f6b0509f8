"""The trend: a contract's projected stars and one measure's rate over its snapshots, with cut points."""

import datetime

import pytest
from django.core.management import call_command

from hedis_portal import roles
from members.models import Contract
from ratings.benchmark.importing import cms_star_data_import
from ratings.cms.methodology import DATA_DIR
from ratings.live.rating import contract_live_rating
from ratings.live.services import portfolio_snapshot_create
from ratings.models import PortfolioSnapshot
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixture)
from tests.conftest import query_count
from tests.console.test_star_ratings_overview import ma_only, text  # noqa: F401 (fixture)
from tests.factories import ContractFactory, UserFactory
from tests.ratings.conftest import cut_points_2026  # noqa: F401 (fixture)
from tests.ratings.test_live import add_gaps

pytestmark = pytest.mark.django_db


def snapshot(contract, measurement_year: int, taken_at: datetime.datetime) -> PortfolioSnapshot:
    """A snapshot of the contract's live rating as it is now, dated `taken_at`."""
    return PortfolioSnapshot.objects.create(
        contract=contract,
        measurement_year=measurement_year,
        star_year=measurement_year + 2,
        taken_at=taken_at,
        data=contract_live_rating(contract=contract, measurement_year=2026).as_dict(),
    )


@pytest.fixture
def history(ma_only):  # noqa: F811 (fixture)
    """Two snapshots: BCS at 80% in March, then 90% (after 10 more closures) now."""
    snapshot(ma_only, 2026, datetime.datetime(2026, 3, 31, tzinfo=datetime.UTC))
    add_gaps(ma_only, "BCS", closed=10)
    portfolio_snapshot_create(contract=ma_only, measurement_year=2026)
    return ma_only


def test_fewer_than_two_snapshots_says_so_and_how_one_is_taken(client, analyst, ma_only):  # noqa: F811
    client.force_login(analyst)
    portfolio_snapshot_create(contract=ma_only, measurement_year=2026)
    page = text(client.get("/admin/star-ratings/H2001/2026/trend/"))
    assert "Only one snapshot of H2001 yet: a trend needs at least two." in page
    assert "manage.py snapshot_portfolio --contract H2001 --measurement-year 2026" in page


def test_ratings_and_a_measure_over_snapshots_with_its_cut_points(client, analyst, history):
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/trend/?measure=bcs")
    ratings = response.context["ratings_chart"].config
    assert ratings["data"]["labels"][0] == "2026-03-31 (MY2026)"
    assert [(d["label"], d["data"]) for d in ratings["data"]["datasets"]][1] == ("Part C", [4.5, 4.5])
    measure = response.context["measure_chart"].config
    # BCS: 8 of 10 (80%), then 18 of 20 (90%).
    assert measure["data"]["datasets"][0]["data"] == [80.0, 90.0]
    assert [
        (line["label"], line["value"]) for line in measure["options"]["plugins"]["consoleLines"]["lines"]
    ] == [
        ("2 ★", 58.0),
        ("3 ★", 71.0),
        ("4 ★", 76.0),
        ("5 ★", 84.0),
    ]
    # A rate reads as a percentage, on an axis whose ends are multiples of 5 within 0-100.
    assert measure["options"]["scales"]["y"] | {"title": None} == {"min": 50, "max": 95, "title": None}
    assert measure["options"]["scales"]["y"]["title"]["text"] == "Rate (%)"
    page = text(response)
    assert "2026-03-31 (MY2026) 80.0% 4 ★" in page and "90.0% 5 ★" in page
    assert "80.0%, " in response.context["measure_chart"].summary
    assert (
        "Star year 2026 cut points (dashed lines): 2 ★ from 58.0%; 3 ★ from 71.0%; 4 ★ from 76.0%; "
        "5 ★ from 84.0%." in page
    )
    assert '<option value="COL">C02 · COL · Colorectal Cancer Screening</option>' in response.content.decode()


def test_an_unknown_measure_falls_back_to_the_first(client, analyst, history):
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/trend/?measure=NOPE")
    assert response.context["chosen"] == "BCS"


def test_another_contract_is_404_and_a_user_without_the_permission_403(
    client, analyst, history, other_contract
):
    client.force_login(analyst)
    assert client.get(f"/admin/star-ratings/{other_contract.contract_id}/2026/trend/").status_code == 404
    client.force_login(UserFactory(username="no-role", contracts=[history]))
    assert client.get("/admin/star-ratings/H2001/2026/trend/").status_code == 403


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_trend_draws_in_a_browser(watched, live_server):  # noqa: F811 (fixture)
    call_command("load_demo_data")
    contract = Contract.objects.get(contract_id="H9002")
    UserFactory(username="trend-analyst", role=roles.QUALITY_ANALYST, contracts=[contract])
    snapshot(contract, 2026, datetime.datetime(2026, 3, 31, tzinfo=datetime.UTC))
    portfolio_snapshot_create(contract=contract, measurement_year=2026)
    folder = DATA_DIR / "2025"
    cms_star_data_import(star_year=2025, paths=sorted(folder.glob("*Cut Points*.csv")), source="tests")
    overall = contract_live_rating(contract=contract, measurement_year=2026).as_dict()["overall"]["rating"]
    log_in(watched.page, live_server, "trend-analyst", "test-password")
    watched.page.goto(f"{live_server.url}/admin/star-ratings/H9002/2026/trend/?measure=CBP")
    watched.page.wait_for_function(
        "() => window.Chart && Chart.getChart(document.querySelector('#trend-measure canvas'))"
    )
    ratings = watched.chart_series("trend-ratings")
    assert [series["label"] for series in ratings] == ["Overall", "Part C", "Part D"]
    assert ratings[0]["data"][-1] == overall
    cbp = watched.chart_series("trend-measure")
    assert cbp[0]["label"] == "CBP" and len(cbp[0]["data"]) >= 2
    # The demo loads star year 2026; with 2025's cut points, CBP's move from C11 to C14 is drawn.
    assert [(series["label"], series["data"]) for series in watched.chart_series("trend-cut-points")] == [
        ("2 ★", [69, 67]),
        ("3 ★", [74, 75]),
        ("4 ★", [80, 80]),
        ("5 ★", [85, 86]),
    ]
    assert watched.page.locator("#trend-four-star-table tbody tr").count() >= 40
    assert watched.problems() == []


@pytest.fixture
def cut_points_2025(cut_points_2026):  # noqa: F811 (fixture)
    """The shipped 2025 cut point tables too (the 2026 ones are imported for the module)."""
    folder = DATA_DIR / "2025"
    cms_star_data_import(star_year=2025, paths=sorted(folder.glob("*Cut Points*.csv")), source="tests")


def test_the_chosen_measures_cut_points_by_star_year_beside_its_chart(
    client, analyst, history, cut_points_2025
):
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/trend/?measure=bcs")
    chart = response.context["cut_point_chart"]
    assert chart.title == "C01 · BCS · Breast Cancer Screening: cut points by star year"
    assert chart.config["data"]["labels"] == ["2025", "2026"]
    assert [(d["label"], d["data"], d["borderWidth"]) for d in chart.config["data"]["datasets"]] == [
        ("2 ★", [53.0, 58.0], 1.5),
        ("3 ★", [67.0, 71.0], 1.5),
        ("4 ★", [75.0, 76.0], 4),
        ("5 ★", [82.0, 84.0], 1.5),
    ]
    assert chart.summary == "4 ★ threshold: 2025 ≥ 75%, 2026 ≥ 76%."
    assert (
        "C01 · BCS · Breast Cancer Screening: CMS cut points by star year "
        "Star year ID 2 ★ 3 ★ 4 ★ 5 ★ 4 ★ change "
        "2025 C01 ≥ 53% ≥ 67% ≥ 75% ≥ 82% — 2026 C01 ≥ 58% ≥ 71% ≥ 76% ≥ 84% +1 pts, harder"
    ) in text(response)


def test_every_rated_measures_four_star_threshold_by_star_year(client, analyst, ma_only, cut_points_2025):  # noqa: F811
    client.force_login(analyst)
    response = client.get("/admin/star-ratings/H2001/2026/trend/")
    page = text(response)
    # Shown without snapshots: the cut points are CMS's, not the contract's.
    assert "No snapshots of H2001 yet" in page
    assert (
        "Measure 2025 2026 Latest change C01 · BCS · Breast Cancer Screening ≥ 75% ≥ 76% +1 pts, harder "
        in page
    )
    assert "C04 · Improving or Maintaining Physical Health — ≥ 72% —" in page
    # Colorectal Cancer Screening was C02 in both years; Controlling Blood Pressure moved from C11 to
    # C14; Plan All-Cause Readmissions is lower-is-better (C15 to C18); complaints are a rate per
    # 1,000 members, not a percentage.
    assert "C02 · COL · Colorectal Cancer Screening ≥ 75% ≥ 70% −5 pts, easier" in page
    assert "C14 · CBP · Controlling Blood Pressure ≥ 80% ≥ 80% ±0 pts" in page
    assert "C18 · PCR · Plan All-Cause Readmissions ≤ 10% ≤ 9% −1 pts, harder" in page
    assert "C28 · CTM · Complaints about the Health Plan ≤ 0.37 ≤ 0.32 −0.05, harder" in page
    # An MA-only contract has no Part D rating: no Part D thresholds.
    rows = response.context["four_star_rows"]
    assert {row["trend"]["part"] for row in rows} == {"C"}
    assert "Part D" not in page[page.find("The 4-star threshold by star year") :]


def test_a_pdp_reads_the_pdp_thresholds(client, cut_points_2025):
    contract = ContractFactory(contract_id="S2001", organization_type=Contract.OrganizationType.PDP)
    client.force_login(UserFactory(username="pdp-analyst", role=roles.QUALITY_ANALYST, contracts=[contract]))
    response = client.get("/admin/star-ratings/S2001/2026/trend/")
    page = text(response)
    assert "(Part D: the PDP thresholds)" in page
    assert {row["trend"]["part"] for row in response.context["four_star_rows"]} == {"D"}
    # Members Choosing to Leave the Plan: 9% for PDPs in 2025, 5% in 2026 (MA-PDs: 17% both years).
    assert "D03 · MCLP · Members Choosing to Leave the Plan ≤ 9% ≤ 5% −4 pts, harder" in page


def test_the_pages_query_count_does_not_grow_with_snapshots_or_star_years(client, analyst, history):
    client.force_login(analyst)
    url = "/admin/star-ratings/H2001/2026/trend/?measure=BCS"
    few = query_count(lambda: client.get(url))
    snapshot(history, 2026, datetime.datetime(2026, 6, 30, tzinfo=datetime.UTC))
    snapshot(history, 2026, datetime.datetime(2026, 9, 30, tzinfo=datetime.UTC))
    folder = DATA_DIR / "2025"
    cms_star_data_import(star_year=2025, paths=sorted(folder.glob("*Cut Points*.csv")), source="tests")
    assert len(client.get(url).context["cut_point_chart"].config["data"]["labels"]) == 2
    assert query_count(lambda: client.get(url)) == few

"""The trend: a contract's projected stars and one measure's rate over its snapshots, with cut points."""

import datetime

import pytest
from django.core.management import call_command

from hedis_portal import roles
from members.models import Contract
from ratings.live.rating import contract_live_rating
from ratings.live.services import portfolio_snapshot_create
from ratings.models import PortfolioSnapshot
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixture)
from tests.console.test_star_ratings_overview import ma_only, text  # noqa: F401 (fixture)
from tests.factories import UserFactory
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
    page = text(response)
    assert "2026-03-31 (MY2026) 80.0 4 ★" in page and "90.0 5 ★" in page
    assert (
        "Star year 2026 cut points (dashed lines): 2 ★ from 58.0; 3 ★ from 71.0; 4 ★ from 76.0; "
        "5 ★ from 84.0." in page
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
    assert watched.problems() == []

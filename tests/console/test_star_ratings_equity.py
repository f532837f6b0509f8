"""The console's equity page: rates by LIS/DE and disability, the gaps, small groups flagged, the HEI."""

import pytest
from django.core.management import call_command

from hedis_portal import roles
from members.models import Contract
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixtures)
from tests.conftest import query_count
from tests.factories import CareGapFactory, MemberFactory, UserFactory, measure

URL = "/admin/star-ratings/H1001/2026/equity/"


def add_gaps(contract, code: str, *, closed: int, open_: int, lis_de=False, disability=False) -> None:
    """Gaps on `code` for new members of one group: `closed` closed, `open_` open."""
    for n in range(closed + open_):
        member = MemberFactory(contract=contract, lis_de=lis_de, disability=disability)
        extra = {"compliance_status": "closed", "evidence_date": "2026-03-01", "evidence_source": "claims"}
        CareGapFactory(member=member, measure=measure(code), **(extra if n < closed else {}))


@pytest.fixture
def stratified(contract):
    """BCS: LIS/DE 20 of 40 against 30 of 40 (−25 pts); COL: 5 LIS/DE members (a small group)."""
    add_gaps(contract, "BCS", closed=20, open_=20, lis_de=True)
    add_gaps(contract, "BCS", closed=30, open_=10, disability=True)
    add_gaps(contract, "COL", closed=4, open_=1, lis_de=True)
    add_gaps(contract, "COL", closed=27, open_=13)
    return contract


@pytest.mark.django_db
def test_rates_by_group_widest_gap_first_with_the_gap_in_points(client, analyst, stratified):
    client.force_login(analyst)

    response = client.get(URL)

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(row["measure"], row["lis_de_gap"], row["disability_gap"]) for row in rows] == [
        ("BCS", -25.0, 25.0),
        ("COL", 12.5, None),
    ]
    bcs = rows[0]["factors"][0]
    assert [(g["label"], g["eligible"], g["rate"], g["small"]) for g in bcs["groups"]] == [
        ("LIS/DE", 40, 50.0, False),
        ("Not LIS/DE", 40, 75.0, False),
    ]
    html = response.content.decode()
    assert "−25.0 pts" in html and "+25.0 pts" in html and "50.0% <span" in html
    chart = response.context["chart"]
    assert chart.config["data"]["labels"] == ["BCS", "COL"]
    assert [(d["label"], d["data"]) for d in chart.config["data"]["datasets"]] == [
        ("LIS/DE", [50.0, 80.0]),
        ("Not LIS/DE", [75.0, 67.5]),
        ("Disability", [75.0, None]),
        ("No disability", [50.0, 68.8889]),
    ]
    assert chart.summary == (
        "BCS has the widest gap: 50.0% for LIS/DE members against 75.0% for members without LIS/DE "
        "(−25.0 pts)."
    )


@pytest.mark.django_db
def test_a_group_under_30_eligible_is_flagged_and_its_gap_marked_unreliable(client, analyst, stratified):
    client.force_login(analyst)

    response = client.get(URL)

    col = response.context["rows"][1]["factors"][0]
    assert ([g["small"] for g in col["groups"]], col["reliable"]) == ([True, False], False)
    nobody_disabled = response.context["rows"][1]["factors"][1]
    assert ([g["small"] for g in nobody_disabled["groups"]], nobody_disabled["gap"]) == ([False, False], None)
    html = response.content.decode()
    assert "fewer than 30 eligible members" in html
    assert "by more than 3.3 percentage points" in html
    assert html.count('<span class="equity-small">small</span></td>') == 1


@pytest.mark.django_db
def test_says_the_health_equity_index_does_not_apply_under_the_reward_factor(client, analyst, stratified):
    client.force_login(analyst)

    html = client.get(URL).content.decode()

    assert "The Health Equity Index does not apply: star year 2028 is rated with the reward factor" in html
    assert (
        "No methodology is shipped for star year 2028; the reward method is that of star year 2026." in html
    )
    assert "The Health Equity Index is not computed (it needs CMS&#x27;s national benchmarks" in html


@pytest.mark.django_db
def test_a_year_without_gaps_says_so_and_draws_no_chart(client, analyst):
    client.force_login(analyst)

    response = client.get(URL)

    assert response.context["chart"] is None
    assert b"No member-level gaps for measurement year 2026" in response.content


@pytest.mark.django_db
def test_another_contracts_equity_is_404_and_a_care_manager_sees_her_own(
    client, analyst, care_manager, other_contract, stratified
):
    client.force_login(analyst)
    assert client.get("/admin/star-ratings/H1002/2026/equity/").status_code == 404
    client.force_login(care_manager)
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
def test_queries_stay_constant_as_gaps_and_measures_grow(client, analyst, contract):
    add_gaps(contract, "BCS", closed=1, open_=1, lis_de=True)
    client.force_login(analyst)
    few = query_count(lambda: client.get(URL))
    add_gaps(contract, "COL", closed=20, open_=20, disability=True)
    add_gaps(contract, "EED", closed=20, open_=20, lis_de=True)
    assert query_count(lambda: client.get(URL)) == few


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_plans_equity_page_draws_its_chart_in_a_browser(watched, live_server):  # noqa: F811
    call_command("load_demo_data")
    UserFactory(username="equity-analyst", role=roles.QUALITY_ANALYST, contracts=list(Contract.objects.all()))
    log_in(watched.page, live_server, "equity-analyst", "test-password")

    watched.page.goto(f"{live_server.url}/admin/star-ratings/H9002/2026/equity/")
    watched.page.wait_for_function(
        "() => !!(window.Chart && Chart.getChart(document.querySelector('#equity-rates canvas')))"
    )

    series = watched.chart_series("equity-rates")
    assert [s["label"] for s in series] == ["LIS/DE", "Not LIS/DE", "Disability", "No disability"]
    rows = watched.page.locator(".equity-table tbody tr")
    assert rows.count() == len(series[0]["data"]) > 5
    first_gap = watched.page.locator(".equity-table tbody tr").first.locator("td").nth(4).inner_text()
    assert first_gap.endswith("pts")
    assert watched.problems() == []

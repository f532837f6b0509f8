"""The console's front page: the user's contracts and their measurement years, nobody else's."""

import re

import pytest

from hedis_portal import roles
from tests.browser import log_in
from tests.factories import CareGapFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_lists_each_of_the_users_contracts_with_its_years(client, analyst, contract, other_contract):
    member = MemberFactory(contract=contract)
    for year in (2025, 2026):
        CareGapFactory(member=member, measurement_year=year)
    CareGapFactory(member=MemberFactory(contract=other_contract), measurement_year=2024)
    client.force_login(analyst)

    response = client.get("/admin/star-ratings/")

    assert response.status_code == 200
    assert [
        (row["contract"].contract_id, [y["year"] for y in row["years"]])
        for row in response.context["contracts"]
    ] == [("H1001", [2026, 2025])]
    assert b'href="/admin/star-ratings/H1001/2026/"' in response.content
    assert b"H1002" not in response.content


def test_the_admin_front_page_opens_each_contract_year_in_one_click(
    client, analyst, contract, other_contract
):
    member = MemberFactory(contract=contract)
    for year in (2025, 2026):
        CareGapFactory(member=member, measurement_year=year)
    CareGapFactory(member=MemberFactory(contract=other_contract), measurement_year=2026)
    client.force_login(analyst)

    page = client.get("/admin/").content.decode()

    module = page[page.index('id="content-main-star-ratings"') : page.index("</table>")]
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', module) == [
        ("/admin/star-ratings/H1001/2026/", "H1001 · measurement year 2026"),
        ("/admin/star-ratings/H1001/2025/", "H1001 · measurement year 2025"),
        ("/admin/star-ratings/", "Ratings, forecasts and plans of all your contracts"),
    ]


def test_the_front_page_has_no_console_for_a_role_without_ratings(client, contract):
    nobody = UserFactory(username="nobody", role=None, contracts=[contract], is_staff=True)
    client.force_login(nobody)
    assert "content-main-star-ratings" not in client.get("/admin/").content.decode()


def test_another_contracts_pages_are_404(client, analyst, other_contract):
    client.force_login(analyst)
    assert client.get("/admin/star-ratings/H1002/2026/").status_code == 404


def test_a_role_without_the_rating_permission_is_refused(client, contract):
    nobody = UserFactory(username="nobody", role=None, contracts=[contract], is_staff=True)
    client.force_login(nobody)
    assert client.get("/admin/star-ratings/").status_code == 403


def test_signed_out_visitors_go_to_the_admin_login(client):
    response = client.get("/admin/star-ratings/")
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/admin/star-ratings/")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_front_page_in_a_browser_links_each_year(watched, live_server, contract):
    CareGapFactory(member=MemberFactory(contract=contract), measurement_year=2026)
    UserFactory(username="analyst", role=roles.QUALITY_ANALYST, contracts=[contract])
    log_in(watched.page, live_server, "analyst", "test-password")

    watched.page.goto(f"{live_server.url}/admin/star-ratings/")
    watched.page.click("text=2026")

    assert watched.page.url == f"{live_server.url}/admin/star-ratings/H1001/2026/"
    assert watched.problems() == []


def test_a_page_beyond_the_role_says_so_in_the_admins_frame(client, care_manager, contract):
    client.force_login(care_manager)

    response = client.get("/admin/star-ratings/H1001/2026/benchmark/")

    page = response.content.decode()
    assert response.status_code == 403
    assert "Not part of your role" in page and '<a href="/admin/">Back to the front page</a>' in page
    assert 'id="site-name"' in page  # the admin's header, not a bare "403 Forbidden"

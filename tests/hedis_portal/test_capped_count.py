"""Past the admin's count cap a list says how many rows match as "more than 10,000", never the cap
plus one it counted to (`CappedCountPaginator`): in the pager, beside the search box and in the
actions bar's "select all". And a scoped list never counts its sidebar's values (Django's facets)."""

import re

import pytest

from hedis_portal.admin import CappedCountPaginator
from tests.factories import CareGapFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cap_of_three(monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _gaps(contract, count):
    for _ in range(count):
        CareGapFactory(member=MemberFactory(contract=contract))


def _list(client, user, url):
    """The change list and the page's words, as `user` sees `url`."""
    client.force_login(user)
    response = client.get(url)
    return response.context["cl"], _text(response.content.decode())


def test_a_list_past_the_cap_says_more_than_the_cap(client, care_manager, contract, cap_of_three):
    _gaps(contract, 5)
    cl, text = _list(client, care_manager, "/admin/gaps/caregap/")
    assert (cl.result_count, cl.paginator.capped) == (4, True)
    assert "more than 3 care gaps" in text
    assert "more than 3 results" in text
    assert "Select all care gaps that match (more than 3)" in text
    assert "All that match selected (more than 3)" in text
    assert not re.search(r"\b4 (care gaps|results)\b", text)


def test_a_list_within_the_cap_gives_its_count(client, care_manager, contract, cap_of_three):
    _gaps(contract, 3)
    cl, text = _list(client, care_manager, "/admin/members/member/")
    assert (cl.result_count, cl.paginator.capped) == (3, False)
    assert "3 members" in text and "3 results" in text
    assert "more than" not in text


def test_only_the_member_lists_post_their_search(client, administrator):
    client.force_login(administrator)
    page = client.get("/admin/interventions/interventiontype/").content.decode()
    assert '<form id="changelist-search" method="get" role="search">' in page
    assert "_member_search" not in page and 'autocomplete="off"' not in page


def test_a_scoped_list_offers_no_sidebar_counts_and_computes_none(client, care_manager, contract):
    _gaps(contract, 2)
    cl, text = _list(client, care_manager, "/admin/gaps/caregap/?_facets=True")
    assert "Show counts" not in text and "Hide counts" not in text
    assert not cl.add_facets

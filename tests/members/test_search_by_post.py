"""The admin's member search box posts its term: a plan member ID never stands in an address.

The list answers a posted search with a redirect to itself carrying the member's pseudonym, or the
pseudonym start typed, or no search and a warning; its filters are kept. A `?q=` in the address
still searches (bookmarks, links)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages

from members.search import NOT_FOUND
from tests.factories import CareGapFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db
LISTS = ["/admin/members/member/", "/admin/gaps/caregap/"]


@pytest.fixture
def wanted(contract):
    member = MemberFactory(contract=contract, raw_member_id="MBI-1EG4TE5MK73")
    CareGapFactory(member=member)
    return member


@pytest.fixture
def elsewhere(other_contract):
    member = MemberFactory(contract=other_contract, raw_member_id="MBI-9XX9XX9XX99")
    CareGapFactory(member=member)
    return member


def _search(client, url, term, **kept):
    return client.post(url, {"_member_search": "1", "q": term, **kept})


def _query(response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.url).query, keep_blank_values=True)


@pytest.mark.parametrize("url", LISTS)
def test_the_search_box_posts_and_carries_no_member_id(client, care_manager, wanted, url):
    client.force_login(care_manager)
    page = client.get(url).content.decode()
    assert '<form id="changelist-search" method="post" role="search">' in page
    assert 'name="csrfmiddlewaretoken"' in page and 'autocomplete="off"' in page


@pytest.mark.parametrize("url", LISTS)
def test_a_member_id_becomes_the_members_pseudonym(client, care_manager, wanted, url):
    client.force_login(care_manager)
    response = _search(client, url, " mbi-1eg4te5mk73 ")
    assert response.status_code == 302
    assert "1EG4TE5MK73" not in response.url.upper()
    assert _query(response) == {"q": [wanted.pseudonym]}
    assert len(client.get(response.url).context["cl"].result_list) == 1


@pytest.mark.parametrize("url", LISTS)
def test_another_contracts_member_id_is_not_repeated_and_finds_nothing(client, care_manager, elsewhere, url):
    client.force_login(care_manager)
    response = _search(client, url, "MBI-9XX9XX9XX99", contract="H1001")
    assert response.status_code == 302
    assert "9XX9XX9XX99" not in response.url.upper()
    assert _query(response) == {"contract": ["H1001"]}
    followed = client.get(response.url)
    assert [str(message) for message in get_messages(followed.wsgi_request)] == [NOT_FOUND]


def test_a_pseudonym_start_is_carried_as_typed_normalised(client, care_manager, wanted):
    client.force_login(care_manager)
    start = wanted.pseudonym[:6].lower().replace("-", " ")
    response = _search(client, "/admin/members/member/", start)
    assert _query(response) == {"q": [wanted.pseudonym[:6]]}


def test_the_lists_filters_and_order_are_kept(client, care_manager, wanted):
    client.force_login(care_manager)
    response = _search(client, "/admin/gaps/caregap/", "MBI-1EG4TE5MK73", compliance_status="open", o="3")
    assert _query(response) == {"compliance_status": ["open"], "o": ["3"], "q": [wanted.pseudonym]}


def test_an_empty_search_shows_the_list(client, care_manager, wanted):
    client.force_login(care_manager)
    response = _search(client, "/admin/members/member/", "  ")
    assert response.url == "/admin/members/member/"


def test_a_search_in_the_address_still_works(client, care_manager, wanted):
    client.force_login(care_manager)
    response = client.get("/admin/members/member/", {"q": "MBI-1EG4TE5MK73"})
    assert list(response.context["cl"].result_list) == [wanted]


def test_an_analyst_searches_the_same_way(client, analyst, wanted):
    client.force_login(analyst)
    response = _search(client, "/admin/gaps/caregap/", "MBI-1EG4TE5MK73")
    assert _query(response) == {"q": [wanted.pseudonym]}


@pytest.mark.parametrize("url", LISTS)
def test_a_user_who_may_not_see_the_list_cannot_search_it(client, contract, wanted, url):
    """Staff assigned to the contract but in no role: the search names no pseudonym."""
    client.force_login(UserFactory(username="no-role", contracts=[contract]))
    client.raise_request_exception = False
    response = _search(client, url, "MBI-1EG4TE5MK73")
    assert response.status_code == 403
    assert wanted.pseudonym not in response.content.decode()

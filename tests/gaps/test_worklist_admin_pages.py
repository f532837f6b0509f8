"""The admin's worklist pages: read contract by contract for a user of several contracts (the same
rows as the single query, page after page), by priority either way with ties by id the same way,
and sorted by another column only when the filters leave at most `CappedCountPaginator.CAP` gaps."""

import pytest
from django.contrib.admin.views.main import ORDER_VAR
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gaps.models import CareGap
from hedis_portal.admin import CappedCountPaginator
from tests.factories import CareGapFactory, MemberFactory, measure

pytestmark = pytest.mark.django_db
URL = "/admin/gaps/caregap/"
# The list's columns by their `o` number (0 is the selection box).
MEMBER, MEASURE, YEAR, PRIORITY = 1, 2, 3, 7


@pytest.fixture
def gaps(contract, other_contract):
    """60 gaps over two contracts, with repeated priorities and years (ties the pages must keep)."""
    return [
        CareGapFactory(
            member=MemberFactory(contract=owner),
            measure=measure("BCS" if number % 3 else "COL"),
            measurement_year=2025 + number % 2,
            priority_score=number % 4,
        )
        for number in range(30)
        for owner in (contract, other_contract)
    ]


def _pages(client, **params) -> tuple[list[int], list[int]]:
    """The ids of the list's two pages, and of its whole queryset read as one query."""
    shown = []
    for page in (1, 2):
        response = client.get(URL, {**params, "p": page})
        shown += [gap.pk for gap in response.context["cl"].result_list]
    return shown, list(response.context["cl"].queryset.values_list("pk", flat=True))


@pytest.mark.parametrize("sort", [None, PRIORITY, -PRIORITY, MEMBER, -MEASURE, YEAR, f"{YEAR}.-{MEMBER}"])
def test_pages_over_two_contracts_equal_the_single_query(client, administrator, gaps, sort):
    client.force_login(administrator)
    shown, whole = _pages(client, **({} if sort is None else {"o": str(sort)}))
    assert len(shown) == len(gaps) == 60
    assert shown == whole


def test_a_page_over_two_contracts_is_one_statement_per_contract_on_postgresql(client, administrator, gaps):
    client.force_login(administrator)
    with CaptureQueriesContext(connection) as queries:
        client.get(URL)
    pages = [q["sql"] for q in queries.captured_queries if '"gaps_caregap"."version"' in q["sql"]]
    assert len(pages) == 1
    assert ("UNION ALL" in pages[0]) is (connection.vendor == "postgresql")


@pytest.mark.parametrize(
    ("sort", "ordering"),
    [
        (None, ["-priority_score", "-id"]),
        (PRIORITY, ["-priority_score", "-id"]),
        (-PRIORITY, ["priority_score", "id"]),
    ],
)
def test_by_priority_ties_go_by_id_the_same_way(client, care_manager, gaps, sort, ordering):
    client.force_login(care_manager)
    response = client.get(URL, {} if sort is None else {"o": str(sort)})
    assert list(response.context["cl"].queryset.query.order_by) == ordering


def test_another_sort_of_a_list_within_the_cap_is_kept(client, care_manager, gaps, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 30)
    client.force_login(care_manager)
    response = client.get(URL, {"o": str(MEMBER)})
    cl = response.context["cl"]
    pseudonyms = [gap.member.pseudonym for gap in cl.result_list]
    assert pseudonyms == sorted(pseudonyms) and len(pseudonyms) == 30
    assert list(cl.get_ordering_field_columns()) == [MEMBER]
    assert list(get_messages(response.wsgi_request)) == []


REFUSED = (
    "Sorted by priority: sorting by another column takes a list of at most 29 gaps. "
    "Filter or search the list first."
)


def test_another_sort_of_a_list_past_the_cap_is_by_priority_with_a_warning(
    client, care_manager, contract, gaps, monkeypatch
):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 29)
    client.force_login(care_manager)
    response = client.get(URL, {"o": str(MEMBER)})
    cl = response.context["cl"]
    by_priority = CareGap.objects.filter(contract=contract).order_by("-priority_score", "-id")
    assert [gap.pk for gap in cl.result_list] == list(by_priority.values_list("pk", flat=True))
    # The page's links (headers, filters, pager) and its search form carry no sort.
    assert ORDER_VAR not in cl.params and ORDER_VAR not in cl.filter_params
    assert "o=" not in cl.get_query_string({"p": 2})
    assert cl.get_ordering_field_columns() == {}
    assert [str(m) for m in get_messages(response.wsgi_request)] == [REFUSED]
    filtered = client.get(URL, {"o": str(MEMBER), "measure": "COL"})
    assert list(filtered.context["cl"].get_ordering_field_columns()) == [MEMBER]


def test_a_search_that_narrows_the_list_keeps_its_sort(client, care_manager, contract, gaps, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 29)
    client.force_login(care_manager)
    wanted = gaps[0].member
    for code in ("COL", "CBP"):
        CareGapFactory(member=wanted, measure=measure(code), measurement_year=2024)
    response = client.get(URL, {"o": f"-{MEASURE}", "q": wanted.pseudonym})
    codes = [gap.measure.code for gap in response.context["cl"].result_list]
    assert codes == sorted(codes, reverse=True) and len(codes) == 3
    assert list(get_messages(response.wsgi_request)) == []


def test_an_action_on_a_refused_sort_warns_once(client, care_manager, contract, gaps, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 29)
    client.force_login(care_manager)
    mine = gaps[0]
    response = client.post(
        f"{URL}?o={MEMBER}", {"action": "assign_to_me", "_selected_action": [mine.pk]}, follow=True
    )
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown.count(REFUSED) == 1
    mine.refresh_from_db()
    assert mine.assignee == care_manager

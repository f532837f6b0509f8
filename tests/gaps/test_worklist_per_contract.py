"""A worklist over several contracts is read contract by contract and merged (`PerContractRows`).

The pages must be exactly those of the single query, in every ordering the API offers, page
after page through the cursors; scoped to the user's contracts; one statement per page.
"""

from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gaps.models import CareGap, WorkflowState
from tests.conftest import query_count
from tests.factories import CareGapFactory, ContractFactory, MemberFactory, UserFactory, measure

pytestmark = pytest.mark.django_db

# Every ordering the API offers; one that does not name the id gets it last, in its direction
# (`hedis_portal.filters.OrderingFilter`): with ties left to the database, DRF's cursor pages are not stable.
ORDERINGS = [
    "",
    "-priority_score,-id",
    "priority_score,id",
    "-updated_at,-id",
    "updated_at,id",
    "-id",
    "id",
    "-priority_score",
    "priority_score",
    "-updated_at",
    "updated_at",
    "-priority_score,id",
]


@pytest.fixture
def third_contract(db):
    """A contract neither user below is assigned to."""
    return ContractFactory(contract_id="H1003")


@pytest.fixture
def gaps(contract, other_contract, third_contract):
    """Gaps in three contracts, with repeated priorities (ties the cursor must walk through)."""
    created = []
    for number in range(23):
        for owner in (contract, other_contract, third_contract):
            created.append(
                CareGapFactory(
                    member=MemberFactory(contract=owner),
                    measure=measure("BCS" if number % 3 else "COL"),
                    priority_score=number % 4,
                    workflow_state=WorkflowState.NEW if number % 2 else WorkflowState.ASSIGNED,
                )
            )
    return created


def _pages(client, path: str) -> list[list[int]]:
    pages = []
    while path:
        body = client.get(path).json()
        pages.append([row["id"] for row in body["results"]])
        path = body["next"] and "{0.path}?{0.query}".format(urlsplit(body["next"]))
    return pages


def _expected(user_contracts, ordering: str, **filters) -> list[int]:
    terms = ordering.split(",") if ordering else ["-priority_score", "-id"]
    if not any(term.removeprefix("-") == "id" for term in terms):
        terms.append("-id" if terms[-1].startswith("-") else "id")
    gaps = CareGap.objects.filter(contract__in=user_contracts, **filters).order_by(*terms)
    return list(gaps.values_list("id", flat=True))


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_pages_over_two_contracts_equal_the_single_query(
    api, administrator, gaps, ordering, contract, other_contract
):
    query = f"?page_size=7&ordering={ordering}" if ordering else "?page_size=7"
    pages = _pages(api(administrator), f"/api/gaps/{query}")
    ids = [gap for page in pages for gap in page]
    assert ids == _expected(administrator.contracts.all(), ordering)
    assert all(len(page) == 7 for page in pages[:-1])


@pytest.mark.parametrize(
    "ordering", ["-priority_score", "priority_score", "-updated_at", "updated_at", "-id", "id"]
)
def test_one_contracts_pages_walk_ties_in_id_order(api, care_manager, gaps, ordering, contract):
    pages = _pages(api(care_manager), f"/api/gaps/?page_size=5&ordering={ordering}")
    assert [gap for page in pages for gap in page] == _expected([contract], ordering)


@pytest.mark.parametrize(("ordering", "bound"), [("-id", '"id" <= (SELECT'), ("id", '"id" >= (SELECT')])
def test_by_id_each_contract_is_read_from_its_own_end(
    api, care_manager, administrator, gaps, ordering, bound
):
    """A bound on the id from the contract's own first or last gap, in one contract's page (one
    contract's user, or a `contract` filter) and in each branch of several; other orderings have
    none (`gaps.selectors.from_the_contracts_end`)."""
    branches = 2 if connection.vendor == "postgresql" else 0
    cases = ((care_manager, "", 1), (administrator, "", branches), (administrator, "contract=H1002&", 1))
    for user, contract_filter, bounds in cases:
        for query, expected in (
            (f"{contract_filter}ordering={ordering}", bounds),
            (f"{contract_filter}ordering=-updated_at", 0),
        ):
            with CaptureQueriesContext(connection) as queries:
                api(user).get(f"/api/gaps/?{query}")
            page = next(q["sql"] for q in queries.captured_queries if 'FROM "gaps_caregap"' in q["sql"])
            assert page.count(bound) == expected, (user, query)


def test_filters_apply_to_every_contract_and_scoping_holds(
    api, administrator, gaps, contract, other_contract
):
    pages = _pages(api(administrator), "/api/gaps/?page_size=4&measure=BCS&workflow_state=new")
    ids = [gap for page in pages for gap in page]
    assert ids == _expected(administrator.contracts.all(), "", measure__code="BCS", workflow_state="new")
    assert not CareGap.objects.filter(pk__in=ids, contract__contract_id="H1003").exists()


def test_a_page_over_two_contracts_costs_the_queries_of_one(api, care_manager, administrator, gaps):
    alone, client = api(care_manager), api(administrator)
    one = query_count(lambda: alone.get("/api/gaps/?page_size=5"))
    assert query_count(lambda: client.get("/api/gaps/?page_size=5")) == one
    assert query_count(lambda: client.get("/api/gaps/?page_size=50&ordering=-updated_at")) == one


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes no LIMIT inside a UNION")
def test_on_postgresql_each_contract_is_its_own_ordered_branch(
    api, administrator, gaps, contract, other_contract
):
    with CaptureQueriesContext(connection) as queries:
        api(administrator).get("/api/gaps/?ordering=-priority_score")
    page = next(q["sql"] for q in queries.captured_queries if 'FROM "gaps_caregap"' in q["sql"])
    assert page.count("UNION ALL") == 1
    assert page.count("LIMIT 51") == 3  # both branches and the merged page


@pytest.mark.parametrize("ordering", ["-id", "id"])
@pytest.mark.parametrize("code", ["H1002", "h1001", "H1003", "H9999"])
def test_a_contract_filters_pages_by_id_are_that_contracts_gaps_alone(
    api, administrator, gaps, ordering, code
):
    """Read from the contract's own end: every gap of a contract of the user's, none of another's
    (H1003 is not the administrator's), none of a contract that does not exist."""
    pages = _pages(api(administrator), f"/api/gaps/?page_size=6&contract={code}&ordering={ordering}")
    expected = _expected(administrator.contracts.filter(contract_id=code.upper()), ordering)
    assert [gap for page in pages for gap in page] == expected
    assert len(expected) == (23 if code.upper() in ("H1001", "H1002") else 0)


def test_an_empty_contract_filter_lists_every_contract(api, administrator, gaps):
    pages = _pages(api(administrator), "/api/gaps/?page_size=10&contract=&ordering=-id")
    assert [gap for page in pages for gap in page] == _expected(administrator.contracts.all(), "-id")


def test_a_contract_filter_reads_one_query_without_branches(api, administrator, gaps):
    with CaptureQueriesContext(connection) as queries:
        api(administrator).get("/api/gaps/?contract=H1001")
    page = next(q["sql"] for q in queries.captured_queries if 'FROM "gaps_caregap"' in q["sql"])
    assert "UNION" not in page


def test_a_user_of_one_contract_and_a_superuser_read_one_query(api, care_manager, gaps, contract):
    superuser = UserFactory(username="root", is_superuser=True, contracts=[])
    for user in (care_manager, superuser):
        with CaptureQueriesContext(connection) as queries:
            api(user).get("/api/gaps/")
        page = next(q["sql"] for q in queries.captured_queries if 'FROM "gaps_caregap"' in q["sql"])
        assert "UNION" not in page

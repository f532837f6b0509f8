"""The replica router: analytics reads go to `replica`, writes and transactional reads to `default`.

The suite runs without DATABASE_REPLICA_URL, so these tests add the `replica` alias themselves,
as a TEST MIRROR of the test database: a second connection to the same database, which is what
a streaming replica looks like to Django. The tests run outside a test transaction
(`transaction=True`) because the router keeps reads on the primary inside a transaction, and a
second connection cannot see a transaction's uncommitted rows.
"""

import pytest
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext

from gaps.models import CareGap
from hedis_portal import roles
from hedis_portal.routers import REPLICA, AnalyticsReplicaRouter, analytics_reads
from members.models import Contract, Member
from ratings.models import CmsContract, CutPoint, PortfolioSnapshot
from tests.conftest import token_client
from tests.factories import CareGapFactory, ContractFactory, MemberFactory, UserFactory


@pytest.fixture(scope="module", autouse=True)
def replica_alias():
    """A `replica` alias mirroring the test database, for this module only (module scope, so it
    exists before pytest-django's per-test database checks run)."""
    added = REPLICA not in connections.settings
    if added:
        default = connections.settings["default"]
        connections.settings[REPLICA] = {**default, "TEST": {**default.get("TEST", {}), "MIRROR": "default"}}
    yield
    if added:
        connections[REPLICA].close()
        del connections.settings[REPLICA]
        delattr(connections._connections, REPLICA)


@pytest.fixture
def mirrored():
    """Point the mirror at the database the test is using (its name is set when the test DB is made)."""
    connections[REPLICA].settings_dict["NAME"] = connections["default"].settings_dict["NAME"]


def queries(alias: str):
    return CaptureQueriesContext(connections[alias])


def test_benchmark_and_snapshot_reads_are_routed_to_the_replica(mirrored):
    for model in (CmsContract, CutPoint, PortfolioSnapshot):
        assert router.db_for_read(model) == REPLICA


def test_worklist_and_member_reads_stay_on_the_primary(mirrored):
    for model in (CareGap, Member, Contract):
        assert AnalyticsReplicaRouter().db_for_read(model) is None
        assert router.db_for_read(model) == "default"


def test_an_explicit_analytics_block_routes_any_model(mirrored):
    with analytics_reads():
        assert CareGap.objects.all().db == REPLICA
    assert CareGap.objects.all().db == "default"


def test_writes_always_go_to_the_primary(mirrored):
    for model in (CmsContract, PortfolioSnapshot, CareGap):
        assert router.db_for_write(model) == "default"
    with analytics_reads():
        assert router.db_for_write(CareGap) == "default"


def test_migrations_run_on_the_primary_only():
    assert AnalyticsReplicaRouter().allow_migrate(REPLICA, "ratings") is False
    assert AnalyticsReplicaRouter().allow_migrate("default", "ratings") is None


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
def test_a_query_routed_to_the_replica_runs_on_the_replica_connection(mirrored):
    ContractFactory(contract_id="H7001")
    with queries("default") as on_primary, queries(REPLICA) as on_replica:
        assert list(CmsContract.objects.all()) == []
        with analytics_reads():
            assert [c.contract_id for c in Contract.objects.all()] == ["H7001"]
    assert len(on_replica.captured_queries) == 2
    assert on_primary.captured_queries == []


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
def test_reads_inside_a_write_transaction_stay_on_the_primary(mirrored):
    with transaction.atomic():
        contract = ContractFactory(contract_id="H7002")
        with analytics_reads(), queries(REPLICA) as on_replica:
            assert Contract.objects.get(pk=contract.pk) == contract
            assert CutPoint.objects.all().db == "default"
    assert on_replica.captured_queries == []


def test_without_a_replica_alias_nothing_is_routed(mirrored, monkeypatch):
    monkeypatch.delitem(connections.settings, REPLICA)
    with analytics_reads():
        assert router.db_for_read(CutPoint) == "default"
        assert CareGap.objects.all().db == "default"


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
@pytest.mark.parametrize("view", ["rating", "equity"])
def test_live_rating_and_equity_read_the_gaps_from_the_replica(mirrored, view):
    contract = ContractFactory(contract_id="H7003")
    CareGapFactory(member=MemberFactory(contract=contract))
    client = token_client(UserFactory(role=roles.QUALITY_ANALYST, contracts=[contract]))
    with queries("default") as on_primary, queries(REPLICA) as on_replica:
        response = client.get(f"/api/contracts/H7003/{view}/?measurement_year=2026")
    assert response.status_code == 200
    assert any("gaps_caregap" in query["sql"] for query in on_replica.captured_queries)
    assert not any("gaps_caregap" in query["sql"] for query in on_primary.captured_queries)

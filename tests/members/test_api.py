"""Contracts and members through the API: roles, scoping, lookup and query counts."""

import pytest
from auditlog.models import LogEntry
from django.db import connection

from hedis_portal.models import ApiRequestLog
from members.models import Contract, Member
from tests.conftest import query_count
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(contract):
    return MemberFactory(contract=contract, raw_member_id="RAW-OWN-0001")


@pytest.fixture
def other_member(other_contract):
    return MemberFactory(contract=other_contract, raw_member_id="RAW-OTHER-0001")


PERSONAS = ["care_manager", "colleague", "analyst", "administrator", None]


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 200), ("colleague", 404), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_member_detail_status_by_persona(request, api, member, persona, expected):
    user = request.getfixturevalue(persona) if persona else None
    response = api(user).get(f"/api/members/{member.pk}/")
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["contract"] == "H1001"
        assert "id_hash" not in response.json()


@pytest.mark.parametrize(
    ("persona", "expected_contracts"),
    [("care_manager", ["H1001"]), ("colleague", ["H1002"]), ("administrator", ["H1001", "H1002"])],
)
def test_member_list_shows_only_assigned_contracts(
    request, api, member, other_member, persona, expected_contracts
):
    response = api(request.getfixturevalue(persona)).get("/api/members/")
    assert response.status_code == 200
    assert sorted({m["contract"] for m in response.json()["results"]}) == expected_contracts


def test_anonymous_member_list_is_refused_in_the_error_shape(api, member):
    response = api(None).get("/api/members/")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


def test_care_manager_cannot_see_other_contract_member(api, care_manager, other_member):
    response = api(care_manager).get(f"/api/members/{other_member.pk}/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_member_detail_read_is_audited_as_access_with_actor(api, care_manager, member):
    api(care_manager).get(f"/api/members/{member.pk}/")
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert entry.actor == care_manager
    assert entry.object_pk == str(member.pk)
    assert entry.remote_addr == "127.0.0.1"
    assert entry.cid == ApiRequestLog.objects.get().request_id


def test_lookup_by_raw_member_id_finds_member(api, care_manager, member):
    response = api(care_manager).post("/api/members/lookup/", {"member_id": " RAW-OWN-0001 "})
    assert response.status_code == 200
    assert response.json()["id"] == member.pk
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS, actor=care_manager).count() == 1


@pytest.mark.parametrize("raw_id", ["RAW-OTHER-0001", "RAW-NOBODY"])
def test_lookup_of_other_contract_or_unknown_id_is_404(api, care_manager, other_member, raw_id):
    response = api(care_manager).post("/api/members/lookup/", {"member_id": raw_id})
    assert response.status_code == 404


def test_lookup_requires_member_id(api, care_manager):
    response = api(care_manager).post("/api/members/lookup/", {})
    assert response.status_code == 400
    assert "member_id" in response.json()["extra"]["fields"]


def test_raw_member_id_is_stored_nowhere_and_logged_nowhere(api, care_manager, member, caplog):
    api(care_manager).post("/api/members/lookup/", {"member_id": "RAW-OWN-0001"})
    api(care_manager).post("/api/members/lookup/", {"member_id": "RAW-NOT-ENROLLED-77"})
    for raw in ["RAW-OWN-0001", "RAW-NOT-ENROLLED-77"]:
        assert raw not in caplog.text
        assert _database_text_contains(raw) == []


def _database_text_contains(needle: str) -> list[str]:
    """Every table.column whose text contains `needle` (a whole-database scan)."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for column in connection.introspection.get_table_description(cursor, table):
                cast = "TEXT"
                cursor.execute(
                    f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{column.name}" AS {cast}) LIKE %s',
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column.name}")
    return hits


def test_member_list_query_count_does_not_grow_with_rows(api, care_manager, contract):
    client = api(care_manager)
    MemberFactory.create_batch(3, contract=contract)
    with_three = query_count(lambda: client.get("/api/members/"))
    MemberFactory.create_batch(30, contract=contract)
    assert query_count(lambda: client.get("/api/members/")) == with_three
    assert len(client.get("/api/members/").json()["results"]) == 33


def test_member_filters(api, care_manager, contract):
    MemberFactory(contract=contract, lis_de=True, birth_year=1940)
    MemberFactory(contract=contract, lis_de=False, birth_year=1955)
    client = api(care_manager)
    assert len(client.get("/api/members/?lis_de=true").json()["results"]) == 1
    assert len(client.get("/api/members/?birth_year_min=1950").json()["results"]) == 1


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 403), ("analyst", 403), ("administrator", 201), (None, 401)],
)
def test_only_administrators_create_contracts(request, api, contract, persona, expected):
    user = request.getfixturevalue(persona) if persona else None
    payload = {"contract_id": "H2001", "name": "New plan", "organization_type": "ma_pd"}
    response = api(user).post("/api/contracts/", payload)
    assert response.status_code == expected
    if expected == 201:
        created = Contract.objects.get(contract_id="H2001")
        assert list(created.users.all()) == [user]
        entry = LogEntry.objects.get_for_object(created).get(action=LogEntry.Action.CREATE)
        assert entry.actor == user


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("contract_id", "X1234"),
        ("contract_id", "H12345"),
        ("lis_de_percent", "101"),
        ("organization_type", "hmo"),
    ],
)
def test_contract_validation_errors_name_the_field(api, administrator, field, value):
    payload = {"contract_id": "H2002", "name": "Plan", "organization_type": "ma_pd", field: value}
    response = api(administrator).post("/api/contracts/", payload)
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


def test_administrator_updates_contract_and_update_is_audited(api, administrator, contract):
    response = api(administrator).patch(f"/api/contracts/{contract.contract_id}/", {"enrollment": 12345})
    assert response.status_code == 200
    contract.refresh_from_db()
    assert contract.enrollment == 12345
    entry = LogEntry.objects.get_for_object(contract).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == administrator
    assert entry.changes["enrollment"] == [10000, 12345]


def test_administrator_cannot_update_unassigned_contract(api, contract):
    from hedis_portal import roles
    from tests.factories import ContractFactory, UserFactory

    admin_elsewhere = UserFactory(role=roles.ADMINISTRATOR, contracts=[ContractFactory(contract_id="H3001")])
    response = api(admin_elsewhere).patch(f"/api/contracts/{contract.contract_id}/", {"enrollment": 1})
    assert response.status_code == 404


def test_members_cannot_be_written_through_the_api(api, administrator, member):
    from tests.factories import UserFactory

    assert api(administrator).delete(f"/api/members/{member.pk}/").status_code == 403
    superuser = UserFactory(is_superuser=True)
    assert api(superuser).delete(f"/api/members/{member.pk}/").status_code == 405
    assert api(superuser).post("/api/members/", {"birth_year": 1950}).status_code == 405
    assert Member.objects.filter(pk=member.pk).exists()

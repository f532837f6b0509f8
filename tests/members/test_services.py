"""Contract and member updates: what each may change, and that the same values save nothing."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members import services
from members.models import Contract, Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _updates(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]


def test_contract_update_may_change_what_the_api_and_admin_offer():
    assert services.CONTRACT_UPDATE_FIELDS == (
        "contract_id",
        "name",
        "organization_type",
        "snp",
        "enrollment",
        "lis_de_percent",
        "disability_percent",
    )


def test_contract_update_writes_only_what_changed(contract):
    with CaptureQueriesContext(connection) as queries:
        services.contract_update(contract=contract, name=contract.name, lis_de_percent=Decimal("41.50"))
    [update] = _updates(queries)
    assert "lis_de_percent" in update and '"name"' not in update
    assert Contract.objects.get(pk=contract.pk).lis_de_percent == Decimal("41.50")


def test_contract_update_with_the_same_values_saves_nothing(contract):
    with CaptureQueriesContext(connection) as queries:
        services.contract_update(contract=contract, name=contract.name, enrollment=contract.enrollment)
    assert _updates(queries) == []


def test_contract_update_refuses_the_users_relation(contract, care_manager):
    with pytest.raises(TypeError, match="users"):
        services.contract_update(contract=contract, users=[care_manager])


def test_member_update_may_change_the_members_attributes_only():
    assert services.MEMBER_UPDATE_FIELDS == ("birth_year", "sex", "lis_de", "disability", "active")


@pytest.mark.parametrize("name", ["id_hash", "contract"])
def test_a_members_identity_and_contract_are_never_updated(contract, other_contract, name):
    member = MemberFactory(contract=contract)
    value = {"id_hash": "0" * 64, "contract": other_contract}[name]
    with CaptureQueriesContext(connection) as queries, pytest.raises(TypeError, match=name):
        services.member_update(member=member, birth_year=1960, **{name: value})
    assert _updates(queries) == []
    stored = Member.objects.get(pk=member.pk)
    assert (stored.id_hash, stored.contract_id, stored.birth_year) == (member.id_hash, contract.pk, 1950)


def test_member_update_writes_only_what_changed(contract):
    member = MemberFactory(contract=contract, active=True)
    with CaptureQueriesContext(connection) as queries:
        services.member_update(member=member, active=False, birth_year=member.birth_year)
    [update] = _updates(queries)
    assert '"active"' in update and "birth_year" not in update
    assert Member.objects.get(pk=member.pk).active is False

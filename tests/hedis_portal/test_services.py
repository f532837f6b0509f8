"""model_update: the one update helper every app's services share."""

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hedis_portal.services import model_update
from members.models import Member
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ALLOWED = ("birth_year", "sex", "active")


@pytest.fixture
def member(contract):
    return MemberFactory(contract=contract, birth_year=1950, sex="F", active=True)


def _updates(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]


def test_a_field_outside_the_allow_list_is_a_type_error_naming_it_and_nothing_is_saved(member):
    with CaptureQueriesContext(connection) as queries, pytest.raises(TypeError) as refused:
        model_update(
            instance=member, fields={"birth_year": 1951, "id_hash": "x", "contract": None}, allowed=ALLOWED
        )
    assert str(refused.value) == "model_update() got unexpected fields: contract, id_hash"
    assert queries.captured_queries == []
    assert member.birth_year == 1950
    assert Member.objects.get(pk=member.pk).birth_year == 1950


def test_the_same_values_save_nothing(member):
    with CaptureQueriesContext(connection) as queries:
        updated, changed = model_update(
            instance=member,
            fields={"birth_year": 1950, "sex": "F"},
            allowed=ALLOWED,
            stamps={"active": False},
        )
    assert (updated, changed) == (member, False)
    assert queries.captured_queries == []
    assert member.active is True  # stamps go with a change only


def test_a_change_writes_only_the_changed_fields_and_the_auto_now_stamp(member):
    before = member.updated_at
    with CaptureQueriesContext(connection) as queries:
        updated, changed = model_update(
            instance=member, fields={"birth_year": 1951, "sex": "F"}, allowed=ALLOWED
        )
    assert (updated, changed) == (member, True)
    [update] = _updates(queries)
    assert "birth_year" in update and "updated_at" in update
    assert not any(name in update for name in ('"sex"', "id_hash", "contract_id", "lis_de", '"active"'))
    stored = Member.objects.get(pk=member.pk)
    assert (stored.birth_year, stored.sex) == (1951, "F")
    assert stored.updated_at > before


def test_stamps_are_written_with_a_change(member):
    with CaptureQueriesContext(connection) as queries:
        model_update(instance=member, fields={"birth_year": 1951}, allowed=ALLOWED, stamps={"active": False})
    [update] = _updates(queries)
    assert '"active"' in update
    assert Member.objects.get(pk=member.pk).active is False


def test_an_invalid_change_is_refused_before_anything_is_saved(member):
    with pytest.raises(ValidationError) as refused:
        model_update(instance=member, fields={"birth_year": 1800}, allowed=ALLOWED)
    assert "birth_year" in refused.value.message_dict
    assert Member.objects.get(pk=member.pk).birth_year == 1950


def test_a_change_is_one_audit_entry_with_what_changed(member):
    model_update(instance=member, fields={"birth_year": 1951, "active": False}, allowed=ALLOWED)
    [entry] = LogEntry.objects.get_for_model(Member).filter(
        object_pk=str(member.pk), action=LogEntry.Action.UPDATE
    )
    assert {name: entry.changes_dict[name] for name in ("birth_year", "active")} == {
        "birth_year": [1950, 1951],
        "active": [True, False],
    }
    assert set(entry.changes_dict) - {"birth_year", "active"} <= {"updated_at"}

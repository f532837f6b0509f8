"""`load_demo_data`: idempotent, one user per role, and the care manager sees one contract."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from hedis_portal import roles
from members.models import Contract, Member

pytestmark = pytest.mark.django_db


def test_demo_data_loads_once_and_a_second_run_adds_nothing(capsys):
    call_command("load_demo_data")
    first = capsys.readouterr().out
    counts = (Contract.objects.count(), Member.objects.count(), User.objects.count())
    call_command("load_demo_data")
    second = capsys.readouterr().out

    assert counts == (2, 5000, 3)
    assert (Contract.objects.count(), Member.objects.count(), User.objects.count()) == counts
    assert "passwords shown only this once" in first
    assert "passwords shown only this once" not in second


def test_demo_users_have_one_role_each_and_printed_passwords_work(capsys, client):
    call_command("load_demo_data")
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    passwords = {fields[0]: fields[1] for fields in lines}
    assert set(passwords) == {"care.manager", "quality.analyst", "administrator"}
    for username, role in [
        ("care.manager", roles.CARE_MANAGER),
        ("quality.analyst", roles.QUALITY_ANALYST),
        ("administrator", roles.ADMINISTRATOR),
    ]:
        user = User.objects.get(username=username)
        assert [g.name for g in user.groups.all()] == [role]
        assert client.login(username=username, password=passwords[username])


def test_demo_care_manager_sees_only_their_contract(api):
    call_command("load_demo_data")
    care_manager = User.objects.get(username="care.manager")
    response = api(care_manager).get("/api/contracts/")
    assert [c["contract_id"] for c in response.json()["results"]] == ["H9001"]
    members = api(care_manager).get("/api/members/?page_size=500").json()["results"]
    assert {m["contract"] for m in members} == {"H9001"}


def test_demo_member_creation_is_audited_per_batch():
    from auditlog.models import LogEntry

    call_command("load_demo_data")
    batches = LogEntry.objects.filter(object_pk="batch").order_by("object_repr")
    assert [(e.object_repr, e.additional_data["batch"]["count"]) for e in batches] == [
        ("Demo members for H9001", 3000),
        ("Demo members for H9002", 2000),
    ]

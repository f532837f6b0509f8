"""Audit entries: written for every change and member read, and beyond anyone's reach to edit."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from members.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_superuser=True)


def test_admin_create_update_delete_of_a_member_are_audited_with_actor(client, superuser, contract):
    client.force_login(superuser)
    add = client.post(
        "/admin/members/member/add/",
        {
            "raw_member_id": "RAW-ADMIN-1",
            "contract": contract.pk,
            "birth_year": 1948,
            "sex": "F",
            "active": "on",
        },
    )
    assert add.status_code == 302
    member = Member.objects.get()
    history_inlines = {
        f"{prefix}-{field}": 0
        for prefix in ("gaps", "predictions", "interventions")
        for field in ("TOTAL_FORMS", "INITIAL_FORMS")
    }
    change = client.post(
        f"/admin/members/member/{member.pk}/change/",
        {
            "contract": contract.pk,
            "birth_year": 1949,
            "sex": "F",
            "active": "on",
            "lis_de": "on",
            **history_inlines,
        },
    )
    assert change.status_code == 302
    delete = client.post(f"/admin/members/member/{member.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 302

    entries = LogEntry.objects.get_for_model(Member).filter(object_pk=str(member.pk)).order_by("timestamp")
    actions = [e.action for e in entries]
    assert LogEntry.Action.CREATE in actions
    assert LogEntry.Action.UPDATE in actions
    assert actions[-1] == LogEntry.Action.DELETE
    assert {e.actor for e in entries} == {superuser}
    update = entries.get(action=LogEntry.Action.UPDATE)
    assert update.changes["birth_year"] == [1948, 1949]
    assert "RAW-ADMIN-1" not in str(list(entries.values()))


def test_admin_member_page_read_is_audited_as_access(client, superuser, contract):
    member = MemberFactory(contract=contract)
    client.force_login(superuser)
    assert client.get(f"/admin/members/member/{member.pk}/change/").status_code == 200
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.object_pk) == (superuser, str(member.pk))


def test_contract_assignment_changes_are_audited(client, superuser, contract, care_manager):
    contract.users.add(superuser)
    entry = (
        LogEntry.objects.get_for_object(contract).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    )
    assert "users" in entry.changes


def test_audit_entries_cannot_be_changed_or_deleted_in_the_admin(client, superuser, contract):
    member = MemberFactory(contract=contract)
    client.force_login(superuser)
    client.get(f"/admin/members/member/{member.pk}/change/")
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)

    assert client.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = client.post(
        "/admin/auditlog/logentry/", {"action": "delete_selected", "_selected_action": [entry.pk]}
    )
    assert changelist.status_code in (200, 302)
    assert client.get("/admin/auditlog/logentry/add/").status_code == 403
    client.post(f"/admin/auditlog/logentry/{entry.pk}/change/", {"action": 0})
    entry.refresh_from_db()
    assert entry.action == LogEntry.Action.ACCESS
    assert LogEntry.objects.filter(pk=entry.pk).exists()


def test_administrator_reads_audit_log_but_care_manager_does_not(client, administrator, care_manager):
    client.force_login(administrator)
    assert client.get("/admin/auditlog/logentry/").status_code == 200
    client.force_login(care_manager)
    assert client.get("/admin/auditlog/logentry/").status_code == 403


def test_the_audit_log_filters_by_a_typed_correlation_id(client, administrator, contract):
    client.force_login(administrator)
    for cid in ("request-one", "request-two"):
        LogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(contract),
            object_pk=str(contract.pk),
            object_repr=str(contract),
            action=LogEntry.Action.ACCESS,
            cid=cid,
        )

    page = client.get("/admin/auditlog/logentry/?cid=request-two")

    assert [entry.cid for entry in page.context["cl"].result_list] == ["request-two"]


def test_no_api_route_exposes_audit_entries(api, administrator):
    assert api(administrator).get("/api/auditlog/").status_code == 404
    with pytest.raises(NoReverseMatch):
        reverse("api:logentry-list")


def _entry_aged(days: int) -> LogEntry:
    entry = LogEntry.objects.log_create(MemberFactory(), action=LogEntry.Action.UPDATE, changes={"x": [1, 2]})
    LogEntry.objects.filter(pk=entry.pk).update(timestamp=timezone.now() - timedelta(days=days))
    return entry


@pytest.mark.parametrize("days", [1, 365, 7 * 365])
def test_purge_audit_log_refuses_less_than_seven_years(days):
    entry = _entry_aged(8 * 365)
    with pytest.raises(CommandError, match="7 years"):
        call_command("purge_audit_log", older_than_days=days)
    assert LogEntry.objects.filter(pk=entry.pk).exists()


def test_purge_audit_log_deletes_entries_past_the_retention_only():
    old = _entry_aged(8 * 365)
    recent = _entry_aged(6 * 365)
    call_command("purge_audit_log", older_than_days=7 * 365 + 2)
    assert not LogEntry.objects.filter(pk=old.pk).exists()
    assert LogEntry.objects.filter(pk=recent.pk).exists()


def test_auditlogs_own_flush_command_is_disabled():
    entry = _entry_aged(1)
    with pytest.raises(CommandError, match="disabled"):
        call_command("auditlogflush", "--yes")
    assert LogEntry.objects.filter(pk=entry.pk).exists()


def test_a_bulk_write_entry_carries_the_request_id(api, care_manager, contract):
    from tests.factories import CareGapFactory

    gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(2)]
    response = api(care_manager).post(
        "/api/gaps/bulk-assign/", {"gaps": [gap.pk for gap in gaps], "assignee": care_manager.pk}
    )
    assert response.status_code == 200
    batch = LogEntry.objects.get(object_pk="batch")
    assert batch.cid == response["X-Request-ID"]


def test_changes_made_inside_a_command_are_attributed_to_its_user(contract):
    from hedis_portal.audit import command_actor

    operator = UserFactory(username="operator")
    with command_actor("import_predictions", user=operator):
        member = MemberFactory(contract=contract)
    entry = LogEntry.objects.get_for_object(member).get(action=LogEntry.Action.CREATE)
    assert entry.actor == operator

"""The worklist's "Record outreach done" action: one record per member, each gap moved as its
outcome says, or nothing saved; and a care manager doing it in a real browser."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from gaps.models import CareGap
from hedis_portal import roles
from interventions.models import OutreachGap, OutreachRecord
from tests.browser import log_in
from tests.factories import CareGapFactory, ContractFactory, MemberFactory, UserFactory, measure

WORKLIST = "/admin/gaps/caregap/"


def _gap(member, code, **fields):
    return CareGapFactory(member=member, measure=measure(code), **fields)


def _apply(client, gaps, *, versions=None, outcome="scheduled", contacted_on=None, chosen=None):
    """Post the action's form as a person submits it (the versions as the form showed them)."""
    versions = versions or {gap.pk: gap.version for gap in gaps}
    return client.post(
        WORKLIST,
        {
            "action": "record_outreach",
            "_selected_action": [gap.pk for gap in gaps],
            "apply": "1",
            "gaps": chosen or [gap.pk for gap in gaps],
            "channel": "call",
            "outcome": outcome,
            "contacted_on": (contacted_on or timezone.localdate()).isoformat(),
            "note": "",
            "versions": ",".join(f"{pk}:{version}" for pk, version in versions.items()),
        },
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _states(*gaps) -> list[str]:
    return [CareGap.objects.get(pk=gap.pk).workflow_state for gap in gaps]


@pytest.fixture
def member(contract):
    return MemberFactory(contract=contract)


def test_the_form_lists_the_selected_gaps_with_their_state_and_the_outcome_table(
    client, care_manager, member
):
    gaps = [_gap(member, "EED", workflow_state="assigned"), _gap(member, "KED", version=4)]
    client.force_login(care_manager)
    response = client.post(WORKLIST, {"action": "record_outreach", "_selected_action": [g.pk for g in gaps]})
    form = response.context["form"]
    assert form.initial["gaps"] == [gaps[0].pk, gaps[1].pk]
    assert form.initial["versions"] == f"{gaps[0].pk}:1,{gaps[1].pk}:4"
    assert form.initial["contacted_on"] == timezone.localdate()
    labels = dict(form.fields["gaps"].choices)
    assert labels[gaps[0].pk].endswith(
        f"EED 2026 · {gaps[0].member.pseudonym} ({gaps[0].measure.name}), Assigned"
    )
    assert form.fields["outcome"].help_text == (
        "Moves each gap's workflow: Reached → Outreach attempted; Scheduled → Scheduled; Refused → Refused; "
        "Unable to reach → Outreach attempted; Left message → Outreach attempted. A gap already there stays."
    )
    assert "No PHI" in response.content.decode()


def test_a_call_on_gaps_of_two_members_records_one_each_and_moves_every_gap(
    client, care_manager, contract, member
):
    second = MemberFactory(contract=contract)
    gaps = [_gap(member, "EED"), _gap(member, "KED", workflow_state="assigned"), _gap(second, "GSD")]
    client.force_login(care_manager)
    response = _apply(client, gaps)
    assert _states(*gaps) == ["scheduled"] * 3
    records = {record.member_id: record for record in OutreachRecord.objects.all()}
    assert set(records) == {member.pk, second.pk}
    covered = {r.member_id: set(r.gaps.values_list("pk", flat=True)) for r in records.values()}
    assert covered == {member.pk: {gaps[0].pk, gaps[1].pk}, second.pk: {gaps[2].pk}}
    assert {record.recorded_by for record in records.values()} == {care_manager}
    assert _messages(response) == [
        "Outreach recorded for 2 members. Workflow: "
        f"EED 2026 · {gaps[0].member.pseudonym}: New → Scheduled; "
        f"KED 2026 · {gaps[1].member.pseudonym}: Assigned → Scheduled; "
        f"GSD 2026 · {gaps[2].member.pseudonym}: New → Scheduled."
    ]
    assert all(
        gap.last_outreach_at is not None for gap in CareGap.objects.filter(pk__in=[g.pk for g in gaps])
    )


def test_a_forbidden_move_refuses_that_gap_in_words_and_saves_nothing(client, care_manager, member):
    gaps = [
        _gap(member, "EED", workflow_state="assigned"),
        _gap(member, "KED", workflow_state="awaiting_data"),
    ]
    client.force_login(care_manager)
    response = _apply(client, gaps, outcome="refused")
    assert _messages(response) == [
        "Nothing was recorded: outcome “Refused” would move "
        f"KED 2026 · {gaps[1].member.pseudonym} from Awaiting data "
        "to Refused, which the workflow does not allow (from Awaiting data: Outreach attempted, Scheduled)."
    ]
    assert _states(*gaps) == ["assigned", "awaiting_data"]
    assert not OutreachRecord.objects.exists()


def test_a_gap_changed_since_the_form_was_shown_refuses_the_recording(client, care_manager, member):
    gaps = [_gap(member, "EED"), _gap(member, "KED")]
    shown = {gap.pk: gap.version for gap in gaps}
    CareGap.objects.filter(pk=gaps[1].pk).update(
        version=2, workflow_state="refused"
    )  # a colleague, meanwhile
    client.force_login(care_manager)
    response = _apply(client, gaps, versions=shown)
    assert _messages(response) == [
        f"KED 2026 · {gaps[1].member.pseudonym} changed since you read it; reload and try again. "
        "Nothing was recorded."
    ]
    assert _states(*gaps) == ["new", "refused"]
    assert not OutreachRecord.objects.exists()


def test_only_the_gaps_kept_checked_are_recorded(client, care_manager, member):
    gaps = [_gap(member, "EED"), _gap(member, "KED")]
    client.force_login(care_manager)
    _apply(client, gaps, chosen=[gaps[0].pk], outcome="left_message")
    assert _states(*gaps) == ["outreach_attempted", "new"]
    assert list(OutreachGap.objects.values_list("gap_id", flat=True)) == [gaps[0].pk]


def test_a_future_date_is_refused_on_the_form(client, care_manager, member):
    gap = _gap(member, "EED")
    client.force_login(care_manager)
    response = _apply(client, [gap], contacted_on=timezone.localdate() + timedelta(days=1))
    assert response.context["form"].errors["contacted_on"] == [
        "The date is in the future; record outreach once it is done."
    ]
    assert _states(gap) == ["new"] and not OutreachRecord.objects.exists()


def test_another_contracts_gap_is_not_offered_and_not_recorded(client, care_manager, member, other_contract):
    mine, foreign = _gap(member, "EED"), _gap(MemberFactory(contract=other_contract), "EED")
    client.force_login(care_manager)
    shown = client.post(WORKLIST, {"action": "record_outreach", "_selected_action": [mine.pk, foreign.pk]})
    assert [pk for pk, _ in shown.context["form"].fields["gaps"].choices] == [mine.pk]
    response = _apply(client, [mine, foreign])
    assert response.context["form"].errors["gaps"]
    assert _states(mine, foreign) == ["new", "new"] and not OutreachRecord.objects.exists()


def test_a_quality_analyst_is_not_offered_the_action(client, analyst, member):
    gap = _gap(member, "EED")
    client.force_login(analyst)
    actions = [value for value, _ in client.get(WORKLIST).context["action_form"].fields["action"].choices]
    assert "record_outreach" not in actions
    _apply(client, [gap])
    assert not OutreachRecord.objects.exists()


# --- In a browser ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_care_manager_records_a_scheduling_call_on_two_gaps_and_sees_them_move(watched, live_server):
    contract = ContractFactory(contract_id="H3001")
    member = MemberFactory(contract=contract, raw_member_id="PLAN-0042")
    gaps = [_gap(member, "EED", workflow_state="assigned"), _gap(member, "KED"), _gap(member, "GSD")]
    UserFactory(username="carla", role=roles.CARE_MANAGER, contracts=[contract])
    page = watched.page
    log_in(page, live_server, "carla", "test-password")
    page.goto(f"{live_server.url}{WORKLIST}?q=PLAN-0042")
    for gap in gaps[:2]:
        page.check(f"input[name=_selected_action][value='{gap.pk}']")
    page.select_option("select[name=action]", "record_outreach")
    page.click("button[name=index]")
    page.select_option("#id_channel", "call")
    page.select_option("#id_outcome", "scheduled")
    page.fill("#id_note", "Both tests booked at the clinic")
    page.click("input[name=apply]")
    page.wait_for_selector(".messagelist li")
    assert page.inner_text(".messagelist li") == (
        "Outreach recorded for 1 member. Workflow: "
        f"EED 2026 · {gaps[0].member.pseudonym}: Assigned → Scheduled; "
        f"KED 2026 · {gaps[1].member.pseudonym}: New → Scheduled."
    )
    shown = {
        gap.pk: page.inner_text(f"tr:has(input[value='{gap.pk}']) td.field-workflow_state") for gap in gaps
    }
    assert shown == {gaps[0].pk: "Scheduled", gaps[1].pk: "Scheduled", gaps[2].pk: "New"}
    page.goto(f"{live_server.url}/admin/interventions/outreachrecord/")
    assert page.inner_text("td.field-moves_made") == "EED: Assigned → Scheduled; KED: New → Scheduled"
    assert watched.problems() == []

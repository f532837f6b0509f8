"""The interventions admin: scoped, constant queries, writes through the services, workflow actions."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from gaps.models import CareGap
from interventions import services
from interventions.models import Intervention, InterventionType
from tests.conftest import query_count
from tests.factories import InterventionTypeFactory, MemberFactory, UserFactory, measure
from tests.interventions.conftest import intervention_with_gaps, open_gap

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/interventions/intervention/"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _errors(response) -> list[str]:
    """The errors the change form shows above its fields."""
    return list(response.context["adminform"].form.non_field_errors())


def _act(client, action: str, interventions):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [i.pk for i in interventions]}, follow=True
    )


def _change(client, intervention, *, version=None, **changes):
    """Post the change form as a browser would: current values, the read version, the inline's counts."""
    data = {
        "status": intervention.status,
        "scheduled_for": intervention.scheduled_for or "",
        "notes": intervention.notes,
        "expected_version": intervention.version if version is None else version,
        "covered-TOTAL_FORMS": intervention.covered.count(),
        "covered-INITIAL_FORMS": intervention.covered.count(),
        "covered-MIN_NUM_FORMS": 0,
        "covered-MAX_NUM_FORMS": 1000,
        **changes,
    }
    return client.post(f"{CHANGELIST}{intervention.pk}/change/", data, follow=True)


# --- Scoping and queries -------------------------------------------------------------------


def test_changelist_shows_only_the_users_contracts(client, care_manager, member, foreign_member):
    own = intervention_with_gaps(member=member)
    intervention_with_gaps(member=foreign_member)
    client.force_login(care_manager)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [own]


def test_other_contracts_intervention_page_is_absent(client, care_manager, foreign_member):
    foreign = intervention_with_gaps(member=foreign_member)
    client.force_login(care_manager)
    response = client.get(f"{CHANGELIST}{foreign.pk}/change/")
    assert response.status_code == 302
    assert response.url == "/admin/"


def test_contract_filter_offers_only_visible_contracts(client, care_manager, member):
    client.force_login(care_manager)
    response = client.get(CHANGELIST)
    contract_filter = next(f for f in response.context["cl"].filter_specs if f.title == "contract")
    assert [label for _, label in contract_filter.lookup_choices] == ["H1001"]


def test_changelist_query_count_does_not_grow_with_rows(client, care_manager, contract):
    def add(count: int) -> None:
        for _ in range(count):
            owner = MemberFactory(contract=contract)
            intervention_with_gaps(member=owner, gaps=[open_gap(owner)])

    client.force_login(care_manager)
    add(3)
    client.get(CHANGELIST)  # warm the content-type and permission caches
    few = query_count(lambda: client.get(CHANGELIST))
    add(40)
    assert query_count(lambda: client.get(CHANGELIST)) == few


def test_change_page_shows_covered_gaps_and_is_audited_as_access(client, care_manager, member):
    eed = open_gap(member, "EED")
    intervention = intervention_with_gaps(member=member, gaps=[eed])
    client.force_login(care_manager)
    response = client.get(f"{CHANGELIST}{intervention.pk}/change/")
    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    assert [form.original.gap for form in inline] == [eed]
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.object_pk) == (care_manager, str(intervention.pk))


# --- Actions -------------------------------------------------------------------------------


def test_analyst_approves_selected_and_the_batch_is_audited(client, analyst, member):
    proposals = [intervention_with_gaps(member=member) for _ in range(2)]
    client.force_login(analyst)
    response = _act(client, "mark_approved", proposals)
    assert _messages(response) == ["2 interventions moved to approved."]
    assert set(Intervention.objects.values_list("status", "approved_by")) == {("approved", analyst.pk)}
    entry = LogEntry.objects.get_for_model(Intervention).get(object_pk="batch")
    assert entry.actor == analyst


def test_care_manager_is_not_offered_approval(client, care_manager, member):
    proposal = intervention_with_gaps(member=member)
    client.force_login(care_manager)
    choices = [name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert "mark_approved" not in choices
    assert {"mark_scheduled", "mark_completed", "mark_failed", "mark_cancelled"} <= set(choices)
    _act(client, "mark_approved", [proposal])
    assert Intervention.objects.get().status == "proposed"


def test_schedule_action_reports_what_it_skipped_and_why(client, care_manager, member):
    approved = [intervention_with_gaps(member=member, gaps=[open_gap(member)], status="approved")]
    proposed = intervention_with_gaps(member=member)
    completed = [intervention_with_gaps(member=member, status="completed") for _ in range(2)]
    client.force_login(care_manager)
    response = _act(client, "mark_scheduled", [*approved, proposed, *completed])
    assert _messages(response) == [
        "1 intervention moved to scheduled; 3 skipped: "
        "completed cannot go to scheduled (2); proposed cannot go to scheduled (1)."
    ]
    assert Intervention.objects.get(pk=approved[0].pk).status == "scheduled"
    assert CareGap.objects.get().last_outreach_at is not None
    assert CareGap.objects.get().compliance_status == "open"


def test_analyst_cancel_rejects_proposals_only(client, analyst, member):
    proposed = intervention_with_gaps(member=member)
    approved = intervention_with_gaps(member=member, status="approved")
    client.force_login(analyst)
    response = _act(client, "mark_cancelled", [proposed, approved])
    assert _messages(response) == [
        "1 intervention moved to cancelled; 1 skipped: "
        "you may not move approved interventions to cancelled (1)."
    ]
    assert dict(Intervention.objects.values_list("pk", "status")) == {
        proposed.pk: "cancelled",
        approved.pk: "approved",
    }


# --- The change form -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "offered"),
    [
        ("care_manager", ["proposed", "cancelled"]),
        ("administrator", ["proposed", "approved", "cancelled"]),
    ],
)
def test_status_choices_are_what_workflow_and_role_allow(request, client, member, persona, offered):
    proposal = intervention_with_gaps(member=member)
    client.force_login(request.getfixturevalue(persona))
    form = client.get(f"{CHANGELIST}{proposal.pk}/change/").context["adminform"].form
    assert [value for value, _ in form.fields["status"].choices] == offered


def test_status_change_goes_through_the_workflow_service(client, care_manager, member):
    gap = open_gap(member)
    intervention = intervention_with_gaps(member=member, gaps=[gap], status="approved")
    client.force_login(care_manager)
    response = _change(client, intervention, status="completed")
    assert response.status_code == 200
    stored = Intervention.objects.get()
    assert (stored.status, stored.version) == ("completed", 2)
    assert stored.completed_at is not None
    gap.refresh_from_db()
    assert (gap.compliance_status, gap.last_outreach_at) == ("open", stored.completed_at)
    entry = LogEntry.objects.get_for_object(stored).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == care_manager
    assert entry.changes["status"] == ["approved", "completed"]


def test_notes_and_status_change_together(client, care_manager, member):
    intervention = intervention_with_gaps(member=member, status="approved")
    client.force_login(care_manager)
    _change(client, intervention, status="scheduled", notes="Tuesday", scheduled_for="2026-05-05")
    stored = Intervention.objects.get()
    assert (stored.status, stored.notes, str(stored.scheduled_for), stored.version) == (
        "scheduled",
        "Tuesday",
        "2026-05-05",
        3,
    )


def test_stale_change_form_is_refused_and_saves_nothing(client, care_manager, member):
    intervention = intervention_with_gaps(member=member, status="approved")
    Intervention.objects.filter(pk=intervention.pk).update(version=2)
    client.force_login(care_manager)
    response = _change(client, intervention, version=1, status="scheduled", notes="Lost update?")
    assert _errors(response) == ["This intervention changed since you read it; reload it and try again."]
    assert _messages(response) == []
    stored = Intervention.objects.get()
    assert (stored.status, stored.notes, stored.version) == ("approved", "", 2)


def test_change_form_refused_halfway_saves_nothing_and_says_why_once(
    client, care_manager, member, monkeypatch
):
    intervention = intervention_with_gaps(member=member, status="approved")

    def refuse(**kwargs):
        # Say the role was withdrawn between showing the form and saving it.
        raise services.PermissionRefused("You may not move interventions to scheduled.")

    monkeypatch.setattr(services, "intervention_transition", refuse)
    client.force_login(care_manager)
    response = _change(client, intervention, status="scheduled", notes="Tuesday")  # notes saved first
    assert response.status_code == 200
    assert _errors(response) == ["You may not move interventions to scheduled."]
    assert response.content.decode().count("You may not move interventions to scheduled.") == 1
    assert _messages(response) == []
    stored = Intervention.objects.get()
    assert (stored.status, stored.notes, stored.version) == ("approved", "", 1)


def test_change_form_success_is_announced(client, care_manager, member):
    intervention = intervention_with_gaps(member=member, status="approved")
    client.force_login(care_manager)
    response = _change(client, intervention, status="scheduled", notes="Tuesday")
    [message] = _messages(response)
    assert "was changed successfully" in message
    assert Intervention.objects.get().version == 3


def test_analyst_sees_the_change_form_read_only(client, analyst, member):
    intervention = intervention_with_gaps(member=member, status="approved")
    client.force_login(analyst)
    assert client.get(f"{CHANGELIST}{intervention.pk}/change/").status_code == 200
    assert _change(client, intervention, status="scheduled").status_code == 403
    assert Intervention.objects.get().status == "approved"


# --- The add form --------------------------------------------------------------------------


def _add(client, **data):
    return client.post(f"{CHANGELIST}add/", data)


def test_add_form_offers_raw_id_boxes_and_active_types_only(client, care_manager, home_visit):
    InterventionTypeFactory(name="Fax blast", active=False)
    client.force_login(care_manager)
    response = client.get(f"{CHANGELIST}add/")
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields["intervention_type"].queryset) == [home_visit]
    assert 'name="member"' in response.text
    assert 'name="covered_gaps"' in response.text


def test_add_form_proposes_through_the_service(client, care_manager, member, home_visit):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    client.force_login(care_manager)
    response = _add(
        client,
        member=member.pk,
        intervention_type=home_visit.pk,
        covered_gaps=f"{eed.pk},{ked.pk}",
        notes="",
        scheduled_for="",
    )
    assert response.status_code == 302
    created = Intervention.objects.get()
    assert response.url == CHANGELIST
    assert (created.status, str(created.cost), created.created_by) == ("proposed", "150.00", care_manager)
    assert sorted(created.gaps.values_list("pk", flat=True)) == sorted([eed.pk, ked.pk])
    assert LogEntry.objects.get_for_object(created).get(action=LogEntry.Action.CREATE).actor == care_manager


def test_add_form_refuses_another_members_gap(client, care_manager, member, other_member, home_visit):
    theirs = open_gap(other_member)
    client.force_login(care_manager)
    response = _add(client, member=member.pk, intervention_type=home_visit.pk, covered_gaps=str(theirs.pk))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["covered_gaps"] == [
        f"Gaps {theirs.pk} do not belong to this member."
    ]
    assert not Intervention.objects.exists()


def test_add_form_offers_nothing_of_another_contract(client, care_manager, foreign_member, home_visit):
    foreign = open_gap(foreign_member)
    client.force_login(care_manager)
    response = _add(
        client, member=foreign_member.pk, intervention_type=home_visit.pk, covered_gaps=str(foreign.pk)
    )
    assert response.status_code == 200
    assert {"member", "covered_gaps"} <= set(response.context["adminform"].form.errors)
    assert not Intervention.objects.exists()


def test_from_a_members_page_the_add_form_lists_their_open_gaps_to_tick(
    client, care_manager, member, other_member, home_visit
):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    excluded = open_gap(member, "BCS")
    CareGap.objects.filter(pk=excluded.pk).update(compliance_status="excluded", exclusion_reason="hospice")
    open_gap(other_member)
    client.force_login(care_manager)
    member_page = client.get(f"/admin/members/member/{member.pk}/change/")
    link = f"{CHANGELIST}add/?member={member.pk}"
    assert f'href="{link}">Propose an intervention</a>' in member_page.text
    form = client.get(link).context["adminform"].form
    assert [str(choice[1]) for choice in form.fields["covered_gaps"].choices] == [
        f"{eed} (New)",
        f"{ked} (New)",
    ]
    assert form.fields["member"].disabled
    response = client.post(
        link,
        {
            "intervention_type": home_visit.pk,
            "covered_gaps": [eed.pk, ked.pk],
            "notes": "",
            "scheduled_for": "",
        },
    )
    assert response.status_code == 302
    created = Intervention.objects.get()
    assert (created.member, sorted(created.gaps.values_list("pk", flat=True))) == (
        member,
        sorted([eed.pk, ked.pk]),
    )


def test_the_add_form_says_when_the_member_has_no_open_gaps(client, care_manager, member, home_visit):
    client.force_login(care_manager)
    form = client.get(f"{CHANGELIST}add/?member={member.pk}").context["adminform"].form
    assert form.fields["covered_gaps"].help_text == (
        "This member has no open gaps: there is nothing for an intervention to cover."
    )


def test_a_member_of_another_contract_in_the_add_pages_address_is_ignored(
    client, care_manager, foreign_member, home_visit
):
    open_gap(foreign_member)
    client.force_login(care_manager)
    form = client.get(f"{CHANGELIST}add/?member={foreign_member.pk}").context["adminform"].form
    assert not form.fields["member"].disabled
    assert 'name="covered_gaps"' in str(form["covered_gaps"])
    assert form.fields["covered_gaps"].help_text.startswith("IDs of the member's open gaps")


def test_the_member_page_offers_a_proposal_only_to_whom_may_add(client, contract, member):
    reader = UserFactory(username="reader", contracts=[contract], is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_member"))
    client.force_login(reader)
    page = client.get(f"/admin/members/member/{member.pk}/change/")
    assert page.status_code == 200
    assert "Propose an intervention" not in page.text


# --- The catalog ---------------------------------------------------------------------------


def _type_form(**data):
    return {
        "name": "Telehealth check-in",
        "channel": "telehealth",
        "unit_cost": "40.00",
        "capacity": "",
        "active": "on",
        "uplifts-TOTAL_FORMS": 1,
        "uplifts-INITIAL_FORMS": 0,
        "uplifts-MIN_NUM_FORMS": 0,
        "uplifts-MAX_NUM_FORMS": 1000,
        "uplifts-0-measure": measure("CBP").pk,
        "uplifts-0-uplift": "0.12",
        **data,
    }


def test_administrator_adds_a_type_with_uplifts_through_the_service(client, administrator):
    client.force_login(administrator)
    response = client.post("/admin/interventions/interventiontype/add/", _type_form())
    assert response.status_code == 302
    created = InterventionType.objects.get(name="Telehealth check-in")
    assert {u.measure.code: u.uplift for u in created.uplifts.all()} == {"CBP": 0.12}
    assert LogEntry.objects.get_for_object(created).get().actor == administrator


def test_uplift_above_1_is_a_form_error(client, administrator):
    client.force_login(administrator)
    response = client.post(
        "/admin/interventions/interventiontype/add/", _type_form(**{"uplifts-0-uplift": "1.2"})
    )
    assert response.status_code == 200
    assert not InterventionType.objects.filter(name="Telehealth check-in").exists()


def test_administrator_changes_and_removes_uplifts(client, administrator, home_visit):
    rows = list(home_visit.uplifts.order_by("pk"))
    data = _type_form(name="Home visit", channel="home_visit", unit_cost="150.00")
    data.update({"uplifts-TOTAL_FORMS": len(rows), "uplifts-INITIAL_FORMS": len(rows)})
    for index, row in enumerate(rows):
        data.update(
            {
                f"uplifts-{index}-id": row.pk,
                f"uplifts-{index}-intervention_type": home_visit.pk,
                f"uplifts-{index}-measure": row.measure_id,
                f"uplifts-{index}-uplift": row.uplift,
            }
        )
    data["uplifts-0-uplift"] = "0.35"
    data["uplifts-1-DELETE"] = "on"
    client.force_login(administrator)
    response = client.post(f"/admin/interventions/interventiontype/{home_visit.pk}/change/", data)
    assert response.status_code == 302
    expected = {rows[0].measure.code: 0.35, rows[2].measure.code: rows[2].uplift}
    assert {u.measure.code: u.uplift for u in home_visit.uplifts.all()} == expected


def test_care_manager_cannot_add_a_type(client, care_manager):
    client.force_login(care_manager)
    assert client.get("/admin/interventions/interventiontype/add/").status_code == 403
    assert client.get("/admin/interventions/interventiontype/").status_code == 200


# --- The worklist's action (gaps admin), the main caller of the bundle service --------------


def test_worklist_action_proposes_one_bundle_per_member(
    client, care_manager, member, other_member, home_visit
):
    gaps = [open_gap(member, "EED"), open_gap(member, "KED"), open_gap(other_member, "GSD")]
    client.force_login(care_manager)
    response = client.post(
        "/admin/gaps/caregap/",
        {
            "action": "record_intervention",
            "_selected_action": [gap.pk for gap in gaps],
            "apply": "1",
            "intervention_type": home_visit.pk,
            "notes": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    bundles = {i.member_id: set(i.gaps.values_list("pk", flat=True)) for i in Intervention.objects.all()}
    assert bundles == {member.pk: {gaps[0].pk, gaps[1].pk}, other_member.pk: {gaps[2].pk}}
    assert LogEntry.objects.get_for_model(Intervention).get(object_pk="batch").actor == care_manager

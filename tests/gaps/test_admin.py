"""The worklist in the admin: scoped, filtered, searchable by raw ID, constant queries, actions."""

from datetime import date

import pytest
from auditlog.models import LogEntry
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.contrib.messages import get_messages
from django.utils.html import escape

from gaps.models import CareGap, GapRemark
from tests.conftest import query_count
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, measure, point_at

pytestmark = pytest.mark.django_db
URL = "/admin/gaps/caregap/"


@pytest.fixture
def logged_in(client, care_manager):
    client.force_login(care_manager)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _shown(response):
    return list(response.context["cl"].result_list)


def test_worklist_shows_only_the_users_contracts_by_priority(logged_in, contract, other_contract):
    low = CareGapFactory(member=MemberFactory(contract=contract), priority_score=1)
    high = CareGapFactory(member=MemberFactory(contract=contract), priority_score=8)
    CareGapFactory(member=MemberFactory(contract=other_contract), priority_score=9)
    assert _shown(logged_in.get(URL)) == [high, low]


def test_other_contracts_gap_page_is_absent(logged_in, other_contract):
    gap = CareGapFactory(member=MemberFactory(contract=other_contract))
    response = logged_in.get(f"{URL}{gap.pk}/change/")
    assert (response.status_code, response.url) == (302, "/admin/")


def test_filters(logged_in, care_manager, contract):
    member = MemberFactory(contract=contract)
    bcs = CareGapFactory(member=member, measure=measure("BCS"), assignee=care_manager)
    col = CareGapFactory(member=member, measure=measure("COL"), last_outreach_at="2026-03-01T00:00Z")
    point_at(col, PredictionFactory(member=member, risk_tier="high"))
    assert _shown(logged_in.get(f"{URL}?measure=COL")) == [col]
    assert _shown(logged_in.get(f"{URL}?assignee=me")) == [bcs]
    assert _shown(logged_in.get(f"{URL}?assignee={care_manager.pk}")) == [bcs]
    assert _shown(logged_in.get(f"{URL}?assignee=unassigned")) == [col]
    assert _shown(logged_in.get(f"{URL}?risk_tier=high")) == [col]
    assert _shown(logged_in.get(f"{URL}?no_outreach=true")) == [bcs]
    assert _shown(logged_in.get(f"{URL}?contract=h1001&measurement_year={bcs.measurement_year}")) == [
        col,
        bcs,
    ]
    assert _shown(logged_in.get(f"{URL}?workflow_state=new&compliance_status=open")) != []


def test_search_takes_a_raw_member_id(logged_in, contract):
    wanted = CareGapFactory(member=MemberFactory(contract=contract, raw_member_id="RAW-77"))
    CareGapFactory(member=MemberFactory(contract=contract))
    assert _shown(logged_in.get(f"{URL}?q=RAW-77")) == [wanted]


def test_worklist_query_count_is_constant_as_rows_grow(logged_in, care_manager, contract):
    def add(n):
        for _ in range(n):
            gap = CareGapFactory(member=MemberFactory(contract=contract), assignee=care_manager)
            point_at(gap, PredictionFactory(member=gap.member))

    add(3)
    few = query_count(lambda: logged_in.get(URL))
    add(40)
    assert query_count(lambda: logged_in.get(URL)) == few


def test_change_form_moves_the_workflow_and_adds_a_remark(logged_in, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    form = {
        "assignee": care_manager.pk,
        "workflow_state": "scheduled",
        "expected_version": 1,
        "remarks-TOTAL_FORMS": 1,
        "remarks-INITIAL_FORMS": 0,
        "remarks-0-code": "appointment-scheduled",
        "remarks-0-note": "",
    }
    response = logged_in.post(f"{URL}{gap.pk}/change/", form)
    assert response.status_code == 302
    gap.refresh_from_db()
    assert (gap.assignee, gap.workflow_state, gap.version) == (care_manager, "scheduled", 3)
    assert GapRemark.objects.get().author == care_manager
    assert (
        LogEntry.objects.get_for_object(gap).filter(action=LogEntry.Action.UPDATE, actor=care_manager).count()
        == 2
    )


@pytest.mark.parametrize(
    ("state", "offered"),
    [
        (
            "new",
            [
                "new",
                "assigned",
                "outreach_attempted",
                "scheduled",
                "awaiting_data",
                "unable_to_reach",
                "refused",
            ],
        ),
        ("scheduled", ["outreach_attempted", "scheduled", "awaiting_data", "refused"]),
        ("resolved", ["resolved"]),
    ],
)
def test_change_form_offers_only_the_moves_the_workflow_allows(logged_in, contract, state, offered):
    gap = CareGapFactory(member=MemberFactory(contract=contract), workflow_state=state)
    form = logged_in.get(f"{URL}{gap.pk}/change/").context["adminform"].form
    assert [value for value, _ in form.fields["workflow_state"].choices] == offered


def test_the_history_names_each_move(logged_in, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    form = _change_form(assignee=care_manager.pk, workflow_state="scheduled")
    logged_in.post(f"{URL}{gap.pk}/change/", form)
    (entry,) = AdminLogEntry.objects.filter(object_id=str(gap.pk))
    assert (
        entry.get_change_message()
        == "Changed Assignee from nobody to cm and Workflow state from New to Scheduled."
    )


def test_change_form_with_a_stale_version_changes_nothing(logged_in, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    CareGap.objects.filter(pk=gap.pk).update(version=2)
    form = {
        "assignee": "",
        "workflow_state": "scheduled",
        "expected_version": 1,
        "remarks-TOTAL_FORMS": 0,
        "remarks-INITIAL_FORMS": 0,
    }
    response = logged_in.post(f"{URL}{gap.pk}/change/", form)
    assert response.status_code == 200  # the form again, with the error
    gap.refresh_from_db()
    assert gap.workflow_state == "new"
    assert "changed since you read it" in response.content.decode()


def test_change_form_refused_halfway_saves_nothing_and_says_why_once(logged_in, care_manager, contract):
    # Closed by data while its workflow still reads "new": the form offers the moves from there.
    gap = CareGapFactory(
        member=MemberFactory(contract=contract),
        compliance_status="closed",
        evidence_date=date(2026, 3, 1),
        evidence_source="claims",
    )
    form = {
        "assignee": care_manager.pk,  # a valid reassignment …
        "workflow_state": "scheduled",  # … with a move the service refuses for a closed gap
        "expected_version": 1,
        "remarks-TOTAL_FORMS": 0,
        "remarks-INITIAL_FORMS": 0,
    }
    response = logged_in.post(f"{URL}{gap.pk}/change/", form)
    assert response.status_code == 200  # the form again, as posted
    gap.refresh_from_db()
    assert (gap.assignee, gap.workflow_state, gap.version) == (None, "new", 1)
    refusal = "The gap is closed; only open gaps are worked."
    assert response.context["adminform"].form.non_field_errors() == [refusal]
    assert response.content.decode().count(escape(refusal)) == 1
    assert _messages(response) == []


def test_change_form_success_is_announced(logged_in, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    form = _change_form(assignee=care_manager.pk, workflow_state="scheduled")
    response = logged_in.post(f"{URL}{gap.pk}/change/", form, follow=True)
    gap.refresh_from_db()
    assert (gap.assignee, gap.workflow_state, gap.version) == (care_manager, "scheduled", 3)
    [message] = _messages(response)
    assert "was changed successfully" in message


def test_opening_a_gap_is_audited_as_access(logged_in, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    logged_in.get(f"{URL}{gap.pk}/change/")
    assert LogEntry.objects.get(action=LogEntry.Action.ACCESS).actor == care_manager


def test_bulk_actions_assign_and_move(logged_in, care_manager, contract):
    gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(2)]
    ids = [g.pk for g in gaps]
    logged_in.post(URL, {"action": "assign_to_me", "_selected_action": ids})
    logged_in.post(URL, {"action": "move_to_outreach_attempted", "_selected_action": ids})
    assert set(CareGap.objects.values_list("assignee", "workflow_state")) == {
        (care_manager.pk, "outreach_attempted")
    }
    assert CareGap.objects.filter(last_outreach_at__isnull=False).count() == 2


def test_bulk_actions_count_their_gaps_in_words(logged_in, contract):
    gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(2)]
    one = logged_in.post(URL, {"action": "assign_to_me", "_selected_action": [gaps[0].pk]}, follow=True)
    both = logged_in.post(URL, {"action": "unassign", "_selected_action": [g.pk for g in gaps]}, follow=True)
    assert [str(m) for m in one.context["messages"]] == ["1 gap assigned to you."]
    assert [str(m) for m in both.context["messages"]] == ["2 gaps unassigned."]


def test_add_remark_action_asks_then_applies(logged_in, contract):
    gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(2)]
    ids = [g.pk for g in gaps]
    page = logged_in.post(URL, {"action": "add_remark", "_selected_action": ids})
    assert page.status_code == 200 and b"Add the same remark to 2 gaps" in page.content
    logged_in.post(
        URL, {"action": "add_remark", "_selected_action": ids, "apply": "1", "code": "patient-refused"}
    )
    assert GapRemark.objects.filter(code="patient-refused").count() == 2


def test_export_action_writes_csv(logged_in, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    response = logged_in.post(URL, {"action": "export_csv", "_selected_action": [gap.pk]})
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("member,member key,contract,measure,measure name")
    assert lines[1].startswith(f"{gap.member.pseudonym},{gap.member.id_hash},H1001,BCS,")


def test_analyst_reads_but_cannot_act(client, analyst, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    client.force_login(analyst)
    assert client.get(URL).status_code == 200
    client.post(URL, {"action": "assign_to_me", "_selected_action": [gap.pk]})
    gap.refresh_from_db()
    assert gap.assignee is None
    # The gap's own page, read-only: its workflow and assignee shown, nothing to submit.
    page = client.get(f"{URL}{gap.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="workflow_state"' not in text and 'name="assignee"' not in text
    assert "Workflow state:" in text and "New" in text


def test_record_intervention_action_bundles_per_member_and_reports_refusals(logged_in, contract):
    from interventions.models import Intervention
    from tests.factories import InterventionTypeFactory

    kind = InterventionTypeFactory()
    member = MemberFactory(contract=contract)
    gaps = [CareGapFactory(member=member, measure=measure(code)) for code in ("BCS", "COL")]
    ids = [g.pk for g in gaps]
    logged_in.post(
        URL,
        {
            "action": "record_intervention",
            "_selected_action": ids,
            "apply": "1",
            "intervention_type": kind.pk,
        },
    )
    intervention = Intervention.objects.get()
    assert sorted(intervention.gaps.values_list("pk", flat=True)) == sorted(ids)

    closed = CareGapFactory(
        member=member,
        measure=measure("CBP"),
        compliance_status="closed",
        evidence_date="2026-01-02",
        evidence_source="lab",
    )
    response = logged_in.post(
        URL,
        {
            "action": "record_intervention",
            "_selected_action": [closed.pk],
            "apply": "1",
            "intervention_type": kind.pk,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert Intervention.objects.count() == 1
    assert [m.level_tag for m in response.context["messages"]][-1] == "error"


def _change_form(**fields) -> dict:
    """A gap change form as posted: the gap read at version 1, no remarks, these fields set."""
    return {"expected_version": 1, "remarks-TOTAL_FORMS": 0, "remarks-INITIAL_FORMS": 0, **fields}

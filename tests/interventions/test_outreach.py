"""Outreach already done, recorded as done: the outcome table, the service's rules and the API."""

import re
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from gaps import workflow as gap_workflow
from gaps.models import CareGap
from interventions.models import OutreachGap, OutreachRecord
from interventions.services import outreach_records_create
from interventions.workflow import OUTCOME_STATES
from tests.conftest import query_count
from tests.interventions.conftest import closed_gap, open_gap

README = Path(__file__).resolve().parents[2] / "README.md"
URL = "/api/outreach-records/"


def _body(*gaps, outcome="scheduled", channel="call", contacted_on=None, note=""):
    day = contacted_on or timezone.localdate()
    return {
        "gaps": [{"id": gap.pk, "version": gap.version} for gap in gaps],
        "channel": channel,
        "outcome": outcome,
        "contacted_on": day.isoformat(),
        "note": note,
    }


def _fresh(gap) -> CareGap:
    return CareGap.objects.get(pk=gap.pk)


def _nothing_recorded(*gaps) -> None:
    assert not OutreachRecord.objects.exists()
    assert not OutreachGap.objects.exists()
    for gap in gaps:
        stored = _fresh(gap)
        assert (stored.workflow_state, stored.version, stored.last_outreach_at) == (
            gap.workflow_state,
            gap.version,
            gap.last_outreach_at,
        )


# --- The outcome table ---------------------------------------------------------------------


def test_outcome_table_is_exactly_this():
    """Adding, removing or changing an outcome's move fails here (and the README must follow)."""
    assert OUTCOME_STATES == {
        "reached": "outreach_attempted",
        "scheduled": "scheduled",
        "refused": "refused",
        "unable_to_reach": "outreach_attempted",
        "left_message": "outreach_attempted",
    }


def _readme_table(heading: str) -> list[list[str]]:
    """The rows (cells without backticks) of the first table after `heading` in the README."""
    text = README.read_text()
    section = text[text.index(heading) :]
    rows, started = [], False
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            started = True
            cells = [cell.strip().replace("`", "") for cell in line.strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # without the header


def test_readme_outcome_table_is_the_code_table():
    rows = _readme_table("### Recording outreach done")
    assert {outcome: state for outcome, state, *_ in rows} == OUTCOME_STATES


def test_readme_allowed_moves_table_is_the_workflow():
    rows = _readme_table("### Allowed workflow moves")
    documented = {
        state: {s for s in re.split(r",\s*", moves) if s and s != "none"} for state, moves, *_ in rows
    }
    assert documented == {state: set(targets) for state, targets in gap_workflow.TRANSITIONS.items()}


# --- Recording through the API ---------------------------------------------------------------


def test_care_manager_records_a_call_on_two_gaps_of_a_member(api, care_manager, member):
    new, assigned = open_gap(member, "EED"), open_gap(member, "KED", workflow_state="assigned")
    client = api(care_manager)
    response = client.post(URL, _body(new, assigned, note="Appointment booked"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    record = OutreachRecord.objects.get()
    assert (record.member, record.contract, record.recorded_by) == (member, member.contract, care_manager)
    assert (body["channel"], body["outcome"], body["note"]) == ("call", "scheduled", "Appointment booked")
    stored = {gap.pk: _fresh(gap) for gap in (new, assigned)}
    assert {pk: gap.workflow_state for pk, gap in stored.items()} == {
        new.pk: "scheduled",
        assigned.pk: "scheduled",
    }
    assert body["gaps"] == [
        {
            "gap": new.pk,
            "measure": "EED",
            "measurement_year": 2026,
            "state_before": "new",
            "state_after": "scheduled",
            "version": stored[new.pk].version,
        },
        {
            "gap": assigned.pk,
            "measure": "KED",
            "measurement_year": 2026,
            "state_before": "assigned",
            "state_after": "scheduled",
            "version": stored[assigned.pk].version,
        },
    ]
    assert all(gap.version > 1 for gap in stored.values())
    # Recorded today: the last outreach is the moment it was recorded.
    assert all(gap.last_outreach_at >= record.recorded_at - timedelta(seconds=5) for gap in stored.values())


def test_a_move_is_named_in_words(api, care_manager, member):
    gap = open_gap(member, "EED")
    assert api(care_manager).post(URL, _body(gap), format="json").status_code == 201
    assert str(OutreachGap.objects.get()) == f"{gap}: New → Scheduled"


def test_recording_is_audited_record_moves_and_gaps(api, care_manager, member):
    gaps = [open_gap(member, "EED"), open_gap(member, "KED")]
    assert api(care_manager).post(URL, _body(*gaps), format="json").status_code == 201
    record = OutreachRecord.objects.get()
    created = LogEntry.objects.get_for_model(OutreachRecord).get(object_pk=str(record.pk))
    assert (created.action, created.actor) == (LogEntry.Action.CREATE, care_manager)
    move_entries = LogEntry.objects.get_for_model(OutreachGap).filter(action=LogEntry.Action.CREATE)
    assert move_entries.count() == 2
    for gap in gaps:
        change = LogEntry.objects.get_for_model(CareGap).get(
            object_pk=str(gap.pk), action=LogEntry.Action.UPDATE
        )
        assert change.actor == care_manager
        assert change.changes_dict["workflow_state"] == ["new", "scheduled"]
    stamp = LogEntry.objects.get_for_model(CareGap).get(object_pk="batch")
    assert stamp.actor == care_manager
    assert stamp.additional_data["batch"] == {
        "count": 2,
        "field": "last_outreach_at",
        "outreach_record_ids": [record.pk],
    }


@pytest.mark.parametrize("outcome", sorted(OUTCOME_STATES))
def test_each_outcome_moves_an_assigned_gap_as_the_table_says(api, care_manager, member, outcome):
    gap = open_gap(member, workflow_state="assigned")
    response = api(care_manager).post(URL, _body(gap, outcome=outcome), format="json")
    assert response.status_code == 201, response.json()
    assert _fresh(gap).workflow_state == OUTCOME_STATES[outcome]


@pytest.mark.parametrize("outcome", sorted(OUTCOME_STATES))
@pytest.mark.parametrize("state", ["unable_to_reach", "refused"])
def test_a_member_reached_at_last_or_changing_her_mind_is_recorded_as_the_table_says(
    api, care_manager, member, state, outcome
):
    """Every outcome records from the two states a care manager leaves a gap in when outreach fails:
    a member who calls back and books is `scheduled`, not refused with the call unrecorded."""
    gap = open_gap(member, workflow_state=state)
    response = api(care_manager).post(URL, _body(gap, outcome=outcome), format="json")
    assert response.status_code == 201, response.json()
    assert _fresh(gap).workflow_state == OUTCOME_STATES[outcome]


def test_a_gap_already_in_the_outcomes_state_stays_and_the_outreach_is_recorded(api, care_manager, member):
    gap = open_gap(member, workflow_state="scheduled")
    response = api(care_manager).post(URL, _body(gap, outcome="scheduled"), format="json")
    assert response.status_code == 201
    assert (
        response.json()["gaps"][0]["state_before"] == response.json()["gaps"][0]["state_after"] == "scheduled"
    )
    assert _fresh(gap).last_outreach_at is not None


def test_a_move_the_workflow_forbids_refuses_that_gap_in_words_and_records_nothing(api, care_manager, member):
    fine, waiting = (
        open_gap(member, "EED", workflow_state="assigned"),
        open_gap(member, "KED", workflow_state="awaiting_data"),
    )
    response = api(care_manager).post(URL, _body(fine, waiting, outcome="refused"), format="json")
    assert response.status_code == 409
    assert response.json()["message"] == (
        "Nothing was recorded: outcome “Refused” would move "
        f"KED 2026 · {waiting.member.pseudonym} from Awaiting data "
        "to Refused, which the workflow does not allow (from Awaiting data: Outreach attempted, Scheduled)."
    )
    assert response.json()["extra"]["gap_ids"] == [waiting.pk]
    _nothing_recorded(fine, waiting)


def test_a_closed_gap_is_refused_in_words(api, care_manager, member):
    gap = closed_gap(member, "EED")
    response = api(care_manager).post(URL, _body(gap), format="json")
    assert response.status_code == 409
    assert (
        f"EED 2026 · {gap.member.pseudonym} is closed (numerator met): only open gaps are worked"
        in response.json()["message"]
    )
    _nothing_recorded(gap)


def test_a_future_date_is_refused(api, care_manager, member):
    gap = open_gap(member)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = api(care_manager).post(URL, _body(gap, contacted_on=tomorrow), format="json")
    assert response.status_code == 400
    assert (
        response.json()["message"] == "The outreach date is in the future; record outreach once it is done."
    )
    _nothing_recorded(gap)


def test_another_contracts_gap_is_404(api, care_manager, member, foreign_member):
    mine, foreign = open_gap(member), open_gap(foreign_member)
    response = api(care_manager).post(URL, _body(mine, foreign), format="json")
    assert response.status_code == 404
    assert response.json()["message"] == f"Gaps {foreign.pk} do not exist."
    _nothing_recorded(mine, foreign)


def test_a_stale_version_is_409_and_records_nothing(api, care_manager, member):
    current, stale = open_gap(member, "EED"), open_gap(member, "KED", version=3)
    body = _body(current, stale)
    body["gaps"][1]["version"] = 2
    response = api(care_manager).post(URL, body, format="json")
    assert response.status_code == 409
    assert response.json()["message"] == (
        f"KED 2026 · {stale.member.pseudonym} changed since you read it; reload and try again. "
        "Nothing was recorded."
    )
    assert response.json()["extra"]["current_versions"] == {str(stale.pk): 3}
    _nothing_recorded(current, stale)


def test_one_record_is_one_members(api, care_manager, member, other_member):
    gaps = [open_gap(member), open_gap(other_member)]
    response = api(care_manager).post(URL, _body(*gaps), format="json")
    assert response.status_code == 400
    assert "belong to different members" in response.json()["message"]
    _nothing_recorded(*gaps)


def test_an_analyst_may_read_but_not_record(api, analyst, member):
    gap = open_gap(member)
    client = api(analyst)
    assert client.post(URL, _body(gap), format="json").status_code == 403
    assert client.get(URL).status_code == 200
    _nothing_recorded(gap)


def test_a_past_day_stamps_its_noon_and_never_moves_last_outreach_back(api, care_manager, member):
    later = timezone.now() - timedelta(hours=1)
    untouched, recent = open_gap(member, "EED"), open_gap(member, "KED", last_outreach_at=later)
    day = timezone.localdate() - timedelta(days=3)
    response = api(care_manager).post(
        URL, _body(untouched, recent, outcome="left_message", contacted_on=day), format="json"
    )
    assert response.status_code == 201
    assert _fresh(untouched).last_outreach_at == timezone.make_aware(datetime.combine(day, time(12)))
    assert _fresh(recent).last_outreach_at == later


# --- Reading records -------------------------------------------------------------------------


def test_records_are_listed_per_contract_filtered_and_read_in_constant_queries(
    api, care_manager, administrator, member, foreign_member
):
    admin_client = api(administrator)
    for code in ["EED", "KED", "GSD"]:
        assert admin_client.post(URL, _body(open_gap(member, code)), format="json").status_code == 201
    foreign = open_gap(foreign_member)
    assert admin_client.post(URL, _body(foreign, outcome="refused"), format="json").status_code == 201
    client = api(care_manager)
    listed = client.get(URL).json()["results"]
    assert sorted(row["gaps"][0]["measure"] for row in listed) == ["EED", "GSD", "KED"]
    assert {row["contract"] for row in listed} == {member.contract.contract_id}
    assert client.get(URL, {"outcome": "refused"}).json()["results"] == []
    foreign_record = OutreachRecord.objects.get(member=foreign_member)
    assert client.get(f"{URL}{foreign_record.pk}/").status_code == 404
    few = query_count(lambda: client.get(URL))
    admin_client.post(URL, _body(open_gap(member, "COL"), open_gap(member, "CBP")), format="json")
    assert query_count(lambda: client.get(URL)) == few


# --- The admin's list of records ---------------------------------------------------------------

RECORDS = "/admin/interventions/outreachrecord/"


def _record(actor, *gaps, outcome="scheduled", channel="call"):
    (record,) = outreach_records_create(
        actor=actor,
        versions={gap.pk: gap.version for gap in gaps},
        channel=channel,
        outcome=outcome,
        contacted_on=timezone.localdate(),
    )
    return record


def test_admin_lists_the_contracts_records_with_their_moves_filtered(
    client, care_manager, administrator, member, foreign_member
):
    scheduled = _record(
        care_manager, open_gap(member, "EED"), open_gap(member, "KED", workflow_state="assigned")
    )
    refused = _record(care_manager, open_gap(member, "GSD"), outcome="refused", channel="letter")
    foreign = _record(administrator, open_gap(foreign_member, "EED"))
    client.force_login(care_manager)
    page = client.get(RECORDS)
    rows = {record.pk: record for record in page.context["cl"].result_list}
    assert set(rows) == {scheduled.pk, refused.pk}
    admin = page.context["cl"].model_admin
    assert admin.moves_made(rows[scheduled.pk]) == "EED: New → Scheduled; KED: Assigned → Scheduled"
    by_outcome = client.get(RECORDS, {"outcome": "refused"}).context["cl"].result_list
    assert [record.pk for record in by_outcome] == [refused.pk]
    by_channel = client.get(RECORDS, {"channel": "call"}).context["cl"].result_list
    assert [record.pk for record in by_channel] == [scheduled.pk]
    by_contract = client.get(RECORDS, {"contract": member.contract.contract_id}).context["cl"].result_list
    assert {record.pk for record in by_contract} == {scheduled.pk, refused.pk}
    assert client.get(f"{RECORDS}{foreign.pk}/change/").status_code == 302  # absent: back to the list
    few = query_count(lambda: client.get(RECORDS))
    _record(care_manager, open_gap(member, "COL"), open_gap(member, "CBP"), open_gap(member, "BCS"))
    assert query_count(lambda: client.get(RECORDS)) == few


def test_admin_records_are_read_only(client, care_manager, member):
    record = _record(care_manager, open_gap(member, "EED"))
    client.force_login(care_manager)
    assert client.get(f"{RECORDS}add/").status_code == 403
    page = client.get(f"{RECORDS}{record.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"{RECORDS}{record.pk}/change/", {"note": "changed"}).status_code == 403
    assert client.post(f"{RECORDS}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert OutreachRecord.objects.get().note == ""

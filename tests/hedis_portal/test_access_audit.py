"""Reads of member-level data are audited: one access entry per list page or export, one per object read.

Each entry says who (actor), what (model, view, filters), how many rows, and carries the request
ID as its `cid`. Search terms (which may be raw member IDs) are never recorded.
"""

import csv
import io

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from gaps.models import CareGap
from interventions.models import Intervention
from members.models import Member
from predictions.models import Prediction
from tests.factories import CareGapFactory, InterventionFactory, MemberFactory, PredictionFactory, measure

pytestmark = pytest.mark.django_db


def access_entries():
    return LogEntry.objects.filter(action=LogEntry.Action.ACCESS)


def the_access_entry(response, *, model, kind) -> dict:
    """The request's one access entry, checked for model, kind and request ID; its `access` data."""
    entry = access_entries().get()
    assert entry.content_type == ContentType.objects.get_for_model(model)
    assert entry.object_pk == kind
    assert entry.cid == response["X-Request-ID"]
    return entry


@pytest.fixture
def member(contract):
    return MemberFactory(contract=contract, raw_member_id="RAW-AUDIT-0001")


@pytest.fixture
def gaps(member):
    """Three gaps of one member of the care manager's contract."""
    return [CareGapFactory(member=member, measure=measure(code)) for code in ("BCS", "COL", "CBP")]


@pytest.fixture
def foreign_gap(other_contract):
    return CareGapFactory(member=MemberFactory(contract=other_contract))


# --- API lists -----------------------------------------------------------------------------


def test_member_list_is_one_access_entry_with_actor_filters_rows_and_cid(api, care_manager, contract):
    members = [MemberFactory(contract=contract) for _ in range(3)]
    response = api(care_manager).get("/api/members/?contract=H1001&sex=F&page_size=2")
    assert response.status_code == 200
    entry = the_access_entry(response, model=Member, kind="list")
    assert entry.actor == care_manager
    assert entry.remote_addr == "127.0.0.1"
    # The page size is no filter; the page shows the two newest members.
    assert entry.additional_data["access"] == {
        "view": "api/members/",
        "filters": {"contract": "H1001", "sex": "F"},
        "rows": 2,
        "ids": [members[2].pk, members[1].pk],
    }


def test_gap_list_by_member_is_audited_like_the_member_history(api, care_manager, member, gaps):
    """`?member=N` reads the same gaps as the audited member history: it is audited too."""
    url = f"/api/gaps/?member={member.pk}&workflow_state=new&workflow_state=scheduled"
    response = api(care_manager).get(url)
    assert len(response.json()["results"]) == 3
    access = the_access_entry(response, model=CareGap, kind="list").additional_data["access"]
    assert access["filters"] == {"member": str(member.pk), "workflow_state": ["new", "scheduled"]}
    assert (access["view"], access["rows"]) == ("api/gaps/", 3)
    assert sorted(access["ids"]) == sorted(gap.pk for gap in gaps)


def test_a_list_that_matches_nothing_is_still_audited(api, care_manager, foreign_gap):
    """Zero rows still tells the reader that nothing matched (here: not in their contracts)."""
    response = api(care_manager).get(f"/api/gaps/?member={foreign_gap.member_id}")
    assert response.json()["results"] == []
    access = the_access_entry(response, model=CareGap, kind="list").additional_data["access"]
    assert (access["filters"], access["rows"], access["ids"]) == (
        {"member": str(foreign_gap.member_id)},
        0,
        [],
    )


def test_each_page_of_a_list_is_its_own_entry(api, care_manager, gaps):
    client = api(care_manager)
    first = client.get("/api/gaps/?page_size=2").json()
    client.get(first["next"])
    rows = sorted(entry.additional_data["access"]["rows"] for entry in access_entries())
    assert rows == [1, 2]


def test_prediction_list_by_member_is_audited(api, care_manager, member):
    PredictionFactory(member=member)
    response = api(care_manager).get(f"/api/predictions/?member={member.pk}")
    access = the_access_entry(response, model=Prediction, kind="list").additional_data["access"]
    assert (access["view"], access["filters"], access["rows"]) == (
        "api/predictions/",
        {"member": str(member.pk)},
        1,
    )


def test_intervention_list_is_audited_even_when_empty(api, care_manager, member):
    response = api(care_manager).get("/api/interventions/?status=completed")
    assert response.json()["results"] == []
    access = the_access_entry(response, model=Intervention, kind="list").additional_data["access"]
    assert (access["view"], access["filters"], access["rows"]) == (
        "api/interventions/",
        {"status": "completed"},
        0,
    )


def test_anonymous_and_refused_requests_write_no_access_entry(api, care_manager, foreign_gap):
    assert api(None).get("/api/gaps/").status_code == 401
    assert api(care_manager).get(f"/api/gaps/{foreign_gap.pk}/").status_code == 404
    assert not access_entries().exists()


# --- API detail reads ----------------------------------------------------------------------


def test_gap_detail_read_is_an_access_entry_for_that_gap(api, care_manager, gaps):
    response = api(care_manager).get(f"/api/gaps/{gaps[0].pk}/")
    assert response.status_code == 200
    entry = access_entries().get()
    assert (entry.content_type.model_class(), entry.object_pk, entry.actor) == (
        CareGap,
        str(gaps[0].pk),
        care_manager,
    )
    assert entry.cid == response["X-Request-ID"]


# --- API export ----------------------------------------------------------------------------


def test_api_export_is_one_entry_with_the_rows_written_recorded_before_the_first_byte(
    api, care_manager, gaps, foreign_gap
):
    url = f"/api/gaps/export/?member={gaps[0].member_id}&workflow_state=new&workflow_state=scheduled"
    response = api(care_manager).get(url)
    # Committed before anything is streamed: a cut stream or a killed worker cannot lose it.
    entry = the_access_entry(response, model=CareGap, kind="export")
    assert entry.actor == care_manager
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3
    assert entry.additional_data["access"] == {
        "view": "api/gaps/export/",
        "filters": {"member": str(gaps[0].member_id), "workflow_state": ["new", "scheduled"]},
        "rows": 3,
    }
    assert access_entries().count() == 1


# --- Admin ---------------------------------------------------------------------------------


@pytest.fixture
def logged_in(client, care_manager):
    client.force_login(care_manager)
    return client


@pytest.mark.parametrize(
    ("url", "model"),
    [
        ("/admin/gaps/caregap/", CareGap),
        ("/admin/members/member/", Member),
        ("/admin/predictions/prediction/", Prediction),
        ("/admin/interventions/intervention/", Intervention),
    ],
)
def test_each_admin_changelist_page_is_one_access_entry(logged_in, care_manager, member, gaps, url, model):
    PredictionFactory(member=member)
    InterventionFactory(member=member)
    response = logged_in.get(url)
    assert response.status_code == 200
    entry = the_access_entry(response, model=model, kind="list")
    assert entry.actor == care_manager
    shown = list(response.context["cl"].result_list)
    assert entry.additional_data["access"] == {
        "view": url.removeprefix("/"),
        "filters": {},
        "rows": len(shown),
        "ids": [row.pk for row in shown],
    }
    assert len(shown) >= 1


def test_admin_changelist_records_filters_and_that_a_search_was_made_never_the_raw_id(
    logged_in, member, gaps
):
    url = "/admin/gaps/caregap/?measure=COL&workflow_state=new&o=2&q=RAW-AUDIT-0001"
    response = logged_in.get(url)
    assert [gap.pk for gap in response.context["cl"].result_list] == [gaps[1].pk]
    entry = the_access_entry(response, model=CareGap, kind="list")
    assert entry.additional_data["access"]["filters"] == {
        "measure": "COL",
        "workflow_state": "new",
        "search_used": True,
    }
    assert entry.additional_data["access"]["rows"] == 1
    assert "RAW-AUDIT-0001" not in str(list(LogEntry.objects.values()))


def test_admin_member_search_is_audited_without_the_term(logged_in, member):
    response = logged_in.get("/admin/members/member/?q=RAW-AUDIT-0001")
    access = the_access_entry(response, model=Member, kind="list").additional_data["access"]
    assert (access["filters"], access["rows"], access["ids"]) == ({"search_used": True}, 1, [member.pk])
    assert "RAW-AUDIT-0001" not in str(list(LogEntry.objects.values()))


def test_admin_change_page_is_not_also_recorded_as_a_list(logged_in, gaps):
    logged_in.get(f"/admin/gaps/caregap/{gaps[0].pk}/change/")
    assert list(access_entries().values_list("object_pk", flat=True)) == [str(gaps[0].pk)]


def test_admin_export_is_one_entry_with_the_rows_written(logged_in, care_manager, gaps, contract):
    CareGapFactory(member=MemberFactory(contract=contract))
    response = logged_in.post(
        "/admin/gaps/caregap/?measure=BCS",
        {"action": "export_csv", "_selected_action": [gaps[0].pk], "select_across": "1"},
    )
    written = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(written) == 2  # "select all": both BCS gaps of the filtered list
    entry = the_access_entry(response, model=CareGap, kind="export")
    assert entry.actor == care_manager
    assert entry.additional_data["access"] == {
        "view": "admin/gaps/caregap/",
        "filters": {"measure": "BCS", "selection": "all"},
        "rows": 2,
    }


def test_admin_export_of_ticked_gaps_counts_those(logged_in, gaps):
    response = logged_in.post(
        "/admin/gaps/caregap/", {"action": "export_csv", "_selected_action": [gaps[0].pk, gaps[2].pk]}
    )
    access = the_access_entry(response, model=CareGap, kind="export").additional_data["access"]
    assert (access["filters"], access["rows"]) == ({"selection": "ticked"}, 2)

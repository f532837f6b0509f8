"""The worklist API: scoping, filters, cursor pages, workflow actions, 409s, bulk, import, export."""

import csv
import io
import json

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from gaps.api import CareGapSerializer
from gaps.models import CareGap, GapRemark
from tests.conftest import finished_job, query_count
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, measure, point_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def gap(contract):
    return CareGapFactory(member=MemberFactory(contract=contract), priority_score=5)


@pytest.fixture
def other_gap(other_contract):
    return CareGapFactory(member=MemberFactory(contract=other_contract))


@pytest.mark.parametrize(
    ("persona", "list_status", "detail_status"),
    [
        ("care_manager", 200, 200),
        ("colleague", 200, 404),
        ("analyst", 200, 200),
        ("administrator", 200, 200),
        (None, 401, 401),
    ],
)
def test_worklist_status_by_persona(request, api, gap, persona, list_status, detail_status):
    client = api(request.getfixturevalue(persona) if persona else None)
    assert client.get("/api/gaps/").status_code == list_status
    assert client.get(f"/api/gaps/{gap.pk}/").status_code == detail_status


def test_worklist_shows_only_assigned_contracts(api, care_manager, gap, other_gap):
    ids = [row["id"] for row in api(care_manager).get("/api/gaps/").json()["results"]]
    assert ids == [gap.pk]


@pytest.mark.parametrize(
    ("persona", "assign", "remark"),
    [("care_manager", 200, 201), ("analyst", 403, 403), ("colleague", 404, 404), (None, 401, 401)],
)
def test_write_actions_by_persona(request, api, gap, persona, assign, remark):
    user = request.getfixturevalue(persona) if persona else None
    client = api(user)
    target = request.getfixturevalue("care_manager")
    assert (
        client.post(f"/api/gaps/{gap.pk}/assign/", {"assignee": target.pk, "version": 1}).status_code
        == assign
    )
    assert client.post(f"/api/gaps/{gap.pk}/remarks/", {"code": "patient-refused"}).status_code == remark


def test_worklist_row_has_prediction_and_workflow(api, care_manager, gap):
    prediction = PredictionFactory(member=gap.member, probability=0.73, risk_tier="high")
    point_at(gap, prediction)
    row = api(care_manager).get("/api/gaps/").json()["results"][0]
    assert row["measure"] == "BCS" and row["contract"] == "H1001"
    assert (row["closure_probability"], row["risk_tier"], row["workflow_state"], row["version"]) == (
        0.73,
        "high",
        "new",
        1,
    )


def test_worklist_rows_are_what_the_gap_serializer_says(api, care_manager, contract, gap):
    assigned = CareGapFactory(
        member=MemberFactory(contract=contract),
        measure=measure("CBP"),
        compliance_status="closed",
        evidence_date="2026-03-04",
        evidence_source="lab",
        assignee=care_manager,
        last_outreach_at="2026-02-01T10:11:12.345678Z",
        priority_score=0.125,
    )
    point_at(assigned, PredictionFactory(member=assigned.member, probability=0.61, risk_tier="medium"))
    rows = api(care_manager).get("/api/gaps/").json()["results"]
    expected = [
        json.loads(JSONRenderer().render(CareGapSerializer(g).data))
        for g in CareGap.objects.filter(pk__in=[gap.pk, assigned.pk]).order_by("-priority_score", "-id")
    ]
    assert rows == expected
    row = next(row for row in rows if row["id"] == assigned.pk)
    assert (row["assignee_username"], row["evidence_date"], row["risk_tier"]) == (
        "cm",
        "2026-03-04",
        "medium",
    )
    assert set(row) == set(CareGapSerializer.Meta.fields)


def test_worklist_page_is_three_queries_an_access_entry_and_a_log_entry(api, care_manager, contract, gap):
    """The token, the user's permissions and contracts (one query), the page; the page's audit
    access entry (one INSERT, whatever the page's length); then the request log entry."""
    tables = ["knox_authtoken", "members_contract_users", "gaps_caregap"]
    client = api(care_manager)
    ContentType.objects.get_for_model(CareGap)  # cached per process: the access entry's content type
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/gaps/?contract=H1001&measure=BCS&workflow_state=new")
    assert response.json()["results"][0]["id"] == gap.pk
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 5
    assert sorted(next(t for t in tables if t in sql) for sql in statements[:3]) == sorted(tables)
    assert "auth_permission" in next(sql for sql in statements if "members_contract_users" in sql)
    assert statements[3].startswith('INSERT INTO "auditlog_logentry"')
    assert "hedis_portal_apirequestlog" in statements[4]


def test_worklist_is_ordered_by_priority_and_cursor_paginated(api, care_manager, contract):
    for score in [1, 9, 5, 7]:
        CareGapFactory(member=MemberFactory(contract=contract), priority_score=score)
    client = api(care_manager)
    first = client.get("/api/gaps/?page_size=2").json()
    assert [r["priority_score"] for r in first["results"]] == [9, 7]
    assert "count" not in first and first["next"]
    second = client.get(first["next"]).json()
    assert [r["priority_score"] for r in second["results"]] == [5, 1]


def test_worklist_filters(api, care_manager, contract):
    member = MemberFactory(contract=contract)
    open_bcs = CareGapFactory(member=member, measure=measure("BCS"))
    CareGapFactory(member=member, measure=measure("COL"), workflow_state="scheduled", assignee=care_manager)
    CareGapFactory(
        member=member,
        measure=measure("CBP"),
        compliance_status="closed",
        evidence_date="2026-01-02",
        evidence_source="lab",
    )
    reached = CareGapFactory(member=MemberFactory(contract=contract), last_outreach_at="2026-02-01T00:00Z")
    high = PredictionFactory(member=member, risk_tier="high")
    point_at(open_bcs, high)
    client = api(care_manager)

    def ids(query):
        return {r["id"] for r in client.get(f"/api/gaps/?{query}").json()["results"]}

    assert ids("measure=bcs") == {open_bcs.pk, reached.pk}
    col = CareGap.objects.get(measure=measure("COL"))
    cbp = CareGap.objects.get(measure=measure("CBP"))
    assert ids("workflow_state=scheduled&workflow_state=new") == {open_bcs.pk, col.pk, cbp.pk, reached.pk}
    assert ids("workflow_state=scheduled") == {col.pk}
    assert ids("compliance_status=closed") == {cbp.pk}
    assert ids(f"assignee={care_manager.pk}") == {col.pk}
    assert ids("risk_tier=high") == {open_bcs.pk}
    assert reached.pk not in ids("no_outreach=true")
    assert ids("no_outreach=false") == {reached.pk}
    assert ids("contract=H1001&measurement_year=2025") == set()


def test_member_filter_does_not_tell_another_contracts_member_from_none(api, care_manager, gap, other_gap):
    client = api(care_manager)
    assert [r["id"] for r in client.get(f"/api/gaps/?member={gap.member_id}").json()["results"]] == [gap.pk]
    for member in (other_gap.member_id, 10**9):
        response = client.get(f"/api/gaps/?member={member}")
        assert (response.status_code, response.json()["results"]) == (200, [])


def test_worklist_query_count_is_constant_as_rows_grow(api, care_manager, contract):
    client = api(care_manager)
    for _ in range(3):
        gap = CareGapFactory(member=MemberFactory(contract=contract), assignee=care_manager)
        point_at(gap, PredictionFactory(member=gap.member))
    few = query_count(lambda: client.get("/api/gaps/?measure=BCS&workflow_state=new"))
    for _ in range(30):
        gap = CareGapFactory(member=MemberFactory(contract=contract), assignee=care_manager)
        point_at(gap, PredictionFactory(member=gap.member))
    assert query_count(lambda: client.get("/api/gaps/?measure=BCS&workflow_state=new")) == few


def test_assign_then_stale_update_is_a_409(api, care_manager, gap):
    client = api(care_manager)
    first = client.post(f"/api/gaps/{gap.pk}/assign/", {"assignee": care_manager.pk, "version": 1})
    assert first.status_code == 200
    assert (first.json()["workflow_state"], first.json()["version"]) == ("assigned", 2)
    stale = client.post(f"/api/gaps/{gap.pk}/transition/", {"workflow_state": "scheduled", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["extra"] == {"current_version": 2, "your_version": 1}
    gap.refresh_from_db()
    assert gap.workflow_state == "assigned"


def test_transition_rules_are_enforced_by_the_api(api, care_manager, gap):
    client = api(care_manager)
    # Not a state anyone moves a gap to: refused as a field error, like any value not in the schema.
    resolved = client.post(f"/api/gaps/{gap.pk}/transition/", {"workflow_state": "resolved", "version": 1})
    assert resolved.status_code == 400
    assert resolved.json()["extra"]["fields"]["workflow_state"] == ['"resolved" is not a valid choice.']
    ok = client.post(f"/api/gaps/{gap.pk}/transition/", {"workflow_state": "scheduled", "version": 1})
    assert ok.status_code == 200
    # A move the gap's current state does not allow conflicts with that state: 409.
    back = client.post(f"/api/gaps/{gap.pk}/transition/", {"workflow_state": "assigned", "version": 2})
    assert back.status_code == 409
    assert back.json()["extra"]["fields"]["workflow_state"]


def test_assignee_must_work_the_gaps_contract(api, care_manager, colleague, gap):
    response = api(care_manager).post(f"/api/gaps/{gap.pk}/assign/", {"assignee": colleague.pk, "version": 1})
    assert response.status_code == 400
    assert "assignee" in response.json()["extra"]["fields"]


def test_gap_writes_are_audited_with_the_actor(api, care_manager, gap):
    client = api(care_manager)
    client.post(f"/api/gaps/{gap.pk}/assign/", {"assignee": care_manager.pk, "version": 1})
    client.post(f"/api/gaps/{gap.pk}/remarks/", {"code": "satisfied-in-EHR", "note": "chart review"})
    update = LogEntry.objects.get_for_object(gap).get(action=LogEntry.Action.UPDATE)
    assert update.actor == care_manager
    assert update.changes["workflow_state"] == ["new", "assigned"]
    remark = GapRemark.objects.get()
    assert (remark.author, remark.code) == (care_manager, "satisfied-in-EHR")
    assert LogEntry.objects.get_for_object(remark).get().actor == care_manager


def test_remark_never_changes_compliance(api, care_manager, gap):
    api(care_manager).post(f"/api/gaps/{gap.pk}/remarks/", {"code": "satisfied-in-EHR"})
    gap.refresh_from_db()
    assert (gap.compliance_status, gap.version) == ("open", 1)


def test_bulk_actions(api, care_manager, contract):
    gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(3)]
    ids = [g.pk for g in gaps]
    CareGap.objects.filter(pk=ids[2]).update(workflow_state="awaiting_data")
    client = api(care_manager)
    assert client.post("/api/gaps/bulk-assign/", {"gaps": ids, "assignee": care_manager.pk}).json() == {
        "changed": 3
    }
    moved = client.post("/api/gaps/bulk-transition/", {"gaps": ids, "workflow_state": "unable_to_reach"})
    assert moved.json() == {"changed": 2, "skipped": 1}
    assert client.post("/api/gaps/bulk-remark/", {"gaps": ids, "code": "unable-to-contact"}).json() == {
        "created": 3
    }
    assert set(CareGap.objects.values_list("workflow_state", flat=True)) == {
        "unable_to_reach",
        "awaiting_data",
    }
    batches = LogEntry.objects.filter(object_pk="batch").order_by("timestamp")
    assert [b.actor for b in batches] == [care_manager] * 3


def test_bulk_action_with_another_contracts_gap_is_404_and_changes_nothing(api, care_manager, gap, other_gap):
    response = api(care_manager).post(
        "/api/gaps/bulk-assign/", {"gaps": [gap.pk, other_gap.pk], "assignee": None}
    )
    assert response.status_code == 404
    assert CareGap.objects.filter(version=1).count() == 2


def test_bulk_size_is_limited(api, care_manager):
    response = api(care_manager).post(
        "/api/gaps/bulk-assign/", {"gaps": list(range(1, 1002)), "assignee": None}
    )
    assert response.status_code == 400


def _upload(text: str):
    return SimpleUploadedFile("gaps.csv", text.encode(), content_type="text/csv")


@pytest.mark.parametrize(
    ("persona", "expected"), [("administrator", 202), ("care_manager", 403), ("analyst", 403)]
)
def test_import_through_the_api(request, api, contract, run_jobs, persona, expected):
    client = api(request.getfixturevalue(persona))
    body = {
        "file": _upload("member_id,measure,compliance_status,birth_year\nM-1,BCS,open,1950\n"),
        "contract": "H1001",
        "measurement_year": 2026,
    }
    with run_jobs():
        response = client.post("/api/gaps/import/", body, format="multipart")
    assert response.status_code == expected
    if expected == 202:
        assert finished_job(client, response)["result"]["gaps_created"] == 1


def test_import_rejection_lists_rows(api, administrator, contract):
    body = {
        "file": _upload("member_id,measure,compliance_status,birth_year\nM-1,BCS,nope,1950\n"),
        "contract": "H1001",
        "measurement_year": 2026,
    }
    response = api(administrator).post("/api/gaps/import/", body, format="multipart")
    assert response.status_code == 400
    assert response.json()["extra"]["errors"][0]["line"] == 2


def test_import_into_an_unassigned_contract_is_404(api, contract):
    from hedis_portal import roles
    from tests.factories import ContractFactory, UserFactory

    admin_elsewhere = UserFactory(role=roles.ADMINISTRATOR, contracts=[ContractFactory(contract_id="H3001")])
    body = {
        "file": _upload("member_id,measure,compliance_status\n"),
        "contract": "H1001",
        "measurement_year": 2026,
    }
    assert api(admin_elsewhere).post("/api/gaps/import/", body, format="multipart").status_code == 404


def test_oversize_import_is_413(api, administrator, contract, settings):
    settings.GAP_IMPORT_MAX_BYTES = 10
    body = {
        "file": _upload("member_id,measure,compliance_status\n"),
        "contract": "H1001",
        "measurement_year": 2026,
    }
    response = api(administrator).post("/api/gaps/import/", body, format="multipart")
    assert response.status_code == 413
    assert set(response.json()) == {"message", "extra"}


def test_csv_export_follows_the_filters_and_scope(api, care_manager, contract, gap, other_gap):
    CareGapFactory(member=MemberFactory(contract=contract), measure=measure("COL"))
    response = api(care_manager).get("/api/gaps/export/?measure=BCS")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["member key"], r["measure"], r["contract"]) for r in rows] == [
        (gap.member.id_hash, "BCS", "H1001")
    ]


def test_gap_detail_includes_remarks(api, care_manager, gap):
    GapRemark.objects.create(gap=gap, code="patient-refused", note="", author=care_manager)
    detail = api(care_manager).get(f"/api/gaps/{gap.pk}/").json()
    assert [(r["code"], r["author"]) for r in detail["remarks"]] == [("patient-refused", "cm")]

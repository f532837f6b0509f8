"""Interventions through the API: every persona on every endpoint, scoping, workflow, audit, queries."""

from types import SimpleNamespace

import pytest
from auditlog.models import LogEntry

from gaps.models import CareGap
from interventions.models import Intervention, InterventionGap, InterventionType
from tests.conftest import query_count
from tests.factories import InterventionTypeFactory, MemberFactory
from tests.interventions.conftest import closed_gap, intervention_with_gaps, open_gap

pytestmark = pytest.mark.django_db

PERSONAS = ["care_manager", "colleague", "analyst", "administrator", None]


@pytest.fixture
def world(member, home_visit):
    """One member of H1001 with a proposed, an approved and a completed intervention, and a free gap."""
    return SimpleNamespace(
        member=member,
        intervention_type=home_visit,
        proposed=intervention_with_gaps(
            member=member, gaps=[open_gap(member, "EED")], intervention_type=home_visit
        ),
        approved=intervention_with_gaps(
            member=member, gaps=[open_gap(member, "KED")], intervention_type=home_visit, status="approved"
        ),
        completed=intervention_with_gaps(
            member=member, gaps=[open_gap(member, "GSD")], intervention_type=home_visit, status="completed"
        ),
        free_gap=open_gap(member, "COL"),
    )


def _call(client, endpoint: str, world):
    """Send the request an endpoint of the persona table stands for."""
    w = world
    requests = {
        "types: list": lambda: client.get("/api/intervention-types/"),
        "types: detail": lambda: client.get(f"/api/intervention-types/{w.intervention_type.pk}/"),
        "types: create": lambda: client.post(
            "/api/intervention-types/",
            {"name": "Text reminder", "channel": "text", "unit_cost": "0.40", "uplifts": []},
        ),
        "types: update": lambda: client.patch(
            f"/api/intervention-types/{w.intervention_type.pk}/", {"unit_cost": "160.00"}
        ),
        "list": lambda: client.get("/api/interventions/"),
        "detail": lambda: client.get(f"/api/interventions/{w.proposed.pk}/"),
        "create": lambda: client.post(
            "/api/interventions/",
            {"member": w.member.pk, "intervention_type": w.intervention_type.pk, "gaps": [w.free_gap.pk]},
        ),
        "bulk": lambda: client.post(
            "/api/interventions/bulk/",
            {"gaps": [w.free_gap.pk], "intervention_type": w.intervention_type.pk},
        ),
        "approve": lambda: client.post(
            f"/api/interventions/{w.proposed.pk}/transition/", {"status": "approved", "version": 1}
        ),
        "schedule": lambda: client.post(
            f"/api/interventions/{w.approved.pk}/transition/", {"status": "scheduled", "version": 1}
        ),
        "outcomes": lambda: client.post(
            f"/api/interventions/{w.completed.pk}/outcomes/",
            {"outcomes": {str(w.completed.gaps.get().pk): "closed"}},
        ),
    }
    return requests[endpoint]()


# Expected status per persona: care manager, colleague (other contract), analyst, administrator, anonymous.
STATUS_TABLE = {
    "types: list": (200, 200, 200, 200, 401),
    "types: detail": (200, 200, 200, 200, 401),
    "types: create": (403, 403, 403, 201, 401),
    "types: update": (403, 403, 403, 200, 401),
    "list": (200, 200, 200, 200, 401),
    "detail": (200, 404, 200, 200, 401),
    # A member or gap of another contract is refused exactly like one that does not exist (404).
    # Analysts may propose (an optimizer plan is theirs to act on); proposals await approval.
    "create": (201, 404, 201, 201, 401),
    "bulk": (201, 404, 201, 201, 401),
    "approve": (403, 404, 200, 200, 401),
    "schedule": (200, 404, 403, 200, 401),
    "outcomes": (200, 404, 403, 200, 401),
}


@pytest.mark.parametrize(
    ("endpoint", "persona", "expected"),
    [
        (endpoint, persona, status)
        for endpoint, statuses in STATUS_TABLE.items()
        for persona, status in zip(PERSONAS, statuses, strict=True)
    ],
)
def test_status_by_persona(request, api, world, endpoint, persona, expected):
    user = request.getfixturevalue(persona) if persona else None
    response = _call(api(user), endpoint, world)
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert set(response.json()) == {"message", "extra"}


# --- Reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected_contracts"),
    [("care_manager", ["H1001"]), ("colleague", ["H1002"]), ("administrator", ["H1001", "H1002"])],
)
def test_list_shows_only_assigned_contracts(
    request, api, member, foreign_member, persona, expected_contracts
):
    intervention_with_gaps(member=member, gaps=[open_gap(member)])
    intervention_with_gaps(member=foreign_member, gaps=[open_gap(foreign_member)])
    response = api(request.getfixturevalue(persona)).get("/api/interventions/")
    assert sorted({i["contract"] for i in response.json()["results"]}) == expected_contracts


def test_detail_shows_covered_gaps_with_outcomes_and_no_identifiers(api, care_manager, member, home_visit):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    intervention = intervention_with_gaps(
        member=member, gaps=[eed, ked], intervention_type=home_visit, status="completed"
    )
    InterventionGap.objects.filter(gap=eed).update(outcome="closed")
    body = api(care_manager).get(f"/api/interventions/{intervention.pk}/").json()
    assert body["member"] == member.pk
    assert (body["contract"], body["channel"], body["status"], body["cost"]) == (
        "H1001",
        "home_visit",
        "completed",
        "150.00",
    )
    assert body["gaps"] == [
        {
            "gap": eed.pk,
            "measure": "EED",
            "measurement_year": 2026,
            "compliance_status": "open",
            "outcome": "closed",
        },
        {
            "gap": ked.pk,
            "measure": "KED",
            "measurement_year": 2026,
            "compliance_status": "open",
            "outcome": "pending",
        },
    ]
    assert member.id_hash not in str(body)


def test_reading_interventions_is_audited_as_access(api, care_manager, world):
    client = api(care_manager)
    client.get(f"/api/interventions/{world.proposed.pk}/")
    detail = LogEntry.objects.get(action=LogEntry.Action.ACCESS, object_pk=str(world.proposed.pk))
    assert detail.actor == care_manager
    client.get("/api/interventions/")
    listed = LogEntry.objects.get(action=LogEntry.Action.ACCESS, object_pk="list")
    assert listed.actor == care_manager
    assert sorted(listed.additional_data["access"]["ids"]) == sorted(
        [world.proposed.pk, world.approved.pk, world.completed.pk]
    )


def test_list_filters(api, care_manager, member, other_member, home_visit):
    call = InterventionTypeFactory(name="Call", channel="phone")
    by_visit = intervention_with_gaps(member=member, intervention_type=home_visit, status="approved")
    by_call = intervention_with_gaps(member=other_member, intervention_type=call)
    client = api(care_manager)

    def ids(query: str) -> list[int]:
        return sorted(i["id"] for i in client.get(f"/api/interventions/?{query}").json()["results"])

    assert ids("status=approved") == [by_visit.pk]
    assert ids("status=approved&status=proposed") == sorted([by_visit.pk, by_call.pk])
    assert ids(f"member={other_member.pk}") == [by_call.pk]
    assert ids("channel=phone") == [by_call.pk]
    assert ids(f"intervention_type={home_visit.pk}") == [by_visit.pk]
    assert ids("contract=H1001") == sorted([by_visit.pk, by_call.pk])
    assert ids("contract=H1002") == []
    assert ids("created_after=2000-01-01") == sorted([by_visit.pk, by_call.pk])
    assert ids("created_before=2000-01-01") == []


def test_intervention_list_query_count_does_not_grow_with_rows(api, care_manager, contract, home_visit):
    def add(count: int) -> None:
        for _ in range(count):
            owner = MemberFactory(contract=contract)
            intervention_with_gaps(
                member=owner,
                gaps=[open_gap(owner, "EED"), open_gap(owner, "KED")],
                intervention_type=home_visit,
            )

    client = api(care_manager)
    add(3)
    client.get("/api/interventions/")  # warm the content-type and permission caches
    with_three = query_count(lambda: client.get("/api/interventions/"))
    add(30)
    assert query_count(lambda: client.get("/api/interventions/")) == with_three
    results = client.get("/api/interventions/").json()["results"]
    assert len(results) == 33
    assert all(len(i["gaps"]) == 2 for i in results)


def test_type_list_query_count_does_not_grow_with_rows(api, analyst, home_visit):
    client = api(analyst)
    client.get("/api/intervention-types/")
    with_one = query_count(lambda: client.get("/api/intervention-types/"))
    for n in range(10):
        visit = InterventionTypeFactory(name=f"Visit {n}")
        visit.uplifts.create(measure=home_visit.uplifts.first().measure, uplift=0.1)
    assert query_count(lambda: client.get("/api/intervention-types/")) == with_one
    assert len(client.get("/api/intervention-types/").json()["results"]) == 11


# --- Proposing -----------------------------------------------------------------------------


def test_create_proposes_and_is_audited_with_the_token_user(api, care_manager, member, home_visit):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    response = api(care_manager).post(
        "/api/interventions/",
        {
            "member": member.pk,
            "intervention_type": home_visit.pk,
            "gaps": [eed.pk, ked.pk],
            "notes": "Evening visit preferred",
            "scheduled_for": "2026-06-01",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["cost"], body["created_by"], body["scheduled_for"], body["version"]) == (
        "proposed",
        "150.00",
        "cm",
        "2026-06-01",
        1,
    )
    assert [g["gap"] for g in body["gaps"]] == [eed.pk, ked.pk]
    created = Intervention.objects.get()
    entry = LogEntry.objects.get_for_object(created).get(action=LogEntry.Action.CREATE)
    assert entry.actor == care_manager


def test_create_for_other_contracts_member_reads_like_a_missing_member(api, care_manager, foreign_member):
    client = api(care_manager)
    visit = InterventionTypeFactory()

    def refusal(member_pk: int) -> list[str]:
        response = client.post(
            "/api/interventions/", {"member": member_pk, "intervention_type": visit.pk, "gaps": []}
        )
        assert response.status_code == 400
        return response.json()["extra"]["fields"]["member"]

    missing_pk = foreign_member.pk + 1000
    assert refusal(foreign_member.pk) == [f'Invalid pk "{foreign_member.pk}" - object does not exist.']
    assert refusal(missing_pk) == [f'Invalid pk "{missing_pk}" - object does not exist.']


def test_create_with_other_contracts_gap_reads_like_a_missing_gap(api, care_manager, member, foreign_member):
    foreign = open_gap(foreign_member)
    response = api(care_manager).post(
        "/api/interventions/",
        {"member": member.pk, "intervention_type": InterventionTypeFactory().pk, "gaps": [foreign.pk]},
    )
    assert response.status_code == 404
    assert response.json()["extra"]["fields"]["gaps"] == [f"Gaps {foreign.pk} do not exist."]
    assert not Intervention.objects.exists()


@pytest.mark.parametrize("problem", ["another member's gap", "closed gap"])
def test_create_refusals_name_the_gaps(api, care_manager, member, other_member, home_visit, problem):
    gap = {
        "another member's gap": lambda: open_gap(other_member),
        "closed gap": lambda: closed_gap(member),
    }[problem]()
    response = api(care_manager).post(
        "/api/interventions/", {"member": member.pk, "intervention_type": home_visit.pk, "gaps": [gap.pk]}
    )
    assert response.status_code == 400
    assert response.json()["extra"]["gap_ids"] == [gap.pk]
    assert str(gap.pk) in response.json()["message"]


def test_create_without_gaps_is_a_field_error(api, care_manager, member, home_visit):
    response = api(care_manager).post(
        "/api/interventions/", {"member": member.pk, "intervention_type": home_visit.pk, "gaps": []}
    )
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["gaps"] == ["Ensure this field has at least 1 elements."]


def test_bulk_makes_one_intervention_per_member(api, care_manager, member, other_member, home_visit):
    eed, ked, gsd = open_gap(member, "EED"), open_gap(member, "KED"), open_gap(other_member, "GSD")
    response = api(care_manager).post(
        "/api/interventions/bulk/",
        {"gaps": [eed.pk, ked.pk, gsd.pk], "intervention_type": home_visit.pk, "notes": "spring"},
    )
    assert response.status_code == 201
    bundles = {i["member"]: sorted(g["gap"] for g in i["gaps"]) for i in response.json()}
    assert bundles == {member.pk: sorted([eed.pk, ked.pk]), other_member.pk: [gsd.pk]}
    entry = LogEntry.objects.get_for_model(Intervention).get(object_pk="batch")
    assert (entry.action, entry.actor, entry.additional_data["batch"]["count"]) == (
        LogEntry.Action.CREATE,
        care_manager,
        2,
    )


def test_bulk_refuses_another_contracts_gap_without_revealing_it(api, care_manager, member, foreign_member):
    own, foreign = open_gap(member), open_gap(foreign_member)
    response = api(care_manager).post(
        "/api/interventions/bulk/",
        {"gaps": [own.pk, foreign.pk], "intervention_type": InterventionTypeFactory().pk},
    )
    assert response.status_code == 404
    assert response.json()["extra"]["fields"]["gaps"] == [f"Gaps {foreign.pk} do not exist."]
    assert not Intervention.objects.exists()


def test_bulk_query_count_is_the_same_for_5_or_50_gaps(api, care_manager, contract, home_visit):
    client = api(care_manager)

    def gaps(count: int) -> list[int]:
        return [open_gap(MemberFactory(contract=contract)).pk for _ in range(count)]

    def bulk(gap_ids):
        return lambda: client.post(
            "/api/interventions/bulk/", {"gaps": gap_ids, "intervention_type": home_visit.pk}
        )

    bulk(gaps(2))()  # warm the content-type and permission caches
    assert query_count(bulk(gaps(5))) == query_count(bulk(gaps(50)))
    assert Intervention.objects.count() == 57


# --- The workflow --------------------------------------------------------------------------


def test_transition_returns_the_new_state_and_is_audited_with_the_actor(api, analyst, world):
    response = api(analyst).post(
        f"/api/interventions/{world.proposed.pk}/transition/", {"status": "approved", "version": 1}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["version"], body["approved_by"]) == ("approved", 2, "analyst")
    entry = LogEntry.objects.get_for_object(world.proposed).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == analyst
    assert entry.changes["status"] == ["proposed", "approved"]


def test_bad_transition_is_409_naming_both_statuses(api, care_manager, world):
    response = api(care_manager).post(
        f"/api/interventions/{world.completed.pk}/transition/", {"status": "scheduled", "version": 1}
    )
    assert response.status_code == 409
    body = response.json()
    assert body["message"] == "An intervention cannot go from completed to scheduled."
    assert (body["extra"]["from_status"], body["extra"]["to_status"]) == ("completed", "scheduled")


def test_approving_without_permission_is_403(api, care_manager, world):
    response = api(care_manager).post(
        f"/api/interventions/{world.proposed.pk}/transition/", {"status": "approved", "version": 1}
    )
    assert response.status_code == 403
    assert response.json() == {
        "message": "Approving an intervention needs the approve permission.",
        "extra": {},
    }
    assert Intervention.objects.get(pk=world.proposed.pk).status == "proposed"


def test_stale_version_is_409(api, care_manager, world):
    client = api(care_manager)
    url = f"/api/interventions/{world.approved.pk}/transition/"
    assert client.post(url, {"status": "scheduled", "version": 1}).status_code == 200
    response = client.post(url, {"status": "completed", "version": 1})
    assert response.status_code == 409
    assert response.json()["extra"] == {"current_version": 2, "your_version": 1}
    assert Intervention.objects.get(pk=world.approved.pk).status == "scheduled"


def test_unknown_status_is_a_field_error(api, care_manager, world):
    response = api(care_manager).post(
        f"/api/interventions/{world.approved.pk}/transition/", {"status": "done", "version": 1}
    )
    assert response.status_code == 400
    assert "status" in response.json()["extra"]["fields"]


def test_completing_through_the_api_stamps_outreach_but_leaves_gaps_open(api, care_manager, world):
    api(care_manager).post(
        f"/api/interventions/{world.approved.pk}/transition/", {"status": "completed", "version": 1}
    )
    gap = world.approved.gaps.get()
    assert gap.compliance_status == "open"
    assert gap.last_outreach_at is not None
    stamp = LogEntry.objects.get_for_model(CareGap).get(object_pk="batch")
    assert stamp.actor == care_manager


# --- Outcomes ------------------------------------------------------------------------------


def test_outcomes_are_recorded_and_shown(api, care_manager, world):
    gap = world.completed.gaps.get()
    response = api(care_manager).post(
        f"/api/interventions/{world.completed.pk}/outcomes/", {"outcomes": {str(gap.pk): "not_closed"}}
    )
    assert response.status_code == 200
    assert response.json()["gaps"][0]["outcome"] == "not_closed"
    entry = LogEntry.objects.get_for_model(InterventionGap).get(action=LogEntry.Action.UPDATE)
    assert entry.actor == care_manager


@pytest.mark.parametrize("outcomes", [{"abc": "closed"}, {"1": "perhaps"}, {}])
def test_malformed_outcomes_are_400(api, care_manager, world, outcomes):
    response = api(care_manager).post(
        f"/api/interventions/{world.completed.pk}/outcomes/", {"outcomes": outcomes}
    )
    assert response.status_code == 400
    assert "outcomes" in response.json()["extra"]["fields"]


def test_outcomes_for_an_uncovered_gap_are_400(api, care_manager, world):
    response = api(care_manager).post(
        f"/api/interventions/{world.completed.pk}/outcomes/", {"outcomes": {str(world.free_gap.pk): "closed"}}
    )
    assert response.status_code == 400
    assert response.json()["extra"]["gap_ids"] == [world.free_gap.pk]


# --- The catalog ---------------------------------------------------------------------------


def test_types_show_uplifts_nested(api, care_manager, home_visit):
    body = api(care_manager).get(f"/api/intervention-types/{home_visit.pk}/").json()
    assert body["uplifts"] == [
        {"measure": "EED", "uplift": 0.2},
        {"measure": "GSD", "uplift": 0.1},
        {"measure": "KED", "uplift": 0.25},
    ]
    assert (body["channel"], body["unit_cost"], body["capacity"], body["active"]) == (
        "home_visit",
        "150.00",
        None,
        True,
    )


def test_administrator_creates_a_type_with_uplifts(api, administrator):
    response = api(administrator).post(
        "/api/intervention-types/",
        {
            "name": "Pharmacy call",
            "channel": "pharmacy",
            "unit_cost": "12.50",
            "capacity": 5000,
            "uplifts": [{"measure": "ADH-STATIN", "uplift": 0.15}, {"measure": "SPC", "uplift": 0.05}],
        },
    )
    assert response.status_code == 201
    assert response.json()["uplifts"] == [
        {"measure": "ADH-STATIN", "uplift": 0.15},
        {"measure": "SPC", "uplift": 0.05},
    ]
    created = InterventionType.objects.get(name="Pharmacy call")
    assert LogEntry.objects.get_for_object(created).get().actor == administrator


@pytest.mark.parametrize(
    "uplifts",
    [
        [{"measure": "BCS", "uplift": 1.5}],
        [{"measure": "BCS", "uplift": -0.1}],
        [{"measure": "BCS", "uplift": 0.1}, {"measure": "BCS", "uplift": 0.2}],
        # A measure code that names no measure reads like any missing object: 404.
        [{"measure": "NOPE", "uplift": 0.1}],
    ],
)
def test_bad_uplifts_are_field_errors(api, administrator, uplifts):
    response = api(administrator).post(
        "/api/intervention-types/",
        {"name": "Mailer", "channel": "mail", "unit_cost": "1.00", "uplifts": uplifts},
    )
    assert response.status_code == (404 if uplifts[0]["measure"] == "NOPE" else 400)
    assert "uplifts" in response.json()["extra"]["fields"]
    assert not InterventionType.objects.filter(name="Mailer").exists()


def test_administrator_updates_a_type_and_replaces_its_uplifts(api, administrator, home_visit):
    response = api(administrator).patch(
        f"/api/intervention-types/{home_visit.pk}/",
        {"unit_cost": "160.00", "uplifts": [{"measure": "COA-MR", "uplift": 0.3}]},
    )
    assert response.status_code == 200
    assert response.json()["uplifts"] == [{"measure": "COA-MR", "uplift": 0.3}]
    home_visit.refresh_from_db()
    assert str(home_visit.unit_cost) == "160.00"


def test_schema_documents_every_intervention_endpoint(api, administrator):
    paths = api(administrator).get("/api/schema/?format=json").json()["paths"]
    for path in [
        "/api/intervention-types/",
        "/api/intervention-types/{id}/",
        "/api/interventions/",
        "/api/interventions/{id}/",
        "/api/interventions/bulk/",
        "/api/interventions/{id}/transition/",
        "/api/interventions/{id}/outcomes/",
    ]:
        assert path in paths
    transition = paths["/api/interventions/{id}/transition/"]["post"]
    assert transition["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TransitionRequest"
    )

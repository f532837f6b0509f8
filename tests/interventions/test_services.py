"""Intervention services: the catalog, proposals and bundles, the workflow, outreach stamps, outcomes."""

from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gaps.models import CareGap
from hedis_portal.errors import ApplicationError, ConflictError
from interventions import services
from interventions.models import Intervention, InterventionGap, InterventionType
from interventions.workflow import InvalidTransition
from tests.conftest import query_count
from tests.factories import InterventionTypeFactory, MemberFactory, measure
from tests.interventions.conftest import closed_gap, intervention_with_gaps, open_gap
from tests.interventions.test_workflow import ALLOWED, FORBIDDEN

pytestmark = pytest.mark.django_db


# --- The catalog ---------------------------------------------------------------------------


def test_intervention_type_create_stores_uplifts_per_measure():
    created = services.intervention_type_create(
        name="Pharmacy call",
        channel="pharmacy",
        unit_cost=Decimal("12.50"),
        capacity=4000,
        uplifts={measure("ADH-DIAB"): 0.12, measure("ADH-STATIN"): 0.08},
    )
    assert (created.channel, created.unit_cost, created.capacity, created.active) == (
        "pharmacy",
        Decimal("12.50"),
        4000,
        True,
    )
    assert {u.measure.code: u.uplift for u in created.uplifts.all()} == {"ADH-DIAB": 0.12, "ADH-STATIN": 0.08}


@pytest.mark.parametrize("uplift", [-0.01, 1.5])
def test_uplift_outside_0_to_1_is_refused_naming_the_measure(uplift):
    with pytest.raises(ValidationError) as refused:
        services.intervention_type_create(
            name="Mailer", channel="mail", unit_cost=Decimal("2"), uplifts={measure("COL"): uplift}
        )
    assert "COL" in refused.value.message_dict["uplifts"][0]
    assert not InterventionType.objects.filter(name="Mailer").exists()


def test_uplift_on_a_contract_level_measure_is_refused():
    survey_measure = measure("BCS").__class__.objects.filter(member_level=False).first()
    with pytest.raises(ValidationError, match="member-level"):
        services.intervention_type_create(
            name="Survey nudge", channel="mail", unit_cost=Decimal("1"), uplifts={survey_measure: 0.1}
        )


def test_negative_unit_cost_is_refused():
    with pytest.raises(ValidationError) as refused:
        services.intervention_type_create(name="Free", channel="text", unit_cost=Decimal("-1"), uplifts={})
    assert "unit_cost" in refused.value.message_dict


def test_intervention_type_update_replaces_the_uplifts(home_visit):
    services.intervention_type_update(
        intervention_type=home_visit,
        unit_cost=Decimal("175.00"),
        uplifts={measure("EED"): 0.3, measure("KED"): 0.25, measure("COA-MR"): 0.4},
    )
    home_visit.refresh_from_db()
    assert home_visit.unit_cost == Decimal("175.00")
    assert {u.measure.code: u.uplift for u in home_visit.uplifts.all()} == {
        "COA-MR": 0.4,
        "EED": 0.3,
        "KED": 0.25,
    }


def test_intervention_type_update_without_uplifts_keeps_them(home_visit):
    services.intervention_type_update(intervention_type=home_visit, active=False)
    assert home_visit.uplifts.count() == 3
    assert InterventionType.objects.get(pk=home_visit.pk).active is False


def test_intervention_type_update_refuses_unknown_fields(home_visit):
    with pytest.raises(TypeError, match="colour"):
        services.intervention_type_update(intervention_type=home_visit, colour="blue")


def test_intervention_type_update_may_change_the_catalog_attributes():
    assert services.INTERVENTION_TYPE_UPDATE_FIELDS == ("name", "channel", "unit_cost", "capacity", "active")


def test_intervention_type_update_writes_only_what_changed(home_visit):
    home_visit.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        services.intervention_type_update(
            intervention_type=home_visit, name="Home visit", unit_cost=Decimal("150.00"), capacity=250
        )
    updates = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and '"capacity"' in updates[0]
    assert '"name"' not in updates[0] and '"unit_cost"' not in updates[0]
    assert InterventionType.objects.get(pk=home_visit.pk).capacity == 250


def test_intervention_type_update_with_the_same_values_saves_nothing(home_visit):
    home_visit.refresh_from_db()
    with CaptureQueriesContext(connection) as queries:
        services.intervention_type_update(intervention_type=home_visit, name="Home visit", active=True)
    assert [query for query in queries.captured_queries if query["sql"].startswith("UPDATE")] == []


# --- Proposing one intervention ------------------------------------------------------------


def test_intervention_create_proposes_at_the_types_unit_cost(member, home_visit, care_manager):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    created = services.intervention_create(
        member=member, intervention_type=home_visit, gaps=[eed, ked], created_by=care_manager, notes="AM slot"
    )
    assert created.status == "proposed"
    assert created.cost == Decimal("150.00")
    assert created.contract == member.contract
    assert created.created_by == care_manager
    assert created.version == 1
    assert sorted(created.gaps.values_list("pk", flat=True)) == sorted([eed.pk, ked.pk])
    assert set(InterventionGap.objects.filter(intervention=created).values_list("outcome", flat=True)) == {
        "pending"
    }


def test_intervention_create_is_audited(member, home_visit, care_manager):
    created = services.intervention_create(
        member=member, intervention_type=home_visit, gaps=[open_gap(member)], created_by=care_manager
    )
    assert LogEntry.objects.get_for_object(created).get().action == LogEntry.Action.CREATE
    assert LogEntry.objects.get_for_model(InterventionGap).count() == 1


def test_gaps_of_another_member_are_refused_naming_their_ids(member, other_member, home_visit, care_manager):
    own, theirs, also_theirs = open_gap(member), open_gap(other_member), open_gap(other_member, "COL")
    with pytest.raises(ApplicationError) as refused:
        services.intervention_create(
            member=member,
            intervention_type=home_visit,
            gaps=[own, theirs, also_theirs],
            created_by=care_manager,
        )
    assert refused.value.message == f"Gaps {theirs.pk}, {also_theirs.pk} do not belong to this member."
    assert refused.value.extra["gap_ids"] == [theirs.pk, also_theirs.pk]
    assert not Intervention.objects.exists()


def test_gap_of_another_contract_is_refused(member, foreign_member, home_visit, care_manager):
    foreign = open_gap(foreign_member)
    with pytest.raises(ApplicationError, match=f"Gaps {foreign.pk} do not belong"):
        services.intervention_create(
            member=member, intervention_type=home_visit, gaps=[foreign], created_by=care_manager
        )


def test_closed_gap_is_refused(member, home_visit, care_manager):
    closed = closed_gap(member)
    with pytest.raises(ApplicationError, match=f"Gaps {closed.pk} are not open"):
        services.intervention_create(
            member=member, intervention_type=home_visit, gaps=[closed], created_by=care_manager
        )


def test_an_intervention_needs_at_least_one_gap(member, home_visit, care_manager):
    with pytest.raises(ApplicationError, match="at least one gap"):
        services.intervention_create(
            member=member, intervention_type=home_visit, gaps=[], created_by=care_manager
        )


def test_an_inactive_type_is_refused(member, care_manager):
    retired = InterventionTypeFactory(name="Fax blast", active=False)
    with pytest.raises(ApplicationError, match="no longer offered"):
        services.intervention_create(
            member=member, intervention_type=retired, gaps=[open_gap(member)], created_by=care_manager
        )


def test_notes_longer_than_the_model_allows_are_refused(member, home_visit, care_manager):
    with pytest.raises(ValidationError) as refused:
        services.intervention_create(
            member=member,
            intervention_type=home_visit,
            gaps=[open_gap(member)],
            created_by=care_manager,
            notes="x" * 501,
        )
    assert "notes" in refused.value.message_dict


# --- Bundles -------------------------------------------------------------------------------


def test_three_gaps_of_two_members_make_two_bundles(member, other_member, home_visit, care_manager):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    gsd = open_gap(other_member, "GSD")
    created = services.interventions_create_for_gaps(
        gaps=[gsd, ked, eed], intervention_type=home_visit, created_by=care_manager, notes="Q2 push"
    )
    assert len(created) == 2
    bundles = {i.member_id: set(i.gaps.values_list("pk", flat=True)) for i in Intervention.objects.all()}
    assert bundles == {member.pk: {eed.pk, ked.pk}, other_member.pk: {gsd.pk}}
    for intervention in Intervention.objects.all():
        assert intervention.status == "proposed"
        assert intervention.cost == Decimal("150.00")
        assert intervention.contract_id == intervention.member.contract_id
        assert (intervention.created_by, intervention.notes) == (care_manager, "Q2 push")


def test_bundles_are_audited_with_one_batch_entry(member, other_member, home_visit, care_manager):
    gaps = [open_gap(member, "EED"), open_gap(member, "KED"), open_gap(other_member, "GSD")]
    created = services.interventions_create_for_gaps(
        gaps=gaps, intervention_type=home_visit, created_by=care_manager
    )
    entry = LogEntry.objects.get(object_pk="batch")
    assert entry.action == LogEntry.Action.CREATE
    assert entry.additional_data["batch"]["count"] == 2
    assert entry.additional_data["batch"]["intervention_ids"] == [i.pk for i in created]
    assert entry.additional_data["batch"]["gap_ids"] == sorted(g.pk for g in gaps)


def test_bundles_accept_a_queryset_of_gaps(member, other_member, home_visit, care_manager):
    open_gap(member, "EED"), open_gap(member, "KED"), open_gap(other_member, "GSD")
    created = services.interventions_create_for_gaps(
        gaps=CareGap.objects.all(), intervention_type=home_visit, created_by=care_manager
    )
    assert len(created) == 2
    assert InterventionGap.objects.count() == 3


def test_bundles_refuse_closed_gaps_and_create_nothing(member, other_member, home_visit, care_manager):
    closed = closed_gap(other_member)
    with pytest.raises(ApplicationError, match=f"Gaps {closed.pk} are not open"):
        services.interventions_create_for_gaps(
            gaps=[open_gap(member), closed], intervention_type=home_visit, created_by=care_manager
        )
    assert not Intervention.objects.exists()


def test_bundles_refuse_an_empty_selection(home_visit, care_manager):
    with pytest.raises(ApplicationError, match="at least one gap"):
        services.interventions_create_for_gaps(gaps=[], intervention_type=home_visit, created_by=care_manager)


def _gaps_for(contract, count: int) -> list[CareGap]:
    """`count` open gaps, two per member (EED and KED), so half as many bundles."""
    gaps = []
    for _ in range(count // 2):
        owner = MemberFactory(contract=contract)
        gaps += [open_gap(owner, "EED"), open_gap(owner, "KED")]
    return gaps


def test_bundles_take_the_same_number_of_queries_for_5_or_50_gaps(contract, home_visit, care_manager):
    warm_up, few, many = _gaps_for(contract, 2), _gaps_for(contract, 6)[:5], _gaps_for(contract, 50)

    def create(gaps):
        return lambda: services.interventions_create_for_gaps(
            gaps=gaps, intervention_type=home_visit, created_by=care_manager
        )

    create(warm_up)()  # content types are looked up once, then cached
    assert query_count(create(few)) == query_count(create(many))
    assert Intervention.objects.count() == 1 + 3 + 25
    assert InterventionGap.objects.count() == 2 + 5 + 50


# --- The workflow --------------------------------------------------------------------------


def _transition(intervention, to_status, actor, version=None):
    return services.intervention_transition(
        intervention=intervention,
        to_status=to_status,
        actor=actor,
        expected_version=intervention.version if version is None else version,
    )


@pytest.mark.parametrize(("from_status", "to_status"), sorted(ALLOWED))
def test_every_allowed_transition_changes_status_and_version(member, administrator, from_status, to_status):
    intervention = intervention_with_gaps(member=member, gaps=[open_gap(member)], status=from_status)
    moved = _transition(intervention, to_status, administrator)
    stored = Intervention.objects.get(pk=intervention.pk)
    assert (moved.status, stored.status, stored.version) == (to_status, to_status, 2)


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN)
def test_every_forbidden_transition_is_refused_and_changes_nothing(
    member, administrator, from_status, to_status
):
    intervention = intervention_with_gaps(member=member, gaps=[open_gap(member)], status=from_status)
    with pytest.raises(InvalidTransition, match=f"from {from_status} to {to_status}"):
        _transition(intervention, to_status, administrator)
    stored = Intervention.objects.get(pk=intervention.pk)
    assert (stored.status, stored.version) == (from_status, 1)
    assert CareGap.objects.get().last_outreach_at is None


def test_approving_records_who_and_when(member, analyst):
    approved = _transition(intervention_with_gaps(member=member), "approved", analyst)
    assert approved.approved_by == analyst
    assert approved.approved_at is not None
    assert approved.completed_at is None


def test_care_manager_cannot_approve(member, care_manager):
    intervention = intervention_with_gaps(member=member)
    with pytest.raises(services.PermissionRefused) as refused:
        _transition(intervention, "approved", care_manager)
    assert refused.value.status_code == 403
    assert Intervention.objects.get().status == "proposed"


def test_analyst_may_reject_a_proposal_but_not_work_an_intervention(member, analyst):
    _transition(intervention_with_gaps(member=member), "cancelled", analyst)
    approved = intervention_with_gaps(member=member, status="approved")
    with pytest.raises(services.PermissionRefused):
        _transition(approved, "scheduled", analyst)


def test_stale_version_is_a_conflict(member, care_manager):
    intervention = intervention_with_gaps(member=member, status="approved")
    Intervention.objects.filter(pk=intervention.pk).update(version=2)
    with pytest.raises(ConflictError) as conflict:
        _transition(intervention, "scheduled", care_manager, version=1)
    assert conflict.value.status_code == 409
    assert conflict.value.extra == {"current_version": 2, "your_version": 1}
    assert Intervention.objects.get().status == "approved"


def test_completing_stamps_outreach_but_never_closes_a_gap(member, other_member, care_manager):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    untouched = open_gap(other_member, "EED")
    intervention = intervention_with_gaps(member=member, gaps=[eed, ked], status="approved")

    completed = _transition(intervention, "completed", care_manager)

    assert completed.completed_at is not None
    for gap in CareGap.objects.filter(pk__in=[eed.pk, ked.pk]):
        assert gap.compliance_status == "open"
        assert gap.workflow_state == "new"
        assert gap.last_outreach_at == completed.completed_at
        assert gap.version == 2
    untouched.refresh_from_db()
    assert (untouched.last_outreach_at, untouched.version) == (None, 1)


@pytest.mark.parametrize(("from_status", "to_status"), [("approved", "scheduled"), ("scheduled", "failed")])
def test_scheduling_and_failing_also_stamp_outreach(member, care_manager, from_status, to_status):
    intervention = intervention_with_gaps(member=member, gaps=[open_gap(member)], status=from_status)
    _transition(intervention, to_status, care_manager)
    assert CareGap.objects.get().last_outreach_at is not None
    stamp = LogEntry.objects.get_for_model(CareGap).get(object_pk="batch")
    assert stamp.additional_data["batch"]["count"] == 1


@pytest.mark.parametrize(("from_status", "to_status"), [("proposed", "approved"), ("approved", "cancelled")])
def test_approving_or_cancelling_is_no_outreach(member, administrator, from_status, to_status):
    intervention = intervention_with_gaps(member=member, gaps=[open_gap(member)], status=from_status)
    _transition(intervention, to_status, administrator)
    assert CareGap.objects.get().last_outreach_at is None


def test_transition_is_audited_with_the_status_change(member, analyst):
    intervention = intervention_with_gaps(member=member)
    _transition(intervention, "approved", analyst)
    entry = LogEntry.objects.get_for_object(intervention).get(action=LogEntry.Action.UPDATE)
    assert entry.changes["status"] == ["proposed", "approved"]
    assert entry.changes["version"] == [1, 2]


# --- Bulk transitions ----------------------------------------------------------------------


def test_bulk_transition_changes_what_it_may_and_says_why_it_skipped(member, care_manager):
    approved = intervention_with_gaps(member=member, gaps=[open_gap(member)], status="approved")
    scheduled = intervention_with_gaps(member=member, gaps=[open_gap(member, "COL")], status="scheduled")
    done = intervention_with_gaps(member=member, status="completed")
    proposed = intervention_with_gaps(member=member)

    result = services.interventions_transition_bulk(
        interventions=Intervention.objects.all(), to_status="completed", actor=care_manager
    )

    assert sorted(result.changed) == sorted([approved.pk, scheduled.pk])
    assert result.skipped == {
        done.pk: "completed cannot go to completed",
        proposed.pk: "proposed cannot go to completed",
    }
    stored = {i.pk: i for i in Intervention.objects.all()}
    assert stored[approved.pk].status == stored[scheduled.pk].status == "completed"
    assert stored[approved.pk].completed_at is not None
    assert stored[approved.pk].version == 2
    assert (stored[done.pk].version, stored[proposed.pk].status) == (1, "proposed")
    assert CareGap.objects.filter(last_outreach_at__isnull=False).count() == 2
    assert set(CareGap.objects.values_list("compliance_status", flat=True)) == {"open"}


def test_bulk_approval_by_care_manager_skips_everything(member, care_manager):
    proposed = intervention_with_gaps(member=member)
    result = services.interventions_transition_bulk(
        interventions=[proposed], to_status="approved", actor=care_manager
    )
    assert result.changed == []
    assert result.skipped == {proposed.pk: "you may not move proposed interventions to approved"}
    assert Intervention.objects.get().status == "proposed"


def test_bulk_approval_by_analyst_records_approver_and_one_batch_entry(member, analyst):
    proposed = [intervention_with_gaps(member=member) for _ in range(3)]
    result = services.interventions_transition_bulk(
        interventions=proposed, to_status="approved", actor=analyst
    )
    assert len(result.changed) == 3
    assert set(Intervention.objects.values_list("approved_by", flat=True)) == {analyst.pk}
    entry = LogEntry.objects.get_for_model(Intervention).get(object_pk="batch")
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.additional_data["batch"]["to_status"] == "approved"


def test_bulk_transition_takes_the_same_number_of_queries_for_3_or_30(contract, care_manager):
    def approved_with_gap():
        owner = MemberFactory(contract=contract)
        return intervention_with_gaps(member=owner, gaps=[open_gap(owner)], status="approved")

    warm_up = [approved_with_gap()]
    few = [approved_with_gap() for _ in range(3)]
    many = [approved_with_gap() for _ in range(30)]

    def schedule(interventions):
        return lambda: services.interventions_transition_bulk(
            interventions=interventions, to_status="scheduled", actor=care_manager
        )

    # The first call also loads the user's permissions and content types (cached after).
    schedule(warm_up)()
    assert query_count(schedule(few)) == query_count(schedule(many))
    assert Intervention.objects.filter(status="scheduled").count() == 34


# --- Outcomes ------------------------------------------------------------------------------


def test_outcomes_are_recorded_per_gap_without_touching_compliance(member):
    eed, ked = open_gap(member, "EED"), open_gap(member, "KED")
    intervention = intervention_with_gaps(member=member, gaps=[eed, ked], status="completed")
    services.intervention_record_outcomes(
        intervention=intervention, outcomes={eed.pk: "closed", ked.pk: "not_closed"}
    )
    outcomes = dict(InterventionGap.objects.values_list("gap_id", "outcome"))
    assert outcomes == {eed.pk: "closed", ked.pk: "not_closed"}
    assert set(CareGap.objects.values_list("compliance_status", flat=True)) == {"open"}
    assert LogEntry.objects.get_for_model(InterventionGap).filter(action=LogEntry.Action.UPDATE).count() == 2


def test_outcomes_for_gaps_not_covered_are_refused_naming_them(member):
    covered, elsewhere = open_gap(member, "EED"), open_gap(member, "KED")
    intervention = intervention_with_gaps(member=member, gaps=[covered], status="completed")
    with pytest.raises(ApplicationError) as refused:
        services.intervention_record_outcomes(
            intervention=intervention, outcomes={covered.pk: "closed", elsewhere.pk: "closed"}
        )
    assert refused.value.message == f"Gaps {elsewhere.pk} are not covered by this intervention."
    assert InterventionGap.objects.get().outcome == "pending"


def test_a_covered_gap_is_named_with_its_outcome_in_words(member):
    gap = open_gap(member, "EED")
    intervention = intervention_with_gaps(member=member, gaps=[gap], status="completed")
    assert str(intervention.covered.get()) == f"{gap}: Pending"
    services.intervention_record_outcomes(intervention=intervention, outcomes={gap.pk: "not_closed"})
    assert str(intervention.covered.get()) == f"{gap}: Gap not closed"


def test_unknown_outcome_is_refused(member):
    gap = open_gap(member)
    intervention = intervention_with_gaps(member=member, gaps=[gap], status="completed")
    with pytest.raises(ApplicationError, match="Unknown outcomes"):
        services.intervention_record_outcomes(intervention=intervention, outcomes={gap.pk: "maybe"})


@pytest.mark.parametrize("status", ["proposed", "approved", "scheduled", "cancelled"])
def test_outcomes_wait_until_outreach_is_over(member, status):
    gap = open_gap(member)
    intervention = intervention_with_gaps(member=member, gaps=[gap], status=status)
    with pytest.raises(ApplicationError, match=f"not {status}"):
        services.intervention_record_outcomes(intervention=intervention, outcomes={gap.pk: "closed"})

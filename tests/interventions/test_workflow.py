"""The intervention workflow table: every allowed move passes, every other one is refused."""

import pytest

from interventions import workflow
from interventions.models import InterventionStatus

STATUSES = list(InterventionStatus.values)

# Written out here rather than read from the module, so the test states the rule itself.
ALLOWED = {
    ("proposed", "approved"),
    ("proposed", "cancelled"),
    ("approved", "scheduled"),
    ("approved", "completed"),
    ("approved", "failed"),
    ("approved", "cancelled"),
    ("scheduled", "completed"),
    ("scheduled", "failed"),
    ("scheduled", "cancelled"),
}
FORBIDDEN = sorted({(a, b) for a in STATUSES for b in STATUSES} - ALLOWED)


@pytest.mark.parametrize(("from_status", "to_status"), sorted(ALLOWED))
def test_allowed_transition_passes(from_status, to_status):
    assert workflow.is_allowed(from_status=from_status, to_status=to_status)
    workflow.check_transition(from_status=from_status, to_status=to_status)


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN)
def test_forbidden_transition_is_refused_naming_both_statuses(from_status, to_status):
    assert not workflow.is_allowed(from_status=from_status, to_status=to_status)
    with pytest.raises(workflow.InvalidTransition) as refused:
        workflow.check_transition(from_status=from_status, to_status=to_status)
    assert refused.value.message == f"An intervention cannot go from {from_status} to {to_status}."
    assert refused.value.extra["from_status"] == from_status
    assert refused.value.extra["to_status"] == to_status
    assert "status" in refused.value.extra["fields"]


def test_there_are_36_pairs_and_9_are_allowed():
    assert len(FORBIDDEN) + len(ALLOWED) == 36
    assert sum(len(targets) for targets in workflow.TRANSITIONS.values()) == 9


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_final_statuses_go_nowhere(status):
    assert status in workflow.FINAL
    assert workflow.next_statuses(status) == []


def test_next_statuses_follow_workflow_order():
    assert workflow.next_statuses("proposed") == ["approved", "cancelled"]
    assert workflow.next_statuses("approved") == ["scheduled", "completed", "failed", "cancelled"]
    assert workflow.next_statuses("scheduled") == ["completed", "failed", "cancelled"]


def test_unknown_status_is_refused():
    with pytest.raises(workflow.InvalidTransition, match="Unknown intervention status 'done'"):
        workflow.check_transition(from_status="approved", to_status="done")

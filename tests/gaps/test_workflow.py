"""The gap workflow rules, defined once in gaps.workflow."""

import pytest

from gaps.models import ComplianceStatus, WorkflowState
from gaps.workflow import InvalidTransition, check_transition, state_after_compliance_change, states_allowing

S = WorkflowState
ALLOWED = [
    (S.NEW, S.ASSIGNED),
    (S.NEW, S.OUTREACH_ATTEMPTED),
    (S.ASSIGNED, S.SCHEDULED),
    (S.OUTREACH_ATTEMPTED, S.OUTREACH_ATTEMPTED),
    (S.OUTREACH_ATTEMPTED, S.UNABLE_TO_REACH),
    (S.SCHEDULED, S.AWAITING_DATA),
    (S.AWAITING_DATA, S.SCHEDULED),
    (S.UNABLE_TO_REACH, S.OUTREACH_ATTEMPTED),
    (S.REFUSED, S.ASSIGNED),
]
FORBIDDEN = [
    (S.NEW, S.NEW),
    (S.SCHEDULED, S.ASSIGNED),
    (S.AWAITING_DATA, S.REFUSED),
    (S.UNABLE_TO_REACH, S.SCHEDULED),
    (S.RESOLVED, S.ASSIGNED),
    (S.RESOLVED, S.NEW),
]


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED)
def test_allowed_moves_pass(from_state, to_state):
    check_transition(from_state=from_state, to_state=to_state, compliance_status=ComplianceStatus.OPEN)


@pytest.mark.parametrize(("from_state", "to_state"), FORBIDDEN)
def test_forbidden_moves_name_the_states(from_state, to_state):
    with pytest.raises(InvalidTransition, match=f"from {from_state} to {to_state}"):
        check_transition(from_state=from_state, to_state=to_state, compliance_status=ComplianceStatus.OPEN)


@pytest.mark.parametrize("from_state", [S.NEW, S.AWAITING_DATA])
def test_nobody_resolves_a_gap_by_hand(from_state):
    with pytest.raises(InvalidTransition, match="resolved only by data"):
        check_transition(from_state=from_state, to_state=S.RESOLVED, compliance_status=ComplianceStatus.OPEN)
    with pytest.raises(InvalidTransition):
        states_allowing(S.RESOLVED)


@pytest.mark.parametrize("status", [ComplianceStatus.CLOSED, ComplianceStatus.EXCLUDED])
def test_only_open_gaps_are_worked(status):
    with pytest.raises(InvalidTransition, match="only open gaps"):
        check_transition(from_state=S.NEW, to_state=S.ASSIGNED, compliance_status=status)


def test_data_resolves_and_reopens():
    assert (
        state_after_compliance_change(
            compliance_status="closed", workflow_state=S.SCHEDULED, has_assignee=True
        )
        == S.RESOLVED
    )
    assert (
        state_after_compliance_change(compliance_status="open", workflow_state=S.RESOLVED, has_assignee=True)
        == S.ASSIGNED
    )
    assert (
        state_after_compliance_change(compliance_status="open", workflow_state=S.RESOLVED, has_assignee=False)
        == S.NEW
    )
    assert (
        state_after_compliance_change(
            compliance_status="open", workflow_state=S.SCHEDULED, has_assignee=False
        )
        == S.SCHEDULED
    )


def test_states_allowing_lists_every_source_state():
    assert set(states_allowing(S.SCHEDULED)) == {S.NEW, S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.AWAITING_DATA}

"""The gap workflow rules, defined once in gaps.workflow."""

import pytest

from gaps.models import ComplianceStatus, WorkflowState
from gaps.workflow import (
    TRANSITIONS,
    InvalidTransition,
    check_transition,
    state_after_compliance_change,
    states_allowing,
)

S = WorkflowState
# The whole table: from each state, the states a care manager may move an open gap to.
MOVES = {
    S.NEW: {S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED},
    S.ASSIGNED: {S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED},
    S.OUTREACH_ATTEMPTED: {S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED},
    S.SCHEDULED: {S.OUTREACH_ATTEMPTED, S.AWAITING_DATA, S.REFUSED},
    S.AWAITING_DATA: {S.SCHEDULED, S.OUTREACH_ATTEMPTED},
    S.UNABLE_TO_REACH: {S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.REFUSED},
    S.REFUSED: {S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED},
    S.RESOLVED: set(),
}


def test_the_moves_are_exactly_these():
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == MOVES


@pytest.mark.parametrize("from_state", S.values)
@pytest.mark.parametrize("to_state", [state for state in S.values if state != S.RESOLVED])
def test_check_transition_allows_exactly_the_tables_moves(from_state, to_state):
    move = {"from_state": from_state, "to_state": to_state, "compliance_status": ComplianceStatus.OPEN}
    if to_state in MOVES[from_state]:
        check_transition(**move)
    else:
        with pytest.raises(InvalidTransition, match=f"from {from_state} to {to_state}"):
            check_transition(**move)


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
    assert set(states_allowing(S.SCHEDULED)) == {
        S.NEW,
        S.ASSIGNED,
        S.OUTREACH_ATTEMPTED,
        S.AWAITING_DATA,
        S.UNABLE_TO_REACH,
        S.REFUSED,
    }

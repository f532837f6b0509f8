"""The care-gap workflow: which state may follow which, defined once.

Compliance comes from data; the workflow is the care manager's progress. `resolved` is
reached only when data has closed the gap (or excluded it, or taken it out of the
denominator): a care manager cannot resolve an open gap by hand.
"""

from gaps.models import ComplianceStatus, WorkflowState
from hedis_portal.errors import ConflictError

S = WorkflowState

TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset(
        {S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED}
    ),
    S.ASSIGNED: frozenset({S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED}),
    S.OUTREACH_ATTEMPTED: frozenset(
        {S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED}
    ),
    S.SCHEDULED: frozenset({S.OUTREACH_ATTEMPTED, S.AWAITING_DATA, S.REFUSED}),
    S.AWAITING_DATA: frozenset({S.SCHEDULED, S.OUTREACH_ATTEMPTED}),
    # A member reached at last, or who changes her mind, may book at once (or decline): recording
    # that outreach moves the gap straight there, not through an attempt that never happened.
    S.UNABLE_TO_REACH: frozenset({S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED, S.REFUSED}),
    S.REFUSED: frozenset({S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED}),
    S.RESOLVED: frozenset(),
}


class InvalidTransition(ConflictError):
    """A workflow move the rules do not allow from the current one; answered as 409."""


def _check_target(to_state: str) -> None:
    if to_state == S.RESOLVED:
        raise InvalidTransition(
            "A gap is resolved only by data (a closing claim, supplemental or EHR record), not by hand.",
            {"fields": {"workflow_state": ["resolved is set by the data feed"]}},
        )
    if to_state not in S.values:
        raise InvalidTransition(
            f"Unknown workflow state {to_state!r}.", {"fields": {"workflow_state": ["unknown state"]}}
        )


def states_allowing(to_state: str) -> list[str]:
    """The states from which a care manager may move a gap to `to_state` (for bulk moves)."""
    _check_target(to_state)
    return [state for state, targets in TRANSITIONS.items() if to_state in targets]


def check_transition(*, from_state: str, to_state: str, compliance_status: str) -> None:
    """Raise `InvalidTransition` unless a care manager may move a gap from one state to another."""
    _check_target(to_state)
    if compliance_status != ComplianceStatus.OPEN:
        raise InvalidTransition(
            f"The gap is {compliance_status}; only open gaps are worked.",
            {"fields": {"workflow_state": [f"gap is {compliance_status}"]}},
        )
    if to_state not in TRANSITIONS[from_state]:
        allowed = ", ".join(sorted(TRANSITIONS[from_state])) or "none"
        raise InvalidTransition(
            f"Cannot move a gap from {from_state} to {to_state}.",
            {"fields": {"workflow_state": [f"allowed from {from_state}: {allowed}"]}},
        )


def state_after_compliance_change(*, compliance_status: str, workflow_state: str, has_assignee: bool) -> str:
    """The workflow state a gap takes when data changes its compliance status."""
    if compliance_status != ComplianceStatus.OPEN:
        return S.RESOLVED
    if workflow_state == S.RESOLVED:  # reopened by the HEDIS engine
        return S.ASSIGNED if has_assignee else S.NEW
    return workflow_state

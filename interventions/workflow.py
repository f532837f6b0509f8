"""The intervention workflow (which status may follow which) and the outreach outcome table, each
defined once.

proposed → approved | cancelled; approved → scheduled | completed | failed | cancelled;
scheduled → completed | failed | cancelled; completed, failed and cancelled are final.
An approved intervention may be completed without being scheduled (a call made at once).

Outreach already done (an `OutreachRecord`) needs no approval: its outcome moves each gap it
covers to the workflow state `OUTCOME_STATES` names, if `gaps.workflow` allows that move from
the gap's current state. The README's "Recording outreach done" table is this one.
"""

from gaps.models import WorkflowState
from hedis_portal.errors import ConflictError
from interventions.models import InterventionStatus, OutreachOutcome

S = InterventionStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.APPROVED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SCHEDULED, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)

# Reaching these means the member was contacted: the covered gaps get `last_outreach_at`.
OUTREACH_MADE = frozenset({S.SCHEDULED, S.COMPLETED, S.FAILED})

# Outcomes measure what outreach achieved, so they are recorded once outreach is over.
OUTCOMES_RECORDABLE = frozenset({S.COMPLETED, S.FAILED})


class InvalidTransition(ConflictError):
    """A status change the workflow does not allow from the current one; answered as 409."""


def next_statuses(from_status: str) -> list[str]:
    """The statuses an intervention in `from_status` may move to, in workflow order."""
    targets = TRANSITIONS.get(from_status, frozenset())
    return [status for status in S.values if status in targets]


def is_allowed(*, from_status: str, to_status: str) -> bool:
    """Whether the workflow allows moving from `from_status` to `to_status`."""
    return to_status in TRANSITIONS.get(from_status, frozenset())


def check_status(status: str) -> None:
    """Raise `InvalidTransition` if `status` is not an intervention status at all."""
    if status not in S.values:
        raise InvalidTransition(
            f"Unknown intervention status {status!r}.", {"fields": {"status": ["unknown status"]}}
        )


def check_transition(*, from_status: str, to_status: str) -> None:
    """Raise `InvalidTransition`, naming both statuses, unless the move is allowed."""
    check_status(to_status)
    if not is_allowed(from_status=from_status, to_status=to_status):
        allowed = ", ".join(next_statuses(from_status)) or f"none ({from_status} is final)"
        raise InvalidTransition(
            f"An intervention cannot go from {from_status} to {to_status}.",
            {
                "fields": {"status": [f"allowed from {from_status}: {allowed}"]},
                "from_status": from_status,
                "to_status": to_status,
            },
        )


# What an outreach outcome does to each gap it covers. A member who was reached, or not, or who
# got a message, has had outreach attempted; `unable_to_reach` stays the care manager's own call,
# made by hand after repeated attempts. A gap already in the outcome's state stays there.
OUTCOME_STATES: dict[str, str] = {
    OutreachOutcome.REACHED: WorkflowState.OUTREACH_ATTEMPTED,
    OutreachOutcome.SCHEDULED: WorkflowState.SCHEDULED,
    OutreachOutcome.REFUSED: WorkflowState.REFUSED,
    OutreachOutcome.UNABLE_TO_REACH: WorkflowState.OUTREACH_ATTEMPTED,
    OutreachOutcome.LEFT_MESSAGE: WorkflowState.OUTREACH_ATTEMPTED,
}

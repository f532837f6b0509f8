"""The intervention workflow: which status may follow which, defined once.

proposed → approved | cancelled; approved → scheduled | completed | failed | cancelled;
scheduled → completed | failed | cancelled; completed, failed and cancelled are final.
An approved intervention may be completed without being scheduled (a call made at once).
"""

from hedis_portal.errors import ConflictError
from interventions.models import InterventionStatus

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

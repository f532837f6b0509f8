"""The admin's front page for someone who works gaps: her open gaps counted by workflow state, the
ones untouched longest, and each of her contracts' projected rating with the measures where a
closed gap moves it the most."""

from urllib.parse import urlencode

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from console.star_ratings.index import contract_years
from console.star_ratings.overview import headline, measure_rows
from gaps.admin import measure_label
from gaps.models import CareGap, ComplianceStatus, WorkflowState
from hedis_portal.audit import log_read
from hedis_portal.middleware import route_pattern
from ratings.live.rating import contract_live_rating

S = WorkflowState
# Her move next: a member not yet reached, or reached and to follow up (a scheduled visit to confirm).
DUE_STATES = (S.NEW, S.ASSIGNED, S.OUTREACH_ATTEMPTED, S.SCHEDULED)
# Waiting on something else: a claim or record (awaiting data), or a later attempt (unable to reach, refused).
WAITING_STATES = (S.AWAITING_DATA, S.UNABLE_TO_REACH, S.REFUSED)
OLDEST_SHOWN = 10
TOP_MEASURES = 3


def worklist_url(**filters) -> str:
    """The worklist with these filters, by the worklist's own parameter names (`CareGapFilter`)."""
    return f"{reverse('admin:gaps_caregap_changelist')}?{urlencode(filters)}"


def _open_gaps_of(user):
    """The user's own open gaps, not resolved, in the contracts she may still see."""
    return (
        CareGap.objects.visible_to(user)
        .filter(assignee=user, compliance_status=ComplianceStatus.OPEN)
        .exclude(workflow_state=S.RESOLVED)
    )


def _state_counts(user) -> tuple[list[dict], list[dict]]:
    """Her open gaps counted by workflow state in one GROUP BY: those due for action, those waiting."""
    counts = dict(_open_gaps_of(user).order_by().values_list("workflow_state").annotate(gaps=Count("id")))

    def rows(states):
        return [
            {
                "state": state,
                "label": state.label,
                "count": counts[state],
                "url": worklist_url(
                    assignee="me", compliance_status=ComplianceStatus.OPEN, workflow_state=state
                ),
            }
            for state in states
            if counts.get(state)
        ]

    return rows(DUE_STATES), rows(WAITING_STATES)


def untouched(days: int) -> str:
    """How long a gap has gone without a change: "under a day", "1 day", "12 days"."""
    if days < 1:
        return "under a day"
    return f"{days} day{'s' if days != 1 else ''}"


def _oldest_due(user, request) -> list[dict]:
    """Her gaps due for action that have gone longest without a change (highest priority first among
    equals), each linked to its page; the list shown is recorded as a read of member-level data."""
    gaps = list(
        _open_gaps_of(user)
        .filter(workflow_state__in=DUE_STATES)
        .select_related("member", "measure", "contract")
        .order_by("updated_at", "-priority_score", "id")[:OLDEST_SHOWN]
    )
    log_read(
        model=CareGap,
        kind="list",
        view=route_pattern(request.resolver_match),
        filters={"assignee": "me", "compliance_status": "open", "workflow_state": list(DUE_STATES)},
        rows=len(gaps),
        ids=[gap.pk for gap in gaps],
    )
    now = timezone.now()
    return [
        {
            "pseudonym": gap.member.pseudonym,
            "measure": measure_label(gap.measure.code, gap.measure.name),
            "measure_name": gap.measure.name,
            "contract": gap.contract.contract_id,
            "measurement_year": gap.measurement_year,
            "state": gap.get_workflow_state_display(),
            "untouched": untouched((now - gap.updated_at).days),
            "url": reverse("admin:gaps_caregap_change", args=[gap.pk]),
        }
        for gap in gaps
    ]


def _projected(rating) -> dict:
    """The highest level rated (overall, or Part C or D alone) as the overview's `headline` words it:
    `figure`, or when there is no rating, `unrated`, why not in the engine's words."""
    # `headline` lists Part C, Part D, then overall: the last is the highest level rated.
    figure = (headline(rating) or [None])[-1]
    if figure is not None and figure["rating"] is not None:
        return {"figure": figure, "unrated": None}
    sentences = [figure["sentence"]] if figure is not None else []
    return {"figure": None, "unrated": " ".join([*sentences, *rating.notes])}


def _movable(row: dict, yours: int) -> dict:
    """One of `measure_rows`' measures as the front page lists it: the members to close for its next
    star, and the open gaps of it that are hers (`yours`), each linked to the worklist."""
    measure = row["measure"]
    return {
        "label": measure_label(measure["measure"], measure["name"]),
        "name": measure["name"],
        "members": measure["members_to_next_cut_point"],
        "next_star": measure["next_star"],
        "url": row["worklist_url"],
        "yours": yours,
        "yours_url": f"{row['worklist_url']}&{urlencode({'assignee': 'me'})}",
    }


def _contract_outlooks(user) -> list[dict]:
    """Each of her contracts in its newest measurement year with gaps: the projected rating (the
    highest level rated: overall, or Part C or D alone) and the measures where a star costs the
    fewest members closed, with how many of those measures' open gaps are hers.

    The rating is the console overview's (`headline`, `measure_rows`): a constant number of
    queries per contract, whatever its gaps.
    """
    hers = {
        (contract_pk, year, code): gaps
        for contract_pk, year, code, gaps in _open_gaps_of(user)
        .order_by()
        .values_list("contract_id", "measurement_year", "measure__code")
        .annotate(gaps=Count("id"))
    }
    outlooks = []
    for listed in contract_years(user):
        contract = listed["contract"]
        outlook = {"contract": contract, "year": None}
        outlooks.append(outlook)
        if not listed["years"]:
            continue
        year = listed["years"][0]
        rating = contract_live_rating(contract=contract, measurement_year=year["year"])
        movable = [
            _movable(row, hers.get((contract.pk, year["year"], row["measure"]["measure"]), 0))
            for row in measure_rows(rating, contract.contract_id)
            if row["opportunity"] is not None and row["worklist_url"]
        ][:TOP_MEASURES]
        outlook.update(
            year=year["year"],
            overview_url=year["url"],
            measures=movable,
            **_projected(rating),
        )
    return outlooks


def my_day(request) -> dict:
    """What the front page shows someone who works gaps, for `request.user`."""
    user = request.user
    due, waiting = _state_counts(user)
    return {
        "due": due,
        "due_total": sum(row["count"] for row in due),
        "waiting": waiting,
        "oldest": _oldest_due(user, request) if due else [],
        "unassigned_url": worklist_url(assignee="unassigned", compliance_status=ComplianceStatus.OPEN),
        "contracts": _contract_outlooks(user) if user.has_perm("ratings.view_contract_rating") else [],
    }

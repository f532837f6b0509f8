"""Reads of care gaps: the worklist, always scoped to the user's contracts."""

from django.db.models import Prefetch

from gaps.models import CareGap, GapRemark


def worklist_for(user):
    """The user's contracts' gaps with what a worklist row shows, in one query per page.

    `select_related` brings the contract ID, measure code, assignee name and current
    prediction (probability, risk tier) in the same query: no N+1 on a page of 50.
    """
    return CareGap.objects.visible_to(user).select_related(
        "contract", "measure", "assignee", "current_prediction"
    )


def gap_detail_for(user):
    """The worklist queryset plus each gap's remarks (one extra query for the page, not per gap)."""
    return worklist_for(user).prefetch_related(
        Prefetch("remarks", queryset=GapRemark.objects.select_related("author"))
    )

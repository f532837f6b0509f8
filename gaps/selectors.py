"""Reads of care gaps: the worklist, always scoped to the user's contracts."""

from django.db.models import Prefetch

from gaps.models import CareGap, GapRemark
from hedis_portal.rows import Columns


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


# A worklist row as the API sends it (`CareGapSerializer`'s fields) → the column it comes from.
# Worklist pages are read this way (`hedis_portal.rows`): building 50 gaps with four related
# objects each, then serializing them field by field, cost more than the query itself.
WORKLIST_ROW: Columns = {
    "id": "id",
    "member": "member_id",
    "contract": "contract__contract_id",
    "measure": "measure__code",
    "measurement_year": "measurement_year",
    "compliance_status": "compliance_status",
    "status_reason": "status_reason",
    "exclusion_reason": "exclusion_reason",
    "evidence_date": "evidence_date",
    "evidence_source": "evidence_source",
    "workflow_state": "workflow_state",
    "assignee": "assignee_id",
    "assignee_username": "assignee__username",
    "priority_score": "priority_score",
    "closure_probability": "current_prediction__probability",
    "risk_tier": "current_prediction__risk_tier",
    "last_outreach_at": "last_outreach_at",
    "version": "version",
    "created_at": "created_at",
    "updated_at": "updated_at",
}

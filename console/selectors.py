"""Reads of a member's history across gaps, predictions and interventions.

The member is read through `members.selectors.members_for(user)` first, so the contract each
part is read by is one the user may see. Each part is a `RowQuery` (compiled once, not on every
request) of the rows its serializer shows (the columns are derived from the serializer).
"""

from gaps.api import WORKLIST_ROW
from gaps.models import CareGap
from hedis_portal.rows import RowQuery
from interventions.api import COVERED_GAP_ROW, INTERVENTION_ROW
from interventions.models import Intervention, InterventionGap
from members.models import Member
from predictions.api import PREDICTION_ROW
from predictions.models import Prediction

_GAPS = RowQuery(
    lambda member, contract: CareGap.objects.filter(member_id=member, contract_id=contract).order_by(
        "measure__code", "-measurement_year"
    ),
    WORKLIST_ROW,
)
_PREDICTIONS = RowQuery(
    lambda member, contract: Prediction.objects.filter(member_id=member, contract_id=contract).order_by(
        "-predicted_at", "-id"
    ),
    PREDICTION_ROW,
)
_INTERVENTIONS = RowQuery(
    lambda member, contract: Intervention.objects.filter(member_id=member, contract_id=contract).order_by(
        "-created_at", "-id"
    ),
    INTERVENTION_ROW,
)
_COVERED_GAPS = RowQuery(
    lambda member, contract: InterventionGap.objects.filter(
        intervention__member_id=member, intervention__contract_id=contract
    ).order_by("gap_id"),
    {"intervention": "intervention_id", **COVERED_GAP_ROW},
)


def member_gaps(member: Member) -> list[dict]:
    """The member's gaps as worklist rows, by measure then newest year."""
    return _GAPS.fetch(member=member.pk, contract=member.contract_id)


def member_predictions(member: Member) -> list[dict]:
    """The member's predictions as API rows, newest first."""
    return _PREDICTIONS.fetch(member=member.pk, contract=member.contract_id)


def member_interventions(member: Member) -> tuple[list[dict], list[dict]]:
    """The member's interventions (newest first) and the gaps they cover, as rows."""
    interventions = _INTERVENTIONS.fetch(member=member.pk, contract=member.contract_id)
    covered = _COVERED_GAPS.fetch(member=member.pk, contract=member.contract_id) if interventions else []
    return interventions, covered

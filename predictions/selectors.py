"""Reads of predictions, always through the user's scope."""

from hedis_portal.rows import Columns
from predictions.models import Prediction


def predictions_for(user):
    """Predictions in the contracts `user` may see.

    Contract and measure are joined because every row shows their codes (one query per
    page, no N+1); the member is shown by primary key only and needs no join.
    """
    return Prediction.objects.visible_to(user).select_related("contract", "measure")


# A prediction as the API shows it (`PredictionSerializer`'s fields) → the column it comes from.
PREDICTION_ROW: Columns = {
    "id": "id",
    "member": "member_id",
    "contract": "contract__contract_id",
    "measure": "measure__code",
    "measurement_year": "measurement_year",
    "model_version": "model_version",
    "probability": "probability",
    "risk_tier": "risk_tier",
    "top_features": "top_features",
    "predicted_at": "predicted_at",
    "created_at": "created_at",
}

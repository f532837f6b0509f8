"""Reads of predictions, always through the user's scope."""

from predictions.models import Prediction


def predictions_for(user):
    """Predictions in the contracts `user` may see.

    Contract and measure are joined because every row shows their codes (one query per
    page, no N+1); the member is shown by primary key only and needs no join.
    """
    return Prediction.objects.visible_to(user).select_related("contract", "measure")

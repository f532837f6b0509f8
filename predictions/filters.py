"""Filters for predictions, shared by the API."""

import django_filters

from hedis_portal.filters import FilterSet, IntegerFilter, NumberFilter
from predictions.models import Prediction


class PredictionFilter(FilterSet):
    """Predictions by member (primary key), contract (CMS ID), measure code, year, model and risk."""

    # A number, not a model choice: validating a choice would cost a query per request.
    member = IntegerFilter(field_name="member_id")
    contract = django_filters.CharFilter(field_name="contract__contract_id")
    measure = django_filters.CharFilter(field_name="measure__code")
    probability_min = NumberFilter(field_name="probability", lookup_expr="gte")
    probability_max = NumberFilter(field_name="probability", lookup_expr="lte")

    class Meta:
        model = Prediction
        fields = ["member", "contract", "measure", "measurement_year", "model_version", "risk_tier"]

"""Fields shared by the ratings API's serializers: CMS figures as written, contracts by CMS ID, years."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import BasePermission

from members.models import Contract

MIN_YEAR, MAX_YEAR = 2000, 2100


class CmsNumberField(serializers.DecimalField):
    """A CMS figure as written: '76', '0.16', '-0.233766' (no padding to the column's six decimals)."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=6, **kwargs)

    def to_representation(self, value):
        if value is None:
            return None
        return format(value.normalize(), "f")


class ContractIdField(serializers.CharField):
    """A contract by its CMS ID (e.g. H1001); resolved within the user's contracts by the view."""

    def __init__(self, **kwargs):
        super().__init__(max_length=5, **kwargs)

    def to_representation(self, value):
        return value.contract_id if isinstance(value, Contract) else str(value)

    def to_internal_value(self, data):
        return super().to_internal_value(data).strip().upper()


class CanViewContractRating(BasePermission):
    """Live ratings and the equity view: the role's `ratings.view_contract_rating` permission."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("ratings.view_contract_rating"))


class MeasurementYearSerializer(serializers.Serializer):
    """The measurement year a live view is for."""

    measurement_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)


MEASUREMENT_YEAR_PARAMETER = OpenApiParameter(
    "measurement_year",
    {"type": "integer", "minimum": MIN_YEAR, "maximum": MAX_YEAR},
    required=True,
    description="e.g. 2026 (counts towards star year 2028).",
)

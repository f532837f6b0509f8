"""API: a contract's live Star Rating and its health equity view."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from hedis_portal.routers import analytics_reads
from members.models import Contract
from members.selectors import contracts_for
from ratings.api.fields import MEASUREMENT_YEAR_PARAMETER, CanViewContractRating, MeasurementYearSerializer
from ratings.live import rating as live


class _ContractLiveView(APIView):
    """A read of one of your contracts for a measurement year; another contract's is a 404.

    The aggregate over the contract's gaps is read inside `analytics_reads()`: from the read
    replica when one is configured (hedis_portal/routers.py).
    """

    permission_classes = [CanViewContractRating]

    def _contract_and_year(self, request, contract_id: str) -> tuple[Contract, int]:
        payload = MeasurementYearSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        contract = get_object_or_404(contracts_for(request.user), contract_id=contract_id.upper())
        return contract, payload.validated_data["measurement_year"]


class ContractRatingView(_ContractLiveView):
    """Live Part C, Part D and overall ratings of a contract, with every intermediate."""

    @extend_schema(parameters=[MEASUREMENT_YEAR_PARAMETER], responses=OpenApiTypes.OBJECT)
    def get(self, request, contract_id: str):
        """Per measure: gap counts, rate, star, members to the next cut point, national percentile."""
        contract, measurement_year = self._contract_and_year(request, contract_id)
        with analytics_reads():
            rating = live.contract_live_rating(contract=contract, measurement_year=measurement_year)
        return Response(rating.as_dict())


class ContractEquityView(_ContractLiveView):
    """Health equity: each member-level measure's rate by LIS/DE and by disability, and the gaps."""

    @extend_schema(parameters=[MEASUREMENT_YEAR_PARAMETER], responses=OpenApiTypes.OBJECT)
    def get(self, request, contract_id: str):
        """Stratified rates and the gap between groups in percentage points."""
        contract, measurement_year = self._contract_and_year(request, contract_id)
        with analytics_reads():
            return Response(live.contract_equity(contract=contract, measurement_year=measurement_year))

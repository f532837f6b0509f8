"""API: portfolio snapshots of a contract's live rating, and their trend."""

from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.jobs import job_start
from hedis_portal.jobs_api import IDEMPOTENCY_KEY, JobSerializer, idempotency_key, job_accepted
from members.selectors import contracts_for
from ratings import filters
from ratings.api.fields import (
    MAX_YEAR,
    MEASUREMENT_YEAR_PARAMETER,
    MIN_YEAR,
    ContractIdField,
    MeasurementYearSerializer,
)
from ratings.api.live import LiveRatingSerializer
from ratings.live import selectors
from ratings.models import PortfolioSnapshot


class PortfolioSnapshotListSerializer(serializers.ModelSerializer):
    """A snapshot in a list or trend: when, by whom, and its ratings (read from the JSON in SQL)."""

    contract = serializers.CharField(source="contract.contract_id", read_only=True)
    taken_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    part_c_rating = serializers.FloatField(read_only=True, allow_null=True)
    part_d_rating = serializers.FloatField(read_only=True, allow_null=True)
    overall_rating = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = PortfolioSnapshot
        fields = [
            "id",
            "contract",
            "measurement_year",
            "star_year",
            "taken_at",
            "taken_by",
            "part_c_rating",
            "part_d_rating",
            "overall_rating",
        ]
        read_only_fields = fields


@extend_schema_field(LiveRatingSerializer)
class LiveRatingDocumentField(serializers.JSONField):
    """The live rating document a snapshot stored, as it was (the shape of `LiveRatingSerializer`)."""


class PortfolioSnapshotSerializer(serializers.ModelSerializer):
    """A snapshot with its whole document (see `ratings.live.rating.LiveRating.as_dict`)."""

    contract = serializers.CharField(source="contract.contract_id", read_only=True)
    taken_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    data = LiveRatingDocumentField(
        read_only=True, help_text="The contract's live rating when the snapshot was taken."
    )

    class Meta:
        model = PortfolioSnapshot
        fields = ["id", "contract", "measurement_year", "star_year", "taken_at", "taken_by", "data"]
        read_only_fields = fields


class SnapshotTakeSerializer(serializers.Serializer):
    """Which contract and measurement year to snapshot."""

    contract = ContractIdField()
    measurement_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)


class SnapshotAllSerializer(serializers.Serializer):
    """Which measurement year to snapshot, for every one of your contracts."""

    measurement_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)


def _with_ratings(queryset):
    """Annotate each snapshot's Part C, Part D and overall rating, extracted from the JSON by SQL.

    A JSON key transform (not its text form): a JSON null stays None on every backend.
    """
    return queryset.annotate(
        **{f"{name}_rating": F(f"data__{name}__rating") for name in ("part_c", "part_d", "overall")}
    )


class PortfolioSnapshotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Point-in-time portfolio records of your contracts: immutable, listed newest first."""

    filterset_class = filters.PortfolioSnapshotFilter
    ordering = ["-taken_at"]
    action_permissions = {
        "take": ["ratings.add_portfoliosnapshot"],
        "take_all": ["ratings.add_portfoliosnapshot"],
        "trend": ["ratings.view_portfoliosnapshot"],
    }

    def get_queryset(self):
        snapshots = selectors.snapshots_for(self.request.user)
        if self.action == "retrieve":
            return snapshots.defer(None)
        return _with_ratings(snapshots)

    def get_serializer_class(self):
        return (
            PortfolioSnapshotSerializer
            if self.action in ("retrieve", "take")
            else PortfolioSnapshotListSerializer
        )

    @extend_schema(
        request=SnapshotTakeSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: JobSerializer, 409: ErrorResponseSerializer},
    )
    @action(detail=False, methods=["post"])
    def take(self, request):
        """Start a snapshot of one of your contracts as a job: 202, and the job to poll."""
        payload = SnapshotTakeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contract = get_object_or_404(
            contracts_for(request.user), contract_id=payload.validated_data["contract"]
        )
        job, _ = job_start(
            kind="snapshot",
            user=request.user,
            contract=contract,
            parameters={"measurement_year": payload.validated_data["measurement_year"]},
            idempotency_key=idempotency_key(request),
        )
        return job_accepted(job, request)

    @extend_schema(
        request=SnapshotAllSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: JobSerializer},
    )
    @action(detail=False, methods=["post"], url_path="take-all")
    def take_all(self, request):
        """Start one job that snapshots every one of your contracts (all or none): 202, and the job."""
        payload = SnapshotAllSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job, _ = job_start(
            kind="snapshot_all",
            user=request.user,
            parameters={"measurement_year": payload.validated_data["measurement_year"]},
            idempotency_key=idempotency_key(request),
        )
        return job_accepted(job, request)

    @extend_schema(
        parameters=[
            OpenApiParameter("contract", str, required=True, description="CMS contract ID, e.g. H1234."),
            MEASUREMENT_YEAR_PARAMETER,
        ],
        filters=False,
        responses=PortfolioSnapshotListSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def trend(self, request):
        """A contract's snapshots of one measurement year, oldest first: the ratings over time."""
        payload = MeasurementYearSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        contract = get_object_or_404(
            contracts_for(request.user), contract_id=request.query_params.get("contract", "").upper()
        )
        points = _with_ratings(
            selectors.snapshots_for(request.user).filter(
                contract=contract, measurement_year=payload.validated_data["measurement_year"]
            )
        ).order_by("taken_at", "id")
        return Response(PortfolioSnapshotListSerializer(points, many=True).data)

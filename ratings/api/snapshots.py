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
from ratings.api.live import LIVE_RATING_EXAMPLE, LiveRatingSerializer
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


class SnapshotMeasureForecastSerializer(serializers.Serializer):
    """One measure's year-end forecast: its expected rate and the chance of each star."""

    expected_rate = serializers.FloatField(help_text="Percent, 0–100.")
    star_probabilities = serializers.DictField(
        child=serializers.FloatField(), help_text='By star, "1" to "5": a probability, 0–1.'
    )


class SnapshotProjectionSerializer(serializers.Serializer):
    """The year-end projection of the contract's latest forecast run when the snapshot was taken."""

    run = serializers.IntegerField(help_text="The forecast run.")
    created_at = serializers.DateTimeField()
    expected_overall = serializers.FloatField(help_text="Expected overall stars.")
    p_overall_at_least_4 = serializers.FloatField(help_text="P(overall ≥ 4 stars), 0–1.")
    overall_probabilities = serializers.DictField(
        child=serializers.FloatField(), help_text='By overall rating, e.g. "4.0": a probability, 0–1.'
    )
    measures = serializers.DictField(
        child=SnapshotMeasureForecastSerializer(), help_text="By CMS measure ID, e.g. C01."
    )


class SnapshotPlanSerializer(serializers.Serializer):
    """The contract's latest optimizer plan when the snapshot was taken."""

    run = serializers.IntegerField(help_text="The optimizer run.")
    created_at = serializers.DateTimeField()
    budget = serializers.FloatField(help_text="Dollars.")
    objective = serializers.CharField()
    total_cost = serializers.FloatField(help_text="Dollars the plan spends.")
    interventions = serializers.IntegerField(help_text="Interventions in the plan.")
    expected_overall_after = serializers.FloatField()
    p_overall_at_least_4_after = serializers.FloatField()
    proposed_at = serializers.DateTimeField(allow_null=True)


class PortfolioSnapshotDocumentSerializer(LiveRatingSerializer):
    """A snapshot's document: the live rating, and the latest forecast's projection and optimizer
    plan as they stood (null without such a run; absent from snapshots taken before they were kept)."""

    # Snapshot 1 of the demo data (H9002, measurement year 2026), trimmed as the rating's example.
    schema_example = {
        **LIVE_RATING_EXAMPLE,
        "projection": {
            "run": 4,
            "created_at": "2026-12-06T07:10:41.030275+00:00",
            "expected_overall": 4.05525,
            "p_overall_at_least_4": 1.0,
            "overall_probabilities": {"4.0": 0.8895, "4.5": 0.1105},
            "measures": {
                "C01": {
                    "expected_rate": 79.90848,
                    "star_probabilities": {"1": 0.0, "2": 0.0, "3": 0.0, "4": 0.998, "5": 0.002},
                },
                "C02": {
                    "expected_rate": 70.171384,
                    "star_probabilities": {"1": 0.0, "2": 0.0, "3": 0.196, "4": 0.804, "5": 0.0},
                },
            },
        },
        "plan": {
            "run": 1,
            "created_at": "2026-12-06T07:04:32.273077+00:00",
            "budget": 25000.0,
            "objective": "expected_overall",
            "total_cost": 24917.0,
            "interventions": 599,
            "expected_overall_after": 4.49985,
            "p_overall_at_least_4_after": 1.0,
            "proposed_at": None,
        },
    }

    projection = SnapshotProjectionSerializer(required=False, allow_null=True)
    plan = SnapshotPlanSerializer(required=False, allow_null=True)


@extend_schema_field(PortfolioSnapshotDocumentSerializer)
class SnapshotDocumentField(serializers.JSONField):
    """The document a snapshot stored, as it was (the shape of `PortfolioSnapshotDocumentSerializer`)."""


class PortfolioSnapshotSerializer(serializers.ModelSerializer):
    """A snapshot with its whole document (see `ratings.live.rating.LiveRating.as_dict`)."""

    contract = serializers.CharField(source="contract.contract_id", read_only=True)
    taken_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    data = SnapshotDocumentField(
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

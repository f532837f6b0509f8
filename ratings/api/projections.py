"""API: projected cut points of a star year not yet published. Start a projection as a job, and
read the kept ones (each measure's median and 80% interval beside the base year's cut points)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets

from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.jobs_api import IDEMPOTENCY_KEY, JobSerializer, idempotency_key, job_accepted
from ratings.api.fields import MAX_YEAR, MIN_YEAR
from ratings.benchmark.projection import DEFAULT_DRAWS, DEFAULT_SEED
from ratings.jobs import cut_point_projection_start
from ratings.models import CutPointProjection


class ProjectedThresholdSerializer(serializers.Serializer):
    star = serializers.IntegerField()
    latest_published = serializers.FloatField(help_text="The base year's published threshold.")
    median = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="10th percentile of the draws.")
    high = serializers.FloatField(allow_null=True, help_text="90th percentile of the draws.")


class ProjectedMeasureSerializer(serializers.Serializer):
    measure = serializers.CharField(help_text="The measure's ID in the base star year.")
    name = serializers.CharField()
    org_type = serializers.CharField(allow_null=True, help_text="MA-PD or PDP for Part D; null for Part C.")
    direction = serializers.CharField()
    note = serializers.CharField(
        help_text="Why it was not projected, or what to know (no trend, not guarded)."
    )
    thresholds = ProjectedThresholdSerializer(many=True)


class CutPointProjectionSerializer(serializers.ModelSerializer):
    """A kept projection: which star year, from which, when and by whom."""

    computed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = CutPointProjection
        fields = [
            "id",
            "target_star_year",
            "base_star_year",
            "trend_star_year",
            "draws",
            "seed",
            "computed_at",
            "computed_by",
        ]
        read_only_fields = fields


class CutPointProjectionDetailSerializer(CutPointProjectionSerializer):
    """A kept projection with every measure's thresholds (the draws themselves are not served)."""

    measures = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()

    class Meta(CutPointProjectionSerializer.Meta):
        fields = [*CutPointProjectionSerializer.Meta.fields, "measures", "notes"]
        read_only_fields = fields

    @extend_schema_field(ProjectedMeasureSerializer(many=True))
    def get_measures(self, projection) -> list[dict]:
        fields = ProjectedMeasureSerializer().fields
        return [{name: row[name] for name in fields} for row in projection.data["measures"]]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_notes(self, projection) -> list[str]:
        return list(projection.data["notes"])


class CutPointProjectionRequestSerializer(serializers.Serializer):
    target_star_year = serializers.IntegerField(
        min_value=MIN_YEAR, max_value=MAX_YEAR, help_text="The star year to project, e.g. 2028 for MY2026."
    )
    draws = serializers.IntegerField(min_value=10, max_value=1_000, default=DEFAULT_DRAWS)
    seed = serializers.IntegerField(min_value=0, max_value=2**32 - 1, default=DEFAULT_SEED)


class CutPointProjectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Kept cut point projections, newest target year first; a `POST` projects a star year as a job."""

    ordering = ["-target_star_year"]

    def get_queryset(self):
        projections = CutPointProjection.objects.select_related("computed_by")
        return projections.defer("data") if self.action == "list" else projections

    def get_serializer_class(self):
        return {
            "create": CutPointProjectionRequestSerializer,
            "list": CutPointProjectionSerializer,
        }.get(self.action, CutPointProjectionDetailSerializer)

    @extend_schema(
        request=CutPointProjectionRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: OpenApiResponse(
                JobSerializer,
                description="Accepted: the job to poll. When it has succeeded, its `result` links the "
                "projection (`url`); forecasts and optimizer runs for measurement years rated in that star "
                "year use it. It fails, storing nothing, when no earlier star year is imported.",
            ),
            403: OpenApiResponse(
                ErrorResponseSerializer, description="Your role may not project cut points."
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        """Project a star year's cut points as a job: 202, and the job to poll."""
        payload = CutPointProjectionRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = cut_point_projection_start(
            user=request.user, idempotency_key=idempotency_key(request), **payload.validated_data
        )
        return job_accepted(job, request)

"""API: the measure catalog and CMS cut points (read-only)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, viewsets

from ratings import filters
from ratings.api.fields import CmsNumberField
from ratings.benchmark import selectors as benchmark
from ratings.models import (
    CutPoint,
    Measure,
    StarYearMeasure,
)


class StarYearMeasureSerializer(serializers.ModelSerializer):
    """A measure's edition in one star year: its ID that year, weight and display precision."""

    weight = CmsNumberField(read_only=True, allow_null=True)

    class Meta:
        model = StarYearMeasure
        fields = ["star_year", "cms_id", "name", "weight", "display_precision", "improvement", "source"]
        read_only_fields = fields


class MeasureSerializer(serializers.ModelSerializer):
    """A stable measure with its editions per star year (IDs shift between years)."""

    editions = StarYearMeasureSerializer(many=True, read_only=True)

    class Meta:
        model = Measure
        fields = ["id", "code", "part", "name", "data_source", "direction", "member_level", "editions"]
        read_only_fields = fields


class ThresholdSerializer(serializers.Serializer):
    """The score that earns a star level."""

    stars = serializers.IntegerField()
    value = serializers.CharField()
    inclusive = serializers.BooleanField()


class CutPointSerializer(serializers.ModelSerializer):
    """One measure edition's thresholds for 2–5 stars for an organization type."""

    # Empty for Part C rows (read-only fields lose the model's blank=True).
    org_type = serializers.ChoiceField(choices=CutPoint.OrgType.choices, read_only=True, allow_blank=True)
    star_year = serializers.IntegerField(source="edition.star_year", read_only=True)
    cms_id = serializers.CharField(source="edition.cms_id", read_only=True)
    measure = serializers.CharField(source="edition.measure.code", read_only=True)
    name = serializers.CharField(source="edition.name", read_only=True)
    thresholds = serializers.SerializerMethodField()

    class Meta:
        model = CutPoint
        fields = ["id", "star_year", "cms_id", "measure", "name", "org_type", "direction", "thresholds"]
        read_only_fields = fields

    @extend_schema_field(ThresholdSerializer(many=True))
    def get_thresholds(self, cut: CutPoint) -> list[dict]:
        return [
            {"stars": level, "value": format(threshold.value, "f"), "inclusive": threshold.inclusive}
            for level, threshold in sorted(cut.as_cms().thresholds.items())
        ]


class MeasureViewSet(viewsets.ReadOnlyModelViewSet):
    """The measure catalog with each measure's editions per star year."""

    serializer_class = MeasureSerializer
    filterset_class = filters.MeasureFilter
    ordering = ["id"]

    def get_queryset(self):
        return benchmark.measures_with_editions()


class CutPointViewSet(viewsets.ReadOnlyModelViewSet):
    """Cut points per star year, measure and organization type (Part D differs for PDPs)."""

    serializer_class = CutPointSerializer
    filterset_class = filters.CutPointFilter
    ordering = ["id"]

    def get_queryset(self):
        return benchmark.cut_points()

"""API: CMS's national benchmark, its contracts with their published ratings and percentiles (read-only)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ratings import filters
from ratings.api.fields import CmsNumberField
from ratings.benchmark import selectors as benchmark
from ratings.models import (
    CmsContract,
    CmsMeasureValue,
)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "nullable": True},
        # H0028 in the 2026 summary table.
        "example": {"2023": "1", "2024": "9"},
    }
)
class DisasterPercentField(serializers.JSONField):
    """Per year (a key such as "2024"), the percent of enrollees CMS counted in FEMA Individual
    Assistance areas, as CMS wrote it (a decimal string; null where CMS left it blank)."""


class CmsContractSerializer(serializers.ModelSerializer):
    """A contract as CMS published it: organization, disaster %, ratings and CAI categories."""

    disaster_percent = DisasterPercentField(
        read_only=True,
        help_text="Year → % of enrollees in FEMA Individual Assistance areas (summary table), "
        "as a decimal string.",
    )
    part_c_summary = CmsNumberField(read_only=True, allow_null=True)
    part_d_summary = CmsNumberField(read_only=True, allow_null=True)
    overall = CmsNumberField(read_only=True, allow_null=True)

    class Meta:
        model = CmsContract
        fields = [
            "id",
            "star_year",
            "contract_id",
            "organization_type",
            "contract_name",
            "marketing_name",
            "parent_organization",
            "snp",
            "disaster_percent",
            "part_c_summary",
            "part_c_summary_status",
            "part_d_summary",
            "part_d_summary_status",
            "overall",
            "overall_status",
            "puerto_rico_only",
            "part_c_fac",
            "part_d_mapd_fac",
            "part_d_pdp_fac",
            "overall_fac",
        ]
        read_only_fields = fields


class CmsMeasureValueSerializer(serializers.ModelSerializer):
    """A contract's published score and star on one measure (a status text where no number)."""

    star_year = serializers.IntegerField(source="contract.star_year", read_only=True)
    contract = serializers.CharField(source="contract.contract_id", read_only=True)
    cms_id = serializers.CharField(source="edition.cms_id", read_only=True)
    measure = serializers.CharField(source="edition.measure.code", read_only=True)
    score = CmsNumberField(read_only=True, allow_null=True)

    class Meta:
        model = CmsMeasureValue
        fields = [
            "id",
            "star_year",
            "contract",
            "cms_id",
            "measure",
            "score",
            "score_status",
            "star",
            "star_status",
        ]
        read_only_fields = fields


class MeasureRankSerializer(serializers.Serializer):
    """Where a contract's score on one measure stands among every contract's."""

    cms_id = serializers.CharField()
    measure = serializers.CharField()
    score = serializers.CharField(allow_null=True)
    star = serializers.IntegerField(allow_null=True)
    percentile = serializers.FloatField(allow_null=True, help_text="Mid-rank: 100 best, 0 worst.")
    rank = serializers.IntegerField(allow_null=True, help_text="1 for the best score; ties share a rank.")
    contracts = serializers.IntegerField(help_text="Contracts with a score on this measure.")


class ContractRankSerializer(serializers.Serializer):
    """A CMS contract's national standing on each measure of a star year."""

    contract = serializers.CharField()
    star_year = serializers.IntegerField()
    measures = MeasureRankSerializer(many=True)


class CmsContractViewSet(viewsets.ReadOnlyModelViewSet):
    """Every contract of an imported star year, as CMS published it (analysts and administrators)."""

    serializer_class = CmsContractSerializer
    filterset_class = filters.CmsContractFilter
    ordering = ["id"]

    def get_queryset(self):
        return benchmark.cms_contracts()

    @extend_schema(
        parameters=[OpenApiParameter("measure", str, description="Only this measure ID, e.g. C01.")],
        responses=ContractRankSerializer,
    )
    @action(detail=True, methods=["get"])
    def rank(self, request, pk=None):
        """The contract's percentile and rank among all contracts on each measure (two queries)."""
        contract = self.get_object()
        values = CmsMeasureValue.objects.filter(contract=contract, score__isnull=False).select_related(
            "edition__measure"
        )
        if request.query_params.get("measure"):
            values = values.filter(edition__cms_id__iexact=request.query_params["measure"])
        values = list(values.order_by("edition__cms_id"))
        standings = benchmark.national_percentiles(
            {value.edition_id: (value.score, value.edition.measure.direction) for value in values}
        )
        measures = []
        for value in values:
            standing = standings[value.edition_id]
            measures.append(
                {
                    "cms_id": value.edition.cms_id,
                    "measure": value.edition.measure.code,
                    "score": format(value.score.normalize(), "f"),
                    "star": value.star,
                    "percentile": standing.percentile,
                    "rank": standing.rank,
                    "contracts": standing.contracts,
                }
            )
        return Response(
            {"contract": contract.contract_id, "star_year": contract.star_year, "measures": measures}
        )


class BenchmarkViewSet(viewsets.ReadOnlyModelViewSet):
    """Every contract's published measure scores and stars (the national benchmark)."""

    serializer_class = CmsMeasureValueSerializer
    filterset_class = filters.CmsMeasureValueFilter
    ordering = ["id"]

    def get_queryset(self):
        return benchmark.cms_measure_values()

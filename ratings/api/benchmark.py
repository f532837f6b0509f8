"""API: CMS's national benchmark, its contracts with their published ratings and percentiles, and
both across star years: a contract's scores and stars, a measure's cut points (read-only)."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from hedis_portal.filters import MAX_ID
from ratings import filters
from ratings.api.catalog import ThresholdSerializer
from ratings.api.fields import CmsNumberField
from ratings.benchmark import history
from ratings.benchmark import selectors as benchmark
from ratings.models import (
    CmsContract,
    CmsMeasureValue,
    CutPoint,
    Measure,
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


class MeasureYearSerializer(serializers.Serializer):
    """A contract's published score and star on a measure in one star year (a status where no number)."""

    star_year = serializers.IntegerField()
    cms_id = serializers.CharField(help_text="The measure's ID that year (IDs shift between years).")
    score = CmsNumberField(allow_null=True)
    score_status = serializers.CharField(help_text="CMS's words where there is no score, else empty.")
    star = serializers.IntegerField(allow_null=True)
    star_status = serializers.CharField(help_text="CMS's words where there is no star, else empty.")


class MeasureHistorySerializer(serializers.Serializer):
    """One measure, followed by what it is across its IDs, with the contract's value in each year."""

    measure_id = serializers.IntegerField(
        source="measure.pk", help_text="The measure at /api/measures/{id}/."
    )
    code = serializers.CharField(source="measure.code")
    part = serializers.CharField(source="measure.part")
    name = serializers.CharField(source="measure.name")
    direction = serializers.CharField(source="measure.direction")
    percentage = serializers.BooleanField(help_text="Scores are percentages.")
    years = serializers.SerializerMethodField(help_text="Oldest first; only the years with a published cell.")

    @extend_schema_field(MeasureYearSerializer(many=True))
    def get_years(self, measure: history.MeasureHistory) -> list[dict]:
        return MeasureYearSerializer([measure.years[year] for year in sorted(measure.years)], many=True).data


class RatingsYearSerializer(serializers.Serializer):
    """A contract's summary and overall ratings as CMS published them in one star year."""

    star_year = serializers.IntegerField()
    organization_type = serializers.CharField()
    contract_name = serializers.CharField()
    marketing_name = serializers.CharField()
    part_c_summary = CmsNumberField(allow_null=True)
    part_c_summary_status = serializers.CharField()
    part_d_summary = CmsNumberField(allow_null=True)
    part_d_summary_status = serializers.CharField()
    overall = CmsNumberField(allow_null=True)
    overall_status = serializers.CharField()


class ContractHistorySerializer(serializers.Serializer):
    """A CMS contract in every imported star year: its ratings, and its measures by identity."""

    contract_id = serializers.CharField()
    star_years = serializers.ListField(child=serializers.IntegerField(), help_text="Imported star years.")
    ratings = RatingsYearSerializer(many=True, help_text="The years the contract was published in.")
    measures = MeasureHistorySerializer(many=True)


# H0028 on the shipped 2025 and 2026 tables, three of its measures: Monitoring Physical Activity
# moved from C04 to C06; Improving or Maintaining Physical Health is only in the 2026 tables.
CONTRACT_HISTORY_EXAMPLE = {
    "contract_id": "H0028",
    "star_years": [2025, 2026],
    "ratings": [
        {
            "star_year": year,
            "organization_type": "Local CCP",
            "contract_name": "CHA HMO, INC.",
            "marketing_name": "Humana",
            "part_c_summary": "3.5",
            "part_c_summary_status": "",
            "part_d_summary": part_d,
            "part_d_summary_status": "",
            "overall": "3.5",
            "overall_status": "",
        }
        for year, part_d in ((2025, "3.5"), (2026, "3"))
    ],
    "measures": [
        {
            "measure_id": 43,
            "code": "IMPROVING-OR-MAINTAINING-PHYSICAL-HEALTH",
            "part": "C",
            "name": "Improving or Maintaining Physical Health",
            "direction": "higher",
            "percentage": True,
            "years": [
                {
                    "star_year": 2026,
                    "cms_id": "C04",
                    "score": None,
                    "score_status": "Not enough data available",
                    "star": None,
                    "star_status": "Not enough data available",
                }
            ],
        },
        {
            "measure_id": 4,
            "code": "PAO",
            "part": "C",
            "name": "Monitoring Physical Activity",
            "direction": "higher",
            "percentage": True,
            "years": [
                {
                    "star_year": 2025,
                    "cms_id": "C04",
                    "score": "51",
                    "score_status": "",
                    "star": 3,
                    "star_status": "",
                },
                {
                    "star_year": 2026,
                    "cms_id": "C06",
                    "score": "54",
                    "score_status": "",
                    "star": 4,
                    "star_status": "",
                },
            ],
        },
        {
            "measure_id": 38,
            "code": "ADH-DIAB",
            "part": "D",
            "name": "Medication Adherence for Diabetes Medications",
            "direction": "higher",
            "percentage": True,
            "years": [
                {
                    "star_year": 2025,
                    "cms_id": "D08",
                    "score": "86",
                    "score_status": "",
                    "star": 3,
                    "star_status": "",
                },
                {
                    "star_year": 2026,
                    "cms_id": "D08",
                    "score": "86",
                    "score_status": "",
                    "star": 3,
                    "star_status": "",
                },
            ],
        },
    ],
}


class CmsContractHistoryView(generics.GenericAPIView):
    """A CMS contract's published ratings and measure scores and stars in every imported star year."""

    serializer_class = ContractHistorySerializer
    # The role's permission to read CMS contracts (`ratings.view_cmscontract`), as for /api/cms-contracts/.
    queryset = CmsContract.objects.none()
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[OpenApiParameter("contract_id", str, OpenApiParameter.PATH, description="e.g. H0028.")],
        responses=ContractHistorySerializer,
        examples=[OpenApiExample("H0028 in 2025 and 2026", CONTRACT_HISTORY_EXAMPLE, response_only=True)],
    )
    def get(self, request, contract_id: str):
        """Per measure (the same measure across its IDs), the contract's score and star in every imported
        star year, statuses such as "Plan too small to be measured" as CMS wrote them; and its Part C,
        Part D and overall ratings per year. 404 for a contract no imported year has (three queries)."""
        contract_history = history.cms_contract_history(contract_id)
        if contract_history is None:
            raise Http404
        return Response(ContractHistorySerializer(contract_history).data)


class CutPointYearSerializer(serializers.Serializer):
    """A measure's thresholds for one organization type in one star year, and the 4-star change."""

    star_year = serializers.IntegerField()
    cms_id = serializers.CharField(help_text="The measure's ID that year.")
    thresholds = serializers.SerializerMethodField()
    four_star = serializers.SerializerMethodField(help_text="The 4-star threshold as CMS wrote it.")
    previous_star_year = serializers.IntegerField(allow_null=True)
    four_star_change = CmsNumberField(
        allow_null=True, help_text="4-star threshold minus the previous year's; null for the first year."
    )
    four_star_harder = serializers.BooleanField(
        source="harder",
        allow_null=True,
        help_text="4 stars got harder (true) or easier (false) to reach; null when unchanged or first.",
    )

    @extend_schema_field(ThresholdSerializer(many=True))
    def get_thresholds(self, year: history.CutPointYear) -> list[dict]:
        return [
            {"stars": level, "value": format(threshold.value, "f"), "inclusive": threshold.inclusive}
            for level, threshold in sorted(year.thresholds.items())
        ]

    def get_four_star(self, year: history.CutPointYear) -> str:
        return format(year.four_star.value, "f")


class OrgTypeCutPointsSerializer(serializers.Serializer):
    """One organization type's cut points by star year (Part C: "" for all contracts)."""

    org_type = serializers.ChoiceField(choices=CutPoint.OrgType.choices, allow_blank=True)
    years = CutPointYearSerializer(many=True)


class CutPointHistorySerializer(serializers.Serializer):
    """A measure's cut points in every imported star year, per organization type."""

    measure_id = serializers.IntegerField(source="measure.pk")
    code = serializers.CharField(source="measure.code")
    part = serializers.CharField(source="measure.part")
    name = serializers.CharField(source="measure.name")
    direction = serializers.CharField(source="measure.direction")
    percentage = serializers.BooleanField(help_text="Thresholds are percentages.")
    org_types = serializers.SerializerMethodField()

    @extend_schema_field(OrgTypeCutPointsSerializer(many=True))
    def get_org_types(self, measure: history.MeasureCutPointHistory) -> list[dict]:
        return OrgTypeCutPointsSerializer(
            [{"org_type": org_type, "years": years} for org_type, years in measure.by_org_type.items()],
            many=True,
        ).data


def _thresholds(*values: int) -> list[dict]:
    """2- to 5-star thresholds of an example, each inclusive as CMS writes "≥ 89"."""
    return [
        {"stars": stars, "value": str(value), "inclusive": True}
        for stars, value in zip(range(2, 6), values, strict=True)
    ]


# Medication Adherence for Diabetes Medications (D08) on the shipped 2025 and 2026 tables.
CUT_POINT_HISTORY_EXAMPLE = {
    "measure_id": 38,
    "code": "ADH-DIAB",
    "part": "D",
    "name": "Medication Adherence for Diabetes Medications",
    "direction": "higher",
    "percentage": True,
    "org_types": [
        {
            "org_type": "MA-PD",
            "years": [
                {
                    "star_year": 2025,
                    "cms_id": "D08",
                    "thresholds": _thresholds(80, 85, 87, 91),
                    "four_star": "87",
                    "previous_star_year": None,
                    "four_star_change": None,
                    "four_star_harder": None,
                },
                {
                    "star_year": 2026,
                    "cms_id": "D08",
                    "thresholds": _thresholds(83, 86, 89, 92),
                    "four_star": "89",
                    "previous_star_year": 2025,
                    "four_star_change": "2",
                    "four_star_harder": True,
                },
            ],
        },
        {
            "org_type": "PDP",
            "years": [
                {
                    "star_year": 2025,
                    "cms_id": "D08",
                    "thresholds": _thresholds(85, 87, 89, 93),
                    "four_star": "89",
                    "previous_star_year": None,
                    "four_star_change": None,
                    "four_star_harder": None,
                },
                {
                    "star_year": 2026,
                    "cms_id": "D08",
                    "thresholds": _thresholds(85, 87, 89, 92),
                    "four_star": "89",
                    "previous_star_year": 2025,
                    "four_star_change": "0",
                    "four_star_harder": None,
                },
            ],
        },
    ],
}


class MeasureCutPointHistoryView(generics.GenericAPIView):
    """A measure's cut points in every imported star year and the 4-star threshold's movement."""

    serializer_class = CutPointHistorySerializer
    # The role's permission to read cut points (`ratings.view_cutpoint`), as for /api/cut-points/.
    queryset = CutPoint.objects.none()
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The measure's id.")],
        responses=CutPointHistorySerializer,
        examples=[OpenApiExample("ADH-DIAB in 2025 and 2026", CUT_POINT_HISTORY_EXAMPLE, response_only=True)],
    )
    def get(self, request, pk: int):
        """The measure's 2-5 star thresholds per star year (per organization type for Part D), across its
        IDs, with the 4-star threshold's change from the previous year. 404 for an unknown measure; a
        measure with no cut points imported has no organization types (two queries)."""
        if pk > MAX_ID:
            raise Http404
        measure = get_object_or_404(Measure, pk=pk)
        found = history.cut_point_history([measure.pk])
        measure_history = (
            found[0] if found else history.MeasureCutPointHistory(measure, history.is_percentage(measure))
        )
        return Response(CutPointHistorySerializer(measure_history).data)

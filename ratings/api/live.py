"""API: a contract's live Star Rating and its health equity view."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hedis_portal.routers import analytics_reads
from members.models import Contract
from members.selectors import contracts_for
from ratings.api.fields import MEASUREMENT_YEAR_PARAMETER, CanViewContractRating, MeasurementYearSerializer
from ratings.live import rating as live


def _ids(text: str) -> list[str]:
    """Measure IDs written as one string of words (the examples' long lists)."""
    return text.split()


# Real answers for H9002, measurement year 2026, on the demo data (`load_demo_data`), each with its
# measures trimmed to two: the schema's examples.
LIVE_RATING_EXAMPLE = {
    "contract": "H9002",
    "measurement_year": 2026,
    "star_year": 2028,
    "cut_point_star_year": 2026,
    "methodology_star_year": 2026,
    "reward_method": "reward_factor",
    "notes": [
        (
            "Cut points for star year 2028 are not loaded; stars use the star year 2026 cut "
            "points, the latest loaded, and ratings that year's catalog and methodology (weights, "
            "reward factor thresholds, CAI values)."
        )
    ],
    "profile": {
        "contract_type": "ccp_without_snp",
        "contract_type_source": (
            "organization type and SNP flag (a CCP is assumed; set the rating profile otherwise)"
        ),
        "rated_as": "MA-PD",
        "puerto_rico_only": False,
        "fac": {
            "part_c": {
                "category": 3,
                "source": "derived from LIS/DE 12.40% and disability 14.80% (Tables 13-15)",
            },
            "part_d": {
                "category": 2,
                "source": "derived from LIS/DE 12.40% and disability 14.80% (Tables 16-18)",
            },
            "overall": {
                "category": 2,
                "source": "derived from LIS/DE 12.40% and disability 14.80% (Tables 10-12)",
            },
        },
    },
    "measures": [
        {
            "measure": "BCS",
            "measure_pk": 1,
            "name": "Breast Cancer Screening",
            "part": "C",
            "cms_id": "C01",
            "weight": 1.0,
            "member_level": True,
            "source": "gaps",
            "denominator": 348,
            "closed": 253,
            "open": 89,
            "excluded": 6,
            "rate": 73.9766,
            "score": 74.0,
            "status": None,
            "star": 3,
            "next_star": 4,
            "next_cut_point": 76.0,
            "members_to_next_cut_point": 6,
            "next_cut_point_reachable": True,
            "national_percentile": 47.1,
            "national_rank": 258,
            "national_contracts": 499,
            "notes": [],
            "strata": {
                "lis_de": {"eligible": 41, "closed": 27, "rate": 65.8537},
                "non_lis_de": {"eligible": 301, "closed": 226, "rate": 75.0831},
                "disability": {"eligible": 48, "closed": 32, "rate": 66.6667},
                "non_disability": {"eligible": 294, "closed": 221, "rate": 75.1701},
                "lis_de_gap": -9.2294,
                "disability_gap": -8.5034,
            },
        },
        {
            "measure": "ANNUAL-FLU-VACCINE",
            "measure_pk": 3,
            "name": "Annual Flu Vaccine",
            "part": "C",
            "cms_id": "C03",
            "weight": 1.0,
            "member_level": False,
            "source": "contract_score",
            "denominator": None,
            "closed": None,
            "open": None,
            "excluded": None,
            "rate": None,
            "score": 68.0,
            "status": None,
            "star": 4,
            "next_star": None,
            "next_cut_point": None,
            "members_to_next_cut_point": None,
            "next_cut_point_reachable": None,
            "national_percentile": 55.0,
            "national_rank": 208,
            "national_contracts": 497,
            "notes": [
                (
                    "CAHPS measure: CMS also applies significance and reliability tests (Attachment K, "
                    "Table K-7), so this star from the cut points alone is an estimate."
                )
            ],
        },
    ],
    "part_c": {
        "rating": 4.0,
        "status": None,
        "rated_measures": 26,
        "minimum_required": 15,
        "path": "with_improvement",
        "new_measures_excluded": False,
        "with_improvement": {
            "measures": _ids(
                "C01 C02 C03 C04 C05 C06 C11 C12 C13 C14 C15 C16 C18 C19 "
                "C20 C22 C23 C24 C25 C26 C27 C28 C29 C30 C31 C32 C33"
            ),
            "measure_count": 27,
            "weight_sum": 48.0,
            "weighted_mean": 3.875,
            "weighted_variance": 0.459736,
            "reward_factor": 0.2,
            "cai": -0.013699,
            "value_before_rounding": 4.061301,
            "rating": 4.0,
            "with_new_measures": True,
        },
        "without_improvement": {
            "measures": _ids(
                "C01 C02 C03 C04 C05 C06 C11 C12 C13 C14 C15 C16 C18 C19 "
                "C20 C22 C23 C24 C25 C26 C27 C28 C29 C31 C32 C33"
            ),
            "measure_count": 26,
            "weight_sum": 43.0,
            "weighted_mean": 3.976744,
            "weighted_variance": 0.4106,
            "reward_factor": 0.2,
            "cai": -0.013699,
            "value_before_rounding": 4.163045,
            "rating": 4.0,
            "with_new_measures": True,
        },
    },
    "part_d": {
        "rating": 3.0,
        "status": None,
        "rated_measures": 11,
        "minimum_required": 6,
        "path": "with_improvement",
        "new_measures_excluded": False,
        "with_improvement": {
            "measures": _ids("D01 D02 D03 D04 D05 D06 D07 D08 D09 D10 D11 D12"),
            "measure_count": 12,
            "weight_sum": 27.0,
            "weighted_mean": 3.148148,
            "weighted_variance": 1.268986,
            "reward_factor": 0.0,
            "cai": -0.014987,
            "value_before_rounding": 3.133161,
            "rating": 3.0,
            "with_new_measures": True,
        },
        "without_improvement": {
            "measures": _ids("D01 D02 D03 D05 D06 D07 D08 D09 D10 D11 D12"),
            "measure_count": 11,
            "weight_sum": 22.0,
            "weighted_mean": 3.181818,
            "weighted_variance": 1.563636,
            "reward_factor": 0.0,
            "cai": -0.014987,
            "value_before_rounding": 3.166831,
            "rating": 3.0,
            "with_new_measures": True,
        },
    },
    "overall": {
        "rating": 3.5,
        "status": None,
        "rated_measures": 35,
        "minimum_required": 19,
        "path": "with_improvement",
        "new_measures_excluded": False,
        "with_improvement": {
            "measures": _ids(
                "C01 C02 C03 C04 C05 C06 C11 C12 C13 C14 C15 C16 C18 C19 "
                "C20 C22 C23 C24 C25 C26 C27 C28 C29 C30 C31 C32 C33 D01 "
                "D04 D05 D06 D07 D08 D09 D10 D11 D12"
            ),
            "measure_count": 37,
            "weight_sum": 71.0,
            "weighted_mean": 3.591549,
            "weighted_variance": 0.885263,
            "reward_factor": 0.0,
            "cai": -0.040422,
            "value_before_rounding": 3.551127,
            "rating": 3.5,
            "with_new_measures": True,
        },
        "without_improvement": {
            "measures": _ids(
                "C01 C02 C03 C04 C05 C06 C11 C12 C13 C14 C15 C16 C18 C19 "
                "C20 C22 C23 C24 C25 C26 C27 C28 C29 C31 C32 C33 D01 D05 "
                "D06 D07 D08 D09 D10 D11 D12"
            ),
            "measure_count": 35,
            "weight_sum": 61.0,
            "weighted_mean": 3.688525,
            "weighted_variance": 0.963293,
            "reward_factor": 0.1,
            "cai": -0.040422,
            "value_before_rounding": 3.748103,
            "rating": 3.5,
            "with_new_measures": True,
        },
    },
}

EQUITY_EXAMPLE = {
    "contract": "H9002",
    "measurement_year": 2026,
    "star_year": 2028,
    "reward_method": "reward_factor",
    "notes": [
        "No methodology is shipped for star year 2028; the reward method is that of star year 2026.",
        (
            "The Health Equity Index is not computed (it needs CMS's national benchmarks by social "
            "risk factor); the stratified rates show where the plan's disparities are."
        ),
    ],
    "measures": [
        {
            "measure": "ADH-DIAB",
            "name": "Medication Adherence for Diabetes Medications",
            "part": "D",
            "eligible": 594,
            "closed": 537,
            "rate": 90.404,
            "lis_de": {"eligible": 58, "closed": 55, "rate": 94.8276},
            "non_lis_de": {"eligible": 536, "closed": 482, "rate": 89.9254},
            "disability": {"eligible": 86, "closed": 76, "rate": 88.3721},
            "non_disability": {"eligible": 508, "closed": 461, "rate": 90.748},
            "lis_de_gap": 4.9022,
            "disability_gap": -2.3759,
        },
        {
            "measure": "ADH-RAS",
            "name": "Medication Adherence for Hypertension (RAS antagonists)",
            "part": "D",
            "eligible": 1059,
            "closed": 861,
            "rate": 81.3031,
            "lis_de": {"eligible": 105, "closed": 85, "rate": 80.9524},
            "non_lis_de": {"eligible": 954, "closed": 776, "rate": 81.3417},
            "disability": {"eligible": 142, "closed": 117, "rate": 82.3944},
            "non_disability": {"eligible": 917, "closed": 744, "rate": 81.1341},
            "lis_de_gap": -0.3893,
            "disability_gap": 1.2602,
        },
    ],
}


# --- the documents' shapes (documentation only: the views answer `as_dict()` as it is) --------------


class LiveRatingCalculationSerializer(serializers.Serializer):
    """One run of CMS's weighted-mean formula, with its intermediates."""

    measures = serializers.ListField(
        child=serializers.CharField(), help_text="CMS IDs of the measures with a star it counted."
    )
    measure_count = serializers.IntegerField()
    weight_sum = serializers.FloatField()
    weighted_mean = serializers.FloatField(help_text="Σ weight × star ÷ Σ weight.")
    weighted_variance = serializers.FloatField(allow_null=True)
    reward_factor = serializers.FloatField(help_text="Added for high and consistent stars.")
    cai = serializers.FloatField(help_text="Categorical Adjustment Index for the contract's category.")
    value_before_rounding = serializers.FloatField(help_text="Weighted mean + reward factor + CAI.")
    rating = serializers.FloatField(help_text="Rounded to the nearest half star.")
    with_new_measures = serializers.BooleanField()


class LiveRatingSummarySerializer(serializers.Serializer):
    """A Part C, Part D or overall rating: both improvement-measure paths and the one CMS takes."""

    rating = serializers.FloatField(allow_null=True, help_text="Stars, in half stars; null when not rated.")
    status = serializers.CharField(allow_null=True, help_text="CMS's message when there is no rating.")
    rated_measures = serializers.IntegerField()
    minimum_required = serializers.IntegerField(allow_null=True)
    path = serializers.CharField(
        allow_null=True, help_text="`with_improvement` or `without_improvement`: the calculation used."
    )
    new_measures_excluded = serializers.BooleanField(
        help_text="Whether the disaster hold harmless left the new measures out."
    )
    with_improvement = LiveRatingCalculationSerializer(allow_null=True)
    without_improvement = LiveRatingCalculationSerializer(allow_null=True)


class LiveRatingCategorySerializer(serializers.Serializer):
    """A final adjustment category (the CAI's) and where it came from."""

    category = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()


class LiveRatingCategoriesSerializer(serializers.Serializer):
    """The final adjustment category of each rating."""

    part_c = LiveRatingCategorySerializer()
    part_d = LiveRatingCategorySerializer()
    overall = LiveRatingCategorySerializer()


class LiveRatingProfileSerializer(serializers.Serializer):
    """How the contract is rated; empty when no methodology rates its star year."""

    contract_type = serializers.CharField(required=False)
    contract_type_source = serializers.CharField(required=False)
    rated_as = serializers.CharField(required=False, help_text="MA-PD, MA-only or PDP.")
    puerto_rico_only = serializers.BooleanField(required=False)
    fac = LiveRatingCategoriesSerializer(required=False)


class StratumSerializer(serializers.Serializer):
    """One group's members with the measure's denominator (less exclusions), closed, and rate."""

    eligible = serializers.IntegerField()
    closed = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True, help_text="Percent, 0–100; null with no member.")


class StrataSerializer(serializers.Serializer):
    """Rates by LIS/DE and by disability, and the gaps between groups (negative: the group at risk
    does worse)."""

    lis_de = StratumSerializer()
    non_lis_de = StratumSerializer()
    disability = StratumSerializer()
    non_disability = StratumSerializer()
    lis_de_gap = serializers.FloatField(allow_null=True, help_text="Percentage points, LIS/DE − others.")
    disability_gap = serializers.FloatField(
        allow_null=True, help_text="Percentage points, disability − others."
    )


class LiveRatingMeasureSerializer(serializers.Serializer):
    """One measure: its score and where it comes from, its star, the next cut point, its national rank."""

    measure = serializers.CharField(help_text="Measure code, e.g. BCS.")
    measure_pk = serializers.IntegerField()
    name = serializers.CharField()
    part = serializers.CharField(help_text="C or D.")
    cms_id = serializers.CharField(allow_null=True, help_text="Null when the star year does not rate it.")
    weight = serializers.FloatField(allow_null=True)
    member_level = serializers.BooleanField(help_text="Scored from care gaps (else a contract-level score).")
    source = serializers.CharField(
        allow_null=True, help_text="`gaps`, `contract_score`, or null when there is no score."
    )
    denominator = serializers.IntegerField(allow_null=True)
    closed = serializers.IntegerField(allow_null=True)
    open = serializers.IntegerField(allow_null=True)
    excluded = serializers.IntegerField(allow_null=True)
    rate = serializers.FloatField(allow_null=True, help_text="Percent from the gaps, 0–100.")
    score = serializers.FloatField(allow_null=True, help_text="As CMS compares it with the cut points.")
    status = serializers.CharField(allow_null=True, help_text="Why there is no score.")
    star = serializers.IntegerField(allow_null=True)
    next_star = serializers.IntegerField(allow_null=True)
    next_cut_point = serializers.FloatField(allow_null=True)
    members_to_next_cut_point = serializers.IntegerField(
        allow_null=True, help_text="The fewest more closures that reach the next star."
    )
    next_cut_point_reachable = serializers.BooleanField(
        allow_null=True, help_text="Whether enough gaps are open for it."
    )
    national_percentile = serializers.FloatField(allow_null=True, help_text="Mid-rank: 100 best, 0 worst.")
    national_rank = serializers.IntegerField(allow_null=True)
    national_contracts = serializers.IntegerField(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())
    strata = StrataSerializer(required=False, help_text="For a measure scored from gaps.")


class LiveRatingSerializer(serializers.Serializer):
    """A contract's live rating for a measurement year (`ratings.live.rating.LiveRating.as_dict`)."""

    schema_example = LIVE_RATING_EXAMPLE

    contract = serializers.CharField()
    measurement_year = serializers.IntegerField()
    star_year = serializers.IntegerField(help_text="The star year the results count towards.")
    cut_point_star_year = serializers.IntegerField(
        allow_null=True, help_text="The star year whose cut points rated it."
    )
    methodology_star_year = serializers.IntegerField(allow_null=True)
    reward_method = serializers.CharField(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())
    profile = LiveRatingProfileSerializer()
    measures = LiveRatingMeasureSerializer(many=True)
    part_c = LiveRatingSummarySerializer(allow_null=True)
    part_d = LiveRatingSummarySerializer(allow_null=True)
    overall = LiveRatingSummarySerializer(allow_null=True)


class ContractEquityMeasureSerializer(StrataSerializer):
    """One member-level measure's rate, by LIS/DE and by disability."""

    measure = serializers.CharField()
    name = serializers.CharField()
    part = serializers.CharField()
    eligible = serializers.IntegerField()
    closed = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)


class ContractEquitySerializer(serializers.Serializer):
    """A contract's health equity view for a measurement year."""

    schema_example = EQUITY_EXAMPLE

    contract = serializers.CharField()
    measurement_year = serializers.IntegerField()
    star_year = serializers.IntegerField()
    reward_method = serializers.CharField(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())
    measures = ContractEquityMeasureSerializer(many=True)


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

    @extend_schema(parameters=[MEASUREMENT_YEAR_PARAMETER], responses=LiveRatingSerializer)
    def get(self, request, contract_id: str):
        """Per measure: gap counts, rate, star, members to the next cut point, national percentile."""
        contract, measurement_year = self._contract_and_year(request, contract_id)
        with analytics_reads():
            rating = live.contract_live_rating(contract=contract, measurement_year=measurement_year)
        return Response(rating.as_dict())


class ContractEquityView(_ContractLiveView):
    """Health equity: each member-level measure's rate by LIS/DE and by disability, and the gaps."""

    @extend_schema(parameters=[MEASUREMENT_YEAR_PARAMETER], responses=ContractEquitySerializer)
    def get(self, request, contract_id: str):
        """Stratified rates and the gap between groups in percentage points."""
        contract, measurement_year = self._contract_and_year(request, contract_id)
        with analytics_reads():
            return Response(live.contract_equity(contract=contract, measurement_year=measurement_year))

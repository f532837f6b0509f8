"""REST API for the measure catalog, cut points, the national benchmark, live contract ratings,
contract-level scores, rating profiles, portfolio snapshots and the health equity view."""

from decimal import Decimal

from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from hedis_portal.audit import log_access
from hedis_portal.routers import analytics_reads
from members.models import Contract
from members.selectors import contracts_for
from ratings import filters, live, planning, selectors, services
from ratings.models import (
    CmsContract,
    CmsMeasureValue,
    ContractMeasureScore,
    ContractRatingProfile,
    CutPoint,
    Measure,
    PortfolioRun,
    PortfolioSnapshot,
    StarYearMeasure,
)

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


# --- catalog and cut points -------------------------------------------------------------------


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
        return selectors.measures_with_editions()


class CutPointViewSet(viewsets.ReadOnlyModelViewSet):
    """Cut points per star year, measure and organization type (Part D differs for PDPs)."""

    serializer_class = CutPointSerializer
    filterset_class = filters.CutPointFilter
    ordering = ["id"]

    def get_queryset(self):
        return selectors.cut_points()


# --- national benchmark -----------------------------------------------------------------------


class CmsContractSerializer(serializers.ModelSerializer):
    """A contract as CMS published it: organization, disaster %, ratings and CAI categories."""

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
        return selectors.cms_contracts()

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
        standings = selectors.national_percentiles(
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
        return selectors.cms_measure_values()


# --- live ratings and equity --------------------------------------------------------------------


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


# --- contract-level scores and rating profiles --------------------------------------------------


class _KeyedOnCreate(serializers.ModelSerializer):
    """Contract and star year (the row's key) are set on create and read-only afterwards."""

    contract = ContractIdField()
    key_fields = ("contract", "star_year")

    def get_fields(self):
        fields = super().get_fields()
        if isinstance(self.instance, self.Meta.model):
            for name in self.key_fields:
                fields[name].read_only = True
        return fields


class ContractMeasureScoreSerializer(_KeyedOnCreate):
    """A contract-level score (or CMS status) for a measure not computed from gaps."""

    key_fields = ("contract", "star_year", "measure")
    measure = serializers.PrimaryKeyRelatedField(queryset=Measure.objects.all())
    measure_code = serializers.CharField(source="measure.code", read_only=True)
    score = CmsNumberField(allow_null=True, required=False)
    entered_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    star_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)

    class Meta:
        model = ContractMeasureScore
        fields = [
            "id",
            "contract",
            "star_year",
            "measure",
            "measure_code",
            "score",
            "status",
            "note",
            "entered_by",
            "entered_at",
        ]
        read_only_fields = ["id", "measure_code", "entered_by", "entered_at"]


class ContractRatingProfileSerializer(_KeyedOnCreate):
    """How a contract is rated for a star year; empty fields are derived (see the model)."""

    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    star_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)

    class Meta:
        model = ContractRatingProfile
        fields = [
            "id",
            "contract",
            "star_year",
            "contract_type",
            "part_c_fac",
            "part_d_fac",
            "overall_fac",
            "puerto_rico_only",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_by", "updated_at"]


class _ContractInputViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read, create and change rows of your contracts (no delete: changes are audited).

    Changes are PATCH only: a PUT with an empty body was a full update that changed nothing but
    who entered the row. An empty PATCH changes nothing, the entry's author and time included.
    """

    http_method_names = ["get", "post", "patch", "head", "options"]

    def _contract(self, contract_id: str) -> Contract:
        """One of the user's contracts; 404 for any other, existing or not (never says which)."""
        return get_object_or_404(contracts_for(self.request.user), contract_id=contract_id)


class ContractMeasureScoreViewSet(_ContractInputViewSet):
    """Contract-level scores for CAHPS, complaints, appeals, call centre, … (analysts write)."""

    serializer_class = ContractMeasureScoreSerializer
    filterset_class = filters.ContractMeasureScoreFilter

    def get_queryset(self):
        return selectors.contract_measure_scores_for(self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.contract_measure_score_create(
            contract=self._contract(data.pop("contract")), entered_by=self.request.user, **data
        )

    def perform_update(self, serializer):
        serializer.instance = services.contract_measure_score_update(
            entry=serializer.instance, entered_by=self.request.user, **serializer.validated_data
        )


class ContractRatingProfileViewSet(_ContractInputViewSet):
    """Contract type and CAI categories per contract and star year (analysts write)."""

    serializer_class = ContractRatingProfileSerializer
    filterset_class = filters.ContractRatingProfileFilter

    def get_queryset(self):
        return selectors.rating_profiles_for(self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = services.contract_rating_profile_create(
            contract=self._contract(data.pop("contract")), updated_by=self.request.user, **data
        )

    def perform_update(self, serializer):
        serializer.instance = services.contract_rating_profile_update(
            profile=serializer.instance, updated_by=self.request.user, **serializer.validated_data
        )


# --- portfolio snapshots --------------------------------------------------------------------------


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


class PortfolioSnapshotSerializer(serializers.ModelSerializer):
    """A snapshot with its whole document (see `ratings.live.LiveRating.as_dict`)."""

    contract = serializers.CharField(source="contract.contract_id", read_only=True)
    taken_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PortfolioSnapshot
        fields = ["id", "contract", "measurement_year", "star_year", "taken_at", "taken_by", "data"]
        read_only_fields = fields


class SnapshotTakeSerializer(serializers.Serializer):
    """Which contract and measurement year to snapshot."""

    contract = ContractIdField()
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

    @extend_schema(request=SnapshotTakeSerializer, responses={201: PortfolioSnapshotSerializer})
    @action(detail=False, methods=["post"])
    def take(self, request):
        """Take a snapshot of one of your contracts now."""
        payload = SnapshotTakeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contract = get_object_or_404(
            contracts_for(request.user), contract_id=payload.validated_data["contract"]
        )
        snapshot = services.portfolio_snapshot_create(
            contract=contract,
            measurement_year=payload.validated_data["measurement_year"],
            taken_by=request.user,
        )
        return Response(PortfolioSnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)

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


# --- forecasts, what-if scenarios and optimizer runs ---------------------------------------------


class PortfolioRunSerializer(serializers.ModelSerializer):
    """A stored run: what it saw, its parameters, its result, solver status and time taken."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PortfolioRun
        fields = [
            "id",
            "kind",
            "name",
            "contract",
            "measurement_year",
            "parameters",
            "inputs",
            "result",
            "solver_status",
            "optimality_gap",
            "duration_ms",
            "created_by",
            "created_at",
            "proposed_at",
        ]
        read_only_fields = fields


class AssumptionSerializer(serializers.Serializer):
    """One measure's what-if: exactly one of the four (and nothing else)."""

    schema_constraints = {"minProperties": 1, "maxProperties": 1, "additionalProperties": False}

    extra_closures = serializers.IntegerField(min_value=0, required=False)
    target_rate = serializers.DecimalField(
        max_digits=7, decimal_places=3, min_value=0, max_value=100, required=False
    )
    star = serializers.IntegerField(min_value=1, max_value=5, required=False)
    score = serializers.DecimalField(max_digits=12, decimal_places=6, required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and set(data) - set(self.fields):
            raise serializers.ValidationError(
                f"Unknown assumption; set exactly one of {', '.join(self.fields)}."
            )
        return super().to_internal_value(data)

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("Set exactly one of extra_closures, target_rate, star, score.")
        return attrs


class ForecastRequestSerializer(serializers.Serializer):
    """A forecast, or with `name` and `assumptions` a named what-if scenario."""

    # Both `name` and `assumptions`, or neither; assumptions for at least one measure.
    schema_constraints = {
        "anyOf": [
            {"required": ["name", "assumptions"]},
            {"not": {"anyOf": [{"required": ["name"]}, {"required": ["assumptions"]}]}},
        ],
        "properties": {"assumptions": {"minProperties": 1}},
    }

    contract = serializers.CharField(max_length=5)
    measurement_year = serializers.IntegerField(min_value=2000, max_value=2100)
    draws = serializers.IntegerField(min_value=100, max_value=200_000, default=10_000)
    seed = serializers.IntegerField(min_value=0, default=0)
    name = serializers.CharField(max_length=200, required=False, allow_blank=False)
    assumptions = serializers.DictField(child=AssumptionSerializer(), required=False)

    def validate(self, attrs):
        if bool(attrs.get("name")) != bool(attrs.get("assumptions")):
            raise serializers.ValidationError("A what-if scenario needs both a name and assumptions.")
        return attrs


class OptimizerRequestSerializer(serializers.Serializer):
    """An optimizer run: a budget and the objective to maximize."""

    contract = serializers.CharField(max_length=5)
    measurement_year = serializers.IntegerField(min_value=2000, max_value=2100)
    budget = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    objective = serializers.ChoiceField(choices=planning.OBJECTIVES, default="expected_overall")
    draws = serializers.IntegerField(min_value=100, max_value=200_000, default=10_000)
    seed = serializers.IntegerField(min_value=0, default=0)
    time_limit = serializers.FloatField(min_value=1, max_value=600, default=60)


class _RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stored runs of your contracts, newest first."""

    serializer_class = PortfolioRunSerializer
    filterset_class = filters.PortfolioRunFilter
    ordering = ["-created_at", "-id"]
    kinds: tuple[str, ...] = ()

    def get_queryset(self):
        runs = PortfolioRun.objects.visible_to(self.request.user).filter(kind__in=self.kinds)
        if self.action == "list":
            # The lists show what was run and its headline; the inputs and result are on the detail.
            runs = runs.defer("inputs", "result")
        return runs.select_related("contract", "created_by")

    def retrieve(self, request, *args, **kwargs):
        """One run whole; its inputs and plan name members, so each read is an access entry."""
        run = self.get_object()
        log_access(run)
        return Response(self.get_serializer(run).data)

    def _contract(self, contract_id: str) -> Contract:
        return get_object_or_404(contracts_for(self.request.user), contract_id=contract_id.strip().upper())


class ForecastViewSet(_RunViewSet):
    """Year-end forecasts and named what-if scenarios (Monte Carlo, seeded; draws stated)."""

    kinds = (PortfolioRun.Kind.FORECAST, PortfolioRun.Kind.WHAT_IF)
    action_permissions = {"create": ["ratings.add_portfoliorun"]}

    @extend_schema(request=ForecastRequestSerializer, responses={201: PortfolioRunSerializer})
    def create(self, request):
        """Run a forecast (or a what-if scenario) now and store it."""
        payload = ForecastRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        common = {
            "contract": self._contract(data["contract"]),
            "measurement_year": data["measurement_year"],
            "user": request.user,
            "draws": data["draws"],
            "seed": data["seed"],
        }
        if data.get("assumptions"):
            run = planning.what_if_run_create(name=data["name"], assumptions=data["assumptions"], **common)
        else:
            run = planning.forecast_run_create(**common)
        return Response(PortfolioRunSerializer(run).data, status=status.HTTP_201_CREATED)


class OptimizerRunViewSet(_RunViewSet):
    """Optimizer runs: which interventions to propose, within a budget, to move the rating most."""

    kinds = (PortfolioRun.Kind.OPTIMIZE,)
    action_permissions = {
        "create": ["ratings.add_portfoliorun"],
        "propose": ["ratings.add_portfoliorun", "interventions.add_intervention"],
    }

    @extend_schema(request=OptimizerRequestSerializer, responses={201: PortfolioRunSerializer})
    def create(self, request):
        """Optimize now, store the plan, and re-score the worklist's priorities from it."""
        payload = OptimizerRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        run = planning.optimizer_run_create(
            contract=self._contract(data["contract"]),
            measurement_year=data["measurement_year"],
            user=request.user,
            budget=data["budget"],
            objective=data["objective"],
            draws=data["draws"],
            seed=data["seed"],
            time_limit=data["time_limit"],
        )
        return Response(PortfolioRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=inline_serializer("ProposedInterventions", {"proposed": serializers.IntegerField()}),
    )
    @action(detail=True, methods=["post"])
    def propose(self, request, pk=None):
        """Turn the plan into `proposed` interventions, each awaiting a human's approval."""
        return Response(
            {"proposed": planning.optimizer_run_propose(run=self.get_object(), user=request.user)}
        )

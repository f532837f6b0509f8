"""API: forecasts, what-if scenarios and optimizer runs (and proposing a run's interventions)."""

from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from hedis_portal.audit import log_access
from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.jobs import job_start
from hedis_portal.jobs_api import IDEMPOTENCY_KEY, JobSerializer, idempotency_key, job_accepted
from members.models import Contract
from members.selectors import contracts_for
from ratings import filters
from ratings.jobs import forecast_start, optimize_start
from ratings.live import rating as live
from ratings.models import PortfolioRun
from ratings.planning import services as planning


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
    assumptions = serializers.DictField(
        child=AssumptionSerializer(),
        required=False,
        help_text="Per measure, named by its measure code (`CBP`) or its CMS ID in the star year's "
        "catalog (`C14` in 2026).",
    )

    def validate(self, attrs):
        if bool(attrs.get("name")) != bool(attrs.get("assumptions")):
            raise serializers.ValidationError("A what-if scenario needs both a name and assumptions.")
        if attrs.get("assumptions"):
            attrs["assumptions"] = _by_cms_id(attrs["assumptions"], attrs["measurement_year"])
        return attrs


def _by_cms_id(assumptions: dict, measurement_year: int) -> dict:
    """The assumptions keyed by CMS ID, each measure named by its code (CBP) or its CMS ID (C14)."""
    known = live.rated_measure_ids(measurement_year)
    by_cms_id, problems = {}, {}
    for name, assumed in assumptions.items():
        cms_id = known.get(name.strip().upper())
        if cms_id is None:
            example = next(iter(known), None)
            hint = f", e.g. {example} or {known[example]}" if example else ""
            problems[name] = [
                f"No measure {name} is rated for measurement year {measurement_year}; "
                f"name it by its measure code or its CMS ID{hint}."
            ]
        elif cms_id in by_cms_id:
            problems[name] = [f"{cms_id} has an assumption already, under another name."]
        else:
            by_cms_id[cms_id] = assumed
    if problems:
        raise serializers.ValidationError({"assumptions": problems})
    return by_cms_id


class RunInterventionTypeSerializer(serializers.Serializer):
    """One intervention type an optimizer run may use, with the run's own figures for it."""

    id = serializers.IntegerField(min_value=1, help_text="An active intervention type's id.")
    unit_cost = serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text='Dollars per intervention for this run, e.g. "85.00".',
    )
    capacity = serializers.IntegerField(
        min_value=0, allow_null=True, help_text="How many this run may plan; null for no limit."
    )
    uplifts = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1),
        help_text="Added closure probability (more than 0, at most 1) per measure, named by its measure "
        "code (`BCS`) or its CMS ID in the star year's catalog (`C01` in 2026). Only these measures.",
    )


class OptimizerRequestSerializer(serializers.Serializer):
    """An optimizer run: a budget and the objective to maximize; optionally a name and the
    intervention types it may use with their costs, capacities and uplifts for this run."""

    contract = serializers.CharField(max_length=5)
    measurement_year = serializers.IntegerField(min_value=2000, max_value=2100)
    budget = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    objective = serializers.ChoiceField(choices=planning.OBJECTIVES, default="expected_overall")
    draws = serializers.IntegerField(min_value=100, max_value=200_000, default=10_000)
    seed = serializers.IntegerField(min_value=0, default=0)
    time_limit = serializers.FloatField(min_value=1, max_value=600, default=60)
    name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text='The run\'s name, e.g. "$25k, phone first".',
    )
    intervention_types = RunInterventionTypeSerializer(
        many=True,
        required=False,
        allow_empty=False,
        help_text="Exactly the types this run may use, each with its cost, capacity and uplifts for "
        "the run (an id that is not an active type, or a measure not rated that year, is refused). "
        "Left out: the active types as stored. The run's `parameters.intervention_types` records the "
        "figures it used either way.",
    )


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

    def _start(self, kind: str, contract_id: str, parameters: dict) -> Response:
        """Start the job `kind` on one of the user's contracts; 202 with the job."""
        job, _ = job_start(
            kind=kind,
            user=self.request.user,
            contract=self._contract(contract_id),
            parameters=parameters,
            idempotency_key=idempotency_key(self.request),
        )
        return job_accepted(job, self.request)


class ForecastViewSet(_RunViewSet):
    """Year-end forecasts and named what-if scenarios (Monte Carlo, seeded; draws stated)."""

    kinds = (PortfolioRun.Kind.FORECAST, PortfolioRun.Kind.WHAT_IF)
    action_permissions = {"create": ["ratings.add_portfoliorun"]}

    @extend_schema(
        request=ForecastRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: JobSerializer, 409: ErrorResponseSerializer},
    )
    def create(self, request):
        """Start a forecast (or a what-if scenario) as a job: 202, and the job to poll.

        One planning job at a time per contract: another one queued or running answers 409.
        """
        payload = ForecastRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        job = forecast_start(
            user=request.user,
            contract=self._contract(data.pop("contract")),
            idempotency_key=idempotency_key(request),
            **data,
        )
        return job_accepted(job, request)


class OptimizerRunViewSet(_RunViewSet):
    """Optimizer runs: which interventions to propose, within a budget, to move the rating most."""

    kinds = (PortfolioRun.Kind.OPTIMIZE,)
    action_permissions = {
        "create": ["ratings.add_portfoliorun"],
        "propose": ["ratings.add_portfoliorun", "interventions.add_intervention"],
    }

    @extend_schema(
        request=OptimizerRequestSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: JobSerializer, 409: ErrorResponseSerializer},
    )
    def create(self, request):
        """Start an optimizer run as a job: it stores the plan and re-scores the worklist from it.

        One planning job at a time per contract: another one queued or running answers 409.
        """
        payload = OptimizerRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        job = optimize_start(
            user=request.user,
            contract=self._contract(data.pop("contract")),
            idempotency_key=idempotency_key(request),
            **data,
        )
        return job_accepted(job, request)

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: JobSerializer, 409: ErrorResponseSerializer},
    )
    @action(detail=True, methods=["post"])
    def propose(self, request, pk=None):
        """Start turning the plan into `proposed` interventions (each awaiting a human's approval)."""
        run = self.get_object()
        return self._start("propose", run.contract.contract_id, {"portfolio_run": run.pk})

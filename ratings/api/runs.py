"""API: forecasts, what-if scenarios and optimizer runs (and proposing a run's interventions)."""

from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
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
from ratings.planning.cut_points import CUT_POINT_BASES

# One run of each kind, trimmed (a measure, an intervention, a few contract-level stars): real
# output for the contract of tests/ratings/test_planning.py — BCS and COL gaps, one outreach type.
_CUT_POINT_NOTE = (
    "Cut points for star year 2028 are not loaded; stars use the star year 2026 cut points, the latest "
    "loaded, and ratings that year's catalog and methodology (weights, reward factor thresholds, CAI values)."
)
# What each of the three runs saw: the same contract on the same day.
_EXAMPLE_INPUTS = {
    "star_year": 2028,
    "cut_point_star_year": 2026,
    "cut_points": {
        "requested": "projected",
        "basis": "latest_published",
        "star_year": 2026,
        "note": "No projection of star year 2028's cut points is kept, so the star year 2026 cut points are "
        "used. Project them on the console's Cut points page or with `manage.py project_cut_points "
        "--star-year 2028 --save`.",
    },
    "methodology_star_year": 2026,
    "measures": {
        "C01": {"code": "BCS", "open": 30, "eligible": 100},
        "C02": {"code": "COL", "open": 3, "eligible": 10},
    },
    "contract_level_measures": {"C03": 4, "C04": 4, "C05": 4},
    "open_gaps": 33,
    "gaps_without_prediction": 33,
    "intervention_types": [{"id": 1, "code": "1"}],
    "notes": [_CUT_POINT_NOTE],
}
# BCS as the forecast and the what-if found it today.
_EXAMPLE_C01_TODAY = {
    "cms_id": "C01",
    "eligible": 100,
    "closed": 70,
    "open_gaps": 30,
    "current_rate": 70.0,
    "current_star": 2,
    "closures_to_next_star": 1,
}
FORECAST_EXAMPLE = {
    "id": 41,
    "kind": "forecast",
    "name": "",
    "contract": "H2001",
    "measurement_year": 2026,
    "parameters": {"draws": 10000, "seed": 0, "cut_points": "projected"},
    "inputs": _EXAMPLE_INPUTS,
    "result": {
        "rating_type": "part_c",
        "draws": 10000,
        "seed": 0,
        "current_rating": 4.0,
        "expected_overall": 4.4591,
        "expected_overall_stderr": 0.00137,
        "overall_probabilities": {"4.0": 0.0818, "4.5": 0.9182},
        "p_overall_at_least_4": 1.0,
        "p_overall_at_least_4_stderr": 0.0,
        "reward_factor_probabilities": {"0.2": 0.0818, "0.4": 0.9182},
        "measures": [
            {
                **_EXAMPLE_C01_TODAY,
                "expected_closures": 7.5,
                "expected_rate": 77.5,
                "expected_star": 3.8061,
                "star_probabilities": {"1": 0.0, "2": 0.0001, "3": 0.2029, "4": 0.7878, "5": 0.0092},
                "method": "exact",
                "error_bound": 0.0,
            }
        ],
        "contract_measure_stars": {"C03": 4, "C04": 4, "C05": 4},
        "assumptions": {},
        "elapsed_seconds": 0.0101,
    },
    "solver_status": "",
    "optimality_gap": None,
    "duration_ms": 36.8,
    "created_by": "analyst",
    "created_at": "2026-12-06T07:28:44Z",
    "proposed_at": None,
}
WHAT_IF_EXAMPLE = {
    "id": 42,
    "kind": "what_if",
    "name": "BCS to 80%",
    "contract": "H2001",
    "measurement_year": 2026,
    "parameters": {
        "draws": 10000,
        "seed": 0,
        "cut_points": "projected",
        "assumptions": {"C01": {"target_rate": "80.000"}},
    },
    "inputs": _EXAMPLE_INPUTS,
    "result": {
        "rating_type": "part_c",
        "draws": 10000,
        "seed": 0,
        "current_rating": 4.0,
        "expected_overall": 4.5,
        "expected_overall_stderr": 0.0,
        "overall_probabilities": {"4.5": 1.0},
        "p_overall_at_least_4": 1.0,
        "p_overall_at_least_4_stderr": 0.0,
        "reward_factor_probabilities": {"0.4": 1.0},
        "measures": [
            {
                **_EXAMPLE_C01_TODAY,
                "expected_closures": 10.0,
                "expected_rate": 80.0,
                "expected_star": 4.0,
                "star_probabilities": {"1": 0.0, "2": 0.0, "3": 0.0, "4": 1.0, "5": 0.0},
                "method": "assumed",
                "error_bound": 0.0,
            }
        ],
        "contract_measure_stars": {"C03": 4, "C04": 4, "C05": 4},
        "assumptions": {"C01": {"target_rate": "80.000"}},
        "elapsed_seconds": 0.0061,
    },
    "solver_status": "",
    "optimality_gap": None,
    "duration_ms": 30.9,
    "created_by": "analyst",
    "created_at": "2026-12-06T07:28:44Z",
    "proposed_at": None,
}
OPTIMIZER_RUN_EXAMPLE = {
    "id": 43,
    "kind": "optimize",
    "name": "Vans, $5,000",
    "contract": "H2001",
    "measurement_year": 2026,
    "parameters": {
        "budget": 5000.0,
        "objective": "expected_overall",
        "draws": 10000,
        "seed": 0,
        "time_limit": 60,
        "cut_points": "projected",
        "intervention_types": [
            {
                "id": 1,
                "name": "Mobile mammography",
                "unit_cost": "100.00",
                "capacity": None,
                "uplifts": {"BCS": 0.6},
            }
        ],
    },
    "inputs": _EXAMPLE_INPUTS,
    "result": {
        "objective": "expected_overall",
        "objective_used": "expected_overall",
        "budget": 5000.0,
        "total_cost": 2700.0,
        "expected_overall_before": 4.4591,
        "expected_overall_after": 4.5,
        "p_overall_at_least_4_before": 1.0,
        "p_overall_at_least_4_after": 1.0,
        "overall_probabilities_before": {"4.0": 0.0818, "4.5": 0.9182},
        "overall_probabilities_after": {"4.5": 1.0},
        "solver_status": "optimal",
        "solver_message": "Optimization terminated successfully. (HiGHS Status 7: Optimal)",
        "objective_value": 4.5,
        "objective_bound": 4.5,
        "optimality_gap": 0.0,
        "relative_gap": 0.0,
        "bound_method": (
            "HiGHS dual bounds per target level on a relaxation (classes of one type and set of worked "
            "measures merged at their members' largest gains), tightened by the exact "
            "one-binary-per-member MILP's own dual bounds"
        ),
        "mip_gap": 0.0,
        "milp_runs": [
            {
                "min_rating": 4.5,
                "relaxation_status": "optimal",
                "relaxation_bound": 4.5,
                "relaxation_seconds": 0.0104,
                "pruned": False,
                "status": "optimal",
                "log_probability": 0.0,
                "value": 4.5,
                "mip_gap": 0.0,
                "seconds": 0.0106,
                "nodes": 1,
            }
        ],
        "target_rating": 4.5,
        "target_probability": 1.0,
        "marginal_value": {
            "units": "stars per dollar",
            "dual_value_per_dollar": 0.0,
            "dual_method": "LP dual of the budget row with the chosen target star vector held",
            "budget_step": 10000.0,
            "objective_at_budget": 4.5,
            "objective_at_budget_plus_step": 4.5,
            "step_value_per_dollar": 0.0,
            "step_method": "first stage re-solved at budget + step",
            "step_statuses": ["optimal"],
        },
        "budget_left": {
            "unspent": 2300.0,
            "reason": (
                "5 stars is out of reach: the best plan reaches an expected 4.50 stars, "
                "and more outreach would not raise it."
            ),
        },
        "aggregated": False,
        "candidate_count": 30,
        "class_count": 30,
        "milp_size": {"variables": 50, "constraints": 146, "frontier_cells": 3, "reachable_cells": 7},
        "measures": [
            {
                "cms_id": "C01",
                "in_rating": True,
                "current_star": 2,
                "expected_closures_before": 7.5,
                "planned_extra_closures": 16.2,
                "expected_closures_after": 23.7,
                "star_at_expectation_before": 4,
                "star_at_expectation_after": 5,
                "target_star": 4,
                "target_probability": 1.0,
                "expected_star_before": 3.8061,
                "expected_star_after": 5.0,
                "star_probabilities_before": {"1": 0.0, "2": 0.0001, "3": 0.2029, "4": 0.7878, "5": 0.0092},
                "star_probabilities_after": {"1": 0.0, "2": 0.0, "3": 0.0, "4": 0.0, "5": 1.0},
                "value_per_closure": 1.3729195881686543e-14,
            }
        ],
        "interventions": [
            {
                "member": 74,
                "intervention": "1",
                "cost": 100.0,
                "gaps": [
                    {"cms_id": "C01", "probability_before": 0.25, "probability_after": 0.85, "uplift": 0.6}
                ],
                "value_per_dollar": 8.237517529011925e-17,
            }
        ],
        "priorities": {
            "unit_dollars": 1000,
            "measures": {
                "BCS": {
                    "star": 2,
                    "closures_to_next_star": 3,
                    "weight": "1",
                    "stars_per_closure": 1.3729195881686543e-14,
                    "interventions": ["Mobile mammography"],
                }
            },
        },
        "draws": 10000,
        "seed": 0,
        "timings": {
            "prepare": 0.0008,
            "forecast_before": 0.0484,
            "candidates": 0.0003,
            "milp": 0.0309,
            "expand": 0.0014,
            "marginal": 0.0426,
            "forecast_after": 0.0075,
            "total": 0.1327,
        },
        "notes": [],
    },
    "solver_status": "optimal",
    "optimality_gap": 0.0,
    "duration_ms": 155.7,
    "created_by": "analyst",
    "created_at": "2026-12-06T07:28:44Z",
    "proposed_at": None,
}
RUN_EXAMPLES = {"forecast": FORECAST_EXAMPLE, "what_if": WHAT_IF_EXAMPLE, "optimize": OPTIMIZER_RUN_EXAMPLE}


def _run_object(description: str, part: str) -> serializers.JSONField:
    """A run's JSON part documented as an object: what it holds for each kind, and an example of each."""

    @extend_schema_field(
        {
            "type": "object",
            "additionalProperties": {},
            "description": description,
            # OpenAPI 3.0 has one example per schema: the optimizer run's, the fullest.
            "example": OPTIMIZER_RUN_EXAMPLE[part],
        }
    )
    class RunObjectField(serializers.JSONField):
        pass

    return RunObjectField(read_only=True, help_text=description)


class PortfolioRunSerializer(serializers.ModelSerializer):
    """A stored run: what it saw, its parameters, its result, solver status and time taken."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    parameters = _run_object(
        "What the run was asked. Every kind: `draws`, `seed`. A what-if: `assumptions` by CMS ID (each "
        "one of `extra_closures`, `target_rate`, `star`, `score`; decimals as text). An optimizer run: "
        "`budget` (dollars), `objective`, `time_limit` (seconds) and `intervention_types`, the types it "
        "used with its figures: `id`, `name`, `unit_cost` (dollars as text), `capacity` (null: no "
        "limit), `uplifts` by measure code.",
        "parameters",
    )
    inputs = _run_object(
        "What the run saw: `star_year`, `cut_point_star_year`, `methodology_star_year`; `measures` "
        "(per CMS ID: `code`, `open` gaps, `eligible`); `contract_level_measures` (CMS ID → star); "
        "`open_gaps`, `gaps_without_prediction` (they took the fallback probability); "
        "`intervention_types` (`id`, `code`); `notes`.",
        "inputs",
    )
    result = _run_object(
        "A forecast or what-if: `current_rating`, `expected_overall` (± `expected_overall_stderr`), "
        "`overall_probabilities` (rating → probability), `p_overall_at_least_4`, "
        "`reward_factor_probabilities`, `measures` (per measure: counts, rates, `star_probabilities`, "
        "`method`), `contract_measure_stars`, `assumptions`. An optimizer run: `total_cost`, the "
        "expected rating and P(≥ 4) `_before` and `_after`, `overall_probabilities_before`/`_after`, "
        "`solver_status`, `objective_value`, `objective_bound`, `optimality_gap` (in stars for "
        "`expected_overall`), `target_rating`, `marginal_value` (the value of the next `budget_step` "
        "dollars: `objective_at_budget`, `objective_at_budget_plus_step`), `budget_left` (`unspent` "
        "dollars and the `reason` in a sentence), `measures` (per measure before and after), "
        "`interventions` (member key, type id, cost, the gaps it works), `priorities` (what the "
        "worklist's priorities, in expected stars per `unit_dollars`, rest on, per measure code: its "
        "`star`, `closures_to_next_star`, `weight`, `stars_per_closure`, the `interventions` that work "
        "it), `milp_runs`, `timings`, `notes`.",
        "result",
    )

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


def _cut_points_field() -> serializers.ChoiceField:
    """The cut points a run rates against (`ratings.planning.cut_points`)."""
    return serializers.ChoiceField(
        choices=CUT_POINT_BASES,
        default="projected",
        help_text="`projected`: the star year's projected cut points (planned against the median, "
        "forecast over every draw) when a projection is kept; `latest_published`: the newest published "
        "ones, as if they stand still. The run's `inputs.cut_points` records what it used.",
    )


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
    seed = serializers.IntegerField(min_value=0, max_value=planning.MAX_SEED, default=0)
    cut_points = _cut_points_field()
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

    id = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="An active intervention type's id."
    )
    unit_cost = serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text='Dollars per intervention for this run, e.g. "85.00".',
    )
    capacity = serializers.IntegerField(
        min_value=0,
        max_value=planning.MAX_CAPACITY,
        allow_null=True,
        help_text="How many this run may plan; null for no limit.",
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
    seed = serializers.IntegerField(min_value=0, max_value=planning.MAX_SEED, default=0)
    time_limit = serializers.FloatField(min_value=1, max_value=600, default=60)
    cut_points = _cut_points_field()
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


def _run_examples(*kinds: str) -> dict:
    """The retrieve action's response examples: one stored run of each kind."""
    titles = {"forecast": "A forecast", "what_if": "A what-if scenario", "optimize": "An optimizer run"}
    return {
        "retrieve": extend_schema(
            examples=[
                OpenApiExample(titles[kind], value=RUN_EXAMPLES[kind], response_only=True) for kind in kinds
            ]
        )
    }


@extend_schema_view(**_run_examples("forecast", "what_if"))
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


@extend_schema_view(**_run_examples("optimize"))
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

"""REST API for background jobs: read one's status and progress, list them, cancel one.

Long work answers its `POST` with 202 and `Location: /api/jobs/{id}/` (`job_accepted`); the
client polls the job until it has succeeded (its `result` links what it made), failed (its
`error` is the API's error shape) or was cancelled.
"""

from collections.abc import Sequence

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.filters import FilterSet
from hedis_portal.job_registry import job_kinds
from hedis_portal.jobs import job_cancel, jobs_reap_stale, jobs_visible_to
from hedis_portal.models import Job

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Sending the same key again (same user, same request) returns the first job, not a new one; "
    "at most 100 characters.",
)


# Each kind's parameters and result, from jobs run on the demo data (H9002, measurement year 2026;
# the imports' and the proposal's in a transaction rolled back; cms_import's files trimmed to two):
# the schema's examples of a job.
# (example name, kind, contract, parameters, result)
JOB_EXAMPLES = [
    (
        "forecast",
        "forecast",
        "H9002",
        {"measurement_year": 2026, "draws": 10000, "seed": 0, "cut_points": "projected"},
        {
            "portfolio_run": 6,
            "url": "/api/forecasts/6/",
            "admin_url": "/admin/ratings/portfoliorun/6/change/",
        },
    ),
    (
        "what-if",
        "forecast",
        "H9002",
        {
            "measurement_year": 2026,
            "draws": 10000,
            "seed": 0,
            "cut_points": "projected",
            "name": "CBP outreach",
            "assumptions": {"C14": {"extra_closures": 40}},
        },
        {
            "portfolio_run": 7,
            "url": "/api/forecasts/7/",
            "admin_url": "/admin/ratings/portfoliorun/7/change/",
        },
    ),
    (
        "optimize",
        "optimize",
        "H9002",
        {
            "measurement_year": 2026,
            "budget": "25000",
            "objective": "expected_overall",
            "draws": 10000,
            "seed": 0,
            "time_limit": 60.0,
            "name": "Budget $25k",
            "cut_points": "projected",
            "intervention_types": [
                {
                    "id": 1,
                    "name": "Care manager phone call",
                    "unit_cost": "25.00",
                    "capacity": None,
                    "uplifts": {"BCS": 0.08, "CBP": 0.05, "COL": 0.08, "EED": 0.06},
                },
                {
                    "id": 3,
                    "name": "Mobile mammography event",
                    "unit_cost": "120.00",
                    "capacity": 300,
                    "uplifts": {"BCS": 0.35},
                },
            ],
        },
        {
            "portfolio_run": 8,
            "url": "/api/optimizer/runs/8/",
            "admin_url": "/admin/ratings/portfoliorun/8/change/",
        },
    ),
    (
        "propose",
        "propose",
        "H9002",
        {"portfolio_run": 8},
        {
            "portfolio_run": 8,
            "url": "/api/optimizer/runs/8/",
            "admin_url": "/admin/ratings/portfoliorun/8/change/",
            "proposed": 599,
        },
    ),
    (
        "snapshot",
        "snapshot",
        "H9002",
        {"measurement_year": 2026},
        {
            "snapshot": 1,
            "url": "/api/snapshots/1/",
            "admin_url": "/admin/ratings/portfoliosnapshot/1/change/",
        },
    ),
    (
        "snapshot_all",
        "snapshot_all",
        None,
        {"measurement_year": 2026},
        {
            "snapshots": [2, 3],
            "url": "/api/snapshots/?measurement_year=2026",
            "admin_url": "/admin/ratings/portfoliosnapshot/?measurement_year=2026",
        },
    ),
    (
        "gap_import",
        "gap_import",
        "H9002",
        {
            "measurement_year": 2026,
            "full_snapshot": False,
            "sha256": "4b6de481ed4d809630f822b71d2497be8306fd589f6de9aa9167e8fb23bb1104",
            "rows": 3,
        },
        {
            "rows": 3,
            "members_created": 0,
            "gaps_created": 3,
            "gaps_updated": 0,
            "gaps_unchanged": 0,
            "gaps_left_denominator": 0,
            "sha256": "4b6de481ed4d809630f822b71d2497be8306fd589f6de9aa9167e8fb23bb1104",
            "url": "/api/gaps/?contract=H9002&measurement_year=2026",
            "admin_url": "/admin/gaps/caregap/?contract=H9002&measurement_year=2026",
        },
    ),
    (
        "predictions_import",
        "predictions_import",
        None,
        {
            "format": "jsonl",
            "sha256": "5b1648e8c74e5050c8308972531d30fa791af334fef504dc79a915c3df4d755d",
            "rows": 2,
        },
        {
            "received": 2,
            "created": 2,
            "updated": 0,
            "sha256": "5b1648e8c74e5050c8308972531d30fa791af334fef504dc79a915c3df4d755d",
            "url": "/api/predictions/",
            "admin_url": "/admin/predictions/prediction/",
        },
    ),
    (
        "cms_import",
        "cms_import",
        None,
        {
            "star_year": 2026,
            "source": "api upload",
            "files": [
                {
                    "name": "cut-points-part-c.csv",
                    "sha256": "168cd1d49d502fd8214de3fa5a8d50f8caad0e056e5beeaf4c74455a3a8d4e0c",
                    "size_bytes": 4949,
                },
                {
                    "name": "cut-points-part-d.csv",
                    "sha256": "a0e2cbc98adf7b3f0b7c4eacb1a41e1f9d70bece2f0735b525d0c9e52650ea17",
                    "size_bytes": 2983,
                },
            ],
        },
        {
            "cms_data_import": 1,
            "star_year": 2026,
            "contracts": 769,
            "cut_points": 57,
            "measure_values": 34605,
            "url": "/api/cms-imports/1/",
            "admin_url": "/admin/ratings/cmsdataimport/1/change/",
        },
    ),
    (
        "cut_point_projection",
        "cut_point_projection",
        None,
        {"target_star_year": 2028, "draws": 50, "seed": 8675309},
        {
            "cut_point_projection": 1,
            "target_star_year": 2028,
            "base_star_year": 2026,
            "url": "/api/cut-point-projections/1/",
            "admin_url": "/admin/ratings/cutpointprojection/1/change/",
        },
    ),
]
_, _, _, OPTIMIZE_PARAMETERS, OPTIMIZE_RESULT = JOB_EXAMPLES[2]
# The optimize job above as `GET /api/jobs/{id}/` showed it; each kind's example swaps in its own.
FINISHED_JOB = {
    "id": "b88db348-9a54-4ddf-856d-8f9ed99de92f",
    "url": "http://localhost/api/jobs/b88db348-9a54-4ddf-856d-8f9ed99de92f/",
    "kind": "optimize",
    "status": "succeeded",
    "contract": "H9002",
    "progress": 1.0,
    "stage": "done",
    "parameters": OPTIMIZE_PARAMETERS,
    "result": OPTIMIZE_RESULT,
    "error": None,
    "cancel_requested": False,
    "created_by": "quality.analyst",
    "created_at": "2026-12-06T07:11:40.216675Z",
    "started_at": "2026-12-06T07:11:40.220052Z",
    "finished_at": "2026-12-06T07:11:46.490657Z",
}


class JobAssumptionSerializer(serializers.Serializer):
    """A what-if's assumption for one measure: exactly one of these (decimals kept as text)."""

    extra_closures = serializers.IntegerField(required=False)
    target_rate = serializers.CharField(required=False, help_text="A decimal string, percent.")
    star = serializers.IntegerField(required=False)
    score = serializers.CharField(required=False, help_text="A decimal string.")


class JobFileFactsSerializer(serializers.Serializer):
    """An uploaded CMS table: its public file name, SHA-256 and size."""

    name = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()


class JobInterventionTypeSerializer(serializers.Serializer):
    """An intervention type as an optimizer run used it: the stored figures, or the run's own."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    unit_cost = serializers.CharField(help_text="Dollars, a decimal string.")
    capacity = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    uplifts = serializers.DictField(
        child=serializers.FloatField(), help_text="Added closure probability per measure code."
    )


class JobParametersSerializer(serializers.Serializer):
    """What the job was asked to do, as the API accepted it; which keys depends on its `kind`.

    forecast: `measurement_year`, `draws`, `seed`, `cut_points`, a `name` when saved by one (a
    what-if always is) and a what-if's `assumptions`; optimize: those but `assumptions`, and
    `budget`, `objective`, `time_limit`, `intervention_types`; propose: `portfolio_run`; snapshot
    and snapshot_all: `measurement_year`; gap_import: `measurement_year`, `full_snapshot`,
    `sha256`, `rows`; predictions_import: `format`, `sha256`, `rows`; cms_import: `star_year`,
    `source`, `files`; cut_point_projection: `target_star_year`, `draws`, `seed`.
    """

    schema_example = OPTIMIZE_PARAMETERS

    measurement_year = serializers.IntegerField(required=False)
    draws = serializers.IntegerField(required=False, help_text="Monte Carlo draws.")
    seed = serializers.IntegerField(required=False)
    cut_points = serializers.CharField(
        required=False, help_text="projected or latest_published: the cut points the run rates against."
    )
    name = serializers.CharField(required=False, help_text="The name the run is saved by.")
    assumptions = serializers.DictField(
        child=JobAssumptionSerializer(), required=False, help_text="Per CMS measure ID, e.g. C14."
    )
    budget = serializers.CharField(required=False, help_text="Dollars, a decimal string.")
    objective = serializers.CharField(required=False)
    time_limit = serializers.FloatField(required=False, help_text="The solver's limit in seconds.")
    intervention_types = JobInterventionTypeSerializer(
        many=True,
        required=False,
        help_text="The intervention types the optimizer run used, with its figures.",
    )
    portfolio_run = serializers.IntegerField(required=False, help_text="The optimizer run to propose.")
    full_snapshot = serializers.BooleanField(required=False)
    sha256 = serializers.CharField(required=False, help_text="The uploaded file's SHA-256.")
    rows = serializers.IntegerField(required=False, help_text="The uploaded file's checked rows.")
    format = serializers.CharField(required=False, help_text="csv or jsonl.")
    star_year = serializers.IntegerField(required=False)
    source = serializers.CharField(required=False)
    files = JobFileFactsSerializer(many=True, required=False)
    target_star_year = serializers.IntegerField(required=False, help_text="The star year projected.")


class JobResultSerializer(serializers.Serializer):
    """What a succeeded job made (empty until then); `url` and `admin_url` link it, the other keys
    depend on its `kind`.

    forecast and optimize: `portfolio_run`; propose: that and `proposed`; snapshot: `snapshot`;
    snapshot_all: `snapshots`; gap_import: `rows`, `members_created`, `gaps_created`,
    `gaps_updated`, `gaps_unchanged`, `gaps_left_denominator`, `sha256`; predictions_import:
    `received`, `created`, `updated`, `sha256`; cms_import: `cms_data_import`, `star_year`,
    `contracts`, `cut_points`, `measure_values`, `contract_types`; cut_point_projection:
    `cut_point_projection`, `target_star_year`, `base_star_year`.
    """

    schema_example = OPTIMIZE_RESULT

    url = serializers.CharField(required=False, help_text="Where the API shows what the job made.")
    admin_url = serializers.CharField(required=False, help_text="Where the admin shows it.")
    portfolio_run = serializers.IntegerField(required=False)
    proposed = serializers.IntegerField(required=False, help_text="Interventions proposed.")
    snapshot = serializers.IntegerField(required=False)
    snapshots = serializers.ListField(child=serializers.IntegerField(), required=False)
    rows = serializers.IntegerField(required=False)
    members_created = serializers.IntegerField(required=False)
    gaps_created = serializers.IntegerField(required=False)
    gaps_updated = serializers.IntegerField(required=False)
    gaps_unchanged = serializers.IntegerField(required=False)
    gaps_left_denominator = serializers.IntegerField(
        required=False, help_text="Gaps a full snapshot's file no longer lists, left the denominator."
    )
    sha256 = serializers.CharField(required=False)
    received = serializers.IntegerField(required=False)
    created = serializers.IntegerField(required=False)
    updated = serializers.IntegerField(required=False)
    cms_data_import = serializers.IntegerField(required=False)
    star_year = serializers.IntegerField(required=False)
    contracts = serializers.IntegerField(required=False)
    cut_points = serializers.IntegerField(required=False)
    measure_values = serializers.IntegerField(required=False)
    contract_types = serializers.IntegerField(
        required=False, help_text="Contracts whose Tables 4-7 type a contract-type file gave."
    )
    cut_point_projection = serializers.IntegerField(required=False, help_text="The projection kept.")
    target_star_year = serializers.IntegerField(required=False)
    base_star_year = serializers.IntegerField(required=False, help_text="The year it was projected from.")


@extend_schema_field(JobParametersSerializer)
class JobParametersField(serializers.JSONField):
    """A job's parameters as stored (the shape of `JobParametersSerializer`)."""


@extend_schema_field(JobResultSerializer)
class JobResultField(serializers.JSONField):
    """A job's result as stored (the shape of `JobResultSerializer`)."""


class JobSerializer(serializers.ModelSerializer):
    """A job: what it is, how far it has got (a fraction and a stage in words), how it ended."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:job-detail", read_only=True)
    parameters = JobParametersField(read_only=True)
    result = JobResultField(read_only=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "kind",
            "status",
            "contract",
            "progress",
            "stage",
            "parameters",
            "result",
            "error",
            "cancel_requested",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ErrorResponseSerializer(allow_null=True))
    def get_error(self, job: Job) -> dict | None:
        return job.error or None


class _KindChoices(Sequence):
    """The registered job kinds as `(name, label)` choices, read each time they are used, so the
    filter and the schema's enum list every kind the apps registered, whenever they did."""

    def _choices(self) -> list[tuple[str, str]]:
        return [(name, kind.label) for name, kind in sorted(job_kinds().items())]

    def __getitem__(self, index):
        return self._choices()[index]

    def __len__(self) -> int:
        return len(job_kinds())


class JobFilter(FilterSet):
    """Jobs by kind, status and contract."""

    kind = django_filters.ChoiceFilter(choices=_KindChoices())
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)
    contract = django_filters.CharFilter(field_name="contract__contract_id", lookup_expr="iexact")

    class Meta:
        model = Job
        fields = ["kind", "status", "contract"]


def idempotency_key(request) -> str:
    """The request's `Idempotency-Key` header ("" without one); longer than the column holds is a 400."""
    key = request.headers.get("Idempotency-Key", "")
    limit = Job._meta.get_field("idempotency_key").max_length
    if len(key) > limit:
        raise ValidationError({"Idempotency-Key": [f"At most {limit} characters."]})
    return key


def upload_action(**options):
    """`@action` for `POST {prefix}/import/`: a multipart upload that starts an import job."""
    return action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[parsers.MultiPartParser, parsers.FormParser],
        **options,
    )


def upload_refusals(limit_setting: str) -> dict:
    """The schema's 413 (over the upload's size setting) and 415 (not multipart) for an upload."""
    return {
        413: OpenApiResponse(ErrorResponseSerializer, description=f"Over {limit_setting}."),
        415: OpenApiResponse(ErrorResponseSerializer, description="The body is not multipart/form-data."),
    }


def job_accepted(job: Job, request) -> Response:
    """The answer to a request that started long work: 202, the job, and where to poll it."""
    body = JobSerializer(job, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Background jobs of your contracts, of the kinds your role may see; newest first."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    permission_classes = [IsAuthenticated]
    # Only a UUID routes to a job; anything else is a 404 from the router.
    lookup_value_regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    ordering = ["-created_at"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return jobs_visible_to(self.request.user)

    def list(self, request, *args, **kwargs):
        jobs_reap_stale()
        return super().list(request, *args, **kwargs)

    @extend_schema(
        examples=[
            OpenApiExample(
                name,
                {
                    **FINISHED_JOB,
                    "kind": kind,
                    "contract": contract,
                    "parameters": parameters,
                    "result": result,
                },
                response_only=True,
            )
            for name, kind, contract, parameters, result in JOB_EXAMPLES
        ]
    )
    def retrieve(self, request, *args, **kwargs):
        jobs_reap_stale()
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: JobSerializer, 409: ErrorResponseSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a queued job, or stop a running one at its next progress point (409 once finished)."""
        job = get_object_or_404(self.get_queryset(), pk=pk)
        if not request.user.has_perm(job_kinds()[job.kind].start_permission):
            raise PermissionDenied("Your role may not start or cancel this kind of job.")
        return Response(JobSerializer(job_cancel(job=job), context={"request": request}).data)

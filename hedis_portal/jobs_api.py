"""REST API for background jobs: read one's status and progress, list them, cancel one.

Long work answers its `POST` with 202 and `Location: /api/jobs/{id}/` (`job_accepted`); the
client polls the job until it has succeeded (its `result` links what it made), failed (its
`error` is the API's error shape) or was cancelled.
"""

from collections.abc import Sequence

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.filters import FilterSet
from hedis_portal.jobs import job_cancel, job_kinds, jobs_reap_stale, jobs_visible_to
from hedis_portal.models import Job

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Sending the same key again (same user, same request) returns the first job, not a new one; "
    "at most 100 characters.",
)


class JobSerializer(serializers.ModelSerializer):
    """A job: what it is, how far it has got (a fraction and a stage in words), how it ended."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:job-detail", read_only=True)
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

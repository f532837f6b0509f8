"""REST API for care gaps: the worklist, workflow actions, bulk actions, import and CSV export."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gaps import selectors, services, workflow
from gaps.exports import VENDOR_HEADER, vendor_rows
from gaps.filters import CareGapFilter
from gaps.importing import MAX_ERRORS_LISTED
from gaps.jobs import gap_import_start
from gaps.models import EvidenceSource, GapRemark, RemarkCode, WorkflowState
from hedis_portal.audit import AccessAuditedListMixin, log_access, log_read, recorded_filters
from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.exports import csv_lines
from hedis_portal.filters import MAX_ID
from hedis_portal.jobs_api import (
    IDEMPOTENCY_KEY,
    JobSerializer,
    idempotency_key,
    job_accepted,
    upload_action,
    upload_refusals,
)
from hedis_portal.middleware import route_pattern
from hedis_portal.rows import as_row, select_columns, serializer_columns
from members.selectors import contracts_for
from predictions.models import RiskTier

MAX_BULK_GAPS = 1000


class GapRemarkSerializer(serializers.ModelSerializer):
    """A remark in a gap's history."""

    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = GapRemark
        fields = ["id", "code", "note", "author", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class CareGapSerializer(serializers.ModelSerializer):
    """A worklist row: the gap, its workflow, and the current prediction's probability and tier."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    member_pseudonym = serializers.CharField(source="member.pseudonym", read_only=True)
    measure = serializers.SlugRelatedField(slug_field="code", read_only=True)
    assignee_username = serializers.CharField(
        source="assignee.username", read_only=True, default=None, allow_null=True
    )
    closure_probability = serializers.FloatField(
        source="current_prediction.probability", read_only=True, default=None, allow_null=True
    )
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, read_only=True, allow_null=True)
    # Read-only fields lose the model's blank=True; a gap without evidence has "" here.
    evidence_source = serializers.ChoiceField(
        choices=EvidenceSource.choices, read_only=True, allow_blank=True
    )

    class Meta:
        model = selectors.CareGap
        fields = [
            "id",
            "member",
            "member_pseudonym",
            "contract",
            "measure",
            "measurement_year",
            "compliance_status",
            "status_reason",
            "exclusion_reason",
            "evidence_date",
            "evidence_source",
            "workflow_state",
            "assignee",
            "assignee_username",
            "priority_score",
            "priority_rank",
            "closure_probability",
            "risk_tier",
            "last_outreach_at",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# Worklist pages are read as plain rows (`hedis_portal.rows`): building 50 gaps with four related
# objects each, then serializing them field by field, cost more than the query itself.
WORKLIST_ROW = serializer_columns(CareGapSerializer)


class CareGapDetailSerializer(CareGapSerializer):
    """A gap with its remarks history."""

    remarks = GapRemarkSerializer(many=True, read_only=True)

    class Meta(CareGapSerializer.Meta):
        fields = [*CareGapSerializer.Meta.fields, "remarks"]
        read_only_fields = fields


class VersionedSerializer(serializers.Serializer):
    """Single-gap writes carry the version the client read (409 if it changed since)."""

    version = serializers.IntegerField(min_value=1)


class GapAssignSerializer(VersionedSerializer):
    assignee = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all(), allow_null=True)


# The states a care manager can move a gap to: never `new`, never `resolved` (data resolves a gap).
MOVE_TARGETS = [
    (state, label)
    for state, label in WorkflowState.choices
    if any(state in targets for targets in workflow.TRANSITIONS.values())
]


class GapTransitionSerializer(VersionedSerializer):
    workflow_state = serializers.ChoiceField(choices=MOVE_TARGETS)


class GapBulkSerializer(serializers.Serializer):
    gaps = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=MAX_BULK_GAPS
    )


class GapBulkAssignSerializer(GapBulkSerializer):
    assignee = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all(), allow_null=True)


class GapBulkTransitionSerializer(GapBulkSerializer):
    workflow_state = serializers.ChoiceField(choices=MOVE_TARGETS)


class GapBulkRemarkSerializer(GapBulkSerializer):
    code = serializers.ChoiceField(choices=RemarkCode.choices)
    note = serializers.CharField(max_length=500, allow_blank=True, default="")


class GapImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    contract = serializers.CharField(max_length=5)
    measurement_year = serializers.IntegerField(min_value=2000, max_value=2100)
    full_snapshot = serializers.BooleanField(default=False)


class CareGapViewSet(
    AccessAuditedListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The worklist: your contracts' gaps, highest priority first, with workflow actions.

    Reads are audited: each page and each export is one access entry, each gap opened another.
    """

    filterset_class = CareGapFilter
    ordering_fields = ["priority_score", "updated_at", "id"]
    ordering = ["-priority_score", "-id"]
    action_permissions = {
        "assign": ["gaps.change_caregap"],
        "transition": ["gaps.change_caregap"],
        "remarks": ["gaps.add_gapremark"],
        "bulk_assign": ["gaps.change_caregap"],
        "bulk_transition": ["gaps.change_caregap"],
        "bulk_remark": ["gaps.add_gapremark"],
        "import_file": ["gaps.add_caregap"],
        "export": ["gaps.view_caregap"],
    }

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.gap_detail_for(self.request.user)
        return selectors.worklist_for(self.request.user)

    def get_serializer_class(self):
        return CareGapDetailSerializer if self.action == "retrieve" else CareGapSerializer

    def list(self, request, *args, **kwargs):
        """A page of the worklist, read as plain rows (the same fields as `CareGapSerializer`)."""
        gaps = select_columns(self.filter_queryset(self.get_queryset()), WORKLIST_ROW)
        gaps = selectors.worklist_per_contract(
            gaps, request.user, contract_code=request.query_params.get("contract")
        )
        page = self.paginate_queryset(gaps)
        return self.get_paginated_response([as_row(values, WORKLIST_ROW) for values in page])

    def retrieve(self, request, *args, **kwargs):
        """One gap with its remarks (recorded as an access)."""
        gap = self.get_object()
        log_access(gap)
        return Response(self.get_serializer(gap).data)

    def _respond(self, gap):
        return Response(
            CareGapDetailSerializer(selectors.gap_detail_for(self.request.user).get(pk=gap.pk)).data
        )

    @extend_schema(request=GapAssignSerializer, responses=CareGapDetailSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Assign the gap to a user of its contract (or unassign with null)."""
        payload = GapAssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        gap = services.gap_assign(
            gap=self.get_object(),
            assignee=payload.validated_data["assignee"],
            expected_version=payload.validated_data["version"],
        )
        return self._respond(gap)

    @extend_schema(request=GapTransitionSerializer, responses=CareGapDetailSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the gap to another workflow state (409 if it changed since you read it)."""
        payload = GapTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        gap = services.gap_set_workflow_state(
            gap=self.get_object(),
            workflow_state=payload.validated_data["workflow_state"],
            expected_version=payload.validated_data["version"],
        )
        return self._respond(gap)

    @extend_schema(request=GapRemarkSerializer, responses={201: GapRemarkSerializer})
    @action(detail=True, methods=["post"])
    def remarks(self, request, pk=None):
        """Add a remark (DEQM care-gap remark code and a note without PHI)."""
        payload = GapRemarkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        remark = services.gap_add_remark(gap=self.get_object(), author=request.user, **payload.validated_data)
        return Response(GapRemarkSerializer(remark).data, status=status.HTTP_201_CREATED)

    def _scoped_gaps(self, ids: list[int]):
        """The listed gaps, all of them within the user's contracts, or 404 (never says which)."""
        wanted = set(ids)
        gaps = selectors.worklist_for(self.request.user).filter(pk__in=wanted)
        if gaps.count() != len(wanted):
            raise Http404
        return gaps

    @extend_schema(
        request=GapBulkAssignSerializer,
        responses=inline_serializer("GapBulkChanged", {"changed": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="bulk-assign")
    def bulk_assign(self, request):
        """Assign many gaps at once."""
        payload = GapBulkAssignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changed = services.gaps_assign_bulk(
            gaps=self._scoped_gaps(payload.validated_data["gaps"]),
            assignee=payload.validated_data["assignee"],
        )
        return Response({"changed": changed})

    @extend_schema(
        request=GapBulkTransitionSerializer,
        responses=inline_serializer(
            "GapBulkMoved", {"changed": serializers.IntegerField(), "skipped": serializers.IntegerField()}
        ),
    )
    @action(detail=False, methods=["post"], url_path="bulk-transition")
    def bulk_transition(self, request):
        """Move many gaps; those whose state does not allow the move are skipped and counted."""
        payload = GapBulkTransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changed, skipped = services.gaps_set_workflow_state_bulk(
            gaps=self._scoped_gaps(payload.validated_data["gaps"]),
            workflow_state=payload.validated_data["workflow_state"],
        )
        return Response({"changed": changed, "skipped": skipped})

    @extend_schema(
        request=GapBulkRemarkSerializer,
        responses=inline_serializer("GapBulkRemarked", {"created": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="bulk-remark")
    def bulk_remark(self, request):
        """Add the same remark to many gaps."""
        payload = GapBulkRemarkSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        created = services.gaps_add_remark_bulk(
            gaps=self._scoped_gaps(payload.validated_data["gaps"]),
            code=payload.validated_data["code"],
            note=payload.validated_data["note"],
            author=request.user,
        )
        return Response({"created": created})

    @extend_schema(
        request={"multipart/form-data": GapImportSerializer},
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: OpenApiResponse(
                JobSerializer,
                description="Every row was checked and the checked rows stored (member IDs as keyed hashes); "
                "a `gap_import` job matches the members and writes the gaps, all or nothing: poll "
                "`Location`. Its `result` counts the gaps created, updated, unchanged and retired. It fails "
                "with rows in `error.extra.errors` if a member is enrolled in another contract or a new "
                "member has no birth year; nothing is written then.",
            ),
            400: OpenApiResponse(
                ErrorResponseSerializer,
                description="The file has bad rows: `extra.errors` lists each as `{line, field, message}` "
                f"(the first {MAX_ERRORS_LISTED}; `extra.error_count` counts them all); nothing was stored. "
                "Or the form is invalid (`extra.fields`).",
                examples=[
                    OpenApiExample(
                        "File rejected",
                        {
                            "message": "1 problem in the file; nothing was imported.",
                            "extra": {
                                "errors": [
                                    {
                                        "line": 2,
                                        "field": "measure",
                                        "message": "not a known member-level measure code",
                                    }
                                ],
                                "error_count": 1,
                            },
                        },
                        response_only=True,
                    )
                ],
            ),
            409: OpenApiResponse(
                ErrorResponseSerializer,
                description="An import of this contract is queued or running (`extra.job`).",
            ),
            **upload_refusals("GAP_IMPORT_MAX_BYTES"),
        },
    )
    @upload_action()
    def import_file(self, request):
        """Import a HEDIS engine gap file (CSV) for one contract and measurement year, as a job.

        Every row is checked here (a bad file is a 400 and nothing is kept); only the checked
        rows are stored, member IDs hashed, for the job that applies them in one transaction.
        Imports of one contract run one at a time.
        """
        payload = GapImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contract_id = payload.validated_data["contract"].strip().upper()
        contract = contracts_for(request.user).filter(contract_id=contract_id).first()
        if contract is None:
            raise Http404
        job = gap_import_start(
            user=request.user,
            contract=contract,
            upload=payload.validated_data["file"],
            measurement_year=payload.validated_data["measurement_year"],
            full_snapshot=payload.validated_data["full_snapshot"],
            idempotency_key=idempotency_key(request),
        )
        return job_accepted(job, request)

    @extend_schema(filters=True, responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """The filtered worklist as CSV, the columns of the admin's vendor export (streamed; members by
        pseudonym and member key, never a raw or internal ID).

        Recorded as one access entry with the filters and the number of rows, counted before
        the first row is sent: the entry is committed even if the stream is cut or its worker
        killed half-way, and a count costs less than the export itself. (Gaps imported between
        the count and the stream can make the two differ by those gaps.)
        """
        gaps = self.filter_queryset(self.get_queryset())
        log_read(
            model=selectors.CareGap,
            kind="export",
            view=route_pattern(request.resolver_match),
            filters=recorded_filters(request.query_params, self.filterset_class.base_filters),
            rows=gaps.count(),
        )
        response = StreamingHttpResponse(csv_lines(VENDOR_HEADER, vendor_rows(gaps)), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="worklist.csv"'
        return response

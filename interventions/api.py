"""REST API for the intervention catalog, interventions (proposals, workflow, outcomes) and outreach
records (outreach already done, which moves the gaps' workflow)."""

from collections import defaultdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gaps.models import ComplianceStatus
from hedis_portal.audit import AccessAuditedListMixin, log_access
from hedis_portal.errors import MISSING_OBJECT
from hedis_portal.filters import MAX_ID
from hedis_portal.rows import serializer_columns
from interventions import selectors, services
from interventions.filters import InterventionFilter, InterventionTypeFilter, OutreachRecordFilter
from interventions.models import (
    Channel,
    GapOutcome,
    Intervention,
    InterventionGap,
    InterventionStatus,
    InterventionType,
    OutreachChannel,
    OutreachGap,
    OutreachOutcome,
    OutreachRecord,
)
from members.models import Member
from ratings.models import Measure

# Most gaps one bulk proposal or one outcome report may name (as the gaps bulk actions).
MAX_GAPS = 1000


class UpliftSerializer(serializers.Serializer):
    """An intervention type's added closure probability (0–1) on one member-level measure."""

    # Codes are unique among member-level measures only, and only those have gaps.
    measure = serializers.SlugRelatedField(
        slug_field="code", queryset=Measure.objects.filter(member_level=True)
    )
    uplift = serializers.FloatField(min_value=0, max_value=1)


class InterventionTypeSerializer(serializers.ModelSerializer):
    """A kind of outreach: channel, unit cost, yearly capacity and uplift per measure."""

    uplifts = UpliftSerializer(many=True, required=False)

    class Meta:
        model = InterventionType
        fields = ["id", "name", "channel", "unit_cost", "capacity", "active", "uplifts"]

    def validate_uplifts(self, value):
        codes = [entry["measure"].code for entry in value]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise serializers.ValidationError(f"Give each measure once; repeated: {', '.join(repeated)}.")
        return {entry["measure"]: entry["uplift"] for entry in value}


class CoveredGapSerializer(serializers.ModelSerializer):
    """A gap an intervention covers: its measure, its compliance now and the outreach's outcome."""

    gap = serializers.IntegerField(source="gap_id")
    measure = serializers.CharField(source="gap.measure.code")
    measurement_year = serializers.IntegerField(source="gap.measurement_year")
    compliance_status = serializers.ChoiceField(
        source="gap.compliance_status", choices=ComplianceStatus.choices
    )

    class Meta:
        model = InterventionGap
        fields = ["gap", "measure", "measurement_year", "compliance_status", "outcome"]
        read_only_fields = fields


class InterventionSerializer(serializers.ModelSerializer):
    """An intervention with its workflow dates and the gaps it covers (member by portal key only)."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    channel = serializers.ChoiceField(
        source="intervention_type.channel", choices=Channel.choices, read_only=True
    )
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    gaps = CoveredGapSerializer(source="covered", many=True, read_only=True)

    class Meta:
        model = Intervention
        fields = [
            "id",
            "member",
            "contract",
            "intervention_type",
            "channel",
            "status",
            "cost",
            "scheduled_for",
            "completed_at",
            "approved_by",
            "approved_at",
            "created_by",
            "notes",
            "version",
            "created_at",
            "updated_at",
            "gaps",
        ]
        read_only_fields = fields


# An intervention without its covered gaps, and a covered gap, as plain rows (`hedis_portal.rows`).
INTERVENTION_ROW = serializer_columns(InterventionSerializer)
COVERED_GAP_ROW = serializer_columns(CoveredGapSerializer)
# The cost as `InterventionSerializer` shows it (a string with the model field's decimal places).
_MONEY = InterventionSerializer().fields["cost"]


def intervention_rows(interventions: list[dict], covered: list[dict]) -> list[dict]:
    """Interventions as `InterventionSerializer` shows them, from plain rows.

    `interventions` are `INTERVENTION_ROW` rows, `covered` their `COVERED_GAP_ROW` rows, each
    with the "intervention" it belongs to. For pages that show a few interventions beside other
    things (the member history), where model instances and nested serializers cost more than
    the queries.
    """
    by_intervention = defaultdict(list)
    for gap in covered:
        by_intervention[gap.pop("intervention")].append(gap)
    for row in interventions:
        row["cost"] = _MONEY.to_representation(row["cost"])
        row["gaps"] = by_intervention[row["id"]]
    return interventions


@extend_schema_field(OpenApiTypes.INT)
class VisibleMemberField(serializers.PrimaryKeyRelatedField):
    """A member of the requesting user's contracts; any other id reads as not existing."""

    def get_queryset(self):
        return Member.objects.visible_to(self.context["request"].user)


class VisibleGapsField(serializers.ListField):
    """Gap ids the requesting user may see, resolved in one query; unseen ids read as not existing.

    At most `MAX_GAPS` ids, counted before anything is read.
    """

    child = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=MAX_GAPS, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > MAX_GAPS:
            self.fail("max_length", max_length=MAX_GAPS)
        gap_ids = super().to_internal_value(data)
        gaps = selectors.gaps_visible_among(self.context["request"].user, gap_ids)
        missing = sorted(set(gap_ids) - {gap.pk for gap in gaps})
        if missing:
            raise serializers.ValidationError(
                f"Gaps {', '.join(map(str, missing))} do not exist.", code=MISSING_OBJECT
            )
        return gaps


class InterventionCreateSerializer(serializers.Serializer):
    """Propose one intervention for a member covering some of their open gaps."""

    member = VisibleMemberField()
    intervention_type = serializers.PrimaryKeyRelatedField(queryset=InterventionType.objects.all())
    gaps = VisibleGapsField()
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    scheduled_for = serializers.DateField(required=False, allow_null=True, default=None)


class InterventionBulkCreateSerializer(serializers.Serializer):
    """Propose one intervention per member, each covering that member's selected gaps."""

    gaps = VisibleGapsField()
    intervention_type = serializers.PrimaryKeyRelatedField(queryset=InterventionType.objects.all())
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class TransitionSerializer(serializers.Serializer):
    """The status to move to and the version the client read (a stale version is a 409)."""

    status = serializers.ChoiceField(choices=InterventionStatus.choices)
    version = serializers.IntegerField(min_value=1)


@extend_schema_field(
    {
        "type": "object",
        "description": "Outcome per covered gap, keyed by gap id.",
        "additionalProperties": {"type": "string", "enum": GapOutcome.values},
        "minProperties": 1,
        "maxProperties": MAX_GAPS,
        "example": {"12": "closed"},
    }
)
class GapOutcomesField(serializers.DictField):
    """Gap id → outcome; at most `MAX_GAPS` entries, counted before anything else is checked."""

    child = serializers.ChoiceField(choices=GapOutcome.choices)

    def to_internal_value(self, data):
        if isinstance(data, dict) and len(data) > MAX_GAPS:
            raise serializers.ValidationError(f"Give at most {MAX_GAPS} gap outcomes.")
        return super().to_internal_value(data)


class OutcomesSerializer(serializers.Serializer):
    """Per-gap outcomes keyed by gap id, e.g. `{"outcomes": {"12": "closed"}}`."""

    outcomes = GapOutcomesField()

    def validate_outcomes(self, value):
        try:
            return {int(gap_id): outcome for gap_id, outcome in value.items()}
        except ValueError:
            raise serializers.ValidationError("Keys must be gap ids.") from None


class InterventionTypeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The outreach catalog: everyone reads it; administrators add and change entries."""

    # Changes are PATCH only (a PUT is a full update, and these have optional fields).
    http_method_names = ["get", "post", "patch", "head", "options"]

    serializer_class = InterventionTypeSerializer
    filterset_class = InterventionTypeFilter
    ordering_fields = ["id", "name", "unit_cost"]

    def get_queryset(self):
        return selectors.intervention_types()

    def perform_create(self, serializer):
        fields = {"uplifts": {}, **serializer.validated_data}
        created = services.intervention_type_create(**fields)
        serializer.instance = self.get_queryset().get(pk=created.pk)

    def perform_update(self, serializer):
        services.intervention_type_update(intervention_type=serializer.instance, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)


class InterventionViewSet(
    AccessAuditedListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Interventions of your contracts: propose, move through the workflow, record outcomes.

    Reads are audited (member-level data): each page of the list is one access entry, each
    intervention opened another.
    """

    # Viewing is enough to ask for a transition: whether the role may make that particular
    # move (approve, or work the intervention) is decided by the service, for API and admin.
    action_permissions = {
        "transition": ["interventions.view_intervention"],
        "outcomes": ["interventions.change_intervention"],
    }

    serializer_class = InterventionSerializer
    filterset_class = InterventionFilter
    ordering_fields = ["id", "created_at", "scheduled_for", "cost"]

    def get_queryset(self):
        return selectors.interventions_for(self.request.user)

    def _shown(self, intervention: Intervention) -> dict:
        """The intervention as stored after a write, with its covered gaps."""
        return self.get_serializer(self.get_queryset().get(pk=intervention.pk)).data

    def retrieve(self, request, *args, **kwargs):
        intervention = self.get_object()
        log_access(intervention)
        return Response(self.get_serializer(intervention).data)

    @extend_schema(request=InterventionCreateSerializer, responses={201: InterventionSerializer})
    def create(self, request):
        """Propose an intervention for one member covering some of their open gaps."""
        payload = InterventionCreateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        intervention = services.intervention_create(created_by=request.user, **payload.validated_data)
        return Response(self._shown(intervention), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=InterventionBulkCreateSerializer, responses={201: InterventionSerializer(many=True)}
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Propose one intervention per member, each covering all of that member's given gaps."""
        payload = InterventionBulkCreateSerializer(data=request.data, context=self.get_serializer_context())
        payload.is_valid(raise_exception=True)
        created = services.interventions_create_for_gaps(created_by=request.user, **payload.validated_data)
        shown = self.get_queryset().filter(pk__in=[i.pk for i in created]).order_by("pk")
        return Response(self.get_serializer(shown, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TransitionSerializer,
        responses={200: InterventionSerializer},
        description="400: the workflow does not allow it; 403: your role does not; 409: stale version.",
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the intervention to another status (approving needs the approve permission)."""
        intervention = self.get_object()
        payload = TransitionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.intervention_transition(
            intervention=intervention,
            to_status=payload.validated_data["status"],
            actor=request.user,
            expected_version=payload.validated_data["version"],
        )
        return Response(self._shown(intervention))

    @extend_schema(
        request=OutcomesSerializer,
        responses={
            200: InterventionSerializer,
            409: OpenApiResponse(description="Outcomes wait until the outreach is over (completed, failed)."),
        },
    )
    @action(detail=True, methods=["post"])
    def outcomes(self, request, pk=None):
        """Record per-gap outcomes (the data feed): did each covered gap close after the outreach?"""
        intervention = self.get_object()
        payload = OutcomesSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.intervention_record_outcomes(
            intervention=intervention, outcomes=payload.validated_data["outcomes"]
        )
        return Response(self._shown(intervention))


class OutreachMoveSerializer(serializers.ModelSerializer):
    """A gap an outreach record covers: the workflow state it had, the one it took, its version now."""

    gap = serializers.IntegerField(source="gap_id")
    measure = serializers.CharField(source="gap.measure.code")
    measurement_year = serializers.IntegerField(source="gap.measurement_year")
    version = serializers.IntegerField(
        source="gap.version", help_text="The gap's version now, for the next write on it."
    )

    class Meta:
        model = OutreachGap
        fields = ["gap", "measure", "measurement_year", "state_before", "state_after", "version"]
        read_only_fields = fields


class OutreachRecordSerializer(serializers.ModelSerializer):
    """Outreach already made to one member, and how it moved each gap it covers."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    gaps = OutreachMoveSerializer(source="moves", many=True, read_only=True)

    class Meta:
        model = OutreachRecord
        fields = [
            "id",
            "member",
            "contract",
            "channel",
            "outcome",
            "contacted_on",
            "note",
            "recorded_by",
            "recorded_at",
            "gaps",
        ]
        read_only_fields = fields


class GapVersionSerializer(serializers.Serializer):
    """A gap and the version the client read (a stale version is a 409)."""

    id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    version = serializers.IntegerField(min_value=1)


class OutreachRecordCreateSerializer(serializers.Serializer):
    """Outreach made to one member about some of their open gaps: channel, outcome, day and note."""

    gaps = GapVersionSerializer(many=True, allow_empty=False, max_length=services.MAX_OUTREACH_GAPS)
    channel = serializers.ChoiceField(choices=OutreachChannel.choices)
    outcome = serializers.ChoiceField(choices=OutreachOutcome.choices)
    contacted_on = serializers.DateField(help_text="The day of the outreach: today or earlier.")
    note = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text=OutreachRecord._meta.get_field("note").help_text,
    )

    def validate_gaps(self, value):
        ids = [entry["id"] for entry in value]
        repeated = sorted({pk for pk in ids if ids.count(pk) > 1})
        if repeated:
            raise serializers.ValidationError(
                f"Give each gap once; repeated: {', '.join(map(str, repeated))}."
            )
        return {entry["id"]: entry["version"] for entry in value}


class OutreachRecordViewSet(
    AccessAuditedListMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Outreach already made (no approval needed), for your contracts' members: list, read, record.

    Reads are audited (member-level data): each page of the list is one access entry, each
    record opened another.
    """

    serializer_class = OutreachRecordSerializer
    filterset_class = OutreachRecordFilter
    ordering_fields = ["id", "recorded_at", "contacted_on"]

    def get_queryset(self):
        return selectors.outreach_records_for(self.request.user)

    def retrieve(self, request, *args, **kwargs):
        record = self.get_object()
        log_access(record)
        return Response(self.get_serializer(record).data)

    @extend_schema(
        request=OutreachRecordCreateSerializer,
        responses={201: OutreachRecordSerializer},
        description=(
            "Each gap moves as the outcome says (README, Recording outreach done). 400: a date in the "
            "future, or gaps of several members; 404: a gap you cannot see; 409: a stale version, or a "
            "move the workflow forbids from a gap's state (the message names each gap). Nothing is "
            "recorded unless every gap can move."
        ),
    )
    def create(self, request):
        """Record outreach made to one member and move each named gap's workflow as its outcome says."""
        payload = OutreachRecordCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        (record,) = services.outreach_records_create(
            actor=request.user,
            versions=data["gaps"],
            channel=data["channel"],
            outcome=data["outcome"],
            contacted_on=data["contacted_on"],
            note=data["note"],
        )
        shown = self.get_serializer(self.get_queryset().get(pk=record.pk)).data
        return Response(shown, status=status.HTTP_201_CREATED)

"""REST API for contracts and members."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from hedis_portal.audit import AccessAuditedListMixin, log_access
from members import selectors, services
from members.filters import ContractFilter, MemberFilter
from members.identifiers import MAX_RAW_MEMBER_ID_LENGTH
from members.models import Contract, Member


class ContractSerializer(serializers.ModelSerializer):
    """A CMS contract with the attributes that decide its CAI category."""

    class Meta:
        model = Contract
        fields = [
            "contract_id",
            "name",
            "organization_type",
            "snp",
            "enrollment",
            "lis_de_percent",
            "disability_percent",
        ]


class MemberSerializer(serializers.ModelSerializer):
    """A member as the API shows it: the portal's primary key, the pseudonym people read and search,
    and the full member key (the keyed hash) for systems to join on. Never a raw member ID."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    member_key = serializers.CharField(
        source="id_hash",
        read_only=True,
        help_text="HMAC-SHA256 of the plan's member ID with the portal's key (64 hex digits).",
    )

    class Meta:
        model = Member
        fields = [
            "id",
            "pseudonym",
            "member_key",
            "contract",
            "birth_year",
            "sex",
            "lis_de",
            "disability",
            "active",
            "created_at",
            "updated_at",
        ]


class MemberLookupSerializer(serializers.Serializer):
    """A raw plan member ID, hashed on arrival; sent in the body so it stays out of URLs and logs."""

    member_id = serializers.CharField(max_length=MAX_RAW_MEMBER_ID_LENGTH, write_only=True)


class ContractViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Contracts you are assigned to; administrators create and update them."""

    # Changes are PATCH only (a PUT is a full update, and these have optional fields).
    http_method_names = ["get", "post", "patch", "head", "options"]

    serializer_class = ContractSerializer
    filterset_class = ContractFilter
    lookup_field = "contract_id"
    ordering_fields = ["contract_id", "enrollment"]
    ordering = ["contract_id"]

    def get_queryset(self):
        return selectors.contracts_for(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.contract_create(
            contract=Contract(**serializer.validated_data), created_by=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.contract_update(
            contract=serializer.instance, **serializer.validated_data
        )


class MemberViewSet(AccessAuditedListMixin, viewsets.ReadOnlyModelViewSet):
    """Members of your contracts (`?pseudonym=K7QD-2M` finds them by a pseudonym's start), and
    the lookup by raw member ID.

    Served with each member's history by `console.api.MemberHistoryViewSet`, which composes
    the gaps, predictions and interventions apps. Reads are audited: each page of the list is
    one access entry, each member opened another.
    """

    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    ordering_fields = ["id", "birth_year"]
    # A lookup is a read sent as POST, so that the raw member ID stays out of URLs and logs.
    action_permissions = {"lookup": ["members.view_member"]}

    def get_queryset(self):
        return selectors.members_for(self.request.user)

    @extend_schema(request=MemberLookupSerializer, responses=MemberSerializer)
    @action(detail=False, methods=["post"])
    def lookup(self, request):
        """Find a member by raw plan member ID (404 if none in your contracts)."""
        payload = MemberLookupSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        member = selectors.member_get_by_raw_id(
            user=request.user, raw_member_id=payload.validated_data["member_id"]
        )
        log_access(member)
        return Response(MemberSerializer(member).data)

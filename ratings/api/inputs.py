"""API: the plan's rating inputs, contract-level scores and rating profiles (written through services)."""

from django.shortcuts import get_object_or_404
from rest_framework import mixins, serializers, viewsets

from members.models import Contract
from members.selectors import contracts_for
from ratings import filters
from ratings.api.fields import MAX_YEAR, MIN_YEAR, CmsNumberField, ContractIdField
from ratings.live import selectors, services
from ratings.models import (
    ContractMeasureScore,
    ContractRatingProfile,
    Measure,
)


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

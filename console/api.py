"""The members API with each member's history (gaps, predictions, interventions) on the detail."""

from rest_framework.response import Response

from console import selectors
from gaps.api import CareGapSerializer
from hedis_portal.audit import log_access
from interventions.api import InterventionSerializer, intervention_rows
from members.api import MemberSerializer, MemberViewSet
from predictions.api import PredictionSerializer


class MemberHistorySerializer(MemberSerializer):
    """A member with all of their gaps, predictions and interventions (the member history)."""

    gaps = CareGapSerializer(many=True, read_only=True)
    predictions = PredictionSerializer(many=True, read_only=True)
    interventions = InterventionSerializer(many=True, read_only=True)

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "gaps", "predictions", "interventions"]


class MemberHistoryViewSet(MemberViewSet):
    """Members of your contracts; one member comes with their whole history.

    Reads are audited: each page of the list is one access entry, each member opened another.
    """

    def get_serializer_class(self):
        return MemberHistorySerializer if self.action == "retrieve" else MemberSerializer

    def retrieve(self, request, *args, **kwargs):
        """The member's history, in `MemberHistorySerializer`'s shape.

        Read as plain rows (`hedis_portal.rows`): model instances and nested serializers cost
        more than the queries (docs/performance.md).
        """
        member = self.get_object()
        log_access(member)
        return Response(
            {
                **MemberSerializer(member).data,
                "gaps": selectors.member_gaps(member),
                "predictions": selectors.member_predictions(member),
                "interventions": intervention_rows(*selectors.member_interventions(member)),
            }
        )

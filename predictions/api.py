"""REST API for predictions: scoped reads and the bulk upsert external models call."""

import hashlib
from dataclasses import asdict

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import parsers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from hedis_portal.audit import AccessAuditedListMixin, file_facts, log_access
from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.jobs_api import (
    IDEMPOTENCY_KEY,
    JobSerializer,
    idempotency_key,
    job_accepted,
    upload_action,
    upload_refusals,
)
from hedis_portal.rows import serializer_columns
from predictions import selectors, services
from predictions.filters import PredictionFilter
from predictions.importing import FORMATS
from predictions.jobs import file_format_of, predictions_import_start
from predictions.models import Prediction, RiskTier


@extend_schema_field(
    {
        "type": "array",
        "items": {"description": "A JSON value as the model sent it; a feature's name in practice."},
        "maxItems": services.MAX_TOP_FEATURES,
        "example": ["prior_year_compliance", "pcp_visits_ytd", "months_enrolled"],
    }
)
class TopFeaturesField(serializers.JSONField):
    """The model's top features, in its order, as it sent them (no PHI)."""


class PredictionSerializer(serializers.ModelSerializer):
    """A prediction as the API shows it: the member by the portal's primary key only."""

    contract = serializers.SlugRelatedField(slug_field="contract_id", read_only=True)
    measure = serializers.SlugRelatedField(slug_field="code", read_only=True)
    top_features = TopFeaturesField(
        read_only=True,
        help_text=f"The model's top features, most important first: at most {services.MAX_TOP_FEATURES}, "
        "no PHI.",
    )

    class Meta:
        model = Prediction
        fields = [
            "id",
            "member",
            "contract",
            "measure",
            "measurement_year",
            "model_version",
            "probability",
            "risk_tier",
            "top_features",
            "predicted_at",
            "created_at",
        ]
        read_only_fields = fields


# The member history reads predictions as plain rows (`hedis_portal.rows`).
PREDICTION_ROW = serializer_columns(PredictionSerializer)


class PredictionRowSerializer(serializers.Serializer):
    """One row of a bulk upsert (documentation only: rows are checked by the service, in plain Python)."""

    member_id = serializers.CharField(
        max_length=64, help_text="The plan's raw member ID; hashed on arrival, never stored or echoed."
    )
    measure = serializers.CharField(help_text="Code of a member-level measure, e.g. BCS, CBP, ADH-DIAB.")
    measurement_year = serializers.IntegerField(
        min_value=services.MIN_MEASUREMENT_YEAR, max_value=services.MAX_MEASUREMENT_YEAR
    )
    model_version = serializers.CharField(max_length=services.MAX_MODEL_VERSION_LENGTH)
    probability = serializers.FloatField(min_value=0, max_value=1)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    top_features = serializers.ListField(
        child=serializers.JSONField(), max_length=services.MAX_TOP_FEATURES, required=False
    )
    predicted_at = serializers.DateTimeField(help_text="ISO-8601 with a time zone.")


class PredictionBulkRequestSerializer(serializers.Serializer):
    """The bulk upsert body: `{"predictions": [row, …]}`."""

    predictions = PredictionRowSerializer(many=True)


class PredictionBulkResultSerializer(serializers.Serializer):
    """How many rows were received, and how many predictions were created or updated."""

    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class PredictionImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv file with a header naming the row fields, or a .jsonl file."
    )
    format = serializers.ChoiceField(
        choices=FORMATS,
        required=False,
        help_text="The file's format; by default read from the file name's suffix.",
    )


class PredictionViewSet(AccessAuditedListMixin, viewsets.ReadOnlyModelViewSet):
    """Predictions for members of your contracts; analysts and administrators upsert them in bulk.

    Reads are audited: each page of the list is one access entry, each prediction opened another.
    """

    serializer_class = PredictionSerializer
    filterset_class = PredictionFilter
    ordering_fields = ["predicted_at", "probability"]

    def get_queryset(self):
        return selectors.predictions_for(self.request.user)

    def retrieve(self, request, *args, **kwargs):
        prediction = self.get_object()
        log_access(prediction)
        return Response(self.get_serializer(prediction).data)

    @extend_schema(
        request=PredictionBulkRequestSerializer,
        responses={
            200: PredictionBulkResultSerializer,
            400: OpenApiResponse(
                ErrorResponseSerializer,
                description="Some rows are invalid: `extra.errors` lists each as `{line, field, message}`, "
                "where `line` is the row's 1-based position in `predictions` (the import errors' one shape), "
                "and `extra.error_count` counts them; nothing was written. "
                'Or the body is not `{"predictions": [row, …]}` (`extra.fields`).',
                examples=[
                    OpenApiExample(
                        "Rows rejected",
                        {
                            "message": "The batch was rejected (1 of 2 rows invalid); nothing was written.",
                            "extra": {
                                "errors": [
                                    {"line": 2, "field": "probability", "message": "must be between 0 and 1"}
                                ],
                                "error_count": 1,
                            },
                        },
                        response_only=True,
                    )
                ],
            ),
            413: OpenApiResponse(
                ErrorResponseSerializer,
                description="Over PREDICTIONS_BULK_MAX_ROWS rows, or over DATA_UPLOAD_MAX_MEMORY_SIZE bytes.",
            ),
        },
    )
    # JSON only: a batch of rows has no sensible form encoding.
    @action(detail=False, methods=["post"], parser_classes=[parsers.JSONParser])
    def bulk(self, request):
        """Create or update a batch of predictions: every row valid, or nothing written.

        A refusal lists each bad row's problems as `{"line", "field", "message"}`, `line` being
        the row's 1-based position in `predictions`.
        """
        # Read before DRF parses it, so the audit entry can carry the body's hash and size.
        body = request._request.body
        rows = request.data.get("predictions") if isinstance(request.data, dict) else None
        if not isinstance(rows, list):
            raise ValidationError({"predictions": ['Send a JSON object {"predictions": [row, …]}.']})
        result = services.predictions_bulk_upsert(
            user=request.user,
            rows=rows,
            source="api",
            file=file_facts(sha256=hashlib.sha256(body).hexdigest(), size_bytes=len(body), rows=len(rows)),
        )
        return Response(asdict(result))

    @extend_schema(
        request={"multipart/form-data": PredictionImportSerializer},
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: OpenApiResponse(
                JobSerializer,
                description="Every row was checked and the checked rows stored (members as primary keys); a "
                "`predictions_import` job writes them, all or nothing: poll `Location`. Its `result` counts "
                "the predictions received, created and updated.",
            ),
            400: OpenApiResponse(
                ErrorResponseSerializer,
                description="The file has bad rows: `extra.errors` lists each as `{line, field, message}` "
                "(`line` is the file's line); nothing was stored. Or the form is invalid (`extra.fields`).",
            ),
            **upload_refusals("PREDICTIONS_IMPORT_MAX_BYTES"),
        },
    )
    @upload_action()
    def import_file(self, request):
        """Import a predictions file (.csv or .jsonl) for members of your contracts, as a job.

        Every row is checked here, as the `import_predictions` command checks it (a bad file is a
        400 and nothing is kept); only the checked rows are stored, for the job that writes them
        in one transaction. The upload's name is read for its suffix only, never kept.
        """
        payload = PredictionImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        file_format = file_format_of(upload, payload.validated_data.get("format", ""))
        if not file_format:
            raise ValidationError({"format": ["Send format (csv or jsonl), or a file named .csv or .jsonl."]})
        job = predictions_import_start(
            user=request.user,
            upload=upload,
            file_format=file_format,
            idempotency_key=idempotency_key(request),
        )
        return job_accepted(job, request)

"""API: imports of CMS's Star Ratings data tables: upload a star year's tables as a job, and read
which files each year's national benchmark came from."""

from drf_spectacular.utils import OpenApiExample, OpenApiRequest, OpenApiResponse, extend_schema
from rest_framework import mixins, parsers, serializers, viewsets

from hedis_portal.errors import ErrorResponseSerializer
from hedis_portal.jobs_api import (
    IDEMPOTENCY_KEY,
    JobSerializer,
    idempotency_key,
    job_accepted,
    upload_refusals,
)
from ratings import filters
from ratings.api.fields import MAX_YEAR, MIN_YEAR
from ratings.jobs import cms_import_start
from ratings.models import CmsDataImport


class CmsFileSerializer(serializers.Serializer):
    """One file of an import: CMS's public file name, the table it held, its SHA-256."""

    name = serializers.CharField()
    table = serializers.CharField(help_text="e.g. measure_data, part_c_cut_points, summary_ratings.")
    sha256 = serializers.CharField()


class CmsDataImportSerializer(serializers.ModelSerializer):
    """A star year's national benchmark: the files it came from, when, by whom, and what it holds."""

    imported_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    files = CmsFileSerializer(many=True, read_only=True)

    class Meta:
        model = CmsDataImport
        fields = [
            "id",
            "star_year",
            "imported_at",
            "imported_by",
            "files",
            "contract_count",
            "cut_point_count",
            "measure_value_count",
        ]
        read_only_fields = fields


class CmsImportSerializer(serializers.Serializer):
    """A star year and its CMS data tables, as CSV files with CMS's names."""

    star_year = serializers.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)
    files = serializers.ListField(
        child=serializers.FileField(),
        allow_empty=False,
        help_text="One or more of the year's CSV tables: cut points, measure data, measure stars, "
        "summary ratings, CAI. Each is recognised by its content. Optionally a contract-type file "
        "(header contract,type; e.g. H1234,CCP with Only I-SNP) giving Tables 4-7 types the tables "
        "cannot tell.",
    )


class CmsDataImportViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Star years of the national benchmark, newest first; a `POST` imports a year's tables as a job."""

    filterset_class = filters.CmsDataImportFilter
    ordering = ["-star_year"]
    parser_classes = [parsers.MultiPartParser]

    def get_queryset(self):
        return CmsDataImport.objects.select_related("imported_by")

    def get_serializer_class(self):
        return CmsImportSerializer if self.action == "create" else CmsDataImportSerializer

    @extend_schema(
        request=OpenApiRequest(
            CmsImportSerializer,
            encoding={
                "files": {
                    "contentType": "text/csv",
                    "headers": {
                        "Content-Disposition": {
                            "description": "Each part names its file; the name ends in .csv.",
                            "schema": {
                                "type": "string",
                                "example": 'form-data; name="files"; filename="measure-data.csv"',
                            },
                        }
                    },
                }
            },
        ),
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: OpenApiResponse(
                JobSerializer,
                description="Accepted: the job to poll. When it has succeeded, its `result` counts what "
                "was stored (`contracts`, `cut_points`, `measure_values`) and links the import (`url`, "
                "`admin_url`). When the tables are refused, it has failed and nothing was written: its "
                "`error.extra.errors` holds the problem as `{file, line, field, message}`.",
            ),
            400: OpenApiResponse(
                ErrorResponseSerializer,
                description="The form is invalid (`extra.fields`): no files, a name that does not end in "
                ".csv, or a star year out of range. Nothing was stored.",
                examples=[
                    OpenApiExample(
                        "Not a CSV file",
                        {
                            "message": "Validation error",
                            "extra": {
                                "fields": {
                                    "files": ["measures.xlsx is not a CSV file (its name must end in .csv)."]
                                }
                            },
                        },
                        response_only=True,
                    )
                ],
            ),
            403: OpenApiResponse(ErrorResponseSerializer, description="Your role may not import CMS tables."),
            **upload_refusals("CMS_IMPORT_MAX_BYTES (the files together)"),
        },
    )
    def create(self, request, *args, **kwargs):
        """Import a star year's CMS Star Ratings data tables, as a job: 202, and the job to poll.

        Re-importing a year replaces its benchmark in one transaction; a refused file set
        leaves the stored one as it was.
        """
        payload = CmsImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job, _ = cms_import_start(
            user=request.user,
            star_year=payload.validated_data["star_year"],
            uploads=payload.validated_data["files"],
            source="api upload",
            idempotency_key=idempotency_key(request),
        )
        return job_accepted(job, request)

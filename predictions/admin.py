"""Admin pages for predictions: read-only, scoped to the user's contracts."""

from django import forms
from django.contrib import admin

from hedis_portal.admin import (
    ContractScopedAdmin,
    JobPage,
    JobPagesAdminMixin,
    ReadOnlyAdminMixin,
    filterset_list_filter,
    measurement_year_choices,
    visible_contract_choices,
)
from hedis_portal.audit import AccessAuditedChangelistMixin, log_access
from hedis_portal.formats import probability
from predictions.filters import PredictionFilter
from predictions.importing import FORMATS
from predictions.jobs import file_format_of, predictions_import_start
from predictions.models import Prediction, RiskTier
from ratings.models import Measure


def _measure_choices(request):
    """Member-level measures only: the only ones a prediction can be for."""
    codes = Measure.objects.filter(member_level=True).order_by("code").values_list("code", flat=True)
    return [(code, code) for code in codes]


def _model_version_choices(request):
    versions = Prediction.objects.visible_to(request.user).order_by("model_version").distinct()
    return [(v, v) for v in versions.values_list("model_version", flat=True)]


def _prediction_filter(name, choices, title=None):
    return filterset_list_filter(PredictionFilter, name, title=title, choices=choices)


class PredictionUploadForm(forms.Form):
    """A predictions file (.csv or .jsonl) for members of the user's contracts."""

    file = forms.FileField(
        help_text="One prediction per row: member_id, measure, measurement_year, model_version, probability, "
        "risk_tier, predicted_at and optionally top_features (a CSV header names them; JSON Lines objects "
        "carry them). Member IDs are hashed as the file is read."
    )
    format = forms.ChoiceField(
        choices=[("", "by the file's name"), *((name, name) for name in FORMATS)], required=False
    )

    def clean(self):
        cleaned = super().clean()
        if "file" in cleaned:
            cleaned["format"] = file_format_of(cleaned["file"], cleaned.get("format", ""))
            if not cleaned["format"]:
                self.add_error("format", "Choose csv or jsonl, or upload a file named .csv or .jsonl.")
        return cleaned


@admin.register(Prediction)
class PredictionAdmin(
    JobPagesAdminMixin, ReadOnlyAdminMixin, AccessAuditedChangelistMixin, ContractScopedAdmin
):
    """Predictions for your contracts' members. They arrive in bulk (API, an uploaded file or the
    command); nobody edits them here.

    Each page of the list and each prediction opened is recorded in the audit log as an access
    (member-level data).
    """

    job_pages = (
        JobPage(
            slug="upload",
            label="Import a predictions file",
            intro="Every row is checked as the file is uploaded, against the members of your contracts: a "
            "bad row refuses the whole file, each one listed with its line, and nothing is kept. A good "
            "file's predictions are then written by a job, all or nothing; its page shows the progress.",
            permissions=("predictions.add_prediction",),
            form="upload_form",
            start="upload_start",
            submit="Upload and import",
        ),
    )

    def upload_form(self, request, data=None, files=None):
        return PredictionUploadForm(data, files)

    def upload_start(self, request, form):
        return predictions_import_start(
            user=request.user, upload=form.cleaned_data["file"], file_format=form.cleaned_data["format"]
        )

    list_display = [
        "member",
        "measure",
        "measurement_year",
        "model_version",
        "closure",
        "risk_tier",
        "predicted_at",
    ]
    # The predictions API's filters, by the API's names (`PredictionFilter`).
    list_filter = [
        _prediction_filter("contract", visible_contract_choices),
        _prediction_filter("measure", _measure_choices),
        _prediction_filter("measurement_year", measurement_year_choices),
        _prediction_filter("risk_tier", lambda request: RiskTier.choices),
        _prediction_filter("model_version", _model_version_choices, title="model version"),
    ]
    # Member and measure are shown on every row (their __str__): joined, not queried per row.
    list_select_related = ["member", "measure"]
    # Newest loaded first, by the primary key: the model's order (by `predicted_at`) has no index
    # of a contract's predictions, and sorted all 1.32 million of the benchmark plan (1.9 s a page).
    ordering = ["-id"]
    raw_id_fields = ["member"]
    readonly_fields = [
        "member",
        "contract",
        "measure",
        "measurement_year",
        "model_version",
        "closure",
        "risk_tier",
        "top_features",
        "predicted_at",
        "created_at",
    ]
    actions = None

    @admin.display(description="P(close by year end)", ordering="probability")
    def closure(self, prediction):
        return probability(prediction.probability)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        prediction = self.get_object(request, object_id)
        if prediction is not None:
            log_access(prediction)
        return super().change_view(request, object_id, form_url, extra_context)

"""Admin pages for predictions: read-only, scoped to the user's contracts."""

from django.contrib import admin

from hedis_portal.admin import ContractListFilter, ContractScopedAdmin, MeasurementYearListFilter
from hedis_portal.audit import AccessAuditedChangelistMixin, log_access
from predictions.models import Prediction


class MemberLevelMeasureListFilter(admin.RelatedFieldListFilter):
    """Offers only member-level measures: the only ones a prediction can be for."""

    def field_choices(self, field, request, model_admin):
        return field.get_choices(
            include_blank=False,
            ordering=self.field_admin_ordering(field, request, model_admin),
            limit_choices_to={"member_level": True},
        )


@admin.register(Prediction)
class PredictionAdmin(AccessAuditedChangelistMixin, ContractScopedAdmin):
    """Predictions for your contracts' members. They arrive in bulk (API or import); nobody edits them here.

    Each page of the list and each prediction opened is recorded in the audit log as an access
    (member-level data).
    """

    list_display = [
        "member",
        "measure",
        "measurement_year",
        "model_version",
        "probability",
        "risk_tier",
        "predicted_at",
    ]
    list_filter = [
        ContractListFilter,
        ("measure", MemberLevelMeasureListFilter),
        MeasurementYearListFilter,
        "risk_tier",
        "model_version",
    ]
    # Member and measure are shown on every row (their __str__): joined, not queried per row.
    list_select_related = ["member", "measure"]
    raw_id_fields = ["member"]
    readonly_fields = [
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
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        prediction = self.get_object(request, object_id)
        if prediction is not None:
            log_access(prediction)
        return super().change_view(request, object_id, form_url, extra_context)

"""Admin building blocks shared by every app, plus the audit log and API request log pages."""

from auditlog.admin import LogEntryAdmin as AuditlogLogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.functional import cached_property

from hedis_portal.errors import ApplicationError
from hedis_portal.models import ApiRequestLog
from members.models import Contract


class ContractListFilter(admin.SimpleListFilter):
    """Filter by contract, offering only the contracts the user may see."""

    title = "contract"
    parameter_name = "contract"

    def lookups(self, request, model_admin):
        return [(str(c.pk), c.contract_id) for c in Contract.objects.visible_to(request.user)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{queryset.contract_field: self.value()})
        return queryset


class CappedCountPaginator(Paginator):
    """Counts at most `CAP` + 1 rows: pages stay fast on tables of millions of rows.

    Django's admin counts the filtered rows for its pager; on a million-gap table that
    count is the slowest part of the page. Past the cap the pager shows the first pages only.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Without the ORDER BY, PostgreSQL stops after CAP + 1 rows instead of sorting them all.
        return self.object_list.order_by()[: self.CAP + 1].count()


class MeasurementYearListFilter(admin.SimpleListFilter):
    """The current measurement year and the three before it.

    Offered from the calendar rather than `SELECT DISTINCT` over millions of gaps.
    """

    title = "measurement year"
    parameter_name = "measurement_year"

    def lookups(self, request, model_admin):
        this_year = timezone.localdate().year
        return [(str(year), str(year)) for year in range(this_year, this_year - 4, -1)]

    def queryset(self, request, queryset):
        return queryset.filter(measurement_year=self.value()) if self.value() else queryset


class ContractScopedAdmin(admin.ModelAdmin):
    """A model admin that shows and offers only the user's contracts' rows.

    Uses the model's `visible_to` (the same call the API uses), so out-of-scope rows are
    absent from lists and their change pages answer 404. Large tables skip the full COUNT.
    """

    show_full_result_count = False
    paginator = CappedCountPaginator

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Contract:
            kwargs["queryset"] = Contract.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditLogEntryAdmin(AuditlogLogEntryAdmin):
    """Audit entries: readable by administrators, never editable or deletable from any page."""

    show_full_result_count = False
    actions = None

    def has_delete_permission(self, request, obj=None):
        return False


class OutcomeListFilter(admin.SimpleListFilter):
    """Errors first: the page administrators open when something goes wrong."""

    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("errors", "Errors (4xx and 5xx)"), ("server", "Server errors (5xx)")]

    def queryset(self, request, queryset):
        if self.value() == "errors":
            return queryset.filter(status__gte=400)
        if self.value() == "server":
            return queryset.filter(status__gte=500)
        return queryset


@admin.register(ApiRequestLog)
class ApiRequestLogAdmin(admin.ModelAdmin):
    """Recent API requests; filter `status ≥ 400` for errors. Read-only."""

    list_display = [
        "started_at",
        "method",
        "route",
        "status",
        "duration_ms",
        "error_class",
        "user",
        "request_id",
    ]
    list_filter = [OutcomeListFilter, "method"]
    search_fields = ["=request_id"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    list_select_related = ["user"]
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def action_with_form(modeladmin, request, queryset, *, form_class, title: str, description: str, apply):
    """Run an admin action that first asks for input on an intermediate page.

    The first POST (from the changelist) shows `form_class`; the second, with `apply`,
    validates it and calls `apply(queryset, cleaned_data)`, which returns a message.
    """
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        try:
            modeladmin.message_user(request, apply(queryset, form.cleaned_data))
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
        return None
    return TemplateResponse(
        request,
        "admin/action_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.model._meta,
            "title": title,
            "description": description,
            "form": form,
            "action": request.POST["action"],
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across") == "1",
        },
    )

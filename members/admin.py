"""Admin pages for contracts and members, scoped to the user's contracts."""

from django import forms
from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from gaps.models import CareGap
from hedis_portal.admin import (
    ContractScopedAdmin,
    ServiceFormAdminMixin,
    filterset_list_filter,
    form_changes,
    visible_contract_choices,
)
from hedis_portal.audit import AccessAuditedChangelistMixin, log_access
from hedis_portal.formats import count, money, percent, probability
from interventions.models import Intervention
from members import services
from members.filters import MemberFilter
from members.identifiers import MAX_RAW_MEMBER_ID_LENGTH, InvalidMemberId, member_id_hash
from members.models import Contract, Member
from members.search import MemberSearchByPostMixin
from members.selectors import MEMBER_SEARCH_HELP, members_matching
from predictions.models import Prediction


@admin.register(Contract)
class ContractAdmin(ServiceFormAdminMixin, ContractScopedAdmin):
    """CMS contracts and who is assigned to them, each linked to its Star Ratings console pages."""

    list_display = [
        "contract_id",
        "name",
        "organization_type",
        "snp",
        "enrollment_count",
        "lis_de",
        "disability",
        "star_ratings_link",
    ]
    list_filter = ["organization_type", "snp"]
    search_fields = ["contract_id", "name"]
    filter_horizontal = ["users"]
    readonly_fields = ["star_ratings"]

    def get_queryset(self, request):
        # Each row links its latest measurement year's console overview: the year is read in the
        # list's own query (the newest gap's year), not with a query per row.
        newest_gap = CareGap.objects.filter(contract=OuterRef("pk")).order_by("-measurement_year")
        return (
            super()
            .get_queryset(request)
            .annotate(latest_year=Subquery(newest_gap.values("measurement_year")[:1]))
        )

    @admin.display(description="enrollment", ordering="enrollment")
    def enrollment_count(self, contract):
        return count(contract.enrollment)

    @admin.display(description="LIS/DE", ordering="lis_de_percent")
    def lis_de(self, contract):
        return percent(contract.lis_de_percent)

    @admin.display(description="disability", ordering="disability_percent")
    def disability(self, contract):
        return percent(contract.disability_percent)

    @admin.display(description="Star Ratings")
    def star_ratings_link(self, contract):
        if contract.latest_year is None:
            return format_html('<a href="{}">Console</a>', reverse("star_ratings:index"))
        url = reverse("star_ratings:overview", args=[contract.contract_id, contract.latest_year])
        return format_html('<a href="{}">MY{} overview</a>', url, contract.latest_year)

    @admin.display(description="Star Ratings console")
    def star_ratings(self, contract):
        """The console's overview for each measurement year the contract has gaps in."""
        if contract.pk is None:
            return "—"
        years = (
            CareGap.objects.filter(contract=contract)
            .order_by("-measurement_year")
            .values_list("measurement_year", flat=True)
            .distinct()
        )
        links = format_html_join(
            " · ",
            '<a href="{}">Measurement year {} overview</a>',
            ((reverse("star_ratings:overview", args=[contract.contract_id, year]), year) for year in years),
        )
        console = reverse("star_ratings:index")
        return links or format_html('<a href="{}">The Star Ratings console</a>', console)

    def save_model(self, request, obj, form, change):
        if change:
            stored, changes = form_changes(form)
            services.contract_update(contract=stored, **changes)
        else:
            services.contract_create(contract=obj, created_by=request.user)


class MemberCreationForm(forms.ModelForm):
    """Adding a member: the raw plan member ID is hashed on save and not kept anywhere."""

    raw_member_id = forms.CharField(
        label="Plan member ID",
        max_length=MAX_RAW_MEMBER_ID_LENGTH,
        help_text="Hashed with the portal's key on save; the ID itself is not stored.",
        widget=forms.PasswordInput(render_value=False),
    )

    class Meta:
        model = Member
        fields = ["contract", "birth_year", "sex", "lis_de", "disability", "active"]

    def clean_raw_member_id(self):
        try:
            id_hash = member_id_hash(self.cleaned_data["raw_member_id"])
        except InvalidMemberId as exc:
            raise forms.ValidationError(str(exc)) from None
        if Member.objects.filter(id_hash=id_hash).exists():
            raise forms.ValidationError("A member with this ID already exists.")
        return self.cleaned_data["raw_member_id"]


class _HistoryInline(admin.TabularInline):
    """A read-only slice of the member's history; each inline is one query whatever its length."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class GapHistoryInline(_HistoryInline):
    model = CareGap
    fields = [
        "measure",
        "measurement_year",
        "compliance_status",
        "workflow_state",
        "assignee",
    ]
    ordering = ["measure__code", "-measurement_year"]

    def get_queryset(self, request):
        # Each row is named by its gap, whose name includes the member's pseudonym.
        return super().get_queryset(request).select_related("measure", "assignee", "member")


class PredictionHistoryInline(_HistoryInline):
    model = Prediction
    fields = ["measure", "measurement_year", "model_version", "closure", "risk_tier", "predicted_at"]
    ordering = ["-predicted_at"]

    @admin.display(description="P(close)")
    def closure(self, prediction):
        return probability(prediction.probability)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("measure")


class InterventionHistoryInline(_HistoryInline):
    model = Intervention
    fields = ["intervention_type", "status", "cost_in_dollars", "scheduled_for", "completed_at", "created_at"]
    ordering = ["-created_at"]

    @admin.display(description="cost")
    def cost_in_dollars(self, intervention):
        return money(intervention.cost)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("intervention_type")


def _yes_no(request):
    return [("true", "Yes"), ("false", "No")]


@admin.register(Member)
class MemberAdmin(
    MemberSearchByPostMixin, ServiceFormAdminMixin, AccessAuditedChangelistMixin, ContractScopedAdmin
):
    """Members of your contracts. Search with a plan member ID (hashed before the query) or the
    start of a pseudonym.

    Each page of the list and each member opened is recorded in the audit log as an access
    (the search term never is).
    """

    list_display = ["pseudonym", "contract", "birth_year", "sex", "lis_de", "disability", "active"]
    inlines = [GapHistoryInline, PredictionHistoryInline, InterventionHistoryInline]
    # The members API's filters, by the API's names (`MemberFilter`).
    list_filter = [
        filterset_list_filter(MemberFilter, "contract", choices=visible_contract_choices),
        *[
            filterset_list_filter(MemberFilter, flag, title=flag.replace("_", " "), choices=_yes_no)
            for flag in ["active", "lis_de", "disability"]
        ],
        filterset_list_filter(MemberFilter, "sex", choices=lambda request: Member.Sex.choices),
    ]
    list_select_related = ["contract"]
    search_fields = ["pseudonym"]  # the box takes a raw member ID or a pseudonym; see get_search_results
    search_help_text = MEMBER_SEARCH_HELP
    # A member's contract is fixed once enrolled: their gaps, predictions and interventions carry
    # it too, and the member history reads them by it.
    readonly_fields = ["pseudonym", "id_hash", "contract", "created_at", "updated_at"]
    fields = [
        "pseudonym",
        "id_hash",
        "contract",
        "birth_year",
        "sex",
        "lis_de",
        "disability",
        "active",
        "created_at",
        "updated_at",
    ]

    add_form = MemberCreationForm
    add_fields = ["raw_member_id", "contract", "birth_year", "sex", "lis_de", "disability", "active"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return self.fields if obj else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj else []

    def get_search_results(self, request, queryset, search_term):
        return members_matching(queryset, search_term), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, object_id)
        if member is not None:
            log_access(member)
        extra_context = {
            **(extra_context or {}),
            "can_propose_intervention": request.user.has_perm("interventions.add_intervention"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            stored, changes = form_changes(form)
            services.member_update(member=stored, **changes)
        else:
            services.member_create(member=obj, raw_member_id=form.cleaned_data["raw_member_id"])

"""Admin pages for the outreach catalog, interventions and outreach records; every write goes
through the services (outreach records are made from the worklist, `console.admin`, and the API)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import ManyToManyRawIdWidget
from django.db.models import Prefetch
from django.template.defaultfilters import pluralize

from gaps.models import CareGap, ComplianceStatus
from hedis_portal.admin import (
    ContractScopedAdmin,
    ReadOnlyAdminMixin,
    ServiceFormAdminMixin,
    filterset_list_filter,
    form_changes,
    visible_contract_choices,
)
from hedis_portal.audit import AccessAuditedChangelistMixin, log_access
from hedis_portal.errors import ApplicationError
from hedis_portal.formats import count, money
from interventions import services, workflow
from interventions.filters import InterventionFilter, OutreachRecordFilter
from interventions.models import (
    Intervention,
    InterventionGap,
    InterventionStatus,
    InterventionType,
    InterventionUplift,
    OutreachChannel,
    OutreachGap,
    OutreachOutcome,
    OutreachRecord,
)
from members.models import Member
from ratings.models import Measure

_TYPE_FIELDS = ["name", "channel", "unit_cost", "capacity", "active"]


class InterventionUpliftInline(admin.TabularInline):
    """Added closure probability (0–1) per member-level measure."""

    model = InterventionUplift
    fields = ["measure", "uplift"]
    extra = 1

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "measure":
            kwargs["queryset"] = Measure.objects.filter(member_level=True).order_by("code")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(InterventionType)
class InterventionTypeAdmin(ServiceFormAdminMixin, admin.ModelAdmin):
    """The outreach catalog: channel, unit cost, yearly capacity and uplift per measure."""

    list_display = ["name", "channel", "cost_each", "yearly_capacity", "active"]
    list_filter = ["channel", "active"]
    search_fields = ["name"]
    inlines = [InterventionUpliftInline]

    @admin.display(description="unit cost", ordering="unit_cost")
    def cost_each(self, intervention_type):
        return money(intervention_type.unit_cost)

    @admin.display(description="capacity", ordering="capacity")
    def yearly_capacity(self, intervention_type):
        return count(intervention_type.capacity)

    def save_model(self, request, obj, form, change):
        """Nothing yet: `save_related` writes the type and its uplifts in one service call."""

    def save_related(self, request, form, formsets, change):
        uplift_formset = next((f for f in formsets if f.model is InterventionUplift), None)
        uplifts = None
        if uplift_formset is not None:
            # Not written here; this only records what changed for the admin's history message.
            uplift_formset.save(commit=False)
            uplifts = {
                row.cleaned_data["measure"]: row.cleaned_data["uplift"]
                for row in uplift_formset.forms
                if row.cleaned_data and row not in uplift_formset.deleted_forms
            }
        if change:
            stored, changes = form_changes(form)
            services.intervention_type_update(intervention_type=stored, uplifts=uplifts, **changes)
            return
        created = services.intervention_type_create(
            uplifts=uplifts or {}, **{name: form.cleaned_data[name] for name in _TYPE_FIELDS}
        )
        # The admin logs and redirects with the instance its form built: point it at the new row.
        form.instance.pk = created.pk


class _CoveredGapInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Read-only rows of the gaps a record covers, each with its gap's measure code."""

    extra = 0
    can_delete = False

    def get_queryset(self, request):
        # Each row shows its gap's measure code: one join instead of a query per row.
        return super().get_queryset(request).select_related("gap__measure", "gap__member")

    @admin.display(description="measure")
    def measure(self, row):
        return row.gap.measure.code


class InterventionGapInline(_CoveredGapInline):
    """The gaps an intervention covers and each one's outcome (written by the data feed only)."""

    model = InterventionGap
    fields = ["gap", "measure", "compliance_status", "outcome"]
    readonly_fields = fields

    @admin.display(description="compliance")
    def compliance_status(self, row):
        return row.gap.get_compliance_status_display()


class InterventionCreationForm(forms.ModelForm):
    """Proposing an intervention: a member, an active type and some of that member's open gaps."""

    actor = None  # set per request by `InterventionAdmin.get_form`
    for_member = None  # the page's `?member=` (from a member's page), set by `get_form` too

    covered_gaps = forms.ModelMultipleChoiceField(queryset=CareGap.objects.none(), label="Gaps")

    class Meta:
        model = Intervention
        fields = ["member", "intervention_type", "scheduled_for", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        gaps = self.fields["covered_gaps"]
        visible = CareGap.objects.visible_to(self.actor)
        member = self._member()
        if member is None:
            # A raw-ID box (with the worklist as lookup popup), not a list of a million gaps.
            gaps.queryset = visible
            gaps.widget = ManyToManyRawIdWidget(Intervention._meta.get_field("gaps").remote_field, admin.site)
            gaps.help_text = (
                "IDs of the member's open gaps, separated by commas. Opened from a member's page "
                '("Propose an intervention"), this lists their open gaps to tick.'
            )
            return
        self.fields["member"].initial = member.pk
        self.fields["member"].disabled = True
        gaps.queryset = (
            visible.filter(member=member, compliance_status=ComplianceStatus.OPEN)
            .select_related("measure", "member")
            .order_by("measure__code", "measurement_year")
        )
        gaps.widget = forms.CheckboxSelectMultiple()
        gaps.label_from_instance = lambda gap: f"{gap} ({gap.get_workflow_state_display()})"
        gaps.help_text = (
            "The member's open gaps: tick those this outreach covers."
            if gaps.queryset.exists()
            else "This member has no open gaps: there is nothing for an intervention to cover."
        )

    def _member(self) -> Member | None:
        """The member of the page's `?member=`, if one of the user's."""
        if not self.for_member or not self.for_member.isdigit():
            return None
        return Member.objects.visible_to(self.actor).filter(pk=self.for_member).first()

    def clean(self):
        cleaned_data = super().clean()
        member, gaps = cleaned_data.get("member"), cleaned_data.get("covered_gaps")
        if member and gaps:
            try:
                services.intervention_gaps_check(member=member, gaps=gaps)
            except ApplicationError as error:
                self.add_error("covered_gaps", error.message)
        return cleaned_data


class InterventionChangeForm(forms.ModelForm):
    """Editing an intervention: notes, planned date, and a status the workflow and your role allow."""

    actor = None  # set per request by `InterventionAdmin.get_form`

    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Intervention
        fields = ["status", "scheduled_for", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "status" not in self.fields:
            return  # a read-only page (view permission only): nothing to offer
        self.fields["expected_version"].initial = self.instance.version
        current = self.instance.status
        offered = [current] + [
            status
            for status in workflow.next_statuses(current)
            if services.actor_may_transition(self.actor, from_status=current, to_status=status)
        ]
        self.fields["status"].choices = [(status, InterventionStatus(status).label) for status in offered]


def _transition_action(to_status: str, description: str, permissions: list[str]):
    """An admin action moving the selected interventions to `to_status` through the service."""

    def transition(modeladmin, request, queryset):
        result = services.interventions_transition_bulk(
            interventions=queryset, to_status=to_status, actor=request.user
        )
        label = InterventionStatus(to_status).label.lower()
        changed = len(result.changed)
        message = f"{changed} intervention{pluralize(changed)} moved to {label}"
        if result.skipped:
            reasons = "; ".join(f"{reason} ({n})" for reason, n in result.skipped_reasons().most_common())
            message += f"; {len(result.skipped)} skipped: {reasons}"
        level = messages.WARNING if result.skipped else messages.SUCCESS
        modeladmin.message_user(request, f"{message}.", level)

    transition.__name__ = f"mark_{to_status}"
    return admin.action(description=description, permissions=permissions)(transition)


@admin.register(Intervention)
class InterventionAdmin(ServiceFormAdminMixin, AccessAuditedChangelistMixin, ContractScopedAdmin):
    """Interventions of your contracts. Status changes follow the workflow (approving needs a role).

    Each page of the list and each intervention opened is recorded in the audit log as an access.
    """

    list_display = [
        "id",
        "member",
        "intervention_type",
        "status",
        "cost_in_dollars",
        "scheduled_for",
        "created_at",
    ]
    # The interventions API's filters, by the API's names (`InterventionFilter`).
    list_filter = [
        filterset_list_filter(InterventionFilter, "contract", choices=visible_contract_choices),
        filterset_list_filter(
            InterventionFilter, "status", choices=lambda request: InterventionStatus.choices
        ),
        filterset_list_filter(
            InterventionFilter,
            "intervention_type",
            title="intervention type",
            choices=lambda request: [(str(t.pk), t.name) for t in InterventionType.objects.all()],
        ),
    ]
    list_select_related = ["member", "intervention_type"]
    show_full_result_count = False
    raw_id_fields = ["member"]
    inlines = [InterventionGapInline]
    actions = [
        _transition_action(InterventionStatus.APPROVED, "Approve selected interventions", ["approve"]),
        _transition_action(InterventionStatus.SCHEDULED, "Mark selected as scheduled", ["change"]),
        _transition_action(InterventionStatus.COMPLETED, "Mark selected as completed", ["change"]),
        _transition_action(InterventionStatus.FAILED, "Mark selected as failed", ["change"]),
        # Approvers may reject proposals; the service decides row by row.
        _transition_action(
            InterventionStatus.CANCELLED, "Cancel selected interventions", ["change", "approve"]
        ),
    ]

    add_fields = ["member", "intervention_type", "covered_gaps", "scheduled_for", "notes"]
    change_fields = [
        "member",
        "contract",
        "intervention_type",
        "cost_in_dollars",
        "status",
        "scheduled_for",
        "notes",
        "approved_by",
        "approved_at",
        "completed_at",
        "created_by",
        "created_at",
        "updated_at",
        "version",
    ]
    change_readonly_fields = [
        "member",
        "contract",
        "intervention_type",
        "cost_in_dollars",
        "approved_by",
        "approved_at",
        "completed_at",
        "created_by",
        "created_at",
        "updated_at",
        "version",
    ]

    @admin.display(description="cost", ordering="cost")
    def cost_in_dollars(self, intervention):
        return money(intervention.cost)

    def has_approve_permission(self, request):
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def has_delete_permission(self, request, obj=None):
        return False  # an intervention that will not happen is cancelled, and stays on record

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.add_fields
        if self.has_change_permission(request, obj):
            return [*self.change_fields, "expected_version"]
        return self.change_fields

    def get_readonly_fields(self, request, obj=None):
        return self.change_readonly_fields if obj else []

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = InterventionChangeForm if obj else InterventionCreationForm
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user  # `get_form` builds a new class per request: no sharing
        form.for_member = request.GET.get("member")
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "member":
            kwargs["queryset"] = Member.objects.visible_to(request.user)
        elif db_field.name == "intervention_type":
            kwargs["queryset"] = InterventionType.objects.filter(active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        intervention = self.get_object(request, object_id)
        if intervention is not None:
            log_access(intervention)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            created = services.intervention_create(
                member=form.cleaned_data["member"],
                intervention_type=form.cleaned_data["intervention_type"],
                gaps=list(form.cleaned_data["covered_gaps"]),
                created_by=request.user,
                notes=form.cleaned_data["notes"],
                scheduled_for=form.cleaned_data["scheduled_for"],
            )
            # The admin logs and redirects with the instance its form built: point it at the new row.
            obj.pk = created.pk
            return
        version = form.cleaned_data["expected_version"]
        if {"notes", "scheduled_for"} & set(form.changed_data):
            version = services.intervention_update(
                intervention=obj,
                expected_version=version,
                notes=form.cleaned_data["notes"],
                scheduled_for=form.cleaned_data["scheduled_for"],
            ).version
        if "status" in form.changed_data:
            services.intervention_transition(
                intervention=obj,
                to_status=form.cleaned_data["status"],
                actor=request.user,
                expected_version=version,
            )


class OutreachGapInline(_CoveredGapInline):
    """The gaps an outreach record covers and how it moved each one's workflow."""

    model = OutreachGap
    fields = ["gap", "measure", "state_before", "state_after"]
    readonly_fields = fields


@admin.register(OutreachRecord)
class OutreachRecordAdmin(ReadOnlyAdminMixin, AccessAuditedChangelistMixin, ContractScopedAdmin):
    """Outreach already made to members of your contracts, as recorded: read-only once recorded.

    Recorded from the worklist (Care gaps → select a member's gaps → "Record outreach done") or
    `POST /api/outreach-records/`. Each page of the list and each record opened is an audited access.
    """

    list_display = ["contacted_on", "member", "contract", "channel", "outcome", "moves_made", "recorded_by"]
    list_filter = [
        filterset_list_filter(OutreachRecordFilter, "contract", choices=visible_contract_choices),
        filterset_list_filter(
            OutreachRecordFilter, "channel", choices=lambda request: OutreachChannel.choices
        ),
        filterset_list_filter(
            OutreachRecordFilter, "outcome", choices=lambda request: OutreachOutcome.choices
        ),
    ]
    list_select_related = ["member", "contract", "recorded_by"]
    fields = [
        "member",
        "contract",
        "channel",
        "outcome",
        "contacted_on",
        "note",
        "recorded_by",
        "recorded_at",
    ]
    readonly_fields = fields
    inlines = [OutreachGapInline]
    actions = None

    def get_queryset(self, request):
        # The list shows each record's moves: one query for the page's gaps and measures.
        moves = OutreachGap.objects.select_related("gap__measure", "gap__member").order_by("gap_id")
        return super().get_queryset(request).prefetch_related(Prefetch("moves", queryset=moves))

    @admin.display(description="gaps moved")
    def moves_made(self, record):
        return "; ".join(
            f"{move.gap.measure.code}: {move.get_state_before_display()} → {move.get_state_after_display()}"
            for move in record.moves.all()
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        if record is not None:
            log_access(record)
        return super().change_view(request, object_id, form_url, extra_context)

"""The care managers' worklist: their contracts' gaps, filters, workflow actions and bulk work."""

from auditlog.models import LogEntry
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt

from gaps import services, workflow
from gaps.exports import (
    ROSTER_MAX_BYTES,
    ROSTER_MAX_ROWS,
    XLSX_MAX_ROWS,
    Roster,
    RosterRefused,
    RosterUploadHandler,
    roster_read,
    roster_too_big,
    vendor_file,
)
from gaps.filters import CareGapFilter
from gaps.jobs import gap_import_start
from gaps.models import CareGap, ComplianceStatus, GapRemark, RemarkCode, WorkflowState
from gaps.priorities import PriorityRun, priority_figure, priority_reason, priority_runs
from gaps.selectors import (
    worklist_assignees,
    worklist_per_contract,
    worklist_values_present,
    worklist_years,
)
from hedis_portal.admin import (
    CappedCountPaginator,
    ContractScopedAdmin,
    JobPage,
    JobPagesAdminMixin,
    ServiceFormAdminMixin,
    action_with_form,
    filterset_list_filter,
    measurement_year_choices,
    visible_contract_choices,
)
from hedis_portal.audit import (
    AccessAuditedChangelistMixin,
    changelist_filters,
    file_facts,
    log_access,
    log_batch,
    log_read,
)
from hedis_portal.errors import ApplicationError
from hedis_portal.formats import count, probability
from hedis_portal.middleware import route_pattern
from members.models import Contract, Member
from members.search import MemberSearchByPostMixin
from members.selectors import MEMBER_SEARCH_HELP, members_matching
from predictions.models import RiskTier
from ratings.models import Measure

MEASURE_NAME_LENGTH = 38


def measure_label(code: str, name: str) -> str:
    """A measure as people name it: its code and a short name, "EED – Eye Exam",
    "FMC – Follow-up after Emergency…" (the part after a family's dash, the code's own
    parentheses dropped, cut at a word with "…" past 38 characters)."""
    short = name.rsplit(" – ", 1)[-1].removesuffix(f" ({code})")
    if len(short) > MEASURE_NAME_LENGTH:
        short = short[: short.rfind(" ", 0, MEASURE_NAME_LENGTH + 1)] + "…"
    return f"{code} – {short}"


# The sidebar offers only values some of the user's gaps have: a query or two per filter, however
# many gaps (index probes: gaps.selectors.worklist_values_present, worklist_years; the measures
# by the contract-and-measure index).
def _gaps_of(request):
    return CareGap.objects.visible_to(request.user).order_by()


def _with_data(choices, request, field):
    """The `choices` ([(value, label)]) that at least one of the user's gaps has in `field`."""
    found = worklist_values_present(request.user, field, [value for value, _ in choices])
    return [(value, label) for value, label in choices if value in found]


def _contract_choices(request):
    """My contracts that have gaps."""
    contracts = Contract.objects.visible_to(request.user).filter(
        Exists(CareGap.objects.filter(contract=OuterRef("pk")))
    )
    return [(code, code) for code in contracts.order_by("contract_id").values_list("contract_id", flat=True)]


def _measure_choices(request):
    """The member-level measures my contracts have gaps in, by code and short name."""
    measures = Measure.objects.filter(member_level=True, pk__in=_gaps_of(request).values("measure_id"))
    rows = measures.order_by("code").values_list("code", "name")
    return [(code, measure_label(code, name)) for code, name in rows]


def _year_choices(request):
    """The measurement years my contracts have gaps in, latest first."""
    return [(str(year), str(year)) for year in worklist_years(request.user)]


def _assignee_choices(request):
    """Me, unassigned and colleagues, each only if some of my contracts' gaps are theirs."""
    assignees = dict(worklist_assignees(request.user).values_list("pk", "username"))
    unassigned = worklist_values_present(request.user, "assignee__isnull", [True])
    return [
        *([("me", "Me")] if request.user.pk in assignees else []),
        *([("unassigned", "Unassigned")] if unassigned else []),
        *[(str(pk), name) for pk, name in assignees.items() if pk != request.user.pk],
    ]


def _outreach_choices(request):
    """ "No outreach yet" and "Outreach done", each only if some of my contracts' gaps are so."""
    found = worklist_values_present(request.user, "last_outreach_at__isnull", [True, False])
    offered = [(True, "true", "No outreach yet"), (False, "false", "Outreach done")]
    return [(value, label) for flag, value, label in offered if flag in found]


class _AppliedWhenGiven:
    """A worklist filter given in the URL filters even when the sidebar offers none of its values:
    `?measure=KED` with no KED gaps lists no gaps, not every gap."""

    def has_output(self):
        return super().has_output() or self.value() is not None


def _gap_filter(name, choices, title=None):
    base = filterset_list_filter(CareGapFilter, name, title=title, choices=choices)
    return type(base.__name__, (_AppliedWhenGiven, base), {})


class WorklistChangeList(ChangeList):
    """Django's changelist, saying what it ignored: a page that does not exist (Django sends
    the user to the unfiltered list) or a sort by a column the list does not have (Django
    drops it quietly). The page shows the filtered list, with a warning."""

    def get_results(self, request):
        asked = request.GET.get(PAGE_VAR)
        try:
            super().get_results(request)
        except IncorrectLookupParameters:  # a page number past the last page, or below 1
            self.page_num = 1
            super().get_results(request)
        if not 1 <= self.page_num <= self.paginator.num_pages:  # one page: shown whatever the number
            self.page_num = 1
        if asked is not None and asked.strip() != str(self.page_num):
            messages.warning(request, f"Ignored the page number: showing page {self.page_num}.")
        sorts = request.GET.get(ORDER_VAR)
        if sorts is not None and not all(map(self._sortable, sorts.split("."))):
            messages.warning(request, "Ignored a sort by a column this list does not have.")

    def get_ordering(self, request, queryset):
        """By priority either way, ties by id the same way: an index walks both, for any filter and
        any number of gaps (Django's tie-break `-pk` after ascending priority walked none: 8.9 s a
        page at 1.32 million gaps)."""
        ordering = super().get_ordering(request, queryset)
        first = ordering[0]
        if first in ("priority_score", "-priority_score"):
            return [first, first.replace("priority_score", "id")]
        return ordering

    def get_queryset(self, request, exclude_parameters=None):
        """The list, sorted by another column than priority only when its filters and search leave
        at most `CappedCountPaginator.CAP` gaps: that sort reads and sorts every one of them (3-9 s
        a page at 1.32 million gaps). A longer list stays by priority, its links carry no sort, and
        a warning (on a page view, not again on an action's post) says to filter it first."""
        queryset = super().get_queryset(request, exclude_parameters)
        if queryset.query.order_by[0] in ("priority_score", "-priority_score"):
            return queryset
        if queryset.order_by()[: CappedCountPaginator.CAP + 1].count() <= CappedCountPaginator.CAP:
            return queryset
        self.params.pop(ORDER_VAR, None)
        self.filter_params.pop(ORDER_VAR, None)
        if request.method == "GET":
            messages.warning(
                request,
                f"Sorted by priority: sorting by another column takes a list of at most "
                f"{count(CappedCountPaginator.CAP)} gaps. Filter or search the list first.",
            )
        return queryset.order_by(*self.model_admin.ordering)

    def _sortable(self, term: str) -> bool:
        columns = {str(index): name for index, name in enumerate(self.list_display)}
        name = columns.get(term.removeprefix("-"))
        return name is not None and self.get_ordering_field(name) is not None


PRIORITY_TITLE = "priority rank"


def _priority_run(gap) -> PriorityRun | None:
    """The run that set `gap`'s priority: the worklist reads every row's at once (`priority_runs`),
    a gap's page its own."""
    if not hasattr(gap, "priority_run"):
        gap.priority_run = priority_runs([(gap.contract_id, gap.measurement_year)]).get(
            (gap.contract_id, gap.measurement_year)
        )
    return gap.priority_run


def _probability_of(gap) -> float | None:
    return None if gap.current_prediction is None else gap.current_prediction.probability


class GapRemarkInline(admin.TabularInline):
    """The gap's remarks: history is read-only, new remarks are added below."""

    model = GapRemark
    extra = 1
    fields = ["code", "note", "author", "created_at"]
    readonly_fields = ["author", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CareGapChangeForm(forms.ModelForm):
    """Only the workflow is edited here; `expected_version` catches a colleague's concurrent edit."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = CareGap
        fields = ["assignee", "workflow_state"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expected_version"].initial = self.instance.version
        # A user who may only view gaps gets both fields read-only, so not in the form.
        if "workflow_state" in self.fields:
            # Where the gap is, and where the workflow lets it go from there (gaps.workflow).
            current = self.instance.workflow_state
            self.fields["workflow_state"].choices = [
                (state, label)
                for state, label in WorkflowState.choices
                if state == current or state in workflow.TRANSITIONS[current]
            ]
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = (
                get_user_model().objects.filter(contracts=self.instance.contract_id).order_by("username")
            )

    def clean_expected_version(self):
        # Checked again under a row lock when saving; this catches the common case early.
        version = self.cleaned_data["expected_version"]
        if version != self.instance.version:
            raise forms.ValidationError("This gap changed since you read it; reload it and try again.")
        return version


class RemarkActionForm(forms.Form):
    code = forms.ChoiceField(choices=RemarkCode.choices)
    note = forms.CharField(max_length=500, required=False, help_text="No names, IDs or clinical details.")


def _move_action(state: str):
    def move(modeladmin, request, queryset):
        changed, skipped = services.gaps_set_workflow_state_bulk(gaps=queryset, workflow_state=state)
        level = messages.WARNING if skipped else messages.SUCCESS
        note = f"; {skipped} skipped (their state or compliance does not allow it)" if skipped else ""
        modeladmin.message_user(request, f"{_gaps(changed)} moved to {state}{note}.", level)

    move.__name__ = f"move_to_{state}"
    move.short_description = f"Move to “{WorkflowState(state).label}”"
    return move


class GapUploadForm(forms.Form):
    """A HEDIS engine gap file for one of the user's contracts and a measurement year."""

    file = forms.FileField(
        help_text="CSV with the columns member_id, measure, compliance_status and the optional ones the "
        "README lists; member IDs are hashed as the file is read."
    )
    contract = forms.ChoiceField()
    measurement_year = forms.IntegerField(min_value=2000, max_value=2100)
    full_snapshot = forms.BooleanField(
        required=False,
        help_text="The file is the complete list: open gaps missing from it leave the denominator.",
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contract"].choices = visible_contract_choices(request)
        self.fields["measurement_year"].initial = measurement_year_choices(request)[0][0]


REIDENTIFY_PERMISSION = "members.reidentify_member"


class RosterForm(forms.Form):
    """The plan's roster to join the selected gaps to, and the file to download."""

    roster = forms.FileField(
        allow_empty_file=True,  # refused by `roster_read`, in words about a roster
        help_text=f"CSV in UTF-8, its first row naming the columns: the plan's member ID and whatever "
        f"contact columns it has (at most {ROSTER_MAX_BYTES // (1024 * 1024)} MB, {ROSTER_MAX_ROWS:,} rows). "
        "A member on several rows keeps the first row's cells.",
    )
    id_column = forms.CharField(
        label="Member ID column",
        required=False,
        max_length=100,
        help_text="Its header in the file; leave blank for a column named member_id or MemberID.",
    )
    file_format = forms.ChoiceField(
        label="Download as",
        choices=[("csv", "CSV"), ("xlsx", "Excel (.xlsx)")],
        initial="csv",
        help_text=f"An Excel file holds at most {XLSX_MAX_ROWS:,} gaps.",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, too_big: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_big = too_big
        self.roster: Roster | None = None
        # A roster past the limit was not kept at all: the error says so, not "required".
        self.fields["roster"].required = not too_big

    def clean(self):
        cleaned_data = super().clean()
        upload = cleaned_data.get("roster")
        try:
            if self.too_big:
                raise roster_too_big()
            if upload is not None:
                self.roster = roster_read(upload.read(), id_column=cleaned_data.get("id_column", ""))
        except RosterRefused as exc:
            self.add_error("roster", exc.message)
        return cleaned_data


class CareGapAdmin(
    MemberSearchByPostMixin,
    JobPagesAdminMixin,
    ServiceFormAdminMixin,
    AccessAuditedChangelistMixin,
    ContractScopedAdmin,
):
    """The worklist. Search with a plan member ID (hashed before the query). Administrators
    upload gap files from it ("Import a gap file"), as through the API: a job imports them.

    Registered by `console.admin` as `WorklistAdmin`, which adds the action that records
    interventions (the interventions app sits above gaps).

    Each page of the list, each export and each gap opened is recorded as an access.
    """

    change_list_template = "admin/gaps/caregap/change_list.html"
    job_pages = (
        JobPage(
            slug="upload",
            label="Import a gap file",
            intro="Every row is checked as the file is uploaded: a bad row refuses the whole file, each one "
            "listed with its line, and nothing is kept. A good file's rows are then written by a job, all or "
            "nothing; its page shows the progress and what changed. Importing the same file again changes "
            "nothing.",
            permissions=("gaps.add_caregap",),
            form="upload_form",
            start="upload_start",
            submit="Upload and import",
        ),
    )

    def upload_form(self, request, data=None, files=None):
        return GapUploadForm(data, files, request=request)

    def upload_start(self, request, form):
        data = form.cleaned_data
        return gap_import_start(
            user=request.user,
            contract=Contract.objects.visible_to(request.user).get(contract_id=data["contract"]),
            upload=data["file"],
            measurement_year=data["measurement_year"],
            full_snapshot=data["full_snapshot"],
        )

    # Short headers, and no column of internal gap IDs (the measure opens the gap): the list fits a
    # 1366 px screen beside the admin's navigation (gaps/static/gaps/worklist.css).
    list_display = [
        "member_pseudonym",
        "measure_code",
        "year",
        "compliance_status",
        "workflow_state",
        "assignee",
        "priority",
        "closure_probability",
        "risk_tier",
        "last_outreach",
    ]
    list_display_links = ["measure_code"]
    # The worklist API's filters, by the API's names (`CareGapFilter`).
    # The sidebar offers only values with data; `member`, `unassigned` and `priority_min` are
    # given in links only (the sidebar shows them while they filter).
    list_filter = [
        _gap_filter("contract", _contract_choices),
        _gap_filter("measure", _measure_choices),
        _gap_filter("measurement_year", _year_choices, title="measurement year"),
        _gap_filter(
            "compliance_status",
            lambda request: _with_data(ComplianceStatus.choices, request, "compliance_status"),
            title="compliance",
        ),
        _gap_filter(
            "workflow_state",
            lambda request: _with_data(WorkflowState.choices, request, "workflow_state"),
            title="workflow",
        ),
        _gap_filter("assignee", _assignee_choices),
        _gap_filter(
            "risk_tier",
            lambda request: _with_data(RiskTier.choices, request, "risk_tier"),
        ),
        _gap_filter("no_outreach", _outreach_choices, title="outreach"),
        _gap_filter("member", lambda request: []),
        _gap_filter("unassigned", lambda request: []),
        _gap_filter("priority_min", lambda request: [], title="priority at least"),
    ]
    list_select_related = ["member", "contract", "measure", "assignee", "current_prediction"]

    class Media:
        css = {"all": ["gaps/worklist.css"]}

    ordering = ["-priority_score", "-id"]
    list_per_page = 50
    # See get_search_results: the box takes a raw member ID (hashed) or a pseudonym's start.
    search_fields = ["member__pseudonym"]
    search_help_text = MEMBER_SEARCH_HELP
    form = CareGapChangeForm
    inlines = [GapRemarkInline]
    readonly_fields = [
        "member",
        "contract",
        "measure",
        "measurement_year",
        "compliance_status",
        "status_reason",
        "exclusion_reason",
        "evidence_date",
        "evidence_source",
        "priority_detail",
        "closure_probability",
        "risk_tier",
        "last_outreach_at",
        "version",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["member", "contract", "measure", "measurement_year"]}),
        (
            "Compliance (from data)",
            {
                "fields": [
                    "compliance_status",
                    "status_reason",
                    "exclusion_reason",
                    "evidence_date",
                    "evidence_source",
                ]
            },
        ),
        ("Workflow", {"fields": ["assignee", "workflow_state", "expected_version", "last_outreach_at"]}),
        ("Priority", {"fields": ["priority_detail", "closure_probability", "risk_tier"]}),
        ("Record", {"fields": ["version", "created_at", "updated_at"]}),
    ]
    actions = [
        "assign_to_me",
        "unassign",
        *[
            _move_action(s)
            for s in ["outreach_attempted", "scheduled", "awaiting_data", "unable_to_reach", "refused"]
        ],
        "add_remark",
        "export_csv",
        "export_xlsx",
        "reidentify_with_roster",
    ]

    @admin.display(description="member", ordering="member__pseudonym")
    def member_pseudonym(self, gap):
        """The member's pseudonym alone (the column says what it is): one line, searchable as typed."""
        return gap.member.pseudonym

    @admin.display(description="measure", ordering="measure__code")
    def measure_code(self, gap):
        """Code and short name; the full name shows on hover."""
        return format_html(
            '<span title="{}">{}</span>', gap.measure.name, measure_label(gap.measure.code, gap.measure.name)
        )

    @admin.display(description="year", ordering="measurement_year")
    def year(self, gap):
        return gap.measurement_year

    @admin.display(description="last outreach", ordering="last_outreach_at")
    def last_outreach(self, gap):
        """The day of the last outreach ("Mar 1, 2026"), in the portal's time zone."""
        return gap.last_outreach_at and date_format(localtime(gap.last_outreach_at), "M j, Y")

    def get_changelist(self, request, **kwargs):
        return WorklistChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        """Pages read as the worklist API reads them (`worklist_per_contract`): for a user of several
        contracts, one ordered index walk per contract, where one query sorted every gap of them all
        (1.0 s a page at 1.32 million gaps); counted on the list's own query."""
        pages = worklist_per_contract(queryset, request.user, contract_code=request.GET.get("contract"))
        return self.paginator(pages, per_page, orphans, allow_empty_first_page, counted=queryset)

    def lookup_allowed(self, lookup, value, request=None):
        """Only the worklist's filters: any other parameter is a 400 naming it, never a raw database
        lookup (`?member=99999999999999999999` overflowed SQLite's driver, a 500)."""
        return lookup in {list_filter.parameter_name for list_filter in self.list_filter}

    def changelist_view(self, request, extra_context=None):
        """The list, above it when each contract year's priorities were set, by which optimizer run,
        and whether gap or predictions files imported since have made them stale."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            gaps = list(changelist.result_list)
            runs = priority_runs({(gap.contract_id, gap.measurement_year) for gap in gaps})
            for gap in gaps:
                gap.priority_run = runs.get((gap.contract_id, gap.measurement_year))
            shown = {(gap.contract.contract_id, gap.measurement_year): gap.priority_run for gap in gaps}
            response.context_data["priority_runs"] = [
                {"contract": contract, "year": year, "run": run}
                for (contract, year), run in sorted(shown.items())
            ]
        return response

    @admin.display(description=PRIORITY_TITLE, ordering="-priority_score")
    def priority(self, gap):
        """The rank, with the priority in its unit and why on hover; "—" before any optimizer run."""
        if gap.priority_rank is None:
            return None
        why = priority_reason(_priority_run(gap), gap.measure.code, _probability_of(gap))
        return format_html(
            '<span title="{}">{}</span>',
            " — ".join(filter(None, [priority_figure(gap.priority_score), why])),
            gap.priority_rank,
        )

    @admin.display(description="priority")
    def priority_detail(self, gap):
        """The change page's priority: rank, figure, why and the run that set it."""
        if gap.priority_rank is None:
            return "Not ranked yet: the next optimizer run of this contract and year ranks it."
        run = _priority_run(gap)
        parts = [f"Rank {gap.priority_rank} of 100", priority_figure(gap.priority_score)]
        parts.append(priority_reason(run, gap.measure.code, _probability_of(gap)))
        return " · ".join(filter(None, parts)) + (f" (set by {run.label})" if run else "")

    @admin.display(description="P(close)")
    def closure_probability(self, gap):
        return None if gap.current_prediction is None else probability(gap.current_prediction.probability)

    def has_add_permission(self, request):
        return False  # gaps come from the HEDIS engine's file (import_gaps), never by hand

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        return members_matching(queryset, search_term, path="member__"), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        gap = self.get_object(request, object_id)
        if gap is not None:
            log_access(gap)
        return super().change_view(request, object_id, form_url, extra_context)

    def construct_change_message(self, request, form, formsets, add=False):
        """The history names each move: "Changed Workflow state from New to Scheduled"."""
        message = super().construct_change_message(request, form, formsets, add)
        for part in message:
            if "changed" in part:
                part["changed"]["fields"] = [_move(form, name) for name in form.changed_data]
        return message

    def save_model(self, request, obj, form, change):
        # A refusal rolls both calls back and is shown on the form (`ServiceFormAdminMixin`).
        version = form.cleaned_data["expected_version"]
        if "assignee" in form.changed_data:
            obj = services.gap_assign(
                gap=obj, assignee=form.cleaned_data["assignee"], expected_version=version
            )
            version = obj.version
        if "workflow_state" in form.changed_data:
            services.gap_set_workflow_state(
                gap=obj, workflow_state=form.cleaned_data["workflow_state"], expected_version=version
            )

    def save_formset(self, request, form, formset, change):
        # Remarks go through the service (author, validation); the admin's change message
        # reads what a formset save would have set.
        formset.new_objects = [
            services.gap_add_remark(
                gap=form.instance,
                code=remark_form.cleaned_data["code"],
                note=remark_form.cleaned_data["note"],
                author=request.user,
            )
            for remark_form in formset.forms
            if remark_form.has_changed() and not remark_form.instance.pk
        ]
        formset.changed_objects = []
        formset.deleted_objects = []

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        try:
            changed = services.gaps_assign_bulk(gaps=queryset, assignee=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"{_gaps(changed)} assigned to you.")

    @admin.action(description="Unassign", permissions=["change"])
    def unassign(self, request, queryset):
        changed = services.gaps_assign_bulk(gaps=queryset, assignee=None)
        self.message_user(request, f"{_gaps(changed)} unassigned.")

    @admin.action(description="Add a remark", permissions=["change"])
    def add_remark(self, request, queryset):
        def apply(gaps, data):
            created = services.gaps_add_remark_bulk(gaps=gaps, author=request.user, **data)
            return f"Remark added to {created} gaps."

        return action_with_form(
            self,
            request,
            queryset,
            form_class=RemarkActionForm,
            title="Add a remark",
            description=f"Add the same remark to {queryset.count()} gaps. A remark never closes a gap.",
            apply=apply,
        )

    @admin.action(description="Export selected for a vendor (CSV)", permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected gaps as the vendor file (`gaps.exports`); "Select all" exports the whole
        filtered worklist."""
        return self._vendor_export(request, queryset, excel=False)

    @admin.action(description="Export selected for a vendor (Excel .xlsx)", permissions=["view"])
    def export_xlsx(self, request, queryset):
        return self._vendor_export(request, queryset, excel=True)

    def _vendor_export(self, request, queryset, *, excel: bool):
        try:
            return self._vendor_download(request, queryset, excel=excel)
        except ApplicationError as exc:  # too many rows for an Excel file
            self.message_user(request, exc.message, messages.ERROR)
            return None

    def has_reidentify_permission(self, request):
        return request.user.has_perm(REIDENTIFY_PERMISSION)

    @admin.action(description="Re-identify selected with a plan roster…", permissions=["reidentify"])
    def reidentify_with_roster(self, request, queryset):
        """Ask for the plan's roster, then download the selected gaps joined to it.

        The form posts to `reidentify_view`, which keeps the upload in memory; a post that came
        any other way only shows the form again.
        """
        handler = next((h for h in request.upload_handlers if isinstance(h, RosterUploadHandler)), None)
        posted = "apply" in request.POST and handler is not None
        form = RosterForm(request.POST, request.FILES, too_big=handler.too_big) if posted else RosterForm()
        if posted and form.is_valid():
            try:
                return self._vendor_download(
                    request, queryset, excel=form.cleaned_data["file_format"] == "xlsx", roster=form.roster
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
        gaps = queryset.count()
        return TemplateResponse(
            request,
            "admin/gaps/caregap/reidentify.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Re-identify for outreach",
                "gaps": _gaps(gaps),
                "whole_list": request.POST.get("select_across") == "1",
                "form": form,
                "post_url": f"{reverse('admin:gaps_caregap_reidentify')}?{request.GET.urlencode()}",
                "changelist_url": f"{reverse('admin:gaps_caregap_changelist')}?{request.GET.urlencode()}",
                "action": request.POST["action"],
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
            },
        )

    def get_urls(self):
        reidentify = self.admin_site.admin_view(csrf_exempt(self.reidentify_view))
        return [path("reidentify/", reidentify, name="gaps_caregap_reidentify"), *super().get_urls()]

    def reidentify_view(self, request):
        """The roster form's post: the worklist's action, with the upload kept in memory.

        Django reads an upload larger than FILE_UPLOAD_MAX_MEMORY_SIZE into a temporary file, and
        chooses where when the body is first read (the CSRF middleware reads it): so this view is
        exempt from that middleware, sets `RosterUploadHandler` first, and the changelist it
        hands the request to checks the CSRF token itself (`csrf_protect_m`).
        """
        if request.method != "POST" or not self.has_reidentify_permission(request):
            raise PermissionDenied
        request.upload_handlers = [RosterUploadHandler(request)]
        return self.changelist_view(request)

    def _vendor_download(self, request, queryset, *, excel: bool, roster: Roster | None = None):
        """The vendor file of `queryset`, recorded as one audit entry.

        The file is built whole before it is sent, so the counts are exact. The entry records the
        changelist's filters and how the rows were chosen (ticked, or "select all"), never the
        search box's term (a raw member ID); joined to a roster, also the roster's SHA-256, size
        and rows, never its content or name.
        """
        export = vendor_file(queryset, excel=excel, roster=roster)
        filters = changelist_filters(request.GET)
        filters["selection"] = "all" if request.POST.get("select_across") == "1" else "ticked"
        view = route_pattern(request.resolver_match)
        if roster is None:
            log_read(model=CareGap, kind="export", view=view, filters=filters, rows=export.rows)
        else:
            log_batch(
                model=Member,
                action=LogEntry.Action.ACCESS,
                count=export.rows,
                summary=f"{_gaps(export.rows)} re-identified with a plan roster "
                f"({count(export.matched)} found in it)",
                details={
                    "kind": "roster_reidentification",
                    "view": view,
                    "filters": filters,
                    "gaps_found_in_roster": export.matched,
                    "roster": file_facts(
                        sha256=roster.sha256, size_bytes=roster.size_bytes, rows=roster.rows
                    ),
                },
            )
        response = HttpResponse(export.content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response


def _gaps(count: int) -> str:
    """The count of gaps in the admin's messages: "1 gap", "3 gaps"."""
    return ngettext("%(count)d gap", "%(count)d gaps", count) % {"count": count}


def _move(form, name: str) -> str:
    """A changed field of the gap form as "Label from before to after"."""
    field, before, after = form.fields[name], form.initial.get(name), form.cleaned_data[name]
    if name == "assignee":
        before = get_user_model().objects.filter(pk=before).first() if before else None
        before, after = (user.get_username() if user else "nobody" for user in (before, after))
    else:
        labels = dict(field.choices)
        before, after = labels.get(before, before), labels[after]
    return f"{field.label} from {before} to {after}"

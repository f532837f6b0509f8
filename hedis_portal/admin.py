"""Admin building blocks shared by every app, plus the audit log, API request log and jobs pages."""

import json
from collections.abc import Callable
from dataclasses import dataclass

import django_filters
from auditlog.admin import LogEntryAdmin as AuditlogLogEntryAdmin
from auditlog.filters import ResourceTypeFilter
from auditlog.models import LogEntry
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from hedis_portal import formats
from hedis_portal.backends import get_contract_model
from hedis_portal.errors import ApplicationError
from hedis_portal.filters import FilterSet, IntegerFilter
from hedis_portal.import_errors import ImportRejected
from hedis_portal.job_registry import job_kinds, job_label
from hedis_portal.jobs import job_cancel, jobs_reap_stale, jobs_visible_to
from hedis_portal.jobs_api import JobFilter
from hedis_portal.models import ApiRequestLog, Job
from hedis_portal.users import (
    roles_assignable_by,
    user_assert_manageable,
    user_assign_contracts,
    users_manageable_by,
)


class FilterSetListFilter(admin.SimpleListFilter):
    """An admin list filter that runs one filter of a FilterSet: the API's parameter, read the API's way.

    The value goes through the FilterSet's form, so a malformed one (`?assignee=someone`) is
    ignored with a warning naming the filter, and the page still shows, unfiltered by it.
    Made by `filterset_list_filter`.
    """

    filterset_class: type[FilterSet]
    offered = None  # (request) -> [(value, label)]: what the sidebar offers

    def lookups(self, request, model_admin):
        return self.offered(request)

    def has_output(self):
        # A filter that offers nothing (a correlation ID is typed, not chosen) still filters by a
        # value in the URL: the changelist applies only the filters that have output.
        return super().has_output() or self.value() is not None

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        data = QueryDict(mutable=True)
        data[self.parameter_name] = value
        filterset = self.filterset_class(data, queryset=queryset, request=request)
        if not filterset.is_valid():
            reason = " ".join(filterset.errors.get(self.parameter_name, ["Not a valid value."]))
            messages.warning(request, f"Ignored filter {self.parameter_name}: {reason}")
            return queryset
        query_filter = filterset.filters[self.parameter_name]
        return query_filter.filter(queryset, filterset.form.cleaned_data.get(self.parameter_name))


def filterset_list_filter(filterset_class, name, *, title=None, choices):
    """The admin list filter for `filterset_class`'s filter `name` (same parameter name as the API).

    `choices(request)` gives the values the sidebar offers, e.g. the user's contracts.
    """
    return type(
        f"{filterset_class.__name__}_{name}",
        (FilterSetListFilter,),
        {
            "filterset_class": filterset_class,
            "parameter_name": name,
            "title": title or name.replace("_", " "),
            "offered": staticmethod(choices),
        },
    )


def visible_contract_choices(request):
    return [(c.contract_id, c.contract_id) for c in get_contract_model().objects.visible_to(request.user)]


def measurement_year_choices(request):
    """The current measurement year and the three before it: from the calendar, not `SELECT DISTINCT`."""
    this_year = timezone.localdate().year
    return [(str(year), str(year)) for year in range(this_year, this_year - 4, -1)]


JOB_ERRORS_SHOWN = 100  # of an import's refused rows, on its upload or job page


@dataclass(frozen=True)
class JobPage:
    """A page beside a changelist whose form starts a job (an upload to import, a run to make).

    `form` and `start` name methods of the admin: `form(request, data=None, files=None)` builds
    the form, `start(request, form)` starts the job and returns it. `intro` says what happens, in
    a sentence or two (or makes that text when the page is shown, e.g. to quote a setting);
    `permissions` are all needed to see and use the page.
    """

    slug: str
    label: str
    intro: str | Callable[[], str]
    permissions: tuple[str, ...]
    form: str
    start: str
    submit: str = "Start"


class JobPagesAdminMixin:
    """Pages beside a changelist (`job_pages`, linked from it) whose forms start jobs; a valid post
    goes to the job's page to watch it.

    An upload refused before its job starts (`ImportRejected`) is shown on the page with its
    rows, as a job's page shows them; another refusal (a busy contract, a file too large, a
    `ValidationError`) as the form's error.
    """

    change_list_template = "admin/job_pages_change_list.html"
    job_pages: tuple[JobPage, ...] = ()

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        pages = [
            path(
                f"{page.slug}/",
                self.admin_site.admin_view(self._job_page_view(page)),
                name=f"{info}_{page.slug}",
            )
            for page in self.job_pages
        ]
        return [*pages, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        info = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        links = [
            (reverse(f"{info}_{page.slug}"), page.label)
            for page in self.job_pages
            if request.user.has_perms(page.permissions)
        ]
        return super().changelist_view(request, {"job_page_links": links, **(extra_context or {})})

    def _job_page_view(self, page: JobPage):
        def view(request):
            return self.job_page_view(request, page)

        return view

    def job_page_view(self, request, page: JobPage):
        """The form; on a valid post, start the job and go to its page."""
        if not request.user.has_perms(page.permissions):
            raise PermissionDenied
        build = getattr(self, page.form)
        posted = request.method == "POST"
        form = build(request, request.POST, request.FILES) if posted else build(request)
        rejected = None
        if posted and form.is_valid():
            try:
                job = getattr(self, page.start)(request, form)
            except ImportRejected as refused:
                rejected = refused
            except ApplicationError as refused:
                form.add_error(None, refused.message)
            except ValidationError as refused:
                form.add_error(None, refused)
            else:
                self.message_user(request, f"{page.label}: the job has started; its progress is below")
                return redirect("admin:hedis_portal_job_change", job.pk)
        return TemplateResponse(
            request,
            "admin/job_page.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": page.label,
                "intro": page.intro() if callable(page.intro) else page.intro,
                "submit": page.submit,
                "form": form,
                "rejected": rejected,
                "rejected_rows": rejected.extra["errors"][:JOB_ERRORS_SHOWN] if rejected else [],
            },
        )


class CappedCountPaginator(Paginator):
    """Counts at most `CAP` + 1 rows: pages stay fast on tables of millions of rows.

    Django's admin counts the filtered rows for its pager; on a million-gap table that
    count is the slowest part of the page. Past the cap the pager shows the first pages only.
    """

    CAP = 10_000

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, counted=None):
        """`counted` is the queryset counted when the pages are read from another form of it
        (`object_list`: the worklist's contract-by-contract reading); by default `object_list`."""
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.counted = object_list if counted is None else counted

    @cached_property
    def count(self) -> int:
        # Without the ORDER BY, PostgreSQL stops after CAP + 1 rows instead of sorting them all.
        return self.counted.order_by()[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        """More rows match than were counted: the pager says "more than CAP", never CAP + 1."""
        return self.count > self.CAP


class ReadOnlyAdminMixin:
    """Viewable, never added, changed or deleted from its admin page (written elsewhere or not at all)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceFormAdminMixin:
    """For admins whose add or change form saves through services: a refused save keeps nothing.

    Django runs a form's whole save (`save_model`, `save_related`, the formsets) inside one
    transaction in `changeform_view`. Services raise `ApplicationError` out of that save, so
    every write it made rolls back; the form is then shown again as posted, with the service's
    message as its only error, and no "changed successfully" message is sent.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as error:
            if request.method != "POST":
                raise
            request.admin_service_error = error  # read by `get_form` on the second pass
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        error = getattr(request, "admin_service_error", None)
        if error is None:
            return form

        class RefusedForm(form):
            # Invalid on purpose: the admin renders it with the error and saves nothing.
            def clean(self):
                super().clean()
                raise forms.ValidationError(error.message, code="refused")

        RefusedForm.__name__ = form.__name__
        return RefusedForm


class ContractScopedAdmin(admin.ModelAdmin):
    """A model admin that shows and offers only the user's contracts' rows.

    Uses the model's `visible_to` (the same call the API uses), so out-of-scope rows are
    absent from lists and their change pages answer 404. Large tables skip the full COUNT and
    the sidebar's counts.
    """

    show_full_result_count = False
    paginator = CappedCountPaginator
    # No "Show counts": Django counts every sidebar value over the whole list for it, and at plan
    # scale a worklist page with counts did not answer within five minutes.
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is get_contract_model():
            kwargs["queryset"] = get_contract_model().objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Who is assigned to a contract is changed on the user's page, where the rules on whom
        # one may manage apply (hedis_portal/users.py); only superusers change it here.
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += [
                field.name
                for field in self.model._meta.many_to_many
                if field.related_model is get_user_model() and field.name not in readonly
            ]
        return readonly


class _ContainedFilteredSelectMultiple(FilteredSelectMultiple):
    """The two-box selector inside its own element, as the admin wraps model relations.

    SelectFilter2.js puts its boxes before the select inside the select's parent; without a
    wrapper that parent is the row itself, and the boxes land before the field's label.
    """

    def render(self, name, value, attrs=None, renderer=None):
        return format_html("<div>{}</div>", super().render(name, value, attrs, renderer))


class PortalUserChangeForm(UserChangeForm):
    """Django's user form plus the user's contracts (`Contract.users`, seen from the user)."""

    contracts = forms.ModelMultipleChoiceField(
        queryset=get_contract_model().objects.none(),
        required=False,
        widget=_ContainedFilteredSelectMultiple("contracts", is_stacked=False),
        help_text="The contracts whose data this user may see and work.",
    )
    # Set per request by `PortalUserAdmin.get_form`: the user making the change.
    actor = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contracts"].queryset = get_contract_model().objects.visible_to(self.actor)
        if self.instance.pk:
            self.initial["contracts"] = list(get_contract_model().objects.filter(users=self.instance))


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class PortalUserAdmin(UserAdmin):
    """Users, their roles and contracts: nobody grants what they do not hold.

    Superusers manage everyone and everything. An administrator sees only the users they may
    manage (`users_manageable_by`: others answer 404), may give only the roles whose permissions
    they hold and their own contracts, and never sees superuser status or raw permissions; each
    save is checked again against the rule before it is kept.
    """

    form = PortalUserChangeForm
    list_display = ["username", "first_name", "last_name", "is_active", "is_staff", "is_superuser"]
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = ["groups", "user_permissions"]

    def get_queryset(self, request):
        return users_manageable_by(request.user)

    def get_object(self, request, object_id, from_field=None):
        # A user one may not manage is absent: 404 on every page of it, not a redirect that
        # tells it was "perhaps deleted".
        user = super().get_object(request, object_id, from_field)
        if user is None:
            raise Http404("No such user.")
        return user

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        access = ["is_active", "is_staff", "groups", "contracts"]
        if request.user.is_superuser:
            access = ["is_active", "is_staff", "is_superuser", "groups", "user_permissions", "contracts"]
        return [
            (None, {"fields": ["username", "password"]}),
            ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
            ("Roles and contracts", {"fields": access}),
            ("Important dates", {"fields": ["last_login", "date_joined"]}),
        ]

    def get_list_filter(self, request):
        if request.user.is_superuser:
            return ["is_active", "is_staff", "is_superuser", "groups"]
        return ["is_active", "is_staff"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if issubclass(form, PortalUserChangeForm):
            form = type(form.__name__, (form,), {"actor": request.user})
        return form

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = roles_assignable_by(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "contracts" in form.cleaned_data:
            user_assign_contracts(
                actor=request.user, user=form.instance, contracts=form.cleaned_data["contracts"]
            )
        if not request.user.is_superuser:
            user_assert_manageable(actor=request.user, user=form.instance)


admin.site.unregister(LogEntry)


class AuditLogFilter(FilterSet):
    """auditlog's resource type (a content type id) and correlation ID, read strictly."""

    resource_type = IntegerFilter(field_name="content_type_id")
    cid = django_filters.CharFilter(field_name="cid")


def _resource_types(request):
    return ResourceTypeFilter.lookups(None, request, admin.site._registry[LogEntry])


@admin.register(LogEntry)
class AuditLogEntryAdmin(AuditlogLogEntryAdmin):
    """Audit entries: readable by administrators, never editable or deletable from any page."""

    list_filter = [
        "action",
        filterset_list_filter(
            AuditLogFilter, "resource_type", title="resource type", choices=_resource_types
        ),
        filterset_list_filter(AuditLogFilter, "cid", title="correlation ID", choices=lambda request: []),
    ]

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
class ApiRequestLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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


def form_changes(form: forms.ModelForm) -> tuple[models.Model, dict]:
    """The row a change form edits, as stored, and the model fields the user changed on it.

    By `save_model` the form has already written its values onto its instance, so an update
    service (which saves only what differs, `hedis_portal.services.model_update`) is handed the
    stored row and the changes to apply. Many-to-many fields are left out: `save_related`
    writes them.
    """
    instance = form.instance
    stored = type(instance)._default_manager.get(pk=instance.pk)
    concrete = {field.name for field in instance._meta.concrete_fields}
    return stored, {name: form.cleaned_data[name] for name in form.changed_data if name in concrete}


def _parameter(name: str, value) -> str:
    """A job parameter as people read it: a budget in dollars, counts with separators, yes or no,
    a time limit in seconds, a mapping as "key: value" pairs."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    if name == "budget":
        return formats.money(value)
    if name == "time_limit":
        return f"{formats.decimal(value, 0)} s"
    if isinstance(value, int) and not name.endswith("year"):
        return formats.count(value)
    if isinstance(value, float):
        return formats.decimal(value, 2)
    if isinstance(value, dict):
        return "; ".join(f"{key.replace('_', ' ')}: {_parameter(key, item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_parameter(name, item) for item in value)
    return str(value)


def _job_kind_choices(request):
    """The kinds of job the user's role may see, by label."""
    kinds = [
        (name, kind.label)
        for name, kind in job_kinds().items()
        if request.user.has_perm(kind.view_permission)
    ]
    return sorted(kinds, key=lambda choice: choice[1])


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Background jobs of your contracts, of the kinds your role may see: progress, result, cancel.

    A running job's page reloads itself every few seconds (no script) until the job ends.
    """

    list_display = ["created_at", "kind_label", "contract", "status", "progress_and_stage", "created_by"]
    list_filter = [
        filterset_list_filter(JobFilter, "kind", choices=_job_kind_choices),
        filterset_list_filter(JobFilter, "status", choices=lambda request: Job.Status.choices),
        filterset_list_filter(JobFilter, "contract", choices=visible_contract_choices),
    ]
    list_select_related = ["contract", "created_by"]
    fields = [
        "kind_label",
        "status",
        "progress_bar",
        "stage",
        "contract",
        "parameters_table",
        "result_links",
        "error_message",
        "cancel_requested",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    actions = ["cancel_jobs"]
    change_form_template = "admin/hedis_portal/job/change_form.html"

    def get_queryset(self, request):
        jobs_reap_stale()
        return jobs_visible_to(request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_cancel_permission(self, request):
        return any(request.user.has_perm(kind.start_permission) for kind in job_kinds().values())

    @admin.display(description="kind", ordering="kind")
    def kind_label(self, job):
        return job_label(job.kind)

    @admin.display(description="progress")
    def progress_bar(self, job):
        return format_html(
            '<progress value="{}" max="100">{}%</progress> {}%',
            round(job.progress * 100),
            round(job.progress * 100),
            round(job.progress * 100),
        )

    @admin.display(description="progress")
    def progress_and_stage(self, job):
        return format_html("{}<br>{}", self.progress_bar(job), job.stage)

    @admin.display(description="parameters")
    def parameters_table(self, job):
        """What the job was started with, one row per parameter in words (the JSON is below, collapsed)."""
        if not job.parameters:
            return "—"
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            (
                (name.replace("_", " ").capitalize(), _parameter(name, value))
                for name, value in job.parameters.items()
            ),
        )
        return format_html('<table class="job-parameters"><tbody>{}</tbody></table>', rows)

    @admin.display(description="result")
    def result_links(self, job):
        """What the job made: a link to its admin page (or its API URL) and the figures it returned."""
        url = job.result.get("admin_url") or job.result.get("url", "")
        figures = format_html_join(
            "",
            "<div>{}: {}</div>",
            (
                (key.replace("_", " "), f"{value:,}" if type(value) is int else value)
                for key, value in job.result.items()
                if key not in ("url", "admin_url")
            ),
        )
        link = format_html('<div><a href="{}">Open what it made</a></div>', url) if url else ""
        return format_html("{}{}", link, figures) if url or figures else "—"

    @admin.display(description="error")
    def error_message(self, job):
        """The message, and an import's refused rows as the commands print them (the first 100)."""
        rows = job.error.get("extra", {}).get("errors", [])[:JOB_ERRORS_SHOWN]
        listed = format_html_join(
            "",
            "<div>{}line {}, {}: {}</div>",
            (
                (f"{row['file']}, " if row.get("file") else "", row["line"], row["field"], row["message"])
                for row in rows
            ),
        )
        message = job.error.get("message", "")
        return format_html("<div>{}</div>{}", message, listed) if rows else message or "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra = {}
        if job is not None:
            active = job.status in Job.ACTIVE
            extra = {
                "raw_documents": [("parameters", json.dumps(job.parameters, indent=2))],
                "subtitle": str(job),
                "job_active": active,
                "can_cancel_job": active and self._may_cancel(request, job) and not job.cancel_requested,
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_urls(self):
        cancel = path(
            "<path:object_id>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="hedis_portal_job_cancel",
        )
        return [cancel, *super().get_urls()]

    def cancel_view(self, request, object_id):
        """The job page's cancel button (a POST): cancel the job, then back to its page."""
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404
        if request.method != "POST" or not self._may_cancel(request, job):
            raise PermissionDenied
        try:
            job_cancel(job=job)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.WARNING)
        else:
            self.message_user(request, "Cancel requested: the job stops at its next progress point.")
        return redirect("admin:hedis_portal_job_change", job.pk)

    @staticmethod
    def _may_cancel(request, job) -> bool:
        kind = job_kinds().get(job.kind)
        return kind is not None and request.user.has_perm(kind.start_permission)

    @admin.action(description="Cancel the selected jobs", permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            if not request.user.has_perm(job_kinds()[job.kind].start_permission):
                self.message_user(
                    request,
                    f"{job}: your role may not cancel this kind of job.",
                    messages.ERROR,
                )
                continue
            try:
                job_cancel(job=job)
            except ApplicationError as exc:
                self.message_user(request, f"{self.kind_label(job)}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{self.kind_label(job)}: cancel requested.")

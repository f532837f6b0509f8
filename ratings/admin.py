"""Admin pages: the catalog and CMS's national benchmark (read-only), the plan's rating inputs
(contract-level scores, rating profiles; written through the services) and snapshots (read-only)."""

import json
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import F
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from hedis_portal.admin import (
    ContractScopedAdmin,
    JobPage,
    JobPagesAdminMixin,
    ReadOnlyAdminMixin,
    ServiceFormAdminMixin,
    filterset_list_filter,
    form_changes,
    measurement_year_choices,
    visible_contract_choices,
)
from hedis_portal.audit import log_access
from hedis_portal.errors import ApplicationError
from hedis_portal.jobs import job_start
from members.models import Contract
from ratings.api.fields import MAX_YEAR, MIN_YEAR
from ratings.filters import (
    CmsContractFilter,
    CmsMeasureValueFilter,
    ContractMeasureScoreFilter,
    ContractRatingProfileFilter,
    CutPointFilter,
    MeasureFilter,
    PortfolioRunFilter,
    PortfolioSnapshotFilter,
)
from ratings.jobs import cms_import_start, forecast_start, optimize_start
from ratings.live import services
from ratings.models import (
    CmsContract,
    CmsDataImport,
    CmsMeasureValue,
    ContractMeasureScore,
    ContractRatingProfile,
    CutPoint,
    Direction,
    Measure,
    PortfolioRun,
    PortfolioSnapshot,
    StarYearMeasure,
)


def _field_at(model, path: str):
    """The model field a `values()` path ends at (`edition__measure__part` → `Measure.part`)."""
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name)


def _api_filters(filterset_class, model, names):
    """The list API's filters `names`, by the API's names; the sidebar offers the values the user can see."""

    def values_of(name):
        path = filterset_class.base_filters[name].field_name
        field = _field_at(model, path)

        def offered(request):
            if name == "contract":
                return visible_contract_choices(request)
            if field.choices:
                return field.choices
            if isinstance(field, models.BooleanField):
                return [("true", "Yes"), ("false", "No")]
            rows = (
                model.objects.visible_to(request.user)
                if hasattr(model.objects, "visible_to")
                else model.objects
            )
            values = rows.order_by(path).values_list(path, flat=True).distinct()
            return [(str(value), str(value)) for value in values if value not in (None, "")]

        return offered

    return [filterset_list_filter(filterset_class, name, choices=values_of(name)) for name in names]


class StarYearMeasureInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A measure's editions per star year."""

    model = StarYearMeasure
    fields = ["star_year", "cms_id", "name", "weight", "display_precision", "improvement", "source"]
    readonly_fields = fields
    extra = 0


@admin.register(Measure)
class MeasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The measure catalog (synchronised from the shipped methodology after every migrate)."""

    list_display = ["code", "part", "name", "data_source", "direction", "member_level"]
    list_filter = _api_filters(MeasureFilter, Measure, ["part", "member_level", "direction", "data_source"])
    search_fields = ["code", "name"]
    inlines = [StarYearMeasureInline]


@admin.register(StarYearMeasure)
class StarYearMeasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Measure editions: each star year's ID, weight and display precision."""

    list_display = ["star_year", "cms_id", "name", "measure", "weight", "display_precision", "source"]
    list_filter = ["star_year", "source", "measure__part"]
    list_select_related = ["measure"]
    search_fields = ["cms_id", "name", "measure__code"]


class MultipleFileInput(forms.FileInput):
    """A file input that takes several files at once."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several uploaded files, each checked as a `FileField` checks one; cleaned to a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".csv,text/csv"}))
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        clean_one = super().clean
        return [clean_one(upload, initial) for upload in (data if isinstance(data, list | tuple) else [data])]


class CmsImportForm(forms.Form):
    """A star year and its CMS data tables, for the import job."""

    star_year = forms.IntegerField(min_value=MIN_YEAR, max_value=MAX_YEAR)
    files = MultipleFileField(
        label="CMS data tables",
        help_text="The year's CSV tables as CMS publishes them: cut points, measure data, measure stars, "
        "summary ratings, CAI. Each is recognised by its content.",
    )


@admin.register(CmsDataImport)
class CmsDataImportAdmin(JobPagesAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Which CMS files each star year's benchmark was imported from, when and by whom; and an
    "Import CMS data tables" page that uploads a year's tables as a job."""

    list_display = ["star_year", "imported_at", "imported_by", "contract_count", "measure_value_count"]
    list_select_related = ["imported_by"]
    job_pages = (
        JobPage(
            slug="upload",
            label="Import CMS data tables",
            intro=lambda: (
                "The import runs as a job: you go to its page, which shows its progress and, once it has "
                "finished, what was stored or what was wrong (file, line and column). Re-importing a star "
                "year replaces its national benchmark; a refused set of files changes nothing. At most "
                f"{filesizeformat(settings.CMS_IMPORT_MAX_BYTES)} of files at once."
            ),
            permissions=("ratings.add_cmsdataimport",),
            form="upload_form",
            start="upload_start",
            submit="Upload and import",
        ),
    )

    def upload_form(self, request, data=None, files=None):
        return CmsImportForm(data, files)

    def upload_start(self, request, form):
        job, _ = cms_import_start(
            user=request.user,
            star_year=form.cleaned_data["star_year"],
            uploads=form.cleaned_data["files"],
            source="admin upload",
        )
        return job


@admin.register(CutPoint)
class CutPointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cut points per star year, measure and organization type."""

    list_display = [
        "edition",
        "org_type",
        "direction",
        "two_stars",
        "three_stars",
        "four_stars",
        "five_stars",
    ]
    list_filter = _api_filters(CutPointFilter, CutPoint, ["star_year", "org_type", "direction", "part"])
    list_select_related = ["edition"]
    search_fields = ["edition__cms_id", "edition__name", "edition__measure__code"]

    @staticmethod
    def _threshold(cut: CutPoint, level: str) -> str:
        """A threshold as a person reads it: "≥ 58" (or "> 58", "≤ 12", "< 12"), without padding."""
        higher = cut.direction == Direction.HIGHER
        inclusive = getattr(cut, f"{level}_inclusive")
        sign = ("≥" if inclusive else ">") if higher else ("≤" if inclusive else "<")
        return f"{sign} {format(getattr(cut, level).normalize(), 'f')}"

    @admin.display(description="2 stars", ordering="two_star")
    def two_stars(self, cut):
        return self._threshold(cut, "two_star")

    @admin.display(description="3 stars", ordering="three_star")
    def three_stars(self, cut):
        return self._threshold(cut, "three_star")

    @admin.display(description="4 stars", ordering="four_star")
    def four_stars(self, cut):
        return self._threshold(cut, "four_star")

    @admin.display(description="5 stars", ordering="five_star")
    def five_stars(self, cut):
        return self._threshold(cut, "five_star")


class CmsMeasureValueInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The contract's published score and star on every measure."""

    model = CmsMeasureValue
    fields = ["edition", "score", "score_status", "star", "star_status"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        # The edition's name is shown on every row: one join instead of a query per row.
        return super().get_queryset(request).select_related("edition")


@admin.register(CmsContract)
class CmsContractAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every contract CMS rated in an imported star year, with its published ratings."""

    list_display = [
        "contract_id",
        "star_year",
        "organization_type",
        "marketing_name",
        "snp",
        "part_c_summary",
        "part_d_summary",
        "overall",
        "overall_status",
    ]
    list_filter = _api_filters(CmsContractFilter, CmsContract, ["star_year", "organization_type", "snp"])
    search_fields = ["=contract_id", "contract_name", "marketing_name", "parent_organization"]
    show_full_result_count = False
    inlines = [CmsMeasureValueInline]


@admin.register(CmsMeasureValue)
class CmsMeasureValueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The national benchmark: every contract's score and star per measure."""

    list_display = ["contract", "edition", "score", "score_status", "star", "star_status"]
    list_filter = _api_filters(CmsMeasureValueFilter, CmsMeasureValue, ["star_year", "star", "part"])
    list_select_related = ["contract", "edition"]
    search_fields = ["=contract__contract_id", "=edition__cms_id"]
    show_full_result_count = False


@admin.register(ContractRatingProfile)
class ContractRatingProfileAdmin(ServiceFormAdminMixin, ContractScopedAdmin):
    """How each of your contracts is rated per star year (contract type, CAI categories)."""

    list_display = ["contract", "star_year", "contract_type", "part_c_fac", "part_d_fac", "overall_fac"]
    list_filter = [
        *_api_filters(ContractRatingProfileFilter, ContractRatingProfile, ["contract", "star_year"]),
        "contract_type",
    ]
    list_select_related = ["contract"]
    fields = [
        "contract",
        "star_year",
        "contract_type",
        "part_c_fac",
        "part_d_fac",
        "overall_fac",
        "puerto_rico_only",
        "updated_by",
        "updated_at",
    ]
    readonly_fields = ["updated_by", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        # The contract and star year are the row's key, set when it is added (as in the API).
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "contract", "star_year"] if obj else readonly

    def save_model(self, request, obj, form, change):
        if change:
            stored, changes = form_changes(form)
            services.contract_rating_profile_update(profile=stored, updated_by=request.user, **changes)
        else:
            services.contract_rating_profile_create(
                contract=obj.contract,
                star_year=obj.star_year,
                updated_by=request.user,
                contract_type=obj.contract_type,
                part_c_fac=obj.part_c_fac,
                part_d_fac=obj.part_d_fac,
                overall_fac=obj.overall_fac,
                puerto_rico_only=obj.puerto_rico_only,
            )


@admin.register(ContractMeasureScore)
class ContractMeasureScoreAdmin(ServiceFormAdminMixin, ContractScopedAdmin):
    """Contract-level scores for the measures not computed from gaps (CAHPS, complaints, …)."""

    list_display = ["contract", "star_year", "measure", "score", "status", "entered_by", "entered_at"]
    list_filter = [
        *_api_filters(ContractMeasureScoreFilter, ContractMeasureScore, ["contract", "star_year"]),
        "measure__part",
    ]
    list_select_related = ["contract", "measure", "entered_by"]
    fields = ["contract", "star_year", "measure", "score", "status", "note", "entered_by", "entered_at"]
    readonly_fields = ["entered_by", "entered_at"]

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "measure":
            kwargs["queryset"] = Measure.objects.filter(member_level=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # The contract, star year and measure are the row's key, set when it is added (as in the API).
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "contract", "star_year", "measure"] if obj else readonly

    def save_model(self, request, obj, form, change):
        if change:
            stored, changes = form_changes(form)
            services.contract_measure_score_update(entry=stored, entered_by=request.user, **changes)
        else:
            services.contract_measure_score_create(
                contract=obj.contract,
                star_year=obj.star_year,
                measure=obj.measure,
                score=obj.score,
                status=obj.status,
                note=obj.note,
                entered_by=request.user,
            )


@admin.register(PortfolioSnapshot)
class PortfolioSnapshotAdmin(ReadOnlyAdminMixin, ContractScopedAdmin):
    """Portfolio snapshots of your contracts: read-only records, newest first."""

    list_display = ["contract", "measurement_year", "star_year", "taken_at", "taken_by", "overall_rating"]
    list_filter = _api_filters(PortfolioSnapshotFilter, PortfolioSnapshot, ["contract", "measurement_year"])
    list_select_related = ["contract", "taken_by"]
    date_hierarchy = "taken_at"
    fields = ["contract", "measurement_year", "star_year", "taken_at", "taken_by", "document"]
    readonly_fields = fields

    def get_queryset(self, request):
        # The list shows only the overall rating: read out of the JSON by SQL, so a page of
        # snapshots never loads their whole documents (the view page loads one).
        return (
            super()
            .get_queryset(request)
            .defer("data")
            .annotate(
                overall_value=F("data__overall__rating"),
                overall_status=F("data__overall__status"),
            )
        )

    @admin.display(description="overall")
    def overall_rating(self, snapshot):
        return snapshot.overall_value or snapshot.overall_status or "—"

    @admin.display(description="snapshot")
    def document(self, snapshot):
        return format_html("<pre>{}</pre>", json.dumps(snapshot.data, indent=2))


class _PlanningForm(forms.Form):
    """What every planning run takes: one of the user's contracts, a measurement year, its draws."""

    contract = forms.ChoiceField()
    measurement_year = forms.IntegerField(min_value=2000, max_value=2100)
    draws = forms.IntegerField(
        min_value=100,
        max_value=200_000,
        initial=10_000,
        help_text="Monte Carlo draws of the year-end rating.",
    )
    seed = forms.IntegerField(min_value=0, initial=0, help_text="The same seed gives the same draws.")

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contract"].choices = visible_contract_choices(request)
        self.fields["measurement_year"].initial = measurement_year_choices(request)[0][0]


class ForecastForm(_PlanningForm):
    """A year-end forecast of one contract."""


class OptimizerForm(_PlanningForm):
    """An optimizer run: a budget and the objective to maximize."""

    budget = forms.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), help_text="Dollars."
    )
    objective = forms.ChoiceField(
        choices=[
            ("expected_overall", "the expected overall rating"),
            ("p_at_least_4", "the probability of 4 stars or more"),
        ]
    )
    time_limit = forms.FloatField(
        min_value=1, max_value=600, initial=60, help_text="Seconds the solver may take for each target."
    )
    field_order = ["contract", "measurement_year", "budget", "objective", "draws", "seed", "time_limit"]


@admin.register(PortfolioRun)
class PortfolioRunAdmin(JobPagesAdminMixin, ReadOnlyAdminMixin, ContractScopedAdmin):
    """Forecasts, what-if scenarios and optimizer runs: read-only; an optimizer plan can be proposed.
    A forecast or an optimizer run is started from the list's pages, as a job."""

    job_pages = (
        JobPage(
            slug="forecast",
            label="Forecast the year-end rating",
            intro="A Monte Carlo forecast of the contract's year-end Star Rating from its open gaps and "
            "their closure predictions. It runs as a job: its page shows the draws as they go and links the "
            "stored forecast. One planning job (forecast, what-if or optimizer run) per contract at a time.",
            permissions=("ratings.add_portfoliorun",),
            form="forecast_form",
            start="forecast_start",
        ),
        JobPage(
            slug="optimize",
            label="Run the optimizer",
            intro="Which gaps to work, with which interventions, to move the rating most within the budget. "
            "It runs as a job: its page shows each stage and solve, then links the stored plan, which the "
            "list's action turns into proposed interventions. The worklist is re-scored from the plan.",
            permissions=("ratings.add_portfoliorun",),
            form="optimizer_form",
            start="optimizer_start",
        ),
    )

    def forecast_form(self, request, data=None, files=None):
        return ForecastForm(data, request=request)

    def forecast_start(self, request, form):
        data = dict(form.cleaned_data)
        return forecast_start(
            user=request.user, contract=self._contract(request, data.pop("contract")), **data
        )

    def optimizer_form(self, request, data=None, files=None):
        return OptimizerForm(data, request=request)

    def optimizer_start(self, request, form):
        data = dict(form.cleaned_data)
        return optimize_start(
            user=request.user, contract=self._contract(request, data.pop("contract")), **data
        )

    @staticmethod
    def _contract(request, contract_id: str) -> Contract:
        return Contract.objects.visible_to(request.user).get(contract_id=contract_id)

    list_display = [
        "created_at",
        "kind",
        "name",
        "contract",
        "measurement_year",
        "solver_status",
        "optimality_gap",
        "duration_ms",
        "created_by",
        "proposed_at",
    ]
    list_filter = _api_filters(PortfolioRunFilter, PortfolioRun, ["contract", "kind", "measurement_year"])
    list_select_related = ["contract", "created_by"]
    date_hierarchy = "created_at"
    fields = [
        "kind",
        "name",
        "contract",
        "measurement_year",
        "created_at",
        "created_by",
        "duration_ms",
        "solver_status",
        "optimality_gap",
        "proposed_at",
        "parameters_document",
        "inputs_document",
        "result_document",
    ]
    readonly_fields = fields
    actions = ["propose_interventions"]

    def get_queryset(self, request):
        # A page of runs never loads their results: the view page loads one.
        return super().get_queryset(request).defer("inputs", "result")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A run's inputs and plan name members: opening one is an access entry.
        run = self.get_object(request, object_id)
        if run is not None:
            log_access(run)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="parameters")
    def parameters_document(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.parameters, indent=2))

    @admin.display(description="what the run saw")
    def inputs_document(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.inputs, indent=2))

    @admin.display(description="result")
    def result_document(self, run):
        return format_html("<pre>{}</pre>", json.dumps(run.result, indent=2))

    def has_propose_permission(self, request):
        return request.user.has_perms(["ratings.add_portfoliorun", "interventions.add_intervention"])

    @admin.action(description="Propose the plan's interventions (for approval)", permissions=["propose"])
    def propose_interventions(self, request, queryset):
        """Start a job per selected optimizer run; with one started, go to its progress page."""
        started = []
        for run in queryset.filter(kind=PortfolioRun.Kind.OPTIMIZE).select_related("contract"):
            try:
                job, _ = job_start(
                    kind="propose",
                    user=request.user,
                    contract=run.contract,
                    parameters={"portfolio_run": run.pk},
                )
            except ApplicationError as exc:
                self.message_user(request, f"Run #{run.pk}: {exc.message}", messages.ERROR)
            else:
                started.append(job)
                self.message_user(request, f"Run #{run.pk}: proposing its interventions (a job).")
        if len(started) == 1:
            return redirect("admin:hedis_portal_job_change", started[0].pk)
        return None

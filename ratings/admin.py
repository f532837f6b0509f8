"""Admin pages: the catalog and CMS's national benchmark (read-only), the plan's rating inputs
(contract-level scores, rating profiles; written through the services) and snapshots (read-only)."""

import json
from collections import defaultdict
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import F
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
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
from hedis_portal.formats import (
    count,
    decimal,
    money,
    percent,
    probability,
    significant,
    stars,
    stars_change,
)
from hedis_portal.jobs import job_start
from interventions.models import InterventionType
from members.models import Contract
from ratings.api.fields import MAX_YEAR, MIN_YEAR
from ratings.benchmark import history
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
    CutPointProjection,
    Direction,
    Measure,
    PortfolioRun,
    PortfolioSnapshot,
    StarYearMeasure,
)
from ratings.planning.cut_points import cut_point_field, projected_rows


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


def plain(value) -> str:
    """A stored decimal without padding, through `formats.decimal`: 58.000000 → "58", 0.010000 → "0.01"."""
    if value is None or value == "":
        return decimal(None)
    places = max(0, -Decimal(str(value)).normalize().as_tuple().exponent)
    return decimal(value, places)


OBJECTIVES = {
    "expected_overall": "the expected overall rating",
    "p_at_least_4": "the probability of 4 stars or more",
}
PATHS = {
    "with_improvement": "with the improvement measures",
    "without_improvement": "without the improvement measures (the higher of the two)",
}


def _extra_closures(measure: dict) -> str:
    """The closures the plan adds in expectation (as the console's run page): after minus before."""
    after, before = measure.get("expected_closures_after"), measure.get("expected_closures_before")
    return decimal(after - before, 1) if after is not None and before is not None else "—"


def _measure_label(cms_id: str, codes: dict) -> str:
    """A measure as "C01 BCS" when the run recorded its code."""
    code = codes.get(cms_id)
    return f"{cms_id} {code}" if code else cms_id


def _assumption(values: dict) -> str:
    """A what-if's assumption for one measure in words: "40 extra closures", "a rate of 90.0%"."""
    words = {
        "extra_closures": lambda v: f"{count(v)} extra closures",
        "target_rate": lambda v: f"a rate of {percent(v)}",
        "star": lambda v: f"a star of {stars(int(v))}",
        "score": lambda v: f"a score of {plain(v)}",
    }
    return ", ".join(words[name](value) for name, value in values.items() if name in words)


def _optimality_gap(gap, objective: str) -> str:
    """How far the plan may be from the best, in the objective's unit (stars or probability)."""
    if gap is None:
        return "—"
    if objective == "p_at_least_4":
        return "under 0.1 percentage points" if gap < 0.001 else f"{decimal(gap * 100, 1)} percentage points"
    return "under 0.001 ★" if gap < 0.001 else stars(gap, 3)


def _distribution(before: dict, after: dict | None = None) -> dict:
    """The overall rating's probabilities (before and, for a plan, after it) as a table."""
    columns = (
        [("Probability", before)]
        if after is None
        else [("Without the plan", before), ("With the plan", after)]
    )
    levels = sorted({level for _, probabilities in columns for level in probabilities}, key=float)
    caption = "Probability of each overall rating at year end"
    return {
        "caption": caption if after is None else f"{caption}, without and with the plan",
        "headers": ["Overall rating", *(name for name, _ in columns)],
        "rows": [
            [stars(float(level)), *(probability(probabilities.get(level, 0)) for _, probabilities in columns)]
            for level in levels
        ],
    }


def _objective(name: str | None) -> str:
    """What a plan maximizes, in words: "Maximize the expected overall rating"."""
    return f"Maximize {OBJECTIVES.get(name, name)}"


def _before_after(write, before, after) -> str:
    """A figure before and after a plan, each written by `write`: "3.45 ★ → 3.98 ★"."""
    return f"{write(before)} → {write(after)}"


def _stars_2(value) -> str:
    """An expected rating, to two decimals: "3.98 ★"."""
    return stars(value, 2)


def run_sections(run: PortfolioRun, type_names: dict[str, str]) -> list[dict]:
    """A run's parameters, headline figures, measures, plan and inputs as sections people read.

    `type_names` names the intervention types an optimizer plan uses, by id.
    """
    parameters, inputs, result = run.parameters, run.inputs, run.result
    codes = {cms_id: row.get("code") for cms_id, row in inputs.get("measures", {}).items()}
    settings_rows = [
        ("Budget", money(parameters["budget"])) if "budget" in parameters else None,
        ("Objective", _objective(parameters["objective"])) if "objective" in parameters else None,
        ("Monte Carlo draws", count(parameters.get("draws"))),
        ("Seed", count(parameters.get("seed"))),
        ("Solver time limit", f"{decimal(parameters['time_limit'], 0)} s per target")
        if "time_limit" in parameters
        else None,
        *(
            (f"Assumed for {_measure_label(cms_id, codes)}", _assumption(values))
            for cms_id, values in parameters.get("assumptions", {}).items()
        ),
    ]
    sections = [{"title": "Parameters", "figures": [row for row in settings_rows if row]}]
    if run.kind == PortfolioRun.Kind.OPTIMIZE:
        sections += _plan_sections(result, codes, type_names)
    else:
        sections += _forecast_sections(result, codes)
    sections.append(_inputs_section(inputs, codes))
    return sections


def _forecast_sections(result: dict, codes: dict) -> list[dict]:
    """A forecast's or a what-if's expected rating, its distribution and each measure's outlook."""
    headline = {
        "title": "Year-end forecast",
        "figures": [
            ("Rating today", stars(result.get("current_rating"))),
            ("Expected overall rating", stars(result.get("expected_overall"), 2)),
            ("P(4 stars or more)", probability(result.get("p_overall_at_least_4"))),
        ],
        "table": _distribution(result.get("overall_probabilities", {})),
    }
    measures = {
        "title": "Member-level measures",
        "table": {
            "headers": [
                "Measure",
                "Rate today",
                "Star today",
                "Closures to the next star",
                "Expected year-end rate",
                "Expected star",
            ],
            "rows": [
                [
                    _measure_label(m["cms_id"], codes),
                    percent(m.get("current_rate")),
                    stars(m.get("current_star")),
                    count(m.get("closures_to_next_star")),
                    percent(m.get("expected_rate")),
                    stars(m.get("expected_star"), 2),
                ]
                for m in result.get("measures", [])
            ],
        },
    }
    return [headline, measures]


def _plan_sections(result: dict, codes: dict, type_names: dict[str, str]) -> list[dict]:
    """An optimizer plan: before and after, what it buys per intervention type and measure, the solver."""
    budget, cost = result.get("budget"), result.get("total_cost")
    planned = result.get("interventions", [])
    headline = {
        "title": "What the plan buys",
        "figures": [
            (
                "Expected overall rating",
                _before_after(
                    _stars_2, result.get("expected_overall_before"), result.get("expected_overall_after")
                ),
            ),
            (
                "P(4 stars or more)",
                _before_after(
                    probability,
                    result.get("p_overall_at_least_4_before"),
                    result.get("p_overall_at_least_4_after"),
                ),
            ),
            ("Budget", money(budget)),
            ("Planned cost", money(cost)),
            ("Left unspent", money(budget - cost) if budget is not None and cost is not None else "—"),
            ("Interventions planned", count(len(planned))),
            ("Target rating", stars(result.get("target_rating"))),
            ("Solver status", result.get("solver_status") or "—"),
            (
                "Optimality gap",
                _optimality_gap(result.get("optimality_gap"), result.get("objective_used", "")),
            ),
        ],
        "table": _distribution(
            result.get("overall_probabilities_before", {}), result.get("overall_probabilities_after", {})
        ),
        "notes": [note for note in [*result.get("notes", []), result.get("solver_message")] if note],
    }
    by_type = defaultdict(lambda: {"members": 0, "gaps": 0, "cost": 0.0, "closures": 0.0})
    for intervention in planned:
        row = by_type[intervention["intervention"]]
        row["members"] += 1
        row["gaps"] += len(intervention["gaps"])
        row["cost"] += intervention["cost"]
        row["closures"] += sum(gap["uplift"] for gap in intervention["gaps"])
    plan = {
        "title": "The plan by intervention type",
        "table": {
            "headers": ["Intervention", "Members", "Gaps", "Cost", "Expected extra closures"],
            "rows": [
                [
                    type_names.get(type_id, f"Type {type_id}"),
                    count(row["members"]),
                    count(row["gaps"]),
                    money(round(row["cost"], 2)),
                    decimal(row["closures"], 1),
                ]
                for type_id, row in sorted(by_type.items(), key=lambda item: -item[1]["cost"])
            ],
        },
    }
    measures = {
        "title": "Member-level measures, without and with the plan",
        "table": {
            "headers": [
                "Measure",
                "Star today",
                "Expected extra closures",
                "Expected star without the plan",
                "Expected star with the plan",
                "Target star",
            ],
            "rows": [
                [
                    _measure_label(m["cms_id"], codes),
                    stars(m.get("current_star")),
                    _extra_closures(m),
                    stars(m.get("expected_star_before"), 2),
                    stars(m.get("expected_star_after"), 2),
                    stars(m.get("target_star")),
                ]
                for m in result.get("measures", [])
            ],
        },
    }
    return [headline, plan, measures]


def _inputs_section(inputs: dict, codes: dict) -> dict:
    """What the run saw: open gaps per measure, the contract-level stars, the notes."""
    contract_level = inputs.get("contract_level_measures", {})
    return {
        "title": "What the run saw",
        "figures": [
            ("Star year", inputs.get("star_year", "—")),
            ("Cut points of star year", inputs.get("cut_point_star_year", "—")),
            ("Cut points used", inputs.get("cut_points", {}).get("note", "—")),
            ("Open gaps", count(inputs.get("open_gaps"))),
            ("Open gaps without a prediction", count(inputs.get("gaps_without_prediction"))),
            (
                "Contract-level measures",
                " · ".join(f"{cms_id} {stars(star)}" for cms_id, star in contract_level.items()) or "—",
            ),
        ],
        "table": {
            "caption": "Open gaps per member-level measure",
            "headers": ["Measure", "Open gaps", "Eligible members"],
            "rows": [
                [_measure_label(cms_id, codes), count(row.get("open")), count(row.get("eligible"))]
                for cms_id, row in inputs.get("measures", {}).items()
            ],
        },
        "notes": inputs.get("notes", []),
    }


def _published(rating, status: str | None) -> str:
    """A rating ("3.5 ★"), or its status when there is none."""
    return stars(rating) if rating is not None else status or "—"


def _rating_text(rating: dict | None) -> str:
    """A snapshot's summary or overall rating: "4.0 ★", or CMS's status when there is none."""
    return _published(rating.get("rating"), rating.get("status")) if rating else "—"


def snapshot_sections(data: dict) -> list[dict]:
    """A snapshot's ratings, measures, projection and plan as sections people read."""
    parts = [("Overall", data.get("overall")), ("Part C", data.get("part_c")), ("Part D", data.get("part_d"))]
    ratings_table = []
    for name, rating in parts:
        if not rating:
            continue
        used = rating.get(rating.get("path") or "") or {}
        ratings_table.append(
            [
                name,
                _rating_text(rating),
                count(rating.get("rated_measures")),
                PATHS.get(rating.get("path"), rating.get("path") or "—"),
                decimal(used.get("weighted_mean"), 2),
                decimal(used.get("reward_factor"), 1),
                decimal(used.get("cai"), 2),
                decimal(used.get("value_before_rounding"), 2),
            ]
        )
    sections = [
        {
            "title": "Ratings",
            "figures": [(name, _rating_text(rating)) for name, rating in parts],
            "table": {
                "headers": [
                    "Rating",
                    "Stars",
                    "Measures rated",
                    "Computed",
                    "Weighted mean",
                    "Reward factor",
                    "CAI",
                    "Before rounding",
                ],
                "rows": ratings_table,
            },
            "notes": data.get("notes", []),
        },
        {
            "title": "Measures",
            "table": {
                "headers": [
                    "Measure",
                    "Weight",
                    "Rate or score",
                    "Star",
                    "Next star at",
                    "Members to the next star",
                    "Open gaps",
                    "Denominator",
                ],
                "rows": [_snapshot_measure_row(m) for m in data.get("measures", [])],
            },
        },
    ]
    projection, plan = data.get("projection"), data.get("plan")
    if projection:
        sections.append(
            {
                "title": "Year-end projection (the latest forecast)",
                "figures": [
                    ("Expected overall rating", stars(projection.get("expected_overall"), 2)),
                    ("P(4 stars or more)", probability(projection.get("p_overall_at_least_4"))),
                    ("Forecast", _run_when(projection)),
                ],
                "table": _distribution(projection.get("overall_probabilities", {})),
            }
        )
    if plan:
        sections.append(
            {
                "title": "The latest optimizer plan",
                "figures": [
                    ("Budget", money(plan.get("budget"))),
                    ("Objective", _objective(plan.get("objective"))),
                    ("Planned cost", money(plan.get("total_cost"))),
                    ("Interventions planned", count(plan.get("interventions"))),
                    ("Expected overall rating with the plan", stars(plan.get("expected_overall_after"), 2)),
                    ("P(4 stars or more) with the plan", probability(plan.get("p_overall_at_least_4_after"))),
                    ("Plan", _run_when(plan)),
                ],
            }
        )
    return sections


def _snapshot_measure_row(measure: dict) -> list[str]:
    """One measure of a snapshot: its rate (member-level, in %) or score, star and distance to the next."""
    if measure.get("member_level") and measure.get("rate") is not None:
        value = percent(measure["rate"])
    else:
        value = (
            significant(measure["score"])
            if measure.get("score") is not None
            else measure.get("status") or "—"
        )
    next_star = (
        f"{stars(measure['next_star'])} at {plain(measure['next_cut_point'])}"
        if measure.get("next_star") and measure.get("next_cut_point") is not None
        else "—"
    )
    return [
        history.label_text(measure.get("cms_id"), measure.get("measure"), measure.get("name")),
        plain(measure.get("weight")),
        value,
        stars(measure.get("star")),
        next_star,
        count(measure.get("members_to_next_cut_point")),
        count(measure.get("open")),
        count(measure.get("denominator")),
    ]


def _run_when(reference: dict) -> str:
    """Which stored run a snapshot quotes, and when it ran: "run #12 of 2026-11-30 14:05"."""
    ran = parse_datetime(reference.get("created_at") or "")
    return f"run #{reference.get('run')} of {ran:%Y-%m-%d %H:%M}" if ran else f"run #{reference.get('run')}"


def raw_documents(**documents) -> list[tuple[str, str]]:
    """Stored JSON documents, indented, for the collapsed "as saved" toggle."""
    return [(name, json.dumps(document, indent=2)) for name, document in documents.items()]


class StarYearMeasureInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A measure's editions per star year."""

    model = StarYearMeasure
    fields = ["star_year", "cms_id", "name", "measure_weight", "display_precision", "improvement", "source"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="weight")
    def measure_weight(self, edition):
        return plain(edition.weight)


@admin.register(Measure)
class MeasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The measure catalog (synchronised from the shipped methodology after every migrate)."""

    list_display = ["code", "part", "name", "data_source", "direction", "member_level"]
    list_filter = _api_filters(MeasureFilter, Measure, ["part", "member_level", "direction", "data_source"])
    search_fields = ["code", "name"]
    inlines = [StarYearMeasureInline]
    change_form_template = "admin/ratings/year_over_year_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        measure = self.get_object(request, object_id)
        extra = {}
        if measure is not None:
            found = history.cut_point_history([measure.pk])
            extra["readable_sections"] = cut_point_history_sections(found[0] if found else None)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(StarYearMeasure)
class StarYearMeasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Measure editions: each star year's ID, weight and display precision."""

    list_display = ["star_year", "cms_id", "name", "measure", "measure_weight", "display_precision", "source"]
    list_filter = ["star_year", "source", "measure__part"]
    list_select_related = ["measure"]
    search_fields = ["cms_id", "name", "measure__code"]
    fields = [
        "measure",
        "star_year",
        "cms_id",
        "name",
        "measure_weight",
        "display_precision",
        "improvement",
        "source",
    ]
    readonly_fields = fields

    @admin.display(description="weight", ordering="weight")
    def measure_weight(self, edition):
        return plain(edition.weight)


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

    list_display = ["star_year", "imported_at", "imported_by", "contracts", "measure_values"]
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

    @admin.display(description="contracts", ordering="contract_count")
    def contracts(self, data_import):
        return count(data_import.contract_count)

    @admin.display(description="measure values", ordering="measure_value_count")
    def measure_values(self, data_import):
        return count(data_import.measure_value_count)

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
    fields = ["edition", "org_type", "direction", "two_stars", "three_stars", "four_stars", "five_stars"]
    readonly_fields = fields
    change_form_template = "admin/ratings/year_over_year_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        cut = self.get_object(request, object_id)
        extra = {}
        if cut is not None:
            found = history.cut_point_history([cut.edition.measure_id])
            extra["readable_sections"] = cut_point_history_sections(found[0] if found else None)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @staticmethod
    def _threshold(cut: CutPoint, level: str) -> str:
        """A threshold as a person reads it: "≥ 58" (or "> 58", "≤ 12", "< 12"), without padding."""
        higher = cut.direction == Direction.HIGHER
        inclusive = getattr(cut, f"{level}_inclusive")
        sign = ("≥" if inclusive else ">") if higher else ("≤" if inclusive else "<")
        return f"{sign} {plain(getattr(cut, level))}"

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


def _score(value: CmsMeasureValue) -> str:
    """A published score to its measure's display precision that year: 0.010000 → "0.01", 87.000000 → "87"."""
    if value.score is None:
        return "—"
    return decimal(value.score, value.edition.display_precision)


def _figure(value: Decimal | None, places: int | None, percentage: bool) -> str:
    """A CMS score or threshold for people: "76%" for a percentage measure, "0.32" otherwise; to
    `places` decimals (the measure's precision that year), as written when the precision is unknown."""
    if value is None:
        return "—"
    if places is None:
        return plain(value) + ("%" if percentage else "")
    return percent(value, places) if percentage else decimal(value, places)


def _year_cell(value: history.MeasureYear | None, percentage: bool) -> str:
    """A contract's measure in one year: "C06: 54% · 4 ★", or CMS's words ("C04: Not enough data
    available" once when score and star share them); "—" when it has no cell that year."""
    if value is None:
        return "—"
    score = (
        _figure(value.score, value.display_precision, percentage)
        if value.score is not None
        else value.score_status or "—"
    )
    star = stars(value.star) if value.star is not None else value.star_status or "—"
    return f"{value.cms_id}: {score}" if score == star else f"{value.cms_id}: {score} · {star}"


def contract_history_sections(contract_history: history.ContractHistory) -> list[dict]:
    """A CMS contract's ratings and measures in every imported star year, as two readable tables."""
    years = contract_history.star_years
    published = {ratings.star_year: ratings for ratings in contract_history.ratings}
    ratings_rows = [
        [
            label,
            *(
                _published(getattr(published[year], name), getattr(published[year], f"{name}_status"))
                if year in published
                else "not in that year's tables"
                for year in years
            ),
        ]
        for label, name in (
            ("Part C summary", "part_c_summary"),
            ("Part D summary", "part_d_summary"),
            ("Overall", "overall"),
        )
    ]
    latest, previous = (years[-1], years[-2]) if len(years) > 1 else (None, None)
    measure_rows = []
    for measure in contract_history.measures:
        row = [history.measure_label(measure.measure)]
        row += [_year_cell(measure.years.get(year), measure.percentage) for year in years]
        if latest is not None:
            change = measure.star_change(latest, previous)
            row.append(stars_change(change, 0) if change is not None else "—")
        measure_rows.append(row)
    change_header = [f"Stars {previous} → {latest}"] if latest is not None else []
    return [
        {
            "title": f"Year over year: {contract_history.contract_id}'s published ratings",
            "table": {"headers": ["Rating", *map(str, years)], "rows": ratings_rows},
        },
        {
            "title": f"Year over year: {contract_history.contract_id}'s measures",
            "table": {"headers": ["Measure", *map(str, years), *change_header], "rows": measure_rows},
            "notes": [
                "Each row is one measure across the star years, whatever its ID (shown before each "
                'score); a status is CMS\'s reason for no score or star. "—": no cell that year.'
            ],
        },
    ]


def cut_point_history_sections(measure_history: history.MeasureCutPointHistory | None) -> list[dict]:
    """A measure's cut points in every imported star year, with the 4-star threshold's change."""
    if measure_history is None:
        return [
            {"title": "Cut points by star year", "notes": ["No cut points are imported for this measure."]}
        ]
    percentage = measure_history.percentage
    rows = [
        [
            str(year.star_year),
            year.cms_id,
            CutPoint.OrgType(org_type).label,
            *(history.threshold_text(year, level, percentage) for level in range(2, 6)),
            history.four_star_change_text(year, percentage),
        ]
        for org_type, series in measure_history.by_org_type.items()
        for year in series
    ]
    return [
        {
            "title": f"Cut points by star year: {history.measure_label(measure_history.measure)}",
            "table": {
                "headers": ["Star year", "Measure ID", "Contracts", "2 ★", "3 ★", "4 ★", "5 ★", "4 ★ change"],
                "rows": rows,
            },
            "notes": [
                "The 4-star change is from the previous imported star year for the same contracts; "
                "harder means a score needs to be "
                + ("higher" if measure_history.measure.direction == Direction.HIGHER else "lower")
                + " than before to earn 4 stars."
            ],
        }
    ]


class CmsMeasureValueInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The contract's published score and star on every measure."""

    model = CmsMeasureValue
    fields = ["edition", "measure_score", "score_status", "measure_star", "star_status"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        # The edition's name is shown on every row: one join instead of a query per row.
        return super().get_queryset(request).select_related("edition")

    @admin.display(description="score")
    def measure_score(self, value):
        return _score(value)

    @admin.display(description="star")
    def measure_star(self, value):
        return stars(value.star)


def _projection_sections(projection: CutPointProjection) -> list[dict]:
    """A projection's page: a table of thresholds for MA-PD contracts (Part C and D) and one for PDPs."""
    caption = (
        f"Each threshold: the star year {projection.base_star_year} cut point → the projected "
        f"{projection.target_star_year} median (10th–90th percentile of the draws)."
    )
    sections = []
    for org_type, title in (("MA-PD", "Part C, and Part D for MA-PD contracts"), ("PDP", "Part D for PDPs")):
        rows = [
            row
            for row in projected_rows(projection, org_type)
            if row["org_type"] == org_type or org_type == "MA-PD"
        ]
        sections.append(
            {
                "title": title,
                "table": {
                    "caption": caption,
                    "headers": ["Measure", "2 ★", "3 ★", "4 ★", "5 ★", "Note"],
                    "rows": [
                        [_projected_label(row), *map(_projected_cell, row["cells"]), row["note"]]
                        for row in rows
                    ],
                },
            }
        )
    sections[0]["notes"] = projection.data["notes"]
    return sections


def _projected_label(row: dict) -> str:
    org = f" ({row['org_type']})" if row["org_type"] else ""
    return f"{row['measure']}{org} {row['name']}"


def _projected_cell(cell: dict) -> str:
    if not cell["interval"]:
        return cell["published"]
    return f"{cell['published']} → {cell['median']} ({cell['interval']})"


@admin.register(CutPointProjection)
class CutPointProjectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each star year's kept cut point projection: where it starts, when it was made, and every
    measure's projected thresholds beside the base year's (made on the console's Cut points page or
    by `manage.py project_cut_points --save`)."""

    list_display = ["target_star_year", "base_star_year", "trend", "draws", "computed_at", "computed_by"]
    list_select_related = ["computed_by"]
    fields = [
        "target_star_year",
        "base_star_year",
        "trend_star_year",
        "draws",
        "seed",
        "computed_at",
        "computed_by",
    ]
    readonly_fields = fields
    change_form_template = "admin/ratings/cutpointprojection/change_form.html"

    def get_queryset(self, request):
        # The list never needs the draws.
        queryset = super().get_queryset(request)
        return queryset.defer("data") if request.resolver_match.url_name.endswith("changelist") else queryset

    @admin.display(description="trend")
    def trend(self, projection):
        if projection.trend_star_year is None:
            return "none (the year before is not imported)"
        return f"{projection.trend_star_year} → {projection.base_star_year}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        projection = self.get_object(request, object_id)
        extra = {}
        if projection is not None:
            extra["readable_sections"] = _projection_sections(projection)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(CmsContract)
class CmsContractAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every contract CMS rated in an imported star year, with its published ratings."""

    list_display = [
        "contract_id",
        "star_year",
        "organization_type",
        "marketing_name",
        "snp",
        "part_c",
        "part_d",
        "overall_rating",
    ]
    list_filter = _api_filters(CmsContractFilter, CmsContract, ["star_year", "organization_type", "snp"])
    search_fields = ["=contract_id", "contract_name", "marketing_name", "parent_organization"]
    show_full_result_count = False
    inlines = [CmsMeasureValueInline]
    change_form_template = "admin/ratings/year_over_year_change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contract = self.get_object(request, object_id)
        extra = {}
        contract_history = (
            history.cms_contract_history(contract.contract_id) if contract is not None else None
        )
        if contract_history is not None:
            extra["readable_sections"] = contract_history_sections(contract_history)
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description="Part C", ordering="part_c_summary")
    def part_c(self, contract):
        return _published(contract.part_c_summary, contract.part_c_summary_status)

    @admin.display(description="Part D", ordering="part_d_summary")
    def part_d(self, contract):
        return _published(contract.part_d_summary, contract.part_d_summary_status)

    @admin.display(description="overall", ordering="overall")
    def overall_rating(self, contract):
        return _published(contract.overall, contract.overall_status)


@admin.register(CmsMeasureValue)
class CmsMeasureValueAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The national benchmark: every contract's score and star per measure."""

    list_display = ["contract", "edition", "measure_score", "score_status", "measure_star", "star_status"]
    list_filter = _api_filters(CmsMeasureValueFilter, CmsMeasureValue, ["star_year", "star", "part"])
    list_select_related = ["contract", "edition"]
    search_fields = ["=contract__contract_id", "=edition__cms_id"]
    show_full_result_count = False
    fields = ["contract", "edition", "measure_score", "score_status", "measure_star", "star_status"]
    readonly_fields = fields

    @admin.display(description="score", ordering="score")
    def measure_score(self, value):
        return _score(value)

    @admin.display(description="star", ordering="star")
    def measure_star(self, value):
        return stars(value.star)


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

    list_display = ["contract", "star_year", "measure", "measure_score", "status", "entered_by", "entered_at"]
    list_filter = [
        *_api_filters(ContractMeasureScoreFilter, ContractMeasureScore, ["contract", "star_year"]),
        "measure__part",
    ]
    list_select_related = ["contract", "measure", "entered_by"]
    fields = ["contract", "star_year", "measure", "score", "status", "note", "entered_by", "entered_at"]
    readonly_fields = ["entered_by", "entered_at"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="score", ordering="score")
    def measure_score(self, entry):
        return plain(entry.score)

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
    """Portfolio snapshots of your contracts: read-only records, newest first; each one's page shows
    its ratings, measures, projection and plan in sections, its JSON collapsed."""

    list_display = ["contract", "measurement_year", "star_year", "taken_at", "taken_by", "overall_rating"]
    list_filter = _api_filters(PortfolioSnapshotFilter, PortfolioSnapshot, ["contract", "measurement_year"])
    list_select_related = ["contract", "taken_by"]
    date_hierarchy = "taken_at"
    fields = ["contract", "measurement_year", "star_year", "taken_at", "taken_by"]
    readonly_fields = fields
    change_form_template = "admin/ratings/readable_change_form.html"

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
        return _published(snapshot.overall_value, snapshot.overall_status)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        snapshot = self.get_object(request, object_id)
        extra = {}
        if snapshot is not None:
            extra = {
                "readable_sections": snapshot_sections(snapshot.data),
                "raw_documents": raw_documents(snapshot=snapshot.data),
                "console_url": reverse(
                    "star_ratings:overview", args=[snapshot.contract.contract_id, snapshot.measurement_year]
                ),
                "console_label": "Open the contract in the Star Ratings console",
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


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
    cut_points = cut_point_field()

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
    objective = forms.ChoiceField(choices=list(OBJECTIVES.items()))
    time_limit = forms.FloatField(
        min_value=1, max_value=600, initial=60, help_text="Seconds the solver may take for each target."
    )
    field_order = [
        "contract",
        "measurement_year",
        "budget",
        "objective",
        "cut_points",
        "draws",
        "seed",
        "time_limit",
    ]


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

    # Fits 1366 px beside the admin's sidebar: who ran it and when it was proposed are on its page.
    list_display = [
        "created",
        "run_name",
        "kind",
        "contract_year",
        "expected_overall",
        "p_at_least_4",
        "budget_and_cost",
        "console_link",
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
        "duration",
        "proposed_at",
    ]
    readonly_fields = fields
    actions = ["propose_interventions"]
    change_form_template = "admin/ratings/readable_change_form.html"

    def get_queryset(self, request):
        # A page of runs never loads their results: the few figures the list shows are read out
        # of the JSON by SQL (the view page loads one run whole).
        return (
            super()
            .get_queryset(request)
            .defer("inputs", "result")
            .annotate(
                expected=F("result__expected_overall"),
                expected_before=F("result__expected_overall_before"),
                expected_after=F("result__expected_overall_after"),
                p_4=F("result__p_overall_at_least_4"),
                p_4_before=F("result__p_overall_at_least_4_before"),
                p_4_after=F("result__p_overall_at_least_4_after"),
                total_cost=F("result__total_cost"),
            )
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A run's inputs and plan name members: opening one is an access entry.
        run = self.get_object(request, object_id)
        extra = {}
        if run is not None:
            log_access(run)
            used = {str(i["intervention"]) for i in run.result.get("interventions", [])}
            type_names = {
                str(pk): name
                for pk, name in InterventionType.objects.filter(pk__in=used).values_list("pk", "name")
            }
            extra = {
                "readable_sections": run_sections(run, type_names),
                "raw_documents": raw_documents(
                    parameters=run.parameters, inputs=run.inputs, result=run.result
                ),
                "console_url": reverse("star_ratings:run", args=[run.pk]),
                "console_label": "Open in the Star Ratings console",
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description="name", ordering="name")
    def run_name(self, run):
        return run.name or run.get_kind_display()

    @admin.display(description="created", ordering="created_at")
    def created(self, run):
        return timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="contract · year", ordering="contract__contract_id")
    def contract_year(self, run):
        return f"{run.contract.contract_id} · {run.measurement_year}"

    @admin.display(description="expected overall")
    def expected_overall(self, run):
        if run.kind == PortfolioRun.Kind.OPTIMIZE:
            return _before_after(_stars_2, run.expected_before, run.expected_after)
        return _stars_2(run.expected)

    @admin.display(description="P(≥ 4 stars)")
    def p_at_least_4(self, run):
        if run.kind == PortfolioRun.Kind.OPTIMIZE:
            return _before_after(probability, run.p_4_before, run.p_4_after)
        return probability(run.p_4)

    @admin.display(description="budget · cost")
    def budget_and_cost(self, run):
        if run.kind != PortfolioRun.Kind.OPTIMIZE:
            return "—"
        return f"{money(run.parameters.get('budget'))} · {money(run.total_cost)}"

    @admin.display(description="took")
    def duration(self, run):
        return f"{decimal(run.duration_ms / 1000, 1)} s"

    @admin.display(description="console")
    def console_link(self, run):
        # The console sits above this app; its pages are linked by name, never imported.
        return format_html('<a href="{}">Open</a>', reverse("star_ratings:run", args=[run.pk]))

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

"""The scenario workspace of a contract and measurement year: its saved forecasts, what-ifs and
optimizer runs; forms that start new ones as jobs; and 2–4 of them side by side."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse

from console.star_ratings import forms
from console.star_ratings.base import ConsoleView, console_path
from console.star_ratings.charts import distribution_chart
from console.star_ratings.runs import assumption_words, followed
from hedis_portal import formats
from hedis_portal.errors import ApplicationError
from hedis_portal.filters import MAX_ID
from ratings.jobs import RUN_START, RUN_VIEW, forecast_start, optimize_start
from ratings.live.rating import rated_measure_ids
from ratings.models import PortfolioRun

RUNS_SHOWN = 50
COMPARED = (2, 4)
# A scenario's colour in the comparison chart, in the order chosen.
COLOURS = ("#417690", "#e0a526", "#7a3e9d", "#3c8d40")
# The headline keys of a run's result: a forecast's or what-if's, and an optimizer run's "after".
HEADLINE = {
    "expected": ("result__expected_overall", "result__expected_overall_after"),
    "p_at_least_4": ("result__p_overall_at_least_4", "result__p_overall_at_least_4_after"),
}
FORM_OF = {"forecast": "forecast_form", "what_if": "what_if_form", "optimize": "optimizer_form"}
STARTED = {"forecast": "The forecast", "what_if": "The what-if scenario", "optimize": "The optimizer run"}


def _headline(row: dict) -> dict:
    """A run's figures people compare, from the result keys read with it; an unnamed run is
    labelled by its kind and number ("Forecast #12"), as the admin numbers it."""
    after = row["kind"] == PortfolioRun.Kind.OPTIMIZE
    return {
        "pk": row["pk"],
        "kind": row["kind"],
        "kind_label": PortfolioRun.Kind(row["kind"]).label,
        "label": row["name"] or f"{PortfolioRun.Kind(row['kind']).label} #{row['pk']}",
        "created_at": row["created_at"],
        "created_by": row["created_by__username"] or "—",
        "expected": row[HEADLINE["expected"][after]],
        "p_at_least_4": row[HEADLINE["p_at_least_4"][after]],
        "cost": row["result__total_cost"] if after else None,
        "budget": row["parameters__budget"] if after else None,
        "url": reverse("star_ratings:run", args=[row["pk"]]),
    }


HEADLINE_FIELDS = (
    "pk",
    "kind",
    "name",
    "created_at",
    "created_by__username",
    *HEADLINE["expected"],
    *HEADLINE["p_at_least_4"],
    "result__total_cost",
    "parameters__budget",
)


class ScenariosView(ConsoleView):
    """The saved scenarios, newest first, to open or compare; and (for those who may start runs)
    forms for a forecast, a what-if and an optimizer run, each started as a job."""

    template_name = "console/star_ratings/scenarios.html"
    permission = RUN_VIEW
    title = "Scenarios"
    tab = "scenarios"

    def runs(self):
        return PortfolioRun.objects.filter(contract=self.contract, measurement_year=self.measurement_year)

    def get_context_data(self, bound: dict | None = None, **kwargs):
        context = super().get_context_data(**kwargs)
        runs = self.runs()
        context.update(
            runs=[_headline(row) for row in runs.values(*HEADLINE_FIELDS)[:RUNS_SHOWN]],
            run_count=runs.count(),
            runs_shown=RUNS_SHOWN,
            compare_url=reverse(
                "star_ratings:compare", args=[self.contract.contract_id, self.measurement_year]
            ),
            may_start=self.request.user.has_perm(RUN_START),
        )
        if context["may_start"]:
            context.update(bound or self.start_forms())
        return context

    def start_forms(self, data=None, which: str = "") -> dict:
        """The three forms, the one posted (`which`) bound to `data`."""
        measures = forms.rated_measures(contract=self.contract, measurement_year=self.measurement_year)
        return {
            "forecast_form": forms.ForecastForm(data if which == "forecast" else None, prefix="forecast"),
            "what_if_form": forms.WhatIfForm(data if which == "what_if" else None, prefix="what_if"),
            "assumption_rows": forms.AssumptionFormSet(
                data if which == "what_if" else None, prefix="assume", form_kwargs={"measures": measures}
            ),
            "optimizer_form": forms.OptimizerForm(
                data if which == "optimize" else None,
                prefix="optimize",
                initial={"objective": "expected_overall"},
            ),
            "intervention_types": forms.intervention_type_forms(data if which == "optimize" else None),
        }

    def post(self, request, *args, **kwargs):
        """Start the posted form's run as a job and go to its progress page; or show what was wrong."""
        if not request.user.has_perm(RUN_START):
            raise PermissionDenied
        which = request.POST.get("start", "")
        bound = self.start_forms(request.POST, which)
        start = {"forecast": self._forecast, "what_if": self._what_if, "optimize": self._optimize}.get(which)
        if start is not None:
            try:
                job = start(bound)
            except ApplicationError as refused:
                bound[FORM_OF[which]].add_error(None, refused.message)
            else:
                if job is not None:
                    messages.success(request, f"{STARTED[which]} has started.")
                    return redirect(followed(job))
        return self.render_to_response(self.get_context_data(bound=bound, posted=which, **kwargs))

    def _common(self) -> dict:
        return {
            "user": self.request.user,
            "contract": self.contract,
            "measurement_year": self.measurement_year,
        }

    def _forecast(self, bound: dict):
        form = bound["forecast_form"]
        if not form.is_valid():
            return None
        return forecast_start(
            **self._common(),
            draws=form.cleaned_data["draws"],
            seed=form.cleaned_data["seed"],
            name=form.cleaned_data["name"],
            cut_points=form.cleaned_data["cut_points"],
        )

    def _what_if(self, bound: dict):
        form, rows = bound["what_if_form"], bound["assumption_rows"]
        if not (form.is_valid() & rows.is_valid()):
            return None
        return forecast_start(
            **self._common(),
            draws=form.cleaned_data["draws"],
            seed=form.cleaned_data["seed"],
            name=form.cleaned_data["name"],
            cut_points=form.cleaned_data["cut_points"],
            assumptions=rows.assumptions(),
        )

    def _optimize(self, bound: dict):
        form, types = bound["optimizer_form"], bound["intervention_types"]
        if not all([form.is_valid(), *[each.is_valid() for each in types]]):
            return None
        data = form.cleaned_data
        return optimize_start(
            **self._common(),
            name=data["name"],
            budget=data["budget"],
            objective=data["objective"],
            draws=data["draws"],
            seed=data["seed"],
            time_limit=data["time_limit"],
            cut_points=data["cut_points"],
            intervention_types=[each.as_job_figures() for each in types],
        )


class CompareView(ConsoleView):
    """2–4 saved scenarios side by side, oldest first: expected rating, P(≥ 4 ★), the distribution
    of the overall rating as one chart, cost, what each assumed, and each one's difference from the
    oldest."""

    template_name = "console/star_ratings/compare.html"
    permission = RUN_VIEW
    title = "Compare scenarios"
    tab = "scenarios"

    def get(self, request, *args, **kwargs):
        chosen = list(dict.fromkeys(request.GET.getlist("run")))
        least, most = COMPARED
        if not least <= len(chosen) <= most:
            messages.warning(
                request,
                f"Choose two to four scenarios to compare (you chose {len(chosen)}): "
                "tick them in the list, then press Compare selected.",
            )
            return redirect("star_ratings:scenarios", self.contract.contract_id, self.measurement_year)
        # Only ASCII digits up to the largest key name a run ("²" is a digit to str.isdigit, not to
        # int(); a larger number overflows the database driver): anything else names no scenario.
        if not all(each.isascii() and each.isdigit() and int(each) <= MAX_ID for each in chosen):
            raise Http404("No such scenario of this contract and year.")
        self.chosen = [int(each) for each in chosen]
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = {
            row["pk"]: row
            for row in PortfolioRun.objects.filter(
                contract=self.contract, measurement_year=self.measurement_year, pk__in=self.chosen
            ).values(
                *HEADLINE_FIELDS,
                "parameters",
                "result__overall_probabilities",
                "result__overall_probabilities_after",
            )
        }
        if len(rows) != len(self.chosen):
            raise Http404("No such scenario of this contract and year.")
        codes = _codes_by_cms_id(self.measurement_year)
        oldest_first = sorted(rows.values(), key=lambda row: (row["created_at"], row["pk"]))
        scenarios = [_scenario(row, codes) for row in oldest_first]
        first = scenarios[0]
        for scenario in scenarios:
            scenario["expected_change"] = _difference(scenario["expected"], first["expected"])
            scenario["p_change"] = _difference(scenario["p_at_least_4"], first["p_at_least_4"], scale=100)
        chart, distribution = distribution_chart(
            "compare-distribution",
            "Chance of each year-end overall rating, by scenario",
            [
                (each["label"], each["distribution"], COLOURS[index % len(COLOURS)])
                for index, each in enumerate(scenarios)
            ],
        )
        context.update(
            scenarios=scenarios,
            others=scenarios[1:],
            distribution=distribution,
            any_optimizer=any(each["kind"] == PortfolioRun.Kind.OPTIMIZE for each in scenarios),
            chart=chart,
        )
        return context


def _codes_by_cms_id(measurement_year: int) -> dict[str, str]:
    """Each rated measure's code by its CMS ID (the CMS ID itself where a code names two)."""
    codes: dict[str, str] = {}
    for name, cms_id in rated_measure_ids(measurement_year).items():
        if name != cms_id:
            codes[cms_id] = name
    return codes


def _scenario(row: dict, codes: dict[str, str]) -> dict:
    """A run's headline, its distribution of the overall rating, and what it assumed, in words."""
    scenario = _headline(row)
    parameters = row["parameters"]
    after = row["kind"] == PortfolioRun.Kind.OPTIMIZE
    scenario["distribution"] = (
        row["result__overall_probabilities_after" if after else "result__overall_probabilities"] or {}
    )
    if after:
        aim = dict(forms.OBJECTIVES).get(parameters.get("objective"), parameters.get("objective"))
        assumed = [f"A budget of {formats.money(parameters.get('budget'))}, aiming for {aim.lower()}."]
    elif parameters.get("assumptions"):
        labels = {cms_id: f"{code} ({cms_id})" for cms_id, code in codes.items()}
        assumed = assumption_words(parameters["assumptions"], labels)
    else:
        assumed = ["Nothing assumed: today's gaps and scores, as they are forecast to close."]
    scenario["assumed"] = assumed
    scenario["draws"] = f"{formats.count(parameters.get('draws'))} draws, seed {parameters.get('seed')}"
    return scenario


def _difference(value, first, scale: int = 1):
    return None if value is None or first is None else (value - first) * scale


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/scenarios/", ScenariosView.as_view(), "scenarios"),
    console_path("<str:contract_id>/<int:year>/compare/", CompareView.as_view(), "compare"),
]

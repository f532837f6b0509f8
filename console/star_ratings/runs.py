"""A stored run's page (a forecast's, a what-if's or an optimizer plan's result, for people), the
plan as CSV, proposing its interventions, and the progress page of any console job."""

import json
import math
from collections import defaultdict
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from console.star_ratings.base import ConsoleView, console_path
from console.star_ratings.charts import distribution_chart
from gaps.models import PRIORITY_DOLLARS
from hedis_portal import formats
from hedis_portal.audit import log_access, log_read
from hedis_portal.errors import ConflictError
from hedis_portal.exports import CsvWriter
from hedis_portal.job_registry import job_kinds
from hedis_portal.jobs import job_cancel, job_start, jobs_reap_stale, jobs_visible_to
from hedis_portal.middleware import route_pattern
from hedis_portal.models import Job
from interventions.models import Intervention, InterventionType
from members.models import Member
from ratings.models import PortfolioRun, StarYearMeasure

VIEW_RUNS = "ratings.view_portfoliorun"
PROPOSE = ("ratings.add_portfoliorun", "interventions.add_intervention")
BEFORE_COLOUR, AFTER_COLOUR = "#9aa5b1", "#2f6f9f"

SOLVER_STATUS = {
    "optimal": "The solver proved the plan optimal",
    "time_limit": "The solver stopped at its time limit with the best plan it had found",
    "nothing_to_buy": "There was nothing worth buying",
    "infeasible": "The solver found no plan within the budget",
    "unbounded": "The solver could not bound the problem",
    "error": "The solver failed",
}
# Members as the worklist and its export name them (pseudonym, and the full key for systems);
# the plan's value per $1,000 in fixed decimals, never in scientific notation.
CSV_HEADER = [
    "member",
    "member_key",
    "intervention_type",
    "measures",
    "cost",
    "expected_extra_closures",
    "stars_per_1000_dollars",
]


def places_for(value: float, least: int = 2) -> int:
    """Decimals that show `value`'s first significant digit (0.0000264 → 5), and at least `least`."""
    if not value:
        return least
    return max(least, -math.floor(math.log10(abs(value))))


def cut_points_text(inputs: dict) -> str:
    """Which cut points a run was rated against, in words (runs from before the choice existed
    name only the star year of the cut points they used)."""
    basis = inputs.get("cut_points")
    if basis:
        return basis["note"]
    return f"the star year {inputs.get('cut_point_star_year', '—')} cut points."


def visible_runs(user):
    """The user's contracts' runs, with what every run page names."""
    return PortfolioRun.objects.visible_to(user).select_related("contract", "created_by")


def measure_labels(run: PortfolioRun) -> dict[str, str]:
    """CMS ID → "CBP – Controlling Blood Pressure" (a contract-level measure by its CMS ID, "C05 – …"),
    from the catalog year the run was rated with."""
    catalog_year = run.inputs.get("methodology_star_year") or run.inputs.get("cut_point_star_year")
    editions = StarYearMeasure.objects.filter(star_year=catalog_year).values_list(
        "cms_id", "measure__code", "measure__member_level", "name"
    )
    return {
        cms_id: f"{code if member_level else cms_id} – {name}"
        for cms_id, code, member_level, name in editions
    }


def plan_by_type(run: PortfolioRun, labels: dict[str, str]) -> list[dict]:
    """The plan by intervention type, then by measure: interventions, cost, expected extra closures.

    An intervention works every gap its member has on the measures its type lifts, so it counts
    under each of those measures; its cost is counted once, on its type's line.
    """
    types: dict[int, dict] = {}
    for chosen in run.result.get("interventions", []):
        type_id = int(chosen["intervention"])
        line = types.setdefault(
            type_id, {"count": 0, "cost": 0.0, "closures": 0.0, "measures": defaultdict(lambda: [0, 0.0])}
        )
        line["count"] += 1
        line["cost"] += chosen["cost"]
        for gap in chosen["gaps"]:
            extra = gap["probability_after"] - gap["probability_before"]
            line["closures"] += extra
            line["measures"][gap["cms_id"]][0] += 1
            line["measures"][gap["cms_id"]][1] += extra
    names = dict(InterventionType.objects.filter(pk__in=list(types)).values_list("pk", "name"))
    return [
        {
            "name": names.get(type_id, f"Intervention type #{type_id}"),
            "count": line["count"],
            "cost": line["cost"],
            "closures": line["closures"],
            "measures": [
                {"label": labels.get(cms_id, cms_id), "count": count, "closures": closures}
                for cms_id, (count, closures) in sorted(line["measures"].items())
            ],
        }
        for type_id, line in sorted(types.items(), key=lambda item: -item[1]["cost"])
    ]


def marginal_sentence(result: dict) -> str:
    """What the next step of budget would buy, in words ("" when the run did not price it)."""
    marginal = result.get("marginal_value") or {}
    step = marginal.get("budget_step")
    at_budget, at_more = marginal.get("objective_at_budget"), marginal.get("objective_at_budget_plus_step")
    if not step or at_budget is None or at_more is None:
        return ""
    gain = at_more - at_budget
    if gain <= 0:
        return f"The next {formats.money(step)} would add nothing the plan could use."
    if result.get("objective_used") == "p_at_least_4":
        raised = formats.points(100 * gain, places_for(100 * gain)).lstrip("+")
        return f"The next {formats.money(step)} would raise P(≥ 4 ★) by {raised}."
    return (
        f"The next {formats.money(step)} would add {formats.decimal(gain, places_for(gain))} expected stars."
    )


def solver_sentence(run: PortfolioRun) -> str:
    """The solver's status and how close the plan is proven to be to the best, in words."""
    status = run.solver_status or run.result.get("solver_status", "")
    words = SOLVER_STATUS.get(status, f"The solver ended with status “{status}”")
    gap = run.optimality_gap
    if gap is None or status not in ("optimal", "time_limit"):
        return f"{words}."
    if run.result.get("objective_used") == "p_at_least_4":
        within = formats.points(100 * gap, places_for(100 * gap)).lstrip("+±")
        return f"{words}: proven within {within} of the best plan's P(≥ 4 ★)."
    return f"{words}: proven within {formats.stars(gap, places_for(gap))} of the best plan."


def budget_sentence(result: dict) -> str:
    """How much of the budget the plan spends, and why the rest was left when the run says
    (`budget_left`, a sentence of the optimizer's)."""
    budget, spent = result.get("budget", 0.0), result.get("total_cost", 0.0)
    left = result.get("budget_left") or {}
    unspent = left.get("unspent", budget - spent)
    sentence = f"Spends {formats.money(spent)} of {formats.money(budget)}"
    if unspent < 0.5:
        return f"{sentence}."
    sentence = f"{sentence}, leaving {formats.money(unspent)}."
    return f"{sentence} {left['reason']}" if left.get("reason") else sentence


def assumption_words(assumptions: dict, labels: dict[str, str]) -> list[str]:
    """A what-if's assumptions, one sentence per measure."""
    sentences = []
    for cms_id, assumed in assumptions.items():
        label = labels.get(cms_id, cms_id)
        if "extra_closures" in assumed:
            sentences.append(
                f"{label}: {formats.count(assumed['extra_closures'])} more of its open gaps close."
            )
        elif "target_rate" in assumed:
            sentences.append(
                f"{label}: its rate reaches {formats.percent(assumed['target_rate'])} by the year end."
            )
        elif "star" in assumed:
            sentences.append(f"{label}: rated {formats.stars(int(assumed['star']))}.")
        elif "score" in assumed:
            sentences.append(
                f"{label}: scores {formats.decimal(assumed['score'], places_for(float(assumed['score'])))}."
            )
    return sentences


def uplift_words(uplifts: dict) -> str:
    """An intervention type's uplift per measure in percentage points, as the optimizer form takes
    them: {"BCS": 0.08, "COL": 0.125} → "BCS +8 pts, COL +12.5 pts"."""
    return ", ".join(f"{code} +{formats.significant(100 * uplift)} pts" for code, uplift in uplifts.items())


def active_proposal(run: PortfolioRun) -> Job | None:
    """The queued or running job proposing this run's interventions, if there is one."""
    return Job.objects.filter(
        kind="propose", contract=run.contract, parameters__portfolio_run=run.pk, status__in=Job.ACTIVE
    ).first()


class RunView(ConsoleView):
    """A run's result for people: headline figures, the distribution chart and tables, and for an
    optimizer run its plan, budget, solver status and the buttons to propose and download it."""

    template_name = "console/star_ratings/run.html"
    permission = VIEW_RUNS
    tab = "scenarios"

    def dispatch(self, request, *args, pk, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        self.run = get_object_or_404(visible_runs(request.user), pk=pk)
        return super().dispatch(
            request,
            *args,
            contract_id=self.run.contract.contract_id,
            year=self.run.measurement_year,
            **kwargs,
        )

    def get(self, request, *args, **kwargs):
        # Its inputs and plan name members, so each read is an access entry (as the API's).
        log_access(self.run)
        return super().get(request, *args, **kwargs)

    def get_title(self) -> str:
        run = self.run
        if run.kind == PortfolioRun.Kind.OPTIMIZE:
            plan = f"a {formats.money(run.parameters.get('budget'))} plan"
            return (
                f"Optimizer run “{run.name}”, {plan} (run #{run.pk})"
                if run.name
                else f"Optimizer run #{run.pk}: {plan}"
            )
        if run.kind == PortfolioRun.Kind.WHAT_IF:
            return f"What-if “{run.name}” (run #{run.pk})"
        return f"Forecast “{run.name}” (run #{run.pk})" if run.name else f"Forecast #{run.pk}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run, result = self.run, self.run.result
        labels = measure_labels(run)
        context.update(
            run=run,
            result=result,
            raw=json.dumps({"parameters": run.parameters, "result": result}, indent=1),
            seconds=run.duration_ms / 1000,
            cut_points=cut_points_text(run.inputs),
        )
        if run.kind == PortfolioRun.Kind.OPTIMIZE:
            context.update(self._plan(labels))
        else:
            context.update(self._forecast(labels))
        return context

    def _plan(self, labels: dict[str, str]) -> dict:
        run, result, user = self.run, self.run.result, self.request.user
        chart, rows = distribution_chart(
            "run-distribution",
            "Overall rating at the year end, without and with the plan",
            [
                ("Without the plan", result.get("overall_probabilities_before", {}), BEFORE_COLOUR),
                ("With the plan", result.get("overall_probabilities_after", {}), AFTER_COLOUR),
            ],
        )
        types = plan_by_type(run, labels)
        moved = [
            {
                **measure,
                "label": labels.get(measure["cms_id"], measure["cms_id"]),
                "extra_closures": measure["expected_closures_after"] - measure["expected_closures_before"],
            }
            for measure in result.get("measures", [])
            if measure.get("expected_star_after") != measure.get("expected_star_before")
        ]
        return {
            "optimizer": True,
            "chart": chart,
            "distribution": rows,
            "series": ["Without the plan", "With the plan"],
            "gain": result.get("expected_overall_after", 0) - result.get("expected_overall_before", 0),
            "plan": types,
            "plan_count": sum(line["count"] for line in types),
            "plan_cost": sum(line["cost"] for line in types),
            "plan_closures": sum(line["closures"] for line in types),
            "moved": moved,
            "budget_sentence": budget_sentence(result),
            "marginal_sentence": marginal_sentence(result),
            "solver_sentence": solver_sentence(run),
            "intervention_types": [
                {**kind, "uplift_words": uplift_words(kind.get("uplifts") or {})}
                for kind in run.parameters.get("intervention_types") or []
            ],
            "may_propose": user.has_perms(PROPOSE),
            "proposal": active_proposal(run) if run.proposed_at is None else None,
        }

    def _forecast(self, labels: dict[str, str]) -> dict:
        run, result = self.run, self.run.result
        chart, rows = distribution_chart(
            "run-distribution",
            "Overall rating at the year end",
            [("Probability", result.get("overall_probabilities", {}), AFTER_COLOUR)],
        )
        return {
            "optimizer": False,
            "chart": chart,
            "distribution": rows,
            "series": ["Probability"],
            "measures": [
                {**measure, "label": labels.get(measure["cms_id"], measure["cms_id"])}
                for measure in result.get("measures", [])
            ],
            "assumptions": assumption_words(run.parameters.get("assumptions") or {}, labels),
        }


class RunCsvView(View):
    """An optimizer run's plan as CSV: one row per planned intervention, members by pseudonym."""

    def get(self, request, pk):
        if not request.user.has_perm(VIEW_RUNS):
            raise PermissionDenied
        run = get_object_or_404(visible_runs(request.user), pk=pk, kind=PortfolioRun.Kind.OPTIMIZE)
        planned = run.result.get("interventions", [])
        members = {
            pk: (pseudonym, key)
            for pk, pseudonym, key in Member.objects.filter(
                contract=run.contract, pk__in={chosen["member"] for chosen in planned}
            ).values_list("pk", "pseudonym", "id_hash")
        }
        types = dict(
            InterventionType.objects.filter(
                pk__in={int(chosen["intervention"]) for chosen in planned}
            ).values_list("pk", "name")
        )
        codes = {cms_id: measure["code"] for cms_id, measure in run.inputs.get("measures", {}).items()}
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="plan-{run.contract.contract_id}-run-{run.pk}.csv"'
        )
        writer = CsvWriter(response)
        writer.writeheader(CSV_HEADER)
        for chosen in planned:
            writer.writerow(
                [
                    *members.get(chosen["member"], ("", "")),
                    types.get(int(chosen["intervention"]), chosen["intervention"]),
                    "; ".join(codes.get(gap["cms_id"], gap["cms_id"]) for gap in chosen["gaps"]),
                    chosen["cost"],
                    round(
                        sum(gap["probability_after"] - gap["probability_before"] for gap in chosen["gaps"]), 6
                    ),
                    # The worklist's priority unit, to three significant digits, in fixed notation.
                    Decimal(f"{PRIORITY_DOLLARS * chosen.get('value_per_dollar', 0.0):.3g}"),
                ]
            )
        # The rows are planned interventions, one per member and type: recorded as such.
        log_read(
            model=Intervention,
            kind="export",
            view=route_pattern(request.resolver_match),
            filters={"portfolio_run": run.pk},
            rows=writer.rows,
        )
        return response


class RunProposeView(View):
    """Start proposing an optimizer run's interventions (the `propose` job), then show its progress."""

    def post(self, request, pk):
        if not request.user.has_perms(PROPOSE):
            raise PermissionDenied
        run = get_object_or_404(visible_runs(request.user), pk=pk, kind=PortfolioRun.Kind.OPTIMIZE)
        here = reverse("star_ratings:run", args=[run.pk])
        if run.proposed_at is not None:
            messages.info(
                request, f"This plan's interventions were proposed on {run.proposed_at:%Y-%m-%d %H:%M}."
            )
            return redirect(here)
        running = active_proposal(run)
        if running is not None:
            return redirect(followed(running))
        try:
            job, _ = job_start(
                kind="propose", user=request.user, contract=run.contract, parameters={"portfolio_run": run.pk}
            )
        except ConflictError as busy:
            messages.error(request, busy.message)
            return redirect(here)
        return redirect(followed(job))


def duration(seconds: float) -> str:
    """A job's time in words: "4 s", "3 min 5 s", "1 h 2 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def followed(job: Job, then: str = "") -> str:
    """The page of a job just started: its progress, then the run it made as soon as it is done
    (even when it finished before the page opened), or the console page `then` for a job that
    makes no run."""
    following = f"{reverse('star_ratings:job', args=[job.pk])}?follow"
    return f"{following}&{urlencode({'next': then})}" if then else following


def visible_job(user, pk) -> Job:
    """A job the user may see (its kind's view permission, their contracts), else 404."""
    return get_object_or_404(jobs_visible_to(user), pk=pk)


class JobView(ConsoleView):
    """A job's progress: a bar, its stage in words, its status and times; `console/job.js` follows
    it through the jobs API and opens the run it made once it succeeds."""

    template_name = "console/star_ratings/job.html"

    def dispatch(self, request, *args, pk, **kwargs):
        # A stopped worker's job is failed here, as the API does, so the page never shows it running.
        jobs_reap_stale()
        self.job = visible_job(request.user, pk)
        self.kind = job_kinds()[self.job.kind]
        self.permission = self.kind.view_permission
        contract, parameters = self.job.contract, self.job.parameters
        year = parameters.get("measurement_year")
        if year is None and "portfolio_run" in parameters:
            # A proposal names its run, not the year: the run's year places the page.
            runs = PortfolioRun.objects.filter(pk=parameters["portfolio_run"])
            year = runs.values_list("measurement_year", flat=True).first()
        return super().dispatch(
            request,
            *args,
            contract_id=contract.contract_id if contract else None,
            year=year,
            **kwargs,
        )

    def get(self, request, *args, **kwargs):
        run_id = self.job.result.get("portfolio_run")
        if (
            "follow" in request.GET
            and self.job.status == Job.Status.SUCCEEDED
            and (run_id or self.next_url())
        ):
            return redirect("star_ratings:run", pk=run_id) if run_id else redirect(self.next_url())
        return super().get(request, *args, **kwargs)

    def next_url(self) -> str:
        """The console page to open when the job is done (`?next=`, only a path on this site)."""
        wanted = self.request.GET.get("next", "")
        allowed = url_has_allowed_host_and_scheme(wanted, allowed_hosts={self.request.get_host()})
        return wanted if wanted.startswith("/") and allowed else ""

    def get_title(self) -> str:
        label = self.kind.label[:1].upper() + self.kind.label[1:]
        return f"{label} for {self.job.contract}" if self.job.contract else label

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self.job
        started, finished = job.started_at, job.finished_at
        run_id = job.result.get("portfolio_run")
        context.update(
            job=job,
            percent=formats.percent(100 * job.progress, 0),
            active=job.status in Job.ACTIVE,
            elapsed=duration(((finished or timezone.now()) - started).total_seconds()) if started else "",
            error=(job.error or {}).get("message", ""),
            run_url=reverse("star_ratings:run", args=[run_id]) if run_id else "",
            next_url=self.next_url(),
            result_url=(
                reverse("star_ratings:run", args=[run_id])
                if run_id
                else (self.next_url() if job.status == Job.Status.SUCCEEDED else "")
            ),
            run_url_zero=reverse("star_ratings:run", args=[0]),
            api_url=reverse("api:job-detail", args=[job.pk]),
            may_cancel=job.status in Job.ACTIVE and self.request.user.has_perm(self.kind.start_permission),
        )
        return context


class JobCancelView(View):
    """Cancel a queued job, or ask a running one to stop (users who may start its kind)."""

    def post(self, request, pk):
        job = visible_job(request.user, pk)
        if not request.user.has_perm(job_kinds()[job.kind].start_permission):
            raise PermissionDenied
        try:
            job_cancel(job=job)
        except ConflictError as finished:
            messages.info(request, finished.message)
        return redirect("star_ratings:job", pk=job.pk)


urlpatterns = [
    console_path("runs/<int:pk>/", RunView.as_view(), "run"),
    console_path("runs/<int:pk>/plan.csv", RunCsvView.as_view(), "run_csv"),
    console_path("runs/<int:pk>/propose/", RunProposeView.as_view(), "run_propose"),
    console_path("jobs/<uuid:pk>/", JobView.as_view(), "job"),
    console_path("jobs/<uuid:pk>/cancel/", JobCancelView.as_view(), "job_cancel"),
]

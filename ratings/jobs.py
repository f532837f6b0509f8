"""The ratings app's background jobs: forecasts, what-if scenarios, optimizer runs, proposing a
plan's interventions, and portfolio snapshots (`hedis_portal.jobs`).

Each job's parameters are what the API accepted, as JSON; each returns links to what it made.
Forecasts, what-ifs, optimizer runs and proposals on one contract share the "planning" lane:
one at a time, so two heavy runs (or a run and a proposal that re-scores the same worklist)
never overlap.
"""

from decimal import Decimal

from django.db import transaction
from django.urls import reverse

from hedis_portal.jobs import Job, JobContext, job_kind
from members.selectors import contracts_for
from ratings.live.services import portfolio_snapshot_create
from ratings.models import PortfolioRun
from ratings.planning import services as planning

RUN_VIEW, RUN_START = "ratings.view_portfoliorun", "ratings.add_portfoliorun"
SNAPSHOT_VIEW, SNAPSHOT_START = "ratings.view_portfoliosnapshot", "ratings.add_portfoliosnapshot"
# What-if assumptions held as text in the job's parameters (JSON has no decimals).
DECIMAL_ASSUMPTIONS = ("target_rate", "score")


def _run_links(run: PortfolioRun) -> dict:
    route = "api:optimizerrun-detail" if run.kind == PortfolioRun.Kind.OPTIMIZE else "api:forecast-detail"
    return {
        "portfolio_run": run.pk,
        "url": reverse(route, args=[run.pk]),
        "admin_url": reverse("admin:ratings_portfoliorun_change", args=[run.pk]),
    }


@job_kind("forecast", label="forecast", view_permission=RUN_VIEW, start_permission=RUN_START, lane="planning")
def forecast(job: Job, context: JobContext) -> dict:
    """A year-end forecast, or a what-if scenario when the parameters hold assumptions."""
    parameters = job.parameters
    common = {
        "contract": job.contract,
        "measurement_year": parameters["measurement_year"],
        "user": job.created_by,
        "draws": parameters["draws"],
        "seed": parameters["seed"],
        "progress": context.progress,
    }
    if parameters.get("assumptions"):
        assumptions = {
            cms_id: {
                key: Decimal(value) if key in DECIMAL_ASSUMPTIONS else value for key, value in assumed.items()
            }
            for cms_id, assumed in parameters["assumptions"].items()
        }
        run = planning.what_if_run_create(name=parameters["name"], assumptions=assumptions, **common)
    else:
        run = planning.forecast_run_create(**common)
    return _run_links(run)


@job_kind(
    "optimize",
    label="optimizer run",
    view_permission=RUN_VIEW,
    start_permission=RUN_START,
    lane="planning",
    time_limit=3600.0,
)
def optimize(job: Job, context: JobContext) -> dict:
    """An optimizer run: the plan within the budget, stored with the worklist re-scored from it.

    HiGHS gets the run's own time limit or the job's time left, whichever is shorter.
    """
    parameters = job.parameters
    run = planning.optimizer_run_create(
        contract=job.contract,
        measurement_year=parameters["measurement_year"],
        user=job.created_by,
        budget=Decimal(parameters["budget"]),
        objective=parameters["objective"],
        draws=parameters["draws"],
        seed=parameters["seed"],
        time_limit=min(parameters["time_limit"], context.seconds_left()),
        progress=context.progress,
    )
    return _run_links(run)


@job_kind(
    "propose",
    label="proposal of a plan's interventions",
    view_permission=RUN_VIEW,
    start_permission=RUN_START,
    lane="planning",
)
def propose(job: Job, context: JobContext) -> dict:
    """Turn an optimizer run's plan into proposed interventions."""
    run = PortfolioRun.objects.get(pk=job.parameters["portfolio_run"], contract=job.contract)
    context.progress(0.1, "proposing the plan's interventions")
    proposed = planning.optimizer_run_propose(run=run, user=job.created_by)
    return {**_run_links(run), "proposed": proposed}


@job_kind(
    "snapshot",
    label="portfolio snapshot",
    view_permission=SNAPSHOT_VIEW,
    start_permission=SNAPSHOT_START,
    lane="snapshot",
)
def snapshot(job: Job, context: JobContext) -> dict:
    """A snapshot of the contract's live rating for a measurement year."""
    context.progress(0.1, "rating the contract")
    taken = portfolio_snapshot_create(
        contract=job.contract, measurement_year=job.parameters["measurement_year"], taken_by=job.created_by
    )
    return {
        "snapshot": taken.pk,
        "url": reverse("api:portfoliosnapshot-detail", args=[taken.pk]),
        "admin_url": reverse("admin:ratings_portfoliosnapshot_change", args=[taken.pk]),
    }


@job_kind(
    "snapshot_all",
    label="portfolio snapshots of every contract",
    view_permission=SNAPSHOT_VIEW,
    start_permission=SNAPSHOT_START,
)
def snapshot_all(job: Job, context: JobContext) -> dict:
    """A snapshot of each contract the job's user may see, all or none (one transaction)."""
    contracts = list(contracts_for(job.created_by).order_by("contract_id"))
    taken = []
    with transaction.atomic():
        for index, contract in enumerate(contracts):
            context.progress(
                index / max(len(contracts), 1), f"rating {contract} ({index + 1} of {len(contracts)})"
            )
            taken.append(
                portfolio_snapshot_create(
                    contract=contract,
                    measurement_year=job.parameters["measurement_year"],
                    taken_by=job.created_by,
                ).pk
            )
    return {"snapshots": taken, "admin_url": reverse("admin:ratings_portfoliosnapshot_changelist")}

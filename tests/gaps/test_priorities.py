"""Priorities people can read: one unit (expected stars per $1,000), a 1-100 rank per contract year in
the worklist's order, a "why" per gap, and the run that set them, stale once newer files arrive."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateformat import format as date_format

from gaps.models import CareGap
from gaps.priorities import PriorityRun, priority_figure, priority_reason, priority_runs
from gaps.services import gaps_set_priorities, priority_ranks
from hedis_portal.formats import significant
from hedis_portal.models import Job
from ratings.models import PortfolioRun
from tests.conftest import query_count
from tests.factories import CareGapFactory, ContractFactory, MemberFactory

BCS = {
    "star": 3,
    "closures_to_next_star": 12,
    "weight": "1",
    "stars_per_closure": 0.004,
    "interventions": ["Phone call", "Mobile mammography"],
}


def test_ranks_follow_the_worklists_order_and_split_the_year_into_hundredths():
    # Highest score first; among equal scores the newest gap (highest id) first, as the worklist lists them.
    assert priority_ranks([1, 2, 3, 4, 5], [0.3, 0.3, 0.1, 0.0, 0.5]) == [41, 21, 61, 81, 1]
    ranks = priority_ranks(list(range(1, 201)), [float(n) for n in range(200, 0, -1)])
    assert ranks[:3] == [1, 1, 2] and ranks[-1] == 100
    assert [ranks.count(rank) for rank in range(1, 101)] == [2] * 100
    assert priority_ranks([], []) == []


@pytest.mark.django_db
def test_a_run_ranks_the_open_gaps_and_the_years_others_lose_their_rank(contract):
    open_gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(3)]
    closed = CareGapFactory(
        member=MemberFactory(contract=contract),
        compliance_status="closed",
        evidence_date="2026-03-01",
        evidence_source="claims",
        priority_score=0.2,
        priority_rank=7,
    )
    other_year = CareGapFactory(
        member=MemberFactory(contract=contract), measurement_year=2025, priority_score=0.9, priority_rank=3
    )
    gaps_set_priorities(
        contract=contract,
        measurement_year=2026,
        gap_ids=[gap.pk for gap in open_gaps],
        priorities=[0.01, 0.03, 0.02],
    )
    stored = dict(CareGap.objects.values_list("pk", "priority_rank"))
    assert [stored[gap.pk] for gap in open_gaps] == [67, 1, 34]
    assert stored[closed.pk] is None and CareGap.objects.get(pk=closed.pk).priority_score == 0
    assert stored[other_year.pk] == 3


def test_a_figure_never_reads_in_scientific_notation():
    values = (6.2e-08, 0.000495314249403784, 0.0000980123, 0.012345, 2.112, 2.0, 1234.5, 100, 0)
    assert [significant(value) for value in values] == [
        "0.000000062",
        "0.000495",
        "0.000098",
        "0.0123",
        "2.11",
        "2",
        "1,230",
        "100",
        "0",
    ]
    assert priority_figure(0.000495314249403784) == "0.000495 ★ per $1,000"
    assert priority_figure(0.0) == "0 ★ per $1,000"


def _run(measures: dict, **facts) -> PriorityRun:
    return PriorityRun(
        run_id=12, name="Q4 plan", created_at=timezone.now(), created_by="analyst", measures=measures, **facts
    )


def test_why_a_gap_ranks_where_it_does():
    run = _run(
        {
            "BCS": BCS,
            "COL": {**BCS, "closures_to_next_star": 1, "interventions": []},
            "CBP": {**BCS, "star": 5, "closures_to_next_star": None, "weight": "3"},
            "KED": {**BCS, "closures_to_next_star": None, "stars_per_closure": 0.0},
        }
    )
    assert priority_reason(run, "BCS", 0.62) == (
        "BCS: 12 closures from 4 ★ · weight 1 · P(close) 62% · worked by Phone call, Mobile mammography"
    )
    assert priority_reason(run, "COL", None) == (
        "COL: 1 closure from 4 ★ · weight 1 · no intervention type works it"
    )
    assert priority_reason(run, "CBP", 0.0003) == (
        "CBP: already at 5 ★ · weight 3 · P(close) <1% · worked by Phone call, Mobile mammography"
    )
    assert priority_reason(run, "KED", 0.5) == (
        "KED: 4 ★ out of reach this year · weight 1 · P(close) 50% · worked by Phone call, Mobile mammography"
        " · moves no star the plan aims at"
    )
    assert priority_reason(run, "EED", 0.5) == ""
    assert priority_reason(None, "BCS", 0.5) == ""
    assert run.label == "optimizer run #12 “Q4 plan”"


def _optimizer_run(contract, year: int, *, at, name: str = "", priorities: bool = True) -> PortfolioRun:
    result = {"interventions": []}
    if priorities:
        result["priorities"] = {"unit_dollars": 1000, "measures": {"BCS": BCS}}
    run = PortfolioRun.objects.create(
        kind=PortfolioRun.Kind.OPTIMIZE,
        name=name,
        contract=contract,
        measurement_year=year,
        parameters={},
        inputs={},
        result=result,
        duration_ms=1.0,
        priorities_set=priorities,
    )
    PortfolioRun.objects.filter(pk=run.pk).update(created_at=at)
    return run


def _import(kind: str, *, at, contract=None, year: int | None = None, status=Job.Status.SUCCEEDED) -> None:
    parameters = {} if year is None else {"measurement_year": year}
    Job.objects.create(kind=kind, contract=contract, parameters=parameters, status=status, finished_at=at)


@pytest.mark.django_db
def test_the_latest_run_of_each_contract_year_and_the_files_imported_since(contract, other_contract):
    now = timezone.now()
    _optimizer_run(contract, 2026, at=now - timedelta(days=3), name="older")
    latest = _optimizer_run(contract, 2026, at=now - timedelta(days=2), name="Q4 plan")
    _optimizer_run(contract, 2026, at=now - timedelta(days=1), priorities=False)  # set no priorities
    other = _optimizer_run(other_contract, 2026, at=now - timedelta(days=2))
    _import("gap_import", at=now - timedelta(days=1), contract=contract, year=2026)
    _import("gap_import", at=now - timedelta(hours=5), contract=contract, year=2026)
    _import("gap_import", at=now - timedelta(days=1), contract=contract, year=2025)  # another year
    _import(
        "gap_import", at=now - timedelta(days=1), contract=other_contract, year=2026, status=Job.Status.FAILED
    )
    _import("gap_import", at=now - timedelta(days=4), contract=contract, year=2026)  # before the run
    _import("predictions_import", at=now - timedelta(hours=1))

    runs = priority_runs([(contract.pk, 2026), (other_contract.pk, 2026), (contract.pk, 2024)])

    assert set(runs) == {(contract.pk, 2026), (other_contract.pk, 2026)}
    mine = runs[contract.pk, 2026]
    assert (mine.run_id, mine.name, mine.measures) == (latest.pk, "Q4 plan", {"BCS": BCS})
    assert mine.newer == ("2 gap files imported since", "1 predictions file imported since")
    assert mine.stale
    theirs = runs[other_contract.pk, 2026]
    assert (theirs.run_id, theirs.newer) == (other.pk, ("1 predictions file imported since",))
    assert priority_runs([]) == {}


@pytest.mark.django_db
def test_reading_the_runs_costs_the_same_queries_however_many_contract_years():
    contracts = [ContractFactory(contract_id=f"H2{n:03d}") for n in range(4)]
    now = timezone.now()
    _optimizer_run(contracts[0], 2026, at=now)
    one = query_count(lambda: priority_runs([(contracts[0].pk, 2026)]))
    for contract in contracts:
        for year in (2025, 2026):
            _optimizer_run(contract, year, at=now)
    pairs = [(contract.pk, year) for contract in contracts for year in (2025, 2026)]
    assert query_count(lambda: priority_runs(pairs)) == one == 3


def _page_text(response) -> str:
    """A page's words, markup removed, spaces collapsed (none inside brackets or before punctuation),
    entities read."""
    assert response.status_code == 200
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))
    return html.unescape(re.sub(r" ([.,;:)])", r"\1", words).replace("( ", "("))


@pytest.mark.django_db
def test_the_worklist_says_which_run_set_its_priorities_and_when_they_went_stale(
    client, care_manager, analyst, contract
):
    gap = CareGapFactory(member=MemberFactory(contract=contract), priority_score=0.0123, priority_rank=1)
    run = _optimizer_run(contract, 2026, at=timezone.now() - timedelta(days=1), name="Q4 plan")
    client.force_login(care_manager)
    page = client.get("/admin/gaps/caregap/")
    text = _page_text(page)
    assert f"Priorities of H1001 · 2026 set {_local(run)} by optimizer run #{run.pk} “Q4 plan”." in text
    assert f'<a href="/admin/star-ratings/runs/{run.pk}/">optimizer run #{run.pk} “Q4 plan”</a>' in (
        page.content.decode()
    )
    assert "Stale" not in text
    assert (
        "Priority rank 1–100 within a contract and year: 1 is its top 1% of open gaps by expected overall"
        " stars gained per $1,000 of outreach." in text
    )
    why = "BCS: 12 closures from 4 ★ · weight 1 · worked by Phone call, Mobile mammography"
    assert f'<span title="0.0123 ★ per $1,000 — {why}">1</span>' in page.content.decode()

    _import("gap_import", at=timezone.now(), contract=contract, year=2026)
    text = _page_text(client.get("/admin/gaps/caregap/"))
    assert (
        "Stale: 1 gap file imported since. A quality analyst re-ranks them by running the optimizer again."
        in text
    )
    client.force_login(analyst)
    page = client.get("/admin/gaps/caregap/").content.decode()
    rerun = '<a href="/admin/star-ratings/H1001/2026/scenarios/">Run the optimizer again</a> to re-rank.'
    assert rerun in page

    CareGap.objects.filter(pk=gap.pk).update(measurement_year=2025)
    text = _page_text(client.get("/admin/gaps/caregap/"))
    assert "The gaps of H1001 · 2025 are not ranked yet: an optimizer run ranks them (Scenarios)." in text


def _local(run: PortfolioRun) -> str:
    run.refresh_from_db()
    return date_format(timezone.localtime(run.created_at), "M j, Y H:i")


@pytest.mark.django_db
def test_the_api_gives_each_gap_its_priority_and_rank(api, care_manager, contract):
    ranked = CareGapFactory(member=MemberFactory(contract=contract), priority_score=0.0123, priority_rank=1)
    unranked = CareGapFactory(member=MemberFactory(contract=contract))
    rows = api(care_manager).get("/api/gaps/").json()["results"]
    assert [(row["id"], row["priority_score"], row["priority_rank"]) for row in rows] == [
        (ranked.pk, 0.0123, 1),
        (unranked.pk, 0.0, None),
    ]

"""`load_demo_data`: idempotent, one user per role, a care manager sees one contract, realistic rates,
and the story the console tells: H9001 comfortably at 4 stars, H9002 on the edge until a $25,000
plan moves it, two earlier measurement years of snapshots, member IDs to search for.

Loading the demo plan takes seconds, so the checks on one loaded plan share a test.
"""

import re

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count, F, Q
from django.utils import timezone

from gaps.models import CareGap
from hedis_portal import roles
from interventions.models import Intervention
from members.models import Contract, Member
from members.selectors import member_get_by_raw_id
from predictions.models import Prediction
from ratings.live.rating import contract_live_rating
from ratings.live.services import portfolio_snapshot_create
from ratings.models import ContractMeasureScore, PortfolioRun, PortfolioSnapshot
from ratings.planning.services import optimizer_run_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


MODELS = (Contract, Member, User, CareGap, Prediction, Intervention, PortfolioRun, PortfolioSnapshot)


def _counts():
    return [model.objects.count() for model in (*MODELS, ContractMeasureScore)]


def _printed_member_ids(out: str) -> dict[str, list[str]]:
    """The member IDs the command printed after "Demo member IDs", by contract."""
    found = re.findall(r"^  (H\d{4}): (.+)$", out.split("Demo member IDs")[1], re.MULTILINE)
    return {contract_id: ids.split(", ") for contract_id, ids in found}


def test_demo_data_loads_once_and_a_second_run_adds_nothing(capsys):
    call_command("load_demo_data")
    first = capsys.readouterr().out
    counts = _counts()
    call_command("load_demo_data")
    second = capsys.readouterr().out

    assert counts[:3] == [2, 5000, 4]
    assert counts[3] > 10_000 and counts[4] > 1000 and 200 <= counts[5] <= 400
    # One forecast and one optimizer run (which ranks the worklist) per contract; per contract 4
    # quarter ends in each earlier year, this year's quarter ends so far and one now.
    this_year = len(
        [day for day in ("03-31", "06-30", "09-30", "12-31") if f"2026-{day}" < str(timezone.localdate())]
    )
    assert counts[6:8] == [2 + 2, 2 * (4 + 4 + this_year + 1)]
    assert _counts() == counts
    assert "passwords shown only this once" in first
    assert "passwords shown only this once" not in second
    assert "forecasts: 2; optimizer runs: 2; snapshots: " in first
    assert "forecasts: 0; optimizer runs: 0; snapshots: 0" in second
    # The member IDs to search for are printed every time, the same ones.
    assert _printed_member_ids(first) == _printed_member_ids(second)


def test_demo_plan(capsys, client, api):
    call_command("load_demo_data")
    users = capsys.readouterr().out.split("Demo member IDs")[0]
    lines = [line.split() for line in users.splitlines() if line.startswith("  ")]
    passwords = {fields[0]: fields[1] for fields in lines}

    # One user per role, and the printed passwords work.
    assert set(passwords) == {"care.manager", "care.lead", "quality.analyst", "administrator"}
    for username, role in [
        ("care.manager", roles.CARE_MANAGER),
        ("care.lead", roles.CARE_MANAGER_LEAD),
        ("quality.analyst", roles.QUALITY_ANALYST),
        ("administrator", roles.ADMINISTRATOR),
    ]:
        user = User.objects.get(username=username)
        assert [g.name for g in user.groups.all()] == [role]
        assert client.login(username=username, password=passwords[username])

    # The care manager sees only H9001.
    care_manager = User.objects.get(username="care.manager")
    response = api(care_manager).get("/api/contracts/")
    assert [c["contract_id"] for c in response.json()["results"]] == ["H9001"]
    members = api(care_manager).get("/api/members/?page_size=500").json()["results"]
    assert {m["contract"] for m in members} == {"H9001"}

    # Bulk creation is audited per batch.
    batches = LogEntry.objects.filter(object_pk="batch", object_repr__startswith="Demo members")
    assert sorted((e.object_repr, e.additional_data["batch"]["count"]) for e in batches) == [
        ("Demo members for H9001", 3000),
        ("Demo members for H9002", 2000),
    ]

    # At least ten member-level measures, rates around the cut points, every open gap predicted.
    rates = CareGap.objects.values("contract__contract_id", "measure__code").annotate(
        denominator=Count("id", filter=~Q(compliance_status="excluded")),
        closed=Count("id", filter=Q(compliance_status="closed")),
    )
    assert len({r["measure__code"] for r in rates}) >= 10
    assert all(0.45 < r["closed"] / r["denominator"] < 0.97 for r in rates)
    assert {"H9001", "H9002"} == {r["contract__contract_id"] for r in rates}
    assert CareGap.objects.filter(compliance_status="open", current_prediction__isnull=True).count() == 0
    # Each gap carries its current prediction's tier, and a gap without one none.
    pointed = CareGap.objects.filter(current_prediction__isnull=False)
    assert pointed.exclude(risk_tier=F("current_prediction__risk_tier")).count() == 0
    assert CareGap.objects.filter(current_prediction__isnull=True, risk_tier__isnull=False).count() == 0
    assert {"low", "medium", "high"} == set(pointed.values_list("risk_tier", flat=True))

    # The national benchmark and contract-level scores make the live ratings complete.
    for contract_id in ("H9001", "H9002"):
        live = contract_live_rating(
            contract=Contract.objects.get(contract_id=contract_id), measurement_year=2026
        )
        assert live.ratings.overall.rating is not None


def test_demo_tells_the_star_ratings_story(capsys):
    call_command("load_demo_data")
    printed = _printed_member_ids(capsys.readouterr().out)
    analyst = User.objects.get(username="quality.analyst")
    h9001, h9002 = (Contract.objects.get(contract_id=c) for c in ("H9001", "H9002"))

    # Today: H9001 projects 4 stars or more, H9002 3.5.
    live = {c.contract_id: contract_live_rating(contract=c, measurement_year=2026) for c in (h9001, h9002)}
    assert live["H9001"].ratings.overall.rating >= 4
    assert live["H9002"].ratings.overall.rating == 3.5

    # The year-end forecast, stored by the load: H9001 safely at 4+, H9002 on the edge.
    forecasts = {
        run.contract.contract_id: run.result
        for run in PortfolioRun.objects.filter(kind=PortfolioRun.Kind.FORECAST, measurement_year=2026)
    }
    assert forecasts["H9001"]["p_overall_at_least_4"] >= 0.9
    assert 0.2 <= forecasts["H9002"]["p_overall_at_least_4"] <= 0.6
    assert forecasts["H9002"]["expected_overall"] < 4

    # $25,000 of outreach moves H9002 visibly.
    plan = optimizer_run_create(
        contract=h9002, measurement_year=2026, user=analyst, budget=25_000, draws=2_000
    ).result
    assert plan["total_cost"] <= 25_000
    assert plan["p_overall_at_least_4_after"] >= plan["p_overall_at_least_4_before"] + 0.2
    assert plan["expected_overall_after"] > plan["expected_overall_before"] + 0.1

    # Snapshots: MY 2024 and 2025 (star years 2026 and 2027) quarter by quarter, and MY 2026 so far.
    for contract in (h9001, h9002):
        snapshots = list(PortfolioSnapshot.objects.filter(contract=contract).order_by("taken_at"))
        years = [(s.measurement_year, s.star_year) for s in snapshots]
        assert years[:8] == [(2024, 2026)] * 4 + [(2025, 2027)] * 4
        assert set(years[8:]) == {(2026, 2028)}
        assert [s.taken_at.strftime("%m-%d") for s in snapshots[:8]] == [
            "03-31",
            "06-30",
            "09-30",
            "12-31",
        ] * 2
        # Written in the shape the snapshot service writes, every one rated overall.
        shape = portfolio_snapshot_create(contract=contract, measurement_year=2026).data
        assert all(set(s.data) == set(shape) for s in snapshots)
        assert all(
            [m["measure"] for m in s.data["measures"]] == [m["measure"] for m in shape["measures"]]
            for s in snapshots
        )
        assert all(s.data["overall"]["rating"] is not None for s in snapshots)
        # The latest quotes the forecast; the rates build up over each year and year on year.
        assert (
            snapshots[-1].data["projection"]["p_overall_at_least_4"]
            == forecasts[contract.contract_id]["p_overall_at_least_4"]
        )
        cbp = [next(m["rate"] for m in s.data["measures"] if m["measure"] == "CBP") for s in snapshots]
        assert cbp[0] < cbp[1] < cbp[2] < cbp[3] and cbp[4] < cbp[5] < cbp[6] < cbp[7]
        today = next(m for m in live[contract.contract_id].as_dict()["measures"] if m["measure"] == "CBP")
        assert cbp[-1] == today["rate"]
    year_end = {
        (s.contract.contract_id, s.measurement_year): s.data["overall"]["rating"]
        for s in PortfolioSnapshot.objects.filter(taken_at__month=12, taken_at__day=31)
    }
    assert year_end[("H9001", 2024)] >= 4 and year_end[("H9001", 2025)] >= 4
    assert year_end[("H9002", 2024)] == year_end[("H9002", 2025)] == 3.5

    # The printed member IDs are made up, find their members in the search, and have open gaps.
    assert {contract_id: len(ids) for contract_id, ids in printed.items()} == {"H9001": 3, "H9002": 2}
    for contract_id, raw_ids in printed.items():
        for raw_id in raw_ids:
            assert re.fullmatch(rf"DEMO-{contract_id}-\d{{6}}", raw_id)
            member = member_get_by_raw_id(user=analyst, raw_member_id=raw_id.lower())
            assert member.contract.contract_id == contract_id
            assert member.gaps.filter(measurement_year=2026, compliance_status="open").count() >= 2

"""Portfolio snapshots: what they hold, immutability, audit, the command, JSON queries."""

import io

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection

import ratings.jobs
from ratings.live.services import portfolio_snapshot_create
from ratings.models import PortfolioSnapshot, SnapshotImmutable
from tests.conftest import finished_job
from tests.factories import CareGapFactory, ContractFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gaps(contract):
    """BCS for MY2026: 3 closed (one LIS/DE member), 1 open (LIS/DE), 1 excluded."""
    for lis_de in (True, False, False):
        CareGapFactory(
            member=MemberFactory(contract=contract, lis_de=lis_de),
            compliance_status="closed",
            evidence_date="2026-04-01",
            evidence_source="claims",
        )
    CareGapFactory(member=MemberFactory(contract=contract, lis_de=True))
    CareGapFactory(
        member=MemberFactory(contract=contract), compliance_status="excluded", exclusion_reason="Hospice"
    )


def test_a_snapshot_holds_the_portfolio_figures(cut_points_2026, contract, gaps, analyst):
    snapshot = portfolio_snapshot_create(contract=contract, measurement_year=2026, taken_by=analyst)
    assert (snapshot.star_year, snapshot.taken_by, snapshot.data["contract"]) == (2028, analyst, "H1001")
    bcs = next(m for m in snapshot.data["measures"] if m["measure"] == "BCS")
    # 3 of 4 eligible = 75% → 3 stars (71 to 76); 4 stars at 76 needs 75.5%: 1 more of 4 → 100%.
    assert {k: bcs[k] for k in ("denominator", "closed", "open", "excluded", "rate", "star")} == {
        "denominator": 5,
        "closed": 3,
        "open": 1,
        "excluded": 1,
        "rate": 75.0,
        "star": 3,
    }
    assert (
        bcs["members_to_next_cut_point"],
        bcs["strata"]["lis_de"]["rate"],
        bcs["strata"]["lis_de_gap"],
    ) == (
        1,
        50.0,
        -50.0,
    )
    assert set(snapshot.data["overall"]) >= {
        "rating",
        "status",
        "with_improvement",
        "without_improvement",
        "path",
    }
    snapshot.refresh_from_db()
    assert snapshot.data["measures"][0]["cms_id"] == "C01"  # the stored JSON reads back whole


def test_snapshots_are_immutable(contract):
    snapshot = PortfolioSnapshot.objects.create(
        contract=contract, measurement_year=2026, star_year=2028, data={"overall": {"rating": 3.5}}
    )
    snapshot.data = {"overall": {"rating": 5}}
    with pytest.raises(SnapshotImmutable):
        snapshot.save()
    with pytest.raises(SnapshotImmutable):
        snapshot.delete()
    with pytest.raises(SnapshotImmutable):
        PortfolioSnapshot.objects.filter(pk=snapshot.pk).update(star_year=2029)
    with pytest.raises(SnapshotImmutable):
        PortfolioSnapshot.objects.all().delete()
    assert PortfolioSnapshot.objects.get(pk=snapshot.pk).data == {"overall": {"rating": 3.5}}


def test_taking_a_snapshot_is_audited_with_the_actor_and_the_job(api, analyst, cut_points_2026, run_jobs):
    client = api(analyst)
    with run_jobs():
        started = client.post("/api/snapshots/take/", {"contract": "H1001", "measurement_year": 2026})
    job = finished_job(client, started)
    assert (job["kind"], job["status"]) == ("snapshot", "succeeded")
    snapshot = PortfolioSnapshot.objects.get(pk=job["result"]["snapshot"])
    entry = LogEntry.objects.get_for_object(snapshot).get()
    # The job ran outside any request: its user is the actor, its ID the correlation ID.
    assert (entry.action, entry.actor, entry.cid) == (LogEntry.Action.CREATE, analyst, job["id"])
    assert "data" not in entry.changes and "measurement_year" in entry.changes


def test_the_command_snapshots_every_contract_or_one(cut_points_2026, contract, other_contract, gaps):
    out = io.StringIO()
    call_command("snapshot_portfolio", "--measurement-year", "2026", stdout=out)
    assert "2 portfolio snapshots taken for measurement year 2026." in out.getvalue()
    assert "H1001 MY2026: snapshot #" in out.getvalue()
    call_command(
        "snapshot_portfolio", "--contract", "h1002", "--measurement-year", "2026", stdout=io.StringIO()
    )
    assert list(
        PortfolioSnapshot.objects.order_by("id").values_list("contract__contract_id", "taken_by")
    ) == [
        ("H1001", None),
        ("H1002", None),
        ("H1002", None),
    ]
    with pytest.raises(CommandError, match="No contract 'H9999'"):
        call_command("snapshot_portfolio", "--contract", "H9999")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="JSONB queries are checked on PostgreSQL")
def test_snapshots_are_filtered_by_a_value_inside_the_jsonb_document(contract):
    other = ContractFactory(contract_id="H1003")
    for owner, rating in ((contract, 3.5), (contract, 4.0), (other, 4.5), (contract, None)):
        PortfolioSnapshot.objects.create(
            contract=owner,
            measurement_year=2026,
            star_year=2028,
            data={"overall": {"rating": rating}, "measures": [{"measure": "BCS", "star": 3}]},
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'ratings_portfoliosnapshot' AND column_name = 'data'"
        )
        assert cursor.fetchone() == ("jsonb",)
    at_least_four = PortfolioSnapshot.objects.filter(data__overall__rating__gte=4)
    assert sorted(s.data["overall"]["rating"] for s in at_least_four) == [4.0, 4.5]
    assert at_least_four.filter(contract=contract).count() == 1
    assert PortfolioSnapshot.objects.filter(data__measures__contains=[{"measure": "BCS"}]).count() == 4


def test_one_job_snapshots_every_contract_of_its_user_all_or_none(
    api,
    administrator,
    analyst,
    care_manager,
    cut_points_2026,
    contract,
    other_contract,
    gaps,
    run_jobs,
    monkeypatch,
):
    client = api(administrator)
    with run_jobs():
        started = client.post("/api/snapshots/take-all/", {"measurement_year": 2026})
    job = finished_job(client, started)
    assert (job["kind"], job["contract"], job["status"], job["progress"]) == (
        "snapshot_all",
        None,
        "succeeded",
        1.0,
    )
    taken = PortfolioSnapshot.objects.filter(pk__in=job["result"]["snapshots"])
    assert sorted(taken.values_list("contract__contract_id", "taken_by__username")) == [
        ("H1001", "admin"),
        ("H1002", "admin"),
    ]
    # A contract-less job is its creator's to see.
    assert api(analyst).get(started["Location"]).status_code == 404
    assert api(care_manager).post("/api/snapshots/take-all/", {"measurement_year": 2026}).status_code == 403

    calls = []

    def second_fails(**kwargs):
        calls.append(kwargs["contract"].contract_id)
        if len(calls) == 2:
            raise RuntimeError("the second contract cannot be rated")
        return portfolio_snapshot_create(**kwargs)

    monkeypatch.setattr(ratings.jobs, "portfolio_snapshot_create", second_fails)
    with run_jobs():
        started = client.post("/api/snapshots/take-all/", {"measurement_year": 2026})
    assert finished_job(client, started)["status"] == "failed"
    assert calls == ["H1001", "H1002"]
    assert PortfolioSnapshot.objects.count() == 2  # the first job's, none of the failed one's

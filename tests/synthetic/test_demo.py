"""`load_demo_data`: idempotent, one user per role, a care manager sees one contract, realistic rates.

Loading the demo plan takes seconds, so the checks on one loaded plan share a test.
"""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count, Q

from gaps.models import CareGap
from hedis_portal import roles
from interventions.models import Intervention
from members.models import Contract, Member
from predictions.models import Prediction
from ratings.live.rating import contract_live_rating

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _counts():
    return [model.objects.count() for model in (Contract, Member, User, CareGap, Prediction, Intervention)]


def test_demo_data_loads_once_and_a_second_run_adds_nothing(capsys):
    call_command("load_demo_data")
    first = capsys.readouterr().out
    counts = _counts()
    call_command("load_demo_data")
    second = capsys.readouterr().out

    assert counts[:3] == [2, 5000, 3]
    assert counts[3] > 10_000 and counts[4] > 1000 and 200 <= counts[5] <= 400
    assert _counts() == counts
    assert "passwords shown only this once" in first
    assert "passwords shown only this once" not in second


def test_demo_plan(capsys, client, api):
    call_command("load_demo_data")
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    passwords = {fields[0]: fields[1] for fields in lines}

    # One user per role, and the printed passwords work.
    assert set(passwords) == {"care.manager", "quality.analyst", "administrator"}
    for username, role in [
        ("care.manager", roles.CARE_MANAGER),
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

    # The national benchmark and contract-level scores make the live ratings complete.
    for contract_id in ("H9001", "H9002"):
        live = contract_live_rating(
            contract=Contract.objects.get(contract_id=contract_id), measurement_year=2026
        )
        assert live.ratings.overall.rating is not None

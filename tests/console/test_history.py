"""Member history: one page with all of a member's gaps, predictions and interventions."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Prefetch
from rest_framework.renderers import JSONRenderer

from console.api import MemberHistorySerializer
from gaps.models import CareGap
from gaps.selectors import worklist_for
from interventions.models import Intervention, InterventionGap
from interventions.selectors import interventions_for
from members.selectors import members_for
from predictions.models import Prediction
from predictions.selectors import predictions_for
from tests.conftest import query_count
from tests.factories import CareGapFactory, InterventionFactory, MemberFactory, PredictionFactory, measure

pytestmark = pytest.mark.django_db


def _history(member, size: int):
    codes = ["BCS", "COL", "CBP", "EED", "KED", "GSD", "SPC", "TRC"][:size]
    for code in codes:
        gap = CareGapFactory(member=member, measure=measure(code))
        PredictionFactory(member=member, measure=measure(code))
        intervention = InterventionFactory(member=member)
        InterventionGap.objects.create(intervention=intervention, gap=gap)


def test_member_detail_carries_the_whole_history(api, care_manager, contract):
    member = MemberFactory(contract=contract)
    _history(member, 2)
    body = api(care_manager).get(f"/api/members/{member.pk}/").json()
    assert sorted(g["measure"] for g in body["gaps"]) == ["BCS", "COL"]
    assert sorted(p["measure"] for p in body["predictions"]) == ["BCS", "COL"]
    assert len(body["interventions"]) == 2


def test_member_history_is_what_the_history_serializer_says(api, care_manager, contract):
    member = MemberFactory(contract=contract)
    _history(member, 3)
    Prediction.objects.filter(member=member).update(top_features=[{"feature": "visits", "weight": 0.25}])
    CareGap.objects.filter(member=member, measure=measure("COL")).update(
        assignee=care_manager, last_outreach_at="2026-05-06T07:08:09.123456Z", priority_score=0.5
    )
    approved = InterventionGap.objects.get(gap__member=member, gap__measure=measure("BCS")).intervention
    Intervention.objects.filter(pk=approved.pk).update(
        status="approved", cost=Decimal("12.5"), approved_by=care_manager, approved_at="2026-04-01T00:00Z"
    )
    InterventionGap.objects.filter(intervention=approved).update(outcome="closed")
    InterventionGap.objects.create(
        intervention=approved, gap=CareGap.objects.get(member=member, measure=measure("CBP"))
    )
    body = api(care_manager).get(f"/api/members/{member.pk}/").json()
    stored = members_for(care_manager).prefetch_related(
        Prefetch("gaps", queryset=worklist_for(care_manager).order_by("measure__code", "-measurement_year")),
        Prefetch("predictions", queryset=predictions_for(care_manager).order_by("-predicted_at", "-id")),
        Prefetch("interventions", queryset=interventions_for(care_manager).order_by("-created_at", "-id")),
    )
    expected = json.loads(JSONRenderer().render(MemberHistorySerializer(stored.get(pk=member.pk)).data))
    assert body == expected
    assert [g["measure"] for g in body["gaps"]] == ["BCS", "CBP", "COL"]
    assert body["gaps"][2]["assignee_username"] == "cm"
    assert body["predictions"][0]["top_features"] == [{"feature": "visits", "weight": 0.25}]
    shown = next(i for i in body["interventions"] if i["id"] == approved.pk)
    assert (shown["cost"], shown["approved_by"], len(shown["gaps"])) == ("12.50", "cm", 2)


def test_member_history_query_count_does_not_grow_with_history(api, care_manager, contract):
    client = api(care_manager)
    small, large = MemberFactory(contract=contract), MemberFactory(contract=contract)
    _history(small, 1)
    _history(large, 8)
    assert query_count(lambda: client.get(f"/api/members/{large.pk}/")) == query_count(
        lambda: client.get(f"/api/members/{small.pk}/")
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_history_reads_become_prepared_statements_on_postgresql(api, care_manager, contract):
    client = api(care_manager)
    member = MemberFactory(contract=contract)
    _history(member, 2)
    for _ in range(6):  # past DB_PREPARE_THRESHOLD (5)
        assert client.get(f"/api/members/{member.pk}/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any('FROM "gaps_caregap"' in s and '"gaps_caregap"."member_id" = $' in s for s in prepared)


def test_colleague_cannot_read_the_history(api, colleague, contract):
    member = MemberFactory(contract=contract)
    _history(member, 1)
    assert api(colleague).get(f"/api/members/{member.pk}/").status_code == 404


def test_admin_member_page_shows_the_history_in_constant_queries(client, care_manager, contract):
    client.force_login(care_manager)
    small, large = MemberFactory(contract=contract), MemberFactory(contract=contract)
    _history(small, 1)
    _history(large, 8)
    page = client.get(f"/admin/members/member/{large.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    assert "Care gaps" in content and "Predictions" in content and "Interventions" in content
    assert query_count(lambda: client.get(f"/admin/members/member/{large.pk}/change/")) == query_count(
        lambda: client.get(f"/admin/members/member/{small.pk}/change/")
    )

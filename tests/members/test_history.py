"""Member history: one page with all of a member's gaps, predictions and interventions."""

import pytest

from interventions.models import InterventionGap
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


def test_member_history_query_count_does_not_grow_with_history(api, care_manager, contract):
    client = api(care_manager)
    small, large = MemberFactory(contract=contract), MemberFactory(contract=contract)
    _history(small, 1)
    _history(large, 8)
    assert query_count(lambda: client.get(f"/api/members/{large.pk}/")) == query_count(
        lambda: client.get(f"/api/members/{small.pk}/")
    )


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

"""gaps/0007: gaps that existed before the tier moved onto the gap get their current prediction's."""

import pytest

from gaps.models import CareGap
from tests.factories import MemberFactory, PredictionFactory, measure
from tests.migrations import migrated_back_to

BEFORE = [("gaps", "0006_worklist_state_and_id_orderings")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_each_gaps_current_tier_and_leaves_gaps_without_one_empty():
    tiers = {}
    with migrated_back_to(BEFORE) as old_apps:
        OldCareGap = old_apps.get_model("gaps", "CareGap")
        member = MemberFactory()
        for code, tier in (("BCS", "high"), ("COL", "low"), ("CBP", None)):
            prediction = tier and PredictionFactory(member=member, measure=measure(code), risk_tier=tier)
            gap = OldCareGap.objects.create(
                member_id=member.pk,
                contract_id=member.contract_id,
                measure_id=measure(code).pk,
                measurement_year=2026,
                current_prediction_id=prediction and prediction.pk,
            )
            tiers[gap.pk] = tier

    assert dict(CareGap.objects.values_list("pk", "risk_tier")) == tiers

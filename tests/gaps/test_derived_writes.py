"""The write rule stated in `gaps/services.py`: what bumps `version` and what is audited."""

from datetime import UTC, datetime

import pytest
from auditlog.models import LogEntry
from django.db import connection

from gaps.models import CareGap, GapRemark, RemarkCode
from gaps.services import gaps_copy_in, gaps_delete_for_contract, gaps_set_priorities, gaps_stamp_outreach
from ratings.models import Measure
from tests.factories import CareGapFactory, MemberFactory


def test_setting_priorities_neither_bumps_the_version_nor_audits(db):
    member = MemberFactory()
    gaps = CareGapFactory.create_batch(2, member__contract=member.contract)
    entries = LogEntry.objects.count()

    changed = gaps_set_priorities(
        contract=member.contract, measurement_year=2026, gap_ids=[g.pk for g in gaps], priorities=[0.5, 1.5]
    )

    assert changed == 2
    assert sorted(CareGap.objects.values_list("priority_score", "priority_rank", "version")) == [
        (0.5, 51, 1),
        (1.5, 1, 1),
    ]
    assert LogEntry.objects.count() == entries


def test_stamping_outreach_bumps_the_version_with_one_batch_entry(db):
    gaps = CareGapFactory.create_batch(3)
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    entries = LogEntry.objects.count()

    stamped = gaps_stamp_outreach(
        gaps=CareGap.objects.filter(pk__in=[g.pk for g in gaps[:2]]), at=at, details={"intervention_ids": [7]}
    )

    assert stamped == 2
    assert sorted(CareGap.objects.values_list("version", flat=True)) == [1, 2, 2]
    assert CareGap.objects.filter(last_outreach_at=at).count() == 2
    assert LogEntry.objects.count() == entries + 1
    entry = LogEntry.objects.latest("pk")
    assert (entry.object_pk, entry.action) == ("batch", LogEntry.Action.UPDATE)
    assert entry.additional_data["batch"] == {
        "count": 2,
        "field": "last_outreach_at",
        "intervention_ids": [7],
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copying_gaps_in_and_deleting_a_contracts_gaps_write_one_batch_entry_each(db, contract):
    member, measure = MemberFactory(contract=contract), Measure.objects.get(code="BCS")
    kept = CareGapFactory()
    remarked = CareGapFactory(member=member)
    GapRemark.objects.create(gap=remarked, code=RemarkCode.OTHER, note="")
    now = datetime(2026, 3, 1, tzinfo=UTC).isoformat()
    columns = [
        "member_id",
        "contract_id",
        "measure_id",
        "measurement_year",
        "compliance_status",
        "status_reason",
        "exclusion_reason",
        "evidence_source",
        "workflow_state",
        "priority_score",
        "version",
        "created_at",
        "updated_at",
    ]
    rows = [
        (member.pk, contract.pk, measure.pk, year, "open", "", "", "", "new", 0.0, 1, now, now)
        for year in (2024, 2025)
    ]

    with connection.cursor() as cursor:
        copied = gaps_copy_in(cursor=cursor, columns=columns, rows=rows, summary="2 gaps", details={})
    assert copied == 2
    assert CareGap.objects.filter(contract=contract).count() == 3
    assert list(CareGap.objects.filter(measurement_year=2024).values_list("version", "workflow_state")) == [
        (1, "new")
    ]

    with connection.cursor() as cursor:
        deleted = gaps_delete_for_contract(cursor=cursor, contract_id=contract.pk, summary="dropped")
    assert deleted == 3
    assert list(CareGap.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not GapRemark.objects.exists()
    batches = LogEntry.objects.filter(object_pk="batch", content_type__model="caregap").order_by("pk")
    assert [(e.action, e.additional_data["batch"]["count"]) for e in batches] == [
        (LogEntry.Action.CREATE, 2),
        (LogEntry.Action.DELETE, 3),
    ]

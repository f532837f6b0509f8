"""The write rule stated in `gaps/services.py`: what bumps `version` and what is audited."""

from datetime import UTC, datetime

from auditlog.models import LogEntry

from gaps.models import CareGap
from gaps.services import gaps_set_priorities, gaps_stamp_outreach
from tests.factories import CareGapFactory


def test_setting_priorities_neither_bumps_the_version_nor_audits(db):
    gaps = CareGapFactory.create_batch(2)
    entries = LogEntry.objects.count()

    changed = gaps_set_priorities(gap_ids=[g.pk for g in gaps], priorities=[0.5, 1.5])

    assert changed == 2
    assert sorted(CareGap.objects.values_list("priority_score", "version")) == [(0.5, 1), (1.5, 1)]
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

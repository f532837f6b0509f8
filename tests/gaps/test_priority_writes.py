"""How an optimizer run's priorities are written: exactly as scored, only where they changed, only on
the contract's open gaps of the year, in a number of queries that does not grow with the gaps."""

import pytest
from django.db import connection

from gaps.models import CareGap
from gaps.services import gaps_set_priorities
from tests.conftest import query_count
from tests.factories import CareGapFactory, MemberFactory

pytestmark = pytest.mark.django_db

# Floats whose shortest decimal form is long or in exponent notation: each must come back exact.
AWKWARD = [1 / 3, 0.1 + 0.2, 1e-17, 2.5e-08, 123456.789, 0.0]


def _open_gaps(contract, count: int) -> list[CareGap]:
    return [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(count)]


def _stored(gaps) -> dict[int, tuple[float, int]]:
    return dict(
        (pk, (score, rank))
        for pk, score, rank in CareGap.objects.filter(pk__in=[g.pk for g in gaps]).values_list(
            "pk", "priority_score", "priority_rank"
        )
    )


def _row_versions(gaps) -> dict[int, str]:
    """PostgreSQL: each gap's physical row version; an UPDATE moves it even when no value changes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, ctid::text FROM gaps_caregap WHERE id = ANY(%s)", [[g.pk for g in gaps]])
        return dict(cursor.fetchall())


def test_priorities_are_stored_exactly_as_scored(contract):
    gaps = _open_gaps(contract, len(AWKWARD))

    gaps_set_priorities(
        contract=contract, measurement_year=2026, gap_ids=[g.pk for g in gaps], priorities=AWKWARD
    )

    assert [_stored(gaps)[g.pk][0] for g in gaps] == AWKWARD


def test_a_second_run_with_the_same_priorities_writes_nothing(contract):
    gaps = _open_gaps(contract, len(AWKWARD))
    ids = [g.pk for g in gaps]
    assert gaps_set_priorities(contract=contract, measurement_year=2026, gap_ids=ids, priorities=AWKWARD) == 6
    before = _stored(gaps)
    versions = _row_versions(gaps) if connection.vendor == "postgresql" else None

    written = gaps_set_priorities(contract=contract, measurement_year=2026, gap_ids=ids, priorities=AWKWARD)

    assert written == 0
    assert _stored(gaps) == before
    if versions is not None:
        assert _row_versions(gaps) == versions


def test_only_the_gaps_whose_priority_or_rank_changed_are_written(contract):
    gaps = _open_gaps(contract, 4)
    ids = [g.pk for g in gaps]
    gaps_set_priorities(
        contract=contract, measurement_year=2026, gap_ids=ids, priorities=[0.4, 0.3, 0.2, 0.1]
    )
    versions = _row_versions(gaps) if connection.vendor == "postgresql" else None

    # The first gap's score changes but not its rank; the last two swap ranks; the second is as it was.
    written = gaps_set_priorities(
        contract=contract, measurement_year=2026, gap_ids=ids, priorities=[0.45, 0.3, 0.1, 0.2]
    )

    assert written == 3
    assert _stored(gaps) == {ids[0]: (0.45, 1), ids[1]: (0.3, 26), ids[2]: (0.1, 76), ids[3]: (0.2, 51)}
    if versions is not None:
        after = _row_versions(gaps)
        assert [after[pk] == versions[pk] for pk in ids] == [False, True, False, False]


def test_a_gap_of_another_contract_or_closed_since_the_run_is_not_written(contract, other_contract):
    mine = _open_gaps(contract, 2)
    theirs = CareGapFactory(
        member=MemberFactory(contract=other_contract), priority_score=0.7, priority_rank=4
    )
    closed = CareGapFactory(
        member=MemberFactory(contract=contract),
        compliance_status="closed",
        evidence_date="2026-03-01",
        evidence_source="claims",
    )

    written = gaps_set_priorities(
        contract=contract,
        measurement_year=2026,
        gap_ids=[mine[0].pk, mine[1].pk, theirs.pk, closed.pk],
        priorities=[0.1, 0.2, 0.9, 0.9],
    )

    assert written == 2
    assert _stored([theirs, closed]) == {theirs.pk: (0.7, 4), closed.pk: (0.0, None)}


def test_the_queries_do_not_grow_with_the_gaps(contract, other_contract):
    few, many = _open_gaps(contract, 3), _open_gaps(other_contract, 30)

    def write(gaps):
        return lambda: gaps_set_priorities(
            contract=gaps[0].contract,
            measurement_year=2026,
            gap_ids=[g.pk for g in gaps],
            priorities=[float(n) for n in range(len(gaps))],
        )

    assert query_count(write(few)) == query_count(write(many))
    assert query_count(write(few)) == query_count(write(many))

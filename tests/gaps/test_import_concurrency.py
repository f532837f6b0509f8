"""Imports for one contract run one at a time: two conflicting files sent together both import,
neither fails on the other's new members, and the contract ends as the file applied last says.

PostgreSQL serializes them with an advisory lock per contract (`hedis_portal.locks`); SQLite's
write transactions hold the whole database, so there is nothing to race there.
"""

import threading

import pytest
from django.db import connection, connections, transaction

from gaps.models import CareGap
from hedis_portal.locks import IMPORTS, contract_lock
from members.models import Member
from tests.gaps.test_import import gap_file, run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's"),
]

MEMBERS = [f"NEW-{number:04d}" for number in range(200)]


REASONS = {"open": "", "excluded": "Hospice"}


def _file(status: str) -> bytes:
    """Every member new to the portal, each with a BCS gap in `status`."""
    return gap_file(*(f"{member},BCS,{status},{REASONS[status]},,,1956,F," for member in MEMBERS))


def test_two_conflicting_imports_at_once_both_apply_in_turn_and_the_last_one_wins(contract):
    outcomes: dict[str, object] = {}

    def send(status: str) -> None:
        try:
            outcomes[status] = run(_file(status), contract)
        except Exception as exc:  # recorded, so the assertion below names it
            outcomes[status] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(status,)) for status in REASONS]
    # An import already running holds the contract's lock: both files wait for it together.
    with transaction.atomic():
        contract_lock(IMPORTS, [contract.pk])
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1.0)
        assert all(thread.is_alive() for thread in threads), outcomes
    for thread in threads:
        thread.join(timeout=60)

    assert not any(isinstance(outcome, Exception) for outcome in outcomes.values()), outcomes
    # In turn: the first created every member and gap, the second found them and changed each gap.
    first, second = sorted(outcomes, key=lambda status: outcomes[status].gaps_created, reverse=True)
    assert (outcomes[first].members_created, outcomes[first].gaps_created) == (len(MEMBERS), len(MEMBERS))
    assert (
        outcomes[second].members_created,
        outcomes[second].gaps_created,
        outcomes[second].gaps_updated,
    ) == (0, 0, len(MEMBERS))
    assert Member.objects.filter(contract=contract).count() == len(MEMBERS)
    assert set(CareGap.objects.filter(contract=contract).values_list("compliance_status", flat=True)) == {
        second
    }

"""Scenario 1: concurrent version conflicts on single-gap writes.

Sixteen clients assign the same gap at once, all carrying the version they read: optimistic
concurrency must accept exactly one (200, the version bumped) and refuse the others (409), round
after round, with the gap holding the accepted write and one audit entry per accepted write.
"""

import functools
from collections import Counter

import pytest

from chaos.http import Client, Recorder, figures, run_together, slowest, statuses

GAPS = 4
WRITERS_PER_GAP = 16
ROUNDS = 3


@pytest.mark.budget(90)
def test_sixteen_writers_per_gap_get_exactly_one_200_per_version_and_no_lost_update(stack, database, tokens):
    gaps = database.claim_gaps(GAPS, contract="H9001")
    gap_ids = [gap["id"] for gap in gaps]
    users = database.user_ids()
    # Each writer assigns someone else, so the gap shows whose write was accepted.
    assignees = [users["care.manager"], users["quality.analyst"], users["administrator"], None]
    writers = ["care.manager", "administrator"]
    recorder = Recorder()
    audited_before = database.audited_versions(gap_ids)
    versions_before = dict(database.rows("SELECT id, version FROM gaps_caregap WHERE id = ANY(%s)", gap_ids))
    per_round = []

    def attempt(gap_id: int, writer: int, version: int):
        client = Client(stack.base_url, tokens[writers[writer % 2]], recorder, timeout=30)
        answer = client.post(
            f"/api/gaps/{gap_id}/assign/",
            json={"assignee": assignees[writer % len(assignees)], "version": version},
            label=f"gap {gap_id}",
        )
        return gap_id, answer

    for _ in range(ROUNDS):
        read = dict(database.rows("SELECT id, version FROM gaps_caregap WHERE id = ANY(%s)", gap_ids))
        outcomes = run_together(
            [
                functools.partial(attempt, gap_id, writer, read[gap_id])
                for gap_id in gap_ids
                for writer in range(WRITERS_PER_GAP)
            ],
            timeout=60,
        )
        per_round.append(statuses(answer for _, answer in outcomes))
        stored = {
            gap_id: (version, assignee)
            for gap_id, version, assignee in database.rows(
                "SELECT id, version, assignee_id FROM gaps_caregap WHERE id = ANY(%s)", gap_ids
            )
        }
        for gap_id in gap_ids:
            answers = [answer for g, answer in outcomes if g == gap_id]
            counted = Counter(answer.status for answer in answers)
            assert counted == {200: 1, 409: WRITERS_PER_GAP - 1}, (gap_id, statuses(answers))
            (accepted,) = [answer.body for answer in answers if answer.status == 200]
            assert accepted["version"] == read[gap_id] + 1
            # The gap holds exactly the accepted write: nothing of a refused one, nothing lost.
            assert stored[gap_id] == (accepted["version"], accepted["assignee"]), (gap_id, accepted)
            for refused in (answer for answer in answers if answer.status == 409):
                assert refused.in_error_shape
                expected = {"current_version": read[gap_id] + 1, "your_version": read[gap_id]}
                assert refused.body["extra"] == expected

    versions_after = dict(database.rows("SELECT id, version FROM gaps_caregap WHERE id = ANY(%s)", gap_ids))
    audited_after = database.audited_versions(gap_ids)
    answers = recorder.select()
    figures(
        "1. concurrent version conflicts",
        {
            "gaps x writers x rounds": f"{GAPS} x {WRITERS_PER_GAP} x {ROUNDS}",
            "requests": len(answers),
            "statuses": statuses(answers),
            "statuses per round": " | ".join(per_round),
            "answer times": slowest(answers),
            "versions before": sorted(versions_before.values()),
            "versions after": sorted(versions_after.values()),
            "audited updates before/after": f"{audited_before.total()} / {audited_after.total()}",
        },
    )
    assert all(versions_after[g] == versions_before[g] + ROUNDS for g in gap_ids)
    # One audit entry for each accepted write: each gap's moves to its next ROUNDS versions.
    accepted_moves = {(g, versions_before[g] + n): 1 for g in gap_ids for n in range(1, ROUNDS + 1)}
    assert audited_after - audited_before == accepted_moves

"""Scenarios 4 and 8: gap file imports through the job API (`POST /api/gaps/import/`).

4. Two imports for one contract at once: the lane of the jobs issue lets one in (202) and refuses
   the other with 409 naming it, while it is queued and while it runs; sent again once the first
   has finished, the second applies after it, and the rows end as the second file says.
8. The worker is killed (SIGKILL) while the job writes a large file: nothing half-written (no gap,
   no member of the file), then the job is queued once more by its lease and the worker that
   scripts/serve starts in its place completes it, exactly once.
"""

import random
import signal
import time

import pytest

from chaos.data import gap_file
from chaos.http import Client, Recorder, figures, follow_job, run_together, slowest, statuses

IMPORT = "/api/gaps/import/"
ORDER_CONTRACT, ORDER_YEAR = "H9002", 2025
ORDER_MEMBERS, ORDER_MEASURES = 8000, ["BCS", "COL", "CBP", "EED", "KED", "GSD", "SPC", "SUPD"]
KILL_CONTRACT, KILL_YEAR = "H9001", 2024
KILL_MEMBERS, KILL_MEASURES = 15000, [*ORDER_MEASURES, "ADH-DIAB", "ADH-RAS"]


def _post_file(client: Client, content: bytes, *, contract: str, year: int, label: str):
    return client.post(
        IMPORT,
        data={"contract": contract, "measurement_year": str(year)},
        files={"file": ("gaps.csv", content, "text/csv")},
        label=label,
    )


@pytest.mark.budget(150)
def test_a_second_import_for_the_contract_is_refused_naming_the_first_then_applies_after_it(
    stack, database, tokens
):
    files = {
        name: gap_file(
            prefix="CHAOS-ORDER",
            members=ORDER_MEMBERS,
            measures=ORDER_MEASURES,
            measurement_year=ORDER_YEAR,
            closed_every=closed_every,
        )
        for name, closed_every in (("all open", 0), ("every third closed", 3))
    }
    recorder = Recorder()
    rows_before = database.gaps_by_status(contract=ORDER_CONTRACT, measurement_year=ORDER_YEAR)
    members_before = database.members_of(ORDER_CONTRACT)

    def send(name: str):
        client = Client(stack.base_url, tokens["administrator"], recorder, timeout=60)
        return name, _post_file(client, files[name][0], contract=ORDER_CONTRACT, year=ORDER_YEAR, label=name)

    # Workers paused: whichever request wins, its job stays queued while the other is answered.
    stack.signal_workers(signal.SIGSTOP)
    try:
        both = dict(run_together([lambda: send("all open"), lambda: send("every third closed")], timeout=90))
    finally:
        stack.signal_workers(signal.SIGCONT)
    assert sorted(answer.status for answer in both.values()) == [202, 409], statuses(both.values())
    (first,) = [name for name, answer in both.items() if answer.status == 202]
    (second,) = [name for name in both if name != first]
    first_job = both[first].body["id"]
    refused_queued = both[second]

    database.watch_job(first_job, lambda job: job["status"] != "queued", timeout=30)
    refused_running = send(second)[1]
    first_seen = database.watch_job_to_end(first_job, timeout=90)
    after_first = database.gaps_by_status(contract=ORDER_CONTRACT, measurement_year=ORDER_YEAR)

    accepted = send(second)[1]
    assert accepted.status == 202, accepted
    second_seen = database.watch_job_to_end(accepted.body["id"], timeout=90)
    after_second = database.gaps_by_status(contract=ORDER_CONTRACT, measurement_year=ORDER_YEAR)
    second_job = database.job(accepted.body["id"])
    answers = recorder.select()
    figures(
        "4. concurrent conflicting gap imports",
        {
            "rows per file": f"{ORDER_MEMBERS * len(ORDER_MEASURES):,} ({ORDER_MEMBERS:,} new members)",
            "requests": len(answers),
            "statuses": statuses(answers),
            "answer times": slowest(answers),
            "first accepted": first,
            "second while first queued": f"{refused_queued.status} {refused_queued.body}",
            "second while first running": f"{refused_running.status} {refused_running.body}",
            "first job stages": first_seen,
            "second job stages": second_seen,
            "rows before / after first / after second": f"{rows_before} / {after_first} / {after_second}",
            "members before/after": f"{members_before} / {database.members_of(ORDER_CONTRACT)}",
        },
    )
    # The refusal names the job, and says the state it found it in.
    for refused, state in ((refused_queued, "queued"), (refused_running, "running")):
        assert refused.status == 409 and refused.in_error_shape, refused
        assert refused.body["extra"] == {"job": first_job}
        assert f"gap file import, {state}" in refused.body["message"], refused.body
    assert first_seen[-1][0] == "succeeded" and second_seen[-1][0] == "succeeded", (first_seen, second_seen)
    assert after_first == {key: value for key, value in files[first][1].items() if value}
    assert after_second == {key: value for key, value in files[second][1].items() if value}
    assert second_job["result"]["members_created"] == 0
    assert database.members_of(ORDER_CONTRACT) - members_before == ORDER_MEMBERS


@pytest.mark.budget(150)
def test_an_import_whose_worker_is_killed_mid_write_leaves_nothing_then_completes_once(
    stack, database, tokens
):
    content, counts = gap_file(
        prefix="CHAOS-KILL", members=KILL_MEMBERS, measures=KILL_MEASURES, measurement_year=KILL_YEAR
    )
    rows = sum(counts.values())
    recorder = Recorder()
    client = Client(stack.base_url, tokens["administrator"], recorder, timeout=60)
    gaps_before = database.gaps_by_status(contract=KILL_CONTRACT, measurement_year=KILL_YEAR)
    members_before = database.members_of(KILL_CONTRACT)

    accepted = _post_file(client, content, contract=KILL_CONTRACT, year=KILL_YEAR, label="upload")
    assert accepted.status == 202, accepted
    job_id = accepted.body["id"]
    seen = database.watch_job(job_id, lambda job: job["stage"].startswith("writing"), timeout=60)
    # Somewhere inside the write, not at its first statement.
    time.sleep(random.uniform(0.2, 1.0))
    killed_at = database.job(job_id)
    killed = stack.signal_workers(signal.SIGKILL)
    killed_when = time.monotonic()
    replaced_in = stack.replaced_worker(killed, 30)
    # The killed worker's session ends when PostgreSQL finds its client gone; its transaction rolls back.
    while database.busy_backends() and time.monotonic() - killed_when < 60:
        time.sleep(0.1)
    session_ended_in = time.monotonic() - killed_when
    gaps_after_kill = database.gaps_by_status(contract=KILL_CONTRACT, measurement_year=KILL_YEAR)
    members_after_kill = database.members_of(KILL_CONTRACT)

    states = follow_job(client, job_id, timeout=90)
    completed_in = time.monotonic() - killed_when
    final = database.job(job_id)
    gaps_after = database.gaps_by_status(contract=KILL_CONTRACT, measurement_year=KILL_YEAR)
    job_files = database.value("SELECT count(*) FROM hedis_portal_jobfile WHERE job_id = %s", job_id)
    answers = recorder.select()
    figures(
        "8. kill -9 of an import mid-job",
        {
            "rows in the file": f"{rows:,} ({KILL_MEMBERS:,} new members)",
            "requests": len(answers),
            "statuses": statuses(answers),
            "stages before the kill": seen,
            "killed at": f"{killed_at['stage']!r}, progress {killed_at['progress']:.2f}",
            "worker PIDs killed": killed,
            "its database session ended after": f"{session_ended_in:.2f} s",
            "job worker replaced by scripts/serve after": f"{replaced_in:.1f} s",
            "gaps before / after kill / after retry": f"{gaps_before} / {gaps_after_kill} / {gaps_after}",
            "members before / after kill / after retry": (
                f"{members_before} / {members_after_kill} / {database.members_of(KILL_CONTRACT)}"
            ),
            "job after the kill": f"{states}, done {completed_in:.1f} s after it",
            "attempts": final["attempts"],
            "job files left": job_files,
        },
    )
    assert killed, "no worker was running"
    assert killed_at["status"] == "running", "the job had ended before the worker was killed"
    assert gaps_after_kill == gaps_before and members_after_kill == members_before, "half-written import"
    assert ("queued", "queued again: its worker stopped") in states, states
    assert (final["status"], final["attempts"]) == ("succeeded", 2), (final["status"], final["error"])
    assert final["result"]["gaps_created"] == rows
    assert final["result"]["members_created"] == KILL_MEMBERS
    assert gaps_after == {"open": rows}
    assert database.members_of(KILL_CONTRACT) - members_before == KILL_MEMBERS
    assert job_files == 0

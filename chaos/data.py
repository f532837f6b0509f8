"""The rows behind the scenarios, read straight from the private cluster with psycopg."""

import hashlib
import hmac
import threading
import time
from collections import Counter

import psycopg

from synthetic.demo import DEMO, DEMO_CONTRACTS, DEMO_MEASUREMENT_YEAR

# The key the served portal hashes member IDs with (its environment sets it): the suite hashes the
# demo's raw IDs the same way to find their members. The demo's IDs (`DEMO-H9001-000042`) are
# already in the normal form `members.identifiers.normalize_member_id` gives (upper-case ASCII).
MEMBER_ID_HASH_KEY = "chaos-suite-member-id-hash-key-0123456789"
YEAR = DEMO_MEASUREMENT_YEAR
JOB_FINISHED = ("succeeded", "failed", "cancelled")


def member_hash(raw_member_id: str) -> str:
    return hmac.new(MEMBER_ID_HASH_KEY.encode(), raw_member_id.encode(), hashlib.sha256).hexdigest()


def gap_file(
    *, prefix: str, members: int, measures: list[str], measurement_year: int, closed_every: int = 0
) -> tuple[bytes, dict[str, int]]:
    """A HEDIS engine gap file (`gaps/importing.py`) for `members` new members (`{prefix}-000042`, with
    a birth year) on each of `measures`: open, or closed with evidence on every `closed_every`-th row;
    with its rows counted by compliance status."""
    lines = ["member_id,measure,compliance_status,evidence_date,evidence_source,birth_year"]
    counts = {"open": 0, "closed": 0}
    for number in range(members):
        for index, code in enumerate(measures):
            closed = closed_every and (number + index) % closed_every == 0
            evidence = f"{measurement_year}-06-01,claims" if closed else ","
            lines.append(f"{prefix}-{number:06d},{code},{'closed' if closed else 'open'},{evidence},1950")
            counts["closed" if closed else "open"] += 1
    return ("\n".join(lines) + "\n").encode(), counts


class Database:
    """Queries on the portal's database, each on a new connection (the server may have restarted)."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._claimed: set[int] = set()
        self._raw_ids: dict[int, str] = {}

    def rows(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.url, connect_timeout=5, autocommit=True) as connection:
            return connection.execute(sql, params).fetchall()

    def value(self, sql: str, *params):
        return self.rows(sql, *params)[0][0]

    def raw_member_ids(self) -> dict[int, str]:
        """The demo members' raw IDs by member primary key (the portal keeps only their hashes)."""
        if not self._raw_ids:
            by_hash = {
                member_hash(raw): raw
                for spec in DEMO_CONTRACTS
                for raw in (DEMO.raw_member_id(spec.contract_id, n) for n in range(spec.members))
            }
            for pk, id_hash in self.rows("SELECT id, id_hash FROM members_member"):
                if id_hash in by_hash:
                    self._raw_ids[pk] = by_hash[id_hash]
        return self._raw_ids

    def claim_gaps(self, count: int, *, contract: str) -> list[dict]:
        """`count` demo gaps of `contract` (measurement year 2026) that no other scenario has claimed,
        as dicts of id, member, raw member ID, measure code, version; scenarios never share gaps."""
        raw_ids = self.raw_member_ids()
        with self._lock:
            found = self.rows(
                "SELECT gap.id, gap.member_id, measure.code, gap.version"
                " FROM gaps_caregap gap"
                " JOIN members_contract contract ON contract.id = gap.contract_id"
                " JOIN ratings_measure measure ON measure.id = gap.measure_id"
                " WHERE contract.contract_id = %s AND gap.measurement_year = %s"
                " AND NOT gap.id = ANY(%s) ORDER BY gap.id LIMIT %s",
                contract,
                YEAR,
                list(self._claimed),
                count,
            )
            assert len(found) == count, f"only {len(found)} unclaimed gaps of {contract}"
            self._claimed.update(row[0] for row in found)
        return [
            {"id": gap_id, "member": member, "raw_member_id": raw_ids[member], "measure": code, "version": v}
            for gap_id, member, code, v in found
        ]

    def gaps_by_status(self, *, contract: str, measurement_year: int) -> dict[str, int]:
        """How many gaps of the contract and year are in each compliance status."""
        return dict(
            self.rows(
                "SELECT gap.compliance_status, count(*) FROM gaps_caregap gap"
                " JOIN members_contract contract ON contract.id = gap.contract_id"
                " WHERE contract.contract_id = %s AND gap.measurement_year = %s GROUP BY 1",
                contract,
                measurement_year,
            )
        )

    def members_of(self, contract: str) -> int:
        return self.value(
            "SELECT count(*) FROM members_member member JOIN members_contract contract"
            " ON contract.id = member.contract_id WHERE contract.contract_id = %s",
            contract,
        )

    def audited_versions(self, gap_ids: list[int]) -> Counter:
        """How many audit entries record each of these gaps' moves to a version, by (gap, version): one
        per accepted single-gap write, written in its transaction."""
        rows = self.rows(
            "SELECT entry.object_pk, entry.changes->'version'->>1, count(*) FROM auditlog_logentry entry"
            " JOIN django_content_type kind ON kind.id = entry.content_type_id"
            " WHERE kind.app_label = 'gaps' AND kind.model = 'caregap' AND entry.action = 1"
            " AND entry.changes ? 'version' AND entry.object_pk = ANY(%s) GROUP BY 1, 2",
            [str(gap_id) for gap_id in gap_ids],
        )
        return Counter({(int(gap_id), int(version)): count for gap_id, version, count in rows})

    def user_ids(self) -> dict[str, int]:
        return dict(self.rows("SELECT username, id FROM auth_user"))

    def job(self, job_id: str) -> dict:
        """A job's row, by column name."""
        with psycopg.connect(self.url, connect_timeout=5, autocommit=True) as connection:
            cursor = connection.execute("SELECT * FROM hedis_portal_job WHERE id = %s", [job_id])
            names = [column.name for column in cursor.description]
            return dict(zip(names, cursor.fetchone(), strict=True))

    def watch_job(self, job_id: str, until, *, timeout: float) -> list[tuple]:
        """Poll the job's (status, stage) every 20 ms until `until(job row)`; each distinct one seen."""
        seen: list[tuple] = []
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if not seen or seen[-1] != (job["status"], job["stage"]):
                seen.append((job["status"], job["stage"]))
            if until(job):
                return seen
            assert time.monotonic() < deadline, f"job {job_id} not there within {timeout:g} s; seen {seen}"
            time.sleep(0.02)

    def watch_job_to_end(self, job_id: str, *, timeout: float) -> list[tuple]:
        """`watch_job` until the job has succeeded, failed or been cancelled."""
        return self.watch_job(job_id, lambda job: job["status"] in JOB_FINISHED, timeout=timeout)

    def busy_backends(self) -> int:
        """Sessions other than this one that are running a statement or hold a transaction open."""
        return self.value(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"
        )

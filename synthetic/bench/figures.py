"""Each benchmark figure: the operation through the portal's own code, beside its baseline.

API figures go through the whole Django/DRF stack with the test client and a knox token (the
middleware, authentication, permissions, request log and audit entries included); baselines are
the same work done by hand on the same connection: COPY for bulk writes, raw SQL plus
`json.dumps` for reads, the SQL aggregate alone for the rating.
"""

from __future__ import annotations

import csv
import hmac
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ratings.live.rating import contract_live_rating
from ratings.live.selectors import gap_counts
from synthetic.bench.plan import TOP_FEATURES_JSON, BenchPlan, gap_file, raw_member_id
from synthetic.bench.timing import Figure, Samples, measure_pair
from synthetic.plan import TOP_FEATURES

PROTOTYPE_CLAIMS_MS = {
    "single prediction insert": 30,
    "100-row prediction batch": 350,
    "gap list": 250,
    "portfolio snapshot": 500,
    "member history": 125,
}
WORKLIST_STATE = "new"
WORKLIST_TARGET_P95_MS = 15
MEMBER_HISTORY_TARGET_P95_MS = 12
NEW_MODEL_VERSION = "bench-gbm-2"


class BenchError(RuntimeError):
    """An operation under measurement did not do what it should (wrong status, wrong counts)."""


@dataclass
class Scale:
    """How much work each figure does: runs, batch and file sizes."""

    warmup: int
    repeats: int
    write_repeats: int
    batch_rows: int
    import_rows: int


def allowed_host() -> str:
    """A host name the settings allow, for the bench's test clients."""
    return next((h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", "")), "testserver")


@dataclass
class Bench:
    """The plan under measurement, its scale, and one authenticated API client per bench user."""

    plan: BenchPlan
    scale: Scale
    clients: dict[str, Client]
    progress: Callable[[str], None]

    @classmethod
    def for_plan(cls, plan: BenchPlan, scale: Scale, progress: Callable[[str], None]) -> Bench:
        """API clients sending each bench user's token, to a host the settings allow."""
        host = allowed_host()
        clients = {
            role: Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST=host)
            for role, token in plan.tokens.items()
        }
        return cls(plan=plan, scale=scale, clients=clients, progress=progress)

    def request(self, role: str, method: str, path: str, *, body: bytes | None = None, expect: int = 200):
        """One API request as the bench user `role`; anything but `expect` stops the bench."""
        client = self.clients[role]
        secure = settings.SECURE_SSL_REDIRECT
        if method == "GET":
            response = client.get(path, secure=secure)
        else:
            response = client.post(path, data=body, content_type="application/json", secure=secure)
        if response.status_code != expect:
            raise BenchError(f"{method} {path} answered {response.status_code}: {response.content[:300]!r}")
        return response


def _fetch_json(sql: str, params: list) -> list[dict]:
    """Rows of a raw query as dicts (column name → value)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- prediction ingest ----------------------------------------------------------------------------


def _prediction_rows(bench: Bench, gaps: np.ndarray, model_version: str, run: int) -> list[dict]:
    """API rows for the given gaps: raw member IDs, probabilities that differ from run to run."""
    plan = bench.plan
    rng = np.random.default_rng(run + 1)
    probabilities = np.round(rng.beta(2, 3, len(gaps)), 3).tolist()
    predicted_at = (timezone.now() + timedelta(seconds=run)).isoformat()
    return [
        {
            "member_id": raw_member_id(int(plan.gap_member[gap])),
            "measure": plan.gap_measure_code[gap],
            "measurement_year": plan.measurement_year,
            "model_version": model_version,
            "probability": probability,
            "risk_tier": "high" if probability < 0.3 else "medium" if probability < 0.6 else "low",
            "top_features": TOP_FEATURES,
            "predicted_at": predicted_at,
        }
        for gap, probability in zip(gaps.tolist(), probabilities, strict=True)
    ]


def _copy_text(bench: Bench, gaps: np.ndarray, rows: list[dict], model_version: str) -> str:
    """The same rows as COPY text, resolved to primary keys (what COPY needs; it cannot hash)."""
    plan = bench.plan
    stamp = timezone.now().isoformat()
    lines = []
    for gap, row in zip(gaps.tolist(), rows, strict=True):
        member = plan.member_pks[plan.gap_member[gap]]
        measure = plan.measure_pks[row["measure"]]
        lines.append(
            f"{member}\t{plan.contract.pk}\t{measure}\t{row['measurement_year']}\t{model_version}\t"
            f"{row['probability']}\t{row['risk_tier']}\t{TOP_FEATURES_JSON}\t{row['predicted_at']}\t{stamp}\n"
        )
    return "".join(lines)


def _copy_predictions(text: str) -> None:
    """COPY prediction rows into the predictions table, check their foreign keys, roll back.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at COMMIT, which a rolled-back
    COPY never reaches. `SET CONSTRAINTS ALL IMMEDIATE` runs those checks now, so the baseline
    pays for them as the API's committed upsert does.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(
            "COPY predictions_prediction (member_id, contract_id, measure_id, measurement_year, "
            "model_version, probability, risk_tier, top_features, predicted_at, created_at) FROM STDIN"
        ) as copy:
            copy.write(text)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        transaction.set_rollback(True)


def prediction_ingest(bench: Bench) -> list[Figure]:
    """`POST /api/predictions/bulk/` batches (new model version, then re-scores) beside COPY."""
    scale = bench.scale
    runs = scale.warmup + scale.write_repeats
    batch = scale.batch_rows
    figures = []
    for name, model_version, offset, share in (
        ("prediction ingest (new model version: inserts)", NEW_MODEL_VERSION, 0, 0.5),
        ("prediction ingest", "bench-gbm-1", runs * batch, 0.8),
    ):
        slices = [np.arange(offset + run * batch, offset + (run + 1) * batch) for run in range(runs)]
        rows = [_prediction_rows(bench, gaps, model_version, run) for run, gaps in enumerate(slices)]
        bodies = [json.dumps({"predictions": batch_rows}).encode() for batch_rows in rows]
        copies = [_copy_text(bench, gaps, r, "bench-copy") for gaps, r in zip(slices, rows, strict=True)]
        results = []

        def post(run: int, bodies=bodies, results=results) -> None:
            response = bench.request("analyst", "POST", "/api/predictions/bulk/", body=bodies[run])
            results.append(response.json())

        subject, baseline = measure_pair(
            post,
            lambda run, copies=copies: _copy_predictions(copies[run]),
            warmup=scale.warmup,
            repeats=scale.write_repeats,
        )
        expected = "created" if model_version == NEW_MODEL_VERSION else "updated"
        if any(result[expected] != batch for result in results):
            raise BenchError(f"{name}: expected every row {expected}, got {results}")
        figures.append(
            Figure.throughput(
                name,
                batch,
                subject,
                baseline,
                target=f"≥ {share:.0%} of COPY's rows/s",
                met=lambda figure, share=share: figure.ratio >= share,
                baseline_text=f"COPY of the same {batch:,} rows into predictions_prediction (psycopg 3)",
                notes=[f"{batch:,}-row batches; every row {expected}"],
            )
        )
        bench.progress(f"  {name}: {figures[-1].median:,.0f} rows/s")
    return figures


# --- gap file import ------------------------------------------------------------------------------

_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS bench_gap_staging (member_id text, measure text, "
    "compliance_status text, exclusion_reason text, evidence_date text, evidence_source text)"
)


def _copy_to_staging(path: Path) -> None:
    """COPY the gap file, as it is, into a text staging table."""
    with (
        connection.cursor() as cursor,
        path.open("rb") as source,
        cursor.copy("COPY bench_gap_staging FROM STDIN (FORMAT csv, HEADER true)") as copy,
    ):
        while chunk := source.read(1 << 20):
            copy.write(chunk)


def _empty_staging(run: int) -> None:
    """Create the staging table on first use and empty it before each baseline run (untimed)."""
    with connection.cursor() as cursor:
        cursor.execute(_STAGING)
        cursor.execute("TRUNCATE bench_gap_staging")


def _import(path: Path, contract_id: str, measurement_year: int) -> str:
    """`manage.py import_gaps FILE --contract … --measurement-year …`; its summary line."""
    out = StringIO()
    call_command(
        "import_gaps", str(path), contract=contract_id, measurement_year=measurement_year, stdout=out
    )
    return out.getvalue().strip()


def parse_and_hmac(data: bytes) -> int:
    """The gap import's floor without the database: every row of the file read by `csv.reader`, and
    each distinct raw member ID HMAC-SHA256'd once with the import's key (`hmac.digest`), as the
    import hashes each member once; nothing checked, nothing written. The number of rows read."""
    key = settings.MEMBER_ID_HASH_KEY.encode()
    digest = hmac.digest
    hashes: dict[str, str] = {}
    reader = csv.reader(StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader)
    rows = 0
    for fields in reader:
        rows += 1
        if fields[0] not in hashes:
            hashes[fields[0]] = digest(key, fields[0].encode(), "sha256").hex()
    return rows


def gap_import(bench: Bench) -> list[Figure]:
    """`import_gaps` on the plan's gap file: a first import into an empty year, then a re-import.

    Each beside `parse_and_hmac` of the same file in the same process (interleaved); a COPY of
    the file into a text staging table is measured after them and reported beside both.
    """
    plan, scale = bench.plan, bench.scale
    data = gap_file(plan, scale.import_rows)
    rows = data.count(b"\n") - 1
    handle, name = tempfile.mkstemp(suffix=".csv", prefix="bench-gaps-")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        warmup_path = path.with_name(path.stem + "-warmup.csv")
        warmup_path.write_bytes(b"\n".join(data.split(b"\n", min(rows, 5000) + 1)[:-1]) + b"\n")
        # A small import into a year of its own warms the code paths and caches without
        # spending a full-size run on it.
        _import(warmup_path, plan.contract.contract_id, plan.measurement_year - 10)
        warmup_path.unlink()
        contract_id = plan.contract.contract_id
        summaries = []

        def first_import(run: int) -> None:
            summaries.append(_import(path, contract_id, plan.measurement_year - 1 - run))

        def reimport(run: int) -> None:
            summaries.append(_import(path, contract_id, plan.measurement_year - 1))

        def parsed(run: int) -> None:
            if parse_and_hmac(path.read_bytes()) != rows:
                raise BenchError("gap import baseline: the file's rows were not all read")

        repeats = scale.write_repeats
        first, baseline = measure_pair(first_import, parsed, warmup=0, repeats=repeats)
        if not all(f"{rows} gaps created" in summary for summary in summaries):
            raise BenchError(f"gap import: expected {rows} gaps created, got {summaries}")
        summaries.clear()
        again, baseline_again = measure_pair(reimport, parsed, warmup=0, repeats=repeats)
        if not all(f"{rows} unchanged" in summary for summary in summaries):
            raise BenchError(f"gap re-import: expected {rows} unchanged, got {summaries}")
        _, copied = measure_pair(
            lambda run: None,
            lambda run: _copy_to_staging(path),
            warmup=0,
            repeats=repeats,
            before_baseline=_empty_staging,
        )
    finally:
        path.unlink(missing_ok=True)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_gap_staging")
    baseline_text = (
        f"the same {rows:,}-row file parsed (csv.reader) and its member IDs HMAC'd in the same "
        "process, no database (parse_and_hmac)"
    )
    copy_rate = {"staging_copy_median": rows / copied.median}
    figures = [
        Figure.throughput(
            "gap CSV import",
            rows,
            first,
            baseline,
            target="≥ 40,000 rows/s and ≥ 50 % of parse + HMAC's rows/s",
            met=lambda figure: figure.median >= 40_000 and figure.ratio >= 0.50,
            baseline_text=baseline_text,
            notes=[
                f"{rows:,}-row file, first import into an empty measurement year (every gap created)",
                "staging_copy_median: COPY of the file into a text staging table, rows/s",
            ],
            extra=dict(copy_rate),
        ),
        Figure.throughput(
            "gap CSV re-import (unchanged)",
            rows,
            again,
            baseline_again,
            target="≥ 150,000 rows/s",
            met=lambda figure: figure.median >= 150_000,
            baseline_text=baseline_text,
            notes=["the same file again: nothing changes, nothing is written but the audit entry"],
            extra=dict(copy_rate),
        ),
    ]
    for figure in figures:
        bench.progress(f"  {figure.name}: {figure.median:,.0f} rows/s ({figure.ratio:.2f} of parse + HMAC)")
    return figures


# --- worklist ---------------------------------------------------------------------------------------

_GAP_COLUMNS = """
    g.id, g.member_id AS member, c.contract_id AS contract, m.code AS measure, g.measurement_year,
    g.compliance_status, g.status_reason, g.exclusion_reason, g.evidence_date, g.evidence_source,
    g.workflow_state, g.assignee_id AS assignee, u.username AS assignee_username, g.priority_score,
    p.probability AS closure_probability, g.risk_tier, g.last_outreach_at, g.version, g.created_at,
    g.updated_at
"""
_GAP_JOINS = """
    FROM gaps_caregap g
    JOIN members_contract c ON c.id = g.contract_id
    JOIN ratings_measure m ON m.id = g.measure_id
    LEFT JOIN auth_user u ON u.id = g.assignee_id
    LEFT JOIN predictions_prediction p ON p.id = g.current_prediction_id
"""
WORKLIST_SQL = f"""
    SELECT {_GAP_COLUMNS} {_GAP_JOINS}
    WHERE g.contract_id = %s AND g.measure_id = %s AND g.workflow_state = %s
    ORDER BY g.priority_score DESC, g.id DESC
    LIMIT 51
"""


def _busiest_measure(plan: BenchPlan) -> str:
    """The measure with the most gaps: the longest worklist."""
    codes, counts = np.unique(plan.gap_measure_code.astype(str), return_counts=True)
    return str(codes[np.argmax(counts)])


def _queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def worklist(bench: Bench) -> tuple[list[Figure], Samples]:
    """`GET /api/gaps/` page of 50 (contract + measure + state, by priority) beside raw SQL + json."""
    plan, scale = bench.plan, bench.scale
    code = _busiest_measure(plan)
    path = (
        f"/api/gaps/?contract={plan.contract.contract_id}&measure={code}"
        f"&workflow_state={WORKLIST_STATE}&ordering=-priority_score"
    )
    params = [plan.contract.pk, plan.measure_pks[code], WORKLIST_STATE]

    def page(run: int) -> None:
        bench.request("care_manager", "GET", path)

    def raw(run: int) -> None:
        rows = _fetch_json(WORKLIST_SQL, params)
        json.dumps({"next": None, "previous": None, "results": rows[:50]}, default=str)

    # Query count: a page of 5, a page of 50 and the next page of 50 (following the cursor).
    first = bench.request("care_manager", "GET", path).json()
    following = urlsplit(first["next"])
    next_page = f"{following.path}?{following.query}"
    counts = {
        "5 rows": _queries(lambda: bench.request("care_manager", "GET", path + "&page_size=5")),
        "50 rows": _queries(lambda: bench.request("care_manager", "GET", path)),
        "page 2": _queries(lambda: bench.request("care_manager", "GET", next_page)),
    }
    if len(first["results"]) != 50:
        raise BenchError(f"worklist: expected a full page of 50, got {len(first['results'])}")
    constant = len(set(counts.values())) == 1
    subject, baseline = measure_pair(page, raw, warmup=scale.warmup, repeats=scale.repeats)
    queries = ", ".join(f"{n} at {label}" for label, n in counts.items())
    figure = Figure.latency(
        "worklist page",
        subject,
        baseline,
        target=f"p95 ≤ {WORKLIST_TARGET_P95_MS} ms; median ≤ 2 × baseline median; query count constant",
        met=lambda f: constant and f.p95 <= WORKLIST_TARGET_P95_MS and f.median <= 2 * f.baseline_median,
        baseline_text="the page's SELECT (same joins, LIMIT 51) in raw SQL + json.dumps of the rows",
        notes=[
            f"{code}, workflow_state={WORKLIST_STATE}, 50 rows, cursor pagination, care manager's token",
            f"queries per request: {queries} ({'constant' if constant else 'NOT constant'})",
        ],
    )
    bench.progress(f"  worklist page: median {figure.median:.1f} ms, p95 {figure.p95:.1f} ms")
    return [figure], subject


# --- the worklist of each persona, every filter and ordering -----------------------------------------

# Each bench user's worklist, with the contracts they are assigned to (plan.py).
WORKLIST_PERSONAS = {
    "care_manager": "care manager, one contract",
    "analyst": "quality analyst, two contracts",
    "administrator": "administrator, two contracts",
}
WORKLIST_ORDERINGS = ("", "-priority_score", "priority_score", "-updated_at", "updated_at", "-id", "id")


def worklist_filters(plan: BenchPlan) -> list[str]:
    """No filter, each filter the API (and the admin's sidebar) offers alone with a value the plan has,
    common and rare values both, and the care manager's usual three together."""
    contract, code = plan.contract.contract_id, _busiest_measure(plan)
    return [
        "",
        f"contract={contract}",
        f"measure={code}",
        f"measurement_year={plan.measurement_year}",
        "compliance_status=open",
        "compliance_status=excluded",
        f"workflow_state={WORKLIST_STATE}",
        "workflow_state=refused",
        f"member={int(plan.member_pks[0])}",
        "assignee=me",
        "unassigned=true",
        "risk_tier=high",
        "no_outreach=false",
        "priority_min=1.7",  # about the top 1 % of the plan's open gaps
        f"contract={contract}&measure={code}&workflow_state={WORKLIST_STATE}",
    ]


def _worklist_path(query: str, ordering: str) -> str:
    parameters = "&".join(part for part in (query, ordering and f"ordering={ordering}") if part)
    return f"/api/gaps/?{parameters}" if parameters else "/api/gaps/"


def _page_statement(bench: Bench, role: str, path: str) -> str:
    """The SQL of the page's read of the gaps, as the portal sent it (parameters inlined)."""
    with CaptureQueriesContext(connection) as captured:
        bench.request(role, "GET", path)
    return next(q["sql"] for q in captured.captured_queries if 'FROM "gaps_caregap"' in q["sql"])


def _raw_page(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    json.dumps({"next": None, "previous": None, "results": rows[:50]}, default=str)


def worklist_personas(bench: Bench) -> list[Figure]:
    """Each persona's worklist over every filter × ordering; the slowest measured beside its raw SQL.

    Every combination is requested `warmup + scan` times and ranked by its median; the slowest
    one per persona is then measured like the worklist page, interleaved with its own statement
    (captured from the portal's request, run raw) followed by `json.dumps` of the rows.
    """
    combinations = [(q, o) for q in worklist_filters(bench.plan) for o in WORKLIST_ORDERINGS]
    return [
        _worklist_persona(bench, role, persona, combinations) for role, persona in WORKLIST_PERSONAS.items()
    ]


def _worklist_persona(bench: Bench, role: str, persona: str, combinations: list[tuple[str, str]]) -> Figure:
    scale = bench.scale
    scan = 1 if scale.repeats <= 10 else 5
    ranked = []
    for query, ordering in combinations:
        path = _worklist_path(query, ordering)
        samples, _ = measure_pair(
            lambda run, path=path: bench.request(role, "GET", path), None, warmup=scale.warmup, repeats=scan
        )
        ranked.append((samples.median, query, ordering, path))
    ranked.sort(reverse=True)
    _, query, ordering, path = ranked[0]
    statement = _page_statement(bench, role, path)
    subject, baseline = measure_pair(
        lambda run: bench.request(role, "GET", path),
        lambda run: _raw_page(statement),
        warmup=scale.warmup,
        repeats=scale.repeats,
    )
    runner_up = ", ".join(
        f"{q or 'no filter'} {o or '(default order)'}: {m * 1000:.1f} ms" for m, q, o, _ in ranked[1:4]
    )
    figure = Figure.latency(
        f"worklist, {persona} (worst filter)",
        subject,
        baseline,
        target=f"p95 ≤ {WORKLIST_TARGET_P95_MS} ms; median ≤ 2 × baseline median",
        met=lambda f: f.p95 <= WORKLIST_TARGET_P95_MS and f.median <= 2 * f.baseline_median,
        baseline_text="the page's own SELECT, captured from its request, run raw + json.dumps of the rows",
        notes=[
            f"worst of {len(combinations)} filter × ordering combinations ({scan} runs each): GET {path}",
            f"next slowest: {runner_up}",
        ],
        extra={
            "persona": role,
            "worst_filter": query,
            "worst_ordering": ordering,
            "worst_request": path,
            "combinations": len(combinations),
            "scan_medians_ms": {request: round(m * 1000, 2) for m, _, _, request in ranked},
        },
    )
    bench.progress(f"  {figure.name}: median {figure.median:.1f} ms, p95 {figure.p95:.1f} ms ({path})")
    return figure


# --- member history ---------------------------------------------------------------------------------

_MEMBER_SQL = """
    SELECT mb.id, c.contract_id AS contract, mb.birth_year, mb.sex, mb.lis_de, mb.disability, mb.active,
           mb.created_at, mb.updated_at
    FROM members_member mb JOIN members_contract c ON c.id = mb.contract_id
    WHERE mb.id = %s AND mb.contract_id = %s
"""
_MEMBER_GAPS_SQL = f"""
    SELECT {_GAP_COLUMNS} {_GAP_JOINS}
    WHERE g.member_id = %s AND g.contract_id = %s
    ORDER BY m.code, g.measurement_year DESC
"""
_MEMBER_PREDICTIONS_SQL = """
    SELECT p.id, p.member_id AS member, c.contract_id AS contract, m.code AS measure, p.measurement_year,
           p.model_version, p.probability, p.risk_tier, p.top_features, p.predicted_at, p.created_at
    FROM predictions_prediction p
    JOIN members_contract c ON c.id = p.contract_id
    JOIN ratings_measure m ON m.id = p.measure_id
    WHERE p.member_id = %s AND p.contract_id = %s
    ORDER BY p.predicted_at DESC, p.id DESC
"""
_MEMBER_INTERVENTIONS_SQL = """
    SELECT i.id, i.member_id AS member, c.contract_id AS contract,
           i.intervention_type_id AS intervention_type, t.channel, i.status, i.cost, i.scheduled_for,
           i.completed_at, a.username AS approved_by, i.approved_at, cb.username AS created_by, i.notes,
           i.version, i.created_at, i.updated_at
    FROM interventions_intervention i
    JOIN members_contract c ON c.id = i.contract_id
    JOIN interventions_interventiontype t ON t.id = i.intervention_type_id
    LEFT JOIN auth_user a ON a.id = i.approved_by_id
    LEFT JOIN auth_user cb ON cb.id = i.created_by_id
    WHERE i.member_id = %s AND i.contract_id = %s
    ORDER BY i.created_at DESC, i.id DESC
"""
_COVERED_SQL = """
    SELECT ig.intervention_id, ig.gap_id AS gap, m.code AS measure, g.measurement_year, g.compliance_status,
           ig.outcome
    FROM interventions_interventiongap ig
    JOIN gaps_caregap g ON g.id = ig.gap_id
    JOIN ratings_measure m ON m.id = g.measure_id
    WHERE ig.intervention_id = ANY(%s)
    ORDER BY ig.gap_id
"""


def _raw_member_history(member_pk: int, contract_pk: int) -> str:
    """The member history document from raw SQL (the same joins as the API's queries)."""
    member = _fetch_json(_MEMBER_SQL, [member_pk, contract_pk])[0]
    member["gaps"] = _fetch_json(_MEMBER_GAPS_SQL, [member_pk, contract_pk])
    member["predictions"] = _fetch_json(_MEMBER_PREDICTIONS_SQL, [member_pk, contract_pk])
    interventions = _fetch_json(_MEMBER_INTERVENTIONS_SQL, [member_pk, contract_pk])
    covered = _fetch_json(_COVERED_SQL, [[i["id"] for i in interventions]])
    for intervention in interventions:
        intervention["gaps"] = [c for c in covered if c["intervention_id"] == intervention["id"]]
    member["interventions"] = interventions
    return json.dumps(member, default=str)


def member_history(bench: Bench) -> tuple[list[Figure], Samples]:
    """`GET /api/members/{id}/` (gaps, predictions, interventions) beside the raw SQL of the same joins."""
    plan, scale = bench.plan, bench.scale
    members = [int(plan.member_pks[m]) for m in plan.outreach_members[:50]]

    def detail(run: int) -> None:
        bench.request("care_manager", "GET", f"/api/members/{members[run % len(members)]}/")

    def raw(run: int) -> None:
        _raw_member_history(members[run % len(members)], plan.contract.pk)

    document = bench.request("care_manager", "GET", f"/api/members/{members[0]}/").json()
    queries = _queries(lambda: detail(0))
    subject, baseline = measure_pair(detail, raw, warmup=scale.warmup, repeats=scale.repeats)
    figure = Figure.latency(
        "member history",
        subject,
        baseline,
        target=f"p95 ≤ {MEMBER_HISTORY_TARGET_P95_MS} ms; median ≤ 2 × baseline median",
        met=lambda f: f.p95 <= MEMBER_HISTORY_TARGET_P95_MS and f.median <= 2 * f.baseline_median,
        baseline_text="the same joins in raw SQL (member, gaps, predictions, interventions, covered gaps)"
        " + json.dumps",
        notes=[
            f"members with outreach: {len(document['gaps'])} gaps, {len(document['predictions'])} "
            f"predictions, {len(document['interventions'])} intervention(s) each; {queries} queries "
            "per request",
        ],
    )
    bench.progress(f"  member history: median {figure.median:.1f} ms, p95 {figure.p95:.1f} ms")
    return [figure], subject


# --- live rating and snapshot -----------------------------------------------------------------------

GROUP_BY_SQL = """
    SELECT g.measure_id,
           count(*) AS denominator,
           count(*) FILTER (WHERE g.compliance_status = 'closed') AS closed,
           count(*) FILTER (WHERE g.compliance_status = 'open') AS open,
           count(*) FILTER (WHERE g.compliance_status = 'excluded') AS excluded,
           count(*) FILTER (WHERE mb.lis_de AND g.compliance_status IN ('open', 'closed')) AS lis_de_eligible,
           count(*) FILTER (WHERE mb.lis_de AND g.compliance_status = 'closed') AS lis_de_closed,
           count(*) FILTER (WHERE NOT mb.lis_de AND g.compliance_status IN ('open', 'closed'))
               AS non_lis_de_eligible,
           count(*) FILTER (WHERE NOT mb.lis_de AND g.compliance_status = 'closed') AS non_lis_de_closed,
           count(*) FILTER (WHERE mb.disability AND g.compliance_status IN ('open', 'closed'))
               AS disability_eligible,
           count(*) FILTER (WHERE mb.disability AND g.compliance_status = 'closed') AS disability_closed,
           count(*) FILTER (WHERE NOT mb.disability AND g.compliance_status IN ('open', 'closed'))
               AS non_disability_eligible,
           count(*) FILTER (WHERE NOT mb.disability AND g.compliance_status = 'closed')
               AS non_disability_closed
    FROM gaps_caregap g
    JOIN members_member mb ON mb.id = g.member_id
    WHERE g.contract_id = %s AND g.measurement_year = %s AND g.compliance_status <> 'not_applicable'
    GROUP BY g.measure_id
"""


def live_rating(bench: Bench) -> tuple[list[Figure], Samples]:
    """`contract_live_rating` (rates, stars, ratings with intermediates) beside the GROUP BY alone."""
    plan, scale = bench.plan, bench.scale
    contract, year = plan.contract, plan.measurement_year
    rating = contract_live_rating(contract=contract, measurement_year=year)
    overall = rating.ratings.overall.rating if rating.ratings and rating.ratings.overall else None
    subject, baseline = measure_pair(
        lambda run: contract_live_rating(contract=contract, measurement_year=year),
        lambda run: _fetch_json(GROUP_BY_SQL, [contract.pk, year]),
        warmup=scale.warmup,
        repeats=max(3, scale.repeats // 10),
    )
    figure = Figure.latency(
        "live contract rating",
        subject,
        baseline,
        target="≤ 2 × baseline",
        met=lambda f: f.ratio <= 2,
        baseline_text="one hand-written GROUP BY over the same gaps (counts and LIS/DE, disability strata)",
        notes=[f"{plan.gap_count:,} gaps of {plan.member_count:,} members; overall rating {overall}"],
    )
    bench.progress(f"  live contract rating: median {figure.median:.0f} ms")
    return [figure], subject


def snapshot(bench: Bench) -> tuple[list[Figure], Samples]:
    """`manage.py snapshot_portfolio` for the bench contract beside the rating recompute alone."""
    plan, scale = bench.plan, bench.scale
    contract, year = plan.contract, plan.measurement_year

    def take(run: int) -> None:
        call_command(
            "snapshot_portfolio", contract=contract.contract_id, measurement_year=year, stdout=StringIO()
        )

    subject, baseline = measure_pair(
        take,
        lambda run: contract_live_rating(contract=contract, measurement_year=year),
        warmup=scale.warmup,
        repeats=max(3, scale.repeats // 10),
    )
    figure = Figure.latency(
        "portfolio snapshot",
        subject,
        baseline,
        target="≤ 1.5 × baseline",
        met=lambda f: f.ratio <= 1.5,
        baseline_text="the live rating recompute alone (contract_live_rating)",
    )
    bench.progress(f"  portfolio snapshot: median {figure.median:.0f} ms")
    return [figure], subject


# --- query plans -------------------------------------------------------------------------------------


def _explain(sql: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement, run twice and the warm run kept."""
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            lines = [row[0] for row in cursor.fetchall()]
    return "\n".join(lines)


def explain_plans(bench: Bench) -> dict[str, str]:
    """The plans of the statements the portal itself sends: the worklist page's and the rating's."""
    plan = bench.plan
    code = _busiest_measure(plan)
    path = (
        f"/api/gaps/?contract={plan.contract.contract_id}&measure={code}"
        f"&workflow_state={WORKLIST_STATE}&ordering=-priority_score"
    )
    with CaptureQueriesContext(connection) as worklist_queries:
        bench.request("care_manager", "GET", path)
    page = next(q["sql"] for q in worklist_queries.captured_queries if 'FROM "gaps_caregap"' in q["sql"])
    with CaptureQueriesContext(connection) as rating_queries:
        gap_counts(contract=plan.contract, measurement_year=plan.measurement_year)
    aggregate = rating_queries.captured_queries[-1]["sql"]
    return {
        f"worklist page (GET /api/gaps/, {code}, {WORKLIST_STATE}, by priority)": _explain(page),
        "rating aggregate (ratings.live.selectors.gap_counts)": _explain(aggregate),
    }


# --- the prototype's operations ---------------------------------------------------------------------


def prototype_writes(bench: Bench) -> list[Figure]:
    """A single prediction insert and a 100-row batch through the API, beside the prototype's claims."""
    plan, scale = bench.plan, bench.scale
    figures = []
    offset = plan.gap_count // 2
    for name, size in (("single prediction insert", 1), ("100-row prediction batch", 100)):
        runs = scale.warmup + scale.repeats
        bodies = [
            json.dumps(
                {
                    "predictions": _prediction_rows(
                        bench, np.arange(offset + run * size, offset + (run + 1) * size), "bench-proto", run
                    )
                }
            ).encode()
            for run in range(runs)
        ]
        offset += runs * size

        def post(run: int, bodies=bodies) -> None:
            bench.request("analyst", "POST", "/api/predictions/bulk/", body=bodies[run])

        subject, _ = measure_pair(post, None, warmup=scale.warmup, repeats=scale.repeats)
        what = f"POST /api/predictions/bulk/ with {size} row(s)"
        figures.append(Figure.against_claim(name, subject, PROTOTYPE_CLAIMS_MS[name], what=what))
    return figures


def prototype_reads(worklist_samples: Samples, history: Samples, snapshots: Samples) -> list[Figure]:
    """The gap list, member history and snapshot figures beside the prototype's claims."""
    measured = {
        "gap list": (worklist_samples, "the worklist page above"),
        "portfolio snapshot": (snapshots, "the portfolio snapshot above"),
        "member history": (history, "the member history above"),
    }
    return [
        Figure.against_claim(name, samples, PROTOTYPE_CLAIMS_MS[name], what=what)
        for name, (samples, what) in measured.items()
    ]

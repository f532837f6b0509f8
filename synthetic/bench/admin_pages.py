"""The admin's pages per persona: the worklist with each sidebar filter and each sort, the front page
and the other lists a persona opens, through the whole stack with a logged-in session.

Each page is requested `warmup + scan` times and ranked by its median; the slowest per persona is
then measured beside its own statements (every SELECT the page sent, captured and run raw), so the
ratio is what rendering and the request stack add to the page's SQL.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from synthetic.bench.figures import WORKLIST_PERSONAS, Bench, BenchError, allowed_host, worklist_filters
from synthetic.bench.timing import Figure, measure_pair

ADMIN_TARGET_P95_MS = 500
WORKLIST = "/admin/gaps/caregap/"
# The worklist's columns by their `o` number (0 is the selection box): priority either way, then
# member, year and last outreach (sorted only for lists of at most 10,000 gaps: gaps/admin.py).
ADMIN_SORTS = ("7", "-7", "1", "3", "-10")
# The other pages a persona opens: the front page ("My day", the contracts' projected ratings),
# the members, the predictions and the stored runs.
ADMIN_PAGES = (
    "/admin/",
    "/admin/members/member/",
    "/admin/predictions/prediction/",
    "/admin/ratings/portfoliorun/",
)


def admin_paths(bench: Bench) -> list[str]:
    """The worklist with each filter the API and the sidebar share (default order), unfiltered in
    each sort the list offers, and the other pages."""
    filtered = [f"{WORKLIST}?{query}" if query else WORKLIST for query in worklist_filters(bench.plan)]
    return [*filtered, *(f"{WORKLIST}?o={sort}" for sort in ADMIN_SORTS), *ADMIN_PAGES]


def _session_client(bench: Bench, role: str) -> Client:
    client = Client(HTTP_HOST=allowed_host())
    client.force_login(bench.plan.users[role])
    return client


def _get(client: Client, path: str) -> None:
    response = client.get(path, secure=settings.SECURE_SSL_REDIRECT)
    if response.status_code != 200:
        raise BenchError(f"GET {path} answered {response.status_code}")


def _page_selects(client: Client, path: str) -> list[str]:
    """Every SELECT the page sent, parameters inlined (its writes, the access entry, are not repeated)."""
    with CaptureQueriesContext(connection) as captured:
        _get(client, path)
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]


def _raw_selects(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            cursor.fetchall()


def admin_pages(bench: Bench) -> list[Figure]:
    """The slowest admin page of each persona, beside its own SELECTs run raw."""
    paths = admin_paths(bench)
    return [_admin_persona(bench, role, persona, paths) for role, persona in WORKLIST_PERSONAS.items()]


def _admin_persona(bench: Bench, role: str, persona: str, paths: list[str]) -> Figure:
    scale = bench.scale
    scan = 1 if scale.repeats <= 10 else 5
    client = _session_client(bench, role)
    ranked = []
    for path in paths:
        samples, _ = measure_pair(
            lambda run, path=path: _get(client, path), None, warmup=scale.warmup, repeats=scan
        )
        ranked.append((samples.median, path))
    ranked.sort(reverse=True)
    path = ranked[0][1]
    statements = _page_selects(client, path)
    subject, baseline = measure_pair(
        lambda run: _get(client, path),
        lambda run: _raw_selects(statements),
        warmup=scale.warmup,
        repeats=max(scale.write_repeats, scale.repeats // 10),
    )
    figure = Figure.latency(
        f"admin pages, {persona} (slowest)",
        subject,
        baseline,
        target=f"p95 ≤ {ADMIN_TARGET_P95_MS} ms",
        met=lambda f: f.p95 <= ADMIN_TARGET_P95_MS,
        baseline_text="the page's own SELECTs, captured from its request, run raw",
        notes=[
            f"slowest of {len(paths)} pages ({scan} runs each): GET {path}, {len(statements)} SELECTs",
            "next slowest: " + ", ".join(f"{p}: {m * 1000:.0f} ms" for m, p in ranked[1:4]),
        ],
        extra={
            "persona": role,
            "slowest_page": path,
            "pages": len(paths),
            "scan_medians_ms": {p: round(m * 1000, 1) for m, p in ranked},
        },
    )
    bench.progress(f"  {figure.name}: median {figure.median:.0f} ms, p95 {figure.p95:.0f} ms ({path})")
    return figure

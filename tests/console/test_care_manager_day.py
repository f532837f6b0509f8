"""A care manager's day on the demo plan, in Chromium at 1366 × 768: her day at a glance, her ranked
queue, a member found by plan ID and by pseudonym, five gaps assigned, a call recorded on two of a
member's gaps and the workflow moved, the member's gaps exported for the outreach vendor, with no
console error and no failed asset on the way. (The roster download, a care manager lead's, is
walked in tests/gaps/test_vendor_export_browser.py.)"""

import csv
import io
import re
from pathlib import Path

import pytest

from gaps.models import CareGap
from interventions.models import OutreachRecord
from members.identifiers import member_id_hash
from members.models import Member
from synthetic.demo import demo_member_ids
from tests.browser import DEMO_PASSWORD, demo_loaded, log_in
from tests.gaps.test_vendor_export import FORMULA_START, HEADER

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKLIST = "/admin/gaps/caregap/"


@pytest.fixture
def demo(db):
    return demo_loaded("care.manager")["care.manager"]


def _column(page, name: str) -> list[str]:
    """The cells of one worklist column, top to bottom."""
    return [cell.strip() for cell in page.locator(f"#result_list tbody td.field-{name}").all_inner_texts()]


def _search(page, live_server, term: str) -> None:
    page.goto(f"{live_server.url}{WORKLIST}")
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()


def _action(page, name: str) -> None:
    page.select_option("select[name=action]", name)
    page.click("button[name=index]")


def test_a_care_manager_works_her_queue(demo, watched, live_server):
    page = watched.page
    care_manager = demo
    log_in(page, live_server, "care.manager", DEMO_PASSWORD)

    # Her day at a glance: her gaps due for action, her contract's projected rating.
    assigned = CareGap.objects.filter(assignee=care_manager, compliance_status="open").count()
    day = page.inner_text("#my-day")
    assert "Your gaps due for action" in day and "H9001 · measurement year 2026" in day
    shown = sum(
        int(count.replace(",", ""))
        for count in page.locator("#my-day .my-day-counts .count").all_inner_texts()
    )
    assert 0 < shown <= assigned

    # Her queue: the worklist, highest priority first, says which run ranked it.
    page.click(".app-gaps a[href='/admin/gaps/caregap/']")
    assert re.search(
        r"Priorities of H9001 · 2026 set .+ by optimizer run #\d+ “Demo plan”", page.inner_text("#content")
    )
    ranks = [int(rank) for rank in _column(page, "priority")]
    assert ranks[0] == 1 and ranks == sorted(ranks)

    # A member found by the plan's own member ID (hashed before the query), then by pseudonym prefix.
    raw_id = demo_member_ids()["H9001"][0]
    member = Member.objects.get(id_hash=member_id_hash(raw_id))
    _search(page, live_server, raw_id)
    found = _column(page, "member_pseudonym")
    assert len(found) == member.gaps.count() >= 2 and set(found) == {member.pseudonym}
    _search(page, live_server, member.pseudonym[:9].lower())
    assert member.pseudonym in _column(page, "member_pseudonym")

    # Five unassigned gaps assigned to herself.
    page.goto(f"{live_server.url}{WORKLIST}?unassigned=true&compliance_status=open")
    boxes = page.locator("#result_list tbody input.action-select")
    chosen = [int(boxes.nth(n).get_attribute("value")) for n in range(5)]
    for n in range(5):
        boxes.nth(n).check()
    _action(page, "assign_to_me")
    assert "5 gaps assigned to you." in page.inner_text(".messagelist")
    assert set(CareGap.objects.filter(pk__in=chosen).values_list("assignee", flat=True)) == {care_manager.pk}

    # A call that scheduled two of the member's open gaps: the workflow moves, in one step.
    _search(page, live_server, raw_id)
    open_gaps = list(
        member.gaps.filter(compliance_status="open", workflow_state__in=["new", "assigned"]).order_by("pk")[
            :2
        ]
    )
    assert len(open_gaps) == 2
    for gap in open_gaps:
        page.check(f"#result_list input.action-select[value='{gap.pk}']")
    _action(page, "record_outreach")
    page.select_option("#id_channel", "call")
    page.select_option("#id_outcome", "scheduled")
    page.click("input[name=apply]")
    said = page.inner_text(".messagelist")
    assert said.startswith("Outreach recorded for 1 member. Workflow:") and said.count("→ Scheduled") == 2
    assert [CareGap.objects.get(pk=gap.pk).workflow_state for gap in open_gaps] == ["scheduled", "scheduled"]
    record = OutreachRecord.objects.get(member=member)
    assert (record.channel, record.outcome, record.recorded_by_id) == ("call", "scheduled", care_manager.pk)

    # The member's gaps for the outreach vendor: pseudonym and key, never an internal ID or a formula.
    _search(page, live_server, raw_id)
    page.check("#action-toggle")
    with page.expect_download() as download:
        _action(page, "export_csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(), newline="")))
    assert rows[0] == HEADER and len(rows) == 1 + member.gaps.count()
    assert {(row[0], row[1]) for row in rows[1:]} == {(member.pseudonym, member.id_hash)}
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_START)]
    # Numbers only where the columns say so (year, percent, rank, stars): no internal ID anywhere.
    figures = ("measurement year", "P(close) %", "priority rank (1 = top 1%)", "priority (stars per $1,000)")
    counted = {HEADER.index(name) for name in figures}
    whole = [cell for row in rows[1:] for i, cell in enumerate(row) if i not in counted and cell.isdigit()]
    assert whole == []

    assert watched.problems() == []

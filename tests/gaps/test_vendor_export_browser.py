"""A care manager lead exports her worklist for a vendor and joins it to the plan's roster, in Chromium."""

import csv
import hashlib
import io
import re
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from hedis_portal import roles
from members.models import Member
from tests.browser import chromium, log_in, watched  # noqa: F401 (fixtures)
from tests.factories import CareGapFactory, ContractFactory, MemberFactory, UserFactory, measure
from tests.gaps.test_vendor_export import FORMULA_START, HEADER

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKLIST = "/admin/gaps/caregap/"
ROSTER = (
    b"member_id,Phone,Preferred language\r\n"
    b"PLAN-0001,555-0101,Spanish\r\n"
    b"PLAN-0002,555-0102,English\r\n"
    b"PLAN-0099,555-0199,English\r\n"  # a member who has none of these gaps
)


def _downloaded(page, click) -> tuple[str, list[list[str]]]:
    """The file name and CSV rows of the download that `click()` starts."""
    with page.expect_download() as download:
        click()
    text = Path(download.value.path()).read_bytes().decode()
    return download.value.suggested_filename, list(csv.reader(io.StringIO(text, newline="")))


def _choose(page, action: str) -> None:
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_the_vendor_file_and_the_roster_download_of_the_ticked_gaps(watched, live_server):  # noqa: F811
    contract = ContractFactory(contract_id="H3001")
    lead = UserFactory(username="lena.lead", role=roles.CARE_MANAGER_LEAD, contracts=[contract])
    gaps = [
        CareGapFactory(member=MemberFactory(contract=contract, raw_member_id=raw_id), measure=measure(code))
        for raw_id, code in [("PLAN-0001", "BCS"), ("PLAN-0002", "COL"), ("PLAN-0003", "CBP")]
    ]
    # A username a spreadsheet would run as a formula.
    gaps[0].assignee = UserFactory(username="=HYPERLINK(1)", contracts=[contract])
    gaps[0].save()
    page = watched.page
    log_in(page, live_server, "lena.lead", "test-password")
    page.goto(f"{live_server.url}{WORKLIST}")
    for gap in gaps:
        page.check(f"input[name=_selected_action][value='{gap.pk}']")

    name, rows = _downloaded(page, lambda: _choose(page, "export_csv"))
    assert name.startswith("worklist-vendor-") and name.endswith(".csv")
    assert rows[0] == HEADER
    assert sorted((row[0], row[1], row[3]) for row in rows[1:]) == sorted(
        (gap.member.pseudonym, gap.member.id_hash, gap.measure.code) for gap in gaps
    )
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_START)]
    assert "'=HYPERLINK(1)" in cells
    # No internal ID: the only whole number is the measurement year (none of these gaps is ranked).
    assert {cell for cell in cells if re.fullmatch(r"\d+", cell)} == {"2026"}

    _choose(page, "reidentify_with_roster")
    assert page.inner_text("#content h1") == "Re-identify for outreach"
    page.set_input_files(
        "input[name=roster]", files=[{"name": "roster.csv", "mimeType": "text/csv", "buffer": ROSTER}]
    )
    name, rows = _downloaded(page, lambda: page.click("input[name=apply]"))
    assert name.startswith("worklist-roster-") and name.endswith(".csv")
    assert rows[0] == [*HEADER, "member_id", "Phone", "Preferred language"]
    assert {row[0]: row[len(HEADER) :] for row in rows[1:]} == {
        gaps[0].member.pseudonym: ["PLAN-0001", "555-0101", "Spanish"],
        gaps[1].member.pseudonym: ["PLAN-0002", "555-0102", "English"],
        gaps[2].member.pseudonym: ["", "", ""],
    }

    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Member), action=LogEntry.Action.ACCESS
    )
    assert entry.actor == lead
    assert entry.additional_data["batch"]["count"] == 3
    assert entry.additional_data["batch"]["gaps_found_in_roster"] == 2
    assert entry.additional_data["batch"]["roster"] == {
        "sha256": hashlib.sha256(ROSTER).hexdigest(),
        "size_bytes": len(ROSTER),
        "rows": 3,
    }
    assert watched.problems() == []

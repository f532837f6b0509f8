"""The worklist for outreach vendors (CSV and Excel) and joined to the plan's roster, from the admin."""

import csv
import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from gaps import exports
from hedis_portal import roles
from members.models import Member
from ratings.models import Measure, PortfolioRun
from tests.conftest import query_count
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, UserFactory, measure

pytestmark = pytest.mark.django_db
URL = "/admin/gaps/caregap/"
ROSTER_URL = "/admin/gaps/caregap/reidentify/"
HEADER = [
    "member",
    "member key",
    "contract",
    "measure",
    "measure name",
    "measurement year",
    "compliance status",
    "workflow state",
    "P(close) %",
    "priority rank (1 = top 1%)",
    "priority (stars per $1,000)",
    "priority reason",
    "last outreach",
    "assignee",
]
BCS_FACTS = {
    "star": 3,
    "closures_to_next_star": 12,
    "weight": "1",
    "stars_per_closure": 0.004,
    "interventions": ["Phone call", "Mobile mammography"],
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _optimizer_run(contract):
    """An optimizer run that set the priorities of the contract's 2026 gaps, BCS among them."""
    return PortfolioRun.objects.create(
        kind=PortfolioRun.Kind.OPTIMIZE,
        contract=contract,
        measurement_year=2026,
        parameters={},
        inputs={},
        result={"interventions": [], "priorities": {"unit_dollars": 1000, "measures": {"BCS": BCS_FACTS}}},
        duration_ms=1.0,
        priorities_set=True,
    )


def _worked_gap(contract, assignee, *, raw_member_id="PLAN-0001", code="BCS"):
    """A ranked gap with a prediction, an assignee and an outreach on March 1."""
    member = MemberFactory(contract=contract, raw_member_id=raw_member_id)
    prediction = PredictionFactory(member=member, measure=measure(code), probability=0.623)
    return CareGapFactory(
        member=member,
        measure=measure(code),
        workflow_state="outreach_attempted",
        assignee=assignee,
        current_prediction=prediction,
        priority_score=0.012345,
        priority_rank=7,
        last_outreach_at=timezone.make_aware(datetime(2026, 3, 1, 12)),
    )


@pytest.fixture
def logged_in(client, care_manager):
    client.force_login(care_manager)
    return client


@pytest.fixture
def lead(contract):
    return UserFactory(username="lead", role=roles.CARE_MANAGER_LEAD, contracts=[contract])


def _csv_rows(response) -> list[list[str]]:
    assert response["Content-Disposition"].startswith('attachment; filename="worklist-')
    return list(csv.reader(io.StringIO(response.content.decode(), newline="")))


def _xlsx_rows(response) -> list[tuple]:
    assert response["Content-Type"] == exports.XLSX_CONTENT_TYPE
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return list(sheet.iter_rows(values_only=True))


def _export(client, gaps, action="export_csv", query=""):
    return client.post(f"{URL}{query}", {"action": action, "_selected_action": [gap.pk for gap in gaps]})


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- The vendor file ----------------------------------------------------------------------


def test_the_vendor_csv_has_exactly_these_columns_in_words_people_read(logged_in, contract, care_manager):
    _optimizer_run(contract)
    gap = _worked_gap(contract, care_manager)
    assert exports.VENDOR_HEADER == HEADER
    assert _csv_rows(_export(logged_in, [gap])) == [
        HEADER,
        [
            gap.member.pseudonym,
            gap.member.id_hash,
            "H1001",
            "BCS",
            "Breast Cancer Screening",
            "2026",
            "Open",
            "Outreach attempted",
            "62.3",
            "7",
            "0.0123",
            "BCS: 12 closures from 4 ★ · weight 1 · P(close) 62% · worked by Phone call, Mobile mammography",
            "2026-03-01",
            "cm",
        ],
    ]


def test_a_gap_no_run_has_ranked_has_no_priority_and_a_tiny_one_no_scientific_notation(logged_in, contract):
    unranked = CareGapFactory(member=MemberFactory(contract=contract), priority_score=0.5)
    tiny = CareGapFactory(member=MemberFactory(contract=contract), priority_score=6.2e-08, priority_rank=100)
    rows = {row[0]: row for row in _csv_rows(_export(logged_in, [unranked, tiny]))[1:]}
    assert rows[unranked.member.pseudonym][8:14] == ["", "", "", "", "", ""]
    assert rows[tiny.member.pseudonym][9:11] == ["100", "0.000000062"]


def test_no_cell_is_an_internal_id(logged_in, contract, care_manager):
    """Only the measurement year and the rank are whole numbers; members are named by pseudonym
    and key, the contract by its CMS ID."""
    gaps = [_worked_gap(contract, care_manager, raw_member_id=f"PLAN-{n}") for n in range(3)]
    rows = _csv_rows(_export(logged_in, gaps))[1:]
    whole_numbers = {
        HEADER[column] for row in rows for column, cell in enumerate(row) if re.fullmatch(r"\d+", cell)
    }
    assert whole_numbers == {"measurement year", "priority rank (1 = top 1%)"}
    assert {row[1] for row in rows} == {gap.member.id_hash for gap in gaps}


@pytest.mark.parametrize("action", ["export_csv", "export_xlsx"])
def test_cells_beginning_with_a_formula_character_are_neutralised(logged_in, contract, action):
    Measure.objects.filter(code="BCS").update(name='=HYPERLINK("http://evil.example","x")')
    gaps = {
        name: CareGapFactory(
            member=MemberFactory(contract=contract),
            assignee=UserFactory(username=name, contracts=[contract]),
            priority_rank=1,
            priority_score=0.02,
        )
        for name in ["@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3", "=1+1"]
    }
    response = _export(logged_in, gaps.values(), action=action)
    rows = _csv_rows(response) if action == "export_csv" else _xlsx_rows(response)
    text_cells = [cell for row in rows for cell in row if isinstance(cell, str)]
    assert not [cell for cell in text_cells if cell.startswith(FORMULA_START)]
    assert {row[HEADER.index("assignee")] for row in rows[1:]} == {f"'{name}" for name in gaps}
    assert {row[HEADER.index("measure name")] for row in rows[1:]} == {
        '\'=HYPERLINK("http://evil.example","x")'
    }


def test_the_excel_file_has_the_same_columns_and_numbers_stay_numbers(logged_in, contract, care_manager):
    _optimizer_run(contract)
    gap = _worked_gap(contract, care_manager)
    response = _export(logged_in, [gap], action="export_xlsx")
    assert response["Content-Disposition"].endswith('.xlsx"')
    rows = _xlsx_rows(response)
    assert list(rows[0]) == HEADER
    assert list(rows[1]) == [
        gap.member.pseudonym,
        gap.member.id_hash,
        "H1001",
        "BCS",
        "Breast Cancer Screening",
        2026,
        "Open",
        "Outreach attempted",
        62.3,
        7,
        0.0123,
        "BCS: 12 closures from 4 ★ · weight 1 · P(close) 62% · worked by Phone call, Mobile mammography",
        datetime(2026, 3, 1),
        "cm",
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    # The priority shows its own decimals, never 1.23E-02; the date as a date.
    assert (sheet["K2"].number_format, sheet["M2"].number_format) == ("#,##0.0000", "yyyy-mm-dd")


def test_select_all_exports_the_whole_filtered_worklist(logged_in, contract, other_contract):
    bcs = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(3)]
    CareGapFactory(member=MemberFactory(contract=contract), measure=measure("COL"))
    CareGapFactory(member=MemberFactory(contract=other_contract))
    response = logged_in.post(
        f"{URL}?measure=BCS",
        {"action": "export_csv", "_selected_action": [bcs[0].pk], "select_across": "1"},
    )
    assert sorted(row[0] for row in _csv_rows(response)[1:]) == sorted(gap.member.pseudonym for gap in bcs)
    ticked = _csv_rows(_export(logged_in, [bcs[0]], query="?measure=BCS"))
    assert [row[0] for row in ticked[1:]] == [bcs[0].member.pseudonym]
    entry = LogEntry.objects.filter(object_pk="export").order_by("pk").first()
    assert entry.additional_data["access"] == {
        "view": "admin/gaps/caregap/",
        "filters": {"measure": "BCS", "selection": "all"},
        "rows": 3,
    }


@pytest.mark.parametrize("action", ["export_csv", "export_xlsx"])
def test_an_export_costs_the_same_queries_for_one_gap_or_many(logged_in, contract, care_manager, action):
    _optimizer_run(contract)
    one = [_worked_gap(contract, care_manager, raw_member_id="PLAN-X")]
    many = [
        _worked_gap(contract, UserFactory(contracts=[contract]), raw_member_id=f"PLAN-{n}", code=code)
        for n, code in enumerate(["BCS", "COL", "CBP", "EED", "KED"])
    ]
    assert query_count(lambda: _export(logged_in, one, action=action)) == query_count(
        lambda: _export(logged_in, many, action=action)
    )


def test_an_excel_export_past_its_limit_sends_nothing_and_says_why(logged_in, contract, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 1)
    gaps = [CareGapFactory(member=MemberFactory(contract=contract)) for _ in range(2)]
    response = _export(logged_in, gaps, action="export_xlsx")
    assert response.status_code == 302
    assert _messages(response) == ["An Excel file holds at most 1 gaps: filter the worklist, or export CSV."]
    assert not LogEntry.objects.filter(object_pk="export").exists()


def test_the_api_export_has_the_vendor_columns(api, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    response = api(care_manager).get("/api/gaps/export/")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert rows[0] == HEADER
    assert rows[1][:4] == [gap.member.pseudonym, gap.member.id_hash, "H1001", "BCS"]


def test_every_excel_file_of_the_portal_goes_through_the_neutralising_writer():
    """XlsxWriter is imported only by `hedis_portal/exports.py`: no Excel file bypasses it."""
    root = Path(__file__).resolve().parents[2]
    importing = re.compile(r"^\s*(import|from)\s+(xlsxwriter|openpyxl)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.relative_to(root).parts[0] not in {".venv", "tests", "staticfiles"}
        and importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == ["hedis_portal/exports.py"]


# --- Joined to the plan's roster ------------------------------------------------------------

ROSTER = (
    "MemberID,Name,Phone\r\n"
    "plan-0001,Ada Example,=2+5\r\n"  # lower case: IDs are matched as the search box matches them
    "PLAN-0003,Someone Else,555-0103\r\n"  # not among the selected gaps
    "PLAN-0004,Other Contract,555-0104\r\n"  # a member of a contract the user does not see
)


@pytest.fixture
def roster_gaps(contract, other_contract):
    """Two gaps of H1001 (PLAN-0001 in the roster, PLAN-0002 not), one of H1002 whose member the
    roster lists."""
    found = CareGapFactory(member=MemberFactory(contract=contract, raw_member_id="PLAN-0001"))
    missing = CareGapFactory(member=MemberFactory(contract=contract, raw_member_id="PLAN-0002"))
    CareGapFactory(member=MemberFactory(contract=other_contract, raw_member_id="PLAN-0004"))
    return found, missing


def _reidentify(client, gaps, roster: bytes, *, query="", **fields):
    return client.post(
        f"{ROSTER_URL}{query}",
        {
            "action": "reidentify_with_roster",
            "_selected_action": [gap.pk for gap in gaps],
            "apply": "1",
            "roster": SimpleUploadedFile("roster.csv", roster, "text/csv"),
            "id_column": "",
            "file_format": "csv",
            **fields,
        },
    )


def _roster_entries():
    """Access entries on members (the roster downloads)."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Member), action=LogEntry.Action.ACCESS
    )


def _errors(response) -> list[str]:
    form = response.context["form"]
    return [str(error) for errors in form.errors.values() for error in errors]


def test_the_roster_action_asks_for_the_file_for_the_selected_gaps(client, lead, roster_gaps):
    client.force_login(lead)
    page = client.post(
        f"{URL}?measure=BCS",
        {"action": "reidentify_with_roster", "_selected_action": [roster_gaps[0].pk], "select_across": "1"},
    )
    assert page.status_code == 200
    assert page.context["gaps"] == "2 gaps" and page.context["whole_list"]
    assert page.context["post_url"] == f"{ROSTER_URL}?measure=BCS"
    assert b'enctype="multipart/form-data"' in page.content
    assert not _roster_entries().exists()


def test_the_worklist_joined_to_the_roster_carries_its_columns_for_members_found(client, lead, roster_gaps):
    found, missing = roster_gaps
    client.force_login(lead)
    rows = _csv_rows(_reidentify(client, [found, missing], ROSTER.encode()))
    assert rows[0] == [*HEADER, "MemberID", "Name", "Phone"]
    joined = {row[0]: row[len(HEADER) :] for row in rows[1:]}
    assert joined == {
        found.member.pseudonym: ["plan-0001", "Ada Example", "'=2+5"],
        missing.member.pseudonym: ["", "", ""],
    }


def test_the_id_column_can_be_named_and_the_excel_download_chosen(client, lead, roster_gaps):
    found, _ = roster_gaps
    client.force_login(lead)
    roster = b"Plan member number,Phone\nPLAN-0001,555-0101\n"
    response = _reidentify(client, [found], roster, id_column="plan_member number", file_format="xlsx")
    rows = _xlsx_rows(response)
    assert list(rows[0][len(HEADER) :]) == ["Plan member number", "Phone"]
    assert list(rows[1][len(HEADER) :]) == ["PLAN-0001", "555-0101"]


def test_a_roster_column_named_like_a_vendor_column_is_told_apart(client, lead, roster_gaps):
    found, _ = roster_gaps
    client.force_login(lead)
    rows = _csv_rows(_reidentify(client, [found], b"member_id,member,\nPLAN-0001,Ada,x\n"))
    assert rows[0][len(HEADER) :] == ["member_id", "roster member", "column 3"]


def test_the_download_is_audited_without_the_roster(client, lead, roster_gaps, caplog):
    found, missing = roster_gaps
    client.force_login(lead)
    roster = ROSTER.encode()
    response = _reidentify(client, [found, missing], roster, query="?measure=BCS")
    assert response.status_code == 200
    entry = _roster_entries().get()
    assert (entry.actor, entry.action, entry.object_pk) == (lead, LogEntry.Action.ACCESS, "batch")
    assert entry.object_repr == "2 gaps re-identified with a plan roster (1 found in it)"
    assert entry.additional_data == {
        "batch": {
            "count": 2,
            "kind": "roster_reidentification",
            "view": "admin/gaps/caregap/reidentify/",
            "filters": {"measure": "BCS", "selection": "ticked"},
            "gaps_found_in_roster": 1,
            "roster": {"sha256": hashlib.sha256(roster).hexdigest(), "size_bytes": len(roster), "rows": 3},
        }
    }
    # Nothing of the roster is stored or logged: no ID, name or phone, in any entry or log line.
    stored = json.dumps(list(LogEntry.objects.values()), default=str) + caplog.text
    for value in ["PLAN-000", "plan-0001", "Ada", "Someone", "555-01", "roster.csv"]:
        assert value not in stored


def test_a_care_manager_without_the_permission_cannot_re_identify(logged_in, roster_gaps):
    page = logged_in.get(URL)
    assert "reidentify_with_roster" not in dict(page.context["action_form"].fields["action"].choices)
    assert "export_xlsx" in dict(page.context["action_form"].fields["action"].choices)
    refused = _reidentify(logged_in, roster_gaps, ROSTER.encode())
    assert refused.status_code == 403
    through_the_list = logged_in.post(
        URL, {"action": "reidentify_with_roster", "_selected_action": [roster_gaps[0].pk]}
    )
    assert through_the_list.status_code == 302 and "Content-Disposition" not in through_the_list
    assert _messages(through_the_list) == ["No action selected."]
    assert not _roster_entries().exists()


def test_administrators_may_re_identify(client, administrator, roster_gaps):
    client.force_login(administrator)
    rows = _csv_rows(_reidentify(client, roster_gaps, ROSTER.encode()))
    assert len(rows) == 3


def test_the_roster_post_checks_the_csrf_token(lead, roster_gaps):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert _reidentify(client, roster_gaps, ROSTER.encode()).status_code == 403
    assert not _roster_entries().exists()


def test_a_roster_larger_than_djangos_memory_limit_never_touches_the_disk(
    client, lead, roster_gaps, settings, monkeypatch
):
    """Django writes an upload past FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file: the roster's
    own URL keeps it in memory (the changelist's, which any action posts to, does not)."""

    def no_temporary_file(*args, **kwargs):
        raise AssertionError("a temporary file was opened for the upload")

    monkeypatch.setattr("django.core.files.uploadedfile.tempfile.NamedTemporaryFile", no_temporary_file)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    roster = (ROSTER + "".join(f"EXTRA-{n:06d},Filler,555-0000\r\n" for n in range(200))).encode()
    assert len(roster) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    client.force_login(lead)
    rows = _csv_rows(_reidentify(client, roster_gaps, roster))
    assert len(rows) == 3
    with pytest.raises(AssertionError, match="temporary file"):
        client.post(URL, {"action": "export_csv", "roster": SimpleUploadedFile("r.csv", roster)})


BAD_ROSTERS = {
    "no ID column": (
        b"Name,Phone\nAda,555\n",
        "No column of the roster is named member_id (or MemberID, Member ID): give the name of its "
        "member ID column.",
    ),
    "empty": (b"", "The roster is empty: its first row names the columns, each row below is a member."),
    "only a header": (b"member_id,phone\n", "The roster has no rows below its header."),
    "not UTF-8": (
        b"member_id,name\nPLAN-0001,Jos\xe9\n",
        "The roster is not UTF-8 text (line 2): save it as “CSV UTF-8” and upload it again.",
    ),
    "a row wider than the header": (
        b"member_id,phone\nPLAN-0001,555,extra\n",
        "Line 2 of the roster has more cells than its header has columns.",
    ),
    "a blank member ID": (
        b"member_id,phone\nPLAN-0001,555\n,556\n",
        "Line 3 of the roster: member ID is blank",
    ),
    "two ID columns": (
        b"member_id,Member ID\nPLAN-0001,PLAN-0001\n",
        "Columns 1 and 2 of the roster both name the member ID: keep one.",
    ),
    "a cell too long": (
        b"member_id,note\nPLAN-0001," + b"x" * 1001 + b"\n",
        "Line 2 of the roster has a cell longer than 1,000 characters.",
    ),
    "a NUL byte": (
        b"member_id,phone\nPLAN-0001,5\x0055\n",
        "The roster holds a NUL character (line 2): it is not a CSV text file.",
    ),
    "a broken quote": (b'member_id,phone\nPLAN-0001,"555\n', "Line 2 of the roster is not valid CSV."),
}


@pytest.mark.parametrize("name", BAD_ROSTERS)
def test_a_bad_roster_gives_one_clear_error_and_writes_nothing(client, lead, roster_gaps, name):
    roster, message = BAD_ROSTERS[name]
    client.force_login(lead)
    response = _reidentify(client, roster_gaps, roster)
    assert response.status_code == 200 and "Content-Disposition" not in response
    assert _errors(response) == [message]
    assert not _roster_entries().exists()


def test_a_roster_past_the_size_or_row_limits_is_refused(client, lead, roster_gaps, monkeypatch):
    client.force_login(lead)
    monkeypatch.setattr(exports, "ROSTER_MAX_ROWS", 2)
    assert _errors(_reidentify(client, roster_gaps, ROSTER.encode())) == [
        "The roster has more than 2 rows: split it."
    ]
    monkeypatch.setattr(exports, "ROSTER_MAX_BYTES", 1024 * 1024)
    too_big = _reidentify(client, roster_gaps, ROSTER.encode() + b"PLAN-0005,A,1\n" * 80_000)
    assert _errors(too_big) == ["The roster is larger than 1 MB: split it."]
    assert not _roster_entries().exists()


def test_a_named_id_column_missing_from_the_roster_is_refused(client, lead, roster_gaps):
    client.force_login(lead)
    response = _reidentify(client, roster_gaps, ROSTER.encode(), id_column="subscriber")
    assert _errors(response) == ["No column of the roster has the name given for its member ID column."]

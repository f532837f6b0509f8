"""The gap file import: atomic, idempotent, full snapshots, members on first sight, audited."""

import getpass
import hashlib
import socket
from datetime import date
from io import StringIO

import pytest
from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection

from gaps.importing import SNAPSHOT_REASON, gaps_import_csv
from gaps.models import CareGap, ComplianceStatus, WorkflowState
from hedis_portal.import_errors import ImportRejected
from members.identifiers import member_id_hash
from members.models import Member
from tests.factories import CareGapFactory, MemberFactory, measure

pytestmark = pytest.mark.django_db

HEADER = (
    "member_id,measure,compliance_status,exclusion_reason,evidence_date,evidence_source,birth_year,sex,lis_de"
)


def gap_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


GOOD = gap_file(
    "M-001,BCS,open,,,,1956,F,yes",
    "M-001,COL,closed,,2026-03-04,claims,1956,F,yes",
    "M-002,CBP,excluded,Hospice,,,1949,M,no",
    "M-003,BCS,open,,,,1960,F,",
)


def run(data: bytes, contract, **kwargs):
    return gaps_import_csv(
        data=data, contract=contract, measurement_year=2026, **{"channel": "command", **kwargs}
    )


def test_first_import_creates_members_and_gaps(contract):
    result = run(GOOD, contract)
    assert (result.rows, result.members_created, result.gaps_created, result.gaps_updated) == (4, 3, 4, 0)
    first = Member.objects.get(id_hash=member_id_hash("M-001"))
    assert (first.contract, first.birth_year, first.sex, first.lis_de) == (contract, 1956, "F", True)
    closed = CareGap.objects.get(member=first, measure=measure("COL"))
    assert (closed.compliance_status, closed.evidence_date, closed.evidence_source) == (
        "closed",
        date(2026, 3, 4),
        "claims",
    )
    assert closed.workflow_state == WorkflowState.RESOLVED
    assert CareGap.objects.get(member=first, measure=measure("BCS")).workflow_state == WorkflowState.NEW


def test_importing_the_same_file_twice_changes_nothing(contract):
    run(GOOD, contract)
    before = list(CareGap.objects.order_by("pk").values())
    result = run(GOOD, contract)
    assert (result.members_created, result.gaps_created, result.gaps_updated, result.gaps_unchanged) == (
        0,
        0,
        0,
        4,
    )
    assert list(CareGap.objects.order_by("pk").values()) == before


def test_a_changed_row_updates_its_gap_bumps_version_and_resolves_workflow(contract):
    run(GOOD, contract)
    gap = CareGap.objects.get(member__id_hash=member_id_hash("M-003"))
    result = run(gap_file("M-003,BCS,closed,,2026-05-01,ehr,1960,F,"), contract)
    gap.refresh_from_db()
    assert (result.gaps_updated, gap.compliance_status, gap.workflow_state, gap.version) == (
        1,
        "closed",
        "resolved",
        2,
    )


def test_a_reopened_gap_goes_back_to_the_worklist(contract, care_manager):
    run(GOOD, contract)
    gap = CareGap.objects.get(member__id_hash=member_id_hash("M-001"), measure=measure("COL"))
    CareGap.objects.filter(pk=gap.pk).update(assignee=care_manager)
    run(gap_file("M-001,COL,open,,,,1956,F,yes"), contract)
    gap.refresh_from_db()
    assert (gap.compliance_status, gap.workflow_state) == ("open", "assigned")


def test_full_snapshot_retires_open_gaps_missing_from_the_file_and_records_why(contract):
    run(GOOD, contract)
    result = run(gap_file("M-001,COL,closed,,2026-03-04,claims,1956,F,yes"), contract, full_snapshot=True)
    assert result.gaps_left_denominator == 2  # M-001 BCS and M-003 BCS were open; M-002 was excluded
    retired = CareGap.objects.filter(status_reason=SNAPSHOT_REASON)
    assert {(g.compliance_status, g.workflow_state) for g in retired} == {("not_applicable", "resolved")}
    assert CareGap.objects.count() == 4  # recorded, not deleted
    assert CareGap.objects.get(compliance_status="excluded").status_reason == ""


def test_without_full_snapshot_missing_rows_are_left_alone(contract):
    run(GOOD, contract)
    run(gap_file("M-001,COL,closed,,2026-03-04,claims,1956,F,yes"), contract)
    assert CareGap.objects.filter(compliance_status="open").count() == 2


def test_full_snapshot_only_touches_this_contract_and_year(contract, other_contract):
    other_gap = CareGapFactory(member=MemberFactory(contract=other_contract))
    last_year = CareGapFactory(member=MemberFactory(contract=contract), measurement_year=2025)
    run(GOOD, contract, full_snapshot=True)
    for gap in (other_gap, last_year):
        gap.refresh_from_db()
        assert gap.compliance_status == "open"


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("M-9,XYZ,open,,,,1950,F,", "measure", "not a known member-level measure code"),
        ("M-9,C22,open,,,,1950,F,", "measure", "not a known member-level measure code"),
        (
            "M-9,BCS,pending,,,,1950,F,",
            "compliance_status",
            "not one of open, closed, excluded, not_applicable",
        ),
        ("M-9,BCS,closed,,,,1950,F,", "evidence_date", "a closed gap needs an evidence date and source"),
        ("M-9,BCS,closed,,2026-02-30,claims,1950,F,", "evidence_date", "not a date (YYYY-MM-DD)"),
        ("M-9,BCS,closed,,2999-01-01,claims,1950,F,", "evidence_date", "is in the future"),
        (
            "M-9,BCS,closed,,2026-01-02,fax,1950,F,",
            "evidence_source",
            "not one of claims, supplemental, ehr, lab",
        ),
        ("M-9,BCS,excluded,,,,1950,F,", "exclusion_reason", "an excluded gap needs an exclusion reason"),
        (
            "M-9,BCS,open,Hospice,,,1950,F,",
            "exclusion_reason",
            "given for a gap whose compliance status is not excluded",
        ),
        (",BCS,open,,,,1950,F,", "member_id", "member ID is blank"),
        (
            "M-9\x00,BCS,open,,,,1950,F,",
            "member_id",
            "member ID contains a control, format or other invisible",
        ),
        ("M-9,BCS,open,,,,1850,F,", "birth_year", "not a year between 1900 and 2026"),
        ("M-9,BCS,open,,,,1950,X,", "sex", "not one of F, M, U"),
        (
            "M-9,BCS,open,,,,1950,F,maybe",
            "lis_de",
            "not a yes/no value (yes, no, true, false, 1, 0 or empty)",
        ),
        ("M-9,BCS,open,,,,,F,", "birth_year", "required for a member seen for the first time"),
        ("M-9,BCS,open,,,,1950,F,,extra", "row", "10 values for 9 columns"),
    ],
)
def test_a_bad_row_rejects_the_file_naming_line_field_and_reason_but_no_value(contract, row, field, message):
    data = gap_file("M-001,BCS,open,,,,1956,F,yes", row)
    with pytest.raises(ImportRejected) as rejected:
        run(data, contract)
    errors = rejected.value.extra["errors"]
    assert errors == [{"line": 3, "field": field, "message": errors[0]["message"]}]
    assert errors[0]["message"].startswith(message)
    assert not CareGap.objects.exists() and not Member.objects.exists()


def test_every_bad_row_is_listed_and_raw_ids_are_never_echoed(contract):
    data = gap_file(
        "SECRET-1,XYZ,open,,,,1956,F,", "SECRET-2,BCS,open,,,,1956,F,", "SECRET-3,BCS,nope,,,,1950,F,"
    )
    with pytest.raises(ImportRejected) as rejected:
        run(data, contract)
    assert [(e["line"], e["field"]) for e in rejected.value.extra["errors"]] == [
        (2, "measure"),
        (4, "compliance_status"),
    ]
    assert "SECRET" not in str(rejected.value.extra) + rejected.value.message


def test_duplicate_member_and_measure_in_one_file_is_rejected(contract):
    data = gap_file("M-1,BCS,open,,,,1956,F,", "M-2,BCS,open,,,,1956,F,", " M-1 ,bcs,open,,,,1956,F,")
    with pytest.raises(ImportRejected) as rejected:
        run(data, contract)
    assert rejected.value.extra["errors"] == [
        {"line": 4, "field": "member_id", "message": "same member and measure as line 2"}
    ]


def test_wrong_measurement_year_column_is_rejected(contract):
    data = gap_file("M-1,BCS,open,2025", header="member_id,measure,compliance_status,measurement_year")
    with pytest.raises(ImportRejected) as rejected:
        run(data, contract)
    assert rejected.value.extra["errors"][0]["message"] == "not the import's measurement year (2026)"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"member_id,measure\nM-1,BCS\n", "missing column(s): compliance_status"),
        (
            b"member_id,measure,compliance_status,colour,mesure\n",
            "2 unknown columns at positions 4, 5 (did you mean measure?); known columns: member_id, measure,",
        ),
        (b"M-1,BCS,open\n", "3 unknown columns at positions 1, 2, 3 (is the first line a header?)"),
        (b"member_id,measure,compliance_status\n", "no data rows"),
        ("member_id,measure,compliance_status\nM-1,BCS,open\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_malformed_files_are_rejected(contract, data, message):
    with pytest.raises(ImportRejected) as rejected:
        run(data, contract)
    assert any(message in error["message"] for error in rejected.value.extra["errors"])


def test_a_file_that_is_not_utf8_is_refused_at_the_line_of_the_first_bad_byte(contract):
    with pytest.raises(ImportRejected) as rejected:
        run(
            gap_file("M-1,BCS,open,,,,1956,F,", "M-\xe9,BCS,open,,,,1956,F,").replace(b"\xc3\xa9", b"\xe9"),
            contract,
        )
    assert [(error["line"], error["field"]) for error in rejected.value.extra["errors"]] == [(3, "file")]


def test_another_contracts_member_is_rejected(contract, other_contract):
    MemberFactory(contract=other_contract, raw_member_id="M-ELSEWHERE")
    with pytest.raises(ImportRejected) as rejected:
        run(gap_file("M-ELSEWHERE,BCS,open,,,,1956,F,"), contract)
    assert rejected.value.extra["errors"][0]["message"] == "member is not enrolled in H1001"


def test_bom_and_padded_headers_are_accepted(contract):
    data = "\ufeffmember_id , measure,compliance_status ,birth_year\nM-1,BCS,open,1950\n".encode()
    assert run(data, contract).gaps_created == 1


def test_import_is_audited_once_with_counts_channel_and_file_hash_size_and_rows_but_no_name(contract):
    result = run(GOOD, contract, channel="api")
    entry = LogEntry.objects.get(object_pk="batch", object_repr__startswith="Gap import")
    batch = entry.additional_data["batch"]
    assert (batch["count"], batch["gaps_created"], batch["channel"], batch["file"]) == (
        4,
        4,
        "api",
        {"sha256": hashlib.sha256(GOOD).hexdigest(), "size_bytes": len(GOOD), "rows": 4},
    )
    assert batch["sha256"] == result.sha256 and "source" not in batch
    assert "command_line" not in entry.additional_data
    assert "M-001" not in str(entry.additional_data)


def test_the_api_upload_and_the_command_record_no_file_name(api, administrator, contract, run_jobs, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("vendor-X9-members.csv", GOOD, content_type="text/csv")
    body = {"file": upload, "contract": "H1001", "measurement_year": 2026}
    with run_jobs():
        started = api(administrator).post("/api/gaps/import/", body, format="multipart")
    assert started.status_code == 202
    assert "vendor-X9" not in started.content.decode()
    path = tmp_path / "vendor-X9-members.csv"
    path.write_bytes(gap_file("M-001,BCS,closed,,2026-03-04,ehr,1956,F,yes"))
    call_command("import_gaps", str(path), contract="H1001", measurement_year=2026, stdout=StringIO())
    imports = LogEntry.objects.filter(object_pk="batch", object_repr__startswith="Gap import").order_by("pk")
    batches = [entry.additional_data["batch"] for entry in imports]
    assert [(b["channel"], b["file"]["size_bytes"], b["file"]["rows"]) for b in batches] == [
        ("api", len(GOOD), 4),
        ("command", len(path.read_bytes()), 1),
    ]
    assert "vendor-X9" not in str(batches) and "vendor-X9" not in str(path.parent)


def test_the_command_records_the_os_user_and_host_as_the_actor(contract, tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_bytes(GOOD)
    call_command("import_gaps", str(path), contract="H1001", measurement_year=2026, stdout=StringIO())
    entry = LogEntry.objects.get(object_pk="batch", object_repr__startswith="Gap import")
    assert entry.actor is None  # no portal user runs it; the operating system's user does
    assert entry.additional_data["command_line"] == {
        "command": "import_gaps",
        "os_user": getpass.getuser(),
        "host": socket.gethostname(),
    }
    assert auditlog_value.get(None) is None  # the command's context ends with it


def test_raw_member_ids_are_not_stored(contract):
    run(GOOD, contract)
    from tests.members.test_api import _database_text_contains

    assert _database_text_contains("M-001") == []


def test_command_imports_with_a_summary(contract, tmp_path, capsys):
    path = tmp_path / "gaps.csv"
    path.write_bytes(GOOD)
    call_command("import_gaps", str(path), contract="h1001", measurement_year=2026)
    out = capsys.readouterr().out
    assert "4 rows: 4 gaps created, 0 updated, 0 unchanged, 0 left the denominator; 3 members created" in out


def test_command_lists_every_bad_line_and_writes_nothing(contract, tmp_path, capsys):
    path = tmp_path / "gaps.csv"
    path.write_bytes(
        gap_file("M-1,XYZ,open,,,,1956,F,", "M-2,BCS,open,,,,1956,F,", "M-3,BCS,closed,,,,1950,F,")
    )
    with pytest.raises(CommandError, match="2 problems in the file; nothing was imported"):
        call_command("import_gaps", str(path), contract="H1001", measurement_year=2026, full_snapshot=True)
    err = capsys.readouterr().err
    assert "line 2, measure:" in err and "line 4, evidence_date:" in err
    assert not CareGap.objects.exists()


def test_command_refuses_unknown_contract_and_missing_file(contract, tmp_path):
    with pytest.raises(CommandError, match="No contract 'H0000'"):
        call_command("import_gaps", str(tmp_path / "x.csv"), contract="H0000", measurement_year=2026)
    with pytest.raises(CommandError, match="Cannot read the file: No such file") as refused:
        call_command("import_gaps", str(tmp_path / "missing.csv"), contract="H1001", measurement_year=2026)
    assert "missing.csv" not in str(refused.value)


def test_rows_for_every_denominator_member_make_rates_computable(contract):
    run(GOOD, contract)
    bcs = CareGap.objects.filter(measure=measure("BCS"))
    assert bcs.count() == 2 and bcs.filter(compliance_status=ComplianceStatus.OPEN).count() == 2


def test_an_exclusion_reason_with_tabs_and_backslashes_is_stored_as_written(contract):
    # The PostgreSQL path COPYs rows in text format, where these characters must be escaped.
    run(gap_file('M-1,BCS,excluded,"Hospice\tsince 2025 \\N",,,1950,F,'), contract)
    assert CareGap.objects.get().exclusion_reason == "Hospice\tsince 2025 \\N"


def test_the_refusal_counts_its_problems_in_words(contract):
    with pytest.raises(ImportRejected, match=r"^1 problem in the file; nothing was imported\.$"):
        run(gap_file("M-1,BCS,shut,,,,1956,F,"), contract)


def test_rows_repeating_the_same_cells_are_each_checked_and_reported_at_their_own_line(contract):
    # Each distinct set of cells (all but the member ID) is checked once and its outcome reused:
    # a bad repeated row is reported at every line it is on, and a good repeat imports each row.
    data = gap_file(
        "M-1,BCS,closed,,2026-03-04,claims,1956,F,",
        "M-2,BCS,closed,,2026-03-04,claims,1956,F,",
        "M-3,BCS,open,Hospice,,,1950,M,no",
        "M-4,BCS,open,Hospice,,,1950,M,no",
        " ,BCS,open,Hospice,,,1950,M,no",
    )
    with pytest.raises(ImportRejected) as rejected:
        run(data, contract)
    assert [(e["line"], e["field"]) for e in rejected.value.extra["errors"]] == [
        (4, "exclusion_reason"),
        (5, "exclusion_reason"),
        (6, "member_id"),
        (6, "exclusion_reason"),
    ]
    assert not CareGap.objects.exists() and not Member.objects.exists()

    result = run(gap_file(*data.decode().splitlines()[1:3]), contract)
    assert (result.rows, result.members_created, result.gaps_created) == (2, 2, 2)
    assert CareGap.objects.filter(compliance_status="closed", evidence_date=date(2026, 3, 4)).count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based apply is PostgreSQL's")
def test_the_apply_leaves_the_sessions_work_mem_as_it_was(contract):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '5MB'")
        run(GOOD, contract)
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] == "5MB"
    assert CareGap.objects.count() == 4

"""The worklist for outreach vendors (CSV and Excel), and joined to the plan's own roster.

One row builder, `vendor_rows`, feeds the admin's CSV and Excel exports, the roster join and the
API's CSV: the files never differ in a column. A member is named by pseudonym and full member key
(the keyed hash the plan can recompute from its own IDs), never by the portal's internal IDs.

The roster join (`roster_read`, then `vendor_file` with the roster) is for users whose role may
re-identify members: the plan's roster, raw member IDs and contact columns, is read in memory
(`RosterUploadHandler` keeps it off the disk), matched by keyed hash and dropped with the request;
nothing of it is stored or logged but its SHA-256, size and row count in the audit entry.
"""

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.utils import timezone

from gaps.models import ComplianceStatus, WorkflowState
from gaps.priorities import priority_reason, priority_runs
from hedis_portal.errors import ApplicationError
from hedis_portal.exports import XLSX_CONTENT_TYPE, CsvWriter, XlsxWriter
from members.identifiers import InvalidMemberId, member_id_hash

VENDOR_HEADER = [
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
# What each row reads, in one query (joins, no per-row look-up); the contract's key last, for the
# priority run of its contract and year (not written).
_FIELDS = (
    "member__pseudonym",
    "member__id_hash",
    "contract__contract_id",
    "measure__code",
    "measure__name",
    "measurement_year",
    "compliance_status",
    "workflow_state",
    "current_prediction__probability",
    "priority_rank",
    "priority_score",
    "last_outreach_at",
    "assignee__username",
    "contract_id",
)
_MEMBER_KEY = VENDOR_HEADER.index("member key")
_CHUNK = 2000
_COMPLIANCE = dict(ComplianceStatus.choices)
_WORKFLOW = dict(WorkflowState.choices)


def vendor_rows(gaps) -> Iterator[list]:
    """`gaps` (a queryset, in its order) as the vendor file's rows, `VENDOR_HEADER`'s columns.

    Constant queries however many gaps: the contract years, their priority runs (`priority_runs`,
    once for all), then the rows in chunks. P(close) is in percent to one decimal; the priority
    (expected stars per $1,000) to three significant digits, blank for a gap no run has ranked.
    """
    runs = priority_runs(gaps.order_by().values_list("contract_id", "measurement_year").distinct())
    for (
        pseudonym,
        member_key,
        contract,
        code,
        name,
        year,
        compliance,
        workflow,
        probability,
        rank,
        score,
        outreach,
        assignee,
        contract_pk,
    ) in gaps.values_list(*_FIELDS).iterator(chunk_size=_CHUNK):
        yield [
            pseudonym,
            member_key,
            contract,
            code,
            name,
            year,
            _COMPLIANCE[compliance],
            _WORKFLOW[workflow],
            None if probability is None else round(probability * 100, 1),
            rank,
            None if rank is None else Decimal(f"{score:.3g}"),
            priority_reason(runs.get((contract_pk, year)), code, probability) if rank is not None else "",
            outreach and timezone.localtime(outreach).date(),
            assignee,
        ]


# --- The plan's roster --------------------------------------------------------------------

ROSTER_MAX_BYTES = 20 * 1024 * 1024
ROSTER_MAX_ROWS = 200_000
ROSTER_MAX_COLUMNS = 50
ROSTER_MAX_CELL = 1_000
# Headers read as the member ID column when none is named: "member_id", "MemberID", "Member ID"…
_ID_COLUMN = "memberid"


def _plain(name: str) -> str:
    """A header as compared: lower case, without spaces, underscores or dashes."""
    return "".join(character for character in name.lower() if character not in " _-")


class RosterRefused(ApplicationError):
    """The roster cannot be read or joined; the message says why without quoting the file."""


@dataclass(frozen=True)
class Roster:
    """A plan roster read in memory: its columns, and each member's cells by member key."""

    columns: list[str]
    cells: dict[str, list[str]]
    rows: int
    sha256: str
    size_bytes: int


class RosterUploadHandler(FileUploadHandler):
    """Keeps an uploaded roster in memory whatever its size (Django writes an upload larger than
    FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file), and stops at `ROSTER_MAX_BYTES`."""

    too_big = False

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = io.BytesIO()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > ROSTER_MAX_BYTES:
            self.too_big = True
            self.file = io.BytesIO()
            raise SkipFile
        self.file.write(raw_data)

    def file_complete(self, file_size):
        self.file.seek(0)
        return InMemoryUploadedFile(
            self.file, self.field_name, self.file_name, self.content_type, file_size, self.charset
        )


def roster_too_big() -> RosterRefused:
    """The refusal of a roster past `ROSTER_MAX_BYTES` (read whole, or stopped by the handler)."""
    return RosterRefused(f"The roster is larger than {ROSTER_MAX_BYTES // (1024 * 1024)} MB: split it.")


def roster_read(data: bytes, *, id_column: str = "") -> Roster:
    """The roster in `data` (CSV, UTF-8, a header row), or `RosterRefused` saying what is wrong.

    The member ID column is `id_column` if given (compared without case, spaces, underscores or
    dashes), else the one column named like "member_id". Each ID is hashed as the worklist's
    search hashes it; a member on several rows keeps the first row's cells. Cells are stripped;
    messages give lines and column positions, never a cell or a header of the file.
    """
    if len(data) > ROSTER_MAX_BYTES:
        raise roster_too_big()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RosterRefused(
            f"The roster is not UTF-8 text (line {line}): save it as “CSV UTF-8” and upload it again."
        ) from None
    if "\x00" in text:  # Python's csv module reads it as a character; no text file holds one
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RosterRefused(f"The roster holds a NUL character (line {line}): it is not a CSV text file.")
    # strict: a quote left open is an error, not a cell that runs to the end of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise RosterRefused(
                "The roster is empty: its first row names the columns, each row below is a member."
            )
        if len(header) > ROSTER_MAX_COLUMNS:
            raise RosterRefused(
                f"The roster has more than {ROSTER_MAX_COLUMNS} columns: keep the member ID and the "
                "contact columns."
            )
        id_index = _id_column_index(header, id_column)
        cells: dict[str, list[str]] = {}
        rows = 0
        for fields in reader:
            if not any(cell.strip() for cell in fields):  # a blank line
                continue
            rows += 1
            cells.setdefault(*_roster_row(fields, reader.line_num, header, id_index, rows))
    except csv.Error:
        raise RosterRefused(f"Line {reader.line_num} of the roster is not valid CSV.") from None
    if not rows:
        raise RosterRefused("The roster has no rows below its header.")
    columns = [name or f"column {number}" for number, name in enumerate(header, 1)]
    return Roster(
        columns=columns,
        cells=cells,
        rows=rows,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )


def _id_column_index(header: list[str], id_column: str) -> int:
    """The position of the one member ID column (`id_column`, or one named like member_id)."""
    wanted = _plain(id_column) or _ID_COLUMN
    found = [index for index, name in enumerate(header) if _plain(name) == wanted]
    if not found:
        if id_column:
            raise RosterRefused("No column of the roster has the name given for its member ID column.")
        raise RosterRefused(
            "No column of the roster is named member_id (or MemberID, Member ID): give the name of "
            "its member ID column."
        )
    if len(found) > 1:
        positions = " and ".join(str(index + 1) for index in found)
        raise RosterRefused(f"Columns {positions} of the roster both name the member ID: keep one.")
    return found[0]


def _roster_row(fields: list[str], line: int, header: list[str], id_index: int, rows: int):
    """(member key, cells) of one roster line, or `RosterRefused`."""
    if rows > ROSTER_MAX_ROWS:
        raise RosterRefused(f"The roster has more than {ROSTER_MAX_ROWS:,} rows: split it.")
    if len(fields) > len(header):
        raise RosterRefused(f"Line {line} of the roster has more cells than its header has columns.")
    if any(len(cell) > ROSTER_MAX_CELL for cell in fields):
        raise RosterRefused(
            f"Line {line} of the roster has a cell longer than {ROSTER_MAX_CELL:,} characters."
        )
    row = [cell.strip() for cell in fields] + [""] * (len(header) - len(fields))
    try:
        key = member_id_hash(row[id_index])
    except InvalidMemberId as exc:
        raise RosterRefused(f"Line {line} of the roster: {exc.problem}") from None
    return key, row


def roster_header(roster: Roster) -> list[str]:
    """The joined file's header: the vendor columns, then the roster's (“roster member” where a
    roster column has a vendor column's name)."""
    taken = set(VENDOR_HEADER)
    return [*VENDOR_HEADER, *(f"roster {name}" if name in taken else name for name in roster.columns)]


@dataclass
class RosterJoin:
    """The joined rows as they are written, and how many found their member in the roster."""

    roster: Roster
    matched: int = 0

    def rows(self, vendor: Iterable[list]) -> Iterator[list]:
        """Each vendor row with its member's roster cells, or empty cells for a member not in it."""
        missing = [""] * len(self.roster.columns)
        for row in vendor:
            cells = self.roster.cells.get(row[_MEMBER_KEY])
            self.matched += cells is not None
            yield [*row, *(cells or missing)]


# An Excel file is assembled in memory (about 3 kB a row): larger exports are CSV.
XLSX_MAX_ROWS = 50_000


@dataclass(frozen=True)
class VendorFile:
    """An export ready to send: its bytes, type and name, the gaps written and, joined to a
    roster, how many of them found their member in it."""

    content: bytes
    content_type: str
    filename: str
    rows: int
    matched: int | None = None


def vendor_file(gaps, *, excel: bool, roster: Roster | None = None) -> VendorFile:
    """`gaps` as the vendor file, CSV or Excel, joined to `roster` when one is given."""
    if excel and gaps.count() > XLSX_MAX_ROWS:
        raise ApplicationError(
            f"An Excel file holds at most {XLSX_MAX_ROWS:,} gaps: filter the worklist, or export CSV."
        )
    header, rows, join = VENDOR_HEADER, vendor_rows(gaps), None
    if roster is not None:
        join = RosterJoin(roster)
        header, rows = roster_header(roster), join.rows(rows)
    if excel:
        writer = XlsxWriter("Worklist")
        writer.writeheader(header)
        writer.writerows(rows)
        content, content_type, extension = writer.content(), XLSX_CONTENT_TYPE, "xlsx"
    else:
        text = io.StringIO()
        writer = CsvWriter(text)
        writer.writeheader(header)
        writer.writerows(rows)
        content, content_type, extension = text.getvalue().encode(), "text/csv", "csv"
    purpose = "vendor" if roster is None else "roster"
    return VendorFile(
        content=content,
        content_type=content_type,
        filename=f"worklist-{purpose}-{timezone.localdate():%Y-%m-%d}.{extension}",
        rows=writer.rows,
        matched=None if join is None else join.matched,
    )

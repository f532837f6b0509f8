"""Import a HEDIS engine's gap file: validate everything, then write set-based, or write nothing.

One row per member × measure: raw member ID (hashed here, never stored or echoed), measure
code, compliance status, exclusion reason, evidence date and source, and — for members not
seen before — birth year, sex and the social-risk flags. The import is

- atomic: every bad row is reported with its line number and reason, and nothing is written;
- idempotent: a row that matches what is stored changes nothing (no write, no version bump);
- a full snapshot on request: open gaps absent from the file leave the denominator and are
  recorded as such (`not_applicable`, with the reason), not deleted.
"""

import csv
import gc
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from operator import itemgetter
from typing import NamedTuple

from auditlog.models import LogEntry
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from gaps import workflow
from gaps.models import CareGap, ComplianceStatus, EvidenceSource, WorkflowState
from hedis_portal import import_errors as problems
from hedis_portal.audit import file_facts, log_batch
from hedis_portal.import_errors import ImportRejected, Problem, row_error
from hedis_portal.locks import IMPORTS, contract_lock
from hedis_portal.pgcopy import copy_text
from members.identifiers import InvalidMemberId, member_id_hasher
from members.models import Contract, Member
from ratings.models import Measure

REQUIRED_COLUMNS = ("member_id", "measure", "compliance_status")
OPTIONAL_COLUMNS = (
    "exclusion_reason",
    "evidence_date",
    "evidence_source",
    "measurement_year",
    "birth_year",
    "sex",
    "lis_de",
    "disability",
)
SNAPSHOT_REASON = "No longer in the HEDIS engine's open list"
MAX_ERRORS_LISTED = 1000
_CHUNK = 5000
_CHECKED_CELLS_KEPT = 200_000  # distinct rows' cells (but the member ID) whose checks are remembered
NULL = "\\N"  # COPY's text-format NULL
_PROGRESS_EVERY = 10_000  # rows between progress reports
Progress = Callable[[str, int, int], None]  # (stage, rows done, rows in all)
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}
# The choices' `.values` build a new list on every access; a file's million rows are checked
# against these sets (and their messages list the choices in the same order as before).
_STATUSES = frozenset(ComplianceStatus.values)
_NOT_A_STATUS = problems.not_one_of(ComplianceStatus.values)
_SOURCES = frozenset(EvidenceSource.values)
_NOT_A_SOURCE = problems.not_one_of(EvidenceSource.values)
_SEXES = frozenset(Member.Sex.values)
_NOT_A_SEX = problems.not_one_of(Member.Sex.values)
_REASON_TOO_LONG = problems.longer_than(200)


@dataclass(frozen=True)
class GapImportResult:
    """What an import did."""

    rows: int
    members_created: int
    gaps_created: int
    gaps_updated: int
    gaps_unchanged: int
    gaps_left_denominator: int
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)


class _Row(NamedTuple):
    """One checked row (a named tuple: a file has a million of them, and tuples are cheap to build)."""

    line: int
    id_hash: str
    measure_id: int
    compliance_status: str
    exclusion_reason: str
    evidence_date: date | None
    evidence_source: str
    birth_year: int | None
    sex: str
    lis_de: bool | None
    disability: bool | None

    def gap_fields(self) -> tuple:
        """What the file says about the gap, in the order `_apply_gaps` compares it with the stored one."""
        return (self.compliance_status, self.exclusion_reason, self.evidence_date, self.evidence_source)


class _Errors:
    """Collects row errors, each worded by `hedis_portal.import_errors` (no value from the file)."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.count = 0

    def add(self, line: int, field: str, problem: Problem) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS_LISTED:
            self.items.append(row_error(line, field, problem))

    def raise_if_any(self) -> None:
        if self.count:
            more = f" (first {MAX_ERRORS_LISTED} listed)" if self.count > MAX_ERRORS_LISTED else ""
            raise ImportRejected(
                f"{self.count} {'problem' if self.count == 1 else 'problems'} in the file{more}; "
                "nothing was imported.",
                self.items,
                error_count=self.count,
            )


def _parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False if lowered else None
    raise ValueError


class _RowParser:
    """Checks the rows of one file by column position, remembering what repeats within a file.

    A member appears on several rows (one per measure), so each raw member ID is hashed once per
    file. The rest of a row — measure, status, evidence, and the member facts — repeats across
    rows too (a file of a million rows has a few tens of thousands of distinct ones), so each
    distinct set of those cells is checked once and its outcome, values or problems, reused;
    each evidence date is parsed once. The outcome, including every error message, is the same
    as checking the value again.
    """

    def __init__(self, header: list[str], *, measures: dict[str, int], measurement_year: int):
        # Positions in the order of REQUIRED_COLUMNS + OPTIONAL_COLUMNS; columns absent from the
        # header read as the empty sentinel appended to every row.
        position = {name: index for index, name in enumerate(header)}
        self.width = len(header)
        positions = [position.get(name, len(header)) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        self.member_at = positions[0]
        # The cells `_check` reads, as one tuple per row (built in C by itemgetter).
        self.cells = itemgetter(*positions[1:])
        self.measures = measures
        self.measurement_year = measurement_year
        self.year_text = str(measurement_year)
        self.today = timezone.localdate()
        self.hash = member_id_hasher()
        self.hashes: dict[str, tuple[str, Problem | None]] = {}
        self.dates: dict[str, tuple[date | None, Problem | None]] = {}
        self.checked: dict[tuple[str, ...], tuple[tuple[tuple[str, Problem], ...], tuple]] = {}
        self.not_the_year = problems.not_the_import_year(measurement_year)
        self.not_a_birth_year = problems.not_a_year_between(1900, measurement_year)

    def _hash(self, raw_id: str) -> tuple[str, Problem | None]:
        """The member ID's hash and no problem, or an empty hash and why it cannot be hashed."""
        try:
            known = (self.hash(raw_id), None)
        except InvalidMemberId as exc:
            known = ("", exc.problem)
        self.hashes[raw_id] = known
        return known

    def _date(self, text: str) -> tuple[date | None, Problem | None]:
        """The evidence date, or None and why it is refused."""
        try:
            evidence_date = date.fromisoformat(text)
        except ValueError:
            known = (None, problems.NOT_A_DATE)
        else:
            known = (evidence_date, problems.IN_THE_FUTURE if evidence_date > self.today else None)
        self.dates[text] = known
        return known

    def parse(self, fields: list[str], line: int, errors: _Errors) -> _Row | None:
        """Check one row (padded to the header's width plus the empty sentinel); None if it has errors.

        Written for speed (a file has a million rows): a row whose cells other than the member
        ID were seen before costs two dictionary look-ups.
        """
        raw_id = fields[self.member_at]
        id_hash, problem = self.hashes.get(raw_id) or self._hash(raw_id)
        cells = self.cells(fields)
        found, values = self.checked.get(cells) or self._check(cells)
        if problem or found:
            if problem:
                errors.add(line, "member_id", problem)
            for field, cell_problem in found:
                errors.add(line, field, cell_problem)
            return None
        # tuple.__new__ skips the named tuple's Python-level __new__ (same fields, same order).
        return tuple.__new__(_Row, (line, id_hash, *values))

    def _check(self, cells: tuple[str, ...]) -> tuple[tuple[tuple[str, Problem], ...], tuple]:
        """The problems of a row's cells other than the member ID (in the order they are reported),
        and its values from `measure_id` on; remembered for the rows with the same cells."""
        (
            code,
            status,
            exclusion_reason,
            date_text,
            evidence_source,
            year_text,
            birth_text,
            sex,
            lis_de,
            disability,
        ) = cells
        found: list[tuple[str, Problem]] = []
        measure_id = self.measures.get(code.strip().upper())
        if measure_id is None:
            found.append(("measure", problems.NOT_A_MEASURE))
        status = status.strip().lower()
        if status not in _STATUSES:
            found.append(("compliance_status", _NOT_A_STATUS))

        year_text = year_text.strip()
        if year_text and year_text != self.year_text:
            found.append(("measurement_year", self.not_the_year))

        exclusion_reason = exclusion_reason.strip()
        if len(exclusion_reason) > 200:
            found.append(("exclusion_reason", _REASON_TOO_LONG))
        evidence_source = evidence_source.strip().lower()
        if evidence_source and evidence_source not in _SOURCES:
            found.append(("evidence_source", _NOT_A_SOURCE))
        evidence_date = None
        date_text = date_text.strip()
        if date_text:
            evidence_date, problem = self.dates.get(date_text) or self._date(date_text)
            if problem:
                found.append(("evidence_date", problem))

        # Status and evidence must agree: only data closes a gap, and an exclusion has a reason.
        if status == ComplianceStatus.CLOSED and not (date_text and evidence_source):
            found.append(("evidence_date", problems.CLOSED_NEEDS_EVIDENCE))
        if status == ComplianceStatus.EXCLUDED and not exclusion_reason:
            found.append(("exclusion_reason", problems.EXCLUDED_NEEDS_REASON))
        if exclusion_reason and status != ComplianceStatus.EXCLUDED:
            found.append(("exclusion_reason", problems.REASON_WITHOUT_EXCLUSION))

        birth_year = None
        birth_text = birth_text.strip()
        if birth_text:
            if not birth_text.isdigit() or not 1900 <= int(birth_text) <= self.measurement_year:
                found.append(("birth_year", self.not_a_birth_year))
            else:
                birth_year = int(birth_text)
        sex = sex.strip().upper()
        if sex and sex not in _SEXES:
            found.append(("sex", _NOT_A_SEX))
        flags = []
        for name, value in (("lis_de", lis_de), ("disability", disability)):
            try:
                flags.append(_parse_bool(value) if value else None)
            except ValueError:
                found.append((name, problems.NOT_YES_NO))
        values = (
            measure_id,
            status,
            exclusion_reason,
            evidence_date,
            evidence_source,
            birth_year,
            sex or Member.Sex.UNKNOWN,
            *flags,
        )
        known = (tuple(found), values)
        # Bounded, so a file whose rows never repeat does not keep a second copy of itself.
        if len(self.checked) < _CHECKED_CELLS_KEPT:
            self.checked[cells] = known
        return known


def _decoded(data: bytes, errors: _Errors) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.add(data.count(b"\n", 0, exc.start) + 1, "file", problems.not_utf8(exc.start))
        errors.raise_if_any()


def _read_rows(data: bytes, *, measurement_year: int, errors: _Errors, report: Progress) -> list[_Row]:
    """Check every row of the file; the checked rows (errors are collected, not raised)."""
    text = _decoded(data, errors)
    total = data.count(b"\n")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error:
        errors.add(1, "file", problems.MALFORMED_CSV)
        errors.raise_if_any()
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        errors.add(1, "header", problems.missing_columns(missing))
    unknown = problems.unknown_names(header, REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    if unknown:
        errors.add(1, "header", unknown)
    errors.raise_if_any()

    measures = {
        code.upper(): pk for pk, code in Measure.objects.filter(member_level=True).values_list("pk", "code")
    }
    parser = _RowParser(header, measures=measures, measurement_year=measurement_year)
    width = parser.width
    rows: list[_Row] = []
    first_line: dict[tuple[str, int], int] = {}
    try:
        for fields in reader:
            if not fields:  # a blank line, skipped as csv.DictReader skips it
                continue
            line = reader.line_num
            if len(fields) > width:
                errors.add(line, "row", problems.cells_for_columns(len(fields), width))
                continue
            # Missing trailing cells read as empty, as csv.DictReader's None did; then the sentinel.
            fields.extend([""] * (width - len(fields) + 1))
            row = parser.parse(fields, line, errors)
            if row is not None:
                key = (row.id_hash, row.measure_id)
                if key in first_line:
                    errors.add(line, "member_id", problems.same_member_and_measure_as(first_line[key]))
                else:
                    first_line[key] = line
                    rows.append(row)
            if line % _PROGRESS_EVERY == 0:
                report("validating", line, total)
    except csv.Error:
        errors.add(reader.line_num, "file", problems.MALFORMED_CSV)
    if not rows and not errors.count:
        errors.add(2, "file", problems.NO_DATA_ROWS)
    return rows


def _stored(rows: list[_Row]) -> bytes:
    """Checked rows as one JSON array of `_Row`s' fields (dates as ISO text)."""
    return json.dumps(
        [[*row[:5], row.evidence_date and row.evidence_date.isoformat(), *row[6:]] for row in rows]
    ).encode()


def _from_stored(data: bytes) -> list[_Row]:
    """The rows `_stored` wrote."""
    dates: dict[str | None, date | None] = {None: None}
    rows = []
    for fields in json.loads(data):
        day = fields[5]
        fields[5] = dates[day] if day in dates else dates.setdefault(day, date.fromisoformat(day))
        rows.append(_Row(*fields))
    return rows


def _known_members(hashes: list[str]) -> dict[str, tuple[int, int]]:
    """(primary key, contract) by hash of the members that exist, in any contract; IN lists of 5,000."""
    known: dict[str, tuple[int, int]] = {}
    for start in range(0, len(hashes), _CHUNK):
        known.update(
            (id_hash, (pk, contract_id))
            for id_hash, pk, contract_id in Member.objects.filter(id_hash__in=hashes[start : start + _CHUNK])
            .values_list("id_hash", "pk", "contract_id")
            .iterator(chunk_size=_CHUNK)
        )
    return known


def _known_members_postgresql(hashes: list[str]) -> dict[str, tuple[int, int]]:
    """As `_known_members`, in one join: the hashes are COPYed into a temporary table.

    200,000 hashes took 40 IN-list queries of 5,000 placeholders each; COPY and one hash join
    do the same in a fraction of the time. Only hashes reach the database, never raw IDs.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE gap_import_member (id_hash text) ON COMMIT DROP")
        with cursor.copy("COPY gap_import_member (id_hash) FROM STDIN") as copy:
            copy.write("".join(f"{id_hash}\n" for id_hash in hashes))
        cursor.execute("ANALYZE gap_import_member")
        cursor.execute(
            "SELECT member.id_hash, member.id, member.contract_id FROM members_member AS member "
            "JOIN gap_import_member AS wanted ON wanted.id_hash = member.id_hash"
        )
        known = {id_hash: (pk, contract_id) for id_hash, pk, contract_id in cursor.fetchall()}
        cursor.execute("DROP TABLE gap_import_member")
    return known


def _resolve_members(
    rows: list[_Row], contract: Contract, errors: _Errors
) -> tuple[dict[str, int], list[Member]]:
    """Known members' ids by hash, and the members to create; errors for other contracts' members."""
    hashes = list({row.id_hash for row in rows})
    known = _known_members_postgresql(hashes) if connection.vendor == "postgresql" else _known_members(hashes)
    member_ids: dict[str, int] = {}
    new_members: dict[str, Member] = {}
    contract_pk = contract.pk
    not_enrolled = problems.not_enrolled_in(contract.contract_id)
    for row in rows:
        found = known.get(row.id_hash)
        if found is not None:
            pk, contract_id = found
            if contract_id != contract_pk:
                errors.add(row.line, "member_id", not_enrolled)
            member_ids[row.id_hash] = pk
        elif row.id_hash not in new_members:
            if row.birth_year is None:
                errors.add(row.line, "birth_year", problems.REQUIRED_FOR_NEW_MEMBER)
                continue
            new_members[row.id_hash] = Member(
                id_hash=row.id_hash,
                contract=contract,
                birth_year=row.birth_year,
                sex=row.sex,
                lis_de=bool(row.lis_de),
                disability=bool(row.disability),
            )
    return member_ids, list(new_members.values())


@contextmanager
def _garbage_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration (it is process-wide, so restore it).

    An import builds millions of small objects (a row tuple, its cells, its COPY line), which
    triggers collection after collection, each walking every row built so far: about 30 % of
    the time spent reading a million-row file. The rows hold no reference cycles, so there is
    nothing for those collections to free.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def gaps_import_csv(
    *,
    data: bytes,
    contract: Contract,
    measurement_year: int,
    full_snapshot: bool = False,
    channel: str,
    progress: Progress | None = None,
) -> GapImportResult:
    """Validate a gap file completely, then apply it in one transaction (see module docstring).

    Raises `ImportRejected` listing the bad rows (`{"line", "field", "message"}`, the first
    `MAX_ERRORS_LISTED`); nothing is written then.

    `channel` says how the file came ("api" or "command"); the audit entry records it with the
    file's SHA-256, size and row count, never the file's name. `progress(stage, done, total)`
    is called every `_PROGRESS_EVERY` lines while "validating" (`total` counts the file's
    lines), then as `_apply` goes.
    """
    report = progress or _silent
    with _garbage_collector_paused():
        rows = _checked_rows(data, measurement_year, report)
        return _apply(
            rows,
            facts=_facts(data),
            contract=contract,
            measurement_year=measurement_year,
            full_snapshot=full_snapshot,
            channel=channel,
            report=report,
        )


@dataclass(frozen=True)
class CheckedGapFile:
    """A gap file checked at the edge, for its import job: only checked rows, member IDs hashed."""

    rows: int
    content: bytes
    sha256: str
    size_bytes: int


def gaps_upload_check(data: bytes, *, measurement_year: int) -> CheckedGapFile:
    """The edge of an uploaded gap file: every row checked, or `ImportRejected` as the command
    would raise it; then the checked rows, to store for the job that applies them
    (`gaps_import_checked`). Nothing of a bad row and no raw member ID is in what is kept."""
    with _garbage_collector_paused():
        rows = _checked_rows(data, measurement_year, _silent)
        return CheckedGapFile(rows=len(rows), content=_stored(rows), **_facts(data))


def gaps_import_checked(
    *,
    content: bytes,
    sha256: str,
    size_bytes: int,
    contract: Contract,
    measurement_year: int,
    full_snapshot: bool = False,
    progress: Progress | None = None,
) -> GapImportResult:
    """Apply rows checked by `gaps_upload_check` (an import job); channel "api" in the audit.

    The file's members are matched now, so a member enrolled in another contract is refused
    here (`ImportRejected`), as by the command. `sha256` and `size_bytes` are the upload's.
    """
    report = progress or _silent
    with _garbage_collector_paused():
        rows = _from_stored(content)
        return _apply(
            rows,
            facts={"sha256": sha256, "size_bytes": size_bytes},
            contract=contract,
            measurement_year=measurement_year,
            full_snapshot=full_snapshot,
            channel="api",
            report=report,
        )


def _silent(stage: str, done: int, total: int) -> None:
    """A progress callback that reports nowhere."""


def _facts(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}


def _checked_rows(data: bytes, measurement_year: int, report: Progress) -> list[_Row]:
    """The file's rows, every one checked, or `ImportRejected` listing what is wrong."""
    errors = _Errors()
    if not 2000 <= measurement_year <= 2100:
        errors.add(0, "measurement_year", problems.not_a_plausible_year(measurement_year))
        errors.raise_if_any()
    rows = _read_rows(data, measurement_year=measurement_year, errors=errors, report=report)
    errors.raise_if_any()
    return rows


def _apply(
    rows: list[_Row], *, facts, contract, measurement_year, full_snapshot, channel, report
) -> GapImportResult:
    """Match the rows' members, then write the gaps, in one transaction; progress by stage:
    "waiting" (for another import of the contract), "matching members", "writing gaps"."""
    errors = _Errors()
    with transaction.atomic():
        # One import per contract at a time: a second waits here, then reads the members and
        # gaps the first committed, so it neither creates a member twice nor applies its rows
        # over a state that moves under it.
        report("waiting", 0, len(rows))
        contract_lock(IMPORTS, [contract.pk])
        report("matching members", 0, len(rows))
        member_ids, new_members = _resolve_members(rows, contract, errors)
        errors.raise_if_any()
        for member in Member.objects.bulk_create(new_members, batch_size=_CHUNK):
            member_ids[member.id_hash] = member.pk
        report("writing gaps", 0, len(rows))
        apply = _apply_gaps_postgresql if connection.vendor == "postgresql" else _apply_gaps
        counts = apply(rows, member_ids, contract, measurement_year, full_snapshot)
        result = GapImportResult(
            rows=len(rows), members_created=len(new_members), sha256=facts["sha256"], **counts
        )
        log_batch(
            model=CareGap,
            action=LogEntry.Action.UPDATE,
            count=len(rows),
            summary=f"Gap import for {contract.contract_id} MY{measurement_year}",
            details={
                "channel": channel,
                "file": file_facts(rows=len(rows), **facts),
                "contract": contract.contract_id,
                "measurement_year": measurement_year,
                "full_snapshot": full_snapshot,
                **result.as_dict(),
            },
        )
    return result


def _apply_gaps(rows, member_ids, contract, measurement_year, full_snapshot) -> dict[str, int]:
    """Insert new gaps, update changed ones, and (full snapshot) retire open ones not in the file."""
    existing: dict[tuple[int, int], tuple] = {}
    for values in (
        CareGap.objects.filter(contract=contract, measurement_year=measurement_year)
        .values_list(
            "member_id",
            "measure_id",
            "pk",
            "compliance_status",
            "exclusion_reason",
            "evidence_date",
            "evidence_source",
            "workflow_state",
            "assignee_id",
            "version",
        )
        .iterator(chunk_size=_CHUNK)
    ):
        existing[(values[0], values[1])] = values[2:]

    now = timezone.now()
    to_create: list[CareGap] = []
    to_update: list[CareGap] = []
    seen: set[tuple[int, int]] = set()
    for row in rows:
        key = (member_ids[row.id_hash], row.measure_id)
        seen.add(key)
        stored = existing.get(key)
        if stored is None:
            to_create.append(
                CareGap(
                    member_id=key[0],
                    contract=contract,
                    measure_id=row.measure_id,
                    measurement_year=measurement_year,
                    compliance_status=row.compliance_status,
                    exclusion_reason=row.exclusion_reason,
                    evidence_date=row.evidence_date,
                    evidence_source=row.evidence_source,
                    workflow_state=workflow.state_after_compliance_change(
                        compliance_status=row.compliance_status,
                        workflow_state=WorkflowState.NEW,
                        has_assignee=False,
                    ),
                )
            )
            continue
        pk, *stored_fields, workflow_state, assignee_id, version = stored
        if tuple(stored_fields) == row.gap_fields():
            continue
        to_update.append(
            CareGap(
                pk=pk,
                compliance_status=row.compliance_status,
                exclusion_reason=row.exclusion_reason,
                evidence_date=row.evidence_date,
                evidence_source=row.evidence_source,
                status_reason="",
                workflow_state=workflow.state_after_compliance_change(
                    compliance_status=row.compliance_status,
                    workflow_state=workflow_state,
                    has_assignee=assignee_id is not None,
                ),
                version=version + 1,
                updated_at=now,
            )
        )
    CareGap.objects.bulk_create(to_create, batch_size=_CHUNK)
    CareGap.objects.bulk_update(
        to_update,
        [
            "compliance_status",
            "exclusion_reason",
            "evidence_date",
            "evidence_source",
            "status_reason",
            "workflow_state",
            "version",
            "updated_at",
        ],
        batch_size=1000,
    )
    left = 0
    if full_snapshot:
        retired = [
            stored[0]
            for key, stored in existing.items()
            if key not in seen and stored[1] == ComplianceStatus.OPEN
        ]
        for start in range(0, len(retired), _CHUNK):
            left += CareGap.objects.filter(pk__in=retired[start : start + _CHUNK]).update(
                compliance_status=ComplianceStatus.NOT_APPLICABLE,
                status_reason=SNAPSHOT_REASON,
                workflow_state=WorkflowState.RESOLVED,
                version=F("version") + 1,
                updated_at=now,
            )
    return {
        "gaps_created": len(to_create),
        "gaps_updated": len(to_update),
        "gaps_unchanged": len(rows) - len(to_create) - len(to_update),
        "gaps_left_denominator": left,
    }


# PostgreSQL: the checked rows are COPYed into a temporary table and applied set-based (one
# statement, two with a full snapshot), instead of reading every stored gap of the contract and
# year into Python and writing changes back through bulk_create / bulk_update (a model instance
# per row, one placeholder per value). The staging table holds member primary keys, never IDs.
_CREATE_GAP_BATCH = """
CREATE TEMPORARY TABLE gap_import_batch (
    member_id bigint, measure_id bigint, compliance_status text, exclusion_reason text,
    evidence_date date, evidence_source text, initial_state text
) ON COMMIT DROP
"""
_COPY_GAP_BATCH = (
    "COPY gap_import_batch (member_id, measure_id, compliance_status, exclusion_reason, evidence_date, "
    "evidence_source, initial_state) FROM STDIN"
)

# One join of the staged rows with the stored gaps of the contract and year finds both the
# gaps to update and the rows to insert (two separate statements joined the million rows twice).
# A stored gap changes only when what the file says differs from what is stored; its next
# workflow state comes from `workflow.state_after_compliance_change`, evaluated in Python for
# every (compliance status, workflow state, has an assignee) and joined here as a table, so the
# rule stays defined once (every stored state is a WorkflowState, so the join finds its row).
# Both decisions use the gap as the join read it, as the Python path uses the gaps it read
# first. Only new and changed rows are kept (and materialised): an unchanged row, most of a
# re-import, is dropped by the join itself instead of being written to a million-row CTE and
# filtered twice. New gaps go in the order of the unique index (member, measure, year), which keeps the
# index pages each insert touches close together.
_APPLY_GAP_BATCH = """
WITH staged AS MATERIALIZED (
    SELECT batch.*, gap.id AS gap_id, gap.workflow_state AS stored_state,
           gap.assignee_id IS NOT NULL AS has_assignee
    FROM gap_import_batch AS batch
    LEFT JOIN gaps_caregap AS gap
        ON gap.contract_id = %(contract)s
       AND gap.measurement_year = %(year)s
       AND gap.member_id = batch.member_id
       AND gap.measure_id = batch.measure_id
    WHERE gap.id IS NULL
       OR (gap.compliance_status, gap.exclusion_reason, gap.evidence_date, gap.evidence_source)
          IS DISTINCT FROM (batch.compliance_status, batch.exclusion_reason, batch.evidence_date,
                            batch.evidence_source)
),
updated AS (
    UPDATE gaps_caregap AS gap SET
        compliance_status = staged.compliance_status,
        exclusion_reason = staged.exclusion_reason,
        evidence_date = staged.evidence_date,
        evidence_source = staged.evidence_source,
        status_reason = '',
        workflow_state = transition.next_state,
        version = gap.version + 1,
        updated_at = %(now)s
    FROM staged
    JOIN unnest(%(statuses)s::text[], %(states)s::text[], %(assigned)s::boolean[], %(next_states)s::text[])
            AS transition (compliance_status, workflow_state, has_assignee, next_state)
        ON transition.compliance_status = staged.compliance_status
       AND transition.workflow_state = staged.stored_state
       AND transition.has_assignee = staged.has_assignee
    WHERE staged.gap_id IS NOT NULL AND gap.id = staged.gap_id
    RETURNING 1
),
inserted AS (
    INSERT INTO gaps_caregap (
        member_id, contract_id, measure_id, measurement_year, compliance_status, status_reason,
        exclusion_reason, evidence_date, evidence_source, workflow_state, priority_score, version,
        created_at, updated_at
    )
    SELECT staged.member_id, %(contract)s, staged.measure_id, %(year)s, staged.compliance_status, '',
           staged.exclusion_reason, staged.evidence_date, staged.evidence_source, staged.initial_state,
           %(priority_score)s, %(version)s, %(now)s, %(now)s
    FROM staged
    WHERE staged.gap_id IS NULL
    ORDER BY staged.member_id, staged.measure_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM inserted)
"""

_APPLY_WORK_MEM = "128MB"

_RETIRE_MISSING_GAPS = """
UPDATE gaps_caregap AS gap SET
    compliance_status = %(not_applicable)s,
    status_reason = %(reason)s,
    workflow_state = %(resolved)s,
    version = gap.version + 1,
    updated_at = %(now)s
WHERE gap.contract_id = %(contract)s
  AND gap.measurement_year = %(year)s
  AND gap.compliance_status = %(open)s
  AND NOT EXISTS (
      SELECT 1 FROM gap_import_batch AS staged
      WHERE staged.member_id = gap.member_id AND staged.measure_id = gap.measure_id
  )
"""


def _apply_gaps_postgresql(rows, member_ids, contract, measurement_year, full_snapshot) -> dict[str, int]:
    """`_apply_gaps` in set-based SQL: update changed gaps, insert new ones, retire missing open ones.

    The retirement looks at gaps whose key is not in the file, which the first statement does
    not touch, so it sees their stored status just as `_apply_gaps` does.
    """
    initial = {
        status: workflow.state_after_compliance_change(
            compliance_status=status, workflow_state=WorkflowState.NEW, has_assignee=False
        )
        for status in ComplianceStatus.values
    }
    transitions = [
        (status, state, assigned)
        for status in ComplianceStatus.values
        for state in WorkflowState.values
        for assigned in (False, True)
    ]
    fields = CareGap._meta
    params = {
        "contract": contract.pk,
        "year": measurement_year,
        "now": timezone.now(),
        "statuses": [status for status, _, _ in transitions],
        "states": [state for _, state, _ in transitions],
        "assigned": [assigned for _, _, assigned in transitions],
        "next_states": [
            workflow.state_after_compliance_change(
                compliance_status=status, workflow_state=state, has_assignee=assigned
            )
            for status, state, assigned in transitions
        ],
        "priority_score": fields.get_field("priority_score").get_default(),
        "version": fields.get_field("version").get_default(),
        "not_applicable": ComplianceStatus.NOT_APPLICABLE,
        "reason": SNAPSHOT_REASON,
        "resolved": WorkflowState.RESOLVED,
        "open": ComplianceStatus.OPEN,
    }
    # A COPY line is the member's key and what the row says of the gap; the latter repeats
    # across rows, so each distinct one is written out once.
    texts: dict[tuple, str] = {}
    lines = []
    for row in rows:
        gap = row[2:7]  # measure, status, exclusion reason, evidence date and source
        text = texts.get(gap)
        if text is None:
            measure_id, status, reason, evidence_date, source = gap
            text = texts[gap] = (
                f"\t{measure_id}\t{status}\t{copy_text(reason) if reason else ''}\t"
                f"{evidence_date or NULL}\t{source}\t{initial[status]}\n"
            )
        lines.append(f"{member_ids[row[1]]}{text}")
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_GAP_BATCH)
        with cursor.copy(_COPY_GAP_BATCH) as copy:
            for start in range(0, len(lines), 100_000):
                copy.write("".join(lines[start : start + 100_000]))
        # Temporary tables are never analysed automatically; without statistics the planner
        # would take a million staged rows for a few and pick nested loops.
        cursor.execute("ANALYZE gap_import_batch")
        # The join hashes a million stored gaps and a first import sorts a million new ones: with
        # the default work_mem both spill to disk in batches. Raised for this statement only.
        cursor.execute(
            "SELECT current_setting('work_mem'), set_config('work_mem', %s, true)", [_APPLY_WORK_MEM]
        )
        work_mem = cursor.fetchone()[0]
        cursor.execute(_APPLY_GAP_BATCH, params)
        updated, created = cursor.fetchone()
        cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        left = 0
        if full_snapshot:
            cursor.execute(_RETIRE_MISSING_GAPS, params)
            left = cursor.rowcount
        cursor.execute("DROP TABLE gap_import_batch")
    return {
        "gaps_created": created,
        "gaps_updated": updated,
        "gaps_unchanged": len(rows) - created - updated,
        "gaps_left_denominator": left,
    }

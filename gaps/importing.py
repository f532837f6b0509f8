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
import hashlib
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date

from auditlog.models import LogEntry
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gaps import workflow
from gaps.models import CareGap, ComplianceStatus, EvidenceSource, WorkflowState
from hedis_portal.audit import log_batch
from hedis_portal.errors import ApplicationError
from members.identifiers import InvalidMemberId, member_id_hash
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
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


class GapImportRejected(ApplicationError):
    """The file has bad rows; `extra["errors"]` lists them, and nothing was written."""


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


@dataclass(frozen=True)
class _Row:
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
        return (self.compliance_status, self.exclusion_reason, self.evidence_date, self.evidence_source)


class _Errors:
    """Collects row errors; messages never contain the raw member ID."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.count = 0

    def add(self, line: int, field: str, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS_LISTED:
            self.items.append({"line": line, "field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.count:
            more = f" (first {MAX_ERRORS_LISTED} listed)" if self.count > MAX_ERRORS_LISTED else ""
            raise GapImportRejected(
                f"{self.count} problems in the file{more}; nothing was imported.",
                {"errors": self.items, "error_count": self.count},
            )


def _parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False if lowered else None
    raise ValueError


def _parse_row(
    raw: dict, line: int, *, measures: dict, measurement_year: int, errors: _Errors
) -> _Row | None:
    before = errors.count
    try:
        id_hash = member_id_hash(raw["member_id"] or "")
    except InvalidMemberId as exc:
        errors.add(line, "member_id", str(exc))
        id_hash = ""
    code = (raw["measure"] or "").strip()
    measure_id = measures.get(code.upper())
    if measure_id is None:
        errors.add(line, "measure", f"unknown member-level measure code {code!r}")
    status = (raw["compliance_status"] or "").strip().lower()
    if status not in ComplianceStatus.values:
        errors.add(
            line, "compliance_status", f"{status!r} is not one of {', '.join(ComplianceStatus.values)}"
        )

    year_text = (raw.get("measurement_year") or "").strip()
    if year_text and year_text != str(measurement_year):
        errors.add(line, "measurement_year", f"row is for {year_text}, the import is for {measurement_year}")

    exclusion_reason = (raw.get("exclusion_reason") or "").strip()
    if len(exclusion_reason) > 200:
        errors.add(line, "exclusion_reason", "longer than 200 characters")
    evidence_source = (raw.get("evidence_source") or "").strip().lower()
    if evidence_source and evidence_source not in EvidenceSource.values:
        errors.add(
            line, "evidence_source", f"{evidence_source!r} is not one of {', '.join(EvidenceSource.values)}"
        )
    evidence_date = None
    date_text = (raw.get("evidence_date") or "").strip()
    if date_text:
        try:
            evidence_date = date.fromisoformat(date_text)
        except ValueError:
            errors.add(line, "evidence_date", f"{date_text!r} is not a date (YYYY-MM-DD)")
        else:
            if evidence_date > timezone.localdate():
                errors.add(line, "evidence_date", "is in the future")

    # Status and evidence must agree: only data closes a gap, and an exclusion has a reason.
    if status == ComplianceStatus.CLOSED and not (date_text and evidence_source):
        errors.add(line, "evidence_date", "a closed gap needs an evidence date and source")
    if status == ComplianceStatus.EXCLUDED and not exclusion_reason:
        errors.add(line, "exclusion_reason", "an excluded gap needs an exclusion reason")
    if exclusion_reason and status != ComplianceStatus.EXCLUDED:
        errors.add(line, "exclusion_reason", f"given for a gap that is {status or 'blank'}, not excluded")

    birth_year = None
    birth_text = (raw.get("birth_year") or "").strip()
    if birth_text:
        if not birth_text.isdigit() or not 1900 <= int(birth_text) <= measurement_year:
            errors.add(
                line, "birth_year", f"{birth_text!r} is not a year between 1900 and {measurement_year}"
            )
        else:
            birth_year = int(birth_text)
    sex = (raw.get("sex") or "").strip().upper()
    if sex and sex not in Member.Sex.values:
        errors.add(line, "sex", f"{sex!r} is not one of {', '.join(Member.Sex.values)}")
    flags = {}
    for name in ("lis_de", "disability"):
        try:
            flags[name] = _parse_bool(raw.get(name) or "")
        except ValueError:
            errors.add(line, name, "not a yes/no value")
    if errors.count > before:
        return None
    return _Row(
        line=line,
        id_hash=id_hash,
        measure_id=measure_id,
        compliance_status=status,
        exclusion_reason=exclusion_reason,
        evidence_date=evidence_date,
        evidence_source=evidence_source,
        birth_year=birth_year,
        sex=sex or Member.Sex.UNKNOWN,
        **flags,
    )


def _read_rows(data: bytes, *, measurement_year: int, errors: _Errors, progress) -> list[_Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.add(1, "file", f"not UTF-8 text (byte {exc.start})")
        errors.raise_if_any()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing:
        errors.add(1, "header", f"missing column(s): {', '.join(missing)}")
    if unknown:
        errors.add(1, "header", f"unknown column(s): {', '.join(unknown)}")
    errors.raise_if_any()

    measures = {
        code.upper(): pk for pk, code in Measure.objects.filter(member_level=True).values_list("pk", "code")
    }
    rows: list[_Row] = []
    first_line: dict[tuple[str, int], int] = {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.add(line, "row", f"{len(header) + len(raw[None])} values for {len(header)} columns")
                continue
            row = _parse_row(raw, line, measures=measures, measurement_year=measurement_year, errors=errors)
            if row is not None:
                key = (row.id_hash, row.measure_id)
                if key in first_line:
                    errors.add(line, "member_id", f"same member and measure as line {first_line[key]}")
                else:
                    first_line[key] = line
                    rows.append(row)
            if progress and line % 10_000 == 0:
                progress(line)
    except csv.Error as exc:
        errors.add(reader.line_num, "file", f"malformed CSV: {exc}")
    if not rows and not errors.count:
        errors.add(2, "file", "no data rows")
    return rows


def _resolve_members(
    rows: list[_Row], contract: Contract, errors: _Errors
) -> tuple[dict[str, int], list[Member]]:
    """Known members' ids by hash, and the members to create; errors for other contracts' members."""
    hashes = list({row.id_hash for row in rows})
    known: dict[str, tuple[int, int]] = {}
    for start in range(0, len(hashes), _CHUNK):
        known.update(
            (id_hash, (pk, contract_id))
            for id_hash, pk, contract_id in Member.objects.filter(id_hash__in=hashes[start : start + _CHUNK])
            .values_list("id_hash", "pk", "contract_id")
            .iterator(chunk_size=_CHUNK)
        )
    member_ids: dict[str, int] = {}
    new_members: dict[str, Member] = {}
    for row in rows:
        if row.id_hash in known:
            pk, contract_id = known[row.id_hash]
            if contract_id != contract.pk:
                errors.add(row.line, "member_id", f"member is not enrolled in {contract.contract_id}")
            member_ids[row.id_hash] = pk
        elif row.id_hash not in new_members:
            if row.birth_year is None:
                errors.add(row.line, "birth_year", "required for a member seen for the first time")
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


def gaps_import_csv(
    *,
    data: bytes,
    contract: Contract,
    measurement_year: int,
    full_snapshot: bool = False,
    source_name: str = "",
    progress: Callable[[int], None] | None = None,
) -> GapImportResult:
    """Validate a gap file completely, then apply it in one transaction (see module docstring)."""
    errors = _Errors()
    if not 2000 <= measurement_year <= 2100:
        errors.add(0, "measurement_year", f"{measurement_year} is not a plausible measurement year")
        errors.raise_if_any()
    sha256 = hashlib.sha256(data).hexdigest()
    rows = _read_rows(data, measurement_year=measurement_year, errors=errors, progress=progress)
    errors.raise_if_any()
    member_ids, new_members = _resolve_members(rows, contract, errors)
    errors.raise_if_any()

    with transaction.atomic():
        for member in Member.objects.bulk_create(new_members, batch_size=_CHUNK):
            member_ids[member.id_hash] = member.pk
        counts = _apply_gaps(rows, member_ids, contract, measurement_year, full_snapshot)
        result = GapImportResult(rows=len(rows), members_created=len(new_members), sha256=sha256, **counts)
        log_batch(
            model=CareGap,
            action=LogEntry.Action.UPDATE,
            count=len(rows),
            summary=f"Gap import for {contract.contract_id} MY{measurement_year}",
            details={
                "source": source_name,
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

"""Import a predictions file (.csv or .jsonl): validate all of it, then upsert it in one transaction.

The rows are the bulk API's, one per line, written batch by batch through the API's write path
(`predictions_bulk_upsert`). The whole file is checked first, so a bad row anywhere refuses the
file (`ImportRejected`, every error with its line) before anything is written. Messages say "the
file", never its name or path: file names often carry member or vendor identifiers, and command
output ends up in job logs.
"""

import contextlib
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import NamedTuple, TextIO

from django.db import transaction

from hedis_portal import import_errors as problems
from hedis_portal.audit import file_facts
from hedis_portal.import_errors import ImportRejected, Problem, row_error
from predictions.services import (
    NON_FIELD,
    OPTIONAL_FIELDS,
    ROW_FIELDS,
    BulkUpsertResult,
    ValidPrediction,
    predictions_bulk_upsert,
    predictions_validate,
    predictions_write,
)

FORMATS = ("csv", "jsonl")
_CHECK_BATCH = 10_000  # rows checked (two queries) or written (one batch) at a time
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


class _Unreadable(NamedTuple):
    """A line that could not be parsed into a row (the problem never quotes the line)."""

    problem: Problem


def _typed_csv_row(row: dict) -> dict:
    """CSV cells are text: give the numbers and `top_features` (a JSON string) their JSON types.

    Cells that do not convert are passed on as text so the service reports them with the
    same messages the API uses; empty cells count as missing.
    """
    typed = {name: value for name, value in row.items() if value not in (None, "")}
    if _INTEGER.fullmatch(typed.get("measurement_year", "")):
        typed["measurement_year"] = int(typed["measurement_year"])
    if "probability" in typed:
        with contextlib.suppress(ValueError):
            typed["probability"] = float(typed["probability"])
    if "top_features" in typed:
        with contextlib.suppress(ValueError):
            typed["top_features"] = json.loads(typed["top_features"])
    return typed


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict | _Unreadable]]:
    """Rows of a CSV file whose header names the row fields; a wrong header refuses the file at once.

    The header's unknown names are not quoted (a file without its header row starts with a
    member's data): `hedis_portal.import_errors` gives their positions.
    """
    reader = csv.DictReader(lines)
    try:
        columns = reader.fieldnames or []
        unknown = problems.unknown_names(columns, ROW_FIELDS)
        missing = [name for name in ROW_FIELDS if name not in columns and name not in OPTIONAL_FIELDS]
        if columns and (unknown or missing):
            found = [unknown] if unknown else []
            found += [problems.missing_columns(missing)] if missing else []
            raise ImportRejected(
                f"The first line must be the header, naming the columns {', '.join(ROW_FIELDS)} "
                f"(top_features optional): {'; '.join(found)}.",
                [row_error(1, "header", problem) for problem in found],
            )
        for row in reader:
            # DictReader files surplus cells under the key None.
            if None in row:
                yield reader.line_num, _Unreadable(problems.SURPLUS_CELLS)
            else:
                yield reader.line_num, _typed_csv_row(row)
    except csv.Error:
        raise _file_rejected(f"The file is {problems.MALFORMED_CSV}.", problems.MALFORMED_CSV) from None


def _jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict | _Unreadable]]:
    """Rows of a JSON Lines file, one object per line; blank lines are skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            yield number, _Unreadable(problems.INVALID_JSON)


_PARSERS = {"csv": _csv_rows, "jsonl": _jsonl_rows}


def _file_rejected(message: str, problem: Problem) -> ImportRejected:
    """The refusal of a file that cannot be read at all (line 0: no one line is at fault)."""
    return ImportRejected(message, [row_error(0, "file", problem)])


@contextlib.contextmanager
def _text(content: Path | bytes) -> Iterator[TextIO]:
    """The file's text; utf-8-sig because spreadsheets often start CSV files with a byte-order mark."""
    if isinstance(content, bytes):
        yield io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="")
    else:
        with content.open(encoding="utf-8-sig", newline="") as lines:
            yield lines


def _read_rows(content: Path | bytes, file_format: str) -> Iterator[tuple[int, dict | _Unreadable]]:
    """Each row of the file with its line number."""
    try:
        with _text(content) as lines:
            yield from _PARSERS[file_format](lines)
    except UnicodeDecodeError:
        raise _file_rejected("The file is not UTF-8 text.", problems.NOT_UTF8) from None


def _batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last may be shorter); `itertools.batched` is 3.12+."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _validate(
    content: Path | bytes, file_format: str, user, batch_size: int, progress, keep: list | None = None
) -> int:
    """Check the whole file in chunks (two queries each); return its row count or refuse it.

    One `seen_keys` spans the chunks, so a row repeated anywhere in the file is reported. The
    checked rows are added to `keep` when one is given.
    """
    total = 0
    errors: list[dict] = []
    seen_keys: dict[tuple, int] = {}
    for chunk in _batched(_read_rows(content, file_format), batch_size):
        readable = [(line, row) for line, row in chunk if not isinstance(row, _Unreadable)]
        errors.extend(
            row_error(line, NON_FIELD, row.problem) for line, row in chunk if isinstance(row, _Unreadable)
        )
        valid, chunk_errors = predictions_validate(
            user=user,
            rows=[row for _, row in readable],
            row_numbers=[line for line, _ in readable],
            seen_keys=seen_keys,
        )
        errors.extend(chunk_errors)
        if keep is not None:
            keep.extend(valid)
        total += len(chunk)
        progress("validating", total, None)
    if errors:
        errors.sort(key=lambda error: error["line"])
        bad_lines = len({error["line"] for error in errors})
        raise ImportRejected(
            f"{len(errors)} errors on {bad_lines} of {total} rows in the file; nothing was imported.", errors
        )
    return total


def predictions_import_file(
    *,
    content: Path | bytes,
    file_format: str,
    user,
    channel: str,
    batch_size: int = _CHECK_BATCH,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> BulkUpsertResult:
    """Import a .csv or .jsonl predictions file for members of `user`'s contracts, all or nothing.

    `content` is the file's path (read twice, never held in memory) or its bytes; `file_format`
    is one of `FORMATS`. Raises `ImportRejected` listing every bad line (`{"line", "field",
    "message"}`), and writes nothing then. Each batch of `batch_size` rows (at most
    `PREDICTIONS_BULK_MAX_ROWS`) is one `predictions_bulk_upsert`, all in one transaction; each
    batch's audit entry records `channel` and the file's SHA-256, size and row count, never its
    name. `progress(stage, rows_done, rows_total)` is called after each batch, with the stage
    "validating" (total not yet known: None) and then "importing".
    """
    report = progress or (lambda stage, done, total: None)
    total = _validate(content, file_format, user, batch_size, report)
    if isinstance(content, bytes):
        facts = file_facts(sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content), rows=total)
    else:
        with content.open("rb") as binary:
            digest = hashlib.file_digest(binary, "sha256").hexdigest()
        facts = file_facts(sha256=digest, size_bytes=content.stat().st_size, rows=total)
    received = created = updated = 0
    with transaction.atomic():
        for batch in _batched(_read_rows(content, file_format), batch_size):
            try:
                result = predictions_bulk_upsert(
                    user=user, rows=[row for _, row in batch], source=channel, file=facts
                )
            except ImportRejected:
                raise _file_rejected(
                    "The file changed while it was being imported; nothing was imported.",
                    problems.CHANGED_WHILE_IMPORTED,
                ) from None
            received += result.received
            created += result.created
            updated += result.updated
            report("importing", received, total)
    return BulkUpsertResult(received=received, created=created, updated=updated)


@dataclass(frozen=True)
class CheckedPredictionFile:
    """A predictions file checked at the API's edge, for its import job: the checked rows only,
    resolved to primary keys (no member ID of any kind), with the upload's SHA-256 and size."""

    rows: int
    content: bytes
    sha256: str
    size_bytes: int


def predictions_upload_check(*, content: bytes, file_format: str, user) -> CheckedPredictionFile:
    """The edge of an uploaded predictions file: every row checked as `predictions_import_file`
    checks it (`ImportRejected` listing every bad line; nothing is kept then), and the checked
    rows to store for the job that writes them (`predictions_import_checked`)."""
    valid: list[ValidPrediction] = []
    _validate(content, file_format, user, _CHECK_BATCH, lambda stage, done, total: None, keep=valid)
    stored = "".join(
        json.dumps(
            [
                p.member_id,
                p.contract_id,
                p.measure_id,
                p.measurement_year,
                p.model_version,
                p.probability,
                p.risk_tier,
                p.predicted_at.isoformat(),
                p.top_features_json,
            ]
        )
        + "\n"
        for p in valid
    )
    return CheckedPredictionFile(
        rows=len(valid),
        content=stored.encode(),
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
    )


def _from_stored(content: bytes) -> list[ValidPrediction]:
    """The rows `predictions_upload_check` stored."""
    valid = []
    for line in content.decode().splitlines():
        member, contract, measure, year, version, probability, tier, predicted_at, features = json.loads(line)
        valid.append(
            ValidPrediction(
                member,
                contract,
                measure,
                year,
                version,
                probability,
                tier,
                datetime.fromisoformat(predicted_at),
                json.loads(features),
                features,
            )
        )
    return valid


def predictions_import_checked(
    *,
    content: bytes,
    sha256: str,
    size_bytes: int,
    batch_size: int = _CHECK_BATCH,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> BulkUpsertResult:
    """Write the rows `predictions_upload_check` stored, batch by batch in one transaction.

    Each batch's audit entry has channel "api" and the upload's SHA-256, size and row count.
    `progress("importing", rows_done, rows_total)` is called after each batch.
    """
    report = progress or (lambda stage, done, total: None)
    valid = _from_stored(content)
    facts = file_facts(sha256=sha256, size_bytes=size_bytes, rows=len(valid))
    received = created = updated = 0
    with transaction.atomic():
        for batch in _batched(valid, batch_size):
            result = predictions_write(valid=batch, source="api", file=facts)
            received += result.received
            created += result.created
            updated += result.updated
            report("importing", received, len(valid))
    return BulkUpsertResult(received=received, created=created, updated=updated)

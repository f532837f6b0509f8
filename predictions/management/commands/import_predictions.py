"""`manage.py import_predictions FILE (.csv or .jsonl) --as-user USERNAME [--batch-size 10000]`."""

import contextlib
import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from hedis_portal import import_errors as problems
from hedis_portal.audit import command_actor, file_facts
from hedis_portal.import_errors import Problem, row_error
from predictions.services import (
    NON_FIELD,
    OPTIONAL_FIELDS,
    ROW_FIELDS,
    PredictionBatchRejected,
    predictions_bulk_upsert,
    predictions_validate,
)

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


class Unreadable(NamedTuple):
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


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict | Unreadable]]:
    """Rows of a CSV file whose header names the row fields; a wrong header stops the import at once.

    The header's unknown names are not quoted (a file without its header row starts with a
    member's data): `hedis_portal.import_errors` gives their positions.
    """
    reader = csv.DictReader(lines)
    columns = reader.fieldnames or []
    unknown = problems.unknown_names(columns, ROW_FIELDS)
    missing = [name for name in ROW_FIELDS if name not in columns and name not in OPTIONAL_FIELDS]
    if columns and (unknown or missing):
        found = [unknown] if unknown else []
        found += [problems.missing_columns(missing)] if missing else []
        raise CommandError(
            f"The first line must be the header, naming the columns {', '.join(ROW_FIELDS)} "
            f"(top_features optional): {'; '.join(found)}."
        )
    for row in reader:
        # DictReader files surplus cells under the key None.
        if None in row:
            yield reader.line_num, Unreadable(problems.SURPLUS_CELLS)
        else:
            yield reader.line_num, _typed_csv_row(row)


def _jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict | Unreadable]]:
    """Rows of a JSON Lines file, one object per line; blank lines are skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            yield number, Unreadable(problems.INVALID_JSON)


def read_rows(path: Path) -> Iterator[tuple[int, dict | Unreadable]]:
    """Each row of a .csv or .jsonl file with its line number.

    Messages say "the file", never its name or path: file names often carry member or vendor
    identifiers, and command output ends up in job logs.
    """
    parse = {".csv": _csv_rows, ".jsonl": _jsonl_rows}.get(path.suffix.lower())
    if parse is None:
        raise CommandError("Expected a .csv or .jsonl file.")
    try:
        # utf-8-sig: spreadsheets often start CSV files with a byte-order mark.
        with path.open(encoding="utf-8-sig", newline="") as lines:
            yield from parse(lines)
    except OSError as exc:
        raise CommandError(f"Cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError("The file is not UTF-8 text.") from None
    except csv.Error:
        raise CommandError(f"The file is {problems.MALFORMED_CSV}.") from None


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last may be shorter); `itertools.batched` is 3.12+."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class Command(BaseCommand):
    help = (
        "Import predictions from a .csv or .jsonl file for members of the user's contracts. "
        "The whole file is validated first (every error listed by line, nothing written); "
        "then it is upserted in batches inside one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--as-user",
            required=True,
            metavar="USERNAME",
            help="Whose contracts scope the import, and whom the audit log names.",
        )
        parser.add_argument("--batch-size", type=int, default=10_000, help="Rows per upsert statement.")

    def handle(self, *args, file: Path, as_user: str, batch_size: int, **options):
        user = self._importing_user(as_user)
        max_rows = settings.PREDICTIONS_BULK_MAX_ROWS
        if not 1 <= batch_size <= max_rows:
            raise CommandError(f"--batch-size must be between 1 and {max_rows} (PREDICTIONS_BULK_MAX_ROWS).")

        total, errors = self._validate(file, user, batch_size)
        if errors:
            for error in errors:
                self.stderr.write(f"line {error['row']}, {error['field']}: {error['message']}")
            bad_lines = len({error["row"] for error in errors})
            raise CommandError(
                f"{len(errors)} errors on {bad_lines} of {total} rows in the file; nothing was imported."
            )

        # Each batch's audit entry keeps the file's hash, size and row count, never its name.
        with file.open("rb") as content:
            facts = file_facts(
                sha256=hashlib.file_digest(content, "sha256").hexdigest(),
                size_bytes=file.stat().st_size,
                rows=total,
            )
        received = created = updated = 0
        # The audit entry of each batch names the importing user, as an API call names its
        # caller, and the OS user and host that ran the command.
        with (
            command_actor("import_predictions", user=user),
            transaction.atomic(),
            tqdm(total=total, unit=" rows", desc="importing", disable=None) as bar,
        ):
            for batch in batched(read_rows(file), batch_size):
                try:
                    result = predictions_bulk_upsert(
                        user=user, rows=[row for _, row in batch], source="command", file=facts
                    )
                except PredictionBatchRejected:
                    raise CommandError(
                        "The file changed while it was being imported; nothing was imported."
                    ) from None
                received += result.received
                created += result.created
                updated += result.updated
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(f"{received} rows imported; {created} predictions created, {updated} updated.")
        )

    @staticmethod
    def _importing_user(username: str):
        """The active user named by --as-user, who must be allowed to add predictions."""
        try:
            user = get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user {username!r}.") from None
        if not user.has_perm("predictions.add_prediction"):
            raise CommandError(f"User {username!r} may not add predictions (predictions.add_prediction).")
        return user

    @staticmethod
    def _validate(file: Path, user, batch_size: int) -> tuple[int, list[dict]]:
        """Check the whole file in chunks (two queries each); return its row count and every error.

        One `seen_keys` spans the chunks, so a row repeated anywhere in the file is reported.
        """
        total = 0
        errors: list[dict] = []
        seen_keys: dict[tuple, int] = {}
        with tqdm(unit=" rows", desc="validating", disable=None) as bar:
            for chunk in batched(read_rows(file), batch_size):
                readable = [(line, row) for line, row in chunk if not isinstance(row, Unreadable)]
                errors.extend(
                    row_error("row", line, NON_FIELD, row.problem)
                    for line, row in chunk
                    if isinstance(row, Unreadable)
                )
                _, chunk_errors = predictions_validate(
                    user=user,
                    rows=[row for _, row in readable],
                    row_numbers=[line for line, _ in readable],
                    seen_keys=seen_keys,
                    row_label="line",
                )
                errors.extend(chunk_errors)
                total += len(chunk)
                bar.update(len(chunk))
        errors.sort(key=lambda error: error["row"])
        return total, errors

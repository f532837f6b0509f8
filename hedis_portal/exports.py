"""CSV exports: the one CSV writer of the portal, with spreadsheet formulas neutralised.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets when the file is opened (OWASP "CSV injection"): a username
such as `=HYPERLINK(…)` or `@SUM(…)` would run on the care manager's machine. Every CSV the
portal sends goes through `CsvWriter`, so the rule has one home.
"""

import csv
import math
from collections.abc import Iterable, Iterator
from decimal import Decimal

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """`value` as a CSV cell that a spreadsheet shows as text rather than runs (OWASP's rule).

    Text beginning with one of `FORMULA_PREFIXES` gets a single quote in front (`'=1+1`), which
    spreadsheets show as the text itself. Numbers are written as they are: a value of a numeric
    type (int, float, Decimal; a probability of -0.5 or a negative score) is data a spreadsheet
    reads as a number, never as a formula, and quoting it would turn it into text that no longer
    sums. Only the type decides: a *string* that looks like a number ("-0.5", "+1 555…") is
    quoted like any other text, since a text column can carry anything. Non-finite floats
    (`-inf`) are written as text and quoted.
    """
    if _is_finite_number(value):
        return value
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


def _is_finite_number(value) -> bool:
    if isinstance(value, int):  # bool included: written as True / False
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return False


class CsvWriter:
    """`csv.writer` that neutralises every cell and counts the data rows it wrote."""

    def __init__(self, file):
        self._writer = csv.writer(file)
        self.rows = 0

    def writeheader(self, names: Iterable[str]):
        """Write the header line (not counted as a row)."""
        return self._writer.writerow([neutralise(name) for name in names])

    def writerow(self, row: Iterable):
        """Write one data row; returns what the file's `write` returned (the line, for streams)."""
        self.rows += 1
        return self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable]) -> int:
        """Write every row; returns how many."""
        for row in rows:
            self.writerow(row)
        return self.rows


class _Echo:
    """A file whose `write` returns the line, so that `csv.writer` output can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header and each row as CSV lines, neutralised, produced one at a time (for streaming)."""
    writer = CsvWriter(_Echo())
    yield writer.writeheader(header)
    for row in rows:
        yield writer.writerow(row)

"""Exports: the one CSV writer and the one Excel writer of the portal, with spreadsheet formulas
neutralised.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets when the file is opened (OWASP "CSV injection"): a username
such as `=HYPERLINK(…)` or `@SUM(…)` would run on the care manager's machine. Every CSV the
portal sends goes through `CsvWriter` and every Excel file through `XlsxWriter`, both
neutralising each cell with `neutralise`, so the rule has one home.
"""

import csv
import datetime
import io
import math
from collections.abc import Iterable, Iterator
from decimal import Decimal

import xlsxwriter

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


def _csv_cell(value):
    """A neutralised cell as CSV writes it: a `Decimal` in fixed notation (`str` would write
    Decimal("6.2E-8") as "6.2E-8", which people misread and some readers take for text)."""
    cell = neutralise(value)
    return format(cell, "f") if isinstance(cell, Decimal) else cell


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
        return self._writer.writerow([_csv_cell(value) for value in row])

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


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The widest a column is made to fit its cells, in pixels (about 50 characters).
_XLSX_MAX_COLUMN_PIXELS = 360


class XlsxWriter:
    """One Excel worksheet, header row first, with every cell neutralised as `CsvWriter` does.

    Numbers stay numbers (a `Decimal` shown with exactly its decimals, never in scientific
    notation), dates are dates (yyyy-mm-dd), text is written as text. The file is assembled in
    memory: XlsxWriter's `in_memory` mode writes no temporary file (openpyxl writes every sheet
    through one in the temp directory, which would put an export's member data on disk).
    """

    def __init__(self, sheet_name: str):
        self._output = io.BytesIO()
        # Text is never read as a formula, number or link whatever it looks like (`neutralise`
        # also quotes it, so that a copy saved as CSV stays safe).
        self._book = xlsxwriter.Workbook(
            self._output,
            {
                "in_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self._sheet = self._book.add_worksheet(sheet_name)
        self._header = self._book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._decimals: dict[int, object] = {}
        self._columns = 0
        self.rows = 0

    def writeheader(self, names: Iterable[str]) -> None:
        """Write the header row (not counted as a row), frozen above the data, with filters."""
        header = [neutralise(name) for name in names]
        self._sheet.write_row(0, 0, header, self._header)
        self._sheet.freeze_panes(1, 0)
        self._columns = len(header)

    def writerow(self, row: Iterable) -> None:
        """Write one data row."""
        self.rows += 1
        for column, value in enumerate(row):
            self._write(self.rows, column, value)

    def writerows(self, rows: Iterable[Iterable]) -> int:
        """Write every row; returns how many."""
        for row in rows:
            self.writerow(row)
        return self.rows

    def content(self) -> bytes:
        """The finished file (the writer takes no more rows)."""
        if self._columns:
            self._sheet.autofilter(0, 0, self.rows, self._columns - 1)
        self._sheet.autofit(_XLSX_MAX_COLUMN_PIXELS)
        self._book.close()
        return self._output.getvalue()

    def _write(self, row: int, column: int, value) -> None:
        if isinstance(value, datetime.date):
            self._sheet.write_datetime(row, column, value, self._date)
            return
        cell = neutralise(value)
        if isinstance(cell, bool):
            self._sheet.write_boolean(row, column, cell)
        elif isinstance(cell, Decimal):
            self._sheet.write_number(row, column, float(cell), self._decimal_format(cell))
        elif isinstance(cell, int | float):
            self._sheet.write_number(row, column, cell)
        elif cell:
            self._sheet.write_string(row, column, cell)

    def _decimal_format(self, number: Decimal):
        """The format that shows `number` with its own decimals: Decimal("0.000062") → 0.000062."""
        places = max(-number.as_tuple().exponent, 0)
        if places not in self._decimals:
            pattern = "#,##0" + (f".{'0' * places}" if places else "")
            self._decimals[places] = self._book.add_format({"num_format": pattern})
        return self._decimals[places]

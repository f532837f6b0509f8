"""Parser for CMS Part C & D Star Ratings data-table CSVs.

CMS publishes each Star Ratings year as a set of CSV "data tables" (cut points, measure data,
measure stars, summary ratings, CAI), shipped with tables the engine does not read (disenrollment
reasons, domain stars, high and low performing contracts). Their layout drifts between years:
measure IDs shift, encodings change (UTF-8 with BOM from 2026, cp1252 before), cells carry
trailing spaces and rows carry empty trailing columns. This module therefore recognises each file
by its content (title and header rows) and reads columns by their header text, never by position.

Everything parsed is a plain dataclass so callers (the engine, a Django importer) do not depend
on CSV details. Every problem raises `CmsTableError` naming the file, row and column.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import cast

__all__ = [
    "UNUSED_TABLES",
    "CaiRow",
    "CellValue",
    "CmsTableError",
    "CmsTables",
    "ContractInfo",
    "ContractMeasureValue",
    "CutPoints",
    "Direction",
    "Interval",
    "MeasureHeader",
    "MeasureTable",
    "SummaryRow",
    "TableFile",
    "TableKind",
    "Threshold",
    "load_tables",
    "parse_file",
    "parse_interval",
    "read_table",
]

MEASURE_HEADER = re.compile(r"^([CD]\d{2})\s*:\s*(.+)$")
CONTRACT_ID = re.compile(r"^[A-Z]\d{4}$")
STAR_LABEL = re.compile(r"^([1-5])\s*stars?$", re.IGNORECASE)
YEAR = re.compile(r"\b(20\d{2})\b")
# CMS's own file names: "2025 Star Ratings Data Table - Measure Data (Dec 2 2024).csv".
FILE_NAME_YEAR = re.compile(r"^(20\d{2}) Star Ratings\b", re.IGNORECASE)
NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
# One side of a cut point cell: an optional comparison operator and a number, e.g. ">= 58 %".
BOUND = re.compile(r"^(>=|<=|>|<|≥|≤)?\s*(-?\d+(?:\.\d+)?)\s*%?$")
OPERATORS = {"≥": ">=", "≤": "<="}


class CmsTableError(ValueError):
    """A CMS data table could not be read; names the file, row (1-based) and column."""

    def __init__(self, message: str, *, file: str, row: int | None = None, column: str | None = None) -> None:
        where = [f"file {file}"]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{message} ({', '.join(where)})")
        self.message = message
        self.file = file
        self.row = row
        self.column = column


class TableKind(enum.Enum):
    """The kinds of CMS Star Ratings data tables this parser recognises."""

    PART_C_CUT_POINTS = "part_c_cut_points"
    PART_D_CUT_POINTS = "part_d_cut_points"
    MEASURE_DATA = "measure_data"
    MEASURE_STARS = "measure_stars"
    SUMMARY_RATINGS = "summary_ratings"
    CAI = "cai"
    DISENROLLMENT_REASONS = "disenrollment_reasons"
    DOMAIN_STARS = "domain_stars"
    HIGH_PERFORMING_CONTRACTS = "high_performing_contracts"
    LOW_PERFORMING_CONTRACTS = "low_performing_contracts"


# The tables CMS ships that the ratings engine does not read, each recognised by its title row
# ("2025 Domain Star View: …"), with why it is not read.
UNUSED_TABLES: dict[TableKind, tuple[str, str]] = {
    TableKind.DISENROLLMENT_REASONS: (
        r"disenrollment reasons",
        "not used by the ratings engine: disenrollment reasons (a survey's shares, not a rated measure)",
    ),
    TableKind.DOMAIN_STARS: (
        r"domain star",
        "not used by the ratings engine: domain stars (Plan Finder's grouping of the measure stars, "
        "which are imported)",
    ),
    TableKind.HIGH_PERFORMING_CONTRACTS: (
        r"high performing contracts",
        "not used by the ratings engine: high performing contracts (the 5-star ratings, which the "
        "summary ratings table holds)",
    ),
    TableKind.LOW_PERFORMING_CONTRACTS: (
        r"low performing contracts",
        "not used by the ratings engine: low performing contracts (a flag CMS derives from three "
        "years' summary ratings)",
    ),
}


class Direction(enum.Enum):
    """Whether a higher or a lower score earns more stars (Technical Notes 'General Trend')."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class CellValue:
    """A score, star or rating cell: either a number or a CMS status message, never both.

    Statuses such as "Plan too small to be measured" are kept verbatim (Attachment Q lists
    them); they are not zeros and must not be averaged.
    """

    number: Decimal | None = None
    status: str | None = None

    def __post_init__(self) -> None:
        if (self.number is None) == (self.status is None):
            raise ValueError("a CellValue holds exactly one of number or status")

    @property
    def is_number(self) -> bool:
        """True when the cell holds a numeric value."""
        return self.number is not None

    @classmethod
    def parse(cls, text: str) -> CellValue:
        """Read a cell: "76%", "0.16" and "4" become numbers, anything else is a status."""
        cleaned = text.strip()
        numeric = cleaned.removesuffix("%").strip()
        if NUMBER.match(numeric):
            return cls(number=Decimal(numeric))
        return cls(status=cleaned)

    def __str__(self) -> str:
        return str(self.number) if self.number is not None else str(self.status)


@dataclass(frozen=True)
class Threshold:
    """The score a contract must reach to earn a star level (a bound on the score).

    For a higher-is-better measure the score must be >= value (inclusive) or > value; for a
    lower-is-better measure it must be <= value (inclusive) or < value.
    """

    value: Decimal
    inclusive: bool


@dataclass(frozen=True)
class CutPoints:
    """One measure's star thresholds for star levels 2..5 (1 star needs no threshold).

    `org_type` is None for Part C (one row for all contracts) and "MA-PD" or "PDP" for Part D,
    whose cut points differ by organisation type.
    """

    measure_id: str
    measure_name: str
    org_type: str | None
    direction: Direction
    thresholds: dict[int, Threshold]

    @property
    def written_decimals(self) -> int:
        """The decimals the thresholds are written with: the display precision when no catalog says."""
        return max(len(format(t.value, "f").partition(".")[2]) for t in self.thresholds.values())


@dataclass(frozen=True)
class MeasureHeader:
    """A measure column read from a `Cxx: name` header cell."""

    measure_id: str
    name: str
    column: int


@dataclass(frozen=True)
class ContractInfo:
    """The descriptive columns that precede the measure columns of a contract row."""

    contract_id: str
    org_type: str
    contract_name: str
    marketing_name: str
    parent_organization: str


@dataclass(frozen=True)
class ContractMeasureValue:
    """One contract's published score (measure data) or star (measure stars) on one measure.

    `row` is the 1-based CSV row it came from and `percent` whether the cell was written as a
    percentage ("76%"), so an importer can range-check it and name where a bad value is.
    """

    contract_id: str
    measure_id: str
    value: CellValue
    row: int | None = None
    percent: bool = False


@dataclass
class MeasureTable:
    """A parsed measure data or measure stars table."""

    kind: TableKind
    star_year: int | None
    measures: list[MeasureHeader]
    contracts: dict[str, ContractInfo]
    values: dict[tuple[str, str], ContractMeasureValue]

    def value(self, contract_id: str, measure_id: str) -> CellValue | None:
        """The cell for a contract and measure, or None if the table has no such cell."""
        found = self.values.get((contract_id, measure_id))
        return found.value if found is not None else None

    def contract_values(self, contract_id: str) -> dict[str, CellValue]:
        """Every measure cell of one contract, keyed by measure ID."""
        return {
            m.measure_id: self.values[(contract_id, m.measure_id)].value
            for m in self.measures
            if (contract_id, m.measure_id) in self.values
        }


@dataclass(frozen=True)
class SummaryRow:
    """One contract's published Part C summary, Part D summary and overall ratings.

    `disaster_percent` maps a calendar year to the percentage of enrollees in FEMA Individual
    Assistance areas that year (the "2023 Disaster %" and "2024 Disaster %" columns for 2026).
    """

    contract_id: str
    org_type: str
    snp: bool
    disaster_percent: dict[int, Decimal | None]
    part_c: CellValue
    part_d: CellValue
    overall: CellValue


@dataclass(frozen=True)
class CaiRow:
    """One contract's CAI final adjustment categories (FAC); None where CMS shows N/A."""

    contract_id: str
    puerto_rico_only: bool
    part_c_fac: int | None
    part_d_mapd_fac: int | None
    part_d_pdp_fac: int | None
    overall_fac: int | None


@dataclass
class CmsTables:
    """All data tables of one Star Ratings year; any table may be missing (None/empty)."""

    star_year: int | None = None
    cut_points: list[CutPoints] = field(default_factory=list)
    measure_data: MeasureTable | None = None
    measure_stars: MeasureTable | None = None
    summary: dict[str, SummaryRow] = field(default_factory=dict)
    cai: dict[str, CaiRow] = field(default_factory=dict)

    def cut_points_for(self, measure_id: str, org_type: str | None) -> CutPoints | None:
        """The cut points of a measure for an org type ("MA-PD"/"PDP"); Part C ignores it."""
        for cut in self.cut_points:
            if cut.measure_id == measure_id and cut.org_type in (None, org_type):
                return cut
        return None


ParsedTable = list[CutPoints] | MeasureTable | dict[str, SummaryRow] | dict[str, CaiRow]


@dataclass(frozen=True)
class TableFile:
    """One file read: its table, star year, encoding and content.

    `content` is None for a table the engine does not read (`UNUSED_TABLES`); `rows` counts
    what was read: cut point rows (measure × org type) or contracts. `star_year_from_name` when
    the title row names no year and the CMS file name gave it.
    """

    name: str
    kind: TableKind
    star_year: int | None
    encoding: str
    content: ParsedTable | None
    rows: int
    star_year_from_name: bool = False

    @property
    def skipped(self) -> str:
        """Why the engine does not read this table ("" when it does)."""
        return UNUSED_TABLES[self.kind][1] if self.kind in UNUSED_TABLES else ""


def decode(raw: bytes, file: str) -> tuple[str, str]:
    """A file's text and the encoding it was read in: "UTF-8 with BOM", "UTF-8", "Windows-1252"
    or "ASCII" (a file that reads the same in both).

    CMS files are UTF-8 with a BOM from 2026 and cp1252 (en dashes) before; UTF-8 is tried first
    because cp1252 decodes almost any bytes, UTF-8 very few that are not UTF-8. A file holding
    NUL bytes (a spreadsheet or an archive renamed .csv) or bytes neither reads is refused.
    """
    if b"\x00" in raw:
        raise CmsTableError(
            "not a text file (it holds NUL bytes): is it a spreadsheet or archive named .csv?", file=file
        )
    if raw.isascii():
        return raw.decode("ascii"), "ASCII"
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding, label = "utf-8-sig", "UTF-8 with BOM"
    else:
        encoding, label = "utf-8", "UTF-8"
    try:
        return raw.decode(encoding), label
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CmsTableError(
            f"neither UTF-8 nor Windows-1252 text (byte 0x{raw[exc.start]:02x})", file=file, row=line
        ) from None


def read_rows(path: Path) -> tuple[list[list[str]], str]:
    """Read a CSV as stripped cells without empty trailing columns; also its encoding (`decode`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CmsTableError(f"cannot be read: {exc.strerror or exc}", file=path.name) from None
    text, encoding = decode(raw, path.name)
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            while cells and not cells[-1]:
                cells.pop()
            rows.append(cells)
    except csv.Error as exc:
        raise CmsTableError(f"not a readable CSV: {exc}", file=path.name, row=reader.line_num) from None
    return rows, encoding


def star_year_of(title: Sequence[str]) -> int | None:
    """The star year named in a title row such as "2026 Part C Performance Metrics ..."."""
    found = YEAR.search(" ".join(title))
    return int(found.group(1)) if found else None


def measure_headers(row: Sequence[str]) -> list[MeasureHeader]:
    """The `Cxx: name` cells of a header row, with their column positions."""
    headers = []
    for column, cell in enumerate(row):
        found = MEASURE_HEADER.match(cell)
        if found:
            headers.append(MeasureHeader(found.group(1), found.group(2).strip(), column))
    return headers


def find_measure_header_row(rows: Sequence[Sequence[str]]) -> int | None:
    """Index of the first row holding `Cxx: name` measure headers (None if there is none)."""
    for index, row in enumerate(rows[:10]):
        if measure_headers(row):
            return index
    return None


def column_index(header: Sequence[str], pattern: str) -> int | None:
    """Index of the first header cell matching a case-insensitive regex, or None."""
    compiled = re.compile(pattern, re.IGNORECASE)
    for index, cell in enumerate(header):
        if compiled.search(cell):
            return index
    return None


def identify(rows: Sequence[Sequence[str]], file: str) -> TableKind:
    """Recognise a table from its title and header rows (never from its file name)."""
    title = " ".join(rows[0]).lower() if rows else ""
    for kind, (pattern, _) in UNUSED_TABLES.items():
        if re.search(pattern, title):
            return kind
    header_text = " | ".join(" ".join(row) for row in rows[:4]).lower()
    measure_row = find_measure_header_row(rows)
    if measure_row is not None:
        # Cut point tables have "1star".."5star" rows; measure tables have contract rows.
        if any(STAR_LABEL.match(cell) for row in rows for cell in row[:3]):
            ids = {m.measure_id[0] for m in measure_headers(rows[measure_row])}
            if ids == {"C"}:
                return TableKind.PART_C_CUT_POINTS
            if ids == {"D"}:
                return TableKind.PART_D_CUT_POINTS
        elif "contract" in header_text:
            return _measure_table_kind(rows, measure_row)
    elif re.search(r"\bfac\b", header_text):
        return TableKind.CAI
    elif "summary" in header_text and "overall" in header_text:
        return TableKind.SUMMARY_RATINGS
    raise CmsTableError(
        "unrecognised layout: expected a CMS cut point, measure data, measure stars, "
        "summary ratings or CAI table (or one CMS ships beside them: disenrollment reasons, "
        "domain stars, high or low performing contracts)",
        file=file,
        row=1,
    )


def _measure_table_kind(rows: Sequence[Sequence[str]], measure_row: int) -> TableKind:
    """Tell measure stars from measure data.

    The title row says which ("2026 Star View: …" / "2026 Data View: …"); without such a
    title, a stars table is one that holds only whole numbers 1..5. Trusting the title first
    lets a bad star cell (a 6) be reported as such instead of turning the file into data.
    """
    title = " ".join(rows[0]).lower() if rows else ""
    if "star view" in title:
        return TableKind.MEASURE_STARS
    if "data view" in title:
        return TableKind.MEASURE_DATA
    first_measure_column = measure_headers(rows[measure_row])[0].column
    for row in rows[measure_row + 1 :]:
        if not row or not CONTRACT_ID.match(row[0]):
            continue
        for cell in row[first_measure_column:]:
            if "%" in cell:
                return TableKind.MEASURE_DATA
            value = CellValue.parse(cell)
            if value.number is not None and (
                value.number != value.number.to_integral_value() or not 1 <= value.number <= 5
            ):
                return TableKind.MEASURE_DATA
    return TableKind.MEASURE_STARS


def read_table(path: Path | str) -> TableFile:
    """Read and recognise one CMS data table; a table the engine does not read is not parsed.

    The star year is the title row's ("2025 Star View: …"), else the CMS file name's ("2025 Star
    Ratings Data Table - …"); a file whose name and title name different years is refused.
    """
    path = Path(path)
    rows, encoding = read_rows(path)
    file = path.name
    if not rows:
        raise CmsTableError("empty file", file=file)
    kind = identify(rows, file)
    year = star_year_of(rows[0])
    named = FILE_NAME_YEAR.match(file)
    if named and year is not None and int(named.group(1)) != year:
        raise CmsTableError(
            f"the file name says star year {named.group(1)} but the title row says {year}", file=file, row=1
        )
    from_name = year is None and named is not None
    if named and year is None:
        year = int(named.group(1))
    parsed: ParsedTable | None
    if kind in UNUSED_TABLES:
        parsed, count = None, sum(1 for row in rows if row and CONTRACT_ID.match(row[0]))
    elif kind in (TableKind.PART_C_CUT_POINTS, TableKind.PART_D_CUT_POINTS):
        parsed = parse_cut_points(rows, file)
        count = len(parsed)
    elif kind in (TableKind.MEASURE_DATA, TableKind.MEASURE_STARS):
        parsed = parse_measure_table(rows, file, kind, year)
        count = len(parsed.contracts)
    elif kind is TableKind.SUMMARY_RATINGS:
        parsed = parse_summary(rows, file)
        count = len(parsed)
    else:
        parsed = parse_cai(rows, file)
        count = len(parsed)
    return TableFile(file, kind, year, encoding, parsed, count, from_name)


def parse_file(path: Path | str) -> tuple[TableKind, int | None, ParsedTable | None]:
    """Parse one CMS data table; returns its kind, star year and parsed content (None for a
    table the engine does not read)."""
    table = read_table(path)
    return table.kind, table.star_year, table.content


def load_tables(paths: Iterable[Path | str]) -> CmsTables:
    """Parse a set of CMS data tables (e.g. every CSV of a folder CMS ships) into one `CmsTables`;
    the tables the engine does not read are left out."""
    tables = CmsTables()
    for path in sorted(Path(p) for p in paths):
        kind, year, parsed = parse_file(path)
        if year is not None:
            if tables.star_year is not None and tables.star_year != year:
                raise CmsTableError(
                    f"star year {year} differs from the other tables' {tables.star_year}",
                    file=path.name,
                    row=1,
                )
            tables.star_year = year
        if parsed is None:
            continue
        if isinstance(parsed, MeasureTable):
            if kind is TableKind.MEASURE_DATA:
                tables.measure_data = parsed
            else:
                tables.measure_stars = parsed
        elif isinstance(parsed, list):
            tables.cut_points.extend(parsed)
        elif kind is TableKind.SUMMARY_RATINGS:
            tables.summary = cast(dict[str, SummaryRow], parsed)
        else:
            tables.cai = cast(dict[str, CaiRow], parsed)
    return tables


# --- cut points -------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """The score range of one star level as written in a cut point cell (None: unbounded)."""

    low: Threshold | None
    high: Threshold | None


def parse_interval(text: str) -> Interval:
    """Read cut point text such as `>= 58 % to < 71 %`, `<= 7 %` or `100%`.

    Raises ValueError for text that is not a cut point.
    """
    low: Threshold | None = None
    high: Threshold | None = None
    parts = re.split(r"\s+to\s+", text.strip(), flags=re.IGNORECASE)
    if len(parts) > 2:
        raise ValueError(text)
    for part in parts:
        found = BOUND.match(part.strip())
        if not found:
            raise ValueError(text)
        operator = OPERATORS.get(found.group(1) or "", found.group(1) or "")
        value = Decimal(found.group(2))
        if not operator:
            # A bare value ("100%") is a single point: both bounds, inclusive.
            low = high = Threshold(value, inclusive=True)
        elif operator.startswith(">"):
            low = Threshold(value, inclusive=operator == ">=")
        else:
            high = Threshold(value, inclusive=operator == "<=")
    return Interval(low, high)


def parse_cut_points(rows: Sequence[Sequence[str]], file: str) -> list[CutPoints]:
    """Parse a Part C or Part D cut point table into one `CutPoints` per measure/org type."""
    header_index = find_measure_header_row(rows)
    if header_index is None:
        raise CmsTableError("no 'Cxx: name' measure header row", file=file)
    headers = measure_headers(rows[header_index])
    # Part D cut points differ by organisation type ("Org Type" column: MA-PD / PDP).
    org_column = None
    for row in rows[: header_index + 1]:
        org_column = column_index(row, r"^org(anization)? type$")
        if org_column is not None:
            break
    levels: dict[str | None, dict[int, tuple[int, Sequence[str]]]] = {}
    for index, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        found = next((m for m in (STAR_LABEL.match(c) for c in row[:3]) if m), None)
        if found is None:
            continue  # the data time-frame row or a blank row
        org = row[org_column] if org_column is not None and org_column < len(row) else None
        levels.setdefault(org or None, {})[int(found.group(1))] = (index, row)
    if not levels:
        raise CmsTableError("no '1star'..'5star' rows", file=file)
    result = []
    for org, by_star in levels.items():
        missing = sorted(set(range(1, 6)) - set(by_star))
        if missing:
            raise CmsTableError(f"missing star rows {missing} for org type {org or 'all'}", file=file)
        for header in headers:
            result.append(_measure_cut_points(header, org, by_star, file))
    return result


def _measure_cut_points(
    header: MeasureHeader,
    org: str | None,
    by_star: dict[int, tuple[int, Sequence[str]]],
    file: str,
) -> CutPoints:
    """Build and validate one measure's cut points from its five star-level cells."""
    intervals: dict[int, Interval] = {}
    for star, (row_number, row) in by_star.items():
        text = row[header.column] if header.column < len(row) else ""
        try:
            intervals[star] = parse_interval(text)
        except ValueError:
            raise CmsTableError(
                f"unreadable cut point {text!r} for {header.measure_id} {star} star",
                file=file,
                row=row_number,
                column=f"{header.measure_id}: {header.name}",
            ) from None
    one_star = intervals[1]
    # 1 star is the open-ended worst range: "< x" for higher-is-better, "> x" for lower.
    if one_star.high is not None and one_star.low is None:
        direction = Direction.HIGHER
    elif one_star.low is not None and one_star.high is None:
        direction = Direction.LOWER
    else:
        raise CmsTableError(
            f"cannot tell the direction of {header.measure_id} from its 1 star cut point",
            file=file,
            row=by_star[1][0],
            column=f"{header.measure_id}: {header.name}",
        )
    thresholds: dict[int, Threshold] = {}
    for star in range(2, 6):
        bound = intervals[star].low if direction is Direction.HIGHER else intervals[star].high
        if bound is None:
            raise CmsTableError(
                f"{header.measure_id} {star} star cut point has no "
                f"{'lower' if direction is Direction.HIGHER else 'upper'} bound",
                file=file,
                row=by_star[star][0],
                column=f"{header.measure_id}: {header.name}",
            )
        thresholds[star] = bound
    values = [thresholds[star].value for star in range(2, 6)]
    ordered = (
        values == sorted(values) if direction is Direction.HIGHER else values == sorted(values, reverse=True)
    )
    if not ordered or len(set(values)) != len(values):
        raise CmsTableError(
            f"cut points of {header.measure_id} ({org or 'all org types'}) are not monotone "
            f"for a {direction.value}-is-better measure: {[str(v) for v in values]}",
            file=file,
            column=f"{header.measure_id}: {header.name}",
        )
    return CutPoints(header.measure_id, header.name, org, direction, thresholds)


# --- measure data / measure stars -------------------------------------------------------


def parse_measure_table(
    rows: Sequence[Sequence[str]], file: str, kind: TableKind, year: int | None
) -> MeasureTable:
    """Parse a measure data or measure stars table (one row per contract)."""
    header_index = find_measure_header_row(rows)
    assert header_index is not None  # identify() only returns this kind when it exists
    headers = measure_headers(rows[header_index])
    label_index = next(
        (index for index in range(header_index + 1) if column_index(rows[index], r"contract") is not None),
        header_index,
    )
    label_row = rows[label_index]
    columns = {
        "contract_id": column_index(label_row, r"^contract[ _](id|number)$"),
        "org_type": column_index(label_row, r"^organi[sz]ation type$"),
        "contract_name": column_index(label_row, r"^contract name$"),
        "marketing_name": column_index(label_row, r"marketing name"),
        "parent_organization": column_index(label_row, r"parent organi[sz]ation"),
    }
    for name in ("contract_id", "org_type"):
        if columns[name] is None:
            raise CmsTableError("missing required column", file=file, row=label_index + 1, column=name)
    contracts: dict[str, ContractInfo] = {}
    values: dict[tuple[str, str], ContractMeasureValue] = {}
    for row_number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        contract_id = _cell(row, columns["contract_id"])
        if not CONTRACT_ID.match(contract_id):
            continue  # the data time-frame row, blank rows or footnotes
        contracts[contract_id] = ContractInfo(
            contract_id,
            _cell(row, columns["org_type"]),
            _cell(row, columns["contract_name"]),
            _cell(row, columns["marketing_name"]),
            _cell(row, columns["parent_organization"]),
        )
        for header in headers:
            text = _cell(row, header.column)
            if not text:
                raise CmsTableError(
                    f"empty cell for contract {contract_id}",
                    file=file,
                    row=row_number,
                    column=f"{header.measure_id}: {header.name}",
                )
            values[(contract_id, header.measure_id)] = ContractMeasureValue(
                contract_id, header.measure_id, CellValue.parse(text), row=row_number, percent="%" in text
            )
    if not contracts:
        raise CmsTableError("no contract rows", file=file)
    return MeasureTable(kind, year, headers, contracts, values)


def _cell(row: Sequence[str], column: int | None) -> str:
    """The stripped cell at a column, or "" when the column is absent or the row is short."""
    if column is None or column >= len(row):
        return ""
    return row[column]


# --- summary ratings ----------------------------------------------------------------------


def _header_row(rows: Sequence[Sequence[str]], pattern: str, file: str) -> int:
    """Index of the header row: the first row with a cell matching `pattern`."""
    for index, row in enumerate(rows[:10]):
        if column_index(row, pattern) is not None:
            return index
    raise CmsTableError("no header row", file=file, column=pattern)


def _required(header: Sequence[str], pattern: str, file: str, row: int, name: str) -> int:
    """Index of a required header cell, or a `CmsTableError` naming it."""
    found = column_index(header, pattern)
    if found is None:
        raise CmsTableError("missing required column", file=file, row=row, column=name)
    return found


def parse_summary(rows: Sequence[Sequence[str]], file: str) -> dict[str, SummaryRow]:
    """Parse the summary ratings table (Part C, Part D and overall rating per contract)."""
    index = _header_row(rows, r"^contract (number|id)$", file)
    header = rows[index]
    row_number = index + 1
    contract = _required(header, r"^contract (number|id)$", file, row_number, "Contract Number")
    org = _required(header, r"^organi[sz]ation type$", file, row_number, "Organization Type")
    snp = column_index(header, r"^snp$")
    part_c = _required(header, r"part c summary", file, row_number, "Part C Summary")
    part_d = _required(header, r"part d summary", file, row_number, "Part D Summary")
    overall = _required(header, r"overall", file, row_number, "Overall")
    disaster = {}
    for column, cell in enumerate(header):
        found = re.match(r"^(20\d{2}) disaster %$", cell, re.IGNORECASE)
        if found:
            disaster[int(found.group(1))] = column
    result = {}
    for number, row in enumerate(rows[index + 1 :], start=index + 2):
        contract_id = _cell(row, contract)
        if not CONTRACT_ID.match(contract_id):
            continue
        percents = {}
        for year, column in disaster.items():
            value = CellValue.parse(_cell(row, column) or "n/a")
            percents[year] = value.number
        result[contract_id] = SummaryRow(
            contract_id=contract_id,
            org_type=_cell(row, org),
            snp=_cell(row, snp).lower() == "yes",
            disaster_percent=percents,
            part_c=_rating_cell(row, part_c, file, number, "Part C Summary"),
            part_d=_rating_cell(row, part_d, file, number, "Part D Summary"),
            overall=_rating_cell(row, overall, file, number, "Overall"),
        )
    return result


def _rating_cell(row: Sequence[str], column: int, file: str, number: int, name: str) -> CellValue:
    """A summary/overall rating cell; a number must be a half star between 0 and 5."""
    text = _cell(row, column)
    if not text:
        raise CmsTableError("empty rating cell", file=file, row=number, column=name)
    value = CellValue.parse(text)
    if value.number is not None and (value.number * 2 % 1 != 0 or not 0 <= value.number <= 5):
        raise CmsTableError(f"rating {value.number} is not a half star", file=file, row=number, column=name)
    return value


# --- CAI ------------------------------------------------------------------------------------


def parse_cai(rows: Sequence[Sequence[str]], file: str) -> dict[str, CaiRow]:
    """Parse the CAI table: each contract's final adjustment category per rating."""
    index = _header_row(rows, r"\bfac\b", file)
    header = rows[index]
    row_number = index + 1
    contract = _required(header, r"^contract (number|id)$", file, row_number, "Contract Number")
    puerto_rico = column_index(header, r"puerto rico")
    part_c = _required(header, r"part c fac", file, row_number, "Part C FAC")
    mapd = _required(header, r"part d ma-?pd fac", file, row_number, "Part D MA-PD FAC")
    pdp = _required(header, r"part d pdp fac", file, row_number, "Part D PDP FAC")
    overall = _required(header, r"overall fac", file, row_number, "Overall FAC")
    result = {}
    for number, row in enumerate(rows[index + 1 :], start=index + 2):
        contract_id = _cell(row, contract)
        if not CONTRACT_ID.match(contract_id):
            continue
        result[contract_id] = CaiRow(
            contract_id=contract_id,
            puerto_rico_only=_cell(row, puerto_rico).lower() == "yes",
            part_c_fac=_fac(row, part_c, file, number, "Part C FAC"),
            part_d_mapd_fac=_fac(row, mapd, file, number, "Part D MA-PD FAC"),
            part_d_pdp_fac=_fac(row, pdp, file, number, "Part D PDP FAC"),
            overall_fac=_fac(row, overall, file, number, "Overall FAC"),
        )
    return result


def _fac(row: Sequence[str], column: int, file: str, number: int, name: str) -> int | None:
    """A final adjustment category: a whole number, or None for "N/A"."""
    text = _cell(row, column)
    if text.upper() in ("N/A", "NA", ""):
        return None
    try:
        return int(Decimal(text))
    except (InvalidOperation, ValueError):
        raise CmsTableError(
            f"final adjustment category {text!r} is not a number",
            file=file,
            row=number,
            column=name,
        ) from None

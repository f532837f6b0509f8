"""How the imports word a bad row: its line, its field and what is wrong — never what the file said.

A malformed row shifts its cells, so a raw member ID can land in any column; a file without
its header row starts with a member's data, so its "header" is PHI too. Hence the rule:

- a message never quotes a cell, whatever its column;
- a header or field name is quoted only when it is one of the importer's own names. An unknown
  one is given by its position, with the nearest known name as a suggestion when one is close
  ("column 4 (did you mean measure?)"). Quoting names that merely look harmless (short, letters
  only, no digits) was considered and refused: a member's surname, or an ID without digits,
  passes that test.

Every import (gap file, predictions, CMS data tables) refuses its input with one error,
`ImportRejected`, whose `errors` are rows of one shape, `{"line", "field", "message"}` (plus
`"file"` where several files are read), each built by `row_error` from a `Problem`. Problems are
made only in this module, from the importer's own vocabulary (allowed values, limits, line
numbers, column positions, the contract being imported); a test checks that no other module
makes one. A new message is added here, where it is read against this rule. The CMS data tables,
public contract-level data, are the one exception to it: see `cms_table_problem`.
"""

import difflib
from collections.abc import Collection, Iterable, Sequence

from hedis_portal.errors import ApplicationError


class Problem(str):
    """What is wrong with one field of one row, worded without any value from the file."""

    __slots__ = ()


def row_error(line: int, field: str, problem: Problem, *, file: str | None = None) -> dict:
    """An import's error row: `{"line": line, "field": field, "message": problem}`, `"file"` first if given.

    `line` is the 1-based line of the file, or the 1-based position of the row in a JSON list
    (`/api/predictions/bulk/`); 0 when the problem is on no one line (an argument, a whole file
    or column). `field` is one of the importer's own field names (or `"file"`, `"header"`, its
    non-field key), never a name read from the file. `file` names the file when an import reads
    several (the CMS data tables).
    """
    if type(problem) is not Problem:
        raise TypeError("import errors are worded by hedis_portal.import_errors, never from file content")
    where = {"file": file} if file is not None else {}
    return {**where, "line": line, "field": field, "message": str(problem)}


class ImportRejected(ApplicationError):
    """An import refused its input and wrote nothing; answered as 400.

    `extra` is `{"errors": [row_error(…), …], "error_count": n}`: `errors` may list fewer than
    `error_count` when an importer caps the list.
    """

    def __init__(self, message: str, errors: list[dict], *, error_count: int | None = None):
        count = len(errors) if error_count is None else error_count
        super().__init__(message, {"errors": errors, "error_count": count})
        self.errors = errors


def _listing(values: Iterable[object]) -> str:
    return ", ".join(str(value) for value in values)


# Member IDs (raised as `members.identifiers.InvalidMemberId`, which the admin shows too).
MEMBER_ID_BLANK = Problem("member ID is blank")
MEMBER_ID_UNPRINTABLE = Problem(
    "member ID contains a control, format or other invisible character "
    "(e.g. a NUL byte, a tab or a zero-width space)"
)


def member_id_too_long(limit: int) -> Problem:
    return Problem(f"member ID is longer than {limit} characters")


# Files and headers.
MALFORMED_CSV = Problem("not readable as CSV (e.g. an unclosed quote or an oversized cell)")
NO_DATA_ROWS = Problem("no data rows")
INVALID_JSON = Problem("is not valid JSON")
SURPLUS_CELLS = Problem("has more cells than the header has columns")


def not_utf8(byte: int) -> Problem:
    return Problem(f"not UTF-8 text (byte {byte})")


def missing_columns(names: Iterable[str]) -> Problem:
    """Columns the file lacks; `names` come from the importer's list of required columns."""
    return Problem(f"missing column(s): {_listing(names)}")


_POSITIONS_LISTED = 10


def unknown_names(names: Sequence[object], known: Collection[str], *, noun: str = "column") -> Problem | None:
    """The names not in `known`, given by position (1-based), or None when every name is known.

    A name is quoted only through the suggestion, which is always one of `known` (listed in
    `known`'s order). When no name is known, the first line was probably data, and it says so.
    """
    positions = [index for index, name in enumerate(names, start=1) if name not in known]
    if not positions:
        return None
    choices = list(known)

    def described(index: int) -> str:
        name = names[index - 1]
        close = difflib.get_close_matches(name.strip().lower(), choices, n=1) if isinstance(name, str) else []
        return f"{index} (did you mean {close[0]}?)" if close else str(index)

    listed = _listing(described(index) for index in positions[:_POSITIONS_LISTED])
    more = f" and {len(positions) - _POSITIONS_LISTED} more" if len(positions) > _POSITIONS_LISTED else ""
    plural = "s" if len(positions) > 1 else ""
    hint = " (is the first line a header?)" if noun == "column" and len(positions) == len(names) else ""
    return Problem(
        f"{len(positions)} unknown {noun}{plural} at position{plural} {listed}{more}{hint}; "
        f"known {noun}s: {_listing(choices)}"
    )


def cells_for_columns(cells: int, columns: int) -> Problem:
    return Problem(f"{cells} values for {columns} columns")


# Values of the gap file's cells.
NOT_A_MEASURE = Problem("not a known member-level measure code")
NOT_A_DATE = Problem("not a date (YYYY-MM-DD)")
IN_THE_FUTURE = Problem("is in the future")
NOT_YES_NO = Problem("not a yes/no value (yes, no, true, false, 1, 0 or empty)")
CLOSED_NEEDS_EVIDENCE = Problem("a closed gap needs an evidence date and source")
EXCLUDED_NEEDS_REASON = Problem("an excluded gap needs an exclusion reason")
REASON_WITHOUT_EXCLUSION = Problem("given for a gap whose compliance status is not excluded")
REQUIRED_FOR_NEW_MEMBER = Problem("required for a member seen for the first time")


def not_one_of(choices: Iterable[str]) -> Problem:
    """The cell is not one of the allowed values, which are listed (they are the importer's own)."""
    return Problem(f"not one of {_listing(choices)}")


def longer_than(limit: int) -> Problem:
    return Problem(f"longer than {limit} characters")


def not_the_import_year(measurement_year: int) -> Problem:
    return Problem(f"not the import's measurement year ({measurement_year})")


def not_a_plausible_year(measurement_year: int) -> Problem:
    return Problem(f"{measurement_year} is not a plausible measurement year")


def not_a_year_between(first: int, last: int) -> Problem:
    return Problem(f"not a year between {first} and {last}")


def same_member_and_measure_as(line: int) -> Problem:
    return Problem(f"same member and measure as line {line}")


def not_enrolled_in(contract_id: str) -> Problem:
    """The member belongs to another contract; `contract_id` is the contract being imported, not a cell."""
    return Problem(f"member is not enrolled in {contract_id}")


# Prediction rows (API objects, or CSV and JSON Lines rows of `predictions.importing`).
MUST_BE_OBJECT = Problem("must be an object with the prediction's fields")
REQUIRED = Problem("this field is required")
MUST_BE_STRING = Problem("must be a string")
MUST_BE_MEASURE_CODE = Problem("must be a measure code such as BCS")
NOT_A_MEMBER_LEVEL_MEASURE = Problem("is not a member-level measure code")
MEMBER_NOT_FOUND = Problem("member not found in your contracts")
MUST_BE_INTEGER = Problem("must be an integer")
MUST_BE_NON_BLANK_STRING = Problem("must be a non-blank string")
MUST_BE_NUMBER = Problem("must be a number")
MUST_BE_PROBABILITY = Problem("must be between 0 and 1")
MUST_BE_LIST = Problem("must be a list")
MUST_BE_JSON_VALUES = Problem("must contain only JSON values (no NaN or infinity)")
MUST_BE_DATETIME = Problem("must be an ISO-8601 date and time, e.g. 2026-03-01T08:00:00Z")
MUST_BE_DATETIME_STRING = Problem("must be an ISO-8601 date and time string")
MUST_HAVE_TIME_ZONE = Problem("must include a time zone (e.g. Z or +00:00)")


def must_be_between(first: int, last: int) -> Problem:
    return Problem(f"must be between {first} and {last}")


def must_be_at_most_characters(limit: int) -> Problem:
    return Problem(f"must be at most {limit} characters")


def must_have_at_most_items(limit: int) -> Problem:
    return Problem(f"must have at most {limit} items")


def must_be_one_of(choices: Iterable[str]) -> Problem:
    return Problem(f"must be one of {_listing(choices)}")


def same_prediction_as(line: int) -> Problem:
    """The row repeats the key of an earlier one, at `line` (its line, or its position in the list)."""
    return Problem(f"same member, measure, measurement_year and model_version as line {line}")


# The predictions file as a whole (`predictions.importing`).
NOT_UTF8 = Problem("not UTF-8 text")
CHANGED_WHILE_IMPORTED = Problem("changed while it was being imported")


# CMS Star Ratings data tables (`ratings.benchmark.importing`).
def cms_table_problem(description: str) -> Problem:
    """A problem with a CMS Star Ratings data table as `ratings` describes it: it may quote a cell.

    The one exception to the rule above. Those tables are CMS's public, contract-level data,
    with no member rows, and a score, a cut point or a measure header is what the person fixing
    the file needs to see. A file of no CMS layout (a member file put in the directory by
    mistake) is refused as an unrecognised layout, which quotes nothing.
    """
    return Problem(description)

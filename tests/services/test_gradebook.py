"""The gradebook agrees with the records: a term built through the services (sign-ups, check-ins
present, late, excused and absent, talk and poster reviews), then every cell of `gradebook_rows`,
the computed items against values worked out by hand, and the CSV (UTF-8 with a BOM, CRLF, formulas
neutralised). On SQLite and PostgreSQL (the `services` fixture)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import select

from bot.clock import Clock
from bot.config import Config
from bot.db.models import AuditEntry, Group
from bot.errors import InvalidInput
from bot.services import Services, attendance, groups, papers, reviews, roster
from bot.services.gradebook import (
    COLUMNS,
    GradebookMember,
    _two,
    attendance_histogram,
    attendance_score,
    distribution,
    export_gradebook,
    gradebook_csv,
    gradebook_rows,
    mean,
)
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
    "student_id,name,discord,email\n"
    "20250001,김민준,,alice@example.ac.kr\n"  # alice, linked by her registration
    "20250002,Bob Lee,bob,Bob.Lee@example.ac.kr\n"  # by username
    "20250003,=1+1,Carol P,carol@example.ac.kr\n"  # by display name; a name a spreadsheet would run
    "20250005,박지훈,,\n"  # eve registers after the import; no email
    "20250009,이서연,,seoyeon@example.ac.kr\n"  # never joined Discord
).encode()
PAYLOAD = '=HYPERLINK("http://evil.example","click")'  # typed into a review comment


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


async def review(
    services: Services, kind: str, target: int, reviewer: int, scores: str, comment: str = "Clear."
) -> None:
    await reviews.submit(
        services,
        kind=kind,
        target_id=target,
        reviewer_id=reviewer,
        reviewer_name={ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave", EVE: "eve"}[reviewer],
        scores=scores.split(),
        comment=comment,
    )


async def group_id(services: Services, name: str) -> int:
    async with services.db.read() as session:
        found = await session.scalar(select(Group.id).where(Group.name == name))
    assert found is not None
    return found


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

    # W2 Wed: alice and bob on time, eve 15 minutes late; carol is excused afterwards; frank and dave
    # miss their third lecture (3 absences: the F line)
    await lecture(services, clock, date(2025, 3, 12), (ALICE, "alice", 0), (BOB, "bob", 5), (EVE, "eve", 15))
    excuse = await attendance.request_excuse(
        services,
        discord_id=CAROL,
        discord_name="carol",
        joined_at=JOINED,
        day=date(2025, 3, 12),
        reason="flu",
    )
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=excuse.id, approve=True)

    clock.set(seoul(2025, 4, 30, 15, 0))  # W9 Wed, after the talks of papers 1 and 2
    await review(services, "talk", 1, CAROL, "5 4 3")
    await review(services, "talk", 2, CAROL, "5 4 3")
    await review(services, "talk", 1, DAVE, "4 4 2", PAYLOAD)
    clock.set(seoul(2025, 5, 7, 15, 0))  # W10 Wed, after the talk of paper 3
    await review(services, "talk", 3, ALICE, "2 3 3", "@SUM(1+1)")
    clock.set(seoul(2025, 6, 18, 15, 0))  # W16 Wed, the poster session
    sparse, quant = await group_id(services, "Sparse Squad"), await group_id(services, "Quant Club")
    await review(services, "poster", sparse, BOB, "5 5 4")
    await review(services, "poster", sparse, EVE, "3 4 5", "-1+1")
    await review(services, "poster", quant, ALICE, "1 2 2")


# student_id, name, discord_name, discord_id, held, present, late, excused, absent, absences_left,
# paper_number, paper_title, talk_date, group, project_title, reviews_given,
# email, attendance_score, fails_by_absence, talk_peer_score, poster_peer_score, questions_asked,
# appointments, excuse_requests, excuses_with_evidence
#
# By hand (weight 10, late_credit 1, fail_at 3; 3 lectures held since everyone joined):
#   alice 10·(3+0+0)/3 = 10.00   bob 10·(1+1+1)/3 = 10.00   carol 10·(1+0+1)/3 = 6.67
#   frank 10·0/3 = 0.00, 3 absences: yes   eve 10·(0+2+0)/3 = 6.67   dave 0.00, yes
#   talk 1 (alice, eve): (5+4+3 + 4+4+2)/6 = 3.67   talk 2 (bob): 12/3 = 4.00   talk 3 (carol): 8/3 = 2.67
#   poster Sparse Squad (alice, carol, dave): (14 + 12)/6 = 4.33   Quant Club (bob, eve): 5/3 = 1.67
# fmt: off
EXPECTED = [
    ["20250001", "김민준", "alice", str(ALICE), "3", "3", "0", "0", "0", "2", "1", "Deep Compression", "2025-04-30 11:00", "Sparse Squad", "=1+1 is all you need", "2",
     "alice@example.ac.kr", "10.00", "no", "3.67", "4.33", "0", "0", "0", "0"],
    ["20250002", "Bob Lee", "bob", str(BOB), "3", "1", "1", "1", "0", "2", "2", "-bit LLMs", "2025-04-30 11:25", "Quant Club", "", "1",
     "Bob.Lee@example.ac.kr", "10.00", "no", "4.00", "1.67", "0", "0", "1", "0"],
    ["20250003", "=1+1", "carol", str(CAROL), "3", "1", "0", "1", "1", "1", "3", "LoRA", "2025-05-07 11:00", "Sparse Squad", "=1+1 is all you need", "2",
     "carol@example.ac.kr", "6.67", "no", "2.67", "4.33", "0", "0", "1", "0"],
    ["20250004", "Frank Lee", "frank", str(FRANK), "3", "0", "0", "0", "3", "0", "", "", "", "", "", "0",
     "", "0.00", "yes", "", "", "0", "0", "0", "0"],
    ["20250005", "박지훈", "eve", str(EVE), "3", "0", "2", "0", "1", "1", "1", "Deep Compression", "2025-04-30 11:00", "Quant Club", "", "1",
     "", "6.67", "no", "3.67", "1.67", "0", "0", "0", "0"],
    ["20250009", "이서연", "", "", "", "", "", "", "", "", "", "", "", "", "", "0",
     "seoyeon@example.ac.kr", "", "", "", "", "0", "0", "0", "0"],
    ["", "", "dave", str(DAVE), "3", "0", "0", "0", "3", "0", "", "", "", "Sparse Squad", "=1+1 is all you need", "1",
     "", "0.00", "yes", "", "4.33", "0", "0", "0", "0"],
]
# fmt: on


def with_late_credit(services: Services, credit: float) -> Services:
    config = services.config
    changed = config.model_copy(
        update={"attendance": config.attendance.model_copy(update={"late_credit": credit})}
    )
    return Services(services.db, services.clock, changed, services.calendar)


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


# ---- the computed items ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("credit", "bob", "eve"),
    [
        (1.0, "10.00", "6.67"),  # the default: late counts as present
        (0.5, "8.33", "3.33"),  # bob 10·(1 + 0.5 + 1)/3, eve 10·(0 + 2·0.5 + 0)/3
        (0.0, "6.67", "0.00"),  # bob 10·(1 + 0 + 1)/3, eve 10·0/3
    ],
)
async def test_late_credit_weighs_the_late_check_ins(
    services: Services, clock: Clock, credit: float, bob: str, eve: str
) -> None:
    await build_term(services, clock)
    rows = {
        row["discord_name"]: row for row in await gradebook_rows(with_late_credit(services, credit), MEMBERS)
    }
    assert (rows["bob"]["attendance_score"], rows["eve"]["attendance_score"]) == (bob, eve)
    # the scores without a late check-in do not move
    assert [rows[n]["attendance_score"] for n in ("alice", "carol", "frank", "dave")] == [
        "10.00",
        "6.67",
        "0.00",
        "0.00",
    ]


async def test_the_attendance_weight_comes_from_the_syllabus(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    config = services.config
    grading = config.course.grading.model_copy(update={"attendance": 20, "final": 30})
    heavier = config.model_copy(update={"course": config.course.model_copy(update={"grading": grading})})
    rows = await gradebook_rows(Services(services.db, services.clock, heavier, services.calendar), MEMBERS)
    assert [row["attendance_score"] for row in rows] == [
        "20.00",
        "20.00",
        "13.33",
        "0.00",
        "13.33",
        "",
        "0.00",
    ]


async def test_the_f_flag_is_the_attendance_services_rule(services: Services, clock: Clock) -> None:
    """One absence rule: the flag says what `StudentRecord.failed` says, at every fail line."""
    await build_term(services, clock)
    for fail_at in (1, 2, 3, 4):
        config = services.config
        changed = config.model_copy(
            update={"attendance": config.attendance.model_copy(update={"fail_at": fail_at})}
        )
        moved = Services(services.db, services.clock, changed, services.calendar)
        rows = await gradebook_rows(moved, MEMBERS)
        ids = [int(row["discord_id"]) for row in rows if row["discord_id"]]
        record = await attendance.records(moved, [(i, JOINED) for i in ids])
        flags = {int(row["discord_id"]): row["fails_by_absence"] for row in rows if row["discord_id"]}
        assert flags == {i: "yes" if record[i].failed else "no" for i in ids}
        assert (
            sum(flag == "yes" for flag in flags.values()) == {1: 4, 2: 2, 3: 2, 4: 0}[fail_at]
        )  # absences: carol 1, eve 1, frank 3, dave 3


async def test_no_lecture_held_leaves_the_score_empty(services: Services, clock: Clock) -> None:
    await enrol(services, ALICE, "alice", "20250001", "Alice Kim")
    [row] = await gradebook_rows(services, MEMBERS[:1])
    assert (row["lectures_held"], row["attendance_score"], row["fails_by_absence"]) == ("0", "", "no")


def test_the_formulas_by_hand(config: Config) -> None:
    record = attendance.StudentRecord(1, 4, 1, 2, 1, 0, 3, ())
    assert attendance_score(config, record) == Fraction(10 * 4, 4)
    half = config.model_copy(update={"attendance": config.attendance.model_copy(update={"late_credit": 0.5})})
    assert attendance_score(half, record) == Fraction(10 * 3, 4)  # (1 + 2·0.5 + 1)/4 of 10
    assert attendance_score(config, None) is None
    assert mean([(5, 4, 3), (4, 4, 2)]) == Fraction(22, 6)
    assert mean([]) is None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Fraction(2675, 1000), "2.68"),  # half up, not to even
        (Fraction(1, 8), "0.13"),
        (Fraction(20, 3), "6.67"),
        (Fraction(10), "10.00"),
        (Fraction(0), "0.00"),
        (Fraction(1, 200), "0.01"),
        (None, ""),
    ],
)
def test_every_score_is_rounded_half_up_to_two_decimals(value: Fraction | None, shown: str) -> None:
    assert _two(value) == shown


async def test_questions_asked_is_zero_until_talk_questions_exist(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    assert {row["questions_asked"] for row in await gradebook_rows(services, MEMBERS)} == {"0"}


# ---- the export and its preview ----------------------------------------------------------------
async def audit_rows(services: Services) -> list[tuple[str, int | None, dict[str, object]]]:
    async with services.db.read() as session:
        rows = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "gradebook.export"))
        ).all()
    return [(row.action, row.actor_id, json.loads(row.details)) for row in rows]


@pytest.mark.parametrize(
    ("format", "filename", "written", "left_out"),
    [
        ("csv", "EECE695D-gradebook-20250618-1500.csv", 7, 0),
        ("canvas", "EECE695D-gradebook-canvas-20250618-1500.csv", 6, 1),
        ("moodle", "EECE695D-gradebook-moodle-20250618-1500.csv", 4, 3),
    ],
)
async def test_an_export_is_named_by_course_and_time_and_audited(
    services: Services, clock: Clock, format: str, filename: str, written: int, left_out: int
) -> None:
    await build_term(services, clock)
    made = await export_gradebook(services, actor_id=TA, format=format, members=MEMBERS)
    assert (made.filename, made.written, len(made.left_out), len(made.rows)) == (
        filename,
        written,
        left_out,
        7,
    )
    if format == "csv":
        assert made.data == gradebook_csv(await gradebook_rows(services, MEMBERS))
    assert await audit_rows(services) == [
        ("gradebook.export", TA, {"format": format, "rows": written, "left_out": left_out})
    ]


async def test_an_unknown_format_is_refused_and_not_audited(services: Services) -> None:
    with pytest.raises(InvalidInput, match="`xlsx` is not an export format: use csv, canvas or moodle"):
        await export_gradebook(services, actor_id=TA, format="xlsx")
    assert await audit_rows(services) == []


async def test_the_preview_spreads_each_item_over_the_class(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    spreads = distribution(await gradebook_rows(services, MEMBERS), services.config)
    shown = {s.item.column: (s.count, s.low, s.median, s.high, s.flagged) for s in spreads}
    assert shown == {
        # 0, 0, 6.67, 6.67, 10, 10 (이서연 has no record)
        "attendance_score": (6, "0.00", "6.67", "10.00", 0),
        "fails_by_absence": (6, "", "", "", 2),
        "talk_peer_score": (4, "2.67", "3.67", "4.00", 0),  # 2.67, 3.67, 3.67, 4.00
        "poster_peer_score": (5, "1.67", "4.33", "4.33", 0),  # 1.67, 1.67, 4.33, 4.33, 4.33
        "reviews_given": (7, "0", "1", "2", 0),  # 0, 0, 1, 1, 1, 2, 2
        "questions_asked": (7, "0", "0", "0", 0),
    }
    assert [s.item.header for s in spreads] == [
        "Attendance (10 pts)",
        "Fails by absence",
        "Talk peer score (5 pts)",
        "Poster peer score (5 pts)",
        "Reviews given",
        "Questions asked",
    ]


def test_a_median_between_two_counts_keeps_its_half(config: Config) -> None:
    rows = [{"reviews_given": "1"}, {"reviews_given": "2"}]
    [spread] = [s for s in distribution(rows, config) if s.item.column == "reviews_given"]
    assert (spread.low, spread.median, spread.high) == ("1", "1.5", "2")
    empty = {s.item.column: s.count for s in distribution([], config)}
    assert set(empty.values()) == {0}


async def test_the_histogram_is_a_png_of_the_attendance_scores(services: Services, clock: Clock) -> None:
    await build_term(services, clock)
    png = attendance_histogram(await gradebook_rows(services, MEMBERS), 10, "EECE695D attendance scores")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (350, 600)
    assert attendance_histogram([], 0, "empty").startswith(b"\x89PNG")  # no scores, a zero weight

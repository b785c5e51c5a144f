"""The class roster as a service: parsing (`line N: reason`, all or nothing), linking rows to
members, and the check `/register` makes against a loaded roster."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bot.config import Config
from bot.db.models import AuditEntry, Student
from bot.errors import Conflict, InvalidInput
from bot.services import Services
from bot.services.roster import MemberRef, RosterResult, import_roster, parse_roster_csv, roster
from bot.services.students import register
from tests.conftest import seoul

ALICE, BOB, CAROL, DAVE = 2001, 2002, 2003, 2004
MEMBERS = (
    MemberRef(ALICE, "alice", "Alice K"),
    MemberRef(BOB, "bob", "Bobby"),
    MemberRef(CAROL, "carol", "Carol P"),
    MemberRef(DAVE, "dave", "dave"),
)

GOOD = (
    "student_id,name,discord\n"
    f"20250001,김민준,{ALICE}\n"  # numeric Discord id
    "20250002,Bob Lee,@Bob\n"  # username (case and @ do not matter)
    "20250003,Carol Park,carol p\n"  # display name
    "20250004,Dave Choi,\n"  # linked by an existing registration, if any
    "20250009,이서연,ghost\n"  # nobody of that name on the server
).encode()


async def enrol(services: Services, discord_id: int, student_id: str, name: str = "Some Name") -> None:
    await register(
        services,
        discord_id=discord_id,
        discord_name=f"user{discord_id}",
        joined_at=seoul(2025, 3, 1, 9, 0),
        student_id=student_id,
        name=name,
    )


async def load(services: Services, data: bytes, members: tuple[MemberRef, ...] = MEMBERS) -> RosterResult:
    return await import_roster(services, actor_id=9, data=data, members=members)


async def links(services: Services) -> dict[str, int | None]:
    return {entry.student_id: entry.discord_id for entry in await roster(services)}


async def audit_count(services: Services) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


async def roster_rows(services: Services) -> list[tuple[str, str, str | None, int | None]]:
    return [(e.student_id, e.name, e.discord_ref, e.discord_id) for e in await roster(services)]


# ---- parsing -----------------------------------------------------------------------------------
@pytest.fixture
def parsing(config: Config) -> Services:
    """Parsing needs only the config (the student id pattern): no database."""
    return SimpleNamespace(config=config)  # type: ignore[return-value]


def test_a_good_file_parses_with_a_bom_crlf_and_loose_spacing(parsing: Services) -> None:
    data = "\ufeff Student_ID , Name \r\n20250001,  김   민준 \r\n\r\n20250002,Bob Lee\r\n".encode()
    rows, errors = parse_roster_csv(parsing, data)
    assert errors == []
    assert [(r.line, r.student_id, r.name, r.discord_ref) for r in rows] == [
        (2, "20250001", "김 민준", ""),
        (4, "20250002", "Bob Lee", ""),
    ]


BAD_FILES = [
    pytest.param(
        b"name,student_id\nBob,20250001\n",
        ["line 1: the header must be student_id,name[,discord][,email]"],
        id="wrong-header",
    ),
    pytest.param(
        b"student_id,name,discord,phone\n20250001,A,a,010\n",
        ["line 1: the header must be student_id,name[,discord][,email]"],
        id="extra-header-column",
    ),
    pytest.param(
        b"student_id,name\n20250001,Ann,ann\n",
        ["line 2: 3 columns, expected 2"],
        id="row-with-too-many-columns",
    ),
    pytest.param(
        b"student_id,name\n20250001,Ann\n20250002,Ben\n20250001,Ann again\n",
        ["line 4: student id 20250001 is already on line 2"],
        id="student-id-twice",
    ),
    pytest.param(
        b"student_id,name,discord\n20250001,Ann,ann\n20250002,Ben,@ANN\n",
        ["line 3: Discord account ANN is already on line 2"],
        id="discord-account-twice",
    ),
    pytest.param(
        "student_id,name\n2025001,Ann\nabcdefgh,Ben\n２０２５０００３,Full Width\n".encode(),
        [
            "line 2: `2025001` is not a valid student id",
            "line 3: `abcdefgh` is not a valid student id",
            "line 4: `２０２５０００３` is not a valid student id",
        ],
        id="bad-student-ids",
    ),
    pytest.param(
        b"student_id,name\n20250001,\n", ["line 2: the name must be 1–100 characters"], id="empty-name"
    ),
    pytest.param(
        "student_id,name\n20250001,Ann\n".encode("utf-16"),
        ["line 1: the file is not UTF-8 text (save it as CSV UTF-8)"],
        id="utf-16",
    ),
    pytest.param(
        "student_id,name\n20250001,Jürgen Müller\n".encode("latin-1"),
        ["line 1: the file is not UTF-8 text (save it as CSV UTF-8)"],
        id="latin-1",
    ),
    pytest.param(b"", ["line 1: the file is empty"], id="empty"),
    pytest.param(b" \r\n\n", ["line 1: the file is empty"], id="blank"),
    pytest.param(b"student_id,name\n", ["line 2: no students in the file"], id="header-only"),
    pytest.param(
        random.Random(695).randbytes(10_000_000),
        ["line 1: the file is larger than 1000 kB"],
        id="10-MB-of-junk",
    ),
    pytest.param(
        b"student_id,name\n20250001,Ann\x00\n", ["line 1: the file is not a text CSV"], id="NUL-byte"
    ),
]


@pytest.mark.parametrize(("data", "errors"), BAD_FILES)
def test_bad_files_are_reported_line_by_line(parsing: Services, data: bytes, errors: list[str]) -> None:
    _rows, found = parse_roster_csv(parsing, data)
    assert found == errors


def test_every_bad_row_is_reported_not_just_the_first(parsing: Services) -> None:
    data = b"student_id,name,discord\n20250001,Ann,ann\nx,Ben\n20250001,Cy\n20250004,Di,ANN\n20250005,Ed\n"
    rows, errors = parse_roster_csv(parsing, data)
    assert [row.line for row in rows] == [2, 6]
    assert errors == [
        "line 3: `x` is not a valid student id",
        "line 4: student id 20250001 is already on line 2",
        "line 5: Discord account ANN is already on line 2",
    ]


@pytest.mark.parametrize(("data", "errors"), BAD_FILES)
async def test_a_bad_file_changes_nothing(services: Services, data: bytes, errors: list[str]) -> None:
    first = await load(services, GOOD)
    assert first.errors == ()
    before, audited = await roster_rows(services), await audit_count(services)

    result = await load(services, data)

    assert result == RosterResult(0, 0, (), (), tuple(errors))
    assert await roster_rows(services) == before
    assert await audit_count(services) == audited


# ---- linking -----------------------------------------------------------------------------------
async def test_rows_link_by_id_username_display_name_and_registration(services: Services) -> None:
    await enrol(services, DAVE, "20250004", "Dave Choi")

    result = await load(services, GOOD)

    assert (result.imported, result.linked, result.errors) == (5, 4, ())
    assert result.unmatched == ("line 6: 20250009 이서연 (ghost)",)
    assert result.not_on_roster == ()
    assert await roster_rows(services) == [
        ("20250001", "김민준", str(ALICE), ALICE),
        ("20250002", "Bob Lee", "Bob", BOB),
        ("20250003", "Carol Park", "carol p", CAROL),
        ("20250004", "Dave Choi", None, DAVE),
        ("20250009", "이서연", "ghost", None),
    ]
    async with services.db.read() as session:
        [entry] = (await session.scalars(select(AuditEntry))).all()[-1:]
    assert (entry.action, entry.actor_id, entry.at) == ("roster.import", 9, services.now())
    assert json.loads(entry.details) == {"rows": 5, "linked": 4, "unmatched": 1}


async def test_unmatched_rows_and_members_not_on_the_roster_are_reported(services: Services) -> None:
    data = b"student_id,name,discord\n20250001,Ann,alice\n20250002,Ben,\n20250003,Cy,424242\n"
    result = await load(services, data)
    assert result.linked == 1
    assert result.unmatched == ("line 3: 20250002 Ben", "line 4: 20250003 Cy (424242)")
    assert result.not_on_roster == (BOB, CAROL, DAVE)


async def test_a_member_links_to_one_row_only(services: Services) -> None:
    # "Alice K" is alice's display name and "alice" her username: the second row is left unmatched.
    data = b"student_id,name,discord\n20250001,Ann,Alice K\n20250002,Ann Again,alice\n"
    result = await load(services, data)
    assert result.unmatched == ("line 3: 20250002 Ann Again (alice)",)
    assert await links(services) == {"20250001": ALICE, "20250002": None}


async def test_a_numeric_id_links_blindly_only_when_no_member_is_known(services: Services) -> None:
    data = b"student_id,name,discord\n20250001,Ann,777\n"
    assert (await load(services, data, members=())).linked == 1
    assert await links(services) == {"20250001": 777}
    assert (await load(services, data)).unmatched == ("line 2: 20250001 Ann (777)",)


async def test_a_new_import_replaces_the_roster(services: Services) -> None:
    await load(services, GOOD)
    result = await load(services, b"student_id,name\n20250007,Grace\n")
    assert result.imported == 1
    assert await roster_rows(services) == [("20250007", "Grace", None, None)]


# ---- /register against the roster -------------------------------------------------------------
async def test_without_a_roster_any_valid_id_registers(services: Services) -> None:
    await enrol(services, ALICE, "20259999")
    assert await links(services) == {}


async def test_an_id_not_on_the_roster_is_refused(services: Services) -> None:
    await load(services, GOOD)
    audited = await audit_count(services)
    with pytest.raises(InvalidInput, match="not on the class roster"):
        await enrol(services, ALICE, "20259999")
    assert await audit_count(services) == audited
    async with services.db.read() as session:
        assert await session.get(Student, ALICE) is None


async def test_an_id_linked_to_another_account_is_a_conflict(services: Services) -> None:
    await load(services, GOOD)  # 20250002 is linked to bob by username
    with pytest.raises(Conflict, match="linked to another Discord account"):
        await enrol(services, ALICE, "20250002")
    await enrol(services, BOB, "20250002", "Bob Lee")  # bob himself is welcome
    assert (await links(services))["20250002"] == BOB


async def test_a_registration_links_its_row_and_a_correction_moves_the_link(services: Services) -> None:
    await load(services, GOOD, members=())
    assert (await links(services))["20250009"] is None

    await enrol(services, CAROL, "20250009", "이서연")
    assert (await links(services))["20250009"] == CAROL

    await enrol(services, CAROL, "20250004", "Dave Choi")  # she typed the wrong id first
    assert await links(services) == {
        "20250001": ALICE,
        "20250002": None,
        "20250003": None,
        "20250004": CAROL,
        "20250009": None,
    }
    await enrol(services, DAVE, "20250009", "이서연")  # the freed row can be taken again
    assert (await links(services))["20250009"] == DAVE


async def test_a_registered_id_stays_taken_with_a_roster(services: Services) -> None:
    await enrol(services, CAROL, "20250009")
    await load(services, GOOD, members=())  # links 20250009 to carol by her registration
    assert (await links(services))["20250009"] == CAROL
    with pytest.raises(Conflict, match="already registered to another account"):
        await enrol(services, DAVE, "20250009")

"""Onboarding as a service: whether `/register` gives the student role (roster loaded or not, on it
or not, name or account disagreeing, staff, role already held), what is audited, and the welcome
DM planned through the outbox once per member."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from bot.config import Config
from bot.db.models import AuditEntry, Notification, RosterEntry, Student
from bot.errors import Conflict, InvalidInput
from bot.services import Services, onboarding
from bot.services.onboarding import (
    GRANT,
    HAS_ROLE,
    NAME_DIFFERS,
    NOT_ON_ROSTER,
    OFF,
    OTHER_ACCOUNT,
    STAFF,
    RoleDecision,
    RosterCheck,
    RosterMismatch,
    decide_role,
    example_student_id,
    names_match,
    welcome_text,
)
from bot.services.roster import MemberRef, import_roster
from bot.services.students import Registration, get_student, register, set_student_role
from tests.conftest import seoul

ALICE, BOB, CAROL = 3001, 3002, 3003
ROSTER = (
    f"student_id,name,discord\n20250001,김민준,{ALICE}\n20250002,Bob Lee,\n20250003,Carol Park,\n"
).encode()


def with_onboarding(services: Services, **flags: bool) -> Services:
    config = services.config
    changed = config.model_copy(update={"onboarding": config.onboarding.model_copy(update=flags)})
    return Services(services.db, services.clock, changed, services.calendar)


@pytest.fixture
def on(services: Services) -> Services:
    """The services with both onboarding flags on."""
    return with_onboarding(services, grant_student_role=True, welcome_dm=True)


async def load_roster(services: Services) -> None:
    members = (MemberRef(ALICE, "alice"), MemberRef(BOB, "bob"), MemberRef(CAROL, "carol"))
    result = await import_roster(services, actor_id=9, data=ROSTER, members=members)
    assert result.errors == ()


async def enrol(
    services: Services,
    discord_id: int,
    student_id: str,
    name: str,
    *,
    is_staff: bool = False,
    has_role: bool = False,
) -> Registration:
    return await register(
        services,
        discord_id=discord_id,
        discord_name=f"user{discord_id}",
        joined_at=seoul(2025, 3, 1, 9, 0),
        student_id=student_id,
        name=name,
        is_staff=is_staff,
        has_role=has_role,
    )


async def audits(services: Services, prefix: str = "onboarding.") -> list[tuple[str, int | None, dict]]:
    async with services.db.read() as session:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
            )
        ).all()
        return [(row.action, row.target_id, json.loads(row.details)) for row in rows]


async def welcome_rows(services: Services) -> list[Notification]:
    async with services.db.read() as session:
        return list((await session.scalars(select(Notification).order_by(Notification.id))).all())


# ---- the decision (pure) -----------------------------------------------------------------------
NO_ROSTER = RosterCheck(loaded=False)
ON_ROSTER = RosterCheck(loaded=True, roster_name="Bob Lee")


@pytest.mark.parametrize(
    ("enabled", "is_staff", "has_role", "name", "check", "expected"),
    [
        (False, False, False, "Bob Lee", NO_ROSTER, RoleDecision(OFF)),
        (True, False, False, "Bob Lee", NO_ROSTER, RoleDecision(GRANT)),
        (True, False, False, "bob  LEE", ON_ROSTER, RoleDecision(GRANT)),
        (True, False, True, "Bob Lee", ON_ROSTER, RoleDecision(HAS_ROLE)),
        (True, True, False, "Bob Lee", ON_ROSTER, RoleDecision(STAFF)),
        (
            True,
            True,
            False,
            "Bob Lee",
            RosterCheck(loaded=True, refusal=NOT_ON_ROSTER),
            RoleDecision(STAFF),
        ),
        (
            True,
            False,
            False,
            "Bob Lee",
            RosterCheck(loaded=True, refusal=NOT_ON_ROSTER),
            RoleDecision(NOT_ON_ROSTER),
        ),
        (
            True,
            False,
            True,  # holding the role already does not hide a mismatch from the staff
            "Bob Lee",
            RosterCheck(loaded=True, refusal=OTHER_ACCOUNT, roster_name="Bob Lee", roster_account=7),
            RoleDecision(OTHER_ACCOUNT, "Bob Lee", 7),
        ),
        (True, False, False, "Robert Lee", ON_ROSTER, RoleDecision(NAME_DIFFERS, "Bob Lee")),
    ],
)
def test_decide_role(
    enabled: bool, is_staff: bool, has_role: bool, name: str, check: RosterCheck, expected: RoleDecision
) -> None:
    decision = decide_role(enabled=enabled, is_staff=is_staff, has_role=has_role, name=name, check=check)
    assert decision == expected
    assert decision.grant is (expected.outcome == GRANT)
    assert decision.mismatch is (expected.outcome in (NOT_ON_ROSTER, OTHER_ACCOUNT, NAME_DIFFERS))


@pytest.mark.parametrize(
    ("typed", "roster", "same"),
    [
        ("Bob Lee", "bob lee", True),
        ("Lee, Bob", "Bob Lee", True),
        ("김 민준", "김민준", True),
        ("Jae-ho Lee", "Jaeho Lee", True),
        ("ＢＯＢ Lee", "Bob Lee", True),  # full-width letters
        ("Bob", "Bob Lee", False),
        ("Rob Lee", "Bob Lee", False),
        ("이서연", "김민준", False),
    ],
)
def test_names_match(typed: str, roster: str, same: bool) -> None:
    assert names_match(typed, roster) is same


@pytest.mark.parametrize(
    ("pattern", "example"),
    [
        (r"^\d{8}$", "20251234"),
        (r"^[A-Z]\d{7}$", "A2025123"),
        (r"^(S|T)-\d{4}$", "S-2025"),
        (r"^(?=.*7)\w{4}$", None),  # a look-ahead: no example, rather than a wrong one
    ],
)
def test_example_student_id(pattern: str, example: str | None) -> None:
    assert example_student_id(pattern) == example


# ---- registration with grant_student_role on ---------------------------------------------------
async def test_without_a_roster_any_valid_id_gets_the_role(on: Services) -> None:
    result = await enrol(on, BOB, "20259999", "Anyone")
    assert result.role == RoleDecision(GRANT)
    assert await audits(on) == []  # nothing to report; the grant is audited once Discord did it


async def test_on_the_roster_with_its_name_gets_the_role(on: Services) -> None:
    await load_roster(on)
    assert (await enrol(on, BOB, "20250002", "lee bob")).role == RoleDecision(GRANT)
    assert (await enrol(on, ALICE, "20250001", "김민준", has_role=True)).role == RoleDecision(HAS_ROLE)


async def test_not_on_the_roster_is_refused_and_audited(on: Services) -> None:
    await load_roster(on)
    with pytest.raises(RosterMismatch) as refused:
        await enrol(on, CAROL, "20251111", "Carol Park")
    assert refused.value.message == (
        "Student id `20251111` is not on the class roster, so you are not registered. The staff were "
        "told; ask them (or check the id and run `/register` again)."
    )
    assert refused.value.decision == RoleDecision(NOT_ON_ROSTER)
    assert (await get_student(on, CAROL)) is None  # refused: nothing registered
    assert await audits(on) == [
        (
            "onboarding.mismatch",
            CAROL,
            {
                "name": "Carol Park",
                "reason": NOT_ON_ROSTER,
                "roster_account": None,
                "roster_name": None,
                "student_id": "20251111",
            },
        )
    ]


async def test_an_id_the_roster_links_to_another_account_is_refused(on: Services) -> None:
    await load_roster(on)
    with pytest.raises(RosterMismatch) as refused:
        await enrol(on, CAROL, "20250001", "김민준")
    assert refused.value.decision == RoleDecision(OTHER_ACCOUNT, "김민준", ALICE)
    assert "linked to another Discord account" in refused.value.message
    async with on.db.read() as session:
        entry = await session.get(RosterEntry, "20250001")
        assert entry is not None and entry.discord_id == ALICE  # the roster is unchanged
    [(action, _, details)] = await audits(on)
    assert (action, details["reason"], details["roster_account"]) == (
        "onboarding.mismatch",
        OTHER_ACCOUNT,
        ALICE,
    )


async def test_a_different_name_registers_without_the_role(on: Services) -> None:
    await load_roster(on)
    result = await enrol(on, CAROL, "20250003", "Karen Park")
    assert result.role == RoleDecision(NAME_DIFFERS, "Carol Park", CAROL)  # linked, as before
    student = await get_student(on, CAROL)
    assert student is not None and (student.student_id, student.name) == ("20250003", "Karen Park")
    [(action, target, details)] = await audits(on)
    assert (action, target, details["reason"], details["roster_name"]) == (
        "onboarding.mismatch",
        CAROL,
        NAME_DIFFERS,
        "Carol Park",
    )


async def test_staff_never_get_the_student_role(on: Services) -> None:
    result = await enrol(on, BOB, "20250002", "Bob Lee", is_staff=True)
    assert result.role == RoleDecision(STAFF)
    await load_roster(on)
    # a staff member off the roster is refused as before, without a mismatch report
    with pytest.raises(InvalidInput, match="not on the class roster; check it"):
        await enrol(on, 4004, "20257777", "Prof Lee", is_staff=True)
    assert await audits(on) == []


async def test_with_the_flag_off_the_roster_rules_are_unchanged(services: Services) -> None:
    await load_roster(services)
    with pytest.raises(InvalidInput, match="not on the class roster; check it, or ask the staff"):
        await enrol(services, CAROL, "20251111", "Carol Park")
    with pytest.raises(Conflict, match="linked to another Discord account on the roster; ask the staff"):
        await enrol(services, CAROL, "20250001", "김민준")
    result = await enrol(services, CAROL, "20250003", "Karen Park")
    assert result.role == RoleDecision(OFF)
    assert await audits(services) == []


async def test_a_bad_id_is_refused_with_an_example(on: Services) -> None:
    with pytest.raises(InvalidInput) as refused:
        await enrol(on, BOB, "abc", "Bob Lee")
    assert refused.value.message == "`abc` is not a valid student id for this course (e.g. 20251234)."
    assert await audits(on) == []


async def test_record_grant_remembers_the_role_and_audits(on: Services) -> None:
    await enrol(on, BOB, "20250002", "Bob Lee")
    await onboarding.record_grant(on, discord_id=BOB, role="Student", problem=None)
    student = await get_student(on, BOB)
    assert student is not None and student.has_student_role
    await enrol(on, CAROL, "20250003", "Carol Park")
    await onboarding.record_grant(on, discord_id=CAROL, role="Student", problem="the bot lacks Manage Roles")
    student = await get_student(on, CAROL)
    assert student is not None and not student.has_student_role
    assert [(a, t, d["problem"]) for a, t, d in await audits(on)] == [
        ("onboarding.role_granted", BOB, None),
        ("onboarding.role_failed", CAROL, "the bot lacks Manage Roles"),
    ]


# ---- the welcome DM ----------------------------------------------------------------------------
async def join(services: Services, discord_id: int, *, has_role: bool = False) -> bool:
    return await set_student_role(
        services,
        discord_id=discord_id,
        name=f"user{discord_id}",
        joined_at=seoul(2025, 3, 9, 8, 0),
        has_role=has_role,
        joined=True,
    )


async def test_a_new_member_is_welcomed_once(on: Services, config: Config) -> None:
    assert await join(on, CAROL) is True
    [row] = await welcome_rows(on)
    assert (row.source_key, row.kind, row.audience, row.user_id, row.status, row.category) == (
        f"welcome:{CAROL}",
        "welcome",
        "dm",
        CAROL,
        "pending",
        None,
    )
    assert row.due_at == on.now()
    assert row.text == welcome_text(on.config)
    assert "EECE695D: Efficient ML Systems" in row.text
    assert "`/register student_id:20251234 name:Your Name`" in row.text
    assert "student role" in row.text  # grant_student_role is on
    student = await get_student(on, CAROL)  # the join is recorded with its time
    assert student is not None and student.joined_at == seoul(2025, 3, 9, 8, 0)
    assert not student.has_student_role

    # leaving and joining again: no second welcome
    await set_student_role(on, discord_id=CAROL, name="carol", joined_at=None, has_role=False)
    assert await join(on, CAROL) is False
    assert len(await welcome_rows(on)) == 1
    assert await audits(on) == [("onboarding.welcome_planned", CAROL, {})]


async def test_no_welcome_when_off_or_already_registered(services: Services, on: Services) -> None:
    assert await join(services, CAROL) is False  # welcome_dm off (the repository's config)
    assert await get_student(services, CAROL) is None  # nothing recorded for a member without role
    await enrol(on, BOB, "20250002", "Bob Lee")
    assert await join(on, BOB) is False  # a registered member who re-joins
    assert await welcome_rows(on) == []
    assert await audits(on) == []


async def test_the_welcome_without_a_role_grant_does_not_promise_one(services: Services) -> None:
    welcome_only = with_onboarding(services, welcome_dm=True)
    assert await join(welcome_only, CAROL, has_role=True)
    [row] = await welcome_rows(welcome_only)
    assert "student role" not in row.text
    student = await get_student(welcome_only, CAROL)
    assert student is not None and student.has_student_role


def test_the_welcome_without_an_example_id(config: Config) -> None:
    registration = config.registration.model_copy(update={"student_id_pattern": r"^(?=.*7)\w{4}$"})
    text = welcome_text(config.model_copy(update={"registration": registration}))
    assert "`/register student_id:YOUR_ID name:Your Name`" in text


async def test_students_without_the_join_flag_are_not_welcomed(on: Services) -> None:
    await set_student_role(on, discord_id=CAROL, name="carol", joined_at=None, has_role=True)
    assert await welcome_rows(on) == []
    async with on.db.read() as session:
        assert (await session.get(Student, CAROL)) is not None


async def test_racing_joins_plan_one_welcome(on: Services) -> None:
    """Gateway events for one member arriving together (a reconnect replaying the join)."""
    results = await asyncio.gather(*(join(on, CAROL) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert len(await welcome_rows(on)) == 1
    assert await audits(on) == [("onboarding.welcome_planned", CAROL, {})]

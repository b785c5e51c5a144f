"""Students: who the bot knows, and `/register` (student id and name, used in exports)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.engine import dialect_insert
from bot.db.models import Student
from bot.errors import Conflict, InvalidInput
from bot.services import Services, onboarding
from bot.services.onboarding import RoleDecision
from bot.services.text import require_visible

NAME_MAX = 100
_MENTION = re.compile(r"<[@#][!&]?\d+>|@everyone|@here|<@&\d+>", re.IGNORECASE)
_MARKDOWN = re.compile(r"[`*_~|>\\]")


@dataclass(frozen=True)
class Registration:
    discord_id: int
    student_id: str
    name: str
    previous_student_id: str | None
    previous_name: str | None
    role: RoleDecision = onboarding.UNASKED  # what it means for the student role

    @property
    def is_correction(self) -> bool:
        return self.previous_student_id is not None


def clean_name(name: str) -> str:
    """Collapse whitespace and refuse mentions, markdown, control characters and names with nothing
    visible (`text.require_visible`). Raises InvalidInput."""
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= NAME_MAX:
        raise InvalidInput(f"A name must be 1–{NAME_MAX} characters.")
    require_visible(cleaned, "A name")
    if _MENTION.search(cleaned) or "@" in cleaned:
        raise InvalidInput("A name cannot contain mentions or @.")
    if _MARKDOWN.search(cleaned) or any(not ch.isprintable() for ch in cleaned):
        raise InvalidInput("A name cannot contain formatting characters such as ` * _ ~ | > \\.")
    return cleaned


def clean_student_id(services: Services, student_id: str) -> str:
    """Trim and check the id against `registration.student_id_pattern`. Raises InvalidInput."""
    cleaned = student_id.strip()
    # re.ASCII: \d must not accept full-width or other non-ASCII digits (the same id in two spellings).
    if not re.fullmatch(services.config.registration.student_id_pattern, cleaned, re.ASCII):
        shown = cleaned[:32].replace("`", "")
        example = onboarding.example_student_id(services.config.registration.student_id_pattern)
        hint = f" (e.g. {example})" if example else ""
        raise InvalidInput(f"`{shown}` is not a valid student id for this course{hint}.")
    return cleaned


async def ensure_student(
    session: AsyncSession, *, discord_id: int, discord_name: str | None, joined_at: datetime
) -> Student:
    """The student row for `discord_id`, created on first sight and locked (inside the caller's
    transaction). The insert is `ON CONFLICT DO NOTHING`, so features racing to create the same
    student on PostgreSQL (under different locks) never collide on the primary key."""
    student = await session.get(Student, discord_id, with_for_update=True)
    if student is None:
        insert = dialect_insert(session)
        await session.execute(
            insert(Student)
            .values(discord_id=discord_id, discord_name=discord_name, joined_at=joined_at)
            .on_conflict_do_nothing(index_elements=["discord_id"])
        )
        student = await session.get(Student, discord_id, with_for_update=True, populate_existing=True)
        assert student is not None
    if discord_name and student.discord_name != discord_name:
        student.discord_name = discord_name
    return student


async def register(
    services: Services,
    *,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    student_id: str,
    name: str,
    is_staff: bool = False,
    has_role: bool = False,
    on_server: bool = True,
) -> Registration:
    """Link a Discord account to a student id and name; re-running corrects them. The result says
    whether the student role should be given (`[onboarding] grant_student_role`; `has_role`: the
    member has it already; `on_server`: the member is on the course server, where it can be given).

    Raises InvalidInput (bad id or name), Conflict (the id belongs to another account), or, with
    grant_student_role on, RosterMismatch (the roster refuses it; audited, for the staff to be told).
    """
    student_id = clean_student_id(services, student_id)
    name = clean_name(name)
    now = services.now()
    enabled = services.config.onboarding.grant_student_role and on_server
    try:
        joined = min(joined_at, now) if joined_at else now
        result = await _register(
            services,
            discord_id,
            discord_name,
            joined,
            student_id,
            name,
            now,
            lambda check: onboarding.decide_role(
                enabled=enabled, is_staff=is_staff, has_role=has_role, name=name, check=check
            ),
        )
    except IntegrityError:  # PostgreSQL: another account took the id in a racing transaction
        raise Conflict(
            f"Student id `{student_id}` is already registered to another account; ask the staff."
        ) from None
    if isinstance(result, onboarding.RosterMismatch):
        raise result
    return result


async def _register(
    services: Services,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime,
    student_id: str,
    name: str,
    now: datetime,
    decide: Callable[[onboarding.RosterCheck], RoleDecision],
) -> Registration | onboarding.RosterMismatch:
    # Registrations run one at a time on PostgreSQL too: an account racing itself (a double submit)
    # would otherwise hit the primary key and be told its id belongs to "another account".
    async with services.db.write("students") as session:
        holder = await session.scalar(select(Student).where(Student.student_id == student_id))
        if holder is not None and holder.discord_id != discord_id:
            raise Conflict(
                f"Student id `{student_id}` is already registered to another account; ask the staff."
            )
        check, refusal = await onboarding.check_roster(session, student_id=student_id, discord_id=discord_id)
        decision = decide(check)
        if decision.mismatch:
            onboarding.audit_mismatch(
                session, now=now, discord_id=discord_id, student_id=student_id, name=name, decision=decision
            )
        if refusal is not None:
            if not decision.mismatch:
                raise refusal
            # refused as before, but the audit row of the mismatch is committed (the staff are told)
            return onboarding.mismatch_refusal(student_id=student_id, name=name, decision=decision)
        student = await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=joined_at
        )
        previous = (student.student_id, student.name)
        student.student_id, student.name, student.registered_at = student_id, name, now
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="student.register",
            target_id=discord_id,
            student_id=student_id,
            name=name,
            previous_student_id=previous[0],
            previous_name=previous[1],
        )
    return Registration(discord_id, student_id, name, previous[0], previous[1], decision)


async def ensure_students(
    session: AsyncSession, people: dict[int, tuple[str | None, datetime]]
) -> dict[int, Student]:
    """`ensure_student` for many at once, in a few queries per 500: (discord name, joined at) by
    discord id. Returns the (locked) rows by discord id."""
    ids = list(people)
    known: dict[int, Student] = {}
    for start in range(0, len(ids), 500):  # IN lists stay far below SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        query = select(Student).where(Student.discord_id.in_(chunk)).with_for_update()
        known.update((s.discord_id, s) for s in await session.scalars(query))
        missing = [discord_id for discord_id in chunk if discord_id not in known]
        if not missing:
            continue
        insert = dialect_insert(session)
        await session.execute(
            insert(Student).on_conflict_do_nothing(index_elements=["discord_id"]),
            [{"discord_id": i, "discord_name": people[i][0], "joined_at": people[i][1]} for i in missing],
        )
        query = (
            select(Student)
            .where(Student.discord_id.in_(missing))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        known.update((s.discord_id, s) for s in await session.scalars(query))
    for discord_id, (name, _) in people.items():
        student = known[discord_id]
        if name and student.discord_name != name:
            student.discord_name = name
    return known


async def get_student(services: Services, discord_id: int) -> Student | None:
    async with services.db.read() as session:
        return await session.get(Student, discord_id)


async def sync_student_role(
    services: Services, members: Sequence[tuple[int, str | None, datetime | None]]
) -> int:
    """Remember exactly these members (id, name, Discord join time) as having the student role, so
    exports made without Discord (the command line) still list them. Returns how many changed."""
    now = services.now()
    wanted = {discord_id: (name, joined) for discord_id, name, joined in members}
    changed = 0
    async with services.db.write("students") as session:
        for student in (
            await session.scalars(select(Student).where(Student.has_student_role.is_(True)))
        ).all():
            if student.discord_id not in wanted:
                student.has_student_role, changed = False, changed + 1
        rows = await ensure_students(
            session, {i: (name, min(joined or now, now)) for i, (name, joined) in wanted.items()}
        )
        for student in rows.values():
            if not student.has_student_role:
                student.has_student_role, changed = True, changed + 1
    return changed


async def set_student_role(
    services: Services,
    *,
    discord_id: int,
    name: str | None,
    joined_at: datetime | None,
    has_role: bool,
    joined: bool = False,
) -> bool:
    """One member gained or lost the student role (or joined or left the server). A member who
    `joined` is welcomed by DM in the same transaction when `[onboarding] welcome_dm` is on (once
    per member ever). Returns whether a welcome DM was planned."""
    now = services.now()
    async with services.db.write("students") as session:
        welcomed = joined and services.config.onboarding.welcome_dm
        if welcomed:
            welcomed = await onboarding.plan_welcome(services, session, discord_id=discord_id, now=now)
        if has_role or welcomed:  # the join is recorded with its time (absences count from it)
            student = await ensure_student(
                session, discord_id=discord_id, discord_name=name, joined_at=min(joined_at or now, now)
            )
            student.has_student_role = has_role
        else:
            student_row = await session.get(Student, discord_id, with_for_update=True)
            if student_row is not None:
                student_row.has_student_role = False
    return welcomed

"""Onboarding: whether `/register` gives the student role (`[onboarding] grant_student_role`), what
the staff are told about a registration that disagrees with the roster, and the welcome DM for new
members (`[onboarding] welcome_dm`). The Discord calls (adding the role) are the cog's; the rules
are here."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db import audit
from bot.db.models import RosterEntry, Student
from bot.errors import Conflict, InvalidInput, UserFacingError
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Planned, enqueue
from bot.services import Services
from bot.services.roster import check_registration

# What a registration means for the student role.
OFF = "off"  # grant_student_role is off (or the member is not on the course server)
STAFF = "staff"  # TAs and instructors never get the student role
HAS_ROLE = "has_role"  # nothing to do
GRANT = "grant"
NOT_ON_ROSTER = "not_on_roster"  # the registration is refused (the roster rule)
OTHER_ACCOUNT = "other_account"  # the roster links the id to another account: refused as well
NAME_DIFFERS = "name_differs"  # registered, but no role until the staff look
MISMATCHES = (NOT_ON_ROSTER, OTHER_ACCOUNT, NAME_DIFFERS)

WELCOME_KIND = "welcome"
FALLBACK_EXAMPLE_ID = "20251234"


@dataclass(frozen=True)
class RosterCheck:
    """What the class roster says about one registration."""

    loaded: bool
    refusal: str | None = None  # NOT_ON_ROSTER or OTHER_ACCOUNT: `check_registration` refused it
    roster_name: str | None = None
    roster_account: int | None = None  # the Discord account the roster links the id to


@dataclass(frozen=True)
class RoleDecision:
    outcome: str  # OFF, STAFF, HAS_ROLE, GRANT or one of MISMATCHES
    roster_name: str | None = None
    roster_account: int | None = None

    @property
    def grant(self) -> bool:
        return self.outcome == GRANT

    @property
    def mismatch(self) -> bool:
        return self.outcome in MISMATCHES


UNASKED = RoleDecision(OFF)


class RosterMismatch(UserFacingError):
    """A registration the roster refuses, with the staff told (grant_student_role on)."""

    def __init__(self, message: str, *, student_id: str, name: str, decision: RoleDecision) -> None:
        super().__init__(message)
        self.student_id, self.name, self.decision = student_id, name, decision


# ---- the decision ------------------------------------------------------------------------------
def _words(name: str) -> list[str]:
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.findall(r"\w+", re.sub(r"[-'’.]", "", text))


def names_match(typed: str, on_roster: str) -> bool:
    """The same name ignoring case, punctuation, spacing and word order ("Lee, Bob" = "bob lee";
    "김 민준" = "김민준")."""
    mine, theirs = _words(typed), _words(on_roster)
    return sorted(mine) == sorted(theirs) or "".join(mine) == "".join(theirs)


def decide_role(
    *, enabled: bool, is_staff: bool, has_role: bool, name: str, check: RosterCheck
) -> RoleDecision:
    """Whether a registration gives the student role. Staff never get it; a roster mismatch never
    does (the staff look at it first); a member who has it is left alone."""
    if not enabled:
        return RoleDecision(OFF)
    if is_staff:
        return RoleDecision(STAFF)
    if check.refusal is not None:
        return RoleDecision(check.refusal, check.roster_name, check.roster_account)
    if check.loaded and check.roster_name is not None and not names_match(name, check.roster_name):
        return RoleDecision(NAME_DIFFERS, check.roster_name, check.roster_account)
    if has_role:
        return RoleDecision(HAS_ROLE)
    return RoleDecision(GRANT)


async def check_roster(
    session: AsyncSession, *, student_id: str, discord_id: int
) -> tuple[RosterCheck, UserFacingError | None]:
    """Run `/register`'s roster check (linking the row on success) and say what the roster holds;
    the check's refusal is returned, not raised, so the caller decides what to record first."""
    loaded = bool(await session.scalar(select(func.count()).select_from(RosterEntry)))
    refusal: UserFacingError | None = None
    try:
        await check_registration(session, student_id=student_id, discord_id=discord_id)
    except (InvalidInput, Conflict) as error:  # its documented refusals
        refusal = error
    entry = await session.get(RosterEntry, student_id) if loaded else None
    kind = None
    if refusal is not None:
        kind = NOT_ON_ROSTER if isinstance(refusal, InvalidInput) else OTHER_ACCOUNT
    return (
        RosterCheck(
            loaded,
            kind,
            entry.name if entry else None,
            entry.discord_id if entry else None,
        ),
        refusal,
    )


def audit_mismatch(
    session: AsyncSession,
    *,
    now: datetime,
    discord_id: int,
    student_id: str,
    name: str,
    decision: RoleDecision,
) -> None:
    audit(
        session,
        at=now,
        actor_id=discord_id,
        action="onboarding.mismatch",
        target_id=discord_id,
        student_id=student_id,
        name=name,
        reason=decision.outcome,
        roster_name=decision.roster_name,
        roster_account=decision.roster_account,
    )


def mismatch_refusal(*, student_id: str, name: str, decision: RoleDecision) -> RosterMismatch:
    """The roster's refusal, telling the student that the staff know."""
    if decision.outcome == NOT_ON_ROSTER:
        problem = f"Student id `{student_id}` is not on the class roster"
    else:
        problem = f"Student id `{student_id}` is linked to another Discord account on the roster"
    return RosterMismatch(
        f"{problem}, so you are not registered. The staff were told; ask them "
        "(or check the id and run `/register` again).",
        student_id=student_id,
        name=name,
        decision=decision,
    )


def mismatch_line(*, discord_id: int, student_id: str, name: str, decision: RoleDecision) -> str:
    """The one ta-log line about a registration that disagrees with the roster."""
    typed = f"<@{discord_id}> registered as `{student_id}` · {name}"
    if decision.outcome == NOT_ON_ROSTER:
        says = f"`{student_id}` is not on the roster"
    elif decision.outcome == OTHER_ACCOUNT:
        says = f"the roster links `{student_id}` ({decision.roster_name}) to <@{decision.roster_account}>"
    else:
        says = f"the roster has `{student_id}` as {decision.roster_name}"
    verdict = "refused" if decision.outcome != NAME_DIFFERS else "registered, no student role given"
    return f"⚠️ Roster mismatch: {typed}, but {says} ({verdict})."


async def record_grant(services: Services, *, discord_id: int, role: str, problem: str | None) -> None:
    """After the cog asked Discord for the role: audit the result; on success remember the role
    (exports made without Discord list the student at once)."""
    now = services.now()
    async with services.db.write("students") as session:
        if problem is None:
            student = await session.get(Student, discord_id, with_for_update=True)
            if student is not None:
                student.has_student_role = True
        audit(
            session,
            at=now,
            actor_id=None,
            action="onboarding.role_granted" if problem is None else "onboarding.role_failed",
            target_id=discord_id,
            role=role,
            problem=problem,
        )


# ---- the welcome DM ----------------------------------------------------------------------------
def example_student_id(pattern: str) -> str | None:
    """A student id that `pattern` accepts, for messages ("e.g. 20251234"); None if none is found."""
    if re.fullmatch(pattern, FALLBACK_EXAMPLE_ID, re.ASCII):
        return FALLBACK_EXAMPLE_ID
    try:
        from re import _parser  # type: ignore[attr-defined]

        candidate = _sample(_parser.parse(pattern), iter(FALLBACK_EXAMPLE_ID * 8))
    except Exception:  # an unusual pattern (or a very long one) only costs the example
        return None
    if candidate is not None and re.fullmatch(pattern, candidate, re.ASCII):
        return candidate
    return None


def _sample(parsed: Any, digits: Iterator[str]) -> str | None:
    """One short string of a parsed pattern: literals, classes, repeats (their minimum), groups and
    the first alternative; None for anything else (look-arounds, back-references, negated classes)."""
    out: list[str] = []
    for op, value in parsed:
        name = str(op)
        part: str | None
        if name == "AT":
            continue
        if name == "LITERAL":
            part = chr(value)
        elif name == "ANY":
            part = "A"
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            low, _high, item = value
            pieces = [_sample(item, digits) for _ in range(low)]
            part = None if None in pieces else "".join(p for p in pieces if p is not None)
        elif name == "SUBPATTERN":
            part = _sample(value[-1], digits)
        elif name == "BRANCH":
            part = _sample(value[1][0], digits)
        elif name == "IN":
            part = _sample_class(value, digits)
        else:
            part = None
        if part is None:
            return None
        out.append(part)
    return "".join(out)


def _sample_class(items: Any, digits: Iterator[str]) -> str | None:
    op, value = str(items[0][0]), items[0][1]
    if op == "CATEGORY" and str(value) == "CATEGORY_DIGIT":
        return next(digits)
    if op == "RANGE":
        low, high = value
        return next(digits) if low <= ord("0") and ord("9") <= high else chr(low)
    if op == "LITERAL":
        return chr(value)
    return None


def welcome_text(config: Config) -> str:
    """How to register, for a member who just joined."""
    course = config.course
    example = example_student_id(config.registration.student_id_pattern)
    command = f"`/register student_id:{example or 'YOUR_ID'} name:Your Name`"
    role = (
        " It also gives you the student role, which opens the course channels."
        if config.onboarding.grant_student_role
        else ""
    )
    return (
        f"👋 Welcome to **{course.code}: {course.name}** ({course.term})!\n"
        f"Please register on the course server: type {command} with your own student id and your "
        "name as on the class roster.\n"
        "It links your Discord account to your student id, so that your attendance, talk, reviews "
        f"and project group are counted in the course records.{role} Made a typo? Run `/register` again."
    )


def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The welcome DM: planned once per newcomer when they join, nothing to re-plan."""
    kinds.register(ReminderKind(WELCOME_KIND))


async def plan_welcome(services: Services, session: AsyncSession, *, discord_id: int, now: datetime) -> bool:
    """Plan the welcome DM for a member who joined (inside the caller's transaction): once per member
    ever (a re-join is not welcomed again; the outbox row is the record), never for one who is
    registered already. Returns whether it was planned."""
    student = await session.get(Student, discord_id)
    if student is not None and student.student_id is not None:
        return False
    planned = await enqueue(
        session,
        Planned(
            source_key=f"{WELCOME_KIND}:{discord_id}",
            kind=WELCOME_KIND,
            audience="dm",
            text=welcome_text(services.config),
            due_at=now,
            user_id=discord_id,
        ),
    )
    if planned:
        audit(session, at=now, actor_id=None, action="onboarding.welcome_planned", target_id=discord_id)
    return planned

"""The class roster (`student_id,name[,discord][,email]`): import, linking to members, and the check
`/register` makes against it. The optional email is the student's LMS login (the Moodle export's key)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import RosterEntry, Student
from bot.errors import Conflict, InvalidInput
from bot.services import Services
from bot.services.csv_in import read_csv

MAX_ROSTER_BYTES = 1_000_000
NAME_MAX = 100
EMAIL_MAX = 254  # RFC 5321's limit on a forward path
HEADER = "student_id,name[,discord][,email]"
OPTIONAL_COLUMNS = ("discord", "email")
# A plausible address: a local part that starts with a letter or digit (so no spreadsheet reads it as a
# formula), one @, and a domain of dot-separated labels ending in a name of two or more letters.
_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+'-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)


@dataclass(frozen=True)
class MemberRef:
    """A server member as the roster can match it: by id, username or display name."""

    discord_id: int
    username: str
    display_name: str = ""


@dataclass(frozen=True)
class RosterRow:
    line: int
    student_id: str
    name: str
    discord_ref: str
    email: str = ""


def plausible_email(text: str) -> bool:
    """Whether `text` looks like an email address a university issues. Raises nothing."""
    return len(text) <= EMAIL_MAX and ".." not in text and _EMAIL.fullmatch(text) is not None


@dataclass(frozen=True)
class RosterResult:
    imported: int
    linked: int
    unmatched: tuple[str, ...]  # "line N: 20251234 Name (discord ref)" rows no member matched
    not_on_roster: tuple[int, ...]  # members given who are on no row
    errors: tuple[str, ...]  # "line N: reason"; nothing was imported when non-empty


def parse_roster_csv(services: Services, data: bytes) -> tuple[list[RosterRow], list[str]]:
    """Validate every row; returns (rows, "line N: reason" errors)."""
    records, unreadable = read_csv(
        data, max_bytes=MAX_ROSTER_BYTES, not_utf8_hint="save it as CSV UTF-8", text_only=True
    )
    if unreadable:
        return [], unreadable
    header = [h.strip().lower() for h in records[0]] if records else []
    extra = header[2:]
    if (
        header[:2] != ["student_id", "name"]
        or len(set(extra)) != len(extra)
        or not set(extra) <= set(OPTIONAL_COLUMNS)
    ):
        return [], [f"line 1: the header must be {HEADER}"]
    position = {column: index for index, column in enumerate(header)}
    pattern = services.config.registration.student_id_pattern
    rows: list[RosterRow] = []
    errors: list[str] = []
    seen_ids: dict[str, int] = {}
    seen_refs: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    for line, values in enumerate(records[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            errors.append(f"line {line}: {len(values)} columns, expected {len(header)}")
            continue
        values = [v.strip() for v in values] + [""] * (len(header) - len(values))
        student_id, name = values[0], " ".join(values[1].split())
        ref = values[position["discord"]].lstrip("@") if "discord" in position else ""
        email = values[position["email"]] if "email" in position else ""
        if not re.fullmatch(pattern, student_id, flags=re.ASCII):
            errors.append(f"line {line}: `{student_id[:32]}` is not a valid student id")
        elif not 1 <= len(name) <= NAME_MAX:
            errors.append(f"line {line}: the name must be 1–{NAME_MAX} characters")
        elif student_id in seen_ids:
            errors.append(f"line {line}: student id {student_id} is already on line {seen_ids[student_id]}")
        elif ref and ref.casefold() in seen_refs:
            errors.append(
                f"line {line}: Discord account {ref} is already on line {seen_refs[ref.casefold()]}"
            )
        elif email and not plausible_email(email):
            errors.append(f"line {line}: `{email[:60]}` is not an email address")
        elif email and email.casefold() in seen_emails:
            errors.append(f"line {line}: email {email} is already on line {seen_emails[email.casefold()]}")
        else:
            seen_ids[student_id] = line
            if ref:
                seen_refs[ref.casefold()] = line
            if email:
                seen_emails[email.casefold()] = line
            rows.append(RosterRow(line, student_id, name, ref, email))
    if not rows and not errors:
        errors.append("line 2: no students in the file")
    return rows, errors


def _match(row: RosterRow, members: Sequence[MemberRef], registered: dict[str, int]) -> int | None:
    if row.discord_ref.isascii() and row.discord_ref.isdigit():
        wanted = int(row.discord_ref)
        return next(
            (m.discord_id for m in members if m.discord_id == wanted), wanted if not members else None
        )
    if row.discord_ref:
        ref = row.discord_ref.casefold()
        found = next((m for m in members if m.username.casefold() == ref), None)
        found = found or next(
            (m for m in members if m.display_name and m.display_name.casefold() == ref), None
        )
        if found:
            return found.discord_id
    return registered.get(row.student_id)


async def import_roster(
    services: Services, *, actor_id: int | None, data: bytes, members: Sequence[MemberRef]
) -> RosterResult:
    """Replace the roster with the file's rows and link each to a member (by Discord id, username,
    display name, or an existing registration), all or nothing."""
    rows, errors = parse_roster_csv(services, data)
    if errors:
        return RosterResult(0, 0, (), (), tuple(errors))
    now = services.now()
    async with services.db.write("students") as session:
        registered = {
            s.student_id: s.discord_id
            for s in (await session.scalars(select(Student).where(Student.student_id.is_not(None)))).all()
            if s.student_id
        }
        await session.execute(delete(RosterEntry))
        await session.flush()
        linked_ids: set[int] = set()
        unmatched: list[str] = []
        for row in rows:
            discord_id = _match(row, members, registered)
            holder = registered.get(row.student_id)
            if holder is not None and discord_id != holder:  # the student's own registration wins
                unmatched.append(
                    f"line {row.line}: {row.student_id} is registered by <@{holder}>, not the account in the file; linked to the registration"
                )
                discord_id = holder
            if discord_id is not None and discord_id in linked_ids:
                discord_id = None
            if discord_id is None:
                unmatched.append(
                    f"line {row.line}: {row.student_id} {row.name}"
                    + (f" ({row.discord_ref})" if row.discord_ref else "")
                )
            else:
                linked_ids.add(discord_id)
            session.add(
                RosterEntry(
                    student_id=row.student_id,
                    name=row.name,
                    discord_ref=row.discord_ref or None,
                    discord_id=discord_id,
                    email=row.email or None,
                    imported_at=now,
                )
            )
        not_on_roster = tuple(m.discord_id for m in members if m.discord_id not in linked_ids)
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="roster.import",
            rows=len(rows),
            linked=len(linked_ids),
            unmatched=len(unmatched),
        )
    return RosterResult(len(rows), len(linked_ids), tuple(unmatched), not_on_roster, ())


async def check_registration(session: AsyncSession, *, student_id: str, discord_id: int) -> None:
    """With a roster loaded, a registration must match it; links the row on success.
    Raises InvalidInput (not on the roster) or Conflict (the row belongs to another account)."""
    if not await session.scalar(select(func.count()).select_from(RosterEntry)):
        return
    entry = await session.get(RosterEntry, student_id, with_for_update=True)
    if entry is None:
        raise InvalidInput(
            f"Student id `{student_id}` is not on the class roster; check it, or ask the staff."
        )
    if entry.discord_id is not None and entry.discord_id != discord_id:
        raise Conflict(
            f"Student id `{student_id}` is linked to another Discord account on the roster; ask the staff."
        )
    if entry.discord_id is None:
        others = await session.scalars(select(RosterEntry).where(RosterEntry.discord_id == discord_id))
        for other in others.all():  # a corrected registration moves the link
            other.discord_id = None
        await session.flush()
        entry.discord_id = discord_id


async def roster(services: Services) -> list[RosterEntry]:
    async with services.db.read() as session:
        return list((await session.scalars(select(RosterEntry).order_by(RosterEntry.student_id))).all())


async def known_members(services: Services) -> list[MemberRef]:
    """Members the bot has seen (for imports from the command line, where Discord is not at hand)."""
    async with services.db.read() as session:
        return [
            MemberRef(s.discord_id, s.discord_name or "")
            for s in (await session.scalars(select(Student))).all()
        ]

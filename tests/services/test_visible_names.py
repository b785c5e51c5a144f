"""Names that show as nothing: registered names, group names and project titles made only of blank
fillers (U+3164 and kin), zero-width characters, whitespace or combining marks are refused with a
reason and change nothing; names with something visible (Korean, accents) still pass."""

from __future__ import annotations

import unicodedata

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditEntry, Group, Student
from bot.errors import InvalidInput
from bot.services import Services, groups
from bot.services.students import get_student, register
from bot.services.text import FILLERS, is_visible, require_visible
from tests.conftest import seoul

ALICE, BOB = 5001, 5002
REASON = (
    "needs at least one visible letter, digit or symbol; blank or invisible characters alone show as nothing."
)
INVISIBLE = [
    "\u3164",  # HANGUL FILLER (a letter to Unicode)
    "\u3164\u3164 \u3164",
    "\u2800",  # BRAILLE PATTERN BLANK (a symbol)
    "\u115f\u1160",  # Hangul choseong / jungseong fillers
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u200b",
    "\u200c\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u0301\u0308",  # combining marks with nothing to combine with
    "\u3164 \u0301 \u200b",
    "\u3000\u2800",  # an ideographic space and a blank
]
VISIBLE = ["김민준", "e\u0301", "\u3164A", "Ø", "7", "ㅋㅋ", "Δ-team"]


@pytest.mark.parametrize("char", sorted(FILLERS))
def test_no_filler_counts_as_visible(char: str) -> None:
    assert not is_visible(char)


@pytest.mark.parametrize("char", [" ", "\u00a0", "\u2028", "\u0007", "\ue000", "\u0301", "\ufe0f"])
def test_separators_controls_private_use_and_marks_are_not_visible(char: str) -> None:
    assert unicodedata.category(char)[0] in "ZCM" and not is_visible(char)


@pytest.mark.parametrize("text", INVISIBLE)
def test_require_visible_refuses_with_the_reason(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        require_visible(text, "A name")
    assert refused.value.message == f"A name {REASON}"


@pytest.mark.parametrize("text", VISIBLE)
def test_something_visible_passes(text: str) -> None:
    require_visible(text, "A name")


async def audit_count(services: Services) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


async def register_as(services: Services, who: int, name: str) -> None:
    await register(
        services,
        discord_id=who,
        discord_name=f"user{who}",
        joined_at=seoul(2025, 3, 1, 9, 0),
        student_id=f"2025{who:04d}",
        name=name,
    )


@pytest.mark.parametrize("name", INVISIBLE)
async def test_register_refuses_an_invisible_name_and_changes_nothing(services: Services, name: str) -> None:
    await register_as(services, ALICE, "Alice Kim")
    before = await audit_count(services)
    for who in (ALICE, BOB):  # a correction and a first registration
        with pytest.raises(InvalidInput) as refused:
            await register_as(services, who, name)
        assert refused.value.message == f"A name {REASON}"
    alice = await get_student(services, ALICE)
    assert alice is not None and alice.name == "Alice Kim"
    async with services.db.read() as session:
        assert await session.get(Student, BOB) is None
    assert await audit_count(services) == before


@pytest.mark.parametrize("name", VISIBLE)
async def test_register_keeps_names_with_something_visible(services: Services, name: str) -> None:
    await register_as(services, ALICE, name)
    alice = await get_student(services, ALICE)
    assert alice is not None and alice.name == name


@pytest.mark.parametrize("name", INVISIBLE)
async def test_a_group_name_with_nothing_visible_is_refused(services: Services, name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await groups.create(services, discord_id=ALICE, discord_name="alice", name=name)
    assert refused.value.message == f"A group name {REASON}"
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Group)) == 0
    assert await audit_count(services) == 0


@pytest.mark.parametrize("name", VISIBLE)
async def test_a_group_name_with_something_visible_is_kept(services: Services, name: str) -> None:
    created = await groups.create(services, discord_id=ALICE, discord_name="alice", name=name)
    assert created.name == name


@pytest.mark.parametrize("title", INVISIBLE)
async def test_a_project_title_with_nothing_visible_is_refused(services: Services, title: str) -> None:
    await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    await groups.set_title(services, discord_id=ALICE, text="Pruning LLMs")
    before = await audit_count(services)
    with pytest.raises(InvalidInput) as refused:
        await groups.set_title(services, discord_id=ALICE, text=title)
    assert refused.value.message == f"A project title {REASON}"
    group = await groups.group_of(services, ALICE)
    assert group is not None and group.title == "Pruning LLMs"
    assert await audit_count(services) == before

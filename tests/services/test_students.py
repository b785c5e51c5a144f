"""`/register` as a service: validation, corrections, the audit log, and the student-id races."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from bot.db.models import AuditEntry, Student
from bot.errors import Conflict, InvalidInput
from bot.services import Services
from bot.services.students import Registration, get_student, register
from tests.conftest import audit_rows, seoul

ALICE, BOB = 1001, 1002


async def sign_up(services: Services, discord_id: int, student_id: str, name: str) -> Registration:
    return await register(
        services,
        discord_id=discord_id,
        discord_name=f"user{discord_id}",
        joined_at=seoul(2025, 3, 1, 9, 0),
        student_id=student_id,
        name=name,
    )


async def students(services: Services) -> list[tuple[int, str | None, str | None]]:
    async with services.db.read() as session:
        rows = await session.scalars(select(Student).order_by(Student.discord_id))
        return [(s.discord_id, s.student_id, s.name) for s in rows]


async def test_register_creates_the_student_and_audits_it(services: Services) -> None:
    result = await sign_up(services, ALICE, " 20251234 ", "  Alice   Kim ")
    assert (result.student_id, result.name, result.is_correction) == ("20251234", "Alice Kim", False)
    student = await get_student(services, ALICE)
    assert student is not None
    assert (student.student_id, student.name, student.discord_name) == ("20251234", "Alice Kim", "user1001")
    assert student.registered_at == services.now()
    assert student.joined_at == seoul(2025, 3, 1, 9, 0)
    [entry] = await audit_rows(services)
    assert (entry.action, entry.actor_id, entry.target_id) == ("student.register", ALICE, ALICE)
    assert entry.at == services.now()
    assert json.loads(entry.details)["student_id"] == "20251234"


async def test_rerunning_register_corrects_it(services: Services) -> None:
    await sign_up(services, ALICE, "20251234", "Alice Kim")
    result = await sign_up(services, ALICE, "20251235", "Alice J. Kim")
    assert result.is_correction
    assert (result.previous_student_id, result.previous_name) == ("20251234", "Alice Kim")
    assert await students(services) == [(ALICE, "20251235", "Alice J. Kim")]
    entries = await audit_rows(services)
    assert len(entries) == 2
    assert json.loads(entries[1].details)["previous_student_id"] == "20251234"
    # the old id is free again
    await sign_up(services, BOB, "20251234", "Bob Lee")


async def test_a_name_of_100_characters_is_accepted(services: Services) -> None:
    assert (await sign_up(services, ALICE, "20251234", "A" * 100)).name == "A" * 100


@pytest.mark.parametrize(
    ("student_id", "name"),
    [
        ("abc", "Alice Kim"),
        ("2025123", "Alice Kim"),  # 7 digits
        ("202512345", "Alice Kim"),  # 9 digits
        ("", "Alice Kim"),
        ("２０２５１２３４", "Alice Kim"),  # full-width digits look like an id but are not one
        ("٢٠٢٥١٢٣٤", "Alice Kim"),  # Arabic-Indic digits
        ("20251234", "<@1002>"),
        ("20251234", "hi @everyone"),
        ("20251234", "alice@postech.ac.kr"),
        ("20251234", "**Alice**"),
        ("20251234", ""),
        ("20251234", "   "),
        ("20251234", "A" * 101),
        ("20251234", "Alice\x00Kim"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    services: Services, student_id: str, name: str
) -> None:
    await sign_up(services, ALICE, "20250001", "Alice Kim")
    with pytest.raises(InvalidInput):
        await sign_up(services, ALICE, student_id, name)
    with pytest.raises(InvalidInput):
        await sign_up(services, BOB, student_id, name)
    assert await students(services) == [(ALICE, "20250001", "Alice Kim")]
    assert len(await audit_rows(services)) == 1


async def test_an_id_held_by_another_account_is_a_conflict(services: Services) -> None:
    await sign_up(services, ALICE, "20251234", "Alice Kim")
    with pytest.raises(Conflict, match="20251234"):
        await sign_up(services, BOB, "20251234", "Bob Lee")
    assert await students(services) == [(ALICE, "20251234", "Alice Kim")]
    assert len(await audit_rows(services)) == 1


async def test_racing_registrations_of_one_id_have_one_winner(services: Services) -> None:
    accounts = range(2000, 2030)
    results = await asyncio.gather(
        *(sign_up(services, account, "20259999", f"Student {account}") for account in accounts),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Registration)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Registration)), results
    async with services.db.read() as session:
        holders = (await session.scalars(select(Student).where(Student.student_id == "20259999"))).all()
    assert [h.discord_id for h in holders] == [winners[0].discord_id]
    assert len(await audit_rows(services)) == 1


async def test_fifty_concurrent_registrations_are_all_stored(services: Services) -> None:
    await asyncio.gather(*(sign_up(services, 3000 + n, f"2025{n:04d}", f"Student {n}") for n in range(50)))
    stored = await students(services)
    assert len(stored) == 50
    assert {student_id for _, student_id, _ in stored} == {f"2025{n:04d}" for n in range(50)}
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 50


async def test_one_account_racing_itself_ends_with_its_last_registration(services: Services) -> None:
    results = await asyncio.gather(
        *(sign_up(services, ALICE, f"2025000{n}", "Alice Kim") for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, Registration) for r in results), results
    [(discord_id, student_id, _)] = await students(services)
    assert discord_id == ALICE and student_id in {r.student_id for r in results}
    assert len(await audit_rows(services)) == 5


async def test_the_student_role_is_remembered_for_exports_without_discord(services: Services) -> None:
    from bot.services.gradebook import gradebook_rows
    from bot.services.students import set_student_role, sync_student_role

    joined = services.now()
    assert await sync_student_role(services, [(1, "ann", joined), (2, "ben", joined)]) == 2
    assert await sync_student_role(services, [(1, "ann", joined), (2, "ben", joined)]) == 0
    await set_student_role(services, discord_id=2, name="ben", joined_at=None, has_role=False)
    rows = await gradebook_rows(services)  # the command line's view: no Discord members given
    assert [(r["discord_id"], r["discord_name"]) for r in rows] == [("1", "ann")]

"""Project groups as a service: names, codes, join/leave/invite/title, locking, staff moves,
autofill against the database, and the races. Runs on SQLite, and on PostgreSQL too when
COURSEBOT_TEST_POSTGRES is set (the `services` fixture)."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import Clock
from bot.db.models import AuditEntry, Group, GroupInvite, GroupMember
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound, UserFacingError
from bot.services import Services, groups
from tests.conftest import seoul

ALICE, BOB, CAROL, DAVE, ERIN = 1001, 1002, 1003, 1004, 1005
TA = 9001
LOCKED_MESSAGE = "Groups are locked"
PROPOSAL_DUE = seoul(2025, 4, 18, 23, 59)


# ---- helpers ------------------------------------------------------------------------------------
async def create(services: Services, who: int, name: str) -> groups.GroupInfo:
    return await groups.create(services, discord_id=who, discord_name=f"user{who}", name=name)


async def join(services: Services, who: int, code: str) -> groups.GroupInfo:
    return await groups.join(services, discord_id=who, discord_name=f"user{who}", code=code)


async def invite(services: Services, inviter: int, invitee: int) -> groups.InviteInfo:
    return await groups.invite(services, inviter_id=inviter, invitee_id=invitee)


async def answer(services: Services, invite_id: int, who: int, *, accept: bool) -> groups.InviteInfo:
    return await groups.answer_invite(
        services, invite_id=invite_id, discord_id=who, discord_name=f"user{who}", accept=accept
    )


async def move(services: Services, who: int, group_name: str | None) -> groups.Move:
    return await groups.move(
        services, actor_id=TA, discord_id=who, discord_name=f"user{who}", group_name=group_name
    )


async def state(services: Services) -> dict[str, object]:
    """Everything a group change could touch: groups, members, invitations and the audit length."""
    async with services.db.read() as session:
        group_rows = (await session.scalars(select(Group).order_by(Group.id))).all()
        member_rows = (await session.execute(select(GroupMember.group_id, GroupMember.discord_id))).all()
        invite_rows = (
            await session.execute(select(GroupInvite.id, GroupInvite.status).order_by(GroupInvite.id))
        ).all()
        audit_count = await session.scalar(select(func.count()).select_from(AuditEntry))
    return {
        "groups": [(g.id, g.name, g.invite_code, g.title, g.locked) for g in group_rows],
        "members": sorted(member_rows),
        "invites": list(invite_rows),
        "audit": audit_count,
    }


async def audit_actions(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list((await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


async def assert_invariants(services: Services) -> dict[int, tuple[int, ...]]:
    """No group above the maximum, nobody in two groups, no empty group; returns the members."""
    infos = await groups.all_groups(services)
    members = {g.id: g.members for g in infos}
    everyone = [m for ms in members.values() for m in ms]
    assert len(everyone) == len(set(everyone)), "a student is in two groups"
    for info in infos:
        assert 1 <= len(info.members) <= info.max_size, f"{info.name} has {len(info.members)} members"
    return members


async def refused(
    services: Services, error: type[UserFacingError], action, *, contains: str | None = None
) -> str:
    """Run `action`, expect `error`, and check that nothing changed (state and audit rows)."""
    before = await state(services)
    with pytest.raises(error) as raised:
        await action
    if contains is not None:
        assert contains in raised.value.message
    assert "\n" not in raised.value.message
    assert await state(services) == before
    return raised.value.message


# ---- names and codes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Sparse Squad", "Sparse Squad"),
        ("  Sparse \t  Squad ", "Sparse Squad"),
        ("x", "x"),
        ("팀 하나", "팀 하나"),
    ],
)
def test_group_names_are_trimmed(raw: str, clean: str) -> None:
    assert groups.clean_group_name(raw) == clean


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "x" * 41,
        "@everyone",
        "<@123> hack",
        "#general",
        "**bold**",
        "__under__",
        "~~strike~~",
        "`code`",
        "a|b",
        "back\\slash",
        "http://evil.example",
        "see HTTPS://x.y",
        "emoji:smile:",
        "tab\x00nul",
    ],
)
def test_bad_group_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        groups.clean_group_name(name)


def test_forty_characters_is_the_longest_name() -> None:
    assert groups.clean_group_name("x" * 40) == "x" * 40


def test_invite_codes_use_the_unambiguous_alphabet() -> None:
    assert not set("0O1IL") & set(groups.CODE_ALPHABET)
    for _ in range(300):
        code = groups.new_code()
        assert re.fullmatch(f"[{groups.CODE_ALPHABET}]{{6}}", code)


async def test_create_starts_a_group_with_its_creator(services: Services) -> None:
    info = await create(services, ALICE, "  Sparse   Squad ")
    assert (info.name, info.members, info.title, info.locked) == ("Sparse Squad", (ALICE,), "", False)
    assert re.fullmatch(f"[{groups.CODE_ALPHABET}]{{6}}", info.invite_code)
    assert await groups.group_of(services, ALICE) == info
    assert await groups.find_group(services, "SPARSE squad") == info
    assert await audit_actions(services) == ["group.create"]


async def test_names_are_unique_ignoring_case_and_spacing(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    for taken in ("sparse squad", "SPARSE  SQUAD", " Sparse Squad "):
        await refused(services, Conflict, create(services, BOB, taken), contains="taken")


async def test_a_bad_name_changes_nothing(services: Services) -> None:
    await refused(services, InvalidInput, create(services, ALICE, "<@123> hack"))
    await refused(services, InvalidInput, create(services, ALICE, "x" * 41), contains="1–40")
    assert await groups.group_of(services, ALICE) is None


async def test_codes_are_accepted_case_insensitively_with_spaces_trimmed(services: Services) -> None:
    info = await create(services, ALICE, "Sparse Squad")
    joined = await join(services, BOB, f"  {info.invite_code.lower()} ")
    assert joined.members == (ALICE, BOB)


@pytest.mark.parametrize("code", ["ABC", "ABCDEFG", "O0I1L2", "AB CDE", "ABCD-E"])
async def test_malformed_codes_are_refused(services: Services, code: str) -> None:
    await create(services, ALICE, "Sparse Squad")
    await refused(services, InvalidInput, join(services, BOB, code), contains="not an invite code")


# ---- joining, leaving, titles -----------------------------------------------------------------
async def test_join_fills_a_group_up_to_its_maximum(services: Services) -> None:
    info = await create(services, ALICE, "Sparse Squad")
    await join(services, BOB, info.invite_code)
    full = await join(services, CAROL, info.invite_code)
    assert full.members == (ALICE, BOB, CAROL) and full.is_full
    await refused(services, Conflict, join(services, DAVE, info.invite_code), contains="full")


async def test_join_unknown_code_changes_nothing(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    await refused(services, NotFound, join(services, BOB, "ZZZZZZ"), contains="`ZZZZZZ`")


async def test_join_while_in_a_group_changes_nothing(services: Services) -> None:
    first = await create(services, ALICE, "Sparse Squad")
    second = await create(services, BOB, "Quant Crew")
    await refused(services, Conflict, join(services, BOB, first.invite_code), contains="already in a group")
    await refused(services, Conflict, join(services, BOB, second.invite_code), contains="already in group")


async def test_create_while_in_a_group_changes_nothing(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    await refused(services, Conflict, create(services, ALICE, "Second"), contains="already in group")


async def test_leave_keeps_the_group_until_it_is_empty(services: Services) -> None:
    info = await create(services, ALICE, "Sparse Squad")
    await join(services, BOB, info.invite_code)
    await invite(services, BOB, CAROL)
    departure = await groups.leave(services, discord_id=ALICE)
    assert not departure.dissolved and departure.group.members == (ALICE, BOB)
    assert (await groups.group_of(services, BOB)).members == (BOB,)
    departure = await groups.leave(services, discord_id=BOB)
    assert departure.dissolved
    assert await groups.all_groups(services) == []
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(GroupInvite)) == 0
    assert (await audit_actions(services))[-2:] == ["group.leave", "group.dissolve"]
    # the name and the code are free again
    again = await create(services, CAROL, "sparse squad")
    assert again.name == "sparse squad"


async def test_leave_when_in_no_group_changes_nothing(services: Services) -> None:
    await refused(services, Conflict, groups.leave(services, discord_id=ALICE), contains="not in a group")


async def test_title(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    info = await groups.set_title(services, discord_id=ALICE, text="  Pruning LLMs   on a budget ")
    assert info.title == "Pruning LLMs on a budget"
    await refused(
        services, InvalidInput, groups.set_title(services, discord_id=ALICE, text="x" * 201), contains="1–200"
    )
    await refused(services, InvalidInput, groups.set_title(services, discord_id=ALICE, text="hi @everyone"))
    await refused(services, Conflict, groups.set_title(services, discord_id=BOB, text="Mine"))
    assert (await groups.group_of(services, ALICE)).title == "Pruning LLMs on a budget"


# ---- invitations ----------------------------------------------------------------------------------
async def test_invite_accept_joins_and_decline_does_not(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    offer = await invite(services, ALICE, BOB)
    assert offer.expires_at == services.now() + timedelta(hours=48)
    declined = await invite(services, ALICE, CAROL)
    accepted = await answer(services, offer.id, BOB, accept=True)
    assert accepted.status == "accepted" and accepted.group.members == (ALICE, BOB)
    assert (await answer(services, declined.id, CAROL, accept=False)).status == "declined"
    assert await groups.group_of(services, CAROL) is None
    await refused(
        services, Conflict, answer(services, offer.id, BOB, accept=True), contains="already accepted"
    )
    assert (await audit_actions(services))[-2:] == ["group.invite_accept", "group.invite_decline"]


async def test_an_invitation_expires_after_48_hours(services: Services, clock: Clock) -> None:
    await create(services, ALICE, "Sparse Squad")
    offer = await invite(services, ALICE, BOB)
    clock.advance(timedelta(hours=47, minutes=59))
    second = await invite(services, ALICE, CAROL)
    clock.advance(timedelta(minutes=1))
    result = await answer(services, offer.id, BOB, accept=True)
    assert result.status == "expired"
    assert await groups.group_of(services, BOB) is None
    assert (await answer(services, second.id, CAROL, accept=True)).status == "accepted"
    # an expired invitation stays expired; a new one can be sent
    await refused(services, Conflict, answer(services, offer.id, BOB, accept=True), contains="expired")
    await invite(services, ALICE, BOB)


async def test_an_invitation_is_only_for_its_invitee(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    offer = await invite(services, ALICE, BOB)
    await refused(services, NotFound, answer(services, offer.id, CAROL, accept=True))
    await refused(services, NotFound, answer(services, 999, BOB, accept=True))


async def test_accepting_rechecks_the_rules(services: Services) -> None:
    info = await create(services, ALICE, "Sparse Squad")
    offer = await invite(services, ALICE, BOB)
    to_dave = await invite(services, ALICE, DAVE)
    await join(services, CAROL, info.invite_code)
    await join(services, ERIN, info.invite_code)
    await refused(services, Conflict, answer(services, offer.id, BOB, accept=True), contains="full")
    await create(services, DAVE, "Quant Crew")
    await groups.leave(services, discord_id=ERIN)
    await refused(services, Conflict, answer(services, to_dave.id, DAVE, accept=True), contains="already")


@pytest.mark.parametrize(
    ("setup", "inviter", "invitee", "error", "contains"),
    [
        ("alice", ALICE, ALICE, Conflict, "yourself"),
        ("alice", BOB, CAROL, Conflict, "not in a group"),
        ("alice+bob", ALICE, BOB, Conflict, "already in a group"),
        ("alice+bob", ALICE, CAROL, Conflict, "already in a group"),
        ("pending", ALICE, CAROL, Conflict, "pending"),
        ("full", ALICE, DAVE, Conflict, "full"),
    ],
)
async def test_bad_invitations_change_nothing(
    services: Services, setup: str, inviter: int, invitee: int, error: type, contains: str
) -> None:
    info = await create(services, ALICE, "Sparse Squad")
    if setup == "alice+bob":
        await join(services, BOB, info.invite_code)
        await create(services, CAROL, "Quant Crew")
    elif setup == "pending":
        await invite(services, ALICE, CAROL)
    elif setup == "full":
        await join(services, BOB, info.invite_code)
        await join(services, CAROL, info.invite_code)
    await refused(services, error, invite(services, inviter, invitee), contains=contains)


async def test_bots_cannot_be_invited(services: Services) -> None:
    await create(services, ALICE, "Sparse Squad")
    await refused(
        services, Conflict, groups.invite(services, inviter_id=ALICE, invitee_id=BOB, invitee_is_bot=True)
    )


# ---- locking -------------------------------------------------------------------------------------
async def test_groups_lock_at_the_proposal_deadline(services: Services, clock: Clock) -> None:
    sparse = await create(services, ALICE, "Sparse Squad")
    await join(services, BOB, sparse.invite_code)
    clock.set(PROPOSAL_DUE - timedelta(minutes=1))
    offer = await invite(services, ALICE, CAROL)
    assert not (await groups.group_of(services, ALICE)).locked
    clock.set(PROPOSAL_DUE)
    assert (await groups.group_of(services, ALICE)).locked
    for action in (
        create(services, CAROL, "Late Team"),
        join(services, CAROL, sparse.invite_code),
        groups.leave(services, discord_id=BOB),
        invite(services, ALICE, DAVE),
        groups.set_title(services, discord_id=ALICE, text="Too late"),
        answer(services, offer.id, CAROL, accept=True),
    ):
        await refused(services, NotAllowed, action, contains=LOCKED_MESSAGE)


async def test_staff_unlock_reopens_and_lock_overrides_the_deadline(services: Services, clock: Clock) -> None:
    await create(services, ALICE, "Sparse Squad")
    clock.set(PROPOSAL_DUE + timedelta(days=1))
    lock = await groups.set_lock(services, actor_id=TA, locked=False)
    assert (lock.all_locked, lock.override, lock.lock_at) == (False, "unlocked", PROPOSAL_DUE)
    await groups.set_title(services, discord_id=ALICE, text="Open again")
    await create(services, BOB, "Quant Crew")
    # and the other way round: locked by the staff before the deadline
    clock.set(seoul(2025, 3, 20, 12, 0))
    assert (await groups.set_lock(services, actor_id=TA, locked=True)).all_locked
    await refused(services, NotAllowed, create(services, CAROL, "Third"), contains=LOCKED_MESSAGE)
    staff = [a for a in await audit_actions(services) if a.startswith("groups.")]
    assert staff == ["groups.unlock", "groups.lock"]


async def test_locking_one_group_leaves_the_others_open(services: Services) -> None:
    sparse = await create(services, ALICE, "Sparse Squad")
    quant = await create(services, BOB, "Quant Crew")
    await groups.set_lock(services, actor_id=TA, locked=True, group_name="sparse SQUAD")
    assert (await groups.find_group(services, "Sparse Squad")).locked
    assert not (await groups.find_group(services, "Quant Crew")).locked
    await refused(services, NotAllowed, join(services, CAROL, sparse.invite_code), contains=LOCKED_MESSAGE)
    await refused(services, NotAllowed, groups.leave(services, discord_id=ALICE), contains=LOCKED_MESSAGE)
    await join(services, CAROL, quant.invite_code)
    await groups.set_lock(services, actor_id=TA, locked=False, group_name="Sparse Squad")
    await join(services, DAVE, sparse.invite_code)
    with pytest.raises(NotFound):
        await groups.set_lock(services, actor_id=TA, locked=True, group_name="Nope")


async def test_staff_move_works_on_locked_groups(services: Services, clock: Clock) -> None:
    sparse = await create(services, ALICE, "Sparse Squad")
    await join(services, BOB, sparse.invite_code)
    await create(services, CAROL, "Quant Crew")
    clock.set(PROPOSAL_DUE + timedelta(hours=1))
    moved = await move(services, CAROL, "sparse squad")
    assert moved.left.name == "Quant Crew" and moved.left_dissolved
    assert moved.joined.members == (ALICE, BOB, CAROL)
    assert [g.name for g in await groups.all_groups(services)] == ["Sparse Squad"]
    await refused(services, Conflict, move(services, DAVE, "Sparse Squad"), contains="full")
    await refused(services, Conflict, move(services, ALICE, "Sparse Squad"), contains="already in")
    await refused(services, Conflict, move(services, DAVE, None), contains="not in a group")
    await refused(services, NotFound, move(services, DAVE, "Nope"))
    out = await move(services, ALICE, None)
    assert out.joined is None and not out.left_dissolved
    assert (await groups.find_group(services, "Sparse Squad")).members == (BOB, CAROL)
    assert (await audit_actions(services)).count("group.move") == 2


# ---- autofill against the database ------------------------------------------------------------
async def test_autofill_plans_then_applies(services: Services) -> None:
    sparse = await create(services, ALICE, "Sparse Squad")
    await create(services, BOB, "Team 1")
    await join(services, CAROL, sparse.invite_code)
    students = [ALICE, BOB, CAROL, *range(2001, 2007)]
    before = await state(services)
    plan = await groups.plan_autofill(services, student_ids=students)
    assert await state(services) == before
    # the smallest open group is topped up first; the new team skips the taken name "Team 1"
    assert [(g.group_id is None, g.name, g.existing, g.added) for g in plan.groups] == [
        (False, "Sparse Squad", (ALICE, CAROL), (2002,)),
        (False, "Team 1", (BOB,), (2001, 2003)),
        (True, "Team 2", (), (2004, 2005, 2006)),
    ]
    assert plan.placed == 6
    applied = await groups.apply_autofill(services, actor_id=TA, student_ids=students, digest=plan.digest)
    assert applied == plan
    members = await assert_invariants(services)
    assert sorted(m for ms in members.values() for m in ms) == sorted(students)
    assert (await groups.find_group(services, "Sparse Squad")).members[:2] == (ALICE, CAROL)
    assert (await audit_actions(services))[-1] == "group.autofill"
    again = await groups.plan_autofill(services, student_ids=students)
    assert again.groups == () and again.placed == 0


async def test_autofill_seven_students_make_three_two_two(services: Services) -> None:
    students = list(range(2001, 2008))
    plan = await groups.plan_autofill(services, student_ids=students)
    assert [(g.name, len(g.added)) for g in plan.groups] == [("Team 1", 3), ("Team 2", 2), ("Team 3", 2)]
    await groups.apply_autofill(services, actor_id=TA, student_ids=students, digest=plan.digest)
    assert sorted(len(g.members) for g in await groups.all_groups(services)) == [2, 2, 3]


async def test_autofill_with_a_stale_digest_changes_nothing(services: Services) -> None:
    sparse = await create(services, ALICE, "Sparse Squad")
    students = [ALICE, BOB, CAROL, DAVE, ERIN]
    plan = await groups.plan_autofill(services, student_ids=students)
    await join(services, BOB, sparse.invite_code)  # a student joins after the plan was shown
    await refused(
        services,
        Conflict,
        groups.apply_autofill(services, actor_id=TA, student_ids=students, digest=plan.digest),
        contains="changed",
    )
    # a new student with the role changes the plan too
    fresh = await groups.plan_autofill(services, student_ids=students)
    await refused(
        services,
        Conflict,
        groups.apply_autofill(services, actor_id=TA, student_ids=[*students, 3001], digest=fresh.digest),
    )
    await groups.apply_autofill(services, actor_id=TA, student_ids=students, digest=fresh.digest)
    await assert_invariants(services)


# ---- races ---------------------------------------------------------------------------------------
async def outcomes(*calls) -> list[object]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, UserFacingError):
            raise result  # a bug (IntegrityError, deadlock, ...) rather than a refusal
    return results


async def test_thirty_concurrent_joins_fill_the_group_exactly(services: Services) -> None:
    info = await create(services, ALICE, "Sparse Squad")
    joiners = list(range(2001, 2031))
    results = await outcomes(*(join(services, who, info.invite_code) for who in joiners))
    succeeded = [r for r in results if isinstance(r, groups.GroupInfo)]
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(succeeded) == 2 and len(refusals) == 28
    assert all(isinstance(r, Conflict) and "full" in r.message for r in refusals)
    final = await groups.find_group(services, "Sparse Squad")
    assert len(final.members) == 3 and final.members[0] == ALICE
    assert (await audit_actions(services)).count("group.join") == 2


async def test_joins_racing_with_leaves_keep_every_rule(services: Services) -> None:
    a = await create(services, ALICE, "Alpha")
    b = await create(services, BOB, "Beta")
    await join(services, CAROL, a.invite_code)
    await join(services, DAVE, b.invite_code)
    leavers = [ALICE, BOB, CAROL, DAVE]
    joiners = list(range(2001, 2009))  # each of them tries both groups at once
    calls = [("leave", who, None) for who in leavers]
    calls += [("join", who, code) for who in joiners for code in (a.invite_code, b.invite_code)]
    random.Random(695).shuffle(calls)
    assert len(calls) == 20

    def call(kind: str, who: int, code: str | None):
        if kind == "leave":
            return groups.leave(services, discord_id=who)
        return join(services, who, code)

    results = await outcomes(*(call(*c) for c in calls))
    members = await assert_invariants(services)
    joined = [
        c[1] for c, r in zip(calls, results, strict=True) if c[0] == "join" and not isinstance(r, Exception)
    ]
    left = [
        c[1] for c, r in zip(calls, results, strict=True) if c[0] == "leave" and not isinstance(r, Exception)
    ]
    assert sorted(left) == leavers  # leaving never conflicts with joins of others
    assert sorted(m for ms in members.values() for m in ms) == sorted(joined)
    for (kind, _, _), result in zip(calls, results, strict=True):
        if isinstance(result, Exception):
            assert kind == "join" and isinstance(result, Conflict | NotFound), result
    actions = await audit_actions(services)
    assert actions.count("group.join") == 2 + len(joined) and actions.count("group.leave") == 4
    live = {g.name for g in await groups.all_groups(services)}
    assert actions.count("group.dissolve") == 2 - len(live)


async def test_twenty_concurrent_creates_differing_by_case_make_one_group(services: Services) -> None:
    base = "sparse squad"
    rng = random.Random(7)
    names = ["".join(ch.upper() if rng.random() < 0.5 else ch for ch in base) for _ in range(20)]
    creators = list(range(2001, 2021))
    results = await outcomes(
        *(create(services, who, name) for who, name in zip(creators, names, strict=True))
    )
    made = [r for r in results if isinstance(r, groups.GroupInfo)]
    assert len(made) == 1
    assert all(isinstance(r, Conflict) and "taken" in r.message for r in results if r not in made)
    [only] = await groups.all_groups(services)
    assert only.members == made[0].members and len(only.members) == 1
    assert (await audit_actions(services)).count("group.create") == 1

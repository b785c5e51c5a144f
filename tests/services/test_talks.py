"""The talk schedule (bot/services/talks.py): each paper's week, order and start, computed in one
place; papers, the gradebook and the reminders read it."""

from __future__ import annotations

from datetime import timedelta

from bot.calendar import CourseCalendar
from bot.services import Services, papers, talks
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
TA = 9000


def test_a_weeks_talks_go_in_number_order_back_to_back(calendar: CourseCalendar) -> None:
    slots = talks.schedule([(12, 9), (3, 10), (7, 9), (5, 9)], calendar)
    assert [(n, s.week, s.order) for n, s in sorted(slots.items())] == [
        (3, 10, 0),
        (5, 9, 0),
        (7, 9, 1),
        (12, 9, 2),
    ]
    slot = calendar.config.papers.talk_minutes + calendar.config.papers.qa_minutes
    assert slots[5].starts_at == seoul(2025, 4, 30, 11, 0) == calendar.talk_starts_at(9)
    assert slots[12].starts_at - slots[5].starts_at == timedelta(minutes=2 * slot)
    assert talks.schedule([], calendar) == {}


async def test_the_board_and_the_slots_agree_and_follow_a_move(services: Services) -> None:
    await papers.import_papers(services, actor_id=TA, data=SAMPLE)
    async with services.db.read() as session:
        slots = await talks.talk_slots(session, services.calendar)
    board = await papers.board(services)
    assert {i.number: (i.week, i.talk_order, i.talk_at) for i in board} == {
        n: (s.week, s.order, s.starts_at) for n, s in slots.items()
    }
    first = next(i for i in board if i.talk_order == 0)
    rest = [i.number for i in board if i.week == first.week and i.number != first.number]
    assert rest
    await papers.remove_paper(services, actor_id=TA, number=first.number)
    async with services.db.read() as session:
        after = await talks.talk_slots(session, services.calendar, weeks={first.week})
    assert sorted(after) == sorted(rest)  # only that week's papers, the removed one gone
    assert [after[n].order for n in sorted(rest)] == list(range(len(rest)))
    assert after[min(rest)].starts_at == first.talk_at  # the next talk moved up into the first slot

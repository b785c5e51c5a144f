"""Every feature's reminder kinds, registered at start-up, and the start-up planning they drive.

The one place that lists the features that put rows in the outbox. Adding a kind: plan its rows in
its service (a `Planned` with the kind's name, in the transaction of the change), register it in
that service's `register_kinds` (with a `plan` function when its rows follow data that can change,
with a `recipients` filter when a `dm_all` row of it goes to fewer students than the category's
subscribers), and call that `register_kinds` here.
"""

from __future__ import annotations

from bot.notify.kinds import ReminderKinds
from bot.services import Services, appointments, attendance, groups, onboarding, papers, reminders, talks
from bot.services.talk_day import threads as talk_threads


def course_kinds(services: Services) -> ReminderKinds:
    """The registry of every kind; plans run in this order (deadlines, office hours, talks, reviews)."""
    kinds = ReminderKinds()
    reminders.register_kinds(services, kinds)
    talks.register_kinds(services, kinds)
    talk_threads.register_kinds(services, kinds)
    attendance.register_kinds(services, kinds)
    onboarding.register_kinds(services, kinds)
    appointments.register_kinds(services, kinds)
    papers.register_kinds(services, kinds)  # the swap offer's DM (with buttons)
    groups.register_kinds(services, kinds)  # the group invitation's DM (with buttons)
    return kinds


async def plan_all(services: Services, kinds: ReminderKinds | None = None) -> None:
    """At start-up: every kind re-plans its rows from the data as it is now (the configured
    deadlines synced first), in one transaction. Idempotent."""
    await (kinds if kinds is not None else course_kinds(services)).plan_all(services.db)

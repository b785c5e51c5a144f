"""The signal "the course calendar changed": a service calls `calendar_changed` inside the write
transaction of a change to one of the calendar's sources (office hours, papers and presenters,
deadlines); once that transaction commits, every listener registered for the same database is
called (the Scheduled Events sync, which then re-reads the committed data). A rolled-back change
calls nobody. Imports no feature, so every feature can call it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database

log = logging.getLogger(__name__)
_FLAG = "coursebot.calendar_changed"
_listeners: WeakKeyDictionary[Database, list[Callable[[], None]]] = WeakKeyDictionary()


def listen(db: Database, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (in the event loop, without arguments; it must not block) after each committed
    change of the calendar in `db`. Returns the function that stops listening."""
    _listeners.setdefault(db, []).append(callback)

    def stop() -> None:
        callbacks = _listeners.get(db, [])
        if callback in callbacks:
            callbacks.remove(callback)

    return stop


def calendar_changed(db: Database, session: AsyncSession) -> None:
    """Mark the transaction of `session` as a change of the calendar: its listeners are called once,
    after it commits (a session is one transaction here: a rolled-back one is thrown away with
    its mark). Raises nothing; a listener's error is logged."""
    if session.info.get(_FLAG):
        return
    session.info[_FLAG] = True

    def after_commit(_session: Any) -> None:
        session.info.pop(_FLAG, None)
        for callback in list(_listeners.get(db, ())):
            try:
                callback()
            except Exception:  # a listener's bug must not turn a committed change into an error
                log.exception("A calendar listener failed")

    event.listen(session.sync_session, "after_commit", after_commit, once=True)

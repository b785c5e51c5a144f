"""Reads that many commands share, kept or batched so that a burst of student commands costs a few
queries instead of a few per command. Two tools, one per kind of read:

- `cached(services, topic, key, load)` (and `kept` for a computation that needs no database): a
  course-wide result (the paper board, the deadlines, office hours, the term plan) kept until a write
  that changes it commits. Such a write calls `changed(services, session, topic)` inside its
  transaction; when that transaction commits, the topic's entries are dropped (a rolled-back write
  drops nothing). Identical reads that arrive while a load runs share it. An entry also expires after
  MAX_AGE seconds, which bounds how long a change made by another process (`coursebot import` on the
  same database) stays unseen.
- `batched(services, name, key, load_many)`: a per-student read (a student's attendance record, group,
  swap offers). Reads that arrive while a load of the same name runs wait for it and then go together
  into the next one, at most BATCH_MAX keys (one query for many students, as check-ins share a write
  transaction); identical keys in one batch share a result.

The contract: a read that starts after a write committed sees that write, so a student's own change
shows in their next command and a staff change in everyone's. A cached load that was running when a
write to its topic committed is not kept (its callers get it: they asked before the write was
visible) and nobody joins it afterwards; a batch that had started before the commit serves only the
reads that were waiting for it, a later read waits for the next batch. Results are shared between
callers: they are immutable (frozen dataclasses, tuples). The state is kept per database (one bot has
one), in a map that forgets a database once it is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.db import Database
from bot.services import Services

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_AGE = 10.0  # s: the longest a cached entry lives without a write telling it to go
BATCH_MAX = 500  # keys per batched load: bound parameters stay far below SQLite's limit
_CHANGED = "coursebot.cache_changed"  # session.info key: (cache, topics) to drop at commit

# Topics: the course-wide data a write may change. A service that caches a result names its topic
# here, and every write path that changes that data calls `changed` with it.
BOARD = "papers.board"  # papers, presenters, waitlists (and the talk slots derived from them)
DEADLINES = "reminders.deadlines"  # the deadlines table
OFFICE_HOURS = "reminders.office_hours"  # one-off changes of office hours
TERM_PLAN = "course.term_plan"  # the weeks of the term as computed from config and calendar
OFFICE_HOURS_NOTICES = "reminders.office_hours_notices"  # the notices the calendar shows


class ReadCache:
    """The cached entries and the read batches of one database (see the module's docstring)."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._values: dict[str, dict[Hashable, tuple[float, Any]]] = {}
        self._loading: dict[str, dict[Hashable, asyncio.Task[Any]]] = {}
        self._batches: dict[str, _Batch[Any, Any]] = {}
        self.listeners: list[tuple[frozenset[str], Callable[[], None]]] = []

    def drop(self, topics: set[str] | tuple[str, ...]) -> None:
        """Forget the entries of `topics` and the loads running for them, then tell the listeners of
        any of them (each once; a listener's error is logged, never raised)."""
        for topic in topics:
            self._versions[topic] = self._versions.get(topic, 0) + 1
            self._values.pop(topic, None)
            self._loading.pop(topic, None)
        for wanted, callback in list(self.listeners):
            if wanted.intersection(topics):
                try:
                    callback()
                except Exception:  # a listener's bug must not turn a committed change into an error
                    log.exception("A listener of %s failed", sorted(wanted))

    def _fresh(self, topic: str, key: Hashable) -> tuple[bool, Any]:
        slot = self._values.get(topic, {}).get(key)
        if slot is not None and time.monotonic() - slot[0] < MAX_AGE:
            return True, slot[1]
        return False, None

    def _store(self, topic: str, key: Hashable, version: int, value: Any) -> None:
        if self._versions.get(topic, 0) == version:  # no write to the topic committed meanwhile
            self._values.setdefault(topic, {})[key] = (time.monotonic(), value)

    async def get(self, topic: str, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        found, value = self._fresh(topic, key)
        if found:
            return cast(V, value)
        running = self._loading.get(topic, {}).get(key)
        if running is None:
            version = self._versions.get(topic, 0)
            running = asyncio.ensure_future(load())  # its own task: a caller that gives up stops nobody
            loads = self._loading.setdefault(topic, {})
            loads[key] = running

            def finished(task: asyncio.Task[Any]) -> None:
                if self._loading.get(topic, {}).get(key) is task:
                    del self._loading[topic][key]
                if not task.cancelled() and task.exception() is None:
                    self._store(topic, key, version, task.result())

            running.add_done_callback(finished)
        return cast(V, await asyncio.shield(running))

    def get_sync(self, topic: str, key: Hashable, compute: Callable[[], V]) -> V:
        found, value = self._fresh(topic, key)
        if found:
            return cast(V, value)
        version = self._versions.get(topic, 0)
        value = compute()
        self._store(topic, key, version, value)
        return cast(V, value)

    def batch(
        self, name: str, load_many: Callable[[Sequence[Any]], Awaitable[dict[Any, Any]]]
    ) -> _Batch[Any, Any]:
        found = self._batches.get(name)
        if found is None:
            found = self._batches[name] = _Batch(load_many)
        return found


class _Batch(Generic[K, V]):
    """The read batches of one name: the pending keys, and the task that loads them."""

    def __init__(self, load_many: Callable[[Sequence[K]], Awaitable[dict[K, V]]]) -> None:
        self.load_many = load_many
        self.pending: dict[K, list[asyncio.Future[V]]] = {}
        self.worker: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(key, []).append(future)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.ensure_future(self._work())
        return await future

    async def _work(self) -> None:
        batch: dict[K, list[asyncio.Future[V]]] = {}
        try:
            while self.pending:
                keys = list(self.pending)[:BATCH_MAX]
                batch = {key: self.pending.pop(key) for key in keys}
                try:
                    values: dict[K, V] | BaseException = await self.load_many(keys)
                except Exception as error:
                    values = error
                for key, futures in batch.items():
                    for future in futures:
                        if future.done():  # the caller gave up (cancelled)
                            continue
                        if isinstance(values, BaseException):
                            future.set_exception(values)
                        elif key in values:
                            future.set_result(values[key])
                        else:
                            future.set_exception(
                                LookupError(f"the batched read returned nothing for {key!r}")
                            )
                batch = {}
        except BaseException:  # cancelled (shutdown): nobody may wait forever
            for futures in [*batch.values(), *self.pending.values()]:
                for future in futures:
                    future.cancel()
            self.pending = {}
            raise


_caches: weakref.WeakKeyDictionary[Database, ReadCache] = weakref.WeakKeyDictionary()


def cache_of(db: Database) -> ReadCache:
    """The read cache of `db`, made on first use."""
    found = _caches.get(db)
    if found is None:
        found = _caches[db] = ReadCache()
    return found


async def cached(services: Services, topic: str, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
    """`load()`'s result, kept under `topic` until a write to it commits (or MAX_AGE). Raises what
    `load` raises (an error is not kept)."""
    return await cache_of(services.db).get(topic, key, load)


def kept(services: Services, topic: str, key: Hashable, compute: Callable[[], V]) -> V:
    """`compute()`'s result, kept like `cached` keeps a load's (for work that needs no database)."""
    return cache_of(services.db).get_sync(topic, key, compute)


async def batched(
    services: Services, name: str, key: K, load_many: Callable[[Sequence[K]], Awaitable[dict[K, V]]]
) -> V:
    """The value of `key` from `load_many(keys)`, which reads many keys at once and returns a value
    for each. Reads of the same `name` that arrive while one runs go together into the next. Raises
    what `load_many` raises (to every read of that batch)."""
    return cast(V, await cache_of(services.db).batch(name, load_many).get(key))


def listen(db: Database, topics: Sequence[str], callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (in the event loop, without arguments; it must not block) after each committed
    write that changed any of `topics` in `db`. Returns the function that stops listening."""
    cache = cache_of(db)
    entry = (frozenset(topics), callback)
    cache.listeners.append(entry)

    def stop() -> None:
        if entry in cache.listeners:
            cache.listeners.remove(entry)

    return stop


def changed(services: Services, session: AsyncSession, *topics: str) -> None:
    """Mark the write transaction of `session` as changing `topics`: when it commits, their cached
    entries are dropped and their listeners told (nothing happens if it rolls back). Call it inside
    the transaction; marking a topic twice is the same as once."""
    marks: list[tuple[ReadCache, set[str]]] = session.info.setdefault(_CHANGED, [])
    cache = cache_of(services.db)
    for known, names in marks:
        if known is cache:
            names.update(topics)
            return
    marks.append((cache, set(topics)))


@event.listens_for(Session, "after_commit")
def _drop_after_commit(session: Session) -> None:
    for cache, topics in session.info.pop(_CHANGED, ()):
        cache.drop(topics)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)

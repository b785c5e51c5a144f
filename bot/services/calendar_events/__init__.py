"""The course calendar: every moment of the course in one list (`moments`) and the Discord Scheduled
Events kept in step with it (`sync`, the decisions; the Discord calls are in `cogs/calendar/`). A
committed change of one of its SOURCES (the read cache's topics, `bot/services/cache.py`: the writes
that change them mark them) wakes the sync. The iCalendar files are `bot/services/ical.py`."""

from bot.services import cache

SOURCES = (cache.BOARD, cache.DEADLINES, cache.OFFICE_HOURS, cache.OFFICE_HOURS_NOTICES)

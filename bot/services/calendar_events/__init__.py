"""The course calendar: every moment of the course in one list (`moments`), the Discord Scheduled
Events kept in step with it (`sync`, the decisions; the Discord calls are in `cogs/calendar.py`), and
the signal that a change to a source of it was committed (`changes`, which imports no feature so that
every feature can call it). The iCalendar files are `bot/services/ical.py`."""

"""Importing the paper list from a `number,title,authors,url,week` CSV: every row is validated first
(each problem reported with its line), then all of them are added or updated in one transaction, or
none when any row is bad; rows without a week fill the first talk weeks with room."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.db import audit
from bot.db.models import Paper
from bot.errors import InvalidInput
from bot.services import Services, talks
from bot.services.csv_in import read_csv
from bot.services.papers.core import write
from bot.services.papers.staff import PaperFields, clean_paper

MAX_IMPORT_BYTES = 1_000_000
PAPER_COLUMNS = ("number", "title", "authors", "url", "week")


# ---- import ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    errors: tuple[str, ...]  # "line N: reason"; nothing was imported when non-empty


def parse_papers_csv(services: Services, data: bytes) -> tuple[list[PaperFields], list[str]]:
    """Parse and validate a `number,title,authors,url,week` CSV; returns (rows, "line N: reason" errors)."""
    records, unreadable = read_csv(data, max_bytes=MAX_IMPORT_BYTES)
    if unreadable:
        return [], unreadable
    header = [h.strip().lower() for h in (records[0] if records else [])]
    if tuple(header[:2]) != PAPER_COLUMNS[:2] or any(h not in PAPER_COLUMNS for h in header):
        return [], [
            f"line 1: the header must be {','.join(PAPER_COLUMNS)} (authors, url and week may be left out)"
        ]
    rows: list[PaperFields] = []
    errors: list[str] = []
    seen: dict[int, int] = {}
    for line_number, values in enumerate(records[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            errors.append(f"line {line_number}: {len(values)} columns, expected {len(header)}")
            continue
        record = dict(zip(header, [v.strip() for v in values], strict=False))
        try:
            number = int(record.get("number", ""))
        except ValueError:
            errors.append(
                f"line {line_number}: number `{record.get('number', '')[:20]}` is not a whole number"
            )
            continue
        week_text = record.get("week", "")
        try:
            week = int(week_text) if week_text else None
        except ValueError:
            errors.append(f"line {line_number}: week `{week_text[:20]}` is not a whole number")
            continue
        if number in seen:
            errors.append(f"line {line_number}: paper {number} is already on line {seen[number]}")
            continue
        seen[number] = line_number
        try:
            rows.append(
                clean_paper(
                    services,
                    PaperFields(
                        number,
                        record.get("title", ""),
                        record.get("authors", ""),
                        record.get("url", ""),
                        week,
                    ),
                )
            )
        except InvalidInput as error:
            errors.append(f"line {line_number}: {error.message}")
    if not rows and not errors:
        errors.append("line 2: no papers in the file")
    return rows, errors


async def import_papers(services: Services, *, actor_id: int | None, data: bytes) -> ImportResult:
    """Add or update every paper of the CSV in one transaction, or none when any row is bad."""
    rows, errors = parse_papers_csv(services, data)
    if errors:
        return ImportResult(0, 0, tuple(errors))
    now = services.now()
    papers = services.config.papers
    async with write(services) as session:
        existing = {p.number: p for p in (await session.scalars(select(Paper).with_for_update())).all()}
        weeks = {number: p.week for number, p in existing.items()}
        for row in rows:
            if row.week is not None:
                weeks[row.number] = row.week
        for row in rows:
            if row.week is None and row.number not in weeks:
                counts = _count(weeks)
                free = next(
                    (
                        w
                        for w in range(papers.first_week, papers.last_week + 1)
                        if counts.get(w, 0) < papers.per_week
                    ),
                    None,
                )
                if free is None:
                    return ImportResult(0, 0, (f"paper {row.number}: every talk week is full",))
                weeks[row.number] = free
        full = sorted(w for w, n in _count(weeks).items() if n > papers.per_week)
        if full:
            return ImportResult(
                0, 0, tuple(f"week {w}: more than {papers.per_week} papers after the import" for w in full)
            )
        added = updated = 0
        for row in rows:
            paper_row = existing.get(row.number)
            if paper_row is None:
                session.add(
                    Paper(
                        number=row.number,
                        title=row.title,
                        authors=row.authors,
                        url=row.url,
                        week=weeks[row.number],
                        added_at=now,
                    )
                )
                added += 1
            else:
                paper_row.title, paper_row.authors, paper_row.url, paper_row.week = (
                    row.title,
                    row.authors,
                    row.url,
                    weeks[row.number],
                )
                updated += 1
        audit(session, at=now, actor_id=actor_id, action="paper.import", added=added, updated=updated)
        await talks.replan(services, session)
    return ImportResult(added, updated, ())


def _count(weeks: dict[int, int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for week in weeks.values():
        counts[week] = counts.get(week, 0) + 1
    return counts

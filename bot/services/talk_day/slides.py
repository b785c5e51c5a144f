"""`/talk slides`: a presenter attaches the slides of their coming talk, a file or an https link.

Rules: only a presenter of a talk that has not ended, for their own paper; a PDF, PPTX or KEY file
(its name and its bytes must agree) of at most `talks.slides_max_mb`, or an https URL. The bot keeps
the file itself (Discord's attachment links expire). Re-running replaces the slides; every change is
audited, and the talk's thread shows the new ones (an edit through the outbox).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from bot.db import audit
from bot.db.models import Paper, Presenter, TalkSlides, TalkThread
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services import Services
from bot.services.cache import batched
from bot.services.papers import PAPERS_LOCK
from bot.services.talk_day import threads
from bot.services.talks import talk_slots

URL_MAX = 500
FILENAME_MAX = 200
KINDS = {
    ".pdf": "application/pdf",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".key": "application/vnd.apple.keynote",
}


@dataclass(frozen=True)
class Slides:
    """What a paper's slides are, for boards and threads (without the file's bytes)."""

    number: int
    filename: str | None  # a file the bot keeps
    url: str | None  # or a link
    size: int
    uploaded_at: datetime
    thread_id: int | None  # the talk's thread, where a file is attached to the first message
    starter_channel_id: int | None
    starter_message_id: int | None


@dataclass(frozen=True)
class SlidesSet:
    number: int
    replaced: bool
    slides: Slides


def max_bytes(services: Services) -> int:
    return services.config.talks.slides_max_mb * 1024 * 1024


def check_file(services: Services, filename: str, size: int) -> str:
    """The file's kind (its extension) if its name and announced size are acceptable, before
    downloading it. Raises InvalidInput."""
    name = filename.strip()
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix not in KINDS:
        raise InvalidInput("Slides must be a PDF, PPTX or KEY file (or give an https link with `url`).")
    if size > max_bytes(services):
        raise InvalidInput(
            f"That file is {size / 1024 / 1024:.1f} MB; slides may be at most {services.config.talks.slides_max_mb} MB."
        )
    if size <= 0:
        raise InvalidInput("That file is empty.")
    return suffix


def check_content(suffix: str, data: bytes) -> None:
    """The bytes are what the name says: a PDF starts `%PDF-`; a PPTX is a zip package with a
    `ppt/` part; a Keynote file is a zip package. Raises InvalidInput."""
    if suffix == ".pdf":
        if not data.startswith(b"%PDF-"):
            raise InvalidInput("That file is named .pdf but is not a PDF.")
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = package.namelist()
    except (zipfile.BadZipFile, ValueError):
        raise InvalidInput(f"That file is named {suffix} but is not a {suffix[1:].upper()} file.") from None
    if suffix == ".pptx" and not any(n.startswith("ppt/") for n in names):
        raise InvalidInput("That file is named .pptx but is not a PowerPoint presentation.")
    if suffix == ".key" and not any(n.startswith(("Index/", "Index.zip", "Data/")) for n in names):
        raise InvalidInput("That file is named .key but is not a Keynote presentation.")


def check_url(text: str) -> str:
    """An https link of at most URL_MAX characters. Raises InvalidInput."""
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in url) or len(url) > URL_MAX:
        raise InvalidInput(f"Give the slides as an https:// link of at most {URL_MAX} characters.")
    return url


def clean_filename(filename: str) -> str:
    name = "".join(c for c in filename.strip() if c.isprintable() and c not in '/\\<>:"|?*')
    return name[-FILENAME_MAX:] or "slides"


async def coming_talk(services: Services, presenter_id: int, paper_number: int | None = None) -> int:
    """The paper of the caller's coming talk (the next one, or `paper_number` when they present
    it). Raises NotAllowed when they present no talk that is still ahead."""
    now = services.now()
    length = timedelta(minutes=services.config.papers.talk_minutes + services.config.papers.qa_minutes)
    async with services.db.read() as session:
        mine = list(
            (
                await session.scalars(
                    select(Presenter.paper_number).where(Presenter.discord_id == presenter_id)
                )
            ).all()
        )
        slots = await talk_slots(session, services.calendar)
    coming = sorted((slots[n].starts_at, n) for n in mine if n in slots and slots[n].starts_at + length > now)
    if paper_number is not None:
        if paper_number not in mine:
            raise NotAllowed(f"Only the presenters of paper {paper_number} can attach its slides.")
        if paper_number not in {n for _, n in coming}:
            raise NotAllowed(f"The talk on paper {paper_number} is over; its slides can no longer change.")
        return paper_number
    if not coming:
        raise NotAllowed("Only a presenter of a coming talk can attach slides, and you present none.")
    return coming[0][1]


async def set_slides(
    services: Services,
    *,
    presenter_id: int,
    paper_number: int | None = None,
    filename: str | None = None,
    data: bytes | None = None,
    url: str | None = None,
) -> SlidesSet:
    """Attach (or replace) the slides of the caller's coming talk: a file (`filename`, `data`) or
    `url`, exactly one. Everything is re-checked inside the write (a presenter who swapped away in
    the meantime is refused). Raises InvalidInput, NotFound or NotAllowed; nothing changes then."""
    if (data is None) == (url is None):
        raise InvalidInput("Attach the slides as a `file` (PDF, PPTX or KEY) or give a `url`, one of them.")
    link = check_url(url) if url is not None else None
    name = None
    if data is not None:
        name = clean_filename(filename or "slides")
        suffix = check_file(services, name, len(data))
        check_content(suffix, data)
    number = await coming_talk(services, presenter_id, paper_number)
    now = services.now()
    async with services.db.write(PAPERS_LOCK) as session:
        paper = await session.get(Paper, number, with_for_update=True)
        if paper is None:
            raise NotFound(f"Paper {number} was removed.")
        still = await session.scalar(
            select(Presenter.id).where(Presenter.paper_number == number, Presenter.discord_id == presenter_id)
        )
        if still is None:
            raise NotAllowed(f"Only the presenters of paper {number} can attach its slides.")
        row = await session.get(TalkSlides, number, with_for_update=True)
        replaced = row is not None
        if row is None:
            row = TalkSlides(paper_number=number, revision=0, uploaded_by=presenter_id, uploaded_at=now)
            session.add(row)
        row.revision += 1
        row.url, row.filename = link, name
        row.content_type = KINDS[name[name.rfind(".") :].lower()] if name else None
        row.data, row.size = data, len(data) if data is not None else 0
        row.uploaded_by, row.uploaded_at = presenter_id, now
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=presenter_id,
            action="talk.slides",
            paper=number,
            file=name,
            url=link,
            size=row.size,
            replaced=replaced,
        )
        await threads.sync_thread(services, session, number)
        thread = await session.get(TalkThread, number)
        return SlidesSet(number, replaced, _slides(row, thread))


def _slides(row: TalkSlides, thread: TalkThread | None) -> Slides:
    return Slides(
        row.paper_number,
        row.filename,
        row.url,
        row.size,
        row.uploaded_at,
        thread.thread_id if thread else None,
        thread.starter_channel_id if thread else None,
        thread.starter_message_id if thread else None,
    )


async def slides_of(services: Services, numbers: list[int] | None = None) -> dict[int, Slides]:
    """The slides of these papers (or all), by paper number; papers without slides are left out.
    Identical reads at the same time (a burst of `/papers`) share their queries (`cache.batched`):
    each sees every write committed before it was called."""
    key = None if numbers is None else tuple(sorted(set(numbers)))
    found = await batched(services, "talk_day.slides", key, lambda keys: _slides_of_each(services, keys))
    return dict(found)


async def _slides_of_each(
    services: Services, keys: Sequence[tuple[int, ...] | None]
) -> dict[tuple[int, ...] | None, dict[int, Slides]]:
    return {key: await _read_slides(services, None if key is None else list(key)) for key in keys}


async def _read_slides(services: Services, numbers: list[int] | None) -> dict[int, Slides]:
    async with services.db.read() as session:
        query = select(
            TalkSlides.paper_number,
            TalkSlides.filename,
            TalkSlides.url,
            TalkSlides.size,
            TalkSlides.uploaded_at,
        )
        if numbers is not None:
            query = query.where(TalkSlides.paper_number.in_(numbers))
        rows = (await session.execute(query)).all()
        found = {r.paper_number: r for r in rows}
        threads_of = {
            t.paper_number: t
            for t in (
                await session.scalars(select(TalkThread).where(TalkThread.paper_number.in_(list(found))))
            ).all()
        }
    return {
        number: Slides(
            number,
            r.filename,
            r.url,
            r.size,
            r.uploaded_at,
            threads_of[number].thread_id if number in threads_of else None,
            threads_of[number].starter_channel_id if number in threads_of else None,
            threads_of[number].starter_message_id if number in threads_of else None,
        )
        for number, r in found.items()
    }


async def download(services: Services, number: int) -> tuple[Slides, bytes | None]:
    """A paper's slides with the file's bytes (None for a link). Raises NotFound."""
    async with services.db.read() as session:
        row = await session.get(TalkSlides, number)
        if row is None:
            raise NotFound(f"Paper {number} has no slides yet.")
        thread = await session.get(TalkThread, number)
        return _slides(row, thread), row.data

"""How papers, the board and sign-up outcomes look in Discord."""

from __future__ import annotations

import discord

from bot.services.papers import PaperInfo, SignupStatus, talk_text
from cogs._render import embed, when

PAGE_CHARS = 3800


def mentions(ids: tuple[int, ...], nobody: str = "—") -> str:
    return ", ".join(f"<@{i}>" for i in ids) or nobody


def paper_line(info: PaperInfo, slides: str = "") -> str:
    slots = f"{info.free} slot{'s' if info.free != 1 else ''} left" if info.free else "full"
    waiting = f" · {len(info.waitlist)} waiting" if info.waitlist else ""
    title = f"[{info.title}]({info.url})" if info.url else info.title
    shown = f" · {slides}" if slides else ""
    return f"`{info.number:>2}` {title} — {mentions(info.presenters, 'no presenter yet')} · {slots}{waiting}{shown}"


def board_pages(
    infos: list[PaperInfo], topic_of: dict[int, str], slides: dict[int, str] | None = None
) -> list[str]:
    """The board as pages of text that fit an embed, one block per week (`slides`: each paper's
    slides link, see cogs/talks/_render.py)."""
    blocks: list[str] = []
    for week in sorted({i.week for i in infos}):
        papers = [i for i in infos if i.week == week]
        talk_day = discord.utils.format_dt(papers[0].talk_at, "D")
        header = f"**Week {week} · {talk_day}** · {topic_of.get(week, '')}"
        blocks.append("\n".join([header, *(paper_line(i, (slides or {}).get(i.number, "")) for i in papers)]))
    pages: list[str] = []
    for block in blocks:
        if pages and len(pages[-1]) + len(block) + 2 <= PAGE_CHARS:
            pages[-1] += "\n\n" + block
        else:
            pages.append(block[:PAGE_CHARS])
    return pages or ["No papers yet: the list appears here once the staff publish it."]


def choice_label(info: PaperInfo) -> str:
    """Autocomplete text: `12 — Title (1 slot left)`, within Discord's 100 characters."""
    slots = (
        f"{info.free} slot{'s' if info.free != 1 else ''} left"
        if info.free
        else f"full, {len(info.waitlist)} waiting"
    )
    suffix = f" ({slots})"
    head = f"{info.number} — "
    room = 100 - len(head) - len(suffix)
    title = info.title if len(info.title) <= room else info.title[: room - 1] + "…"
    return f"{head}{title}{suffix}"


def status_embed(status: SignupStatus) -> discord.Embed:
    card = embed("Your paper sign-up")
    if status.papers:
        card.add_field(
            name="Presenting", value="\n".join(talk_text(p) for p in status.papers)[:1024], inline=False
        )
        for info in status.papers:
            card.add_field(
                name=f"Presenters of paper {info.number}", value=mentions(info.presenters), inline=False
            )
    else:
        card.add_field(name="Presenting", value="No paper yet: `/signup paper`.", inline=False)
    if status.waitlist_paper is not None:
        card.add_field(
            name="Waitlist",
            value=f"Position {status.waitlist_position} for paper {status.waitlist_paper.number} — {status.waitlist_paper.title}",
            inline=False,
        )
    offers = [
        f"<@{o.from_id}> offers paper {o.from_paper} for your {o.to_paper} (expires {when(o.expires_at)})"
        for o in status.offers_received
    ]
    offers += [
        f"You offered <@{o.to_id}> your paper {o.from_paper} for their {o.to_paper} (expires {when(o.expires_at)})"
        for o in status.offers_sent
    ]
    if offers:
        card.add_field(name="Swap offers", value="\n".join(offers)[:1024], inline=False)
    return card


def talk_lines(infos: list[PaperInfo], slides: dict[int, str] | None = None) -> list[str]:
    """The order of talks on a talk day: time, paper, presenters, slides."""
    return [
        f"{i.talk_order + 1}. {discord.utils.format_dt(i.talk_at, 't')} · paper {i.number} — {i.title} · "
        f"{mentions(i.presenters, 'no presenter yet')}"
        + (f" · {(slides or {})[i.number]}" if i.number in (slides or {}) else "")
        for i in sorted(infos, key=lambda i: i.talk_order)
    ]

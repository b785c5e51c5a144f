"""How a talk's slides look in `/papers`, `/schedule week` and replies."""

from __future__ import annotations

from bot.services import Services
from bot.services.talk_day.slides import Slides, slides_of


def slides_note(slides: Slides, guild_id: int | None) -> str:
    """A link to the slides: the presenters' URL, the thread's first message that carries the
    file, or the command that downloads it."""
    if slides.url:
        return f"[slides]({slides.url})"
    name = slides.filename or "slides"
    if guild_id and slides.starter_channel_id and slides.starter_message_id:
        return f"📎 [{name}](https://discord.com/channels/{guild_id}/{slides.starter_channel_id}/{slides.starter_message_id})"
    return f"📎 {name} (`/talk download paper:{slides.number}`)"


async def slide_notes(services: Services, numbers: list[int], guild_id: int | None) -> dict[int, str]:
    """`slides_note` of each of these papers that has slides."""
    found = await slides_of(services, numbers)
    return {number: slides_note(item, guild_id) for number, item in found.items()}

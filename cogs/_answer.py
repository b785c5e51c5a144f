"""The one yes/no button pair on an item (a swap offer, a group invitation, an excuse request): its
custom id `PREFIX:ID:ANSWER` carries everything it needs, so it keeps working after a restart, and
its callback runs through the commands' error path (`guarded`). A subclass names its prefix and two
answers and says what an answer does."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import discord

from cogs._base import guarded


class AnswerButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """Subclass with `prefix=`, `answers=(yes, no)` and, for a label with the item's number,
    `numbered=True`; implement `answer`. Register the subclass with `bot.add_dynamic_items`."""

    prefix: ClassVar[str]
    answers: ClassVar[tuple[str, str]]
    numbered: ClassVar[bool]

    def __init_subclass__(cls, *, prefix: str, answers: tuple[str, str], numbered: bool = False) -> None:
        super().__init_subclass__(
            template=rf"{re.escape(prefix)}:(?P<id>\d+):(?P<answer>{answers[0]}|{answers[1]})"
        )
        cls.prefix, cls.answers, cls.numbered = prefix, answers, numbered

    def __init__(self, item_id: int, yes: bool) -> None:
        answer = self.answers[0] if yes else self.answers[1]
        super().__init__(
            discord.ui.Button(
                label=f"{answer.title()} #{item_id}" if self.numbered else answer.title(),
                style=discord.ButtonStyle.success if yes else discord.ButtonStyle.danger,
                custom_id=f"{self.prefix}:{item_id}:{answer}",
            )
        )
        self.item_id, self.yes = item_id, yes

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(int(match["id"]), match["answer"] == cls.answers[0])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, lambda: self.answer(interaction))

    async def answer(self, interaction: discord.Interaction) -> None:
        """What the answer does (the service call and the reply). Raises what the service raises."""
        raise NotImplementedError

    @classmethod
    def pair(cls, item_id: int) -> list[AnswerButton]:
        """Both buttons for one item, yes first."""
        return [cls(item_id, True), cls(item_id, False)]


def answer_view(button: type[AnswerButton], item_id: int) -> discord.ui.View:
    """A persistent view with both buttons for one item."""
    view = discord.ui.View(timeout=None)
    for item in button.pair(item_id):
        view.add_item(item)
    return view

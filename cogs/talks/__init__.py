"""Talk day: `/talk slides`, `/talk ask`, `/talk download`, and the messages written in a talk's
thread (counted as questions). The rules live in bot/services/talk_day/; the threads' deliveries in
`_delivery.py`.

Intents: counting who wrote in a thread needs only MESSAGE_CREATE in guild channels (the default
`guild_messages` intent); the bot never reads the content, so it needs no message content intent.
"""

from __future__ import annotations

import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.errors import InvalidInput
from bot.permissions import is_student
from bot.services.talk_day import questions, slides
from cogs._base import FeatureCog
from cogs.talks._delivery import TalkDelivery
from cogs.talks._render import slides_note


class TalksCog(FeatureCog):
    talk = app_commands.Group(name="talk", description="Talk day: slides and questions", guild_only=True)

    def __init__(self, bot: CourseBot) -> None:
        super().__init__(bot)
        self.delivery = TalkDelivery(bot)

    async def cog_load(self) -> None:
        self.delivery.attach()
        self.delivery.thread_ids = await questions.thread_ids(self.bot.services)

    @talk.command(
        name="slides", description="Attach the slides of your coming talk: a PDF/PPTX/KEY file or a link"
    )
    @app_commands.describe(
        file="The slides: PDF, PPTX or KEY",
        url="Or a link to them (https://…)",
        paper="Your paper, when you present more than one",
    )
    async def talk_slides(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: str | None = None,
        paper: int | None = None,
    ) -> None:
        services = self.bot.services
        if file is not None and url is not None:
            raise InvalidInput("Give a `file` or a `url`, not both.")
        data = None
        if file is not None:  # refuse by name and size before downloading anything
            slides.check_file(services, file.filename, file.size)
            await interaction.response.defer(ephemeral=True, thinking=True)
            data = await file.read()
        elif url is None:
            raise InvalidInput("Attach the slides as a `file` (PDF, PPTX or KEY) or give a `url`.")
        result = await slides.set_slides(
            services,
            presenter_id=interaction.user.id,
            paper_number=paper,
            filename=file.filename if file is not None else None,
            data=data,
            url=url,
        )
        self.bot.dispatcher.wake()
        shown = slides_note(result.slides, interaction.guild_id)
        verb = "replaced" if result.replaced else "attached"
        text = (
            f"Slides of paper {result.number} {verb}: {shown}. They show in `/papers`, "
            f"`/schedule week` and the talk's thread."
        )
        await self._reply(interaction, text)

    @talk.command(name="ask", description="Ask a question about a talk, in its thread (anonymous by default)")
    @app_commands.describe(
        paper="The paper number of the talk",
        question="Your question",
        anonymous="Post it without your name (default: yes)",
    )
    async def talk_ask(
        self,
        interaction: discord.Interaction,
        paper: int,
        question: app_commands.Range[str, 1, questions.QUESTION_MAX],
        anonymous: bool = True,
    ) -> None:
        services = self.bot.services
        await interaction.response.defer(ephemeral=True, thinking=True)
        asked = await questions.ask(
            services,
            paper_number=paper,
            asker_id=interaction.user.id,
            asker_name=interaction.user.name,
            question=question,
            anonymous=anonymous,
        )
        await self.bot.dispatcher.send_now(f"{questions.QUESTION_PREFIX}{asked.question_id}")
        message_id = await questions.posted_message(services, asked.question_id)
        link = (
            f"https://discord.com/channels/{interaction.guild_id}/{asked.thread_id}/{message_id}"
            if message_id
            else f"<#{asked.thread_id}> (it shows there in a moment)"
        )
        how = "anonymously" if anonymous else "with your name"
        await interaction.followup.send(
            f"Your question on paper {paper} is posted {how}: {link}", ephemeral=True
        )

    @talk_ask.autocomplete("paper")
    async def _open_talks(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        typed = current.strip().casefold()
        return [
            app_commands.Choice(name=f"{number} — {title}"[:100], value=number)
            for number, title in await questions.open_talks(self.bot.services)
            if typed in f"{number} — {title}".casefold()
        ][:25]

    @talk.command(name="download", description="The slides of a talk, as the presenters attached them")
    @app_commands.describe(paper="The paper number of the talk")
    async def talk_download(self, interaction: discord.Interaction, paper: int) -> None:
        found, data = await slides.download(self.bot.services, paper)
        if data is None or not found.filename:
            await interaction.response.send_message(
                f"The slides of paper {paper}: {found.url}", ephemeral=True
            )
            return
        await interaction.response.send_message(
            f"The slides of paper {paper}:",
            file=discord.File(io.BytesIO(data), filename=found.filename),
            ephemeral=True,
        )

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    # ---- messages written in a talk's thread ------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.channel.id not in self.delivery.thread_ids:
            return
        if not is_student(message.author, self.bot.config.discord.roles):
            return
        await questions.record_thread_message(
            self.bot.services,
            thread_id=message.channel.id,
            author_id=message.author.id,
            author_name=message.author.name,
            message_id=message.id,
        )

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.channel_id in self.delivery.thread_ids:
            await questions.forget_thread_message(self.bot.services, payload.message_id)


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(TalksCog(bot))

"""The Discord side of the talk threads' outbox rows (bot/services/talk_day/threads.py): create a
thread (a text channel's thread from a starter message, or a forum post), edit its first message,
archive it, post a question in it. Each is idempotent: a retry after a crash finds what the crashed
try made (the recorded ids, the starter message in the channel's history, the forum post among the
active threads) before making anything, and sends with the row's nonce.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from typing import Literal

import discord

from bot.app import CourseBot, find_by_reference
from bot.notify.dispatcher import ChannelMissing
from bot.notify.kinds import Undeliverable
from bot.notify.outbox import Claimed
from bot.services.talk_day import questions, threads
from bot.services.talk_day.threads import ThreadPost

log = logging.getLogger(__name__)

ARCHIVE_MINUTES: Literal[10080] = 10080  # Discord's longest auto-archive: a week without messages
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
HISTORY_LOOKBACK = 100  # messages searched for a starter a crashed try sent


def presenters_only(ids: Iterable[int]) -> discord.AllowedMentions:
    """Mentions that ping the presenters and nobody else (no ping storm)."""
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(i) for i in ids], replied_user=False
    )


class TalkDelivery:
    """The deliveries the talks cog attaches to the talk-day kinds."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self.thread_ids: set[int] = set()  # the talk threads (messages in them count as questions)

    def attach(self) -> None:
        kinds = self.bot.dispatcher.kinds
        kinds.attach_delivery(threads.THREAD_KIND, self.create_thread)
        kinds.attach_delivery(threads.EDIT_KIND, self.edit_first_message)
        kinds.attach_delivery(threads.ARCHIVE_KIND, self.archive)
        kinds.attach_delivery(questions.QUESTION_KIND, self.post_question)

    # ---- where ------------------------------------------------------------------------------
    def talks_channel(self) -> discord.TextChannel | discord.ForumChannel | None:
        guild = self.bot.course_guild
        if guild is None:
            return None
        candidates: list[discord.TextChannel | discord.ForumChannel] = [*guild.text_channels, *guild.forums]
        found = find_by_reference(candidates, self.bot.config.talks.channel)  # type: ignore[arg-type]
        return found if isinstance(found, discord.TextChannel | discord.ForumChannel) else None

    # ---- create -----------------------------------------------------------------------------
    async def create_thread(self, row: Claimed) -> str | None:
        """Make the thread of one talk once. Raises Undeliverable (reported once in ta-log when
        it is the server's setup) or discord's errors (retried)."""
        services = self.bot.services
        number = threads.number_of(row.source_key)
        post = await threads.wanted_post(services, number)
        if post is None:
            raise Undeliverable(f"paper {number} was removed")
        if post.state is not None and post.state.thread_id is not None:
            self.thread_ids.add(post.state.thread_id)
            return "the thread existed already"
        channel = self.talks_channel()
        if channel is None:
            if self.bot.course_guild is None:
                raise ChannelMissing("the course server is not loaded (yet)")
            reference = self.bot.config.talks.channel
            await threads.report_problem(
                services, number, f"there is no text or forum channel `{reference}` ([talks] channel)."
            )
            raise Undeliverable(f"no talks channel {reference!r}")
        files = await self._files(number, post)
        try:
            if isinstance(channel, discord.ForumChannel):
                thread_id = await self._forum_post(row, channel, post, files)
                starter_channel, starter = thread_id, thread_id
            else:
                thread_id = await self._text_thread(row, channel, post, files)
                starter_channel, starter = channel.id, thread_id
        except discord.Forbidden as error:
            await threads.report_problem(
                services,
                number,
                f"the bot may not {'post' if isinstance(channel, discord.ForumChannel) else 'create threads'} "
                f"in {channel.mention} ({error.text or 'Missing Permissions'}); "
                "give it Send Messages, Create Public Threads and Manage Threads there; the bot tries again "
                "when it restarts or the papers change.",
            )
            raise Undeliverable(f"no permission in #{channel.name}") from error
        await threads.record_thread(
            services,
            number,
            thread_id=thread_id,
            content=post.content,
            slides_revision=post.slides_revision if files else 0,
            notification_id=row.id,
            channel_id=channel.id,
            forum=isinstance(channel, discord.ForumChannel),
            starter_channel_id=starter_channel,
            starter_message_id=starter,
        )
        self.thread_ids.add(thread_id)
        log.info("Opened the thread of paper %s in #%s", number, channel.name)
        return None

    async def _files(self, number: int, post: ThreadPost) -> list[discord.File]:
        if not post.slides_revision:
            return []
        found = await threads.slides_file(self.bot.services, number)
        return [discord.File(io.BytesIO(found.data), filename=found.filename)] if found else []

    async def _text_thread(
        self, row: Claimed, channel: discord.TextChannel, post: ThreadPost, files: list[discord.File]
    ) -> int:
        """A public thread started from a starter message (the thread has the message's id)."""
        state = post.state
        starter = state.starter_message_id if state is not None and state.channel_id == channel.id else None
        if starter is None:
            starter = await self._find_starter(channel, post.number)
        if starter is None:
            message = await channel.send(
                post.content, files=files, nonce=row.nonce, allowed_mentions=presenters_only(post.presenters)
            )
            starter = message.id
        await threads.record_starter(
            self.bot.services,
            post.number,
            notification_id=row.id,
            channel_id=channel.id,
            forum=False,
            starter_channel_id=channel.id,
            starter_message_id=starter,
            starts_at=post.starts_at,
        )
        try:
            thread = await channel.get_partial_message(starter).create_thread(
                name=post.name, auto_archive_duration=ARCHIVE_MINUTES
            )
        except discord.HTTPException as error:
            if error.code != THREAD_EXISTS:
                raise
            return starter  # made by the try that crashed
        return thread.id

    async def _find_starter(self, channel: discord.TextChannel, number: int) -> int | None:
        """The starter message a crashed try sent, if it is in the channel's recent history."""
        me = self.bot.user
        head = f"🎤 **Paper {number} —"
        async for message in channel.history(limit=HISTORY_LOOKBACK):
            if me is not None and message.author.id == me.id and message.content.startswith(head):
                return message.id
        return None

    async def _forum_post(
        self, row: Claimed, forum: discord.ForumChannel, post: ThreadPost, files: list[discord.File]
    ) -> int:
        """A forum post (its first message has the thread's id); a crashed try's post is found
        among the server's active threads."""
        me = self.bot.user
        head = f"Paper {post.number} —"
        for thread in await forum.guild.active_threads():
            if (
                thread.parent_id == forum.id
                and me is not None
                and thread.owner_id == me.id
                and thread.name.startswith(head)
            ):
                return thread.id
        made = await forum.create_thread(
            name=post.name,
            content=post.content,
            files=files,
            allowed_mentions=presenters_only(post.presenters),
            auto_archive_duration=ARCHIVE_MINUTES,
        )
        return made.thread.id

    # ---- edit, archive ------------------------------------------------------------------------
    async def edit_first_message(self, row: Claimed) -> str | None:
        """Show the talk as it is now (presenters after a swap or withdrawal, new slides)."""
        services = self.bot.services
        number = threads.number_of(row.source_key)
        post = await threads.wanted_post(services, number)
        state = post.state if post is not None else None
        if post is None or state is None or state.thread_id is None:
            raise Undeliverable("the thread is not there")
        if state.archived:
            raise Undeliverable("the thread is archived")
        assert state.starter_channel_id is not None and state.starter_message_id is not None
        message = self.bot.get_partial_messageable(
            state.starter_channel_id, guild_id=self._guild_id()
        ).get_partial_message(state.starter_message_id)
        mentions = presenters_only(post.presenters)
        slides_revision = state.slides_revision
        if post.slides_revision != state.slides_revision:
            files = await self._files(number, post)
            await message.edit(content=post.content, attachments=files, allowed_mentions=mentions)
            slides_revision = post.slides_revision if files else 0
        else:
            await message.edit(content=post.content, allowed_mentions=mentions)
        await threads.record_shown(services, number, content=post.content, slides_revision=slides_revision)
        return None

    async def archive(self, row: Claimed) -> str | None:
        """A week after the talk: the thread is archived (questions are closed then too)."""
        services = self.bot.services
        number = threads.number_of(row.source_key)
        post = await threads.wanted_post(services, number)
        state = post.state if post is not None else None
        if state is None or state.thread_id is None:
            return "no thread was made"
        if not state.archived:
            try:
                await self.bot.http.edit_channel(state.thread_id, archived=True)
            except discord.NotFound:
                pass  # deleted by hand: nothing to archive
            except discord.Forbidden as error:
                raise Undeliverable(f"no permission to archive the thread ({error.text})") from error
            await threads.record_archived(services, number)
        self.thread_ids.discard(state.thread_id)
        return None

    # ---- questions ----------------------------------------------------------------------------
    async def post_question(self, row: Claimed) -> str | None:
        """Post a `/talk ask` question in its thread (the row's text names nobody when anonymous)."""
        services = self.bot.services
        question_id = questions.question_id_of(row.source_key)
        target = await questions.to_post(services, question_id)
        if target is None:
            raise Undeliverable("the question or its thread is gone")
        if target.message_id is not None:
            return "posted already"
        channel = self.bot.get_partial_messageable(
            target.thread_id, guild_id=self._guild_id(), type=discord.ChannelType.public_thread
        )
        message = await channel.send(
            row.text[:2000], nonce=row.nonce, allowed_mentions=discord.AllowedMentions.none()
        )
        await questions.record_posted(services, question_id, message.id)
        return None

    def _guild_id(self) -> int | None:
        guild = self.bot.course_guild
        return guild.id if guild is not None else None

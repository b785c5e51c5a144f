"""The command tree: the server-side staff check, the ONE app-command error handler, and the
commands-handled metrics (each app command counted by qualified name and outcome, and timed)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.clock import system_now
from bot.db.engine import WriteWait, is_busy, limit_write_wait
from bot.errors import UserFacingError
from bot.permissions import is_staff_command, require_staff

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = "Something went wrong; the staff have been told."
UNKNOWN_INTERACTION = 10062  # Discord's answer to a callback after the interaction's 3 s ran out
STARTED = "coursebot.started"  # Interaction.extras key: when the tree received the command
DATABASE_BUSY = "The database is busy; try again in a moment."
ANSWER_WRITE_WAIT = 1.5  # s an unanswered interaction's write may wait for the database (Discord allows 3)
ANSWER_DEADLINE = 3.0  # s Discord gives an interaction for its first answer
CLOCK_ALLOWANCE = 0.25  # s our clock may run ahead of Discord's before a live interaction looks expired
TRUSTED_AGE = 60.0  # s; an interaction that looks older: our clock and its id disagree (a simulated server)
LATE_LOG_SECONDS = 10.0  # late interactions after the first are logged as one line per this many seconds


class ArrivedTooLate(app_commands.CheckFailure):
    """The command reached the tree after Discord's deadline: no answer can arrive, so it is not run
    (nothing changes; the person sees Discord's "did not respond" and can try again)."""


class AnswerTooLate(app_commands.AppCommandError):
    """An answer not sent because Discord's deadline has passed: Discord would refuse it (10062)."""


class AnswerDeadline:
    """Whether Discord's deadline for an interaction's first answer has passed, by this host's clock
    (one per bot: its command tree's `deadline`).

    An interaction's id says when Discord made it, by Discord's clock. The smallest age seen so far is
    taken as how far this host's clock differs from Discord's, plus the network's delay, and taken off
    every age: a host clock seconds fast or slow does not make every answer look late or none (a
    first interaction that was itself late only makes the check more lenient: answers are sent, as
    without it). An age beyond TRUSTED_AGE either way says the clocks disagree entirely (ids from a
    simulated server) and is never taken as expired."""

    def __init__(self) -> None:
        self.lead = math.inf  # s: the smallest age seen (our clock's lead over Discord's + the delay)

    def expired(self, interaction: discord.Interaction, now: datetime) -> bool:
        age = (now - interaction.created_at).total_seconds()
        if not -TRUSTED_AGE < age < TRUSTED_AGE:
            return False
        self.lead = min(self.lead, age)
        return age - self.lead > ANSWER_DEADLINE + CLOCK_ALLOWANCE


def deadline_of(interaction: discord.Interaction) -> AnswerDeadline:
    """The deadline check of the bot that received `interaction` (a fresh one for another client)."""
    tree = getattr(interaction.client, "tree", None)
    return tree.deadline if isinstance(tree, CourseTree) else AnswerDeadline()


class LateAnswers:
    """Interactions that Discord's deadline made unanswerable, logged as one WARNING line for the first
    and then at most one summary line per LATE_LOG_SECONDS, not a line each: they come by the
    thousand exactly when the bot is overloaded, and writing each would slow it down further."""

    def __init__(self) -> None:
        self.refused = 0  # answers Discord refused (10062) since the last line
        self.not_run = 0  # commands not run (ArrivedTooLate) since the last line
        self._summary: asyncio.TimerHandle | None = None

    def seen(self, interaction: discord.Interaction, *, ran: bool) -> None:
        """Count one late interaction; `ran`: its command ran, and its answer was not sent or refused."""
        if self._summary is not None:
            if ran:
                self.refused += 1
            else:
                self.not_run += 1
            return
        name = interaction.command.qualified_name if interaction.command else "component"
        if ran:
            log.warning("Answer to /%s by %s came after Discord's 3 s deadline", name, interaction.user.id)
        else:
            log.warning(
                "/%s by %s arrived after Discord's 3 s deadline and was not run (the bot is overloaded)",
                name,
                interaction.user.id,
            )
        self._summary = asyncio.get_running_loop().call_later(LATE_LOG_SECONDS, self.flush)

    def flush(self) -> None:
        """Log the late interactions counted since the last line (also at shutdown)."""
        if self._summary is not None:
            self._summary.cancel()
            self._summary = None
        if self.refused or self.not_run:
            log.warning(
                "Past Discord's 3 s deadline in the last %.0f s: %d more answer(s) not sent or refused, "
                "%d command(s) not run",
                LATE_LOG_SECONDS,
                self.refused,
                self.not_run,
            )
            self.refused = self.not_run = 0


def bound_writes(interaction: discord.Interaction) -> None:
    """Until it is answered (or deferred), the interaction's writes wait for the database at most
    ANSWER_WRITE_WAIT, then fail with DatabaseBusy (shown as DATABASE_BUSY), so the person gets an
    answer within Discord's 3 s instead of "the application did not respond"."""
    limit_write_wait(
        WriteWait(time.monotonic() + ANSWER_WRITE_WAIT, lambda: not interaction.response.is_done())
    )


async def reply(interaction: discord.Interaction, content: str | None = None, **kwargs: Any) -> None:
    """Answer ephemerally, whether or not the interaction was already answered or deferred. Raises
    AnswerTooLate, sending nothing, when a first answer would come after Discord's deadline."""
    kwargs.setdefault("ephemeral", True)
    if interaction.response.is_done():
        await interaction.followup.send(content or discord.utils.MISSING, **kwargs)
    elif deadline_of(interaction).expired(interaction, system_now()):
        raise AnswerTooLate()
    else:
        await interaction.response.send_message(content, **kwargs)


def friendly_message(error: BaseException) -> str | None:
    """The text a user sees for an expected error, or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserFacingError):
        return error.message
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {math.ceil(error.retry_after)} s."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only on the course server."
    if isinstance(
        error, app_commands.MissingAnyRole | app_commands.MissingRole | app_commands.MissingPermissions
    ):
        return "You do not have the role this command needs."
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You cannot use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"`{error.value}` is not a valid {error.type.name.lower().replace('_', ' ')}."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return "This command is out of date; try again in a minute."
    if is_busy(error):  # the database was held (another program's lock) too long; nothing was written
        return DATABASE_BUSY
    return None


class CourseTree(app_commands.CommandTree["CourseBot"]):
    """Refuses `/ta` to non-staff on the server side, renders every command error, and measures
    every app command: started in `interaction_check` (the tree's first step), finished in
    `on_error` or on discord.py's `app_command_completion` event."""

    def __init__(self, client: CourseBot, *args: Any, **kwargs: Any) -> None:
        super().__init__(client, *args, **kwargs)
        self.deadline = AnswerDeadline()
        client.add_listener(self._completed, "on_app_command_completion")

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        bound_writes(interaction)  # the command runs next, in this task
        self.client.track_handler()
        if interaction.type is discord.InteractionType.application_command:
            interaction.extras.setdefault(STARTED, time.perf_counter())
        if self.deadline.expired(interaction, system_now()):  # overloaded: no answer could arrive now
            raise ArrivedTooLate()
        if is_staff_command(interaction):
            if interaction.type is discord.InteractionType.autocomplete:
                try:
                    require_staff(interaction, self.client.config.discord.roles)
                except app_commands.CheckFailure:
                    return False  # no suggestions for non-staff
            else:
                require_staff(interaction, self.client.config.discord.roles)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        outcome = await handle_interaction_error(self.client, interaction, error)
        self._measured(interaction, outcome)

    async def _completed(self, interaction: discord.Interaction, _command: object) -> None:
        self._measured(interaction, "ok")

    def _measured(self, interaction: discord.Interaction, outcome: str) -> None:
        """Count and time one command, once; labelled by its qualified name, never by its user."""
        started = interaction.extras.pop(STARTED, None)
        if started is None:  # not a command the tree received (a button's error), or counted already
            return
        command = interaction.command
        name = command.qualified_name if command is not None else "unknown"
        self.client.metrics.command_handled(name, outcome, time.perf_counter() - started)


async def handle_interaction_error(
    bot: CourseBot, interaction: discord.Interaction, error: BaseException
) -> str:
    """Show the user a one-line reason; log bugs with a traceback and tell the staff in ta-log.
    Returns the outcome: "refused" (an expected error), "error" (a bug) or "late" (past Discord's 3 s:
    the answer was refused, or the command was not run).

    Shared by the command tree and by views and modals, so buttons fail the same way as commands.
    """
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    late_answer = isinstance(original, AnswerTooLate) or (
        isinstance(original, discord.NotFound) and original.code == UNKNOWN_INTERACTION
    )
    if late_answer or isinstance(original, ArrivedTooLate):
        # Too late (the bot was overloaded or stalled): Discord already showed "did not respond" and
        # refuses any reply. Not a bug to report one by one: no traceback, no post in ta-log (it would
        # pile up behind the channel's rate limit exactly when the bot is busiest), no reply.
        bot.late_answers.seen(interaction, ran=late_answer)
        return "late"
    message = friendly_message(error)
    outcome = "refused" if message is not None else "error"
    if message is None:
        name = interaction.command.qualified_name if interaction.command else "component"
        log.error("Unhandled error in /%s by %s", name, interaction.user.id, exc_info=original)
        message = SOMETHING_WENT_WRONG
        await bot.post_staff_log(
            f"⚠️ `/{name}` failed for {interaction.user.mention}: `{type(original).__name__}`"
        )
    try:
        await reply(interaction, message)
    except AnswerTooLate:
        bot.late_answers.seen(interaction, ran=True)
    except discord.HTTPException:
        log.warning("Could not deliver an error reply to %s", interaction.user.id)
    return outcome

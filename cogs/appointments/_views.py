"""The appointment buttons, which keep working after a restart (their custom ids carry the
appointment's number), the proposal form, and how the request's post in ta-log looks (it is posted
by the outbox, `_delivery`, and refreshed here after each decision).

- staff, on the ta-log post and in `/ta appointments`: Accept / Decline (`appt:ID:accept|decline`)
  and Propose another time (`apptpropose:ID`, a form);
- the student, in `/appointment list`: Accept / Decline a proposed time (`apptans:ID:…`);
- either side: Cancel (`apptcancel:ID`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.app import CourseBot
from bot.permissions import is_staff, require_staff
from bot.services import appointments
from bot.services.appointments import AppointmentInfo
from bot.services.text import stamp
from cogs._answer import AnswerButton
from cogs._base import guarded
from cogs._render import bot_of

log = logging.getLogger(__name__)

OUTCOMES = {
    "pending": "waiting for the staff",
    "proposed": "another time proposed, waiting for the student",
    "accepted": "accepted",
    "declined": "declined",
    "cancelled": "cancelled",
}


def describe(info: AppointmentInfo, *, student: bool = True) -> str:
    """One line: number, (student,) time as a Discord timestamp, topic, status."""
    who = f"<@{info.discord_id}> · " if student else ""
    asked = f" (asked for {stamp(info.asked_start)})" if info.asked_start != info.starts_at else ""
    by = f" by <@{info.staff_id}>" if info.staff_id and info.status in ("accepted", "proposed") else ""
    return f"**#{info.id}** {who}{stamp(info.starts_at)}{asked} · {info.topic} · {OUTCOMES[info.status]}{by}"


def post_text(bot: CourseBot, info: AppointmentInfo) -> str:
    """The request's post in ta-log, as it stands."""
    text = appointments.request_line(bot.services, info)
    if info.status != "pending":
        who = info.cancelled_by if info.status == "cancelled" else info.staff_id
        at = stamp(info.starts_at) if info.status in ("proposed", "accepted") else ""
        text += f"\n→ {OUTCOMES[info.status]}" + (f" by <@{who}>" if who else "") + (f": {at}" if at else "")
    return text


def staff_buttons(info: AppointmentInfo) -> list[discord.ui.Item[Any]]:
    """Accept, Decline and Propose for a pending request."""
    return [*AppointmentDecision.pair(info.id), ProposeButton(info.id)]


def post_view(info: AppointmentInfo) -> discord.ui.View | None:
    if info.status != "pending":
        return None
    view = discord.ui.View(timeout=None)
    for item in staff_buttons(info):
        view.add_item(item)
    return view


async def refresh_post(bot: CourseBot, info: AppointmentInfo) -> None:
    """Show the request's new state on its ta-log post (buttons gone once decided). Best effort."""
    channel = bot.course_channel(bot.config.discord.channels.ta_log)
    if channel is None or info.staff_message_id is None:
        return
    try:
        await channel.get_partial_message(info.staff_message_id).edit(
            content=post_text(bot, info), view=post_view(info)
        )
    except discord.HTTPException as error:
        log.info("Could not update the ta-log post of appointment #%s (%s)", info.id, error.status)


class AppointmentDecision(AnswerButton, prefix="appt", answers=("accept", "decline"), numbered=True):
    """Accept or Decline a request (staff only); the student is told by DM."""

    async def answer(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        require_staff(interaction, bot.config.discord.roles)
        info = await appointments.decide(
            bot.services, actor_id=interaction.user.id, appointment_id=self.item_id, accept=self.yes
        )
        await interaction.response.send_message(
            f"Appointment #{info.id} of <@{info.discord_id}> {stamp(info.starts_at)}: {info.status}; "
            "the student is told by DM.",
            ephemeral=True,
        )
        bot.dispatcher.wake()  # the student's DM (and the reminders) were planned with the decision
        await refresh_post(bot, info)


class ProposeButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"apptpropose:(?P<id>\d+)"):
    """Open the form to propose another time for a request (staff only)."""

    def __init__(self, appointment_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Propose another time #{appointment_id}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"apptpropose:{appointment_id}",
            )
        )
        self.appointment_id = appointment_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ProposeButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def show() -> None:
            bot = bot_of(interaction)
            require_staff(interaction, bot.config.discord.roles)
            info = await appointments.pending_request(bot.services, self.appointment_id)
            await interaction.response.send_modal(ProposalForm(bot, info))

        await guarded(interaction, show)


class ProposalForm(discord.ui.Modal):
    """Another time (course time, like the commands take it) and an optional note for the student."""

    def __init__(self, bot: CourseBot, info: AppointmentInfo) -> None:
        super().__init__(title=f"Another time for appointment #{info.id}"[:45], timeout=900)
        self.appointment_id = info.id
        self.when: discord.ui.TextInput[ProposalForm] = discord.ui.TextInput(
            label=f"When (YYYY-MM-DD HH:MM, {bot.config.course.timezone})"[:45],
            placeholder=appointments.slot_value(bot.services, info.starts_at),
            custom_id="when",
            min_length=10,
            max_length=40,
        )
        self.note: discord.ui.TextInput[ProposalForm] = discord.ui.TextInput(
            label="Note for the student (optional)",
            custom_id="note",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=appointments.NOTE_MAX,
        )
        self.add_item(self.when)
        self.add_item(self.note)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def save() -> None:
            bot = bot_of(interaction)
            require_staff(interaction, bot.config.discord.roles)
            info = await appointments.propose(
                bot.services,
                actor_id=interaction.user.id,
                appointment_id=self.appointment_id,
                when=self.when.value,
                note=self.note.value or None,
            )
            await interaction.response.send_message(
                f"Proposed {stamp(info.starts_at)} to <@{info.discord_id}> for appointment #{info.id}; "
                "they answer in `/appointment list`.",
                ephemeral=True,
            )
            bot.dispatcher.wake()
            await refresh_post(bot, info)

        await guarded(interaction, save)


class ProposalAnswer(AnswerButton, prefix="apptans", answers=("accept", "decline"), numbered=True):
    """The student accepts or declines the time the staff proposed."""

    async def answer(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        info = await appointments.answer_proposal(
            bot.services, discord_id=interaction.user.id, appointment_id=self.item_id, accept=self.yes
        )
        text = (
            f"Appointment #{info.id} is set for {stamp(info.starts_at)}; you will be reminded."
            if info.status == "accepted"
            else f"You declined the proposed time for appointment #{info.id}; ask for another with `/appointment request`."
        )
        await interaction.response.send_message(text, ephemeral=True)
        bot.dispatcher.wake()  # the staff member's DM was planned with the answer
        await refresh_post(bot, info)


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"apptcancel:(?P<id>\d+)"):
    """Cancel an appointment: the student their own, the staff any; the other side is told."""

    def __init__(self, appointment_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Cancel #{appointment_id}",
                style=discord.ButtonStyle.danger,
                custom_id=f"apptcancel:{appointment_id}",
            )
        )
        self.appointment_id = appointment_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def cancel() -> None:
            bot = bot_of(interaction)
            as_staff = interaction.guild is not None and is_staff(interaction.user, bot.config.discord.roles)
            info = await appointments.cancel(
                bot.services,
                actor_id=interaction.user.id,
                appointment_id=self.appointment_id,
                as_staff=as_staff,
            )
            await interaction.response.send_message(
                f"Appointment #{info.id} {stamp(info.starts_at)} is cancelled; the other side is told.",
                ephemeral=True,
            )
            bot.dispatcher.wake()
            await refresh_post(bot, info)

        await guarded(interaction, cancel)


DYNAMIC_ITEMS = (AppointmentDecision, ProposeButton, ProposalAnswer, CancelButton)

"""Office hours by appointment: `/appointment request|list` for students and `/ta appointments` for
the staff. The rules live in bot/services/appointments/; the buttons in `_views`."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.services import appointments
from bot.services.text import stamp
from cogs._base import FeatureCog, add_cogs
from cogs._render import embed
from cogs.appointments._delivery import RequestDelivery
from cogs.appointments._staff import AppointmentStaffCog
from cogs.appointments._views import DYNAMIC_ITEMS, CancelButton, ProposalAnswer, describe

MAX_LISTED = 8  # up to three buttons each, within Discord's 25 components


class AppointmentsCog(FeatureCog):
    appointment = app_commands.Group(
        name="appointment", description="Office hours by appointment, outside the weekly hours"
    )

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        RequestDelivery(self.bot).attach()

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    @appointment.command(name="request", description="Ask the staff for an office-hours appointment")
    @app_commands.describe(
        when="When: YYYY-MM-DD HH:MM in the course's time (the list offers the staff's free slots)",
        topic="What you want to talk about",
    )
    async def request(self, interaction: discord.Interaction, when: str, topic: str) -> None:
        member = interaction.user
        info = await appointments.request_appointment(
            self.bot.services,
            discord_id=member.id,
            discord_name=member.name,
            joined_at=getattr(member, "joined_at", None),
            when=when,
            topic=topic,
        )
        await interaction.response.send_message(
            f"Your appointment request #{info.id} for {stamp(info.starts_at)} is with the staff; "
            "you will get a DM when they answer. `/appointment list` shows it.",
            ephemeral=True,
        )
        self.bot.dispatcher.wake()  # its post in ta-log was planned with the request

    @request.autocomplete("when")
    async def when_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        services = self.bot.services
        typed = current.strip()
        tz = services.calendar.tz
        choices = []
        for start in await appointments.free_slots(services, limit=25):
            value = appointments.slot_value(services, start)
            if typed and not value.startswith(typed):
                continue
            local = start.astimezone(tz)
            choices.append(
                app_commands.Choice(
                    name=f"{local:%a %b} {local.day} {local:%H:%M} ({tz.key}), free", value=value
                )
            )
        return choices[:25]

    @appointment.command(
        name="list", description="Your appointment requests and appointments, with Cancel buttons"
    )
    async def list_appointments(self, interaction: discord.Interaction) -> None:
        mine = await appointments.my_appointments(self.bot.services, interaction.user.id)
        if not mine:
            await interaction.response.send_message(
                "You have no appointment requests or appointments ahead; ask with `/appointment request`.",
                ephemeral=True,
            )
            return
        shown = mine[:MAX_LISTED]
        text = "\n".join(describe(info, student=False) for info in shown)
        if len(mine) > len(shown):
            text += f"\n… and {len(mine) - len(shown)} more after these."
        view = discord.ui.View(timeout=None)
        for info in shown:
            if info.status == "proposed":
                for button in ProposalAnswer.pair(info.id):
                    view.add_item(button)
            view.add_item(CancelButton(info.id))
        await interaction.response.send_message(
            embed=embed(f"Your appointments ({len(mine)})", text), view=view, ephemeral=True
        )


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, AppointmentsCog(bot), AppointmentStaffCog(bot))

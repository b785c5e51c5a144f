"""The staff's `/ta appointments`: requests waiting (Accept / Decline / Propose another time) and the
accepted appointments ahead (Cancel)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.services import appointments
from cogs._base import StaffCog
from cogs._render import embed
from cogs.appointments._views import CancelButton, describe, staff_buttons

MAX_WAITING_SHOWN = 6  # three buttons each …
MAX_AHEAD_SHOWN = 7  # … and one each: at most 25 components in five rows


class AppointmentStaffCog(StaffCog):
    @app_commands.command(
        name="appointments", description="Appointment requests to answer, and the accepted ones ahead"
    )
    async def appointments_overview(self, interaction: discord.Interaction) -> None:
        waiting, ahead = await appointments.staff_overview(self.bot.services)
        if not waiting and not ahead:
            await interaction.response.send_message(
                "No appointment requests waiting and no appointments ahead.", ephemeral=True
            )
            return
        shown_waiting, shown_ahead = waiting[:MAX_WAITING_SHOWN], ahead[:MAX_AHEAD_SHOWN]
        view = discord.ui.View(timeout=None)
        for info in shown_waiting:
            # a proposed time waits for the student; the staff can still call it off
            for item in staff_buttons(info) if info.status == "pending" else [CancelButton(info.id)]:
                view.add_item(item)
        for info in shown_ahead:
            view.add_item(CancelButton(info.id))
        parts = []
        for title, shown, total in (
            ("Waiting", shown_waiting, len(waiting)),
            ("Accepted, ahead", shown_ahead, len(ahead)),
        ):
            if total:
                more = f"\n… and {total - len(shown)} more" if total > len(shown) else ""
                parts.append(f"**{title}**\n" + "\n".join(describe(info) for info in shown) + more)
        card = embed(f"Appointments · {len(waiting)} waiting · {len(ahead)} ahead", "\n\n".join(parts))
        await interaction.response.send_message(embed=card, view=view, ephemeral=True)

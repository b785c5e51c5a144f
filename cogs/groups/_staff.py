"""The staff's `/ta group lock|unlock|move|autofill`."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.services import groups
from cogs._base import StaffCog
from cogs.groups._channels import GroupChannels
from cogs.groups._render import plan_text
from cogs.groups._views import AutofillConfirm, student_ids


class GroupStaffCog(StaffCog):
    group = app_commands.Group(name="group", description="Manage project groups")

    @group.command(name="lock", description="Freeze group membership (all groups, or one)")
    @app_commands.describe(name="Only this group")
    async def lock(self, interaction: discord.Interaction, name: str | None = None) -> None:
        await groups.set_lock(self.bot.services, actor_id=interaction.user.id, locked=True, group_name=name)
        what = f"Group {name}" if name else "All groups"
        await interaction.response.send_message(
            f"{what} locked: only `/ta group move` changes membership now.", ephemeral=True
        )
        await self.bot.post_staff_log(f"{interaction.user.mention}: locked {what.lower()}")

    @group.command(name="unlock", description="Unfreeze group membership (all groups, or one)")
    @app_commands.describe(name="Only this group")
    async def unlock(self, interaction: discord.Interaction, name: str | None = None) -> None:
        state = await groups.set_lock(
            self.bot.services, actor_id=interaction.user.id, locked=False, group_name=name
        )
        what = f"Group {name}" if name else "All groups"
        note = " (all groups are still locked)" if name and state.all_locked else ""
        await interaction.response.send_message(f"{what} unlocked{note}.", ephemeral=True)
        await self.bot.post_staff_log(f"{interaction.user.mention}: unlocked {what.lower()}")

    @group.command(name="move", description="Move a student into a group; without a group, out of theirs")
    @app_commands.describe(member="The student", group="The group to move them into")
    async def move(
        self, interaction: discord.Interaction, member: discord.Member, group: str | None = None
    ) -> None:
        result = await groups.move(
            self.bot.services,
            actor_id=interaction.user.id,
            discord_id=member.id,
            discord_name=member.name,
            group_name=group,
        )
        channels = GroupChannels(self.bot)
        if result.left is not None:
            if result.left_dissolved:
                await channels.remove(result.left)
            else:
                await channels.set_member(result.left.role_id, member.id, False)
        if result.joined is not None:
            await channels.set_member(result.joined.role_id, member.id, True)
        parts = []
        if result.left:
            parts.append(f"out of {result.left.name}" + (" (now dissolved)" if result.left_dissolved else ""))
        if result.joined:
            parts.append(f"into {result.joined.name}")
        text = f"Moved {member.mention} " + " and ".join(parts) + "."
        await interaction.response.send_message(text, ephemeral=True)
        self.bot.dispatcher.wake()  # their DM was planned with the move
        await self.bot.post_staff_log(f"{interaction.user.mention}: {text}")

    @group.command(
        name="autofill",
        description="Place every student without a group; shows the plan, applies it on Confirm",
    )
    async def autofill(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        plan = await groups.plan_autofill(self.bot.services, student_ids=student_ids(self.bot))
        view = discord.ui.View(timeout=None)
        if plan.groups:
            view.add_item(AutofillConfirm(plan.digest))
        await interaction.followup.send(plan_text(plan)[:2000], view=view, ephemeral=True)

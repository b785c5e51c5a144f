"""Project groups: `/group create|join|invite|leave|info|list|title`, and the staff's `/ta group`.
The rules live in bot/services/groups/."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.permissions import is_staff
from bot.services import groups
from cogs._base import FeatureCog, add_cogs
from cogs.groups._channels import GroupChannels
from cogs.groups._delivery import InviteDelivery
from cogs.groups._render import group_embed, member_list
from cogs.groups._staff import GroupStaffCog
from cogs.groups._views import AutofillConfirm, InviteAnswer, student_ids


class GroupsCog(FeatureCog):
    group = app_commands.Group(name="group", description="Project groups", guild_only=True)

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_dynamic_items(InviteAnswer, AutofillConfirm)
        InviteDelivery(self.bot).attach()

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(InviteAnswer, AutofillConfirm)
        await super().cog_unload()

    @group.command(name="create", description="Start a project group with you in it")
    @app_commands.describe(name="Group name, 1–40 characters")
    async def create(self, interaction: discord.Interaction, name: str) -> None:
        info = await groups.create(
            self.bot.services, discord_id=interaction.user.id, discord_name=interaction.user.name, name=name
        )
        await interaction.response.send_message(
            f"Created group {info.name}. Classmates join with `/group join code:{info.invite_code}` "
            f"(invite code `{info.invite_code}`), or use `/group invite`.",
            ephemeral=True,
        )
        await GroupChannels(self.bot).create(info)

    @group.command(name="join", description="Join a group by its invite code")
    @app_commands.describe(code="The 6-character invite code")
    async def join(self, interaction: discord.Interaction, code: str) -> None:
        info = await groups.join(
            self.bot.services, discord_id=interaction.user.id, discord_name=interaction.user.name, code=code
        )
        await interaction.response.send_message(
            f"You joined group {info.name}: {member_list(info.members)}.", ephemeral=True
        )
        await GroupChannels(self.bot).set_member(info.role_id, interaction.user.id, True)

    @group.command(name="invite", description="Invite a classmate; they get Accept/Decline buttons by DM")
    @app_commands.describe(member="The classmate to invite")
    async def invite(self, interaction: discord.Interaction, member: discord.Member) -> None:
        offer = await groups.invite(
            self.bot.services, inviter_id=interaction.user.id, invitee_id=member.id, invitee_is_bot=member.bot
        )
        await interaction.response.send_message(
            f"Invitation to {member.mention} is on its way by DM; it expires "
            f"<t:{int(offer.expires_at.timestamp())}:R>. If their DMs are closed, you get a DM with "
            "your invite code to share instead.",
            ephemeral=True,
        )
        self.bot.dispatcher.wake()  # the invitation's DM was planned with it

    @group.command(name="leave", description="Leave your group (an empty group is dissolved)")
    async def leave(self, interaction: discord.Interaction) -> None:
        departure = await groups.leave(self.bot.services, discord_id=interaction.user.id)
        channels = GroupChannels(self.bot)
        if departure.dissolved:
            await channels.remove(departure.group)
            text = f"You left group {departure.group.name}; it was empty, so it is dissolved."
        else:
            await channels.set_member(departure.group.role_id, interaction.user.id, False)
            text = f"You left group {departure.group.name}."
        await interaction.response.send_message(text, ephemeral=True)

    @group.command(name="info", description="Members, project title and channel of a group (default: yours)")
    @app_commands.describe(name="The group's name")
    async def info(self, interaction: discord.Interaction, name: str | None = None) -> None:
        services = self.bot.services
        if name is None:
            found = await groups.group_of(services, interaction.user.id)
            if found is None:
                await interaction.response.send_message(
                    "You are not in a group: `/group create` or `/group join`.", ephemeral=True
                )
                return
        else:
            found = await groups.find_group(services, name)
        show_code = interaction.user.id in found.members or is_staff(
            interaction.user, self.bot.config.discord.roles
        )
        await interaction.response.send_message(embed=group_embed(found, show_code=show_code), ephemeral=True)

    @group.command(
        name="list", description="All groups with their sizes, and how many students have no group"
    )
    async def list_groups(self, interaction: discord.Interaction) -> None:
        infos = await groups.all_groups(self.bot.services)
        grouped = {m for g in infos for m in g.members}
        without = [s for s in student_ids(self.bot) if s not in grouped]
        lines = [
            f"**{g.name}** ({len(g.members)}/{g.max_size})"
            + (" 🔒" if g.locked else "")
            + (f" · {g.title}" if g.title else "")
            for g in infos
        ]
        text = "\n".join(lines) or "No groups yet: `/group create`."
        text += f"\n\n{len(without)} student{'s' if len(without) != 1 else ''} without a group."
        card = discord.Embed(
            title=f"Project groups ({len(infos)})", description=text[:4096], colour=discord.Colour.blurple()
        )
        await interaction.response.send_message(embed=card, ephemeral=True)

    @group.command(name="title", description="Set your group's project title")
    @app_commands.describe(text="The project title")
    async def title(self, interaction: discord.Interaction, text: str) -> None:
        info = await groups.set_title(self.bot.services, discord_id=interaction.user.id, text=text)
        await interaction.response.send_message(f"Project title of {info.name}: {info.title}", ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, GroupsCog(bot), GroupStaffCog(bot))

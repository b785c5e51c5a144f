"""Staff tools: `/ta roster import`, `/ta export`, `/ta audit`, `/ta announce`."""

from __future__ import annotations

import io
import re
from typing import Any, Literal

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.errors import InvalidInput
from bot.permissions import require_staff, role_matches
from bot.services import audit_log, gradebook, roster
from cogs._base import StaffCog, add_cogs, guarded
from cogs._render import bot_of, embed, import_problems, when

AUDIT_PAGE = 10
AUDIT_MAX = 200
ExportFormat = Literal["csv", "canvas", "moodle"]
LMS_NAMES = {"csv": "", "canvas": " for Canvas", "moodle": " for Moodle"}


def gradebook_members(bot: CourseBot) -> list[gradebook.GradebookMember]:
    return [gradebook.GradebookMember(m.id, m.name, m.joined_at) for m in bot.student_members()]


def export_preview(bot: CourseBot, made: gradebook.GradebookExport) -> discord.Embed:
    """The class's distribution of each item, with the attendance-score histogram as its image."""
    card = embed(
        f"Gradebook · {len(made.rows)} students", "Min · median · max over the students with a value."
    )
    for spread in gradebook.distribution(made.rows, bot.config):
        if spread.item.kind == "flag":
            value = f"{spread.flagged} of {spread.count}"
        elif spread.count:
            value = f"{spread.low} · {spread.median} · {spread.high} ({spread.count})"
        else:
            value = "no values yet"
        card.add_field(name=spread.item.header, value=value, inline=True)
    card.set_image(url="attachment://attendance-score.png")
    return card


async def audit_page(
    bot: CourseBot, member_id: int, limit: int, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    entries = await audit_log.recent_entries(bot.services, member_id=member_id or None, limit=limit)
    pages = max(1, -(-len(entries) // AUDIT_PAGE))
    page = min(max(page, 0), pages - 1)
    lines = []
    for entry in entries[page * AUDIT_PAGE : (page + 1) * AUDIT_PAGE]:
        details = ", ".join(f"{k}={v}" for k, v in entry.details.items() if v not in (None, [], ""))
        who = f"<@{entry.actor_id}>" if entry.actor_id else "the bot"
        whom = f" → <@{entry.target_id}>" if entry.target_id and entry.target_id != entry.actor_id else ""
        lines.append(f"{when(entry.at)} · {who}{whom} · `{entry.action}` {details[:150]}")
    title = "Audit log" + (" (one member)" if member_id else "")
    card = embed(title, "\n".join(lines)[:4000] or "Nothing recorded yet.")
    card.set_footer(text=f"Newest first · page {page + 1}/{pages} · {len(entries)} entries")
    view = discord.ui.View(timeout=None)
    if pages > 1:
        view.add_item(AuditPage(member_id, limit, page - 1, "◀ Newer", disabled=page == 0))
        view.add_item(AuditPage(member_id, limit, page + 1, "Older ▶", disabled=page >= pages - 1))
    return card, view


class AuditPage(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"audit:(?P<member>\d+):(?P<limit>\d+):(?P<page>\d+)",
):
    """Paging through `/ta audit` (staff only; survives restarts)."""

    def __init__(self, member_id: int, limit: int, page: int, label: str, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"audit:{member_id}:{limit}:{max(page, 0)}",
                disabled=disabled,
            )
        )
        self.member_id, self.limit, self.page = member_id, limit, max(page, 0)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AuditPage:
        return cls(
            int(match["member"]), int(match["limit"]), int(match["page"]), getattr(item, "label", None) or ""
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        async def show() -> None:
            bot = bot_of(interaction)
            require_staff(interaction, bot.config.discord.roles)
            card, view = await audit_page(bot, self.member_id, self.limit, self.page)
            await interaction.response.edit_message(embed=card, view=view)

        await guarded(interaction, show)


class StaffToolsCog(StaffCog):
    roster_group = app_commands.Group(name="roster", description="The class roster")

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_dynamic_items(AuditPage)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(AuditPage)
        await super().cog_unload()

    @roster_group.command(
        name="import", description="Import the class roster CSV: student_id,name[,discord][,email]"
    )
    @app_commands.describe(file="CSV with the header student_id,name and optionally discord and email")
    async def roster_import(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        if file.size > roster.MAX_ROSTER_BYTES:
            raise InvalidInput(  # the same report as the import's own check (and `coursebot import roster`)
                import_problems([f"line 1: the file is larger than {roster.MAX_ROSTER_BYTES // 1000} kB"])
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        members = [roster.MemberRef(m.id, m.name, m.display_name) for m in self.bot.student_members()]
        result = await roster.import_roster(
            self.bot.services, actor_id=interaction.user.id, data=await file.read(), members=members
        )
        if result.errors:
            await interaction.followup.send(import_problems(result.errors), ephemeral=True)
            return
        text = f"Roster imported: {result.imported} students, {result.linked} linked to members."
        if result.unmatched:
            text += f"\nNo member found for {len(result.unmatched)} row(s):\n" + "\n".join(
                result.unmatched[:15]
            )
        if result.not_on_roster:
            text += "\nMembers with the student role not on the roster: " + ", ".join(
                f"<@{i}>" for i in result.not_on_roster[:30]
            )
        await interaction.followup.send(text[:2000], ephemeral=True)
        await self.bot.post_staff_log(
            f"{interaction.user.mention} imported the roster ({result.imported} rows, {result.linked} linked)"
        )

    @app_commands.command(
        name="export", description="The gradebook: one row per student, as a CSV or for an LMS"
    )
    @app_commands.describe(format="csv (default), or the file Canvas or Moodle imports as it is")
    async def export(self, interaction: discord.Interaction, format: ExportFormat = "csv") -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        made = await gradebook.export_gradebook(
            self.bot.services,
            actor_id=interaction.user.id,
            format=format,
            members=gradebook_members(self.bot),
        )
        text = f"Gradebook{LMS_NAMES[format]}: {made.written} student{'' if made.written == 1 else 's'}."
        if made.key:
            text += f" Map the `{made.key}` column to the user's {made.key.lower()} when importing."
        if made.left_out:
            text += f"\nLeft out, the LMS could not match them ({len(made.left_out)}):\n" + "\n".join(
                made.left_out[:15]
            )
            text += f"\n… and {len(made.left_out) - 15} more" if len(made.left_out) > 15 else ""
        title = f"{self.bot.config.course.code} attendance scores"
        chart = gradebook.attendance_histogram(made.rows, self.bot.config.course.grading.attendance, title)
        await interaction.followup.send(  # the reply: the file and what it left out; then the preview
            text[:2000], file=discord.File(io.BytesIO(made.data), filename=made.filename), ephemeral=True
        )
        await interaction.followup.send(
            embed=export_preview(self.bot, made),
            file=discord.File(io.BytesIO(chart), filename="attendance-score.png"),
            ephemeral=True,
        )
        await self.bot.post_staff_log(
            f"{interaction.user.mention} exported the gradebook{LMS_NAMES[format]} ({made.written} rows)"
        )

    @app_commands.command(name="audit", description="Recent staff actions and changes, newest first")
    @app_commands.describe(member="Only what concerns this member", limit="How many entries (default 50)")
    async def audit(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        limit: app_commands.Range[int, 1, AUDIT_MAX] = 50,
    ) -> None:
        card, view = await audit_page(self.bot, member.id if member else 0, limit, 0)
        await interaction.response.send_message(embed=card, view=view, ephemeral=True)

    @app_commands.command(
        name="announce", description="Post an announcement, optionally pinging the student role"
    )
    @app_commands.describe(text="The announcement", ping="Mention the student role")
    async def announce(self, interaction: discord.Interaction, text: str, ping: bool = False) -> None:
        if not text.strip() or len(text) > 1900:
            raise InvalidInput("An announcement is 1–1900 characters.")
        channel = self.bot.course_channel(self.bot.config.discord.channels.announcements)
        if channel is None:
            raise InvalidInput(
                f"The announcements channel `{self.bot.config.discord.channels.announcements}` does not exist."
            )
        role = (
            discord.utils.find(
                lambda r: role_matches(r, self.bot.config.discord.roles.student), channel.guild.roles
            )
            if ping
            else None
        )
        content = f"{role.mention} {text}" if role else text
        mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False)
        message = await channel.send(content, allowed_mentions=mentions)
        await interaction.response.send_message(
            f"Posted in {channel.mention}" + (" with a ping." if role else "."), ephemeral=True
        )
        await self.bot.services.record(
            actor_id=interaction.user.id, action="announce", message=message.id, ping=bool(role)
        )
        await self.bot.post_staff_log(
            f"{interaction.user.mention} posted an announcement{' (ping)' if role else ''}: {message.jump_url}"
        )


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, StaffToolsCog(bot))

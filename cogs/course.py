"""`/course` and `/schedule`: the course card and the 16-week plan."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.services import course, papers, reminders
from cogs._base import FeatureCog
from cogs._render import embed, short_date, when
from cogs.papers._render import mentions, talk_lines
from cogs.talks._render import slide_notes


class CourseCog(FeatureCog):
    @app_commands.command(
        name="course", description="The course card: staff, lectures, office hours, grading, links"
    )
    async def course_card(self, interaction: discord.Interaction) -> None:
        config, services = self.bot.config, self.bot.services
        info, lectures, office = config.course, config.lectures, config.office_hours
        card = embed(
            f"{info.code}: {info.name}",
            f"{info.term}" + (f" · {info.institution}" if info.institution else ""),
        )
        if info.description:
            card.description = f"{card.description}\n{info.description}"
        staff = "\n".join(
            f"{m.name} ({'Instructor' if m.role == 'instructor' else 'TA'})"
            + (f" · {m.email}" if m.email else "")
            for m in info.staff
        )
        card.add_field(name="Staff", value=staff or "—", inline=False)
        days = " & ".join(lectures.days)
        no_class = ", ".join(f"W{w}" for w in lectures.no_class_weeks)
        lecture_text = f"{days} {lectures.start:%H:%M}–{lectures.end:%H:%M} ({info.timezone})" + (
            f", {lectures.room}" if lectures.room else ""
        )
        if no_class:
            lecture_text += f"\nNo class in {no_class}"
        next_lecture = services.calendar.next_lecture(services.now())
        if next_lecture:
            lecture_text += f"\nNext: {when(next_lecture.starts_at)}"
        card.add_field(name="Lectures", value=lecture_text, inline=False)
        upcoming = await reminders.next_office_hours(services)  # with this week's change, if any
        office_text = f"{office.day} {office.start:%H:%M}–{office.end:%H:%M} at {office.place}" + (
            f", {office.note}" if office.note else ""
        )
        if upcoming is not None:
            change = (
                " (cancelled)"
                if upcoming.cancelled
                else f" at {upcoming.place} (moved)"
                if upcoming.moved
                else ""
            )
            office_text += f"\nNext: {when(upcoming.starts_at)}{change}"
        card.add_field(name="Office hours", value=office_text, inline=False)
        grading = config.course.grading
        card.add_field(
            name="Grading",
            value=(
                f"Attendance {grading.attendance}% · Presentation {grading.presentation}% · "
                f"Proposal {grading.proposal}% · Final {grading.final}%\n"
                f"Missing {config.attendance.fail_at} or more classes is an F."
            ),
            inline=False,
        )
        if info.links:
            card.add_field(
                name="Links",
                value="\n".join(f"[{link.label}]({link.url})" for link in info.links),
                inline=False,
            )
        calendar = services.calendar
        card.set_footer(
            text=f"Term: {calendar.term_start:%Y-%m-%d} to {calendar.term_end:%Y-%m-%d}, {info.weeks} weeks"
        )
        await interaction.response.send_message(embed=card, ephemeral=True)

    @app_commands.command(name="schedule", description="The weekly plan with dates and topics")
    @app_commands.describe(week="Show one week in detail (1–16)")
    async def schedule(
        self, interaction: discord.Interaction, week: app_commands.Range[int, 1, 52] | None = None
    ) -> None:
        services = self.bot.services
        if week is not None:
            plan = course.week_plan(services, week)
            talks = await papers.board(services, week) if plan.talk_date else []
            notes = await slide_notes(services, [t.number for t in talks], interaction.guild_id)
            await interaction.response.send_message(
                embed=self._week_embed(plan, talks, notes), ephemeral=True
            )
            return
        presenters: dict[int, list[int]] = {}
        for info in await papers.board(services):
            presenters.setdefault(info.week, []).extend(info.presenters)
        lines = []
        for plan in course.term_plan(services):
            line = f"**W{plan.week}** {short_date(plan.monday)} · {plan.topic}"
            if plan.no_class:
                line = f"**W{plan.week}** {short_date(plan.monday)} · *no class*"
            elif plan.talk_date:
                line += f" · student talks {short_date(plan.talk_date)}"
                if presenters.get(plan.week):
                    line += ": " + mentions(tuple(presenters[plan.week]))
            if plan.holidays:
                line += " · " + ", ".join(
                    f"no lecture {short_date(day)} ({name})" for day, name in plan.holidays
                )
            if plan.is_current:
                line = f"▶ {line} ← this week"
            lines.append(line)
        course_info = self.bot.config.course
        title = f"{course_info.code} schedule · {course_info.term}"
        await interaction.response.send_message(embed=embed(title, "\n".join(lines)), ephemeral=True)

    def _week_embed(
        self, plan: course.WeekPlan, talks: list[papers.PaperInfo], slides: dict[int, str] | None = None
    ) -> discord.Embed:
        title = f"Week {plan.week}: {plan.topic}" + (" (this week)" if plan.is_current else "")
        card = embed(title, f"{short_date(plan.monday)} – {short_date(plan.sunday)}")
        if plan.no_class:
            card.add_field(name="Lectures", value="No class this week.", inline=False)
        else:
            lectures = self.bot.config.lectures
            rows = []
            for lecture in plan.lectures:
                kind = "student talks" if plan.talk_date == lecture.date else "lecture"
                rows.append(
                    f"{when(lecture.starts_at)} · {kind}" + (f" · {lectures.room}" if lectures.room else "")
                )
            rows += [f"{short_date(day)}: no lecture ({name})" for day, name in plan.holidays]
            card.add_field(name="Lectures", value="\n".join(rows) or "—", inline=False)
        if plan.talk_date:
            order = "\n".join(talk_lines(talks, slides)) or "The paper list for this week is not out yet."
            card.add_field(
                name=f"Student talks on {short_date(plan.talk_date)}", value=order[:1024], inline=False
            )
        return card


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(CourseCog(bot))

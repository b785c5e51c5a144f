"""Peer review: `/review talk|poster|mine` (forms in a modal) and the staff's `/ta reviews`.
The rules live in bot/services/reviews.py."""

from __future__ import annotations

import io

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.errors import NotFound
from bot.services import groups, reviews
from bot.services.reviews import Feedback, ReviewInfo, Target
from cogs._base import FeatureCog, StaffCog, add_cogs, guarded
from cogs._render import bot_of, embed

# What each score means, per criterion in the order of `reviews.criteria(kind)`: "4 — clear".
SCALES: dict[str, tuple[tuple[str, str, str, str, str], ...]] = {
    "talk": (
        ("unclear", "vague", "understandable", "clear", "very clear"),  # the research question
        ("missing", "sketchy", "adequate", "thorough", "excellent"),  # the solution
        ("none named", "superficial", "some", "the main ones", "thorough"),  # the limitations
    ),
    "poster": (
        ("unclear", "hard to follow", "understandable", "clear", "very clear"),  # clarity
        ("unsound", "weak", "plausible", "solid", "rigorous"),  # soundness
        ("derivative", "a small twist", "some novelty", "original", "highly original"),  # originality
    ),
}


def score_select(words: tuple[str, ...], current: int | None) -> discord.ui.Select[ReviewForm]:
    """A required menu of the scores 1–5, each with what it means, `current` pre-selected."""
    return discord.ui.Select(
        placeholder="Pick a score from 1 to 5",
        options=[
            discord.SelectOption(label=f"{score} — {word}", value=str(score), default=score == current)
            for score, word in enumerate(words, start=1)
        ],
        min_values=1,
        max_values=1,
        required=True,
    )


class ReviewForm(discord.ui.Modal):
    """Three scores picked from menus (1–5) and a comment; pre-filled when editing. Whatever a client
    sends back, `reviews.submit` checks it."""

    def __init__(self, target: Target, existing: ReviewInfo | None) -> None:
        super().__init__(title=f"Review of {target.label}"[:45], timeout=900)
        self.target = target
        current: tuple[int | None, ...] = existing.scores if existing else (None, None, None)
        self.scores = [
            score_select(words, score) for words, score in zip(SCALES[target.kind], current, strict=True)
        ]
        self.comment: discord.ui.TextInput[ReviewForm] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=reviews.COMMENT_MAX,
            default=existing.comment if existing else None,
        )
        for name, select in zip(reviews.criteria(target.kind), self.scores, strict=True):
            self.add_item(discord.ui.Label(text=name[:45], component=select))
        self.add_item(discord.ui.Label(text="Comment (anonymous to the presenters)", component=self.comment))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        async def save() -> None:
            bot = bot_of(interaction)
            _, created = await reviews.submit(
                bot.services,
                kind=self.target.kind,
                target_id=self.target.target,
                reviewer_id=interaction.user.id,
                reviewer_name=interaction.user.name,
                scores=[",".join(item.values) for item in self.scores],  # one each, unless forged
                comment=self.comment.value,
            )
            verb = "saved" if created else "updated"
            await interaction.response.send_message(
                f"Review of {self.target.label} {verb}. You can edit it until {self.target.closes:%a %Y-%m-%d}.",
                ephemeral=True,
            )

        await guarded(interaction, save)


def feedback_embed(item: Feedback) -> discord.Embed:
    card = embed(f"Feedback on {item.target.label}", f"{item.count} review{'s' if item.count != 1 else ''}")
    if item.averages:
        for name, value in zip(reviews.criteria(item.target.kind), item.averages, strict=True):
            card.add_field(name=name, value=f"{value:.2f} / 5")
    field, fields = "", []
    for comment in item.comments:  # as many 1024-character fields as the embed allows
        line = f"• {comment}"[:1000] + "\n"
        if len(field) + len(line) > 1024:
            fields.append(field)
            field = ""
        field += line
    if field:
        fields.append(field)
    for index, text in enumerate(fields[:5]):
        card.add_field(name="Comments" if index == 0 else "\u200b", value=text.rstrip("\n"), inline=False)
    if len(fields) > 5:
        card.set_footer(text=f"{sum(1 for _ in item.comments)} comments; the longest list is cut here.")
    return card


def engagement_embed(mine: reviews.MyEngagement) -> discord.Embed:
    """The caller's own engagement: counts only."""
    total = mine.total
    card = embed(
        "Your engagement in others' talks",
        f"Reviews given: {total.reviews} · Questions asked: {total.questions}",
    )
    weeks = [
        f"W{week}: {e.reviews} review{'s' if e.reviews != 1 else ''}, "
        f"{e.questions} question{'s' if e.questions != 1 else ''}"
        for week, e in sorted(mine.weeks.items())
    ]
    if weeks:
        card.add_field(name="By week", value="\n".join(weeks)[:1024], inline=False)
    return card


class ReviewsCog(FeatureCog):
    review = app_commands.Group(
        name="review", description="Peer review of talks and posters", guild_only=True
    )

    @review.command(
        name="talk", description="Review a talk (on its day or the day after): three criteria and a comment"
    )
    @app_commands.describe(paper="The paper number of the talk")
    async def review_talk(self, interaction: discord.Interaction, paper: int) -> None:
        target = await reviews.talk_target(self.bot.services, paper)
        await self._open_form(interaction, target)

    @review_talk.autocomplete("paper")
    async def _talks(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        typed = current.strip().casefold()
        targets = await reviews.reviewable_talks(self.bot.services)
        return [
            app_commands.Choice(name=t.label[:100], value=t.target)
            for t in targets
            if typed in t.label.casefold()
        ][:25]

    @review.command(name="poster", description="Review a group's poster at the poster session")
    @app_commands.describe(group="The group's name")
    async def review_poster(self, interaction: discord.Interaction, group: str) -> None:
        target = await reviews.poster_target(self.bot.services, group)
        await self._open_form(interaction, target)

    @review_poster.autocomplete("group")
    async def _groups(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        typed = current.strip().casefold()
        names = [
            g.name for g in await groups.all_groups(self.bot.services) if interaction.user.id not in g.members
        ]
        return [app_commands.Choice(name=n, value=n) for n in names if typed in n.casefold()][:25]

    async def _open_form(self, interaction: discord.Interaction, target: Target) -> None:
        reviews.check_can_review(self.bot.services, target, interaction.user.id)
        existing = await reviews.existing_review(self.bot.services, target, interaction.user.id)
        await interaction.response.send_modal(ReviewForm(target, existing))

    @review.command(
        name="mine", description="Feedback on your talk or poster: averages and comments, anonymous"
    )
    async def mine(self, interaction: discord.Interaction) -> None:
        mine = await reviews.my_engagement(self.bot.services, interaction.user.id)
        try:
            found = await reviews.my_feedback(self.bot.services, interaction.user.id)
        except NotFound as nothing:
            if not mine.total.total:
                raise
            await interaction.response.send_message(
                str(nothing), embed=engagement_embed(mine), ephemeral=True
            )
            return
        cards = [feedback_embed(f) for f in found[:9]]
        if mine.total.total:
            cards.append(engagement_embed(mine))
        await interaction.response.send_message(embeds=cards, ephemeral=True)


class ReviewsStaffCog(StaffCog):
    @app_commands.command(
        name="reviews", description="All reviews with names, averages per talk and poster, engagement"
    )
    @app_commands.describe(week="Only this week")
    async def staff_reviews(
        self, interaction: discord.Interaction, week: app_commands.Range[int, 1, 52] | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        view = await reviews.staff_view(self.bot.services, week)
        lines = []
        for item in view.feedback:
            averages = " · ".join(f"{v:.1f}" for v in item.averages) if item.averages else "—"
            lines.append(
                f"**{item.target.label}** ({item.target.kind}, W{item.target.week}): {item.count} reviews · {averages}"
            )
        details = [
            f"<@{info.reviewer_id}> → {target.label}: {'/'.join(map(str, info.scores))}"
            + (f" — {info.comment[:80]}" if info.comment else "")
            for target, info in view.reviews
        ]
        engagement = ", ".join(
            f"<@{s}> {e.total} ({e.reviews}+{e.questions})"
            for s, e in sorted(view.engaged.items(), key=lambda kv: (-kv[1].total, kv[0]))
        )
        card = embed(
            "Peer reviews" + (f" · week {week}" if week else ""), "\n".join(lines)[:4000] or "No reviews yet."
        )
        if details:
            card.add_field(name="Reviews (with reviewers)", value="\n".join(details)[:1024], inline=False)
        card.add_field(name="Engagement (reviews + questions)", value=engagement[:1024] or "—", inline=False)
        card.set_footer(text="Every review with its reviewer, and everyone's engagement: the attached CSV.")
        names = {m.id: m.display_name for m in self.bot.student_members()}
        file = discord.File(
            io.BytesIO(reviews.reviews_csv(view, names)),
            filename=f"reviews{f'-week{week}' if week else ''}.csv",
        )
        await interaction.followup.send(embed=card, file=file, ephemeral=True)


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, ReviewsCog(bot), ReviewsStaffCog(bot))

"""Peer review of talks and posters, and engagement (reviews given plus questions asked).

Rules: a talk is reviewed on its day or within `reviews.talk_window_days`; a poster during the
poster session's window; never your own talk or group; one review per reviewer and target,
editable until the window closes. Presenters and groups see only averages and comments, without
names, once the window has closed; the staff see everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Group, GroupMember, Paper, Presenter, Review, TalkQuestion
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services import Services
from bot.services.csv_out import Cell, csv_bytes
from bot.services.students import ensure_student
from bot.services.talk_day.questions import questions_asked

TALK_CRITERIA = ("Clarity of the research question", "Description of the solution", "Limitations identified")
POSTER_CRITERIA = ("Clarity", "Soundness", "Originality")
COMMENT_MAX = 1000
REVIEWS_LOCK = "reviews"


@dataclass(frozen=True)
class Target:
    kind: str  # talk or poster
    target: int  # paper number or group id
    label: str  # "paper 12 — Title" or "group Sparse Squad"
    week: int
    opens: date
    closes: date  # last day reviews are accepted
    owners: tuple[int, ...]  # presenters or group members


@dataclass(frozen=True)
class ReviewInfo:
    kind: str
    target: int
    reviewer_id: int
    scores: tuple[int, int, int]
    comment: str
    updated_at: datetime


@dataclass(frozen=True)
class Feedback:
    target: Target
    count: int
    averages: tuple[float, float, float] | None
    comments: tuple[str, ...]  # without names, in no particular order


def criteria(kind: str) -> tuple[str, str, str]:
    return TALK_CRITERIA if kind == "talk" else POSTER_CRITERIA


def parse_scores(values: Sequence[str]) -> tuple[int, int, int]:
    """Three scores from 1 to 5. Raises InvalidInput naming the bad one."""
    scores = []
    for value in values:
        text = value.strip()
        if not text:  # a menu sent back with no pick
            raise InvalidInput("Give a score from 1 to 5 for every criterion.")
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 5:  # not "²" or "٣"
            raise InvalidInput(f"`{text[:10]}` is not a score: use a whole number from 1 to 5.")
        scores.append(int(text))
    if len(scores) != 3:
        raise InvalidInput("Give three scores.")
    return scores[0], scores[1], scores[2]


def clean_comment(text: str) -> str:
    comment = text.strip()
    if len(comment) > COMMENT_MAX:
        raise InvalidInput(f"The comment must be at most {COMMENT_MAX} characters.")
    if "@everyone" in comment or "@here" in comment:
        raise InvalidInput("The comment cannot contain @everyone or @here.")
    return comment


# ---- targets ---------------------------------------------------------------------------------
async def _talk_target(services: Services, session: AsyncSession, number: int) -> Target:
    paper = await session.get(Paper, number)
    if paper is None:
        raise NotFound(f"There is no paper {number}; see `/papers`.")
    presenters = tuple(
        (await session.scalars(select(Presenter.discord_id).where(Presenter.paper_number == number))).all()
    )
    if not presenters:
        raise NotFound(f"Nobody presents paper {number}, so there is no talk to review.")
    day = services.calendar.talk_date(paper.week)
    window = services.config.reviews.talk_window_days
    return Target(
        "talk",
        number,
        f"paper {number} — {paper.title}",
        paper.week,
        day,
        day + timedelta(days=window - 1),
        presenters,
    )


def poster_day(services: Services) -> date:
    moment = services.calendar.resolve_moment(services.config.reviews.poster_session)
    if moment is None:
        raise NotAllowed("No poster session is configured.")
    return services.calendar.local_date(moment)


async def _poster_target(services: Services, session: AsyncSession, group: Group) -> Target:
    members = tuple(
        (await session.scalars(select(GroupMember.discord_id).where(GroupMember.group_id == group.id))).all()
    )
    day = poster_day(services)
    window = services.config.reviews.poster_window_days
    week = services.calendar.week_of(day) or services.config.course.weeks
    return Target(
        "poster", group.id, f"group {group.name}", week, day, day + timedelta(days=window - 1), members
    )


async def talk_target(services: Services, number: int) -> Target:
    async with services.db.read() as session:
        return await _talk_target(services, session, number)


async def poster_target(services: Services, group_name: str) -> Target:
    async with services.db.read() as session:
        group = await session.scalar(
            select(Group).where(Group.name_key == " ".join(group_name.split()).casefold())
        )
        if group is None:
            raise NotFound(f"There is no group called `{group_name[:40]}`; see `/group list`.")
        return await _poster_target(services, session, group)


def _check_window(services: Services, target: Target) -> None:
    today = services.calendar.local_date(services.now())
    if today < target.opens:
        raise NotAllowed(f"Reviews of {target.label} open on {target.opens:%a %Y-%m-%d}.")
    if today > target.closes:
        raise NotAllowed(f"Reviews of {target.label} closed on {target.closes:%a %Y-%m-%d}.")


async def existing_review(services: Services, target: Target, reviewer_id: int) -> ReviewInfo | None:
    """The reviewer's own review of `target` (to pre-fill the form)."""
    async with services.db.read() as session:
        row = await session.scalar(
            select(Review).where(
                Review.kind == target.kind, Review.target == target.target, Review.reviewer_id == reviewer_id
            )
        )
        return _info(row) if row else None


def _info(row: Review) -> ReviewInfo:
    return ReviewInfo(
        row.kind,
        row.target,
        row.reviewer_id,
        (row.score_1, row.score_2, row.score_3),
        row.comment,
        row.updated_at,
    )


def check_can_review(services: Services, target: Target, reviewer_id: int) -> None:
    """Raises NotAllowed outside the window or for your own talk/group."""
    if reviewer_id in target.owners:
        raise NotAllowed(
            "You cannot review your own talk."
            if target.kind == "talk"
            else "You cannot review your own group's poster."
        )
    _check_window(services, target)


async def submit(
    services: Services,
    *,
    kind: str,
    target_id: int,
    reviewer_id: int,
    reviewer_name: str | None,
    scores: Sequence[str],
    comment: str,
) -> tuple[ReviewInfo, bool]:
    """Save (or edit) a review; returns it and whether it was new. Everything is re-checked here.
    Raises InvalidInput, NotFound or NotAllowed."""
    parsed, text = parse_scores(scores), clean_comment(comment)
    now = services.now()
    async with services.db.write(REVIEWS_LOCK) as session:
        if kind == "talk":
            target = await _talk_target(services, session, target_id)
        else:
            group = await session.get(Group, target_id)
            if group is None:
                raise NotFound("That group no longer exists.")
            target = await _poster_target(services, session, group)
        check_can_review(services, target, reviewer_id)
        await ensure_student(session, discord_id=reviewer_id, discord_name=reviewer_name, joined_at=now)
        row = await session.scalar(
            select(Review)
            .where(Review.kind == kind, Review.target == target_id, Review.reviewer_id == reviewer_id)
            .with_for_update()
        )
        created = row is None
        if row is None:
            row = Review(
                kind=kind, target=target_id, week=target.week, reviewer_id=reviewer_id, created_at=now
            )
            session.add(row)
        row.score_1, row.score_2, row.score_3 = parsed
        row.comment, row.updated_at = text, now
        await session.flush()
        audit(session, at=now, actor_id=reviewer_id, action=f"review.{kind}", target=target_id, new=created)
        return _info(row), created


# ---- reading ---------------------------------------------------------------------------------
def _feedback(target: Target, rows: Sequence[Review]) -> Feedback:
    if not rows:
        return Feedback(target, 0, None, ())
    count = len(rows)
    averages = (
        sum(r.score_1 for r in rows) / count,
        sum(r.score_2 for r in rows) / count,
        sum(r.score_3 for r in rows) / count,
    )
    comments = tuple(sorted(r.comment for r in rows if r.comment))  # sorted: order reveals nothing
    return Feedback(target, count, averages, comments)


async def my_feedback(services: Services, discord_id: int) -> list[Feedback]:
    """Feedback on the caller's talk(s) and group poster whose review window has closed.
    Raises NotFound when there is nothing to show yet (with the reason)."""
    today = services.calendar.local_date(services.now())
    results: list[Feedback] = []
    pending: list[Target] = []
    async with services.db.read() as session:
        targets = [
            await _talk_target(services, session, number)
            for number in (
                await session.scalars(
                    select(Presenter.paper_number).where(Presenter.discord_id == discord_id)
                )
            ).all()
        ]
        group_id = await session.scalar(
            select(GroupMember.group_id).where(GroupMember.discord_id == discord_id)
        )
        if group_id is not None:
            group = await session.get(Group, group_id)
            if (
                group is not None
                and services.calendar.resolve_moment(services.config.reviews.poster_session) is not None
            ):
                targets.append(await _poster_target(services, session, group))
        for target in targets:
            if today <= target.closes:
                pending.append(target)
                continue
            rows = (
                await session.scalars(
                    select(Review).where(Review.kind == target.kind, Review.target == target.target)
                )
            ).all()
            results.append(_feedback(target, rows))
    if not results:
        if pending:
            first = min(pending, key=lambda t: t.closes)
            raise NotFound(
                f"Feedback on {first.label} is shown after its review window closes ({first.closes:%a %Y-%m-%d})."
            )
        raise NotFound("You have no talk or group poster with feedback.")
    return results


@dataclass(frozen=True)
class Engagement:
    """The syllabus's fourth talk criterion: reviews given plus questions asked."""

    reviews: int = 0
    questions: int = 0

    @property
    def total(self) -> int:
        return self.reviews + self.questions


async def engagement(
    services: Services, session: AsyncSession, week: int | None = None
) -> dict[int, Engagement]:
    """Each student's engagement, in one week or in all: the one count `/ta reviews`, `/review
    mine` and the gradebook show. Students with none are not in it."""
    given = await reviews_given(session, week)
    asked = await questions_asked(session, cap=services.config.talks.questions_per_talk, week=week)
    return {
        student: Engagement(given.get(student, 0), asked.get(student, 0))
        for student in set(given) | set(asked)
        if given.get(student, 0) or asked.get(student, 0)
    }


@dataclass(frozen=True)
class MyEngagement:
    total: Engagement
    weeks: dict[int, Engagement]  # the weeks with any


async def my_engagement(services: Services, discord_id: int) -> MyEngagement:
    """The caller's own engagement (counts only), in all and per week."""
    async with services.db.read() as session:
        total = (await engagement(services, session)).get(discord_id, Engagement())
        weeks = sorted(
            set((await session.scalars(select(Review.week).where(Review.reviewer_id == discord_id))).all())
            | set(await _question_weeks(session, discord_id))
        )
        per_week = {}
        for week in weeks:
            found = (await engagement(services, session, week)).get(discord_id)
            if found is not None:
                per_week[week] = found
    return MyEngagement(total, per_week)


async def _question_weeks(session: AsyncSession, discord_id: int) -> list[int]:
    return list(
        (await session.scalars(select(TalkQuestion.week).where(TalkQuestion.asker_id == discord_id))).all()
    )


@dataclass(frozen=True)
class StaffView:
    feedback: tuple[Feedback, ...]
    reviews: tuple[tuple[Target, ReviewInfo], ...]  # with reviewer ids
    given: dict[int, int]  # reviews given per student
    engaged: dict[int, Engagement]  # engagement per student: reviews given and questions asked


async def staff_view(services: Services, week: int | None = None) -> StaffView:
    """Everything, with reviewer names: per talk and poster, and engagement per student."""
    async with services.db.read() as session:
        query = select(Review).order_by(Review.kind, Review.target, Review.id)
        if week is not None:
            query = query.where(Review.week == week)
        rows = list((await session.scalars(query)).all())
        targets: dict[tuple[str, int], Target] = {}
        for row in rows:
            key = (row.kind, row.target)
            if key in targets:
                continue
            try:
                if row.kind == "talk":
                    targets[key] = await _talk_target(services, session, row.target)
                else:
                    group = await session.get(Group, row.target)
                    if group is not None:
                        targets[key] = await _poster_target(services, session, group)
            except (NotFound, NotAllowed):
                continue  # paper removed or presenters gone: reviews stay in the engagement count
        given = await reviews_given(session, week)
        engaged = await engagement(services, session, week)
    feedback = tuple(
        _feedback(t, [r for r in rows if (r.kind, r.target) == key]) for key, t in targets.items()
    )
    reviews = tuple((targets[(r.kind, r.target)], _info(r)) for r in rows if (r.kind, r.target) in targets)
    return StaffView(feedback, reviews, given, engaged)


async def reviews_given(session: AsyncSession, week: int | None = None) -> dict[int, int]:
    """Reviews given per student (engagement), in one week or in all."""
    query = select(Review.reviewer_id, func.count()).group_by(Review.reviewer_id)
    if week is not None:
        query = query.where(Review.week == week)
    rows = await session.execute(query)
    return {reviewer: count for reviewer, count in rows.all()}


async def reviewable_talks(services: Services) -> list[Target]:
    """Talks whose review window is open today (for autocomplete)."""
    today = services.calendar.local_date(services.now())
    async with services.db.read() as session:
        numbers = (await session.scalars(select(Paper.number).order_by(Paper.week, Paper.number))).all()
        found = []
        for number in numbers:
            try:
                target = await _talk_target(services, session, number)
            except NotFound:
                continue
            if target.opens <= today <= target.closes:
                found.append(target)
        return found


# ---- who the review reminder goes to (see bot/services/talks.py) ------------------------------
async def students_without_review(services: Services, week: int, candidates: Sequence[int]) -> list[int]:
    """Of `candidates`, those who reviewed no talk of `week` and present none that week."""
    async with services.db.read() as session:
        reviewed = set(
            (
                await session.scalars(
                    select(Review.reviewer_id).where(Review.kind == "talk", Review.week == week)
                )
            ).all()
        )
        presenting = set(
            (
                await session.scalars(
                    select(Presenter.discord_id)
                    .join(Paper, Paper.number == Presenter.paper_number)
                    .where(Paper.week == week)
                )
            ).all()
        )
    return [c for c in candidates if c not in reviewed and c not in presenting]


async def students_without_engagement(services: Services, week: int, candidates: Sequence[int]) -> list[int]:
    """Of `candidates`, those with no review and no question in `week` who present none that week
    (for the engagement reminder, see bot/services/talk_day/threads.py)."""
    async with services.db.read() as session:
        engaged = set(await engagement(services, session, week))
        presenting = set(
            (
                await session.scalars(
                    select(Presenter.discord_id)
                    .join(Paper, Paper.number == Presenter.paper_number)
                    .where(Paper.week == week)
                )
            ).all()
        )
    return [c for c in candidates if c not in engaged and c not in presenting]


def reviews_csv(view: StaffView, names: dict[int, str]) -> bytes:
    """Every review with its reviewer, then engagement per student (names by discord id), in one CSV
    (`csv_out`: UTF-8 with a byte-order mark, formulas neutralised)."""
    rows: list[list[Cell]] = [
        [
            target.kind,
            target.label,
            target.week,
            info.reviewer_id,
            names.get(info.reviewer_id, ""),
            *info.scores,
            info.comment,
        ]
        for target, info in view.reviews
    ]
    rows.append([])
    rows.append(["student_id", "student", "reviews_given", "questions_asked", "engagement"])
    for discord_id in sorted(set(names) | set(view.engaged), key=lambda i: names.get(i, "")):
        counts = view.engaged.get(discord_id, Engagement())
        rows.append([discord_id, names.get(discord_id, ""), counts.reviews, counts.questions, counts.total])
    header = ["kind", "target", "week", "reviewer_id", "reviewer", "score_1", "score_2", "score_3", "comment"]
    return csv_bytes(header, rows)

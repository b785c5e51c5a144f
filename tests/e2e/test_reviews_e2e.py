"""The peer-review form end to end: `coursebot run` as a process against the local fake Discord.

`/review talk` answers with a modal of labelled select menus (Label, type 18, around a String Select,
type 3) and a labelled paragraph input, which Discord's OpenAPI description accepts (every body is
checked, tests/e2e/conftest.py). A submission with a value no menu offers (a modified client) is
refused with one line and saves nothing; a real one is saved; opening the form again pre-selects
the saved scores, and a submission that keeps them sends them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot_process import CourseRun
from test_crash_promises_e2e import ANSWER_TIMEOUT, make_course

__all__ = ["make_course"]  # the fixture, shared with the crash tests

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
PAPER_1 = "paper 1 — Deduplicating Training Data Makes Language Models Better"
CRITERIA = ["Clarity of the research question", "Description of the solution", "Limitations identified"]


def text_of(result: Any) -> str:
    message = result.followups[-1] if result.followups else (result.original or result.data)
    return str(message.get("content") or "")


def form_of(result: Any) -> tuple[list[str], str, list[dict[str, Any]]]:
    """The menus' custom ids, the comment's, and the menus (from the modal the bot showed)."""
    assert result.type == 9 and result.modal, (result.type, text_of(result))
    rows = result.modal["components"]
    assert [row["type"] for row in rows] == [18, 18, 18, 18]
    assert [row["label"] for row in rows] == [*CRITERIA, "Comment (anonymous to the presenters)"]
    menus = [row["component"] for row in rows[:3]]
    comment = rows[3]["component"]
    assert [m["type"] for m in menus] == [3, 3, 3] and comment["type"] == 4 and comment["style"] == 2
    return [m["custom_id"] for m in menus], comment["custom_id"], menus


async def test_the_review_form_uses_menus_and_the_bot_checks_what_comes_back(make_course: Any) -> None:
    course: CourseRun = await make_course(2)
    presenter, reviewer = course.server.students
    await course.bot.start("2025-04-30 12:00")  # the talk day of week 9
    imported = await course.slash(course.server.ta, "ta paper import", {"file": ("papers.csv", SAMPLE)})
    assert "21 added" in text_of(imported), text_of(imported)
    assigned = await course.slash(course.server.ta, "ta paper assign", {"member": presenter, "number": 1})
    assert "paper 1" in text_of(assigned).lower(), text_of(assigned)

    shown = await course.slash(reviewer, "review talk", {"paper": 1})
    ids, comment, menus = form_of(shown)
    for menu in menus:
        assert [o["value"] for o in menu["options"]] == ["1", "2", "3", "4", "5"]
        assert not any(o.get("default") for o in menu["options"])  # a new review starts empty
        assert (menu.get("min_values"), menu.get("max_values"), menu.get("required")) == (1, 1, True)

    # a modified client sends a value no menu offers: one line, nothing saved
    forged = await course.fd.submit_modal(
        shown, {ids[0]: ["4"], ids[1]: ["9"], ids[2]: ["3"], comment: "forged"}, timeout=ANSWER_TIMEOUT
    )
    assert text_of(forged) == "`9` is not a score: use a whole number from 1 to 5.", text_of(forged)
    assert await course.database.rows("SELECT count(*) FROM reviews") == [(0,)]

    shown = await course.slash(reviewer, "review talk", {"paper": 1})
    ids, comment, _ = form_of(shown)
    saved = await course.fd.submit_modal(
        shown, {ids[0]: ["4"], ids[1]: ["5"], ids[2]: ["3"], comment: "Clear."}, timeout=ANSWER_TIMEOUT
    )
    assert text_of(saved) == f"Review of {PAPER_1} saved. You can edit it until Thu 2025-05-01."

    # editing: the saved scores are pre-selected; changing one sends the others as shown
    shown = await course.slash(reviewer, "review talk", {"paper": 1})
    ids, comment, menus = form_of(shown)
    assert [[o["value"] for o in m["options"] if o.get("default")] for m in menus] == [["4"], ["5"], ["3"]]
    edited = await course.fd.submit_modal(shown, {ids[1]: ["2"]}, timeout=ANSWER_TIMEOUT)
    assert text_of(edited) == f"Review of {PAPER_1} updated. You can edit it until Thu 2025-05-01."
    assert await course.database.rows("SELECT score_1, score_2, score_3, comment FROM reviews") == [
        (4, 2, 3, "Clear.")
    ]
    await course.bot.stop()

"""Every `examples/sandbox-*.txt` story, run as a process through `coursebot sandbox --script`.

Each story must exit 0 without a traceback, show a `!!` error line only where the story shows one
on purpose (a student trying a `/ta` command Discord hides from them), and tell its story: a few
key lines per command are checked. The reviews story runs with `--now "2025-04-30 12:30"` (the
talk day of week 9); the others use the sandbox's default clock, the first lecture of week 2,
which it uses only when today is outside the term.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from bot.calendar import CourseCalendar
from bot.clock import system_now
from bot.config import Config
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
HIDDEN_TA = "!! Command '/ta' is not visible to this user here — a real user could not run it (reason: default-member-permissions)"
DEFAULT_START = (
    "today is outside the term; the clock starts at the first lecture of week 2 (2025-03-10 11:00 KST)"
)


@dataclass(frozen=True)
class Story:
    now: str | None = None  # --now, or None for the default clock
    # command line (with " #2" for its second run) → texts its output must contain
    expect: dict[str, list[str]] = field(default_factory=dict)
    # command line → texts its output must NOT contain
    forbid: dict[str, list[str]] = field(default_factory=dict)
    # command lines whose output is a deliberate `!!` line, with that line
    errors: dict[str, str] = field(default_factory=dict)


STORIES: dict[str, Story] = {
    "sandbox-first-week.txt": Story(
        expect={
            "alice: /course": ["EECE695D: Efficient ML Systems", "Terarosa Coffee"],
            "alice: /schedule week:9": ["== Week 9: Data Efficiency ==", "student talks"],
            "alice: /register student_id:20251234 name:Alice Kim": ["Registered: `20251234` · Alice Kim."],
            "alice: /register student_id:20251235 name:Alice Kim": [
                "Registration updated: `20251235` · Alice Kim (was `20251234` · Alice Kim)."
            ],
            "bob: /register student_id:20251235 name:Bob Lee": ["already registered to another account"],
            "bob: /register student_id:abc name:Bob Lee": ["`abc` is not a valid student id"],
            "ta: /ta student member:alice": ["== alice ==", "`20251235` · Alice Kim"],
        },
        errors={"bob: /ta student member:alice": HIDDEN_TA},
    ),
    "sandbox-signup-story.txt": Story(
        expect={
            "ta: /ta paper import file:data/papers.sample.csv": ["Imported: 21 added, 0 updated."],
            "alice: /signup paper number:4": ["You present paper 4 — GPTQ"],
            "carol: /signup paper number:4": ["Paper 4 is full, so you are on its waitlist at position 1."],
            "dave: /signup paper number:4": ["on its waitlist at position 2"],
            "alice: /signup withdraw": [
                "You no longer present paper 4.",
                "[DM to carol] Good news: a slot opened and you moved up from the waitlist.",
            ],
            "carol: /signup swap member:erin": [
                "Swap offered to @erin",
                "[DM to erin] @carol offers to swap",
            ],
            "erin: click Accept": [
                "Swapped: you now present paper 4.",
                "[DM to carol] @erin accepted your swap: you now present paper 12.",
            ],
            "alice: /signup paper number:0": ["`0` is not a paper number; see `/papers`."],
            "ta: /ta signups close": ["Paper sign-up is now closed"],
            "alice: /signup paper number:5": ["Paper sign-up has been closed by the staff."],
            "ta: /ta paper assign member:alice number:5": ["@alice now presents paper 5"],
            "alice: /schedule week:10": ["paper 4 — GPTQ", "@bob, @erin", "paper 5 — SparseGPT", "@alice"],
        },
        errors={"alice: /ta signups close": HIDDEN_TA},
    ),
    "sandbox-groups-story.txt": Story(
        expect={
            "alice: /group create name:Sparse Squad": ["Created group Sparse Squad."],
            "bob: /group create name:sparse squad": ["The name `sparse squad` is taken; choose another."],
            "alice: /group invite member:bob": [
                "[DM to bob] @alice invites you to project group Sparse Squad"
            ],
            "bob: click Accept": ["You joined group Sparse Squad."],
            "carol: /group create name:<@123> hack": ["cannot contain mentions"],
            "ta: click Confirm": ["Done: 3 students placed in 2 groups."],
            "ta: /ta group lock": ["All groups locked"],
            "dave: /group leave": ["Groups are locked; ask the staff to move you"],
            "ta: /ta group move member:dave group:Sparse Squad": ["Group Sparse Squad is full (3 members)."],
            "alice: /group list": ["== Project groups (2) =="],
        },
    ),
    "sandbox-reminders-story.txt": Story(
        expect={
            "alice: /officehours": ["== Office hours ==", "Terarosa Coffee"],
            "alice: click Subscribe": ["Office-hours reminders are on"],
            "bob: /reminders category:deadlines enabled:False": ["deadlines reminders are now off."],
            "ta: /ta deadline add key:quiz1 title:Quiz 1 (in class) due:2025-03-12 11:00 remind:1d,1h": [
                "Deadline `quiz1`: Quiz 1 (in class)"
            ],
            "ta: /ta officehours move date:2025-03-12 start:16:00 place:PIAI 3rd floor lounge": [
                "[#announcements] @Student ☕ Office hours on Wed Mar 12 **moved**",
                "[DM to alice] ☕ Office hours on Wed Mar 12 **moved**",
            ],
            "!advance 1d": [
                "now: Tue 2025-03-11 11:00 KST",
                "[#announcements] @Student ⏰ **Quiz 1 (in class)** is due",
                "[DM to alice] ⏰ **Quiz 1 (in class)**",
            ],
        },
        forbid={
            "!advance 1d": ["[DM to bob]"],  # Bob turned deadline reminders off
            "ta: /ta officehours move date:2025-03-12 start:16:00 place:PIAI 3rd floor lounge": [
                "[DM to bob]"  # only Alice subscribed to office hours
            ],
        },
    ),
    "sandbox-attendance-story.txt": Story(
        expect={
            "ta: /ta attendance open minutes:15": ["Check-in is open for the lecture of Mon 2025-03-10"],
            "bob: /checkin code:WRONG1": ["Wrong code; 2 tries left."],
            "bob: /checkin code:WRONG3": [
                "you are locked out of this check-in",
                "[#ta-log] 🔒 @bob is locked out",
            ],
            "!advance 12m": ["now: Mon 2025-03-10 11:12 KST"],
            "carol: /checkin code:{code}": ["late (more than 10 minutes after the start)"],
            "ta: /ta attendance close": [
                "Check-in for Mon 2025-03-10 is closed.",
                "[DM to bob] Attendance notice",
            ],
            "dave: /attendance": ["Absent:", "Mon 03-10: absent"],
            "dave: /excuse date:2025-03-10 reason:I had a fever": [
                "Your request #1 to excuse Mon 2025-03-10"
            ],
            "ta: click Approve #1": ["Excuse #1 of @dave for 2025-03-10: approved."],
            "dave: /attendance #2": ["Excused:", "Mon 03-10: excused"],
            "ta: /ta attendance mark member:erin date:2025-03-10 status:late": [
                "@erin: late on Mon 2025-03-10."
            ],
            "ta: /ta attendance report": ["attendance.png", "attendance.csv"],
            "ta: click Open an extra session": ["Check-in is open for an extra session"],
        },
    ),
    "sandbox-reviews-story.txt": Story(
        now="2025-04-30 12:30",
        expect={
            "ta: /ta paper import file:data/papers.sample.csv": ["Imported: 21 added, 0 updated."],
            "carol: /review talk paper:1": [
                "[form for carol] Review of paper 1",
                "Clarity of the research question (1–5)",
            ],
            "carol: form 4 | 5 | 3 | Clear question; the limitations needed more time.": [
                "saved. You can edit it until Thu 2025-05-01."
            ],
            "dave: form 5 | 4 | 4 | Great demo.": ["saved. You can edit it until Thu 2025-05-01."],
            "erin: form 9 | 4 | 4 | too high": ["`9` is not a score: use a whole number from 1 to 5."],
            "alice: /review talk paper:1": ["You cannot review your own talk."],
            "!advance 2d": ["now: Fri 2025-05-02 12:30 KST"],
            "ta: /ta reviews week:9": [
                "== Peer reviews · week 9 ==",
                "2 reviews · 4.5 · 4.5 · 3.5",
                "@carol → paper 1",
                "@dave → paper 1",
                "@carol 1, @dave 1",
            ],
        },
        forbid={"ta: /ta reviews week:9": ["@erin"]},  # Erin's bad form saved nothing
    ),
}


def split_key(key: str) -> tuple[str, int]:
    """`dave: /attendance #2` → the command and the index of its run (0 for the first)."""
    if key[-3:] in (" #2", " #3", " #4"):
        return key[:-3], int(key[-1]) - 1
    return key, 0


@dataclass
class Transcript:
    first_line: str
    blocks: list[tuple[str, str]]  # (command line, everything printed for it)
    stdout: str
    stderr: str

    def output(self, key: str, occurrence: int = 0) -> str:
        """What a command printed; `cmd #2` (or occurrence=1) for its second run."""
        command, nth = split_key(key)
        occurrence = max(occurrence, nth)
        found = [text for line, text in self.blocks if line == command]
        assert len(found) > occurrence, f"`{command}` was not run"
        return found[occurrence]


def run_story(name: str, story: Story) -> Transcript:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    args = [sys.executable, "-m", "bot", "sandbox", "--script", str(EXAMPLES / name)]
    if story.now:
        args += ["--now", story.now]
    done = subprocess.run(
        args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    lines = done.stdout.splitlines()
    blocks: list[tuple[str, list[str]]] = []
    for line in lines[2:]:
        if line.startswith("> "):
            blocks.append((line[2:], []))
        else:
            assert blocks, f"output before the first command: {line!r}"
            blocks[-1][1].append(line)
    return Transcript(lines[0], [(c, "\n".join(out)) for c, out in blocks], done.stdout, done.stderr)


def script_lines(name: str) -> list[str]:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_every_story_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("sandbox-*.txt")) == sorted(STORIES)


@pytest.mark.parametrize("name", sorted(STORIES))
def test_the_expectations_name_real_commands_of_the_story(name: str) -> None:
    lines = script_lines(name)
    story = STORIES[name]
    for key in [*story.expect, *story.forbid, *story.errors]:
        command, nth = split_key(key)
        assert lines.count(command) > nth, f"{name} has no line `{key}`"


@pytest.mark.parametrize("name", sorted(STORIES))
def test_the_story_runs(name: str, config: Config) -> None:
    story = STORIES[name]
    if story.now is None and CourseCalendar(config).current_week(system_now()) is not None:
        pytest.skip("today is inside the configured term, so the sandbox clock starts today")
    transcript = run_story(name, story)
    assert "Traceback" not in transcript.stdout and "Traceback" not in transcript.stderr, transcript.stderr
    assert transcript.first_line == (f"clock starts at {story.now} KST" if story.now else DEFAULT_START)
    # every line of the script ran, in order
    assert [command for command, _ in transcript.blocks] == script_lines(name)
    # `!!` (a sandbox or simcord error) and `??` (a line it did not understand) only where meant
    errors = {
        command: [line for line in text.splitlines() if line.startswith(("!!", "??"))]
        for command, text in transcript.blocks
    }
    assert {command: found for command, found in errors.items() if found} == {
        command: [line] for command, line in story.errors.items()
    }
    for command, texts in story.expect.items():
        output = transcript.output(command)
        for text in texts:
            assert text in output, f"`{command}` did not show {text!r}:\n{output}"
    for command, texts in story.forbid.items():
        output = transcript.output(command)
        for text in texts:
            assert text not in output, f"`{command}` showed {text!r}:\n{output}"
    if name == "sandbox-reviews-story.txt":
        check_reviews_story(transcript)


def check_reviews_story(transcript: Transcript) -> None:
    """`/review mine` first says when, then shows exact averages and comments, without names."""
    before = transcript.output("alice: /review mine", 0)
    assert before == (
        "[alice · only you] Feedback on paper 1 — Deduplicating Training Data Makes Language Models "
        "Better is shown after its review window closes (Thu 2025-05-01)."
    )
    after = transcript.output("alice: /review mine", 1)
    assert after.splitlines() == [
        "[alice · only you] == Feedback on paper 1 — Deduplicating Training Data Makes Language Models Better ==",
        "    2 reviews",
        "    -- Clarity of the research question:",
        "       4.50 / 5",
        "    -- Description of the solution:",
        "       4.50 / 5",
        "    -- Limitations identified:",
        "       3.50 / 5",
        "    -- Comments:",
        "       • Clear question; the limitations needed more time.",
        "       • Great demo.",
    ]
    assert "@" not in after and "carol" not in after and "dave" not in after

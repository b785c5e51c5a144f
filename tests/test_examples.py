"""Every `examples/sandbox-*.txt` story, run as a process the way its first line says
(`# coursebot sandbox [--empty] [--now …] --script examples/NAME.txt`), with a database file kept so
the outbox can be checked afterwards.

Each story must exit 0 without a traceback, show a `??`/`!!` line only where the story shows one on
purpose (a student trying a `/ta` command Discord hides from them, a score no menu offers), tell its
story (a few key lines per command are checked, posts with their simulated time), and show every
reminder it schedules:
no outbox row skipped because its event had passed, and every row sent during the story printed.
Stories without `--now` use the sandbox's default clock, the first lecture of week 2, which it uses
only when today is outside the term.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.calendar import CourseCalendar
from bot.clock import system_now
from bot.config import Config
from tests.conftest import ROOT, SEOUL

EXAMPLES = ROOT / "examples"
HIDDEN = "?? {who} cannot use /{command}: Discord shows it only to the staff (prof, ta)"
DEFAULT_START = (
    "today is outside the term; the clock starts at the first lecture of week 2 (2025-03-10 11:00 KST)"
)
DEFAULT_INSTANT = datetime(2025, 3, 10, 11, 0, tzinfo=SEOUL)


@dataclass(frozen=True)
class Story:
    # command line (with " #2" for its second run) → texts its output must contain
    expect: dict[str, list[str]] = field(default_factory=dict)
    # command line → texts its output must NOT contain
    forbid: dict[str, list[str]] = field(default_factory=dict)
    # command lines whose output is a deliberate `??`/`!!` line, with that line
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
        errors={"bob: /ta student member:alice": HIDDEN.format(who="bob", command="ta student")},
    ),
    "sandbox-signup-story.txt": Story(
        expect={
            "ta: /ta paper import file:data/papers.sample.csv": ["Imported: 21 added, 0 updated."],
            "alice: /signup paper number:4": ["You present paper 4 — GPTQ"],
            "carol: /signup paper number:4": ["Paper 4 is full, so you are on its waitlist at position 1."],
            "dave: /signup paper number:4": ["on its waitlist at position 2"],
            "alice: /signup withdraw": [
                "You no longer present paper 4.",
                "[Mon 11:00 · DM to carol] Good news: a slot opened and you moved up from the waitlist.",
            ],
            "carol: /signup swap member:erin": [
                "Swap offered to @erin",
                "[Mon 11:00 · DM to erin] @carol offers to swap",
            ],
            "erin: click Accept": [
                "Swapped: you now present paper 4.",
                "[Mon 11:00 · DM to carol] @erin accepted your swap: you now present paper 12.",
                "[Mon 11:00 · DM to erin · edited] (no buttons now)",
            ],
            "alice: /signup paper number:0": ["`0` is not a paper number; see `/papers`."],
            "ta: /ta signups close": ["Paper sign-up is now closed"],
            "alice: /signup paper number:5": ["Paper sign-up has been closed by the staff."],
            "ta: /ta paper assign member:alice number:5": ["@alice now presents paper 5"],
            "alice: /schedule week:10": ["paper 4 — GPTQ", "@bob, @erin", "paper 5 — SparseGPT", "@alice"],
        },
        errors={"alice: /ta signups close": HIDDEN.format(who="alice", command="ta signups close")},
    ),
    "sandbox-groups-story.txt": Story(
        expect={
            "alice: /group create name:Sparse Squad": ["Created group Sparse Squad."],
            "bob: /group create name:sparse squad": ["The name `sparse squad` is taken; choose another."],
            "alice: /group invite member:bob": [
                "[Mon 11:00 · DM to bob] @alice invites you to project group Sparse Squad"
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
                "[Mon 11:00 · #announcements] @Student ☕ Office hours on Wed Mar 12 **moved**",
                "[Mon 11:00 · DM to alice] ☕ Office hours on Wed Mar 12 **moved**",
            ],
            "!advance 1d": [
                "[Tue 11:00 · #announcements] @Student ⏰ **Quiz 1 (in class)** is due Wed 2025-03-12 11:00 KST (in a day).",
                "[Tue 11:00 · DM to alice] ⏰ **Quiz 1 (in class)** is due Wed 2025-03-12 11:00 KST (in a day).",
                "now: Tue 2025-03-11 11:00 KST",
            ],
            "!advance 1d #2": [  # the 1 h reminder, at its own moment on the way
                "[Wed 10:00 · #announcements] @Student ⏰ **Quiz 1 (in class)** is due Wed 2025-03-12 11:00 KST (in an hour).",
                "[Wed 10:00 · DM to alice] ⏰ **Quiz 1 (in class)** is due Wed 2025-03-12 11:00 KST (in an hour).",
                "now: Wed 2025-03-12 11:00 KST",
            ],
            "alice: /officehours #2": ["Wed 2025-03-12 16:00 KST (in 5 hours) at PIAI 3rd floor lounge"],
        },
        forbid={
            "!advance 1d": ["[Tue 11:00 · DM to bob]"],  # Bob turned deadline reminders off
            "!advance 1d #2": ["[Wed 10:00 · DM to bob]", "in 23 hours"],
            "ta: /ta officehours move date:2025-03-12 start:16:00 place:PIAI 3rd floor lounge": [
                "DM to bob]"  # only Alice subscribed to office hours
            ],
        },
    ),
    "sandbox-attendance-story.txt": Story(
        expect={
            "ta: /ta attendance open minutes:15": ["Check-in is open for the lecture of Mon 2025-03-10"],
            "bob: /checkin code:WRONG1": ["Wrong code; 2 tries left."],
            "bob: /checkin code:WRONG3": [
                "you are locked out of this check-in",
                "[Mon 11:00 · #ta-log] 🔒 @bob is locked out",
            ],
            "!advance 12m": ["now: Mon 2025-03-10 11:12 KST"],
            "carol: /checkin code:{code}": ["late (more than 10 minutes after the start)"],
            "ta: /ta attendance close": [
                "Check-in for Mon 2025-03-10 is closed.",
                "[Mon 11:12 · DM to bob] Attendance notice",
                "[Mon 11:12 · #ta-log] Check-in for Mon 2025-03-10 closed: 2 checked in.",
            ],
            "dave: /attendance": ["Absent:", "Mon 03-10: absent"],
            "dave: /excuse date:2025-03-10 reason:I had a fever": [
                "Your request #1 to excuse Mon 2025-03-10"
            ],
            "ta: click Approve": [
                "Excuse #1 of @dave for 2025-03-10: approved.",
                "[Mon 11:12 · DM to dave] Your excuse request for the lecture of Mon 2025-03-10 was approved",
            ],
            "dave: /attendance #2": ["Excused:", "Mon 03-10: excused"],
            "ta: /ta attendance mark member:erin date:2025-03-10 status:late": [
                "@erin: late on Mon 2025-03-10."
            ],
            "ta: /ta attendance report": ["attachments: attendance.png, attendance.csv"],
            "ta: click Open an extra session": ["Check-in is open for an extra session"],
        },
    ),
    "sandbox-reviews-story.txt": Story(
        expect={
            "ta: /ta paper import file:data/papers.sample.csv": ["Imported: 21 added, 0 updated."],
            "carol: /review talk paper:1": [
                "[form for carol] Review of paper 1",
                ": Clarity of the research question | Description of the solution | Limitations identified"
                " | Comment (anonymous to the presenters)",
                "answer with: carol: form 1/2/3/4/5 | 1/2/3/4/5 | 1/2/3/4/5 | …",
            ],
            "carol: form 4 | 5 | 3 | Clear question; the limitations needed more time.": [
                "saved. You can edit it until Thu 2025-05-01."
            ],
            # editing: the menus show Carol's scores, and an empty answer keeps them
            "carol: /review talk paper:1 #2": ["answer with: carol: form 4 | 5 | 3 | …"],
            "carol: form | | | Clear question; the limitations needed more time.": [
                "updated. You can edit it until Thu 2025-05-01."
            ],
            "dave: form 5 | 4 | 4 | Great demo.": ["saved. You can edit it until Thu 2025-05-01."],
            "alice: /review talk paper:1": ["You cannot review your own talk."],
            "!advance 2d": [
                "[Wed 18:00 · DM to erin] 📝 Today's student talks can be peer-reviewed",
                "now: Fri 2025-05-02 12:30 KST",
            ],
            "ta: /ta reviews week:9": [
                "== Peer reviews · week 9 ==",
                "2 reviews · 4.5 · 4.5 · 3.5",
                "@carol → paper 1",
                "@dave → paper 1",
                "@carol 1 (1+0), @dave 1 (1+0)",
            ],
        },
        forbid={"ta: /ta reviews week:9": ["@erin"]},  # Erin's bad form saved nothing
        # the menus offer 1 to 5 only: a 9 is refused before it is sent, as Discord's client does
        errors={
            "erin: form 9 | 4 | 4 | too high": (
                "?? `9` is not a choice for Clarity of the research question: pick 1, 2, 3, 4 or 5"
            )
        },
    ),
    "sandbox-demo-tour.txt": Story(
        expect={
            "/papers week:9": [
                "[alice · only you] == Paper board · week 9 ==",
                "@dave, @erin · full",
                "@carol · 1 slot left",
            ],
            "/signup paper number:3": ["[alice · only you] You present paper 3"],
            "/group list": ["**Lottery Tickets** (2/3) · Finding winning tickets early in training"],
            "erin: /attendance": ["1 lecture held since you joined.", "Wed 03-05: absent"],
            "/deadlines": ["[erin · only you] == Upcoming deadlines ==", "(in 14 days)"],
            "ta: /ta attendance report": ["@erin · 0 present, 0 late, 0 excused, **1 absent** of 1"],
            "ta: /ta audit limit:3": ["@alice · `signup.take` paper=3"],
            "!until signup": [
                "[Sat 23:59 · DM to alice] ⏰ **Paper sign-up closes** is due Sun 2025-03-23 23:59 KST (in a day).",
                "[Sun 22:59 · DM to alice] ⏰ **Paper sign-up closes** is due Sun 2025-03-23 23:59 KST (in an hour).",
                "[Sun 23:59] (paper sign-up closes, as configured)",
                "now: Sun 2025-03-23 23:59 KST, week 3",
            ],
            "alice: /signup paper number:4": ["Paper sign-up closed Sun 2025-03-23 23:59 KST."],
        },
    ),
    "sandbox-week-nine.txt": Story(
        expect={
            "/schedule week:9": [
                "== Week 9: Data Efficiency (this week) ==",
                "1. 11:00 · paper 1 — Deduplicating Training Data Makes Language Models Better · @dave, @erin",
                "2. 11:25 · paper 2 — Beyond neural scaling laws",
            ],
            "dave: /signup status": ["talk #1 of week 9, Wed 2025-04-30 11:00 KST (in 5 minutes)"],
            "ta: /ta attendance open minutes:3 rotate:true": [
                "Check-in is open for the lecture of Wed 2025-04-30 until 10:58.",
                "[Wed 10:55 · #general] ## Check-in code: `",
            ],
            "!advance 20s": [
                "[Wed 10:55:15 · #general · edited] ## Check-in code: `",
                "now: Wed 2025-04-30 10:55:20 KST",
            ],
            "alice: /checkin code:{code}": ["Checked in to the lecture of Wed 2025-04-30: present."],
            "bob: /checkin code:{code}": ["Checked in to the lecture of Wed 2025-04-30: present."],
            "carol: /checkin code:{code}": ["Checked in to the lecture of Wed 2025-04-30: present."],
            "!advance 5m": [
                "[Wed 10:57:45 · #general · edited] ## Check-in code: `",
                "[Wed 10:58 · #general · edited] Check-in is closed.",
                "[Wed 10:58 · DM to erin] Attendance notice: you have 2 absences",
                "[Wed 10:58 · #ta-log] ⚠️ @erin is one absence from the fail line",
                "[Wed 10:58 · #ta-log] Check-in for Wed 2025-04-30 closed: 3 checked in.",
                "now: Wed 2025-04-30 11:00:50 KST",
            ],
            "erin: /attendance": ["2 lectures held since you joined.", "Wed 04-30: absent"],
        },
        forbid={"!advance 5m": ["[Wed 10:58:15", "DM to alice]", "DM to bob]", "DM to carol]"]},
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


def story_arguments(name: str) -> list[str]:
    """The sandbox's arguments from the story's first line, `# coursebot sandbox … --script FILE`."""
    first = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()[0]
    words = shlex.split(first.removeprefix("#"))
    assert words[:2] == ["coursebot", "sandbox"], f"{name}: the first line says how to run it"
    assert words[-2:] == ["--script", f"examples/{name}"], f"{name}: the first line ends with its --script"
    return words[2:]


def start_of(arguments: list[str]) -> datetime:
    if "--now" in arguments:
        return datetime.fromisoformat(arguments[arguments.index("--now") + 1]).replace(tzinfo=SEOUL)
    return DEFAULT_INSTANT


def run_story(name: str, database: Path) -> Transcript:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    args = [sys.executable, "-m", "bot", "sandbox", *story_arguments(name), "--database", str(database)]
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


def outbox_rows(database: Path) -> list[tuple[str, str, str, str | None, str | None]]:
    """(audience, status, text, sent_at, error) of every outbox row the story's database holds."""
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT audience, status, text, sent_at, error FROM notifications"
        ).fetchall()


def shown_as(text: str) -> str:
    """The start of a row's text as the sandbox prints it: up to the first mention or timestamp."""
    return text.split("<", 1)[0].strip()[:40]


def test_every_story_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("sandbox-*.txt")) == sorted(STORIES)


@pytest.mark.parametrize("name", sorted(STORIES))
def test_the_first_line_says_how_to_run_it(name: str) -> None:
    options = story_arguments(name)[:-2]
    if "--now" in options:
        at = options.index("--now")
        datetime.fromisoformat(options[at + 1])  # an instant the sandbox accepts
        del options[at : at + 2]
    assert set(options) <= {"--empty"}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_the_expectations_name_real_commands_of_the_story(name: str) -> None:
    lines = script_lines(name)
    story = STORIES[name]
    for key in [*story.expect, *story.forbid, *story.errors]:
        command, nth = split_key(key)
        assert lines.count(command) > nth, f"{name} has no line `{key}`"


@pytest.mark.parametrize("name", sorted(STORIES))
def test_the_story_runs(name: str, config: Config, tmp_path: Path) -> None:
    story, arguments = STORIES[name], story_arguments(name)
    now = arguments[arguments.index("--now") + 1] if "--now" in arguments else None
    if now is None and CourseCalendar(config).current_week(system_now()) is not None:
        pytest.skip("today is inside the configured term, so the sandbox clock starts today")
    database = tmp_path / "story.db"
    transcript = run_story(name, database)
    assert "Traceback" not in transcript.stdout and "Traceback" not in transcript.stderr, transcript.stderr
    assert transcript.first_line == (f"clock starts at {now} KST" if now else DEFAULT_START)
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
    # every reminder is shown: none skipped for being late, each one sent during the story printed
    rows = outbox_rows(database)
    late = [
        (text, error)
        for _, status, text, _, error in rows
        if status == "skipped" and "passed" in (error or "")
    ]
    assert late == []
    assert all(status in ("sent", "pending", "skipped") for _, status, _, _, _ in rows), rows
    start = start_of(arguments).astimezone(UTC).replace(tzinfo=None)
    during = [
        text
        for audience, status, text, sent_at, _ in rows
        if status == "sent"
        and audience != "dm_all"
        and sent_at is not None
        and (datetime.fromisoformat(sent_at) > start or "--empty" in arguments)
    ]
    printed = "\n".join(text for _, text in transcript.blocks)
    missing = [text for text in during if shown_as(text) not in printed]
    assert missing == []
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

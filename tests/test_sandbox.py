"""The command line as a process: `coursebot sandbox --script`, and `coursebot run` without secrets leaking."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.__main__ import main
from bot.calendar import CourseCalendar
from bot.clock import Clock, system_now
from bot.config import Config
from bot.db.models import Review
from bot.sandbox import Sandbox, open_sandbox
from bot.sandbox.render import relative
from bot.sandbox.scheduler import SandboxScheduler
from tests.conftest import ROOT, seoul

CONFIG_TOML = ROOT / "config.toml"
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.this-is-the-secret-bot-token"


def coursebot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sandbox_script(tmp_path: Path, lines: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
    """`coursebot sandbox --script` with `lines` as the script, run in `tmp_path`, from `--now` if given."""
    script = tmp_path / "script.txt"
    script.write_text(lines, encoding="utf-8")
    start = ["--now", now] if now else []
    return coursebot("sandbox", "--config", str(CONFIG_TOML), *start, "--script", str(script), cwd=tmp_path)


def test_sandbox_runs_a_script(tmp_path: Path, config: Config) -> None:
    if CourseCalendar(config).current_week(system_now()) is not None:
        pytest.skip("today is inside the configured term, so the sandbox clock starts today")
    done = sandbox_script(
        tmp_path,
        "# a comment line\n"
        "alice: /course\n"
        "alice: /schedule week:9\n"
        "alice: /register student_id:20251234 name:Alice Kim\n",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "clock starts at the first lecture of week 2" in lines[0]
    assert "2025-03-10 11:00" in lines[0]
    out = done.stdout
    assert "EECE695D: Efficient ML Systems" in out
    assert "Week 9" in out and "student talks" in out
    assert "Registered: `20251234` · Alice Kim." in out
    assert "[alice · only you]" in out and "[alice · everyone]" not in out
    assert "Traceback" not in done.stderr and "!!" not in out and "??" not in out
    assert "demo course: the sample papers with 4 presenters" in lines[1]
    assert not (tmp_path / "data").exists()  # the sandbox keeps its database in a temporary folder


def test_sandbox_with_now_starts_there(tmp_path: Path) -> None:
    done = sandbox_script(tmp_path, "!time\n", now="2025-04-30 10:55")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "clock starts at 2025-04-30 10:55 KST"
    assert "week 9" in done.stdout


def test_sandbox_advance_refuses_bad_steps_in_one_line(tmp_path: Path) -> None:
    steps = "!advance 999999d\n!advance xyz\n!advance 1d,1h\n!advance 1d\n"
    done = sandbox_script(tmp_path, steps, now="2025-04-30 10:55")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "now: Thu 2025-05-01 10:55 KST, week 9"  # after what fell due on the way
    start = lines.index("> !advance 999999d")
    assert lines[start : start + 7] == [
        "> !advance 999999d",
        "?? `999999d` is more than 366 days; move the clock in smaller steps",
        "> !advance xyz",
        "?? `xyz` is not a duration: e.g. !advance 1d, 2h, 30m, 1w or 1d2h",
        "> !advance 1d,1h",
        "?? `1d,1h`: one duration, not a list (e.g. !advance 1d, 2h, 30m, 1w or 1d2h)",
        "> !advance 1d",
    ]


def test_run_without_a_token_exits_2_with_one_line(tmp_path: Path) -> None:
    done = coursebot("run", "--config", str(CONFIG_TOML), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "DISCORD_TOKEN" in line


def test_run_with_a_token_and_a_broken_config_never_shows_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(
        CONFIG_TOML.read_text(encoding="utf-8").replace('timezone = "Asia/Seoul"', 'timezone = "Nowhere"'),
        encoding="utf-8",
    )
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", str(broken)])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "course.timezone" in captured.err
    assert SECRET not in captured.out + captured.err


def test_run_with_a_token_and_a_bad_now_never_shows_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    assert main(["run", "--config", str(CONFIG_TOML), "--now", "next tuesday"]) == 2
    captured = capsys.readouterr()
    assert "--now" in captured.err
    assert SECRET not in captured.out + captured.err


# ---- in process: the clock, the posts, the lines ------------------------------------------
MONDAY = seoul(2025, 3, 10, 11, 0)  # the first lecture of week 2


class Transcript(list[str]):
    def since(self, mark: int) -> list[str]:
        return self[mark:]


@pytest.fixture
async def sandbox(config: Config, tmp_path: Path) -> AsyncIterator[tuple[Sandbox, Transcript]]:
    out = Transcript()
    async with open_sandbox(
        config, start=MONDAY, write=out.append, empty=True, files_folder=tmp_path / "files"
    ) as opened:
        yield opened, out


async def say(sandbox: Sandbox, out: Transcript, line: str) -> list[str]:
    mark = len(out)
    assert await sandbox.run_line(line)
    return out.since(mark)


async def test_advance_shows_each_reminder_once_at_its_moment(sandbox: tuple[Sandbox, Transcript]) -> None:
    box, out = sandbox
    await say(box, out, "ta: /ta deadline add key:quiz1 title:Quiz 1 due:2025-03-12 11:00 remind:1d,1h")
    shown = await say(box, out, "!advance 2d")
    announced = [line for line in shown if "#announcements] @Student ⏰ **Quiz 1**" in line]
    assert announced == [
        "[Tue 11:00 · #announcements] @Student ⏰ **Quiz 1** is due Wed 2025-03-12 11:00 KST (in a day).",
        "[Wed 10:00 · #announcements] @Student ⏰ **Quiz 1** is due Wed 2025-03-12 11:00 KST (in an hour).",
    ]
    for student in ("alice", "bob", "carol", "dave", "erin"):
        dms = [
            line
            for line in shown
            if line.startswith(("[Tue 11:00 · DM to " + student, "[Wed 10:00 · DM to " + student))
        ]
        assert [line.split(" · ")[0] for line in dms] == ["[Tue 11:00", "[Wed 10:00"], student
    assert shown[-1] == "now: Wed 2025-03-12 11:00 KST, week 2"
    assert not any("Skipped" in line or line.startswith(("!!", "??")) for line in out)


async def test_a_check_in_left_open_closes_by_itself_on_the_sandbox_clock(
    sandbox: tuple[Sandbox, Transcript],
) -> None:
    box, out = sandbox
    opened = await say(box, out, "ta: /ta attendance open minutes:15")
    assert "[ta · only you] Check-in is open for the lecture of Mon 2025-03-10 until 11:15." in opened[0]
    await say(box, out, "alice: /checkin code:{code}")
    assert await say(box, out, "!advance 14m") == ["now: Mon 2025-03-10 11:14 KST, week 2"]
    shown = await say(box, out, "!advance 2m")
    assert "[Mon 11:15 · #ta-log] Check-in for Mon 2025-03-10 closed: 1 checked in." in shown
    assert "[Mon 11:15 · DM to bob] Attendance notice: you have 1 absence in EECE695D." in " ".join(shown)
    assert shown[-1] == "now: Mon 2025-03-10 11:16 KST, week 2"
    late = await say(box, out, "bob: /checkin code:ABCDEF")
    assert late == ["[bob · only you] No check-in is open right now."] or "no check-in" in late[0].lower()


async def test_a_rotating_code_is_shown_at_each_step_and_code_reads_the_current_one(
    sandbox: tuple[Sandbox, Transcript],
) -> None:
    box, out = sandbox
    opened = await say(box, out, "ta: /ta attendance open minutes:5 rotate:true")
    first = next(line for line in opened if line.startswith("[Mon 11:00 · #general] ## Check-in code: `"))
    shown = await say(box, out, "!advance 40s")
    steps = [line.split("]")[0] for line in shown if "#general · edited] ## Check-in code:" in line]
    assert steps == ["[Mon 11:00:15 · #general · edited", "[Mon 11:00:30 · #general · edited"]
    assert first.split("`")[1] not in shown[-2]  # a new code at each step
    answer = await say(box, out, "carol: /checkin code:{code}")
    assert answer == ["[carol · only you] Checked in to the lecture of Mon 2025-03-10: present."]


async def test_a_line_without_a_name_is_the_last_speaker_and_buttons_match_by_their_start(
    sandbox: tuple[Sandbox, Transcript],
) -> None:
    box, out = sandbox
    assert (await say(box, out, "/course"))[0].startswith("[alice · only you] == EECE695D")
    await say(box, out, "bob: /officehours")
    assert (await say(box, out, "click subs"))[0].startswith("[bob · only you] Office-hours reminders are on")
    missing = await say(box, out, "click Approve")
    assert missing == ["?? the last message bob got has no button `Approve`; its buttons: [Subscribe]"]


async def test_bad_lines_get_one_sentence_each(sandbox: tuple[Sandbox, Transcript]) -> None:
    box, out = sandbox
    answers = {
        "/schedule week:nine": "?? `week:` expects a whole number from 1 to 52, not `nine`",
        "/signup swap member:zed": "?? `member:` names a person here, not `zed` (people: prof, ta, alice, bob, carol, dave, erin)",
        "/signup": "?? /signup needs a subcommand: paper, status, swap, withdraw (e.g. /signup paper)",
        "/shedule": "?? /shedule is not a command; did you mean /schedule?",
        "/reminders category:deadlines enabled:maybe": "?? `enabled:` expects true or false, not `maybe`",
        "!advanc 1d": "?? !advanc is not a sandbox command; did you mean !advance? (!help lists them)",
        "!advance -1d": "?? `-1d`: the sandbox clock only moves forward, e.g. !advance 1d, 2h, 30m, 1w or 1d2h",
        "zed: /course": "?? no one is called `zed` here (people: prof, ta, alice, bob, carol, dave, erin)",
    }
    for line, answer in answers.items():
        shown = await say(box, out, line)
        assert len(shown) == 1 and shown[0].startswith(answer), (line, shown)


async def test_prose_with_colons_stays_in_its_option(sandbox: tuple[Sandbox, Transcript]) -> None:
    box, out = sandbox
    shown = await say(box, out, "ta: /ta announce text:Reminder: bring laptops, see note: page 2")
    assert "[Mon 11:00 · #announcements] Reminder: bring laptops, see note: page 2" in shown


async def test_files_saves_what_the_bot_attached(sandbox: tuple[Sandbox, Transcript], tmp_path: Path) -> None:
    box, out = sandbox
    await say(box, out, "ta: /ta attendance open")
    await say(box, out, "alice: /checkin code:{code}")
    await say(box, out, "ta: /ta attendance close")
    await say(box, out, "ta: /ta attendance report")
    saved = await say(box, out, "!files")
    paths = [Path(line.split()[1]) for line in saved]
    assert sorted(p.name for p in paths) == ["attendance.csv", "attendance.png"]
    assert all(p.parent == tmp_path / "files" for p in paths)
    assert paths[[p.name for p in paths].index("attendance.png")].read_bytes().startswith(b"\x89PNG")
    assert await say(box, out, "!files") == ["no new files from the bot since the last !files"]


async def test_a_review_form_is_filled_by_picking_from_its_menus(config: Config, tmp_path: Path) -> None:
    """`form 4 | 5 | 3 | text` picks each score in its menu (by value or label); a choice the menu does
    not offer, or none, gets one sentence and the form stays open; editing shows the saved scores,
    and an empty answer keeps the one pre-selected."""
    out = Transcript()
    talk_day = seoul(2025, 4, 30, 12, 30)
    async with open_sandbox(
        config, start=talk_day, write=out.append, empty=True, files_folder=tmp_path / "files"
    ) as box:
        await say(box, out, f"ta: /ta paper import file:{ROOT / 'data' / 'papers.sample.csv'}")
        await say(box, out, "ta: /ta paper assign member:alice number:1")
        assert await say(box, out, "carol: /review talk paper:1") == [
            "[form for carol] Review of paper 1 — Deduplicating Training Da: Clarity of the research "
            "question | Description of the solution | Limitations identified | Comment (anonymous to the "
            "presenters)",
            "    answer with: carol: form 1/2/3/4/5 | 1/2/3/4/5 | 1/2/3/4/5 | …",
        ]
        assert await say(box, out, "form 9 | 5 | 3 | Too high.") == [
            "?? `9` is not a choice for Clarity of the research question: pick 1, 2, 3, 4 or 5"
        ]
        assert await say(box, out, "form 4 | 5") == [
            "?? Limitations identified needs a choice: pick 1, 2, 3, 4 or 5"
        ]
        saved = await say(box, out, "form 4 | 5 — Excellent | 3 | Clear.")
        assert len(saved) == 1 and saved[0].startswith("[carol · only you] Review of paper 1 — ")
        assert saved[0].endswith(" saved. You can edit it until Thu 2025-05-01.")
        shown = await say(box, out, "carol: /review talk paper:1")
        assert shown[1] == "    answer with: carol: form 4 | 5 | 3 | …"
        updated = await say(box, out, "form | 2 | | Second thoughts.")
        assert updated[0].endswith(" updated. You can edit it until Thu 2025-05-01.")
        shown = await say(box, out, "carol: /review talk paper:1")
        assert shown[1] == "    answer with: carol: form 4 | 2 | 3 | …"
        carol = box.people["carol"].id
        async with box.bot.services.db.read() as session:
            rows = (await session.scalars(select(Review))).all()
            assert [(r.reviewer_id, r.score_1, r.score_2, r.score_3, r.comment) for r in rows] == [
                (carol, 4, 2, 3, "Second thoughts.")
            ]


# ---- 200 random and malformed lines: each one answered, the session never ends --------------
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=16)
_NAMES = st.sampled_from(["", "alice: ", "bob: ", "ta: ", "prof: ", "zed: ", "ALICE: ", "erin "])
_COMMANDS = st.sampled_from(
    [
        "/course",
        "/schedule",
        "/signup",
        "/signup paper",
        "/signup swap",
        "/ta",
        "/ta attendance open",
        "/ta attendance close",
        "/checkin",
        "/group create",
        "/group join",
        "/reminders",
        "/register",
        "/papers",
        "/excuse",
        "/ta deadline add",
        "/review talk",
        "/ta announce",
        "/nope",
        "/",
        "/ta paper import",
    ]
)
_OPTIONS = st.builds(
    "{}:{}".format,
    st.sampled_from(
        [
            "week",
            "number",
            "member",
            "code",
            "enabled",
            "category",
            "name",
            "text",
            "date",
            "file",
            "minutes",
            "rotate",
            "key",
            "due",
            "remind",
            "reason",
            "zz",
            "",
        ]
    ),
    st.one_of(
        _TEXT, st.sampled_from(["{code}", "alice", "9", "-1", "true", "maybe", "2025-03-12 11:00", "."])
    ),
)
LINES = st.one_of(
    st.builds(
        lambda who, command, options: f"{who}{command} {' '.join(options)}",
        _NAMES,
        _COMMANDS,
        st.lists(_OPTIONS, max_size=4),
    ),
    st.builds(
        "!{} {}".format,
        st.sampled_from(["advance", "until", "time", "who", "commands", "help", "nope", ""]),
        st.one_of(
            _TEXT,
            st.from_regex(r"[0-9]{1,2}[smhdw]", fullmatch=True),
            st.sampled_from(["1d2h", "0m", "-1d", "1d,2h", "W9 Wed 11:00", "signup", "17:00"]),
        ),
    ),
    st.builds("{}click {}".format, _NAMES, _TEXT),
    st.builds("{}form {}".format, _NAMES, st.lists(_TEXT, max_size=5).map(" | ".join)),
    _TEXT,
).filter(lambda line: line.strip().lower().lstrip("!").split()[:1] not in (["quit"], ["exit"]))


def test_200_random_lines_are_each_answered_and_the_session_stays_up(config: Config, tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    out: list[str] = []
    session = open_sandbox(config, start=MONDAY, write=out.append, files_folder=tmp_path / "files")
    box = loop.run_until_complete(session.__aenter__())
    typed: list[str] = []
    try:

        @settings(
            max_examples=200,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(line=LINES)
        def types(line: str) -> None:
            typed.append(line)
            del out[:]
            assert loop.run_until_complete(box.run_line(line)) is True
            if line.strip() and not line.strip().startswith("#"):
                assert out, f"no answer to {line!r}"
            assert not any("Traceback" in text for text in out), out

        types()
        del out[:]
        assert loop.run_until_complete(box.run_line("!time")) and out[0].startswith("now: ")
    finally:
        loop.run_until_complete(session.__aexit__(None, None, None))
        loop.close()
    assert len(typed) >= 200


# ---- the pieces ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(days=1), "in a day"),
        (timedelta(hours=23), "in a day"),
        (timedelta(hours=21), "in 21 hours"),
        (timedelta(hours=1), "in an hour"),
        (timedelta(minutes=44), "in 44 minutes"),
        (timedelta(minutes=45), "in an hour"),
        (timedelta(seconds=30), "in a few seconds"),
        (timedelta(seconds=0), "a few seconds ago"),
        (timedelta(days=-2), "2 days ago"),
        (timedelta(days=26), "in a month"),
        (timedelta(days=95), "in 3 months"),
        (timedelta(days=400), "in a year"),
    ],
)
def test_relative_times_read_as_discord_shows_them(delta: timedelta, shown: str) -> None:
    assert relative(delta) == shown


def test_the_scheduler_runs_jobs_on_the_sandbox_clock() -> None:
    clock = Clock.frozen(MONDAY)
    scheduler = SandboxScheduler(clock)
    ran: list[str] = []
    scheduler.add_job(
        ran.append, "date", run_date=system_now() + timedelta(minutes=15), args=["close"], id="a"
    )
    scheduler.add_job(
        ran.append, "date", run_date=system_now() + timedelta(seconds=15), args=["rotate"], id="b"
    )
    job = scheduler.get_job("a")
    assert job is not None and job.due == MONDAY + timedelta(minutes=15)
    assert scheduler.next_due() == MONDAY + timedelta(seconds=15)
    assert scheduler.pop_due(clock.now()) is None  # nothing is due before its time
    clock.advance(timedelta(hours=1))
    order = [scheduler.pop_due(clock.now()), scheduler.pop_due(clock.now()), scheduler.pop_due(clock.now())]
    assert [j.args[0] if j else None for j in order] == ["rotate", "close", None]
    scheduler.add_job(ran.append, "date", run_date=system_now(), id="c")
    scheduler.get_job("c").remove()  # type: ignore[union-attr]
    assert scheduler.get_jobs() == []
    with pytest.raises(ValueError, match="interval"):
        scheduler.add_job(ran.append, "interval", seconds=5)


def test_the_default_start_is_week_two_outside_the_term(config: Config) -> None:
    from bot.sandbox import default_start

    start, note = default_start(config, datetime(2030, 1, 1, tzinfo=seoul(2025, 1, 1).tzinfo))
    assert start == MONDAY and note is not None and "week 2" in note

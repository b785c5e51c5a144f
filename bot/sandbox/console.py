"""Starting the sandbox and talking to it: a script of lines, or a prompt with line editing and
history where time flows on its own (the bot's posts appear above the line being typed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
import threading
import time as clocktime
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import simcord

from bot.app import CourseBot
from bot.calendar import CourseCalendar
from bot.clock import Clock, system_now
from bot.config import Config
from bot.sandbox import demo
from bot.sandbox.lines import leaf_commands
from bot.sandbox.scheduler import SandboxScheduler
from bot.sandbox.world import FIRST_SPEAKER, SANDBOX_COMMANDS, SANDBOX_GUILD_ID, Sandbox, whole_ms
from bot.startup_errors import first_line

PROMPT = "coursebot> "
TICK_SECONDS = 1.0  # at the prompt, the clock follows the wall clock in steps this long
FILES_FOLDER = "sandbox-files"
REDRAW_SECONDS = 0.05  # the prompt is drawn again this long after the last line written above it


def default_start(config: Config, now: datetime) -> tuple[datetime, str | None]:
    """Today if it is inside the term; otherwise the first lecture of week 2, with a note saying so."""
    calendar = CourseCalendar(config)
    if calendar.current_week(now) is not None:
        return now.replace(microsecond=0), None
    week_two = calendar.lectures_in_week(2) or calendar.lectures
    start = week_two[0].starts_at
    return (
        start,
        f"today is outside the term; the clock starts at the first lecture of week 2 ({start:%Y-%m-%d %H:%M %Z})",
    )


class _OneLine(logging.Handler):
    """The bot's log records as one sandbox line each, never a traceback."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = first_line(record.getMessage())
        except Exception:  # a record whose arguments do not format
            message = str(record.msg)
        error = record.exc_info[1] if record.exc_info else None
        reason = f" ({type(error).__name__}: {first_line(str(error))})" if error is not None else ""
        self.say(f"!! the bot logged: {message}{reason}")


@contextlib.contextmanager
def _logging_as_lines(say: Callable[[str], None]) -> Iterator[None]:
    """While the sandbox runs, log records become one line each in its output (the log stays as
    it is at DEBUG, where tracebacks are wanted); a skipped reminder is shown too."""
    root = logging.getLogger()
    if root.getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    handlers, skips = root.handlers[:], logging.getLogger("bot.notify.outbox")
    skips_level = skips.level
    root.handlers = [_OneLine(say)]
    skips.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers = handlers
        skips.setLevel(skips_level)


@contextlib.asynccontextmanager
async def open_sandbox(
    config: Config,
    *,
    start: datetime | None,
    write: Callable[[str], None] = print,
    database_url: str | None = None,
    empty: bool = False,
    files_folder: Path | None = None,
) -> AsyncIterator[Sandbox]:
    """The sandbox, started (the bot connected, the people in, the demo course made unless `empty`),
    its first two lines written; shut down on exit."""
    note = None
    if start is None:
        start, note = default_start(config, system_now())
    write(note or f"clock starts at {start.astimezone(config.tz):%Y-%m-%d %H:%M %Z}")
    with tempfile.TemporaryDirectory(prefix="coursebot-sandbox-") as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'sandbox.db'}"
        discord_config = config.discord.model_copy(
            update={"guild_id": SANDBOX_GUILD_ID, "api_base": "", "gateway_url": ""}
        )
        config = config.model_copy(
            update={"discord": discord_config, "database": config.database.model_copy(update={"url": url})}
        )
        phases = [] if empty else demo.plan(config, start)
        clock = Clock.frozen(phases[0].at if phases else start)
        bot = CourseBot(config, clock=clock, poll_outbox=False)  # the sandbox runs what falls due
        scheduler = SandboxScheduler(clock)
        bot.scheduler = cast(Any, scheduler)  # jobs run on the sandbox clock, when it gets there
        env = simcord.Env(bot, check_errors=False, settle_timeout=30.0)
        config_folder = _config_folder(config)
        sandbox = Sandbox(
            env,
            bot,
            clock,
            scheduler,
            write,
            files_folder=files_folder or Path.cwd() / FILES_FOLDER,
            folders=tuple(dict.fromkeys([Path.cwd(), config_folder])),
        )
        sandbox.build_server()
        with _logging_as_lines(lambda text: sandbox.write(text)):
            await env.start()
            try:
                bot.dispatcher.pacer.interval = 0.0  # bulk DMs are paced in real time; none here
                await sandbox.add_people()
                about = await _make_demo(sandbox, config, phases, start)
                await sandbox.advance_to(start, show=False)
                sandbox.posts()  # the history so far is seen: only what follows is shown
                people = ", ".join(sandbox.people)
                write(
                    f"sandbox: {config.course.code} on a simulated server with {people}; {about} — !help for help"
                )
                yield sandbox
            finally:
                await env.shutdown()


def _config_folder(config: Config) -> Path:
    return Path(config.source).resolve().parent if config.source else Path.cwd()


async def _make_demo(sandbox: Sandbox, config: Config, phases: list[demo.Phase], start: datetime) -> str:
    """Type the demo's lines at their moments, showing nothing but what went wrong."""
    if not phases:
        return "an empty course"
    if await _has_data(sandbox):
        return "the database already holds a course, so no demo was added"
    write, problems = sandbox.write, []

    def collect(line: str) -> None:
        if line.startswith(("??", "!!")):
            problems.append(line)

    sandbox.write = collect
    try:
        for phase in phases:
            await sandbox.advance_to(phase.at, show=False)
            for line in phase.lines:
                await sandbox.run_line(line)
    finally:
        sandbox.write = write
    for problem in problems:
        write(f"demo: {problem}")
    sandbox.speaker, sandbox.last_code = FIRST_SPEAKER, ""
    sandbox.last_seen.clear()
    sandbox.last_modal.clear()
    return demo.summary(config, phases)


async def _has_data(sandbox: Sandbox) -> bool:
    from bot.services import papers

    return bool(await papers.board(sandbox.bot.services))


def run_sandbox(
    config: Config,
    *,
    start: datetime | None,
    script: Iterable[str] | None,
    database_url: str | None = None,
    empty: bool = False,
    write: Callable[[str], None] = print,
) -> int:
    """Run the sandbox on `script` lines, or at a prompt when `script` is None; 0 when done."""
    if script is not None:
        return asyncio.run(_run_script(config, start, script, database_url, empty, write))
    return _Prompt(config, start, database_url, empty).run()


async def _run_script(
    config: Config,
    start: datetime | None,
    script: Iterable[str],
    database_url: str | None,
    empty: bool,
    write: Callable[[str], None],
) -> int:
    async with open_sandbox(
        config, start=start, write=write, database_url=database_url, empty=empty
    ) as sandbox:
        for line in script:
            if line.strip() and not line.strip().startswith("#"):
                write(f"> {line.strip()}")
            if not await sandbox.run_line(line):
                break
    return 0


class _Prompt:
    """The interactive sandbox: the bot runs on its own thread's event loop, the prompt on the main
    thread (so Ctrl-C cancels the line being typed, as in a shell, and readline edits it)."""

    def __init__(self, config: Config, start: datetime | None, database_url: str | None, empty: bool) -> None:
        self.config, self.start, self.database_url, self.empty = config, start, database_url, empty
        self.tty = sys.stdin.isatty() and sys.stdout.isatty()
        self.readline: Any = None
        self.typing = False  # the prompt is shown: a post is written above it
        self.output = threading.Lock()
        self._redraw: threading.Timer | None = None

    def write(self, text: str) -> None:
        """A line of output; while the prompt is shown, above it (the prompt and what is typed are
        drawn again once the lines stop coming)."""
        with self.output:
            if self.typing and self.tty and self.readline is not None:
                sys.stdout.write(f"\r\x1b[2K{text}\n")
                sys.stdout.flush()
                if self._redraw is not None:
                    self._redraw.cancel()
                self._redraw = threading.Timer(REDRAW_SECONDS, self._draw_prompt)
                self._redraw.daemon = True
                self._redraw.start()
            else:
                print(text, flush=True)

    def _draw_prompt(self) -> None:
        with self.output:
            if self.typing and self.readline is not None:
                sys.stdout.write(f"\r\x1b[2K{PROMPT}{self.readline.get_line_buffer()}")
                sys.stdout.flush()

    def run(self) -> int:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="coursebot-sandbox", daemon=True)
        thread.start()
        session = open_sandbox(
            self.config, start=self.start, write=self.write, database_url=self.database_url, empty=self.empty
        )
        try:
            sandbox = asyncio.run_coroutine_threadsafe(session.__aenter__(), loop).result()
            stop = asyncio.Event()
            ticking = asyncio.run_coroutine_threadsafe(_flow(sandbox, stop), loop)
            try:
                self._set_up_readline(sandbox)
                self._prompt(sandbox, loop)
            finally:
                loop.call_soon_threadsafe(stop.set)
                with contextlib.suppress(Exception):
                    ticking.result(timeout=30)
                asyncio.run_coroutine_threadsafe(session.__aexit__(None, None, None), loop).result(timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        return 0

    def _prompt(self, sandbox: Sandbox, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                self.typing = True
                line = input(PROMPT)
            except EOFError:
                print()
                return
            except KeyboardInterrupt:  # Ctrl-C: the line is dropped, the session goes on
                print()
                continue
            finally:
                self.typing = False
            running = asyncio.run_coroutine_threadsafe(sandbox.run_line(line), loop)
            while True:
                try:
                    keep_going = running.result()
                    break
                except KeyboardInterrupt:
                    self.write("(the line is still running; it finishes first)")
            if not keep_going:
                return

    def _set_up_readline(self, sandbox: Sandbox) -> None:
        if not self.tty:
            return
        try:
            import readline
        except ImportError:  # not on every platform: the prompt works without editing
            return
        self.readline = readline
        commands = sandbox.bot.tree.get_commands()
        leaves = leaf_commands(cast(Any, commands))
        words = sorted(
            {f"{name}:" for name in sandbox.people}
            | {f"!{verb}" for verb in SANDBOX_COMMANDS}
            | {"click", "form"}
            | {"/" + c.name for c in commands}
            | {part for c in leaves for part in c.qualified_name.split()[1:]}
            | {f"{p.name}:" for c in leaves for p in c.parameters}
        )

        def complete(text: str, state: int) -> str | None:
            matches = [w for w in words if w.startswith(text)]
            return matches[state] if state < len(matches) else None

        readline.set_completer_delims(" \t")
        readline.set_completer(complete)
        readline.parse_and_bind("tab: complete")


async def _flow(sandbox: Sandbox, stop: asyncio.Event) -> None:
    """At the prompt, time flows: the clock follows the wall clock, through everything due."""
    last = clocktime.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_SECONDS)
        if stop.is_set():
            return
        async with sandbox.lock:
            now = clocktime.monotonic()
            elapsed, last = whole_ms(timedelta(seconds=now - last)), now
            try:
                await sandbox.advance_to(sandbox.now + elapsed)
            except Exception as error:
                sandbox.write(
                    f"!! the sandbox clock stopped for a moment ({type(error).__name__}: {first_line(str(error))})"
                )

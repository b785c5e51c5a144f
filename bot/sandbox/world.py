"""The simulated course server: its people, the lines they type and everything the bot posts (shown
when it is sent, tagged with the simulated time). The clock's steps are `timeline`'s, the forms'
fields `forms`'."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

import discord
import simcord

from bot.app import CourseBot
from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config
from bot.sandbox.forms import form_answers, form_prompt
from bot.sandbox.lines import (
    LineError,
    People,
    check_required,
    clip,
    coerce,
    did_you_mean,
    leaf_commands,
    parse_duration,
    parse_instant,
    pick_button,
    resolve_command,
    split_options,
    usage,
)
from bot.sandbox.render import Renderer, button_labels, buttons, components_of, moment, signature
from bot.sandbox.scheduler import SandboxScheduler
from bot.sandbox.timeline import Timeline
from bot.services import attendance
from bot.services.students import ensure_student
from bot.startup_errors import first_line

log = logging.getLogger(__name__)

SANDBOX_GUILD_ID = 1_100_000_000_000_000_001
PEOPLE = (
    ("prof", "instructor"),
    ("ta", "ta"),
    ("alice", "student"),
    ("bob", "student"),
    ("carol", "student"),
    ("dave", "student"),
    ("erin", "student"),
)
FIRST_SPEAKER = "alice"
SANDBOX_COMMANDS = ("help", "who", "time", "advance", "until", "commands", "files", "quit", "exit")
HELP = """\
Lines look like `NAME: /command option:value other:more words`; without a name, the last speaker acts.
  alice: /register student_id:20251234 name:Alice Kim
  ta: /ta student member:alice
  click Accept                   (press a button on the last message the speaker got; a label's start is enough)
  bob: /checkin code:{{code}}      ({{code}}: the check-in code valid now, else the last code shown)
  bob: form 4 | 5 | 3 | Clear talk  (fill the form the bot showed bob, fields separated by |; a menu
                                     takes one of its choices, left empty it keeps the pre-selected one)
People: {people}
Sandbox commands:
  !advance 1d (2h, 30m, 1w, 1d2h)  move the clock; everything due on the way happens, in order
  !until 2025-03-12 11:00          the same, to an instant (also `W9 Wed 11:00`, a deadline key, `17:00`)
  !time  !who  !commands [NAME]  !files [FOLDER]  !help  !quit"""
_INLINE_CODE = re.compile(r"`([A-Z0-9]{4,12})`")
_NAMED = re.compile(r"([A-Za-z][\w.-]*)\s*:(.*)$", re.DOTALL)
_ACTION = re.compile(r"(/|click\b|form\b)", re.IGNORECASE)


class Sandbox:
    """A simulated course server with the real bot in it."""

    def __init__(
        self,
        env: simcord.Env,
        bot: CourseBot,
        clock: Clock,
        scheduler: SandboxScheduler,
        write: Callable[[str], None],
        *,
        files_folder: Path,
        folders: tuple[Path, ...],
    ) -> None:
        self.env, self.bot, self.clock, self.scheduler = env, bot, clock, scheduler
        self.config: Config = bot.config
        self.calendar = CourseCalendar(bot.config)
        self.write = write
        self.files_folder, self.folders = files_folder, folders
        self.lock = asyncio.Lock()  # one line or clock step at a time
        self.people: dict[str, simcord.MemberActor] = {}
        self.users: dict[str, simcord.UserHandle] = {}
        self.roles: dict[str, simcord.RoleHandle] = {}
        self.speaker = FIRST_SPEAKER
        self.last_seen: dict[str, discord.Message] = {}  # per person: the last message with buttons
        self.last_modal: dict[str, simcord.InteractionResult] = {}
        self.last_code = ""  # the last inline code shown (check-in or invite), for `{code}`
        self.seen: dict[int, tuple[Any, ...]] = {}  # message id → what it showed when last printed
        self.files: list[tuple[str, discord.Attachment]] = []  # attachments not yet saved by !files
        self.saved_files: set[int] = set()
        self.timeline = Timeline(env, bot, clock, scheduler, write=write, after_step=self._after_step)

    # ---- the server ----------------------------------------------------------------------
    def build_server(self) -> None:
        config = self.config
        guild = self.env.create_guild(f"{config.course.code} {config.course.term}", id=SANDBOX_GUILD_ID)
        staff = discord.Permissions(manage_guild=True)
        self.roles = {
            "instructor": guild.create_role(config.discord.roles.instructor, permissions=staff),
            "ta": guild.create_role(config.discord.roles.ta, permissions=staff),
            "student": guild.create_role(config.discord.roles.student),
        }
        self.general = guild.create_text_channel("general")
        channels = config.discord.channels
        for name in dict.fromkeys([channels.announcements, channels.ta_log, channels.fallback]):
            guild.create_text_channel(name)
        self.guild = guild

    async def add_people(self) -> None:
        """Members join once the bot is connected, as they would on a live server; the bot has
        known them since the first day of term, so every lecture counts for them."""
        first_day = self.calendar.at(self.calendar.term_start, time(0, 0))
        async with self.bot.services.db.write() as session:
            for name, role in PEOPLE:
                self.users[name] = self.env.create_user(name)
                self.people[name] = self.guild.add_member(self.users[name], roles=[self.roles[role]])
                await ensure_student(
                    session, discord_id=self.people[name].id, discord_name=name, joined_at=first_day
                )
        await self.env.settle()

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def renderer(self) -> Renderer:
        channels = {c.id: c.name or "channel" for c in self.guild.channels.values()}
        return Renderer(
            self.calendar.tz,
            {p.id: name for name, p in self.people.items()},
            {r.id: r.name for r in self.roles.values()},
            channels,
        )

    def time_line(self) -> str:
        now = self.now.astimezone(self.calendar.tz)
        shown = f"{now:%a %Y-%m-%d %H:%M:%S %Z}" if now.second else f"{now:%a %Y-%m-%d %H:%M %Z}"
        return f"now: {shown}, week {self.calendar.current_week(now) or '-'}"

    # ---- what the bot posts --------------------------------------------------------------
    def _channels(self) -> list[tuple[str, simcord.ChannelHandle]]:
        found = [
            (f"#{c.name}" + (" (thread)" if c.is_thread else ""), c) for c in self.guild.channels.values()
        ]
        return found + [(f"DM to {name}", user.dm_channel) for name, user in self.users.items()]

    def posts(self) -> list[str]:
        """Lines for every message posted or edited since the last call, oldest first, tagged with
        the simulated time."""
        changes: list[tuple[int, str, str, discord.Message]] = []
        before_of: dict[int, tuple[Any, ...]] = {}
        for label, channel in self._channels():
            for message in channel.history():
                shown = signature(message)
                before = self.seen.get(message.id)
                if before == shown:
                    continue
                if before is not None:
                    before_of[message.id] = before
                self.seen[message.id] = shown
                changes.append((message.id, label, "" if before is None else " · edited", message))
        lines: list[str] = []
        renderer, now, tag = self.renderer(), self.now, moment(self.now, self.calendar.tz)
        for _, label, edited, message in sorted(changes, key=lambda change: change[0]):
            files = [a.filename for a in message.attachments]
            self.files.extend((label, a) for a in message.attachments if a.id not in self.saved_files)
            body = renderer.message(now, message.content, message.embeds, components_of(message), files)
            self._remember_codes(body)
            if label.startswith("DM to ") and message.components:
                self.last_seen[label.removeprefix("DM to ")] = message
            if edited and before_of[message.id][:2] == self.seen[message.id][:2]:  # only its buttons
                labels = button_labels(components_of(message))
                now_shows = "buttons: " + " ".join(f"[{b}]" for b in labels) if labels else "no buttons now"
                body = [f"({now_shows})"]
            lines.append(f"[{tag} · {label}{edited}] {body[0]}")
            lines.extend(f"    {line}" for line in body[1:])
        return lines

    def flush(self) -> None:
        for line in self.posts():
            self.write(line)

    def _remember_codes(self, body: list[str]) -> None:
        codes = _INLINE_CODE.findall("\n".join(body))
        if codes:
            self.last_code = codes[-1]

    # ---- time ----------------------------------------------------------------------------
    async def advance_to(self, target: datetime, *, show: bool = True) -> None:
        """Move the clock to `target` through every moment something is due on the way (see
        `Timeline.advance_to`), showing what the bot posts unless `show` is False."""
        await self.timeline.advance_to(target, show=show)

    def _after_step(self, show: bool) -> None:
        if show:
            self.flush()
        else:
            self.posts()

    # ---- lines ---------------------------------------------------------------------------
    async def run_line(self, line: str) -> bool:
        """Run one input line and show what follows; False when the sandbox should stop. Nothing a
        line holds ends the session: each mistake is one line starting with `??` (not understood)
        or `!!` (refused or failed)."""
        async with self.lock:
            keep_going = True
            try:
                keep_going = await self._run_line(line)
            except LineError as error:
                self.write(f"?? {error}")
            except simcord.SetupError as error:  # includes OptionError: what Discord's client prevents
                self.write(f"?? {first_line(str(error))}")
            except simcord.BackendError as error:
                self.write(f"!! Discord refused it: {first_line(error.message)}")
            except TimeoutError:
                self.write("!! the bot did not finish within 30 s")
            except Exception as error:
                log.debug("The sandbox could not run %r", line, exc_info=error)
                detail = first_line(str(error))
                self.write(
                    f"!! the sandbox could not run that line ({type(error).__name__}{': ' + detail if detail else ''})"
                )
            try:
                await self.timeline.run_due()
            except Exception as error:
                self.write(
                    f"!! the bot failed while sending ({type(error).__name__}: {first_line(str(error))})"
                )
            self.flush()
            return keep_going

    async def _run_line(self, line: str) -> bool:
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.startswith("!"):
            return await self.sandbox_command(line[1:].split())
        who, action = self._speaker_and_action(line)
        self.speaker = who
        if "{code}" in action:
            action = action.replace("{code}", await self._code_for(action))
        if action.startswith("/"):
            result = await self.slash(who, action[1:])
        elif action.lower().startswith("click"):
            result = await self.click(who, action[5:].strip())
        else:
            result = await self.submit_form(who, [v.strip() for v in action[4:].split("|")])
        self.write_result(who, result)
        return True

    def _speaker_and_action(self, line: str) -> tuple[str, str]:
        """Who acts and what they do: `bob: /course`, `bob /course`, or `/course` (the last speaker).
        Raises LineError."""
        if _ACTION.match(line):
            return self.speaker, line
        people = ", ".join(self.people)
        named = _NAMED.match(line)
        words = line.split(maxsplit=1)
        if named is None and len(words) == 2 and words[0].lower() in self.people and _ACTION.match(words[1]):
            return words[0].lower(), words[1].strip()
        if named is None:
            raise LineError(
                f"`{clip(line)}`: type a slash command (/course), `click LABEL` or `form A | B`, "
                f"after a name if you like (bob: /course); !help shows more"
            )
        name, action = named.group(1).lower(), named.group(2).strip()
        if name not in self.people:
            raise LineError(
                f"no one is called `{clip(name, 20)}` here{did_you_mean(name, self.people)} (people: {people})"
            )
        if not action:
            raise LineError(f"say what {name} does, e.g. {name}: /course")
        if not _ACTION.match(action):
            raise LineError(
                f"`{clip(action)}`: {name} can type a slash command (/course), `click LABEL` or `form A | B`"
            )
        return name, action

    async def _code_for(self, action: str) -> str:
        """`{code}`: for /checkin the code valid now (it rotates), else the last code shown."""
        if action.lstrip("/").lower().startswith("checkin"):
            opened = await attendance.open_now(self.bot.services)
            if opened is not None:
                return opened[1]
        if not self.last_code:
            raise LineError("no code has been shown yet to fill in {code}")
        return self.last_code

    async def slash(self, who: str, text: str) -> simcord.InteractionResult:
        roots = {c.name: c for c in self.bot.tree.get_commands()}
        words = text.split()
        if words and words[0].lower() in SANDBOX_COMMANDS and words[0].lower() not in roots:
            raise LineError(f"/{words[0]} is not a command; the sandbox's own is !{words[0].lower()}")
        command, used = resolve_command(cast(Any, roots), words)
        rest = re.sub(rf"^\s*(?:\S+\s*){{{used}}}", "", text, count=1)
        path = command.qualified_name
        if path not in self.people[who].available_commands(self.general):
            staff = [n for n, role in PEOPLE if role != "student"]
            raise LineError(
                f"{who} cannot use /{path}: Discord shows it only to the staff ({', '.join(staff)})"
            )
        raw = split_options(command, rest)
        people = People(self.people, {p.id: name for name, p in self.people.items()})
        options = {name: coerce(command, name, value, people, self.folders) for name, value in raw.items()}
        check_required(command, options)
        return await self.people[who].slash(self.general, path, **options)

    async def click(self, who: str, label: str) -> simcord.InteractionResult:
        message = self.last_seen.get(who)
        if message is None:
            raise LineError(f"{who} has no message with buttons yet (buttons come with replies and DMs)")
        message = self._fresh(who, message)
        found = buttons(components_of(message))
        label = pick_button(found, label, f"the last message {who} got")
        if message.guild is None:  # a DM: click as the user, outside the server
            return await self.users[who].click(message, label=label)
        return await self.people[who].click(message, label=label)

    def _fresh(self, who: str, message: discord.Message) -> discord.Message:
        """The message as it is now (a click may have changed its buttons since)."""
        for label, channel in self._channels():
            if channel.id != message.channel.id:
                continue
            viewer = None if label.startswith("DM to ") else self.people[who]
            try:
                return next((m for m in channel.history(viewer=viewer) if m.id == message.id), message)
            except simcord.SetupError:  # that person cannot read the channel
                return message
        return message

    async def submit_form(self, who: str, values: list[str]) -> simcord.InteractionResult:
        shown = self.last_modal.get(who)
        if shown is None or shown.modal is None:
            raise LineError(f"{who} has no form open (a command such as /review talk shows one)")
        answers = form_answers(shown.modal.get("components", []), values)
        del self.last_modal[who]
        return await self.people[who].submit_modal(shown, answers)

    def write_result(self, who: str, result: simcord.InteractionResult) -> None:
        messages = ([result.response] if result.response else []) + list(result.followups)
        if result.modal:
            self.last_modal[who] = result
            for line in form_prompt(who, result.modal):
                self.write(line)
        renderer, now = self.renderer(), self.now
        for response in messages:
            tag = "only you" if response.ephemeral else "everyone"
            files = [a.filename for a in response.attachments]
            self.files.extend((f"{who}'s reply", a) for a in response.attachments)
            body = renderer.message(now, response.content, response.embeds, response.components, files)
            self._remember_codes(body)
            self.write(f"[{who} · {tag}] {body[0]}")
            for line in body[1:]:
                self.write(f"    {line}")
            if response.components:
                self.last_seen[who] = response.message
            self.seen[response.id] = signature(response.message)
        if not messages and not result.modal:
            self.write(f"[{who}] (acknowledged)" if result.acknowledged else f"[{who}] (no reply)")

    # ---- sandbox commands ----------------------------------------------------------------
    async def sandbox_command(self, words: list[str]) -> bool:
        """`!advance`, `!until`, `!time`, …; False for `!quit`. Raises LineError."""
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        if verb in ("quit", "exit"):
            return False
        if verb == "advance":
            await self.advance_to(self.now + parse_duration(" ".join(args)))
            self.write(self.time_line())
        elif verb == "until":
            await self.advance_to(parse_instant(" ".join(args), self.calendar, self.now))
            self.write(self.time_line())
        elif verb == "time":
            self.write(self.time_line())
        elif verb == "who":
            for name, role in PEOPLE:
                self.write(f"{name}: {role}" + (" (speaking)" if name == self.speaker else ""))
        elif verb == "commands":
            self.list_commands(args[0].lower() if args else self.speaker)
        elif verb == "files":
            await self.save_files(" ".join(args))
        elif verb == "help":
            self.write(HELP.format(people=", ".join(self.people)))
        else:
            raise LineError(
                f"!{clip(verb, 20)} is not a sandbox command{did_you_mean(verb, SANDBOX_COMMANDS, '!{}')} (!help lists them)"
            )
        return True

    def list_commands(self, who: str) -> None:
        if who not in self.people:
            raise LineError(f"no one is called `{clip(who, 20)}` here{did_you_mean(who, self.people)}")
        visible = set(self.people[who].available_commands(self.general))
        commands = leaf_commands(cast(Any, self.bot.tree.get_commands()))
        shown = [
            usage(c) for c in sorted(commands, key=lambda c: c.qualified_name) if c.qualified_name in visible
        ]
        self.write(f"what {who} can type ({len(shown)}):")
        for line in shown:
            self.write(f"  {line}")

    async def save_files(self, folder_text: str) -> None:
        """`!files [FOLDER]`: save the attachments the bot sent since the last `!files`. Raises
        LineError when the folder cannot be written."""
        pending = {a.id: (label, a) for label, a in self.files if a.id not in self.saved_files}
        if not pending:
            self.write("no new files from the bot since the last !files")
            return
        for label, attachment in pending.values():
            data = await attachment.read()
            try:
                target = _save(folder_text, self.files_folder, attachment.filename, data)
            except OSError as error:
                raise LineError(
                    f"cannot save into {folder_text or self.files_folder}: {error.strerror or error}"
                ) from None
            self.saved_files.add(attachment.id)
            self.write(f"saved {target} ({len(data)} bytes, from {label})")
        self.files = [(label, a) for label, a in self.files if a.id not in self.saved_files]


def _save(folder_text: str, default: Path, filename: str, data: bytes) -> Path:
    """Write `data` as `filename` in the folder (created if needed); the path written. Raises OSError."""
    folder = Path(folder_text).expanduser() if folder_text else default
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, filename)
    target.write_bytes(data)
    return target


def _free_name(folder: Path, filename: str) -> Path:
    """`folder/filename`, or `name-2.csv`, … when that is taken."""
    name = Path(filename).name or "file"
    target, number = folder / name, 2
    while target.exists():
        target = folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
        number += 1
    return target


def whole_ms(delta: timedelta) -> timedelta:
    return timedelta(milliseconds=int(delta / timedelta(milliseconds=1)))

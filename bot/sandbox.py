"""`coursebot sandbox`: the real bot (same cogs, services and database code) against simcord's
in-process Discord, on a simulated course server. No token, no network.

Type lines such as `alice: /register student_id:20251234 name:Alice Kim` or `ta: /ta student
member:alice`; `alice: click Accept` presses a button on the last message alice got. Lines starting
with `!` talk to the sandbox itself (`!help`).
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import discord
import simcord

from bot.app import CourseBot
from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config, parse_offsets
from bot.services.students import ensure_student

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
HELP = """\
Lines look like `NAME: /command option:value other:more words`, e.g.
  alice: /register student_id:20251234 name:Alice Kim
  ta: /ta student member:alice
  alice: click Accept            (press a button on the last message alice got)
  alice: /checkin code:{{code}}    ({{code}} is the last inline code shown, e.g. a check-in code)
  bob: form 4 | 5 | 3 | Clear talk  (fill the form the bot showed bob, fields separated by |)
People: {people}
Sandbox commands: !help, !who, !time, !advance 1d (or 2h, 30m; due reminders are sent), !commands, !quit"""
_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_INLINE_CODE = re.compile(r"`([A-Z0-9]{4,12})`")
_OPTION = re.compile(r"(?:^|\s)([a-z_][a-z0-9_]*):")


@dataclass
class Outcome:
    lines: list[str]


class Sandbox:
    """A simulated course server with the real bot in it."""

    def __init__(self, env: simcord.Env, bot: CourseBot, clock: Clock, write: Callable[[str], None]) -> None:
        self.env, self.bot, self.clock, self.write = env, bot, clock, write
        self.calendar = CourseCalendar(bot.config)
        self.people: dict[str, simcord.MemberActor] = {}
        self.users: dict[str, simcord.UserHandle] = {}
        self.last_seen: dict[str, discord.Message] = {}
        self.last_modal: dict[str, simcord.InteractionResult] = {}
        self.last_code = ""  # the last inline code shown (check-in or invite), for `{code}` in a line

    def build_server(self, config: Config) -> None:
        guild = self.env.create_guild(f"{config.course.code} {config.course.term}", id=SANDBOX_GUILD_ID)
        roles = {
            "instructor": guild.create_role(
                config.discord.roles.instructor, permissions=discord.Permissions(manage_guild=True)
            ),
            "ta": guild.create_role(
                config.discord.roles.ta, permissions=discord.Permissions(manage_guild=True)
            ),
            "student": guild.create_role(config.discord.roles.student),
        }
        self.general = guild.create_text_channel("general")
        for name in {
            config.discord.channels.announcements,
            config.discord.channels.ta_log,
            config.discord.channels.fallback,
        }:
            guild.create_text_channel(name)
        self.guild, self.roles = guild, roles

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

    # ---- rendering -------------------------------------------------------------------------
    def render_time(self, match: re.Match[str]) -> str:
        instant = datetime.fromtimestamp(int(match.group(1)), UTC).astimezone(self.calendar.tz)
        if match.group(2) == "R":
            delta = instant - self.clock.now()
            return _relative(delta)
        return f"{instant:%a %Y-%m-%d %H:%M} {instant.tzname()}"

    def render_text(self, text: str) -> str:
        text = _TIMESTAMP.sub(self.render_time, text)
        for name, person in self.people.items():
            text = text.replace(f"<@{person.id}>", f"@{name}").replace(f"<@!{person.id}>", f"@{name}")
        for role in self.roles.values():
            text = text.replace(f"<@&{role.id}>", f"@{role.name}")
        return text

    def render_message(
        self,
        content: str,
        embeds: list[discord.Embed],
        components: Any = None,
        attachments: Sequence[str] = (),
    ) -> list[str]:
        lines = self.render_text(content).splitlines() if content else []
        for item in embeds:
            if item.title:
                lines.append(f"== {self.render_text(item.title)} ==")
            if item.description:
                lines.extend(self.render_text(item.description).splitlines())
            for field in item.fields:
                lines.append(f"-- {self.render_text(field.name or '')}:")
                lines.extend(f"   {line}" for line in self.render_text(field.value or "").splitlines())
            if item.footer and item.footer.text:
                lines.append(f"({self.render_text(item.footer.text)})")
        if attachments:
            lines.append("attachments: " + ", ".join(attachments))
        labels = _button_labels(components)
        if labels:
            lines.append("buttons: " + " ".join(f"[{label}]" for label in labels))
        return lines

    # ---- acting --------------------------------------------------------------------------
    def _snapshot(self) -> dict[int, set[int]]:
        return {channel.id: {m.id for m in channel.history()} for channel in self._channels()}

    def _channels(self) -> list[simcord.ChannelHandle]:
        channels = [c for c in self.guild.channels.values() if not c.is_thread]
        return channels + [user.dm_channel for user in self.users.values()]

    def _channel_label(self, channel: simcord.ChannelHandle) -> str:
        for name, user in self.users.items():
            if user.dm_channel.id == channel.id:
                return f"DM to {name}"
        return f"#{channel.name}"

    def _new_messages(self, before: dict[int, set[int]]) -> list[str]:
        lines = []
        for channel in self._channels():
            for message in channel.history():
                if message.id in before.get(channel.id, set()):
                    continue
                label = self._channel_label(channel)
                if label.startswith("DM to "):
                    self.last_seen[label.removeprefix("DM to ")] = message
                files = [a.filename for a in message.attachments]
                body = self.render_message(message.content, message.embeds, _components_of(message), files)
                lines.append(f"[{label}] " + (body[0] if body else ""))
                lines.extend(f"    {line}" for line in body[1:])
        return lines

    async def run_line(self, line: str) -> bool:
        """Run one input line; False when the sandbox should stop."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.startswith("!"):
            before = self._snapshot()
            keep_going = self.sandbox_command(line[1:].split())
            await self.env.settle()
            await self.bot.dispatcher.run()  # whatever fell due (reminders) is sent now
            for out in self._new_messages(before):
                self.write(out)
            return keep_going
        who, _, rest = line.partition(":")
        who = who.strip().lower()
        if who not in self.people or not rest.strip():
            self.write(f"?? `{line}`: start with one of {', '.join(self.people)} and a colon, or type !help")
            return True
        rest = rest.strip().replace("{code}", self.last_code)
        before = self._snapshot()
        try:
            if rest.startswith("/"):
                result = await self.slash(who, rest[1:])
                self.write_result(who, result)
            elif rest.lower().startswith("click "):
                result = await self.click(who, rest[6:].strip())
                self.write_result(who, result)
            elif rest.lower().startswith("form "):
                result = await self.submit_form(who, [v.strip() for v in rest[5:].split("|")])
                self.write_result(who, result)
            else:
                self.write(f"?? `{rest}`: type a slash command (/course) or `click LABEL`")
        except (simcord.BackendError, simcord.SetupError, ValueError, KeyError, OSError) as error:
            self.write(f"!! {error}")
        for out in self._new_messages(before):
            self.write(out)
        return True

    async def slash(self, who: str, text: str) -> simcord.InteractionResult:
        first = _OPTION.search(" " + text)
        path = (" " + text)[: first.start()].strip() if first else text.strip()
        options_text = (" " + text)[first.start() :] if first else ""
        command = self.bot.tree.get_command(path.split()[0])
        for part in path.split()[1:]:
            command = command.get_command(part) if isinstance(command, discord.app_commands.Group) else None
        if command is None or isinstance(command, discord.app_commands.Group):
            raise ValueError(f"/{path} is not a command; try !commands")
        options = {}
        pieces = _OPTION.split(options_text)
        for name, value in zip(pieces[1::2], pieces[2::2], strict=True):
            options[name] = self.coerce(command, name, value.strip())
        return await self.people[who].slash(self.general, path, **options)

    def coerce(self, command: Any, name: str, value: str) -> Any:
        parameter = next((p for p in command.parameters if p.name == name), None)
        if parameter is None:
            raise ValueError(f"/{command.qualified_name} has no option `{name}`")
        kind = parameter.type
        option = discord.AppCommandOptionType
        if kind is option.integer:
            return int(value)
        if kind is option.number:
            return float(value)
        if kind is option.boolean:
            return value.lower() in ("true", "yes", "1", "on")
        if kind in (option.user, option.mentionable):
            return self.people[value.lstrip("@").lower()]
        if kind is option.attachment:
            path = Path(value)
            return (path.name, path.read_bytes())
        return value

    async def click(self, who: str, label: str) -> simcord.InteractionResult:
        message = self.last_seen.get(who)
        if message is None:
            raise ValueError(f"{who} has no message with buttons to click")
        if message.guild is None:  # a DM: click as the user, outside the server
            return await self.users[who].click(message, label=label)
        return await self.people[who].click(message, label=label)

    async def submit_form(self, who: str, values: list[str]) -> simcord.InteractionResult:
        shown = self.last_modal.pop(who, None)
        if shown is None or shown.modal is None:
            raise ValueError(f"{who} has no form open")
        ids = [_input_id(row) for row in shown.modal.get("components", [])]
        return await self.people[who].submit_modal(shown, dict(zip(ids, values, strict=False)))

    def write_result(self, who: str, result: simcord.InteractionResult) -> None:
        messages = ([result.response] if result.response else []) + list(result.followups)
        if result.modal:
            self.last_modal[who] = result
            labels = [_input_label(row) for row in result.modal.get("components", [])]
            self.write(f"[form for {who}] {result.modal.get('title', '')}: " + " | ".join(labels))
            self.write(f"    answer with: {who}: form " + " | ".join("…" for _ in labels))
        for response in messages:
            tag = "only you" if response.ephemeral else "everyone"
            files = [a.filename for a in response.attachments]
            body = self.render_message(response.content, response.embeds, response.components, files)
            codes = _INLINE_CODE.findall("\n".join(body))
            if codes:
                self.last_code = codes[-1]
            self.write(f"[{who} · {tag}] " + (body[0] if body else ""))
            for line in body[1:]:
                self.write(f"    {line}")
            if response.components:
                self.last_seen[who] = response.message
        if not messages and not result.modal:
            self.write(f"[{who}] (no reply)" if not result.acknowledged else f"[{who}] (acknowledged)")

    def sandbox_command(self, words: list[str]) -> bool:
        verb = words[0].lower() if words else "help"
        if verb in ("quit", "exit"):
            return False
        if verb == "who":
            for name, role in PEOPLE:
                self.write(f"{name}: {role}")
        elif verb == "time":
            now = self.clock.now().astimezone(self.calendar.tz)
            self.write(f"now: {now:%a %Y-%m-%d %H:%M %Z}, week {self.calendar.current_week(now) or '-'}")
        elif verb == "advance" and len(words) == 2:
            try:
                offsets = parse_offsets(words[1])
            except ValueError as error:
                self.write(f"!! {error}")
                return True
            if len(offsets) != 1:
                self.write("!! advance by one step, e.g. !advance 1d, !advance 2h or !advance 30m")
                return True
            self.clock.advance(offsets[0])
            self.sandbox_command(["time"])
        elif verb == "commands":
            self.write(" ".join(f"/{c}" for c in self.people["ta"].available_commands(self.general)))
        else:
            self.write(HELP.format(people=", ".join(self.people)))
        return True


def _input_of(row: dict[str, Any]) -> dict[str, Any]:
    """A modal row (action row or label) holds one text input."""
    if "component" in row:
        return dict(row["component"])
    return dict(row.get("components", [{}])[0])


def _input_id(row: dict[str, Any]) -> str:
    return str(_input_of(row).get("custom_id", ""))


def _input_label(row: dict[str, Any]) -> str:
    return str(row.get("label") or _input_of(row).get("label", "?"))


def _relative(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    span = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if span >= size:
            amount = span // size
            text = f"{amount} {unit}{'s' if amount != 1 else ''}"
            return f"in {text}" if seconds > 0 else f"{text} ago"
    return "now"


def _components_of(message: discord.Message) -> list[dict[str, Any]]:
    return [row.to_dict() for row in message.components]  # type: ignore[misc]


def _button_labels(components: Any) -> list[str]:
    labels: list[str] = []
    for row in components or []:
        for child in row.get("components", []) if isinstance(row, dict) else []:
            if child.get("type") == 2 and child.get("label"):
                labels.append(child["label"])
    return labels


def default_start(config: Config, now: datetime) -> tuple[datetime, str | None]:
    """Today if it is inside the term; otherwise the first lecture of week 2, with a note saying so."""
    calendar = CourseCalendar(config)
    if calendar.current_week(now) is not None:
        return now, None
    week_two = calendar.lectures_in_week(2) or calendar.lectures
    start = week_two[0].starts_at
    return (
        start,
        f"today is outside the term; the clock starts at the first lecture of week 2 ({start:%Y-%m-%d %H:%M %Z})",
    )


async def run_sandbox(
    config: Config,
    *,
    start: datetime | None,
    script: Iterable[str] | None,
    database_url: str | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Run the sandbox on `script` lines, or interactively when `script` is None."""
    from bot.clock import system_now

    note = None
    if start is None:
        start, note = default_start(config, system_now())
    with tempfile.TemporaryDirectory(prefix="coursebot-sandbox-") as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'sandbox.db'}"
        discord_config = config.discord.model_copy(
            update={"guild_id": SANDBOX_GUILD_ID, "api_base": "", "gateway_url": ""}
        )
        config = config.model_copy(
            update={"discord": discord_config, "database": config.database.model_copy(update={"url": url})}
        )
        clock = Clock(start=start)
        bot = CourseBot(config, clock=clock, poll_outbox=False)  # `!advance` sends what fell due
        env = simcord.Env(bot, check_errors=False, settle_timeout=30.0)
        sandbox = Sandbox(env, bot, clock, write)
        sandbox.build_server(config)
        await env.start()
        await sandbox.add_people()
        try:
            local = clock.now().astimezone(config.tz)
            write(note or f"clock starts at {local:%Y-%m-%d %H:%M %Z}")
            write(
                f"sandbox: {config.course.code} on a simulated server with {', '.join(sandbox.people)} — !help for help"
            )
            if script is not None:
                for line in script:
                    if line.strip() and not line.strip().startswith("#"):
                        write(f"> {line.strip()}")
                    if not await sandbox.run_line(line):
                        break
            else:
                await _interactive(sandbox)
        finally:
            await env.shutdown()
    return 0


async def _interactive(sandbox: Sandbox) -> None:
    import asyncio

    while True:
        try:
            line = await asyncio.to_thread(input, "coursebot> ")
        except EOFError:
            break
        if not await sandbox.run_line(line):
            break
    sys.stdout.flush()

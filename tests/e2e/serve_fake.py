"""Run the local fake Discord by hand, to try the real `coursebot setup` and `coursebot run` on your machine
with no Discord account and no network.

    python tests/e2e/serve_fake.py            # a fresh server: no course roles or channels yet

It prints a token and the `[discord]` lines to put in a copy of `config.toml`. Then, in another terminal,
`coursebot setup`, `coursebot setup --apply` and `coursebot run` talk to it as they would to Discord. Back
here, type `MEMBER /command option:value …` (e.g. `alice /course`, `alice /register student_id:20250001
name:Alice Kim`) to press a slash command as that member and see the bot's answer; `!messages` shows
what the bot posted and sent by DM; `!roles alice Student` gives a role; `!quit` stops.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bot_process import fake_token
from fake_discord import EPHEMERAL, FakeDiscord, FakeMember

STUDENTS = ("alice", "bob", "carol", "dave", "erin")
OPTION_TYPES = {3: str, 4: int, 10: float}


def parse_line(line: str) -> tuple[str, str, dict[str, str]]:
    """`alice /register student_id:20250001 name:Alice Kim` → ("alice", "register", {"student_id":
    "20250001", "name": "Alice Kim"}): a value runs until the next `option:`. Raises ValueError."""
    member, _, rest = line.partition(" ")
    rest = rest.strip()
    if not rest.startswith("/"):
        raise ValueError("type `MEMBER /command option:value …`, e.g. `alice /course`")
    parts = re.split(r"\s+(?=[a-z_]+:)", rest[1:])
    command, options = parts[0].strip(), {}
    for part in parts[1:]:
        key, _, value = part.partition(":")
        options[key] = value.strip()
    return member, command, options


def convert(fd: FakeDiscord, guild: Any, command: str, options: dict[str, str]) -> dict[str, Any]:
    """Option text → the value the fake sends, by the synced option's type. Raises ValueError."""
    words = command.split()
    synced = next((c for c in fd.commands_for(guild) if c["name"] == words[0]), None)
    if synced is None:
        raise ValueError(f"/{words[0]} is not a synced command (is the bot running?)")
    schema = synced.get("options", [])
    for word in words[1:]:
        schema = next((o.get("options", []) for o in schema if o["name"] == word), [])
    types = {o["name"]: o["type"] for o in schema}
    values: dict[str, Any] = {}
    for key, text in options.items():
        kind = types.get(key)
        if kind == 5:
            values[key] = text.lower() in ("true", "yes", "1")
        elif kind in (6, 9):
            values[key] = fd.member(guild, text)
        elif kind in OPTION_TYPES:
            values[key] = OPTION_TYPES[kind](text)
        else:
            values[key] = text
    return values


def show(result: Any) -> None:
    if result.content:
        print(f"  {result.content}")
    for embed in result.embeds:
        print(f"  [{embed.get('title', '')}] {embed.get('description', '') or ''}")
        for item in embed.get("fields", []):
            print(f"    {item['name']}: {item['value']}")
    if result.late:
        print("  (no answer within Discord's 3 s)")


def print_bot_messages(fd: FakeDiscord, after: int) -> int:
    """Print what the bot posted or sent by DM since message id `after`; returns the newest id."""
    newest = after
    for message_id, message in sorted(fd._messages.items()):
        if message_id <= after or not message["author"].get("bot") or message["flags"] & EPHEMERAL:
            continue
        channel = fd.channels.get(int(message["channel_id"]))
        where = (
            f"DM to {channel.recipient.username}"
            if channel and channel.recipient
            else (f"#{channel.name}" if channel else message["channel_id"])
        )
        text = message["content"] or " ".join(e.get("title", "") for e in message["embeds"])
        print(f"  [{where}] {text}")
        newest = max(newest, message_id)
    return newest


async def serve(port: int) -> None:
    token = fake_token()
    fd = FakeDiscord(token=token)
    await fd.start(port)
    guild = fd.add_guild("EECE695D Spring 2025")
    fd.add_channel(guild, "general")
    for name in ("prof", "ta", *STUDENTS):
        fd.add_member(guild, name)
    general = guild.channel("general")
    print(f"Fake Discord on 127.0.0.1:{fd.port}: a fresh server, id {guild.id}, with members prof, ta and")
    print(f"{', '.join(STUDENTS)}. In a copy of config.toml set:\n")
    print(
        f'  [discord]\n  guild_id = {guild.id}\n  api_base = "{fd.api_base}"\n  gateway_url = "{fd.gateway_url}"\n'
    )
    print(f"and put the token in a .env next to it:\n\n  DISCORD_TOKEN={token}\n")
    print(
        "Then `coursebot setup --config …`, `coursebot setup --apply --config …`, `coursebot run --config …`."
    )
    print("Here: `MEMBER /command option:value …`, `!roles MEMBER ROLE`, `!messages`, `!quit`.")
    seen = 0
    loop = asyncio.get_running_loop()
    while True:
        raw = await loop.run_in_executor(None, sys.stdin.readline)
        if raw == "":  # end of input
            break
        line = raw.strip()
        if not line:
            continue
        if line in ("!quit", "!exit"):
            break
        try:
            if line == "!messages":
                seen = print_bot_messages(fd, seen)
            elif line.startswith("!roles "):
                _, member_name, role_name = line.split(maxsplit=2)
                member: FakeMember = fd.member(guild, member_name)
                role = next((r for r in guild.roles.values() if r.name == role_name), None)
                if role is None:
                    raise LookupError(
                        f"no role named {role_name!r} (has {[r.name for r in guild.roles.values()]})"
                    )
                if role.id not in member.roles:
                    member.roles.append(role.id)
                    fd._member_updated(member)  # the GUILD_MEMBER_UPDATE Discord would send
                print(f"  {member_name} now has {role_name}")
            else:
                member_name, command, options = parse_line(line)
                values = convert(fd, guild, command, options)
                show(await fd.invoke_slash(guild, general, fd.member(guild, member_name), command, values))
        except (ValueError, LookupError) as error:
            print(f"  !! {error}")
        except StopIteration:  # the fake's lookups by name
            print(f"  !! no such member in {line!r} (members: prof, ta, {', '.join(STUDENTS)})")
    await fd.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

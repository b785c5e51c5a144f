"""End to end: `python -m bot setup [--apply]` as a process against the local fake Discord.

A fresh server (no course roles or channels): the dry run lists the plan and sends only GETs; `--apply`
creates the three roles and channels with the contract's overwrites and audits each change; a second
`--apply` finds nothing to do. Also: an existing ta-log open to everyone is closed, and a missing or
wrong token, a missing guild_id and an unreachable Discord each end in one line.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from bot_process import clean_env, fake_token, with_discord_section
from fake_discord import FakeChannel, FakeDiscord, FakeGuild

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 90.0
VIEW, SEND, EMBED, ATTACH = 1 << 10, 1 << 11, 1 << 14, 1 << 15
BOT_POSTS = VIEW | SEND | EMBED | ATTACH


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in (self.stdout + self.stderr).splitlines() if line.strip()]


def write_config(tmp: Path, fd: FakeDiscord | None, guild_id: int, *, api_base: str = "") -> Path:
    values = {"guild_id": str(guild_id)}
    if fd is not None or api_base:
        values["api_base"] = f'"{api_base or fd.api_base}"'  # type: ignore[union-attr]
        values["gateway_url"] = f'"{fd.gateway_url if fd else "ws://127.0.0.1:9/gateway"}"'
    text = with_discord_section((ROOT / "config.toml").read_text(encoding="utf-8"), values)
    config = tmp / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


async def coursebot_setup(config: Path, env: dict[str, str], *extra: str) -> Outcome:
    """Run `python -m bot setup --config CONFIG [extra]` while this loop keeps serving the fake."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "setup",
        "--config",
        str(config),
        *extra,
        cwd=config.parent,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(f"setup did not finish:\n{out.decode()}\n{err.decode()}") from None
    assert proc.returncode is not None
    return Outcome(proc.returncode, out.decode(), err.decode())


def methods_since(fd: FakeDiscord, start: int) -> set[str]:
    return {r.method for r in fd.requests[start:]}


def overwrites(channel: FakeChannel) -> dict[str, tuple[int, int, int]]:
    """target id → (type, allow, deny)."""
    return {o["id"]: (int(o["type"]), int(o["allow"]), int(o["deny"])) for o in channel.overwrites}


def audit_actions(database: Path) -> list[tuple[str, int | None]]:
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT action, target_id FROM audit_log ORDER BY id"))


def fresh_server(fd: FakeDiscord) -> FakeGuild:
    guild = fd.add_guild("EECE695D Spring 2025")
    fd.add_channel(guild, "general")
    return guild


async def test_setup_prepares_a_fresh_server_and_then_has_nothing_to_do(tmp_path: Path) -> None:
    token = fake_token()
    async with FakeDiscord(token=token) as fd:
        guild = fresh_server(fd)
        config = write_config(tmp_path, fd, guild.id)
        database = tmp_path / "course.db"
        env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{database}")

        dry = await coursebot_setup(config, env)
        assert dry.code == 1, dry
        assert "  + create role Student (mentionable: announcement pings use it)" in dry.stdout
        assert (
            "  + create channel #ta-log: @everyone deny View Channel; Instructor allow View Channel; "
            in dry.stdout
        )
        assert "run `coursebot setup --apply`" in dry.stdout
        assert "Integrations → coursebot → /ta → add the TA and Instructor roles" in dry.stdout
        assert methods_since(fd, 0) == {"GET"}, [(r.method, r.path) for r in fd.requests]
        assert {r.name for r in guild.roles.values()} == {"@everyone", "coursebot"}
        assert not database.exists()  # a dry run changes nothing, not even a local file
        assert token not in dry.stdout + dry.stderr

        applied = await coursebot_setup(config, env, "--apply")
        assert applied.code == 0, applied
        for line in (
            "created role Instructor",
            "created role TA",
            "created role Student",
            "created channel #announcements",
            "created channel #ta-log",
            "created channel #bot-notices",
        ):
            assert line in applied.lines, applied
        assert "Traceback" not in applied.stderr

        roles = {r.name: r for r in guild.roles.values()}
        assert roles["Student"].mentionable and not roles["TA"].mentionable
        bot_role = roles["coursebot"]
        assert all(roles[name].position < bot_role.position for name in ("Instructor", "TA", "Student"))
        bot, everyone = str(fd.bot_user.id), str(guild.id)
        announcements, ta_log, notices = (
            guild.channel(n) for n in ("announcements", "ta-log", "bot-notices")
        )
        assert overwrites(announcements) == {everyone: (0, 0, SEND), bot: (1, BOT_POSTS, 0)}
        assert overwrites(ta_log) == {
            everyone: (0, 0, VIEW),
            str(roles["Instructor"].id): (0, VIEW, 0),
            str(roles["TA"].id): (0, VIEW, 0),
            bot: (1, BOT_POSTS, 0),
        }
        assert overwrites(notices) == {bot: (1, BOT_POSTS, 0)}

        actions = audit_actions(database)
        assert [a for a, _ in actions] == ["setup.role_created"] * 3 + ["setup.channel_created"] * 3
        assert {t for _, t in actions} == {roles[n].id for n in ("Instructor", "TA", "Student")} | {
            c.id for c in (announcements, ta_log, notices)
        }

        start = len(fd.requests)
        again = await coursebot_setup(config, env, "--apply")
        assert again.code == 0, again
        assert "Nothing to do: the server matches the config." in again.lines
        assert methods_since(fd, start) == {"GET"}
        assert len(audit_actions(database)) == len(actions)


async def test_setup_closes_an_open_ta_log_and_makes_the_student_role_mentionable(tmp_path: Path) -> None:
    token = fake_token()
    async with FakeDiscord(token=token) as fd:
        guild = fresh_server(fd)
        for name in ("Instructor", "TA"):
            fd.add_role(guild, name)
        student = fd.add_role(guild, "Student")
        ta_log = fd.add_channel(guild, "ta-log")
        fd.set_overwrite(ta_log, student, allow=VIEW)  # students were let in by hand
        fd.add_channel(guild, "announcements", overwrites=[{"id": guild.id, "type": 0, "deny": SEND}])
        fd.add_channel(guild, "bot-notices")
        guild.role("coursebot").permissions = (
            BOT_POSTS | (1 << 16) | (1 << 28) | (1 << 4)
        )  # no Mention Everyone
        config = write_config(tmp_path, fd, guild.id)
        database = tmp_path / "course.db"
        env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{database}")

        dry = await coursebot_setup(config, env)
        assert dry.code == 1, dry
        assert (
            "  + set overwrite on #ta-log: @everyone deny View Channel (every member can read it now: a privacy problem)"
            in dry.lines
        )
        assert (
            "  + set overwrite on #ta-log: Student drop allow View Channel (Student can read it now: a privacy problem)"
            in dry.lines
        )
        assert "  + make role Student mentionable (announcement pings use it)" in dry.lines
        assert methods_since(fd, 0) == {"GET"}

        applied = await coursebot_setup(config, env, "--apply")
        assert applied.code == 0, applied
        assert "set overwrite on #ta-log: @everyone deny View Channel" in applied.lines
        assert student.mentionable
        staff = {str(guild.role(n).id) for n in ("Instructor", "TA")}
        assert overwrites(ta_log) == {
            str(guild.id): (0, 0, VIEW),
            **{role: (0, VIEW, 0) for role in staff},
            str(fd.bot_user.id): (1, BOT_POSTS, 0),
        }  # the student role's overwrite is gone
        actions = [a for a, _ in audit_actions(database)]
        assert actions.count("setup.overwrite_set") == 5 and actions.count("setup.overwrite_removed") == 1
        assert "setup.role_updated" in actions

        start = len(fd.requests)
        again = await coursebot_setup(config, env)
        assert again.code == 0 and "Nothing to do: the server matches the config." in again.lines, again
        assert methods_since(fd, start) == {"GET"}


async def test_setup_lists_what_the_bot_lacks_and_exits_1_after_applying(tmp_path: Path) -> None:
    token = fake_token()
    async with FakeDiscord(token=token, bot_permissions=BOT_POSTS | (1 << 16) | (1 << 28)) as fd:
        guild = fresh_server(fd)
        config = write_config(tmp_path, fd, guild.id)
        env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'course.db'}")
        applied = await coursebot_setup(config, env, "--apply")
        assert applied.code == 1, applied
        assert "created role Student" in applied.lines  # Manage Roles: the roles are made
        assert not any(c.name == "ta-log" for c in guild.channels.values())  # no Manage Channels
        assert any(
            line.startswith("  ! the bot lacks Manage Channels (to create the channels)")
            for line in applied.lines
        )
        assert any(
            "Invite link with the permissions the bot needs: https://discord.com/oauth2/" in x
            for x in applied.lines
        )


async def test_without_a_token_setup_says_so_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, None, 1234)
    done = await coursebot_setup(config, clean_env())
    assert done.code == 2
    assert done.lines == [
        "DISCORD_TOKEN is not set: export your bot's token first (or put it in a .env next to the config)."
    ]


async def test_without_a_guild_id_setup_says_so_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, None, 0)
    done = await coursebot_setup(config, clean_env(DISCORD_TOKEN=fake_token()))
    assert done.code == 2
    assert len(done.lines) == 1 and done.lines[0].startswith("set [discord] guild_id first")


async def test_a_wrong_token_is_one_line(tmp_path: Path) -> None:
    async with FakeDiscord(token=fake_token()) as fd:
        guild = fresh_server(fd)
        config = write_config(tmp_path, fd, guild.id)
        wrong = fake_token()
        done = await coursebot_setup(config, clean_env(DISCORD_TOKEN=wrong))
    assert done.code == 2, done
    assert len(done.lines) == 1 and done.lines[0].startswith("Discord refused the token"), done
    assert wrong not in done.stdout + done.stderr


async def test_an_unreachable_discord_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, None, 1234, api_base="http://127.0.0.1:9/api/v10")
    done = await coursebot_setup(config, clean_env(DISCORD_TOKEN=fake_token()))
    assert done.code == 1, done
    assert len(done.lines) == 1 and done.lines[0].startswith("cannot reach"), done


async def test_a_server_the_bot_is_not_in_is_one_line_with_an_invite_link(tmp_path: Path) -> None:
    token = fake_token()
    async with FakeDiscord(token=token) as fd:
        fresh_server(fd)
        config = write_config(tmp_path, fd, 4242)
        done = await coursebot_setup(config, clean_env(DISCORD_TOKEN=token))
    assert done.code == 1, done
    assert len(done.lines) == 1 and done.lines[0].startswith("the bot is not in server 4242"), done
    assert f"client_id={fd.application_id}" in done.lines[0]

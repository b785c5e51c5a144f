"""End to end: what an operator sees when `coursebot run` cannot start, against the local fake Discord.

A wrong token, the Server Members intent switched off, Discord's REST API or gateway out of reach at
start-up: each ends the real `python -m bot run` process with a non-zero exit and one line on stderr
that says what to do (after one log line per retry), never a traceback. Once connected, a lost
gateway is retried by discord.py with one log line per failure, and the bot serves again.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from bot_process import clean_env, fake_token, start_bot, with_discord_section
from fake_discord import FakeDiscord, FakeGuild

from bot.startup_errors import MISSING_MEMBERS_INTENT, WRONG_TOKEN

ROOT = Path(__file__).resolve().parents[2]
NOW = "2025-03-10 11:00"
EXIT_TIMEOUT = 90.0  # a safety net for a hung process, not a measure of speed
READY_TIMEOUT = 30.0


@dataclass
class Exited:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The last non-empty line of stderr: the one line the operator acts on."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert lines, f"nothing on stderr; stdout: {self.stdout!r}"
        return lines[-1]

    def assert_one_line_error(self, expected: str) -> None:
        assert self.returncode not in (0, None), (self.returncode, self.stderr)
        assert "Traceback" not in self.stdout + self.stderr, self.stderr
        assert "sequence" not in self.stderr, self.stderr  # discord.py's 'NoneType' ... 'sequence'
        assert self.error_line == expected, self.stderr
        assert self.stderr.count(expected) == 1, self.stderr


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fake_course(fd: FakeDiscord) -> FakeGuild:
    guild = fd.add_guild("EECE695D Spring 2025")
    for name in ("Instructor", "TA", "Student"):
        fd.add_role(guild, name)
    for name in ("general", "announcements", "ta-log", "bot-notices"):
        fd.add_channel(guild, name)
    fd.add_member(guild, "alice", roles=["Student"])
    return guild


def write_config(
    folder: Path, guild: FakeGuild, *, api_base: str, gateway_url: str, log_format: str = "text"
) -> Path:
    text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {"guild_id": str(guild.id), "api_base": f'"{api_base}"', "gateway_url": f'"{gateway_url}"'},
    )
    text, count = re.subn(r'(?m)^format = "text"', f'format = "{log_format}"', text)
    assert count == 1
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def run_until_exit(config: Path, env: dict[str, str]) -> Exited:
    """`python -m bot run` to its end, stdout and stderr apart."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        "--now",
        NOW,
        cwd=config.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), EXIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Exited(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def env_for(token: str, folder: Path, **extra: str) -> dict[str, str]:
    return clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'course.db'}", **extra)


async def test_a_wrong_token_is_one_line_with_what_to_do(tmp_path: Path) -> None:
    async with FakeDiscord(token=fake_token()) as fd:
        guild = fake_course(fd)
        config = write_config(
            tmp_path, guild, api_base=fd.api_base, gateway_url=fd.gateway_url, log_format="json"
        )
        wrong = fake_token()
        done = await run_until_exit(config, env_for(wrong, tmp_path))

    done.assert_one_line_error(WRONG_TOKEN)
    assert "developer portal → Bot → Reset Token" in done.error_line
    assert wrong not in done.stdout + done.stderr
    assert any(r.path == "/users/@me" and r.status == 401 for r in fd.requests)
    # [logging] format = "json": every log line before the error is one JSON object
    *log_lines, _error = [line for line in done.stderr.splitlines() if line.strip()]
    assert log_lines, done.stderr
    for line in log_lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry


async def test_the_server_members_intent_switched_off_names_the_switch(tmp_path: Path) -> None:
    token = fake_token()
    async with FakeDiscord(token=token, members_intent_allowed=False) as fd:
        guild = fake_course(fd)
        config = write_config(tmp_path, guild, api_base=fd.api_base, gateway_url=fd.gateway_url)
        done = await run_until_exit(config, env_for(token, tmp_path))

    done.assert_one_line_error(MISSING_MEMBERS_INTENT)
    assert "Privileged Gateway Intents → Server Members Intent" in done.error_line
    assert fd.gateway_connections == 1 and fd.ready_count == 0  # refused at IDENTIFY, not retried
    # the chatty libraries stay quiet: no APScheduler "Added job"/"Running job" lines at INFO
    assert "apscheduler" not in done.stderr and "alembic" not in done.stderr, done.stderr


async def test_rest_out_of_reach_is_retried_then_one_line(tmp_path: Path) -> None:
    port = closed_port()
    async with FakeDiscord() as fd:
        guild = fake_course(fd)
        config = write_config(
            tmp_path,
            guild,
            api_base=f"http://127.0.0.1:{port}/api/v10",
            gateway_url=f"ws://127.0.0.1:{port}/gateway",
        )
        done = await run_until_exit(config, env_for(fake_token(), tmp_path, COURSEBOT_CONNECT_ATTEMPTS="2"))

    reason = f"cannot reach Discord at 127.0.0.1:{port} (Connection refused)"
    done.assert_one_line_error(
        f"{reason}: check the network connection and [discord] api_base / gateway_url; gave up after 2 attempts"
    )
    [retry] = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert retry.endswith(f"{reason}; retrying in 2 s"), retry
    assert fd.requests == []


async def test_gateway_out_of_reach_is_retried_then_one_line(tmp_path: Path) -> None:
    port = closed_port()
    token = fake_token()
    async with FakeDiscord(token=token) as fd:
        guild = fake_course(fd)
        config = write_config(
            tmp_path, guild, api_base=fd.api_base, gateway_url=f"ws://127.0.0.1:{port}/gateway"
        )
        done = await run_until_exit(config, env_for(token, tmp_path, COURSEBOT_CONNECT_ATTEMPTS="3"))

    reason = f"cannot reach Discord at 127.0.0.1:{port} (Connection refused)"
    done.assert_one_line_error(
        f"{reason}: check the network connection and [discord] api_base / gateway_url; gave up after 3 attempts"
    )
    retries = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert [line.split("coursebot: ", 1)[1] for line in retries] == [
        f"{reason}; retrying in 2 s",
        f"{reason}; retrying in 4 s",
    ], done.stderr
    assert sum(r.path == "/users/@me" for r in fd.requests) == 3  # REST was fine: logged in each time
    assert fd.gateway_connections == 0


async def test_a_gateway_lost_while_running_is_retried_in_one_line_per_failure(tmp_path: Path) -> None:
    token = fake_token()
    fd = FakeDiscord(token=token)
    await fd.start()
    guild = fake_course(fd)
    config = write_config(tmp_path, guild, api_base=fd.api_base, gateway_url=fd.gateway_url)
    output = tmp_path / "bot.log"
    proc = await start_bot(config, NOW, cwd=tmp_path, env=env_for(token, tmp_path), log=output)

    def log_text() -> str:
        return output.read_text(encoding="utf-8", errors="replace")

    try:
        await fd.wait_ready(timeout=READY_TIMEOUT)
        await fd.wait_until(lambda: "Connected to Discord as" in log_text(), READY_TIMEOUT, "on_ready")
        port = fd.port
        await fd.stop()  # Discord goes away under a running bot
        await fd.wait_until(
            lambda: "Connection to Discord lost" in log_text(), READY_TIMEOUT, "a reconnect line in the log"
        )
        assert proc.returncode is None, log_text()
        await fd.start(port)  # and comes back
        await fd.wait_ready(timeout=READY_TIMEOUT)
        result = await fd.invoke_slash(
            guild, guild.channel("general"), guild.member("alice"), "course", timeout=READY_TIMEOUT
        )
        assert result.embeds and "EECE695D" in result.embeds[0]["title"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fd.stop()

    text = log_text()
    assert "Traceback" not in text, text
    lines = text.splitlines()
    lost = [i for i, line in enumerate(lines) if "Connection to Discord lost" in line]
    assert lost and all(
        re.search(r"WARNING .*; attempting a reconnect in [\d.]+s$", lines[i]) for i in lost
    ), lines
    assert any("Connected to Discord as" in line for line in lines[: lost[0]]), lines
    assert any("Reconnected to Discord" in line for line in lines[lost[-1] :]), lines
    assert token not in text


@pytest.mark.parametrize("attempts", ["0", "two"])
async def test_a_bad_attempt_count_is_one_line(tmp_path: Path, attempts: str) -> None:
    async with FakeDiscord() as fd:
        guild = fake_course(fd)
        config = write_config(tmp_path, guild, api_base=fd.api_base, gateway_url=fd.gateway_url)
        done = await run_until_exit(
            config, env_for(fake_token(), tmp_path, COURSEBOT_CONNECT_ATTEMPTS=attempts)
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.error_line == (
        f"COURSEBOT_CONNECT_ATTEMPTS={attempts!r}: give a whole number of attempts, 1 or more"
    )
    assert fd.requests == []

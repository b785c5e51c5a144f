"""Helpers for running the real `coursebot run` process against the fake Discord (shared by the
end-to-end tests and the benchmarks)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path


def fake_token() -> str:
    """Shaped like a real bot token (base64 id . timestamp . hmac), random per run."""
    user_id = base64.urlsafe_b64encode(str(secrets.randbits(62)).encode()).decode().rstrip("=")
    return f"{user_id}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"


def with_discord_section(text: str, values: dict[str, str]) -> str:
    """The config text with the given keys of the `[discord]` table (not its sub-tables) replaced."""
    header = re.search(r"^\[discord\][ \t]*(#.*)?$", text, re.MULTILINE)
    assert header, "config.toml has no [discord] table"
    following = re.compile(r"^\[", re.MULTILINE).search(text, header.end())
    end = following.start() if following else len(text)
    section = text[header.end() : end]
    for key, value in values.items():
        section, count = re.subn(
            rf"^({re.escape(key)}[ \t]*=[ \t]*)[^#\n]*?([ \t]*(#.*)?)$",
            lambda m, v=value: f"{m.group(1)}{v}{m.group(2)}",
            section,
            flags=re.MULTILINE,
        )
        assert count == 1, f"[discord] {key} appears {count} times in config.toml"
    return text[: header.end()] + section + text[end:]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the bot's own variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


async def start_bot(
    config: Path, now: str, *, cwd: Path, env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    """`python -m bot run --config CONFIG --now NOW`, its output (both streams) written to `log`."""
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config),
            "--now",
            now,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )

"""What the command line writes for operators: the log on stderr (the bot's records at `[logging]
level`, the chatty libraries at WARNING, text or one JSON object per line) and the redaction of the
token from every line, logged or printed."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from bot.config import Config, LoggingSection

# Libraries whose INFO lines bury the bot's own (APScheduler alone writes two per job run, ~11,000 a
# day): WARNING and above only.
NOISY_LOGGERS = ("apscheduler", "alembic", "aiosqlite", "discord.gateway", "discord.state")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@dataclass
class _Session:
    """What the error path of `main` needs to know: whether tracebacks are wanted, and the secrets
    that no line may show."""

    debug: bool = False
    secrets: tuple[str, ...] = ()


_session = _Session()


def _environment_token() -> str:
    return os.environ.get("DISCORD_TOKEN", "").strip()


def begin(debug: bool) -> None:
    """Start one command: tracebacks wanted (`--debug`) or not, and the environment's token the one
    secret known so far."""
    _session.debug, _session.secrets = debug, tuple(filter(None, [_environment_token()]))


class RedactSecrets(logging.Formatter):
    """Formats a record with `inner`, then replaces every secret (the token) in the whole output: the
    message, an exception's traceback and text, a stack — no path lets the token through."""

    def __init__(self, inner: logging.Formatter, secrets: Sequence[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = {s for s in secrets if s} | {json.dumps(s)[1:-1] for s in secrets if s}
        self.secrets = sorted(forms, key=len, reverse=True)  # JSON-escaped forms too

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the exception's
    text (and a stack) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler on whatever `sys.stderr` is when a record is written (tests swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def redact(text: str) -> str:
    """`text` without the secrets known to this command (for lines printed outside the log)."""
    return RedactSecrets(logging.Formatter(), _session.secrets).redact(text)


def setup_logging(config: Config | None, level: int | None = None) -> None:
    """Log to stderr for operators: the bot's own records at `level` (default `[logging] level`; DEBUG
    with --debug), the chatty libraries at WARNING, as text or one JSON object per line
    (`[logging] format`). The token is redacted from every line."""
    settings = config.logging if config is not None else LoggingSection()
    if config is not None and settings.level == "DEBUG":
        _session.debug = True
    if _session.debug:
        level = logging.DEBUG
    elif level is None:
        level = logging.getLevelNamesMapping()[settings.level]
    token = config.token.get_secret_value() if config is not None and config.token else ""
    _session.secrets = tuple(s for s in {*_session.secrets, token.strip(), _environment_token()} if s)
    handler = _StderrHandler()
    inner = JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(RedactSecrets(inner, _session.secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
    logging.captureWarnings(True)

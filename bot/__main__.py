"""The command line: `coursebot run | sandbox | check | db | import | export | backup | setup`.

Whatever goes wrong ends in one line on stderr that says what to do and a non-zero exit, never a
traceback (that is logged at DEBUG: `--debug` or `[logging] level = "DEBUG"` shows it).
"""

from __future__ import annotations

if __name__ == "__main__":  # `python -m bot`: load this module again, the way `coursebot` does
    import sys

    from bot.launch import main as launch

    sys.exit(launch())

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata

from bot.cli import logs
from bot.cli.common import EXIT_INTERRUPTED, EXIT_PROBLEMS, EXIT_USAGE, UsageError, log
from bot.cli.data import cmd_backup, cmd_db, cmd_export, cmd_import
from bot.cli.logs import NOISY_LOGGERS, TEXT_FORMAT, JsonFormatter, RedactSecrets, redact, setup_logging
from bot.cli.preflight import cmd_check, cmd_setup
from bot.cli.serve import NO_TOKEN, SANDBOX_INSTEAD, cmd_run, cmd_sandbox
from bot.startup_errors import StartupError, first_line

__all__ = [  # with `main` and `build_parser`, the names tests and tools take from here
    "NOISY_LOGGERS",
    "NO_TOKEN",
    "SANDBOX_INSTEAD",
    "TEXT_FORMAT",
    "JsonFormatter",
    "RedactSecrets",
    "build_parser",
    "main",
    "setup_logging",
]


def package_version() -> str:
    """The installed package's version (package metadata)."""
    try:
        return metadata.version("coursebot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursebot", description="A Discord bot for a university course.")
    parser.add_argument("--version", action="version", version=f"coursebot {package_version()}")
    debug_help = "show the traceback of an unexpected error (and log at DEBUG)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.toml", help="configuration file (default ./config.toml)")
    # also after the command; SUPPRESS keeps a `coursebot --debug run` from being reset by the default
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="migrate, connect to Discord and serve")
    run.add_argument("--now", help="start the clock at this instant (ISO 8601; course timezone if no offset)")
    run.set_defaults(handler=cmd_run)

    sandbox = sub.add_parser(
        "sandbox", parents=[common], help="the real bot on a simulated server: no token, no network"
    )
    sandbox.add_argument(
        "--now", help="start the clock at this instant (ISO 8601; course timezone if no offset)"
    )
    sandbox.add_argument("--script", help="run the lines of this file instead of prompting")
    sandbox.add_argument("--database", help="database URL to keep (default: a fresh temporary SQLite file)")
    sandbox.add_argument(
        "--empty", action="store_true", help="start with no course data (default: a demo course)"
    )
    sandbox.set_defaults(handler=cmd_sandbox)

    check = sub.add_parser("check", parents=[common], help="validate the configuration")
    check.set_defaults(handler=cmd_check)

    db = sub.add_parser("db", parents=[common], help="database migrations")
    db.add_argument("db_command", choices=["upgrade", "current"])
    db.set_defaults(handler=cmd_db)

    imports = sub.add_parser(
        "import", parents=[common], help="import the paper list or the class roster (CSV)"
    )
    imports.add_argument("kind", choices=["papers", "roster"])
    imports.add_argument(
        "file", help="papers: number,title,authors,url,week · roster: student_id,name[,discord][,email]"
    )
    imports.set_defaults(handler=cmd_import)

    export = sub.add_parser(
        "export", parents=[common], help="export the gradebook CSV or the course calendar (.ics)"
    )
    export.add_argument("what", choices=["gradebook", "calendar"])
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument(
        "--format",
        choices=["csv", "canvas", "moodle"],
        default="csv",
        help="gradebook: csv (default), or the file Canvas or Moodle imports as it is",
    )
    export.set_defaults(handler=cmd_export)

    backup = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of the SQLite database, safe while the bot runs"
    )
    backup.add_argument("file", help="where to write the copy")
    backup.set_defaults(handler=cmd_backup)

    setup = sub.add_parser(
        "setup", parents=[common], help="show what the course server lacks for the config (--apply: fix it)"
    )
    setup.add_argument("--apply", action="store_true", help="create and fix what the bot can")
    setup.set_defaults(handler=cmd_setup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure ends in one line on stderr and a non-zero exit: 1 for a problem
    to fix, 2 for a bad argument, 130 for Ctrl-C; the traceback of an unexpected error only with
    --debug or `[logging] level = "DEBUG"`."""
    args = build_parser().parse_args(argv)
    logs.begin(bool(args.debug))
    try:
        return int(args.handler(args))
    except UsageError as error:
        print(redact(str(error)), file=sys.stderr)
        return EXIT_USAGE
    except StartupError as error:
        print(redact(str(error)), file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        print("coursebot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if not logging.getLogger().handlers:
            setup_logging(None)
        log.debug("Unexpected error in `coursebot %s`", args.command, exc_info=error)
        detail = first_line(str(error))
        print(
            redact(
                f"coursebot: unexpected error: {type(error).__name__}{': ' + detail if detail else ''} "
                "(details in the log at DEBUG)"
            ),
            file=sys.stderr,
        )
        return EXIT_PROBLEMS

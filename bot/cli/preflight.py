"""Before the bot runs: `coursebot check` (the config, every problem listed) and `coursebot setup`
(what the course server lacks for the config; `--apply` fixes what the bot can)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    GLOBAL_SYNC,
    load_config_or_exit,
    with_services,
)
from bot.cli.logs import setup_logging
from bot.config import ConfigError, load_config


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        print(f"{args.config}: {len(error.problems)} problem(s)")
        return EXIT_PROBLEMS
    from bot.calendar import CourseCalendar

    calendar = CourseCalendar(config)
    if config.discord.guild_id == 0:
        print(f"warning: {GLOBAL_SYNC}", file=sys.stderr)
    print(
        f"{args.config}: OK — {config.course.code} {config.course.term}, {config.course.weeks} weeks from "
        f"{calendar.term_start}, {len(calendar.lectures)} lectures, {len(config.deadlines)} deadlines"
    )
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args.config)
    from bot.server_setup import run_setup, usage_problem

    problem = usage_problem(config)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config, logging.ERROR)
    if not args.apply:  # a dry run reads Discord only: no database either
        return asyncio.run(run_setup(config, services=None))
    return asyncio.run(with_services(config, lambda services: run_setup(config, services=services)))

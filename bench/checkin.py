"""Check-in burst benchmark: N students (default 1000) send `/checkin` at once through the real
discord.py path, over loopback, to the real `python -m bot run` process on the local fake Discord,
against the floor (a bare discord.py bot, `bench/floor_bot.py`) measured in the same run.

The same as `python bench/commands.py --command checkin --sizes N` (see there for what is measured);
kept as the short way to the check-in figures:

    python bench/checkin.py [--students 1000] [--rounds 1] [--profile FILE] [--py-spy DIR] [--deadline 3]

`--students 10000` is the one-process limit test (RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from commands import add_run_options, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=1000, help="students in the burst (default 1000)")
    parser.add_argument("--rounds", type=int, default=1, help="check-in rounds; after the first: 'already'")
    add_run_options(parser)
    args = parser.parse_args()
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    sys.exit(
        asyncio.run(main([args.students], ["checkin"], args.rounds, args.deadline, args.profile, args.py_spy))
    )

"""Benchmark-only probe, loaded by the bot and the floor at interpreter start when the benchmarks put
this directory on PYTHONPATH (`bench/_harness.py`). Not part of the bot. What it does, by variable:

- `BENCH_GC_PROBE=FILE`: times every garbage collection (`gc.callbacks`) by generation, and writes
  the running totals to FILE as JSON on each SIGUSR1 (the harness signals before and after a burst).
- `BENCH_NO_ORJSON=1`: makes `import orjson` fail, so discord.py falls back to the standard `json`
  (to compare both in one virtualenv).
- `BENCH_UVLOOP=1`: runs asyncio on uvloop's event loop (`asyncio.run` takes the policy's loop).
- `BENCH_GC_THRESHOLD=A,B,C`: `gc.set_threshold(A, B, C)` at start.
"""

from __future__ import annotations

import os

if os.environ.get("BENCH_NO_ORJSON") == "1":
    import sys
    from importlib.abc import MetaPathFinder

    class _NoOrjson(MetaPathFinder):
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "orjson" or name.startswith("orjson."):
                raise ModuleNotFoundError(f"No module named {name!r} (BENCH_NO_ORJSON)", name=name)

    sys.meta_path.insert(0, _NoOrjson())

if os.environ.get("BENCH_UVLOOP") == "1":
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

if os.environ.get("BENCH_GC_THRESHOLD"):
    import gc

    gc.set_threshold(*(int(part) for part in os.environ["BENCH_GC_THRESHOLD"].split(",")))

if os.environ.get("BENCH_GC_PROBE"):
    import gc
    import json
    import signal
    import time

    _target = os.environ["BENCH_GC_PROBE"]
    _collections, _seconds, _collected = [0, 0, 0], [0.0, 0.0, 0.0], [0, 0, 0]
    _totals = {"collections": _collections, "seconds": _seconds, "collected": _collected}
    _started = [0.0]

    def _on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            _started[0] = time.thread_time()
        else:
            generation = info["generation"]
            _collections[generation] += 1
            _seconds[generation] += time.thread_time() - _started[0]
            _collected[generation] += info.get("collected", 0)

    def _write(_signum: int, _frame: object) -> None:
        with open(_target + ".tmp", "w", encoding="utf-8") as out:
            json.dump(_totals, out)
        os.replace(_target + ".tmp", _target)

    gc.callbacks.append(_on_gc)
    signal.signal(signal.SIGUSR1, _write)

"""Where a burst's CPU went: py-spy's raw stacks (`--format raw`, one "frame;frame;… count" a line)
sorted into the parts of an interaction's life, each as a share of the sampled time and in µs per
interaction (the share of the burst's measured CPU time).

    python bench/_spy.py FILE.txt [--cpu-ms 0.53]   # a file written by `--py-spy DIR`

Not a test and not part of the bot. The benchmarks print this table after each burst they sample.
A sample belongs to the first part (in the order below) whose rule matches one of its frames.
py-spy sees Python frames only: a collection by the garbage collector is charged to whatever
frame allocated, and time in C (zlib, the JSON parser, aiohttp's C extensions) to the frame that
called it.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class Frame:
    name: str  # "Class.method" or "function"
    file: str  # "discord/interactions.py", "<frozen runpy>"


def parse_stack(text: str) -> list[Frame]:
    frames = []
    for part in text.split(";"):
        match = _FRAME.match(part)
        frames.append(Frame(match["name"], match["file"]) if match else Frame(part, ""))
    return frames


def _named(*names: str) -> Callable[[Frame], bool]:
    return lambda f: f.name in names


def _in_files(*prefixes: str) -> Callable[[Frame], bool]:
    return lambda f: f.file.startswith(prefixes)


def _after(stack: list[Frame], anchor: Callable[[Frame], bool]) -> list[Frame]:
    for i, frame in enumerate(stack):
        if anchor(frame):
            return stack[i + 1 :]
    return []


_SEND_MESSAGE = _named("InteractionResponse.send_message", "InteractionResponse.defer")
_ERROR_PATH = _named("CourseTree.on_error", "CommandTree.on_error", "handle_interaction_error")
_POLL = _named("DiscordWebSocket.poll_event")
_PARSE = _named("ConnectionState.parse_interaction_create")
_TREE = _named("CommandTree._call")
_COMMIT = _in_files("services/attendance/batching.py", "sqlalchemy/", "aiosqlite/", "greenlet/")
_GREENLET = _named("greenlet_spawn", "await_only", "_connection_worker_thread")


def _post_part(stack: list[Frame]) -> str:
    """The callback POST, by what it was doing."""
    inner = _after(stack, _SEND_MESSAGE)
    names = {f.name for f in inner}
    files = {f.file for f in inner}
    if names & {"_to_json", "dumps", "interaction_message_response_params"}:
        return "POST: payload (params, JSON encode)"
    if names & {"ClientResponse.start", "ClientResponse.read", "ClientResponse.text", "json_or_text"}:
        return "POST: response (wait, read, JSON decode)"
    if names & {"ClientRequest.send", "StreamWriter.write_headers", "StreamWriter.write"}:
        return "POST: request sent (headers, body)"
    if any(f.startswith("yarl/") for f in files) or names & {
        "ClientRequest.__init__",
        "ClientSession._prepare_headers",
    }:
        return "POST: request built (URL, query, headers)"
    if any("connector.py" in f for f in files):
        return "POST: connection pool"
    if any("tracing.py" in f or f.startswith("aiosignal/") for f in files):
        return "POST: aiohttp trace signals"
    if names & {"InteractionCallbackResponse.__init__", "InteractionMessage.__init__", "Message.__init__"}:
        return "POST: result objects (InteractionMessage)"
    if names & {"HTTPException.__init__", "NotFound.__init__"}:
        return "POST: late answer's exception"
    return "POST: discord.py + aiohttp request glue (adapter, timeouts, tasks)"


def part_of(stack: list[Frame]) -> str:
    """The part of an interaction's life one sample belongs to."""
    if any(_ERROR_PATH(f) for f in stack):
        return "late answers: the error path (10062, a log line)"
    if any(_SEND_MESSAGE(f) for f in stack):
        return _post_part(stack)
    if any(_PARSE(f) for f in stack) and not any(_TREE(f) for f in stack):
        inner = _after(stack, _PARSE)
        if any(f.name.startswith("Member.") or f.file.endswith("member.py") for f in inner):
            return "parse: Member construction"
        if any(f.name == "CommandTree._from_interaction" for f in inner):
            return "parse: task for the command"
        return "parse: Interaction construction"
    if any(_POLL(f) for f in stack):
        names = {f.name for f in stack}
        if names & {"loads", "JSONDecoder.decode", "JSONDecoder.raw_decode"}:
            return "gateway: JSON decode"
        if any("decompress" in f.name for f in stack):
            return "gateway: zlib"
        return "gateway: websocket receive, dispatch"
    if any(_COMMIT(f) or _GREENLET(f) for f in stack):
        return "group commit (rules, SQL, inserts)"
    if any(_TREE(f) for f in stack):
        inner = _after(stack, _TREE)
        names = {f.name for f in inner}
        files = {f.file for f in inner}
        if any(f.startswith("prometheus_client/") for f in files) or "Metrics.command_handled" in names:
            return "tree: metrics"
        if names & {"Namespace.__init__", "Namespace._get_resolved_items"}:
            return "tree: options (Namespace)"
        if names & {"CourseTree.interaction_check", "bound_writes", "CourseBot.track_handler"}:
            return "tree: our interaction check"
        if any(f.startswith("cogs/") for f in files):
            return "tree: our command (besides the answer and the commit)"
        return "tree: discord.py's dispatch (command lookup, checks, events)"
    if any(f.name == "ResponseHandler.data_received" for f in stack):
        return "socket reads (callback responses, gateway frames)"
    if any(f.file.startswith("logging/") for f in stack):
        return "logging (other)"
    return "event loop, other"


def summarise(path: Path) -> tuple[Counter[str], int]:
    """Samples per part in a py-spy raw file, and the total."""
    parts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            parts[part_of(parse_stack(stack))] += int(count)
    return parts, sum(parts.values())


def table(path: Path, cpu_ms_per_interaction: float | None) -> list[str]:
    """The parts, largest first: share of the samples, and µs per interaction when the CPU is known."""
    parts, total = summarise(path)
    if not total:
        return [f"    (no samples in {path})"]
    lines = [f"    where the CPU went (py-spy, {total} samples; µs = share × CPU per interaction):"]
    groups: Counter[str] = Counter()
    for name, count in parts.items():
        groups[name.split(":", 1)[0]] += count
    for group, group_count in groups.most_common():
        members = [(n, c) for n, c in parts.most_common() if n.split(":", 1)[0] == group]
        for name, count in members:
            share = count / total
            us = f"{share * cpu_ms_per_interaction * 1000:6.0f} µs" if cpu_ms_per_interaction else ""
            lines.append(f"      {share * 100:5.1f} %  {us}  {name}")
        if len(members) > 1:
            share = group_count / total
            us = f"{share * cpu_ms_per_interaction * 1000:6.0f} µs" if cpu_ms_per_interaction else ""
            lines.append(f"      {share * 100:5.1f} %  {us}  = {group}, all")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path, help="a py-spy raw file (`py-spy record --format raw`)")
    parser.add_argument("--cpu-ms", type=float, help="the burst's CPU per interaction in ms (for µs)")
    args = parser.parse_args()
    print("\n".join(table(args.file, args.cpu_ms)))

"""deploy/ and the README checked against the code.

Always: the Dockerfile, .dockerignore, Compose file and systemd units say what a deployment needs
(non-root user, health check, volume, restart policy, escaped `%`), the container health check
behaves against a local HTTP server, every `coursebot …` in the README exists in the command line
parser, and the README's command tables match the slash commands the bot registers. Where the tools
exist: the image builds (a container engine), `docker compose config` parses, `systemd-analyze
verify` accepts the units.
"""

from __future__ import annotations

import argparse
import configparser
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from discord import app_commands

from bot.__main__ import build_parser
from tests.cogs.conftest import course  # noqa: F401 (the fixture: the real bot on simcord)
from tests.conftest import ROOT

if TYPE_CHECKING:
    from tests.cogs.conftest import Course

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
HEALTHCHECK = DEPLOY / "healthcheck.py"
UNITS = ("coursebot.service", "coursebot-backup.service", "coursebot-backup.timer")
CHECKOUT = "/opt/coursebot"  # where the units expect the checkout
README = ROOT / "README.md"


# ---- reading the files ----------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def last(instructions: list[tuple[str, str]], keyword: str) -> str:
    found = [arguments for name, arguments in instructions if name == keyword]
    assert found, f"the Dockerfile has no {keyword}"
    return found[-1]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"), source=name)
    return parser


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def readme_text() -> str:
    """The README as a reader sees it: HTML comments (places kept for text still to come) removed."""
    return re.sub(r"<!--.*?-->", "", README.read_text(encoding="utf-8"), flags=re.S)


def engine_unavailable() -> str | None:
    """Why a container image cannot be built here, or None. Building downloads the base image and
    packages, so it runs only when asked for (`COURSEBOT_TEST_DOCKER=1`): the suite stays offline."""
    if os.environ.get("COURSEBOT_TEST_DOCKER") != "1":
        return "building the image downloads packages; set COURSEBOT_TEST_DOCKER=1 to build it"
    if shutil.which("docker") is None:
        return "no docker client"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        last_line = (info.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`docker info` fails, no container engine here: {last_line}"
    return None


# ---- the Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_runs_coursebot_as_a_non_root_user_on_a_slim_python() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    defaults = dict(
        arguments.split("=", 1) for name, arguments in instructions if name == "ARG" and "=" in arguments
    )
    base = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), last(instructions, "FROM"))
    version = re.fullmatch(r"python:3\.(\d+)-slim", base)
    assert version and int(version.group(1)) >= 11, base

    user = last(instructions, "USER")
    assert user.split(":")[0] not in ("root", "0", ""), user
    names = [name for name, _ in instructions]
    last_user = len(names) - 1 - names[::-1].index("USER")
    last_run = len(names) - 1 - names[::-1].index("RUN")
    assert last_user > last_run  # every RUN is done before the switch, nothing runs as root after it

    assert json.loads(last(instructions, "ENTRYPOINT")) == ["coursebot"]
    command = json.loads(last(instructions, "CMD"))
    assert command[0] == "run" and command[command.index("--config") + 1] == "/app/config.toml"
    run_args = build_parser().parse_args(command)
    assert run_args.command == "run" and run_args.config == "/app/config.toml"


def test_dockerfile_installs_the_project_with_postgres_and_keeps_the_database_on_a_volume() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    runs = " ".join(arguments for name, arguments in instructions if name == "RUN")
    assert re.search(r"""pip install ["']?\.\[postgres\]""", runs), runs
    assert "/data" in json.loads(last(instructions, "VOLUME"))
    environment = " ".join(arguments for name, arguments in instructions if name == "ENV")
    assert "DATABASE_URL=sqlite+aiosqlite:////data/coursebot.db" in environment
    assert "chown -R coursebot:coursebot /data" in runs  # the volume starts owned by the bot's user


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    secrets_and_data = {".env", ".git", ".venv", "data/*.db", "data/*.db-*"}
    assert secrets_and_data <= ignored  # no token or database in the build context, so none in the image
    copied = []
    for name, arguments in instructions:
        if name == "COPY":
            *sources, _target = arguments.split()
            copied += sources
    assert {"pyproject.toml", "README.md", "bot", "cogs", "migrations", "deploy/healthcheck.py"} <= set(
        copied
    )
    for source in copied:
        assert (ROOT / source).exists(), source
        assert source not in ignored and source.split("/")[0] not in ignored, source


def test_dockerfile_healthcheck_runs_the_probe_on_the_mounted_config() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    healthcheck = last(instructions, "HEALTHCHECK")
    assert re.search(r"--interval=\d+s", healthcheck) and re.search(r"--start-period=\d+s", healthcheck)
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command == ["python", "/app/deploy/healthcheck.py", "/app/config.toml"]
    copies = [arguments for name, arguments in instructions if name == "COPY"]
    assert "deploy/healthcheck.py ./deploy/healthcheck.py" in copies  # WORKDIR /app
    assert last(instructions, "WORKDIR") == "/app"


def test_the_image_builds_and_checks_its_config() -> None:
    reason = engine_unavailable()
    if reason:
        pytest.skip(reason)
    tag = f"coursebot-test:{uuid.uuid4().hex[:12]}"
    build = subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    try:
        check = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", tag, "check"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert ": OK — " in check.stdout
        user = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "--entrypoint", "id", tag, "-u"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert user.stdout.strip() not in ("", "0"), user
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=300, check=False)


# ---- the container health check --------------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []  # noqa: RUF012 (set per server below)

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = json.dumps({"gateway": "connected" if self.status == 200 else "disconnected"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


@pytest.fixture(params=[200, 503])
def health_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, int, list[str]]]:
    """A local /healthz answering with the given status: (port, status, paths asked)."""
    paths: list[str] = []
    handler = type("Handler", (_Health,), {"status": request.param, "paths": paths})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], request.param, paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def probe(config_text: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.toml"
    if config_text is not None:
        path.write_text(config_text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), str(path)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("section", ["", "[http]\nbind = '0.0.0.0'\n", "[http]\nport = 0\n"])
def test_healthcheck_is_healthy_when_http_is_off(tmp_path: Path, section: str) -> None:
    done = probe("[course]\ncode = 'X'\n" + section, tmp_path)
    assert (done.returncode, done.stdout) == (0, "")


def test_healthcheck_asks_healthz_and_follows_its_status(
    tmp_path: Path, health_server: tuple[int, int, list[str]]
) -> None:
    port, status, paths = health_server
    for bind in ("127.0.0.1", "0.0.0.0"):
        done = probe(f"[http]\nport = {port}\nbind = '{bind}'\n", tmp_path)
        assert done.returncode == (0 if status == 200 else 1), done.stdout
        assert done.stdout == ("" if status == 200 else f"http://127.0.0.1:{port}/healthz: HTTP 503\n")
    assert paths == ["/healthz", "/healthz"]


def test_healthcheck_fails_with_one_line_when_nothing_answers_or_the_config_is_bad(tmp_path: Path) -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), _Health) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    done = probe(f"[http]\nport = {port}\n", tmp_path)
    assert done.returncode == 1 and done.stdout.startswith(f"http://127.0.0.1:{port}/healthz: ")
    assert len(done.stdout.splitlines()) == 1 and "Traceback" not in done.stderr
    for text in ("[http]\nport = 'eighty'\n", "[http\n", None):
        done = probe(text, tmp_path / "missing" if text is None else tmp_path)
        assert done.returncode == 1, text
        assert len(done.stdout.splitlines()) == 1 and done.stderr == "", (text, done.stdout, done.stderr)


# ---- Compose -------------------------------------------------------------------------------------


def test_compose_runs_the_bot_from_the_image_with_its_data_on_a_named_volume() -> None:
    data = compose()
    bot = data["services"]["bot"]
    assert bot["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (COMPOSE.parent / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve() == DOCKERFILE
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert [(COMPOSE.parent / f).resolve() for f in env_files] == [ROOT / ".env"]  # next to config.toml
    assert bot["restart"] == "unless-stopped"
    mounts = dict(reversed(volume.split(":")[:2]) for volume in bot["volumes"])
    assert mounts["/data"] in data["volumes"]  # a named volume, declared
    assert (COMPOSE.parent / mounts["/app/config.toml"]).resolve() == ROOT / "config.toml"
    assert "DISCORD_TOKEN" not in json.dumps(bot.get("environment", {}))  # the token stays in .env
    assert "postgres" not in bot.get("profiles", [])


def test_compose_has_postgres_under_a_profile_with_its_own_volume() -> None:
    data = compose()
    postgres = data["services"]["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert postgres["image"].startswith("postgres:")
    volume = dict(reversed(v.split(":")[:2]) for v in postgres["volumes"])["/var/lib/postgresql/data"]
    assert volume in data["volumes"]
    assert postgres["environment"]["POSTGRES_DB"] == "coursebot"
    assert "DISCORD_TOKEN" not in json.dumps(postgres) and "env_file" not in postgres
    dependency = data["services"]["bot"]["depends_on"]["postgres"]
    assert dependency == {"condition": "service_healthy", "required": False}
    comments = COMPOSE.read_text(encoding="utf-8")
    assert "DATABASE_URL=postgresql+asyncpg://coursebot:" in comments and "@postgres/coursebot" in comments


def test_docker_compose_config_parses(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client")
    version = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        first_line = (version.stderr.strip().splitlines() or ["no output"])[0]
        pytest.skip(f"no docker compose plugin: {first_line}")
    # A checkout of its own, with the .env that compose.yaml reads (a clean clone has none).
    (tmp_path / "deploy").mkdir()
    shutil.copy(COMPOSE, tmp_path / "deploy" / "compose.yaml")
    shutil.copy(DOCKERFILE, tmp_path / "deploy" / "Dockerfile")
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    (tmp_path / ".env").write_text("DISCORD_TOKEN=not-a-real-token\n", encoding="utf-8")
    for profile in ([], ["--profile", "postgres"]):
        done = subprocess.run(
            [
                "docker",
                "compose",
                "-f",
                str(tmp_path / "deploy" / "compose.yaml"),
                *profile,
                "config",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr


# ---- systemd -------------------------------------------------------------------------------------


def test_service_unit_runs_coursebot_from_the_checkout_and_restarts_on_failure() -> None:
    service = unit("coursebot.service")
    body = service["Service"]
    assert body["WorkingDirectory"] == CHECKOUT
    assert body["EnvironmentFile"] == f"{CHECKOUT}/.env"
    assert body["User"] not in ("", "root", "0")
    assert body["Restart"] == "on-failure" and int(body["RestartSec"]) > 0
    command = shlex.split(body["ExecStart"])
    assert command[0] == f"{CHECKOUT}/.venv/bin/coursebot"
    args = build_parser().parse_args(command[1:])
    assert args.command == "run" and args.config == f"{CHECKOUT}/config.toml"
    assert "network-online.target" in service["Unit"]["After"].split()
    assert "network-online.target" in service["Unit"]["Wants"].split()
    assert service["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("name", ["coursebot.service", "coursebot-backup.service"])
def test_hardening_leaves_the_sqlite_folder_and_backups_writable(name: str) -> None:
    body = unit(name)["Service"]
    assert body["ProtectSystem"] == "strict"
    writable = body["ReadWritePaths"].split()
    assert f"{CHECKOUT}/data" in writable and f"{CHECKOUT}/backups" in writable
    # The database of config.toml, relative to its folder, is in that writable folder.
    url = re.search(r'^url = "sqlite\+aiosqlite:///([^"]+)"', (ROOT / "config.toml").read_text(), re.M)
    assert url is not None
    assert f"{CHECKOUT}/{Path(url.group(1)).parent}" in writable


def test_backup_timer_runs_coursebot_backup_daily_into_a_dated_file() -> None:
    service = unit("coursebot-backup.service")
    body = service["Service"]
    assert body["Type"] == "oneshot"
    assert body["WorkingDirectory"] == CHECKOUT and body["EnvironmentFile"] == f"{CHECKOUT}/.env"
    assert body["User"] == unit("coursebot.service")["Service"]["User"]
    start = body["ExecStart"]
    # Every % is escaped (%% is a literal %), and $ is escaped for the shell's command substitution.
    assert "%%F" in start and re.sub("%%", "", start).count("%") == 0, start
    assert "$$(date +%%F)" in start
    shell = shlex.split(start)
    assert shell[:2] == ["/bin/sh", "-c"]
    # What the shell runs, as systemd hands it over: %% → %, $$ → $.
    script = shell[2].replace("%%", "%").replace("$$", "$")
    assert script.endswith(f" {CHECKOUT}/backups/coursebot-$(date +%F).db"), script
    inner = shlex.split(script.replace("$(date +%F)", "2025-04-01"))
    assert inner[0] == "exec" and inner[1] == f"{CHECKOUT}/.venv/bin/coursebot"
    args = build_parser().parse_args(inner[2:])
    assert args.command == "backup" and args.config == f"{CHECKOUT}/config.toml"
    assert args.file == f"{CHECKOUT}/backups/coursebot-2025-04-01.db"
    for key, value in body.items():
        if key.startswith("Exec"):
            assert re.sub("%%", "", value).count("%") == 0, (key, value)

    timer = unit("coursebot-backup.timer")
    assert timer["Timer"]["Unit"] == "coursebot-backup.service"
    assert timer["Timer"]["Persistent"] == "true"
    assert re.fullmatch(r"(daily|\*-\*-\* \d\d:\d\d(:\d\d)?)", timer["Timer"]["OnCalendar"])
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    checkout = tmp_path / "checkout"
    executable = checkout / ".venv" / "bin" / "coursebot"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\n", encoding="utf-8")
    executable.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for name in UNITS:  # the same units, pointed at a checkout that exists here
        text = (DEPLOY / name).read_text(encoding="utf-8").replace(CHECKOUT, str(checkout))
        (units / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(units / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # verify exits 0 on unknown keys and bad values; any line it prints is a problem.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


# ---- the README -----------------------------------------------------------------------------------

COMMAND_POSITION = {"&&", "||", ";", "|", "sudo", "exec", "bot", "then", "do", "$"}


def readme_code() -> list[str]:
    """Every line of the README's code blocks and every inline code span."""
    text = readme_text()
    fence = r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```"
    blocks = re.findall(fence, text, flags=re.S | re.M)
    prose = re.sub(fence, "", text, flags=re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", prose)


def runs_coursebot(words: list[str], index: int) -> bool:
    """Whether `words[index]` starts the command line: `coursebot`, a path to it, or the Compose
    service `bot` after `docker compose … run` (whose entry point is `coursebot`)."""
    word = words[index]
    if word.endswith("/bin/coursebot"):
        return True
    if word == "coursebot":
        return index == 0 or words[index - 1] in COMMAND_POSITION
    if word == "bot" and "compose" in words[:index]:
        before = words[words.index("compose") : index]
        return "run" in before and "--entrypoint" not in before
    return False


def cli_invocations() -> list[list[str]]:
    """The words after each `coursebot` run in the README's code, up to the end of that shell
    command. A bare `coursebot` (the program's name in prose) and `coursebot …` are left out."""
    found = []
    for line in readme_code():
        try:
            words = shlex.split(line.split(" #", 1)[0], posix=True)
        except ValueError:
            words = line.split()
        for index in range(len(words)):
            if runs_coursebot(words, index):
                rest = []
                for following in words[index + 1 :]:
                    if following in COMMAND_POSITION - {"bot", "$"}:
                        break
                    rest.append(following)
                if rest and rest[0] != "…":
                    found.append(rest)
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def test_every_coursebot_command_in_the_readme_exists() -> None:
    parser = build_parser()
    commands = subcommands(parser)
    seen = set()
    top_level = {option for action in parser._actions for option in action.option_strings}
    for words in cli_invocations():
        while words and words[0].strip("[]") in top_level:  # `coursebot --debug export …`
            seen.add(words[0].strip("[]"))
            words = words[1:]
        if not words:  # `coursebot --version`
            continue
        name = words[0]
        assert name in commands, f"`coursebot {' '.join(words)}`: no subcommand {name!r}"
        seen.add(name)
        sub = commands[name]
        options = {option for action in sub._actions for option in action.option_strings}
        positionals = [a for a in sub._actions if not a.option_strings]
        for word in words[1:]:
            option = word.strip("[]").split("=")[0]
            if option.startswith("-"):
                assert option in options, f"`coursebot {' '.join(words)}`: {name} has no option {option}"
        choices = next((a.choices for a in positionals if a.choices), None)
        if choices is not None:
            bare = [w for w in words[1:] if not w.startswith(("-", "[")) and not w.isupper()]
            assert bare and bare[0] in choices, f"`coursebot {' '.join(words)}`: expected one of {choices}"
    # The README documents the whole command line, so this cannot pass by finding nothing.
    assert {"run", "sandbox", "check", "db", "import", "export", "backup", "setup", "--version"} <= seen, seen


def readme_slash_rows() -> list[list[list[str]]]:
    """The words of each code span in the first cell of the README's slash command table rows. In a
    row like `/ta paper add number title [authors]` · `import file`, the spans after the first name
    siblings of the first (`/ta paper import file`)."""
    rows = []
    for line in readme_text().splitlines():
        if line.startswith("| `/"):
            spans = re.findall(r"`([^`]+)`", line.split("|")[1])
            rows.append([span.removeprefix("/").split() for span in spans])
    return rows


def resolve(
    words: list[str], leaves: dict[str, app_commands.Command[Any, ..., Any]]
) -> tuple[str, list[str]]:
    """The longest run of `words` that names a registered command, and the words after it."""
    for end in range(len(words), 0, -1):
        name = " ".join(words[:end])
        if name in leaves:
            return name, words[end:]
    raise AssertionError(f"/{' '.join(words)}: no such command is registered")


async def test_the_readme_command_tables_match_the_registered_commands(course: Course) -> None:  # noqa: F811
    leaves = {
        command.qualified_name: command
        for command in course.bot.tree.walk_commands()
        if isinstance(command, app_commands.Command)
    }
    assert {"review talk", "review poster", "review mine", "ta reviews"} <= set(leaves)
    documented = set()
    rows = readme_slash_rows()
    assert len(rows) >= 30, len(rows)  # the tables were found
    for first, *siblings in rows:
        group = resolve(first, leaves)[0].split()[:-1]
        for words in [first, *([*group, *span] for span in siblings)]:
            name, options = resolve(words, leaves)
            check_options(name, options, leaves)
            documented.add(name)
    missing = sorted(set(leaves) - documented)
    assert not missing, f"registered but not in the README's tables: {missing}"


def check_options(
    name: str, options: list[str], leaves: dict[str, app_commands.Command[Any, ..., Any]]
) -> None:
    """The options shown exist, brackets mark exactly the optional ones, and none is left out."""
    parameters = {parameter.name: parameter for parameter in leaves[name].parameters}
    shown = {option.strip("[]"): option.startswith("[") for option in options}
    for option, optional in shown.items():
        assert option in parameters, f"/{name}: no option {option!r} (has {sorted(parameters)})"
        assert optional == (not parameters[option].required), (
            f"/{name} {option}: shown {'optional' if optional else 'required'}, but it is not"
        )
    left_out = sorted(set(parameters) - set(shown))
    assert not left_out, f"/{name}: options {left_out} are not documented"

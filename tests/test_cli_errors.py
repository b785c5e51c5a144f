"""The command line a new operator meets: every failure is one line on stderr that says what to do and
a non-zero exit, never a traceback; `--version`; operator logging (quiet libraries, JSON, the token
redacted everywhere); `coursebot run` without a token at a terminal starts the sandbox.

The errors run `python -m bot ...` as a real process. Nothing here reaches the network: Discord's
endpoints point at a closed 127.0.0.1 port and PostgreSQL servers are local fakes.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import select
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest
from pydantic import SecretStr

import bot.__main__ as cli
from bot.config import Config
from bot.startup_errors import POSTGRES_EXTRA
from tests.conftest import ROOT
from tests.e2e.bot_process import fake_token, with_discord_section

CONFIG_TOML = ROOT / "config.toml"
PAPERS = ROOT / "data" / "papers.sample.csv"
GUILD_ID = 424242424242424242
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.this-is-the-secret-bot-token"
PROCESS_TIMEOUT = 90  # a safety net for a hung process, not a measure of speed
DATABASE_ADVICE = "check [database] url (or DATABASE_URL) and that the server is running"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """config.toml in a folder of its own (its relative database lands there), with the server id set
    and Discord's endpoints on a closed local port: nothing can reach the real Discord."""
    port = closed_port()
    text = with_discord_section(
        CONFIG_TOML.read_text(encoding="utf-8"),
        {
            "guild_id": str(GUILD_ID),
            "api_base": f'"http://127.0.0.1:{port}/api/v10"',
            "gateway_url": f'"ws://127.0.0.1:{port}/gateway"',
        },
    )
    folder = tmp_path / "course"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def coursebot(
    *args: str, cwd: Path, env: dict[str, str] | None = None, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    environment.update(COURSEBOT_CONNECT_ATTEMPTS="1", PYTHONUNBUFFERED="1")
    environment.update(env or {})
    if pythonpath is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(pythonpath), environment.get("PYTHONPATH", "")])
        )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The failure's single stderr line (exit ≠ 0, nothing else on stderr, no traceback anywhere)."""
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def commands(config: Path, script: Path, url: str) -> dict[str, list[str]]:
    """Every command that opens the database, with its arguments."""
    flag = ["--config", str(config)]
    return {
        "run": ["run", *flag],
        "db upgrade": ["db", "upgrade", *flag],
        "db current": ["db", "current", *flag],
        "import": ["import", "papers", str(PAPERS), *flag],
        "export": ["export", "gradebook", *flag],
        "setup --apply": ["setup", "--apply", *flag],
        "sandbox --database": ["sandbox", "--database", url, "--script", str(script), *flag],
    }


COMMANDS = list(commands(Path(), Path(), ""))


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.txt"
    path.write_text("!time\n", encoding="utf-8")
    return path


# ---- PostgreSQL: the extra missing, the server refusing, a wrong password ----------------------
@pytest.fixture
def without_asyncpg(tmp_path: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes `import asyncpg` fail as when it is not installed."""
    folder = tmp_path / "no-asyncpg"
    (folder / "asyncpg").mkdir(parents=True)
    (folder / "asyncpg" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'asyncpg'\", name='asyncpg')\n", encoding="utf-8"
    )
    return folder


@pytest.mark.parametrize("command", COMMANDS)
def test_postgresql_without_the_extra_says_how_to_install_it(
    command: str, config_path: Path, script: Path, without_asyncpg: Path
) -> None:
    url = "postgresql+asyncpg://coursebot:pw@127.0.0.1:5/coursebot"
    done = coursebot(
        *commands(config_path, script, url)[command],
        cwd=config_path.parent,
        env={"DATABASE_URL": url, "DISCORD_TOKEN": fake_token()},
        pythonpath=without_asyncpg,
    )
    assert one_line_error(done) == POSTGRES_EXTRA
    assert "pip install 'coursebot[postgres]'" in POSTGRES_EXTRA


@pytest.mark.parametrize("command", COMMANDS)
def test_a_postgresql_server_that_refuses_is_one_line(command: str, config_path: Path, script: Path) -> None:
    port = closed_port()
    url = f"postgresql+asyncpg://coursebot:hunter2@127.0.0.1:{port}/coursebot"
    done = coursebot(
        *commands(config_path, script, url)[command],
        cwd=config_path.parent,
        env={"DATABASE_URL": url, "DISCORD_TOKEN": fake_token()},
    )
    line = one_line_error(done)
    assert line == (
        f"cannot connect to the database postgresql+asyncpg://coursebot:***@127.0.0.1:{port}/coursebot "
        f"(Connection refused): {DATABASE_ADVICE}"
    )
    assert "hunter2" not in done.stdout + done.stderr


def _refuse_every_login(server: socket.socket) -> None:
    """Speak just enough of PostgreSQL's protocol to refuse each login: no SSL, then FATAL 28P01."""
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            while True:
                head = conn.recv(8)
                if len(head) < 8:
                    break
                length, code = struct.unpack("!ii", head)
                if length > 8:
                    conn.recv(length - 8)
                if code == 80877103:  # SSLRequest
                    conn.sendall(b"N")
                    continue
                fields = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "coursebot"\0\0'
                conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
                break


@pytest.fixture
def postgres_refusing_logins() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    thread = threading.Thread(target=_refuse_every_login, args=(server,), daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


@pytest.mark.parametrize("command", ["run", "db current", "export"])
def test_a_wrong_postgresql_password_is_one_line(
    command: str, config_path: Path, script: Path, postgres_refusing_logins: int
) -> None:
    port = postgres_refusing_logins
    url = f"postgresql+asyncpg://coursebot:wrong-password@127.0.0.1:{port}/coursebot"
    done = coursebot(
        *commands(config_path, script, url)[command],
        cwd=config_path.parent,
        env={"DATABASE_URL": url, "DISCORD_TOKEN": fake_token()},
    )
    assert one_line_error(done) == (
        f"cannot connect to the database postgresql+asyncpg://coursebot:***@127.0.0.1:{port}/coursebot "
        f'(password authentication failed for user "coursebot"): {DATABASE_ADVICE}'
    )
    assert "wrong-password" not in done.stdout + done.stderr


# ---- SQLite: the folder is created when missing; what cannot be written is one line ------------
def test_the_default_data_folder_is_created_next_to_the_config(config_path: Path) -> None:
    done = coursebot("db", "upgrade", "--config", str(config_path), cwd=config_path.parent.parent)
    assert done.returncode == 0, done.stderr
    assert (config_path.parent / "data" / "coursebot.db").is_file()  # relative to the config's folder


def test_a_missing_folder_for_the_database_is_created(config_path: Path) -> None:
    database = config_path.parent / "new" / "deeper" / "course.db"
    done = coursebot(
        "db",
        "upgrade",
        "--config",
        str(config_path),
        cwd=config_path.parent,
        env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
    )
    assert done.returncode == 0, done.stderr
    assert database.is_file()


@pytest.mark.parametrize("command", ["run", "db upgrade", "import", "export", "sandbox --database"])
def test_a_database_folder_that_cannot_be_created_is_one_line(
    command: str, config_path: Path, script: Path
) -> None:
    blocker = config_path.parent / "blocker"
    blocker.write_text("a file where the folder would be\n", encoding="utf-8")
    url = f"sqlite+aiosqlite:///{blocker / 'data' / 'course.db'}"
    done = coursebot(
        *commands(config_path, script, url)[command],
        cwd=config_path.parent,
        env={"DATABASE_URL": url, "DISCORD_TOKEN": fake_token()},
    )
    assert one_line_error(done) == (
        f"cannot create the database folder {blocker / 'data'} (Not a directory): create it or set "
        "[database] url (or DATABASE_URL) to a writable place"
    )


# Each case makes a bad place for the database in the config's folder: the command to run, the
# database's path, and the one line that says what is wrong.
BadDatabase = tuple[list[str], Path, str]


def _folder_is_a_file(folder: Path) -> BadDatabase:
    blocker = folder / "blocker"
    blocker.write_text("not a folder\n", encoding="utf-8")
    return (
        ["db", "current"],
        blocker / "course.db",
        f"the database folder {blocker} is a file: move it or set [database] url (or DATABASE_URL)",
    )


def _path_is_a_folder(folder: Path) -> BadDatabase:
    database = folder / "db"
    database.mkdir()
    return (
        ["db", "upgrade"],
        database,
        f"the database {database} is a folder: give a file, e.g. {database / 'coursebot.db'}",
    )


def _not_a_database(folder: Path) -> BadDatabase:
    database = folder / "course.db"
    database.write_bytes(b"this is no SQLite database, just some text " * 50)
    return (
        ["export", "gradebook"],
        database,
        f"cannot use the database file {database} (file is not a database): check that it and its folder "
        "are writable by this user, or set [database] url (or DATABASE_URL)",
    )


def _read_only_file(folder: Path) -> BadDatabase:
    database = folder / "course.db"
    sqlite3.connect(database).close()
    database.chmod(0o444)
    return (
        ["db", "upgrade"],
        database,
        f"the database file {database} is read-only for this user: fix its permissions or set "
        "[database] url (or DATABASE_URL)",
    )


def _read_only_folder(folder: Path) -> BadDatabase:
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)  # pytest's clean-up of tmp_path makes it writable again to remove it
    return (
        ["db", "upgrade"],
        locked / "course.db",
        f"the database folder {locked} is not writable by this user: fix its permissions or set "
        "[database] url (or DATABASE_URL)",
    )


needs_permissions = pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes through file permissions (the folder-is-a-file cases cover root)"
)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_folder_is_a_file, id="its-folder-is-a-file"),
        pytest.param(_path_is_a_folder, id="it-is-a-folder"),
        pytest.param(_not_a_database, id="a-file-that-is-not-a-database"),
        pytest.param(_read_only_file, id="a-read-only-file", marks=needs_permissions),
        pytest.param(_read_only_folder, id="a-read-only-folder", marks=needs_permissions),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line(
    config_path: Path, bad: Callable[[Path], BadDatabase]
) -> None:
    command, database, line = bad(config_path.parent)
    done = coursebot(
        *command,
        "--config",
        str(config_path),
        cwd=config_path.parent,
        env={"DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
    )
    assert one_line_error(done) == line


# ---- arguments: export -o, sandbox --script and --database ------------------------------------
# Each case: the arguments (after the command, before --config), given the config's folder, and the
# one line that refuses them.
BadArguments = tuple[list[str], str]


def _export_into_a_missing_folder(folder: Path) -> BadArguments:
    target = folder / "exports" / "grades.csv"
    return [
        "export",
        "gradebook",
        "-o",
        str(target),
    ], f"-o {target}: the folder {target.parent} does not exist"


def _export_into_a_folder(folder: Path) -> BadArguments:
    return (
        ["export", "gradebook", "-o", str(folder)],
        f"-o {folder}: is a folder; give a file name, e.g. {folder / 'gradebook.csv'}",
    )


def _a_missing_sandbox_script(folder: Path) -> BadArguments:
    missing = folder / "nope.txt"
    return ["sandbox", "--script", str(missing)], f"--script {missing}: no such file"


def _a_sandbox_script_that_is_a_folder(folder: Path) -> BadArguments:
    return [
        "sandbox",
        "--script",
        str(folder),
    ], f"--script {folder}: is a folder, not a file of sandbox lines"


def _a_sandbox_database_of_another_kind(folder: Path) -> BadArguments:
    script = folder / "script.txt"
    script.write_text("!time\n", encoding="utf-8")
    return (
        ["sandbox", "--database", "mysql://course@127.0.0.1/course", "--script", str(script)],
        "--database: mysql:// is not supported: give a file path, sqlite+aiosqlite:///path/to/file.db "
        "or postgresql+asyncpg://user:password@host/database",
    )


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_export_into_a_missing_folder, id="export-into-a-missing-folder"),
        pytest.param(_export_into_a_folder, id="export-into-a-folder"),
        pytest.param(_a_missing_sandbox_script, id="a-missing-sandbox-script"),
        pytest.param(_a_sandbox_script_that_is_a_folder, id="a-sandbox-script-that-is-a-folder"),
        pytest.param(_a_sandbox_database_of_another_kind, id="a-sandbox-database-of-another-kind"),
    ],
)
def test_bad_arguments_are_one_line_and_do_nothing(
    config_path: Path, bad: Callable[[Path], BadArguments]
) -> None:
    arguments, line = bad(config_path.parent)
    done = coursebot(*arguments, "--config", str(config_path), cwd=config_path.parent)
    assert done.returncode == 2
    assert one_line_error(done) == line
    assert not (config_path.parent / "data").exists()  # refused before the database was touched


def test_sandbox_database_takes_a_plain_path_as_a_sqlite_file(config_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("alice: /register student_id:20251234 name:Alice Kim\n", encoding="utf-8")
    done = coursebot(
        "sandbox",
        "--database",
        "kept/sandbox.db",  # relative to the current folder, as a command-line path is
        "--now",
        "2025-03-10 11:00",
        "--script",
        str(script),
        "--config",
        str(config_path),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Registered: `20251234` · Alice Kim." in done.stdout
    with sqlite3.connect(tmp_path / "kept" / "sandbox.db") as connection:
        rows = connection.execute("SELECT name FROM students WHERE student_id = '20251234'").fetchall()
    assert rows == [("Alice Kim",)]  # the sandbox kept its data in that file


# ---- --version, check, unexpected errors ------------------------------------------------------
def test_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    done = coursebot("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"coursebot {metadata.version('coursebot')}"


def test_check_warns_about_guild_id_0_and_still_passes(tmp_path: Path) -> None:
    done = coursebot("check", "--config", str(CONFIG_TOML), cwd=tmp_path)  # config.toml has guild_id = 0
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "warning: [discord] guild_id = 0: commands would sync globally and take up to an hour to appear; "
        "set the server id"
    ]
    assert "OK" in done.stdout


def test_check_says_nothing_more_when_the_server_id_is_set(config_path: Path) -> None:
    done = coursebot("check", "--config", str(config_path), cwd=config_path.parent)
    assert done.returncode == 0
    assert done.stderr == ""


@pytest.fixture
def broken_gradebook(tmp_path: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes the gradebook query fail with a bug-like error."""
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        "import bot.services.gradebook as gradebook\n"
        "async def broken(*args, **kwargs):\n"
        "    raise KeyError('attendance_score')\n"
        "gradebook.gradebook_rows = broken\n",
        encoding="utf-8",
    )
    return folder


def test_an_unexpected_error_is_one_line_without_a_traceback(
    config_path: Path, broken_gradebook: Path
) -> None:
    done = coursebot(
        "export",
        "gradebook",
        "--config",
        str(config_path),
        cwd=config_path.parent,
        pythonpath=broken_gradebook,
    )
    assert done.returncode == 1
    assert one_line_error(done) == (
        "coursebot: unexpected error: KeyError: 'attendance_score' (details in the log at DEBUG)"
    )


@pytest.mark.parametrize("how", ["--debug", "level = DEBUG"])
def test_the_traceback_shows_with_debug(config_path: Path, broken_gradebook: Path, how: str) -> None:
    if how == "--debug":
        args = ["--debug", "export", "gradebook"]
    else:
        text = config_path.read_text(encoding="utf-8").replace('level = "INFO"', 'level = "DEBUG"', 1)
        config_path.write_text(text, encoding="utf-8")
        args = ["export", "gradebook"]
    done = coursebot(*args, "--config", str(config_path), cwd=config_path.parent, pythonpath=broken_gradebook)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "KeyError: 'attendance_score'" in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "coursebot: unexpected error: KeyError: 'attendance_score' (details in the log at DEBUG)"
    )


def test_debug_is_accepted_after_the_command_too(config_path: Path, broken_gradebook: Path) -> None:
    done = coursebot(
        "export",
        "gradebook",
        "--debug",
        "--config",
        str(config_path),
        cwd=config_path.parent,
        pythonpath=broken_gradebook,
    )
    assert "Traceback" in done.stderr


def test_run_without_a_token_and_no_terminal_exits_2(config_path: Path) -> None:
    done = coursebot("run", "--config", str(config_path), cwd=config_path.parent)
    assert done.returncode == 2
    assert one_line_error(done) == cli.NO_TOKEN
    assert done.stdout == ""


# ---- run without a token, at a terminal: the sandbox ------------------------------------------
def _read_until(fd: int, wanted: str, seen: bytearray, timeout: float = PROCESS_TIMEOUT) -> str:
    """Read the pseudo-terminal until `wanted` appears (or the child ends); all output so far."""
    deadline = time.monotonic() + timeout
    while wanted not in seen.decode(errors="replace"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen.extend(chunk)
    return seen.decode(errors="replace")


def test_run_without_a_token_at_a_terminal_starts_the_sandbox(config_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    argv = [sys.executable, "-m", "bot", "run", "--now", "2025-04-30 10:55", "--config", str(config_path)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin and stdout are the pseudo-terminal
        os.chdir(config_path.parent)
        os.execve(sys.executable, argv, environment)
    seen = bytearray()
    try:
        text = _read_until(fd, "coursebot> ", seen)
        assert cli.SANDBOX_INSTEAD in text, text
        assert "clock starts at 2025-04-30 10:55 KST" in text, text  # --now passed through
        assert "sandbox: EECE695D on a simulated server" in text, text
        os.write(fd, b"!quit\n")
        text = _read_until(fd, "\0never\0", seen)  # to the end of the output
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Traceback" not in text
    assert not (config_path.parent / "data").exists()  # the sandbox's database is temporary


# ---- logging for operators -------------------------------------------------------------------
@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in cli.NOISY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)
    cli.logs._session = cli.logs._Session()


def _record_with_the_token_in_its_exception(secret: str) -> logging.LogRecord:
    try:
        raise RuntimeError(f"login failed for token {secret}")
    except RuntimeError:
        return logging.LogRecord(
            "discord.http", logging.ERROR, __file__, 1, "request failed", None, sys.exc_info(), sinfo=None
        )


@pytest.mark.parametrize("inner", [logging.Formatter(cli.TEXT_FORMAT), cli.JsonFormatter()])
def test_the_token_is_redacted_from_exceptions_and_stacks(inner: logging.Formatter) -> None:
    formatter = cli.RedactSecrets(inner, [SECRET])
    record = _record_with_the_token_in_its_exception(SECRET)
    record.stack_info = f'File "x.py", line 1, in token={SECRET}'
    output = formatter.format(record)
    assert SECRET not in output
    assert "[redacted]" in output and "RuntimeError: login failed for token [redacted]" in output
    cached = logging.LogRecord("x", logging.ERROR, __file__, 1, "msg %s", (SECRET,), None)
    cached.exc_text = f"Traceback ...\nValueError: {SECRET}"  # already formatted by another handler
    assert SECRET not in formatter.format(cached)


def test_setup_logging_redacts_the_token_quiets_libraries_and_writes_json(
    config: Config, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    logging_section = config.logging.model_copy(update={"format": "json"})
    json_config = config.model_copy(update={"logging": logging_section, "token": SecretStr(SECRET)})
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    cli.setup_logging(json_config)

    logging.getLogger("apscheduler.executors.default").info('Running job "dispatch"')
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0007 -> 0008")
    logging.getLogger("bot.app").info("Synced %d commands", 14)
    try:
        raise ConnectionError(f"closed with token {SECRET}")
    except ConnectionError:
        logging.getLogger("discord.client").exception("gateway failed")

    entries = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert [(e["logger"], e["level"], e["message"]) for e in entries] == [
        ("bot.app", "INFO", "Synced 14 commands"),
        ("discord.client", "ERROR", "gateway failed"),
    ]
    assert entries[1]["exception"].endswith("ConnectionError: closed with token [redacted]")
    assert entries[0]["time"].endswith("+00:00")
    assert SECRET not in stderr.getvalue()


def test_logging_level_sets_the_bots_own_level(
    config: Config, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    quiet = config.model_copy(update={"logging": config.logging.model_copy(update={"level": "WARNING"})})
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    cli.setup_logging(quiet)
    logging.getLogger("bot.app").info("Synced 14 commands")
    logging.getLogger("bot.notify.dispatcher").warning("DM refused")
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("WARNING bot.notify.dispatcher: DM refused")

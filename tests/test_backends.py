"""Every database test has a PostgreSQL variant; without a server it is reported as skipped, with
what to set, so a green run never hides that it did not run."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

TEST = "tests/services/test_students.py::test_register_creates_the_student_and_audits_it"


def pytest_run(*args: str, postgres: str | None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "COURSEBOT_TEST_POSTGRES"}
    if postgres is not None:
        environment["COURSEBOT_TEST_POSTGRES"] = postgres
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_server_the_postgresql_variant_shows_as_skipped_with_the_reason() -> None:
    done = pytest_run(TEST, postgres=None)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("SKIPPED [1] ")
        and line.endswith(
            "PostgreSQL: set COURSEBOT_TEST_POSTGRES=postgresql+asyncpg://postgres@127.0.0.1:55432/postgres "
            "(.ci/postgres start prints it)"
        )
        for line in lines
    ), done.stdout
    assert lines[-1].startswith("1 passed, 1 skipped")


def test_both_variants_are_collected() -> None:
    done = pytest_run(TEST, "--collect-only", postgres=None)
    assert f"{TEST}[sqlite]" in done.stdout and f"{TEST}[postgres]" in done.stdout, done.stdout

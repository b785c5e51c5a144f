"""Make ``from fake_discord import FakeDiscord`` work without __init__.py files, and fail any test whose
fake Discord received a request body that Discord's own schema refuses."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from fake_discord import FakeDiscord  # noqa: E402  (needs the path above)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "schema_violations_expected: the test sends bodies Discord's schema refuses on purpose"
    )


@pytest.fixture(autouse=True)
def _no_schema_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    before = len(FakeDiscord.instances)
    yield
    made = FakeDiscord.instances[before:]
    del FakeDiscord.instances[before:]
    if request.node.get_closest_marker("schema_violations_expected"):
        return
    violations = [problem for fake in made for problem in fake.schema_violations]
    assert not violations, "Discord's schema refuses what the bot sent:\n" + "\n".join(violations[:20])

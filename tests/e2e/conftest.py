"""Make ``from fake_discord import FakeDiscord`` work without __init__.py files."""

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

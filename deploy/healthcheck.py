"""Container health check: `GET /healthz` on the bot's `[http] port`.

Exits 0 when the probe answers 200, or when `[http] port` is 0 or unset (the HTTP server is off, so
there is nothing to probe and a bot with HTTP off is not reported unhealthy); exits 1 with one line
on standard output otherwise (503, nothing listening, an unreadable config).

Usage: python healthcheck.py [CONFIG]   (default /app/config.toml, where the image expects it)
"""

from __future__ import annotations

import sys
import tomllib
import urllib.error
import urllib.request
from typing import Any

DEFAULT_CONFIG = "/app/config.toml"
TIMEOUT_SECONDS = 5
# A server bound to every address (or to a name) answers on loopback, inside the container.
LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "localhost": "127.0.0.1", "::": "::1"}


def probe_url(config: dict[str, Any]) -> str | None:
    """The /healthz URL for a decoded config, or None when `[http] port` is off.
    Raises ValueError for a port that is not an integer from 0 to 65535."""
    http = config.get("http", {})
    port = http.get("port", 0) if isinstance(http, dict) else 0
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"[http] port = {port!r} is not a port number")
    if port == 0:
        return None
    bind = http.get("bind", "127.0.0.1")
    host = LOOPBACK.get(bind, bind) if isinstance(bind, str) else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else DEFAULT_CONFIG
    try:
        with open(path, "rb") as file:
            url = probe_url(tomllib.load(file))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as error:
        print(f"{path}: {error}")
        return 1
    if url is None:
        return 0
    try:
        # Never through a proxy from the environment: the bot is on this host.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:  # 503: the gateway or the database is down
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {getattr(error, 'reason', error)}")
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

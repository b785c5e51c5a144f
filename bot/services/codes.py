"""Short codes people read aloud or off a projector: an alphabet without 0/O, 1/I/L."""

from __future__ import annotations

import hashlib
import hmac
import secrets

UNAMBIGUOUS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def random_code(length: int) -> str:
    """A fresh random code from `secrets`."""
    return "".join(secrets.choice(UNAMBIGUOUS) for _ in range(length))


def derived_code(secret: str, step: int, length: int) -> str:
    """The code for time step `step` of a session with this secret (HMAC-SHA256, unpredictable
    without the secret, reproducible with it)."""
    digest = hmac.new(bytes.fromhex(secret), step.to_bytes(8, "big"), hashlib.sha256).digest()
    value = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        value, index = divmod(value, len(UNAMBIGUOUS))
        chars.append(UNAMBIGUOUS[index])
    return "".join(chars)


def normalise(code: str) -> str:
    """Trim and upper-case what a person typed."""
    return "".join(code.split()).upper()

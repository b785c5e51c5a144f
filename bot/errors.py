"""Errors whose message is meant for the person who ran the command.

Services raise these; the command tree shows the message as a one-line ephemeral reply and
nothing is changed (the service's transaction is rolled back).
"""

from __future__ import annotations


class UserFacingError(Exception):
    """A refusal with a message a student or TA can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(UserFacingError):
    """An option value has the wrong form (bad student id, bad date, ...)."""


class NotFound(UserFacingError):
    """The thing named does not exist (unknown paper, unknown group, ...)."""


class NotAllowed(UserFacingError):
    """The action is not allowed now or for this user (closed sign-up, locked group, ...)."""


class Conflict(UserFacingError):
    """The action conflicts with the current state (already signed up, group full, ...)."""

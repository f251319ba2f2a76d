"""What a read or a decision can refuse, in domain words; the API maps each to HTTP.

Readers and domain functions raise these; ``api/errors.py`` turns them into JSON
errors with a stable code (``NotFound`` → 404 ``not_found``, and so on), so no reader
knows about HTTP.
"""

from __future__ import annotations

from domain.cursors import InvalidCursor

__all__ = ["Conflict", "DomainError", "Expired", "Forbidden", "InvalidCursor", "NotFound"]


class DomainError(Exception):
    """A refusal with a message a person can read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object does not exist, or the viewer may not know that it does."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class Forbidden(DomainError):
    """The viewer may see the object but not do this to it."""


class Conflict(DomainError):
    """The request contradicts the current state (a name already taken, say)."""


class Expired(DomainError):
    """Something the client holds (a scroll, a cursor) is gone; start again."""

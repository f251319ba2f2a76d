"""Why a piece of media was refused or could not be finished.

``code`` is a stable short string that clients, metrics and the dead-letter topic can key on;
``message`` is for humans and may change.
"""

from __future__ import annotations


class MediaError(Exception):
    """Base class: processing stopped with a stable ``code`` and a readable ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (the processing pool); rebuild from code and message.
        return (_rebuild, (type(self), self.code, self.message))


class MediaRejected(MediaError):
    """The input itself is unacceptable; retrying the same bytes gives the same answer.

    Codes: ``empty``, ``too_large``, ``not_an_image``, ``type_mismatch``,
    ``unsupported_format``, ``too_many_pixels``, ``truncated``, ``corrupt``,
    ``too_long`` and ``undecodable`` (video).
    """


class MediaTimeout(MediaError):
    """A job ran past its time budget (code ``timeout``); may succeed on a quieter machine."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class MediaCrashed(MediaError):
    """The process running a job died (a codec crash, the memory cap); code ``crashed``."""

    def __init__(self, message: str) -> None:
        super().__init__("crashed", message)


def _rebuild(cls: type[MediaError], code: str, message: str) -> MediaError:
    if cls in (MediaTimeout, MediaCrashed):
        return cls(message)  # type: ignore[call-arg]
    return cls(code, message)

"""The launcher's errors and the exit codes of `photostream services` they map to."""

from __future__ import annotations

# Exit codes of `photostream services`; documented in its --help.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PREREQUISITE = 3
EXIT_PORT_CONFLICT = 4


class ServiceError(Exception):
    """A service could not be installed, started or stopped; the message names the cause."""

    exit_code = EXIT_FAILED


class PrerequisiteError(ServiceError):
    """Java 17, Maven or redis-server is missing."""

    exit_code = EXIT_PREREQUISITE


class PortConflictError(ServiceError):
    """A port the service needs is held by another process."""

    exit_code = EXIT_PORT_CONFLICT


class StartTimeoutError(ServiceError):
    """The service was started but did not answer in time (or exited)."""

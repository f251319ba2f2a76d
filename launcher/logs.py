"""The end of a service's log, for failure messages and `photostream services logs`."""

from __future__ import annotations

import os
from pathlib import Path


def tail_lines(path: Path, count: int = 20) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-count:]


def tail_text(path: Path, count: int = 20, width: int = 300) -> str:
    lines = tail_lines(path, count)
    if not lines:
        return f"    ({path} is empty or missing)"
    # JVMs log whole classpaths on one line; the start of such a line is enough.
    return "\n".join(
        "    " + (line if len(line) <= width else line[:width] + " ...") for line in lines
    )


def describe_logs(paths: list[Path]) -> str:
    parts = [f"see {path}:\n{tail_text(path)}" for path in paths]
    return "\n".join(parts) if parts else "no log was written"

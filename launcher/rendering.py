"""Config files from the packaged templates: ``{{name}}`` placeholders filled from settings.

Pure, so every service's rendered config is unit-tested without starting anything.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from importlib import resources

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``{{name}}`` placeholders; a missing value is an error, not an empty string.

    ``{{ }}`` rather than ``${}``/``{}`` because poms and log4j configs use both.
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return _PLACEHOLDER.sub(substitute, template)


def load_template(name: str) -> str:
    return resources.files("launcher").joinpath("templates", name).read_text(encoding="utf-8")


def fingerprint(*texts: str) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()[:16]

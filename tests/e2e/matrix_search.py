"""The permission matrix's queries for routes whose answer depends on what is asked.

A route without a subject (``/v1/search``) is sent as every reader of their own things;
its cells ask for the world's accounts by name, each one by its own name and all of
them at once, so every account a reader may not see (deleted, blocked either way) is
asked for, and the body scan finds it if it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from tests.e2e.matrix_world import World


def _search(w: World) -> list[str]:
    names = [a.username or a.user_id for a in w.accounts()] + sorted(w.viewers.values())
    asks = [{"q": "mx", "type": "all", "limit": 50}]
    asks += [{"q": name, "type": "users", "limit": 50} for name in dict.fromkeys(names)]
    return ["?" + urlencode(ask) for ask in asks]


# "METHOD path" -> the query strings its cells are sent with (one cell each).
QUERIES: dict[str, Callable[[World], list[str]]] = {"GET /v1/search": _search}

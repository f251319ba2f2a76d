"""Rate limits: which class a request belongs to, who it counts against, how long to wait.

Every limited request counts, over a sliding minute, against its user (the bearer
token's subject, when it has a valid one) and against its client address, whose limit
is the class's limit times ``per_ip_factor`` (an address may carry that many users'
worth of traffic: a household, an office behind one NAT). A request is refused when
either subject is at its limit, and then counts against neither.

class     requests                                                   limit per minute
-------   --------------------------------------------------------   ----------------
reads     GET, HEAD, OPTIONS                                         reads_per_min
writes    every other method not below                               writes_per_min
likes     like/unlike, save/unsave, share, comment writes,           likes_per_min
          follow/unfollow, follow-request answers (non-GET)
uploads   POST /v1/media                                             uploads_per_min
login     POST /v1/accounts/login, POST /v1/accounts                 login_per_min
(none)    /livez, /healthz, /docs, /redoc, /openapi.json, /files/…   not limited

A class whose limit is 0 is not limited; a ``per_ip_factor`` of 0 turns the address
limit off (for a deployment where every client arrives through one proxy address).

Failed logins back off on top of the login class: after ``free_failures`` failures of
one username or one address, each further failure doubles the wait before the next
attempt, from ``base_s`` up to ``max_s`` (``login_backoff_s``).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# The sliding window every per-minute limit counts over.
WINDOW_MS = 60_000


class RouteClass(StrEnum):
    READS = "reads"
    WRITES = "writes"
    LIKES = "likes"
    UPLOADS = "uploads"
    LOGIN = "login"


# Process probes, the API's documentation and immutable media files are never limited.
EXEMPT_PATHS = frozenset({"/livez", "/healthz", "/openapi.json", "/docs", "/redoc"})
EXEMPT_PREFIXES = ("/files/", "/docs/")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The actions a person does a few of a minute, not hundreds: the noun after the resource
# id in /v1/<collection>/<id>/<noun>[/...]: /v1/posts/{id}/like|save|share,
# /v1/posts/{id}/comments[/{comment_id}], /v1/users/{id}/follow and
# /v1/users/me/follow-requests/{requester_id}/approve|deny.
_LIKE_NOUNS = frozenset({"like", "save", "share", "comments", "follow", "follow-requests"})
_UPLOAD_PATHS = frozenset({"/v1/media"})
_LOGIN_PATHS = frozenset({"/v1/accounts/login", "/v1/accounts"})


def classify(method: str, path: str) -> RouteClass | None:
    """The class a request counts in, from its method and path alone (before routing);
    None for the paths that are never limited."""
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    if path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES):
        return None
    method = method.upper()
    if method in _SAFE_METHODS:
        return RouteClass.READS
    if method == "POST":
        if path in _UPLOAD_PATHS:
            return RouteClass.UPLOADS
        if path in _LOGIN_PATHS:
            return RouteClass.LOGIN
    segments = path.split("/")
    if len(segments) > 4 and segments[1] == "v1" and segments[4] in _LIKE_NOUNS:
        return RouteClass.LIKES
    return RouteClass.WRITES


@dataclass(frozen=True)
class Limits:
    """Requests per sliding minute of one user in each class (0: not limited), and how
    many users' worth one address may send."""

    reads_per_min: int
    writes_per_min: int
    likes_per_min: int
    uploads_per_min: int
    login_per_min: int
    per_ip_factor: int

    def per_min(self, route_class: RouteClass) -> int:
        return {
            RouteClass.READS: self.reads_per_min,
            RouteClass.WRITES: self.writes_per_min,
            RouteClass.LIKES: self.likes_per_min,
            RouteClass.UPLOADS: self.uploads_per_min,
            RouteClass.LOGIN: self.login_per_min,
        }[route_class]


@dataclass(frozen=True)
class Quota:
    """One subject's allowance in one class: ``subject`` names it in the Redis key."""

    subject: str
    limit: int


def user_subject(user_id: str) -> str:
    return f"u:{user_id}"


def address_subject(address: str) -> str:
    return f"a:{address}"


def quotas(
    route_class: RouteClass, *, user_id: str | None, address: str | None, limits: Limits
) -> tuple[Quota, ...]:
    """The allowances a request must fit in: its user's (when it has one) and its
    address's (the class limit times the factor); none when the class is not limited."""
    per_min = limits.per_min(route_class)
    if per_min <= 0:
        return ()
    found: list[Quota] = []
    if user_id:
        found.append(Quota(user_subject(user_id), per_min))
    if address and limits.per_ip_factor > 0:
        found.append(Quota(address_subject(address), per_min * limits.per_ip_factor))
    return tuple(found)


def retry_after_s(wait_ms: int) -> int:
    """The ``Retry-After`` value for a wait: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(wait_ms / 1000))


def refusal_message(route_class: RouteClass | str, wait_s: int) -> str:
    return f"too many {route_class} requests; try again in {wait_s} s"


# --- failed logins -------------------------------------------------------------------


def login_backoff_s(failures: int, *, free_failures: int, base_s: int, max_s: int) -> int:
    """How long after its last failure a username or address must wait before the next
    attempt: nothing for the first ``free_failures``, then ``base_s`` doubling with each
    further failure, never more than ``max_s``."""
    excess = failures - free_failures
    if excess <= 0 or base_s <= 0:
        return 0
    # 2**62 s is past any cap; the exponent stops there so the number stays small.
    return min(max_s, base_s * 2 ** min(excess - 1, 62))


def login_wait_s(
    failures: int,
    last_failure_ms: int,
    now_ms: int,
    *,
    free_failures: int,
    base_s: int,
    max_s: int,
) -> int:
    """Whole seconds (rounded up) still to wait at ``now_ms``; 0 when an attempt may go."""
    backoff_s = login_backoff_s(failures, free_failures=free_failures, base_s=base_s, max_s=max_s)
    if backoff_s == 0:
        return 0
    remaining_ms = last_failure_ms + backoff_s * 1000 - now_ms
    return max(0, math.ceil(remaining_ms / 1000))


def login_failures_ttl_s(max_s: int) -> int:
    """How long a subject's failures are remembered after its last one: twice the
    longest wait, so a count outlives any wait it causes and a subject that stayed quiet
    for a whole maximum wait afterwards starts over."""
    return max(60, 2 * max_s)


def username_subject(username: str) -> str:
    """A username's failures are counted under its case-folded NFKC form, so "Ada" and
    "ada" share one count whatever normalization the caller applied."""
    return f"n:{unicodedata.normalize('NFKC', username).casefold()}"

"""Search as you type: what a name is indexed under, what a query matches, how results rank.

Pure: the agent asks ``user_terms`` what to index, the reader asks ``normalize_query``,
``typo_prefixes`` and ``within_one_typo`` what to scan and keep, and ``rank`` how to
order what it found.

Design. Every term is folded like a hashtag (NFC, case-folded: ``domain.trending``), so
"Café", "CAFÉ" and a decomposed "cafe" + accent are one term. A user is indexed under
their username and under each word-suffix of their display name ("marie curie",
"curie"), so a query matches from the first character of any word; a term that is a
prefix of another of the same user's terms adds nothing and is dropped. Terms live in
one lexicographically ordered set per kind (a prefix is a range), and the most popular
members of each 1- and 2-character prefix are kept apart (``TOP_PREFIX_CHARS``), so the
shortest queries, which match the most, read a short list instead of a huge range.

One typo (a character deleted, inserted, replaced, or two swapped) is forgiven from
``MIN_TYPO_CHARS`` characters: the reader scans the prefixes one edit away
(``typo_prefixes``) and keeps what ``within_one_typo`` confirms.

Rank: the viewer's own graph first (accounts they follow, mutual follows first, then
accounts that follow them), then exact prefix matches before typo matches, then
popularity (follower count; a tag's live post count), then the name. Hashtags rank as
everyone else. The candidate list is bounded (``MAX_CANDIDATES``); pages are slices of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.cursors import InvalidCursor, decode_cursor, encode_cursor, int_field, str_field

# Queries shorter than this match by prefix only: one edit on 3 characters matches
# nearly everything.
MIN_TYPO_CHARS = 4
# Prefixes this short get a precomputed list of their most popular members.
TOP_PREFIX_CHARS = 2
# Members kept per short prefix (within Redis's compact encoding of small sorted sets, 128),
# and the most candidates one query ranks (bounded reads).
TOP_K = 120
MAX_CANDIDATES = 200
# What one variant prefix of a typo scan may contribute.
TYPO_SCAN_LIMIT = 20
MAX_QUERY_CHARS = 64
MAX_TERM_CHARS = 64
# Display-name words indexed (suffixes of the name from each of them).
MAX_NAME_WORDS = 4

USER = "user"
HASHTAG = "hashtag"
KINDS = (USER, HASHTAG)

# Tiers of the viewer's graph (lower ranks first).
FOLLOWING = 0  # the viewer follows them
FOLLOWER = 1  # they follow the viewer
EVERYONE = 2

# Characters a typo may have replaced or dropped: usernames' alphabet and common
# accented Latin letters (the query's own letters are added per query).
TYPO_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789._ àáâäãåæçèéêëìíîïñòóôöõøœùúûüýÿ"

_WORD = re.compile(r"\w+")
# A query keeps word characters and dots (usernames have them); anything else separates.
_QUERY_SEPARATORS = re.compile(r"[^\w.]+")


def fold(text: str) -> str:
    """NFC then case-fold, as hashtags are (``domain.trending.normalize_tag``)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def normalize_query(q: str) -> str:
    """The folded query: a leading ``@`` or ``#`` dropped, separators one space, capped."""
    text = fold(q).strip().lstrip("@#")
    return " ".join(_QUERY_SEPARATORS.split(text)).strip()[:MAX_QUERY_CHARS]


def _drop_covered(terms: Iterable[str]) -> tuple[str, ...]:
    """Terms in order, without empties, duplicates or prefixes of another term."""
    unique = sorted({t for t in terms if t})
    kept = [t for i, t in enumerate(unique) if not any(u.startswith(t) for u in unique[i + 1 :])]
    return tuple(kept)


def user_terms(username: str, display_name: str) -> tuple[str, ...]:
    """What a user is found under: the username and each word-suffix of the display name."""
    words = _WORD.findall(fold(display_name))[:MAX_NAME_WORDS]
    suffixes = (" ".join(words[i:]) for i in range(len(words)))
    return _drop_covered(t[:MAX_TERM_CHARS] for t in (fold(username), *suffixes))


def short_prefixes(terms: Iterable[str]) -> set[str]:
    """The 1..``TOP_PREFIX_CHARS``-character prefixes of ``terms`` (their top lists)."""
    return {t[:n] for t in terms for n in range(1, min(len(t), TOP_PREFIX_CHARS) + 1)}


def has_top_list(query: str) -> bool:
    return 0 < len(query) <= TOP_PREFIX_CHARS


def typo_prefixes(query: str) -> list[str]:
    """Prefixes whose ranges hold every term one edit from being prefixed by ``query``.

    Deleted and swapped characters give one prefix each; a replaced or inserted one,
    one per character of the alphabet (plus the query's own). A replaced last character
    is the range of the query without it. Empty below ``MIN_TYPO_CHARS``.
    """
    n = len(query)
    if n < MIN_TYPO_CHARS:
        return []
    alphabet = "".join(dict.fromkeys(TYPO_ALPHABET + query))
    out: dict[str, None] = {query[:-1]: None}
    for i in range(n):
        out.setdefault(query[:i] + query[i + 1 :], None)
        if i + 1 < n:
            out.setdefault(query[:i] + query[i + 1] + query[i] + query[i + 2 :], None)
        for c in alphabet:
            if i < n - 1:
                out.setdefault(query[:i] + c + query[i + 1 :], None)
            out.setdefault(query[:i] + c + query[i:], None)
    out.pop(query, None)
    return [p for p in out if p.strip()]


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one edit (swap of neighbours included)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la > lb:
        return a[i + 1 :] == b[i:]
    return a[i:] == b[i + 1 :]


def within_one_typo(query: str, term: str) -> bool:
    """Whether some prefix of ``term`` is at most one edit from ``query``."""
    n = len(query)
    return any(_one_edit(query, term[:m]) for m in (n - 1, n, n + 1) if 0 < m <= len(term))


def matches(query: str, term: str) -> bool | None:
    """True for a prefix match, False for a one-typo match, None for no match."""
    if term.startswith(query):
        return True
    if len(query) >= MIN_TYPO_CHARS and within_one_typo(query, term):
        return False
    return None


@dataclass(frozen=True)
class Candidate:
    """A result before ranking: a user (``key`` = user id) or a hashtag (``key`` = tag)."""

    kind: str
    key: str
    term: str  # the term it matched under
    exact: bool  # a prefix match (False: a one-typo match)
    popularity: int  # follower count; a tag's live posts
    tier: int = EVERYONE
    mutual: bool = False  # follows the viewer back (within FOLLOWING)

    def sort_key(self) -> tuple[int, bool, bool, int, str, str, str]:
        return (
            self.tier,
            not self.mutual,
            not self.exact,
            -self.popularity,
            self.term,
            self.kind,
            self.key,
        )


def tier_of(*, follows: bool, followed_by: bool) -> int:
    """Where the viewer's graph puts an account: followed, then followers, then the rest."""
    if follows:
        return FOLLOWING
    return FOLLOWER if followed_by else EVERYONE


def rank(candidates: Iterable[Candidate], limit: int = MAX_CANDIDATES) -> list[Candidate]:
    """Best first, each (kind, key) once at its best rank, at most ``limit``."""
    best: dict[tuple[str, str], Candidate] = {}
    for c in candidates:
        current = best.get((c.kind, c.key))
        if current is None or c.sort_key() < current.sort_key():
            best[(c.kind, c.key)] = c
    return sorted(best.values(), key=Candidate.sort_key)[:limit]


def page_of(
    ranked: Sequence[Candidate], offset: int, limit: int
) -> tuple[list[Candidate], int | None]:
    """The page at ``offset`` and the next page's offset (None at the end)."""
    page = list(ranked[offset : offset + limit])
    end = offset + limit
    return page, end if end < len(ranked) else None


def encode_search_cursor(query: str, kind: str, offset: int) -> str:
    return encode_cursor(q=query, t=kind, o=offset)


def decode_search_cursor(cursor: str, query: str, kind: str) -> int:
    """The offset a cursor names; ``InvalidCursor`` when it belongs to another query."""
    fields = decode_cursor(cursor, "q", "t", "o")
    if str_field(fields, "q") != query or str_field(fields, "t") != kind:
        raise InvalidCursor("the cursor belongs to another query")
    offset = int_field(fields, "o")
    if offset >= MAX_CANDIDATES:
        raise InvalidCursor("malformed cursor")
    return offset


# --- what the index keeps (the worker's tables) ---------------------------------------


@dataclass(frozen=True)
class NameEntry:
    """A user's indexed names as of ``version_ms``; a deleted account is a tombstone."""

    version_ms: int
    username: str = ""
    display_name: str = ""
    deleted: bool = False

    def to_json(self) -> list[object]:
        return [self.version_ms, self.username, self.display_name, int(self.deleted)]

    @classmethod
    def from_json(cls, value: Sequence[object]) -> NameEntry:
        ms, username, display, deleted = value
        return cls(int(ms), str(username), str(display), bool(deleted))  # type: ignore[call-overload]

    @property
    def terms(self) -> tuple[str, ...]:
        return () if self.deleted else user_terms(self.username, self.display_name)


def name_after(current: NameEntry | None, update: NameEntry) -> NameEntry | None:
    """The entry after a profile change or a deletion, or None when nothing changes: a
    deleted account stays deleted, an older change is history (one of the same
    millisecond is later in the log, so it wins), a duplicate is the same entry."""
    if current is not None:
        if current.deleted or update == current:
            return None
        if not update.deleted and update.version_ms < current.version_ms:
            return None
    return update


LIVE_POST = 1
GONE_POST = 0


def tag_mark_after(current: int | None, *, created: bool) -> int | None:
    """A (tag, post)'s mark after its post was created or deleted; None: no change.

    A post deleted before its creation arrived stays gone; ids are never reused."""
    if created:
        return LIVE_POST if current is None else None
    return GONE_POST if current != GONE_POST else None


def count_delta(before: int | None, after: int) -> int:
    """How a mark's change moves its tag's live post count."""
    return int(after == LIVE_POST) - int(before == LIVE_POST)

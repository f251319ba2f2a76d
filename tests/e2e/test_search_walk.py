"""Search end to end: events through Kafka and the worker's index to GET /v1/search.

Prefix from the first character, one typo from four, the viewer's graph ranked first
then popularity, a rename and a deletion followed at once, blocks either way hiding the
account, private accounts found as profiles, hashtags with their live post counts, and
cursors and errors as every list has them.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import httpx

from schemas.events import make_event
from tests.support import wait_until

TIMEOUT_S = 45


def _token() -> str:
    """A prefix no other test's names share (letters only: 'q' + hex digits as letters)."""
    return "q" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))


def _profile(producer: Any, user: str, username: str, display: str = "", **kw: Any) -> None:
    fields = {"username": username, "display_name": display, "is_private": False, **kw}
    producer.send(make_event("profile_updated", user_id=user, **fields))


def _graph(producer: Any, kind: str, user: str, target: str) -> None:
    producer.send(make_event(kind, user_id=user, target_id=target))


def _search(api: Any, headers: dict[str, str], q: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{api.url}/v1/search", params={"q": q, **params}, headers=headers, timeout=10)


def _users(api: Any, headers: dict[str, str], q: str, **params: Any) -> list[str]:
    r = _search(api, headers, q, type="users", limit=50, **params)
    assert r.status_code == 200, r.text
    return [x["user"]["user_id"] for x in r.json()["data"]]


def _until(probe: Any, what: str) -> Any:
    return wait_until(probe, timeout_s=TIMEOUT_S, interval_s=0.2, what=what)


def test_prefix_typo_and_graph_first_ranking(worker, api, producer, token_for) -> None:  # type: ignore[no-untyped-def]
    t = _token()
    viewer, followed, fan, star, nobody = (f"{t}-{n}" for n in ("v", "f", "fan", "star", "no"))
    _profile(producer, viewer, f"{t}viewer")
    _profile(producer, followed, f"{t}zed_followed", "Zed Followed")
    _profile(producer, fan, f"{t}yan_fan", "Yan Fan")
    _profile(producer, star, f"{t}abe_star", "Abe Star")
    _profile(producer, nobody, f"{t}abe_nobody", "Abe Nobody")
    _graph(producer, "follow", viewer, followed)
    _graph(producer, "follow", fan, viewer)
    for i in range(3):  # the star has followers, the others none from strangers
        fan_of_star = f"{t}-s{i}"
        _profile(producer, fan_of_star, f"{t}zz{i}")
        _graph(producer, "follow", fan_of_star, star)
    producer.flush()
    headers = token_for(viewer)
    expected = [followed, fan, star, nobody]

    # Graph first (followed, then followers), then follower count: the star before nobody.
    _until(
        lambda: [u for u in _users(api, headers, t) if u in expected] == expected,
        f"the ranking {expected}",
    )
    r = _search(api, headers, t, type="users", limit=50)
    by_id = {x["user"]["user_id"]: x for x in r.json()["data"]}
    assert by_id[followed]["relation"] == "following"
    assert by_id[fan]["relation"] == "follower"
    assert by_id[star]["relation"] == "none" and by_id[star]["user"]["followers"] == 3
    assert by_id[star]["match"] == "prefix"

    # From the first character: the followed account is on top of a one-letter query.
    assert _users(api, headers, t[0])[0] == followed
    # A display-name word is a term of its own, from its first character.
    _until(lambda: followed in _users(api, headers, "zed follo"), "zed follo")
    assert set(_users(api, headers, f"{t}abe")) == {star, nobody}

    # One typo forgiven from four characters: a swap, a drop, a replacement.
    found = _search(api, headers, f"{t}aeb_star", type="users", limit=50).json()["data"]
    typo = [x for x in found if x["user"]["user_id"] == star]
    assert typo and typo[0]["match"] == "typo", found
    assert star in _users(api, headers, f"{t}abe_sar")
    assert star in _users(api, headers, f"{t}abe_stxr")
    # Under four characters nothing but the prefix matches.
    assert _users(api, headers, t[:2] + "x") == []


def test_rename_deletion_blocks_and_private_accounts(worker, api, producer, token_for) -> None:  # type: ignore[no-untyped-def]
    t = _token()
    viewer, renamed, gone, blocker, blocked, private = (
        f"{t}-{n}" for n in ("v", "r", "g", "br", "bd", "p")
    )
    for user in (viewer, renamed, gone, blocker, blocked):
        _profile(producer, user, f"{t}{user.rsplit('-', 1)[1]}_old")
    _profile(producer, private, f"{t}p_old", "Priv Ate", is_private=True)
    producer.flush()
    headers = token_for(viewer)
    everyone = {viewer, renamed, gone, blocker, blocked, private}
    _until(lambda: set(_users(api, headers, t)) == everyone, "every account found")
    private_card = next(
        x["user"]
        for x in _search(api, headers, t, type="users", limit=50).json()["data"]
        if x["user"]["user_id"] == private
    )
    assert private_card["is_private"] is True  # found as a profile

    _profile(producer, renamed, f"{t}newname", "Fresh Name")
    producer.send(make_event("account_deleted", user_id=gone))
    _graph(producer, "block", blocker, viewer)
    _graph(producer, "block", viewer, blocked)
    producer.flush()

    _until(lambda: renamed in _users(api, headers, f"{t}newn"), "the new name")
    _until(lambda: renamed not in _users(api, headers, f"{t}r_old"), "the old name gone")
    assert renamed in _users(api, headers, "fresh na")
    _until(lambda: gone not in _users(api, headers, t), "the deleted account gone")
    _until(lambda: not {blocker, blocked} & set(_users(api, headers, t)), "both blocks hiding them")
    # The blocks hide the viewer from them too.
    assert viewer not in _users(api, token_for(blocker), t)
    assert viewer not in _users(api, token_for(blocked), t)
    assert viewer in _users(api, token_for(renamed), t)
    # The deleted account stays gone whatever comes later for it.
    _profile(producer, gone, f"{t}g_back")
    producer.flush()
    _until(lambda: renamed in _users(api, headers, f"{t}newname"), "a later event")
    assert gone not in _users(api, headers, f"{t}g_")


def _tags(api: Any, headers: dict[str, str], q: str) -> dict[str, int]:
    r = _search(api, headers, q, type="hashtags", limit=50)
    assert r.status_code == 200, r.text
    return {x["hashtag"]["tag"]: x["hashtag"]["posts"] for x in r.json()["data"]}


def _post(producer: Any, user: str, caption: str) -> str:
    post_id = f"sp{uuid.uuid4().hex[:10]}"
    producer.send(
        make_event("post_created", user_id=user, post_id=post_id, caption=caption, media=[])
    )
    return post_id


def test_hashtags_with_live_post_counts_and_unicode(worker, api, producer, token_for) -> None:  # type: ignore[no-untyped-def]
    t = _token()
    headers = token_for(f"{t}-reader")
    cafe, other = f"{t}café", f"{t}caf"
    posts = [_post(producer, f"{t}-a{i}", f"#{cafe} and #{other}") for i in range(3)]
    _post(producer, f"{t}-b", f"#{cafe.upper()}")  # one tag whatever its case
    producer.flush()
    expected = {unicodedata.normalize("NFC", cafe): 4, other: 3}
    _until(lambda: _tags(api, headers, t) == expected, f"tags {expected}")
    # A decomposed query finds the composed tag; a leading '#' is allowed.
    decomposed = unicodedata.normalize("NFD", f"#{cafe}".upper())
    found = _tags(api, headers, decomposed)
    # The exact match first; the shorter tag one typo (a dropped letter) away after it.
    assert list(found.items()) == [(unicodedata.normalize("NFC", cafe), 4), (other, 3)]
    # Its trending figure: distinct posting users in the last 24 h.
    _until(
        lambda: (
            _search(api, headers, cafe, type="hashtags").json()["data"][0]["hashtag"]["trending"]
            == 4
        ),
        "the trending figure",
    )

    for post_id, i in zip(posts, range(3), strict=True):
        producer.send(make_event("post_deleted", user_id=f"{t}-a{i}", post_id=post_id))
    producer.flush()
    # Deleted posts stop counting; a tag with no live post is no longer found.
    expected = {unicodedata.normalize("NFC", cafe): 1}
    _until(lambda: _tags(api, headers, t) == expected, f"tags {expected}")


def test_users_and_hashtags_together_paginated_with_json_errors(
    worker, api, producer, token_for
) -> None:  # type: ignore[no-untyped-def]
    t = _token()
    users = [f"{t}-{i}" for i in range(5)]
    for i, user in enumerate(users):
        _profile(producer, user, f"{t}user{i}")
    _post(producer, users[0], f"#{t}tag")
    producer.flush()
    headers = token_for(users[0])

    def everything() -> list[tuple[str, str]]:
        seen, cursor = [], None
        while True:
            params = {"type": "all", "limit": 2, **({"cursor": cursor} if cursor else {})}
            r = _search(api, headers, t, **params)
            assert r.status_code == 200, r.text
            seen += [
                (x["kind"], x["user"]["user_id"] if x["user"] else x["hashtag"]["tag"])
                for x in r.json()["data"]
            ]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return seen

    want = {("user", u) for u in users} | {("hashtag", f"{t}tag")}
    pages = _until(lambda: (s := everything()) and set(s) == want and s, "every result paged")
    assert len(pages) == len(want)  # no duplicates across pages

    first = _search(api, headers, t, limit=2).json()
    other_query = _search(api, headers, t + "x", cursor=first["next_cursor"])
    assert other_query.status_code == 400 and other_query.json()["code"] == "bad_cursor"
    bad = _search(api, headers, t, cursor="garbage")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_cursor"
    missing = httpx.get(f"{api.url}/v1/search", headers=headers, timeout=10)
    assert missing.status_code == 422 and missing.json()["code"] == "invalid_request"
    wrong_type = _search(api, headers, t, type="posts")
    assert wrong_type.status_code == 422 and wrong_type.json()["code"] == "invalid_request"
    anonymous = httpx.get(f"{api.url}/v1/search", params={"q": t}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    assert _search(api, headers, "!!!").json()["data"] == []


def test_rebuild_restores_the_index_from_cassandra(
    worker, api, producer, token_for, settings, test_env
) -> None:  # type: ignore[no-untyped-def]
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    t = _token()
    users = [f"{t}-{i}" for i in range(3)]
    for i, user in enumerate(users):
        _profile(producer, user, f"{t}rb{i}", f"Re Built {i}")
    _graph(producer, "follow", users[1], users[2])
    _post(producer, users[0], f"#{t}kept")
    producer.flush()
    headers = token_for(users[0])

    def results() -> Any:
        r = _search(api, headers, t, limit=50)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def complete() -> Any:
        found = results()
        ranked = [x["user"]["user_id"] for x in found if x["user"]]
        # The follow counted in the ranking too (indexed a moment after the graph has it).
        return found if len(found) == 4 and ranked[0] == users[2] else None

    before = _until(complete, "the users and the tag found, the followed one ranked first")

    async def drop() -> int:
        redis = connect(settings)
        pattern = RedisKeys(settings.namespace).all_pattern().removesuffix("*") + "search:*"
        try:
            return sum([await redis.delete(k) async for k in redis.scan_iter(match=pattern)])
        finally:
            await redis.aclose()

    import asyncio
    import subprocess
    import sys

    from tests.support import ROOT

    assert asyncio.run(drop()) > 0
    assert results() == []
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "rebuild"],
        env={**test_env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "search:" in result.stdout.decode()
    assert results() == before

"""Account deletion end to end on the real services, in a namespace of its own whose
grace period lasts seconds: an account with everything an account can have, deleted;
then every count it touched is exact again, every answer about it is 404 or leaves it
out, no Redis key or value, Cassandra row or stored file holds anything of it, and its
username can be registered again; the same when the worker is killed with SIGKILL twice
during the cascade and its grace-period sweeps. And deleting a post or a story removes its upload's
files, hash and row, unless another post or story of the owner still shows it.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis as redis_sync
from PIL import Image

from clients import cassandra as cassandra_client
from clients.objectstore import META_DIR, original_key
from settings import Settings
from tests.support import Api, Worker, wait_until

GRACE_S = 15
PASSWORD = "correct horse battery"


def unique_photo() -> bytes:
    """A small JPEG no other test uploads (its noise is random): its own original."""
    pixels = np.random.default_rng().integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class Person:
    url: str
    user_id: str
    username: str
    session: dict[str, Any]
    uploads: dict[str, bytes] = field(default_factory=dict)  # media id -> the bytes sent

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session['access_token']}"}

    def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}{path}",
            headers={**self.headers, **(headers or {})},
            timeout=30,
            **kwargs,
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        r = self.call(method, path, **kwargs)
        assert r.status_code in (200, 201, 202), f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else {}  # type: ignore[no-any-return]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.call("GET", path, params=params)

    def upload(self) -> str:
        data = unique_photo()
        r = httpx.post(
            f"{self.url}/v1/media",
            headers=self.headers,
            files={"file": ("p.jpg", data, "image/jpeg")},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        media_id = str(r.json()["media_id"])
        self.uploads[media_id] = data
        return media_id

    def ready(self, media_id: str) -> None:
        wait_until(
            lambda: self.get(f"/v1/media/{media_id}").json().get("state") == "ready",
            timeout_s=90,
            what=f"media {media_id} to be ready",
        )


@dataclass
class Stack:
    settings: Settings
    api: Api
    worker: Worker
    env: dict[str, str]
    logs: Path
    crashes: int = 0

    def crash_worker(self) -> None:
        """kill -9 the worker wherever it is in the cascade, and start it again."""
        self.worker.kill()
        self.crashes += 1
        log = self.logs / f"worker-after-crash-{self.crashes}.log"
        self.worker = Worker(env=self.env, log_file=log).start_and_wait()

    def register(self, name: str) -> Person:
        username = f"{name}{uuid.uuid4().hex[:10]}"
        r = httpx.post(
            f"{self.api.url}/v1/accounts",
            json={"username": username, "password": PASSWORD, "display_name": name},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        person = Person(self.api.url, r.json()["user_id"], username, r.json())
        wait_until(lambda: person.get("/v1/users/me").status_code == 200, what=f"{name}'s profile")
        return person


@pytest.fixture
def stack(
    namespace_factory: Callable[[str], Settings], test_env: dict[str, str], tmp_path: Path
) -> Iterator[Stack]:
    """A worker and an API of their own: a grace period of seconds, a namespace no
    other test writes to (every key and row in it is this test's)."""
    settings = namespace_factory("erase")
    env = {
        **test_env,
        "PHOTOSTREAM_NAMESPACE": settings.namespace,
        "PHOTOSTREAM_USERNAME_GRACE_S": str(GRACE_S),
    }
    stack = Stack(
        settings,
        api=None,  # type: ignore[arg-type]
        worker=Worker(env=env, log_file=tmp_path / "worker.log").start_and_wait(),
        env=env,
        logs=tmp_path,
    )
    try:
        stack.api = Api(env=env, log_file=tmp_path / "api.log").start_and_wait()
        try:
            yield stack
        finally:
            stack.api.stop()
    finally:
        stack.worker.stop()


# --- where traces could be ----------------------------------------------------------


def _value(client: redis_sync.Redis, key: str) -> Any:
    kind = client.type(key)
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "set":
        return client.smembers(key)
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return client.lrange(key, 0, -1)
    return ""


def redis_traces(settings: Settings, needles: list[str]) -> list[str]:
    """Every key of the namespace, name and value (all types), holding a needle."""
    client = redis_sync.Redis(
        host=settings.redis_host, port=settings.redis_port, decode_responses=True
    )
    found: list[str] = []
    try:
        for key in client.scan_iter(match=f"{settings.namespace}:*", count=1000):
            value = _value(client, key)
            text = f"{key} {value!r}"
            found += [f"redis {key}: {n}" for n in needles if n in text]
    finally:
        client.close()
    return found


def cassandra_traces(settings: Settings, needles: list[str]) -> list[str]:
    """Every row of every table of the keyspace holding a needle."""
    session = cassandra_client.connect(settings, keyspace=settings.cassandra_keyspace)
    found = []
    try:
        tables = session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            (settings.cassandra_keyspace,),
        )
        for (table,) in tables:
            for row in session.execute(f"SELECT * FROM {table}", timeout=60):
                text = repr(tuple(row))
                found += [f"cassandra {table}: {n} in {text[:120]}" for n in needles if n in text]
    finally:
        cassandra_client.close(session)
    return found


def files_of(settings: Settings, media_id: str, data: bytes) -> list[str]:
    """Files of one upload in the media store: its original and checksum record, its
    renditions and Reel files."""
    root = settings.media_dir
    original = original_key(hashlib.sha256(data).hexdigest())
    found = [str(p) for p in (root / original, root / META_DIR / f"{original}.json") if p.exists()]
    for prefix in (f"variants/{media_id}", f"videos/{media_id}"):
        for base in (root, root / META_DIR):
            if (base / prefix).exists():
                found += [str(p) for p in (base / prefix).rglob("*") if p.is_file()]
    return found


def stored_files(settings: Settings, person: Person) -> list[str]:
    """Files of the person's uploads still in the media store."""
    return [f for m, data in person.uploads.items() for f in files_of(settings, m, data)]


# --- the walk -----------------------------------------------------------------------


def settle(problems: Callable[[], list[str]], stack: Stack, *, timeout_s: float, what: str) -> None:
    """Wait until ``problems()`` finds none; fail with the last ones found."""
    last: list[str] = []

    def none_left() -> bool:
        last[:] = problems()
        return not last

    try:
        wait_until(none_left, timeout_s=timeout_s, interval_s=1.0, what=what)
    except AssertionError as exc:
        shown = "\n".join(last[:40])
        raise AssertionError(f"{exc}:\n{shown}\nworker:\n{stack.worker.tail(20)}") from None


def stats(person: Person, post_id: str) -> dict[str, int]:
    return person.get(f"/v1/posts/{post_id}/stats").json()  # type: ignore[no-any-return]


def ids_in(response: httpx.Response, key: str = "user_id") -> set[str]:
    if response.status_code != 200:
        return set()
    return {
        item.get(key) or item.get("author", {}).get("user_id") for item in response.json()["data"]
    }


@pytest.mark.parametrize("crashes", [False, True], ids=["calm", "kill-9-mid-cascade"])
def test_account_deletion_leaves_nothing_of_the_account(stack: Stack, crashes: bool) -> None:
    """With ``crashes``, the worker is killed with SIGKILL right after the deletion is
    accepted (the cascade under way) and again once the answers leave her out (the
    grace-period sweeps to come), and started again each time: the end is the same."""
    dora = stack.register("dora")  # deleted below
    ann, ben, cal, eve, fay = (stack.register(n) for n in ("ann", "ben", "cal", "eve", "fay"))
    cal.ok("PATCH", "/v1/users/me", json={"is_private": True})
    wait_until(lambda: cal.get("/v1/users/me").json()["is_private"], what="cal private")

    # What everyone posts: ann a post and a story, dora two posts (one with a photo and
    # a tag of her own), a story, and an upload she never attached.
    tag = f"zed{uuid.uuid4().hex[:12]}"
    caption = f"dora at the lake {uuid.uuid4().hex} #{tag}"
    plain_caption = f"dora's words {uuid.uuid4().hex}"
    ann_post = ann.ok("POST", "/v1/posts", json={"caption": "#sun out"})["post_id"]
    ann_story_media, dora_photo, dora_story_media, dora_loose = (
        ann.upload(),
        dora.upload(),
        dora.upload(),
        dora.upload(),
    )
    for owner, media_id in (
        (ann, ann_story_media),
        (dora, dora_photo),
        (dora, dora_story_media),
        (dora, dora_loose),
    ):
        owner.ready(media_id)
    photo = [{"media_id": dora_photo, "kind": "photo"}]
    dora_post = dora.ok("POST", "/v1/posts", json={"caption": caption, "media": photo})
    dora_plain = dora.ok("POST", "/v1/posts", json={"caption": plain_caption})["post_id"]
    dora_post = dora_post["post_id"]
    ann_story = ann.ok("POST", "/v1/stories", json={"media_id": ann_story_media})["story_id"]
    dora_story = dora.ok("POST", "/v1/stories", json={"media_id": dora_story_media})["story_id"]

    # The graph: follows both ways, a pending request, a block, mutes both ways, close
    # friends both ways.
    dora.ok("POST", f"/v1/users/{ann.user_id}/follow")
    ben.ok("POST", f"/v1/users/{dora.user_id}/follow")
    assert dora.ok("POST", f"/v1/users/{cal.user_id}/follow")["state"] == "requested"
    dora.ok("POST", f"/v1/users/{eve.user_id}/block")
    dora.ok("POST", f"/v1/users/{fay.user_id}/mute")
    fay.ok("POST", f"/v1/users/{dora.user_id}/mute")
    dora.ok("POST", f"/v1/users/me/close-friends/{ben.user_id}")
    wait_until(
        lambda: dora.user_id in ids_in(ann.get(f"/v1/users/{ann.user_id}/followers")),
        what="dora following ann",
    )
    ann.ok("POST", f"/v1/users/me/close-friends/{dora.user_id}")

    # Engagement both ways: dora on ann's post, ben on both.
    comment_text = f"dora says {uuid.uuid4().hex}"
    for path in ("like", "save", "share", "share"):
        dora.ok("POST", f"/v1/posts/{ann_post}/{path}")
    dora.ok("POST", f"/v1/posts/{ann_post}/comments", json={"text": comment_text})
    for path in ("like", "share"):
        ben.ok("POST", f"/v1/posts/{ann_post}/{path}")
    ben.ok("POST", f"/v1/posts/{ann_post}/comments", json={"text": "ben was here"})
    wait_until(
        lambda: ben.get(f"/v1/posts/{dora_post}").status_code == 200, what="dora's post ready"
    )
    ben.ok("POST", f"/v1/posts/{dora_post}/like")
    ben.ok("POST", f"/v1/posts/{dora_post}/comments", json={"text": "nice lake"})
    dora.ok("POST", f"/v1/stories/{ann_story}/views")
    ben.ok("POST", f"/v1/stories/{dora_story}/views")

    before = {"likes": 2, "comments": 2, "saves": 1, "shares": 3}
    wait_until(lambda: stats(ann, ann_post) == before, what="ann's post counted")
    # The counts are flushed on a timer, apart from the comment rows: wait for both.
    wait_until(
        lambda: comment_text in ann.get(f"/v1/posts/{ann_post}/comments").text,
        what="dora's comment listed",
    )
    wait_until(
        lambda: dora.user_id in ids_in(ann.get(f"/v1/stories/{ann_story}/viewers")),
        what="dora's receipt",
    )
    wait_until(
        lambda: ben.user_id in ids_in(dora.get(f"/v1/stories/{dora_story}/viewers")),
        what="ben's receipt",
    )
    wait_until(
        lambda: dora.user_id in ids_in(ben.get("/v1/stories/tray"), "author_id"),
        what="dora in ben's tray",
    )
    wait_until(
        lambda: dora.user_id in ids_in(cal.get("/v1/users/me/follow-requests")),
        what="dora's request to cal",
    )
    wait_until(
        lambda: (
            ann.user_id in ids_in(dora.get("/v1/users/me/close-friends"))
            or dora.user_id in ids_in(ann.get("/v1/users/me/close-friends"))
        ),
        what="close friends",
    )
    wait_until(
        lambda: tag in ann.get("/v1/trending/hashtags", window="1h").text,
        what="dora's tag trending",
    )

    # Where her traces are looked for finds them now (the scans below can fail).
    needles = [dora.user_id, dora.username, caption, plain_caption, comment_text]

    def traces() -> list[str]:
        return (
            redis_traces(stack.settings, needles)
            + cassandra_traces(stack.settings, needles)
            + stored_files(stack.settings, dora)
        )

    found = traces()
    for where in ("redis", "cassandra", str(stack.settings.media_dir)):
        assert any(t.startswith(where) for t in found), where
    for needle in needles:
        assert any(needle in t for t in found), needle

    # --- the deletion ------------------------------------------------------------------
    key = uuid.uuid4().hex
    r = dora.call("DELETE", "/v1/users/me", headers={"Idempotency-Key": key})
    assert r.status_code == 202, r.text
    again = dora.call("DELETE", "/v1/users/me", headers={"Idempotency-Key": key})
    assert again.json() == r.json()  # a retry is the same answer, not a second deletion
    if crashes:
        wait_until(
            lambda: ben.get(f"/v1/users/{dora.user_id}").status_code == 404,
            what="the cascade under way",
        )
        stack.crash_worker()
    refreshed = httpx.post(
        f"{stack.api.url}/v1/accounts/refresh",
        json={"refresh_token": dora.session["refresh_token"]},
        timeout=30,
    )
    assert refreshed.status_code == 401, refreshed.text  # every session ended at once
    login = httpx.post(
        f"{stack.api.url}/v1/accounts/login",
        json={"username": dora.username, "password": PASSWORD},
        timeout=30,
    )
    assert login.status_code == 401, login.text
    taken = httpx.post(
        f"{stack.api.url}/v1/accounts",
        json={"username": dora.username, "password": PASSWORD},
        timeout=30,
    )
    assert taken.status_code == 409, taken.text  # held for the grace period
    wait_until(lambda: ben.get(f"/v1/users/{dora.user_id}").status_code == 404, what="dora hidden")
    assert dora.call("DELETE", "/v1/users/me").status_code == 404  # nothing left to delete

    # Other people's counts, exactly without hers.
    after = {"likes": 1, "comments": 1, "saves": 0, "shares": 1}
    wait_until(lambda: stats(ann, ann_post) == after, what="ann's counts corrected")

    # Every answer about her: 404, or she is left out.
    def answers_leave_her_out() -> list[str]:
        wrong = []
        for person, path in (
            (ben, f"/v1/users/{dora.user_id}"),
            (ben, f"/v1/users/by-username/{dora.username}"),
            (ben, f"/v1/posts/{dora_post}"),
            (ben, f"/v1/posts/{dora_plain}"),
            (ben, f"/v1/stories/{dora_story}"),
            (ben, f"/v1/media/{dora_photo}"),
            (ann, f"/v1/media/{dora_loose}"),
        ):
            if (status := person.get(path).status_code) != 404:
                wrong.append(f"{path}: {status}")
        for person, path, field_name in (
            (ann, f"/v1/users/{ann.user_id}/followers", "user_id"),
            (ben, f"/v1/users/{ben.user_id}/following", "user_id"),
            (ann, f"/v1/posts/{ann_post}/comments", "user_id"),
            (ann, f"/v1/stories/{ann_story}/viewers", "user_id"),
            (ben, "/v1/stories/tray", "author_id"),
            (cal, "/v1/users/me/follow-requests", "user_id"),
            (ann, "/v1/users/me/close-friends", "user_id"),
            (ben, "/v1/feed", "user_id"),
        ):
            response = person.get(path)
            if response.status_code != 200 or dora.user_id in ids_in(response, field_name):
                wrong.append(f"{path}: {response.status_code} {response.text[:200]}")
        trending = ann.get("/v1/trending/hashtags", window="1h").text
        if tag in trending:
            wrong.append(f"trending: {trending[:200]}")
        for person, path in (
            (ann, f"/v1/hashtags/{tag}/posts"),
            (ben, f"/v1/users/{dora.user_id}/posts"),
        ):
            response = person.get(path)  # her posts are gone, whether or not she is known
            if response.status_code == 200 and response.json()["data"]:
                wrong.append(f"{path}: {response.text[:200]}")
        return wrong

    settle(answers_leave_her_out, stack, timeout_s=60, what="answers without dora")
    if crashes:
        stack.crash_worker()

    # After the grace period: nothing of her anywhere.
    settle(traces, stack, timeout_s=GRACE_S + 90, what="no trace of dora")
    assert not answers_leave_her_out()
    assert stats(ann, ann_post) == after

    # Her username is free again.
    reborn = httpx.post(
        f"{stack.api.url}/v1/accounts",
        json={"username": dora.username, "password": PASSWORD},
        timeout=30,
    )
    assert reborn.status_code == 201, reborn.text
    assert reborn.json()["user_id"] != dora.user_id


def test_deleted_posts_and_stories_take_their_media_with_them(stack: Stack) -> None:
    ann = stack.register("ann")
    solo, shared, story_only = ann.upload(), ann.upload(), ann.upload()
    for media_id in (solo, shared, story_only):
        ann.ready(media_id)

    def photo(media_id: str) -> dict[str, Any]:
        return {"caption": "", "media": [{"media_id": media_id, "kind": "photo"}]}

    post_solo = ann.ok("POST", "/v1/posts", json=photo(solo))["post_id"]
    post_shared = ann.ok("POST", "/v1/posts", json=photo(shared))["post_id"]
    story_shared = ann.ok("POST", "/v1/stories", json={"media_id": shared})["story_id"]
    story_only_id = ann.ok("POST", "/v1/stories", json={"media_id": story_only})["story_id"]
    for path in (f"/v1/posts/{post_solo}", f"/v1/posts/{post_shared}"):
        wait_until(lambda path=path: ann.get(path).json().get("state") == "ready", what=path)
    for path in (f"/v1/stories/{story_shared}", f"/v1/stories/{story_only_id}"):
        wait_until(lambda path=path: ann.get(path).status_code == 200, what=path)
    files = {m: files_of(stack.settings, m, data) for m, data in ann.uploads.items()}
    assert all(len(f) > 2 for f in files.values()), files  # an original and renditions each

    def gone(media_id: str) -> bool:
        return (
            not files_of(stack.settings, media_id, ann.uploads[media_id])
            and ann.get(f"/v1/media/{media_id}").status_code == 404
        )

    ann.ok("DELETE", f"/v1/posts/{post_solo}")
    wait_until(lambda: gone(solo), what="the deleted post's media gone")
    ann.ok("DELETE", f"/v1/stories/{story_shared}")
    ann.ok("DELETE", f"/v1/stories/{story_only_id}")
    wait_until(lambda: gone(story_only), what="the deleted story's media gone")
    # The story deleted before it showed an upload a post still shows: it stays.
    assert files_of(stack.settings, shared, ann.uploads[shared]) == files[shared]
    assert ann.get(f"/v1/posts/{post_shared}").json()["media"][0]["state"] == "ready"
    ann.ok("DELETE", f"/v1/posts/{post_shared}")
    wait_until(lambda: gone(shared), what="the last holder's media gone")

"""The permission matrix: every route of the OpenAPI document, sent as every relation,
on every account state and object state, against the real services.

Routes come from ``api.main.create_app().openapi()`` at collection, so a route added
later joins by itself. Its path parameters name its subject (``SUBJECTS``), filled from
the world of ``tests/e2e/matrix_world.py``. A read asks the policy its subject's default
question unless ``READS`` says otherwise; every write must be in ``WRITES`` (the question
that decides it, and whether its effect needs copies of its own). A route the matrix
cannot classify fails saying so; only ``UNCHECKED`` routes stay out.

Each cell's expected outcome is what ``domain.visibility`` answers for the cell's
relation, account state and object state: hidden is a 404 with a JSON ``code``
(anonymous: 401), visible is anything but a 404 and never a 5xx. Every 2xx JSON body is
scanned for the ids of objects hidden from that viewer on that surface (feed, tray,
discovery, direct) and of accounts hidden from them, and for failure reasons of uploads
not theirs. ``KNOWN_LEAKS`` names leaks per route and cell and fails strictly: a leak
that stops happening fails until it is removed from there.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.main import create_app
from domain import visibility as policy
from tests.e2e.matrix_search import QUERIES
from tests.e2e.matrix_world import (
    COMMENT_STATES,
    LABELS,
    MEDIA_STATES,
    PASSWORD,
    POST_STATES,
    STORY_STATES,
    VARIANTS,
    Account,
    Builder,
    Comment,
    Needs,
    Objects,
    World,
    new_id,
    photo_bytes,
)

logger = logging.getLogger(__name__)

# No subject and nobody's data: outside the matrix.
UNCHECKED = {("GET", "/livez"), ("GET", "/healthz"), ("GET", "/docs"), ("GET", "/redoc")}

# A route's path parameters name what it acts on.
SUBJECTS = {
    frozenset(): "self",
    frozenset({"user_id"}): "account",
    frozenset({"username"}): "username",
    frozenset({"post_id"}): "post",
    frozenset({"post_id", "comment_id"}): "comment",
    frozenset({"story_id"}): "story",
    frozenset({"media_id"}): "media",
    frozenset({"key"}): "file",
    frozenset({"tag"}): "tag",
    frozenset({"requester_id"}): "request",
}
# The world's states, and an id that never existed (hidden from everyone).
UNKNOWN = "unknown"
STATES = {
    "post": (*POST_STATES, UNKNOWN),
    "comment": (*COMMENT_STATES, UNKNOWN),
    "story": (*STORY_STATES, UNKNOWN),
    "media": (*MEDIA_STATES, UNKNOWN),
    "file": ("ready", UNKNOWN),
}
# What a read asks the policy, by subject (a key of ``_answers``).
READ_DEFAULTS = {"self": "self", "account": "content", "username": "account", "tag": "self"}
READ_DEFAULTS |= {"post": "post", "comment": "comment", "story": "story", "request": "request"}
READ_DEFAULTS |= {"media": "content", "file": "content"}

# Effects: "read"; "harmless" (adds what nothing else relies on); "own objects" (deletes:
# gets posts, stories and comments of its own); "own accounts" (changes the graph: gets
# owner accounts of its own, with the same relations); "fresh viewer" (ends the viewer).
# Surfaces: where a list shows posts (direct, feed, discovery, tray), or "blocks" (the
# viewer's own blocked list, which shows the accounts they blocked).


@dataclass(frozen=True)
class Rule:
    check: str
    effect: str = "read"
    surface: str = "direct"


def _table(text: str) -> dict[tuple[str, str], Rule]:
    rows = (line.split() for line in text.strip().splitlines())
    return {(m, p): Rule(c, e.replace("_", " "), *s) for m, p, c, e, *s in rows}


READS = _table("""
GET /v1/users/{user_id}            account      read
GET /v1/users/{user_id}/feed       owner        read feed
GET /v1/stories/{story_id}/viewers owner_story  read
GET /v1/feed                       self         read feed
GET /v1/hashtags/{tag}/posts       self         read discovery
GET /v1/stories/tray               self         read tray
GET /v1/users/me/blocked           self         read blocks
""")
WRITES = _table("""
POST   /v1/accounts                                         self           harmless
POST   /v1/accounts/login                                   self           harmless
POST   /v1/accounts/refresh                                 self           harmless
POST   /v1/accounts/logout                                  self           harmless
PATCH  /v1/users/me                                         self           harmless
DELETE /v1/users/me                                         self           fresh_viewer
POST   /v1/posts                                            self           harmless
POST   /v1/media                                            self           harmless
POST   /v1/stories                                          self           harmless
DELETE /v1/posts/{post_id}                                  owner_post     own_objects
POST   /v1/posts/{post_id}/like                             post           harmless
DELETE /v1/posts/{post_id}/like                             post           harmless
POST   /v1/posts/{post_id}/save                             post           harmless
DELETE /v1/posts/{post_id}/save                             post           harmless
POST   /v1/posts/{post_id}/share                            post           harmless
POST   /v1/posts/{post_id}/comments                         post           harmless
DELETE /v1/posts/{post_id}/comments/{comment_id}            delete_comment own_objects
DELETE /v1/stories/{story_id}                               owner_story    own_objects
POST   /v1/stories/{story_id}/views                         story          harmless
POST   /v1/users/{user_id}/follow                           graph          own_accounts
DELETE /v1/users/{user_id}/follow                           graph          own_accounts
POST   /v1/users/{user_id}/block                            block          own_accounts
DELETE /v1/users/{user_id}/block                            block          own_accounts
POST   /v1/users/{user_id}/mute                             graph          own_accounts
DELETE /v1/users/{user_id}/mute                             graph          own_accounts
POST   /v1/users/me/close-friends/{user_id}                 graph          own_accounts
DELETE /v1/users/me/close-friends/{user_id}                 graph          own_accounts
POST   /v1/users/me/follow-requests/{requester_id}/approve  request        harmless
POST   /v1/users/me/follow-requests/{requester_id}/deny     request        harmless
""")


@dataclass(frozen=True)
class Cell:
    label: str  # the viewer's relation (LABELS)
    variant: str  # the account state: public | private ("-": the viewer's own things)
    state: str  # the object state ("-": the subject has only one)
    viewer: str | None
    path: str
    visible: bool
    forbidden: frozenset[str]  # must not occur in a 2xx body
    secret: frozenset[str]  # failed uploads whose reason is not the viewer's to see

    @property
    def key(self) -> tuple[str, str, str]:
        return self.label, self.variant, self.state


class Unclassified(Exception):
    """A route the matrix cannot place: its test fails with why."""


class KnownLeak(Exception):
    """The cells of ``KNOWN_LEAKS`` still leak (the route's expected failure)."""


BLOCKED_EITHER_WAY = ("blocked", "blocking")


# route -> (what leaks, which cells).
KNOWN_LEAKS: dict[tuple[str, str], tuple[str, Callable[[Cell], bool]]] = {}

_DOC = create_app().openapi()
OPERATIONS = {(m.upper(), p): op for p, item in _DOC["paths"].items() for m, op in item.items()}
SCHEMAS = _DOC.get("components", {}).get("schemas", {})


def classify(method: str, path: str, op: dict[str, Any]) -> tuple[str, Rule]:
    names = frozenset(p["name"] for p in op.get("parameters", ()) if p["in"] == "path")
    if names not in SUBJECTS:
        raise Unclassified(
            f"{method} {path}: the matrix cannot fill the path parameters {sorted(names)}; "
            "give the world such objects and add them to SUBJECTS"
        )
    if method == "GET":
        return SUBJECTS[names], READS.get((method, path), Rule(READ_DEFAULTS[SUBJECTS[names]]))
    if (method, path) not in WRITES:
        raise Unclassified(
            f"{method} {path} is a write route the permission matrix does not know: add it "
            "to WRITES with the policy question that decides it and what its effect needs"
        )
    return SUBJECTS[names], WRITES[(method, path)]


def _needs() -> Needs:
    own: dict[str, list[str]] = {"own objects": [], "own accounts": [], "fresh viewer": []}
    requests = []
    for (method, path), op in OPERATIONS.items():
        try:
            subject, rule = classify(method, path, op)
        except Unclassified:
            continue
        own.get(rule.effect, []).append(f"{method} {path}")
        if subject == "request":  # answering a request spends it: one requester each
            requests.append(f"{method} {path}")
    return Needs(
        tuple(own["own objects"]),
        tuple(own["own accounts"]),
        tuple(requests),
        tuple(own["fresh viewer"]),
    )


# --- the policy's answers ---------------------------------------------------------------


def _account(account: Account) -> policy.Account:
    return policy.Account(private=account.private, deleted=account.deleted)


def _story(rel: policy.Relation, acct: policy.Account, state: str) -> bool:
    live, close = state in ("live", "close_friends"), state == "close_friends"
    return policy.may_see_story(rel, acct, live=live, close_friends_only=close)


def _comment(w: World, viewer: str | None, account: Account, objs: Objects, state: str) -> bool:
    comment = objs.comments[state]
    post_state = "deleted" if comment.post_id == objs.posts["deleted"] else "ready"
    rel, acct = policy.relation(w.ties(viewer, account)), _account(account)
    commenter = policy.relation(w.ties_between(viewer, w.commenter(comment, account)))
    seen = policy.may_see_post(rel, acct, post_state)
    return policy.may_see_comment(seen, commenter, deleted=state == "deleted")


def _answers(
    w: World, viewer: str | None, account: Account, objs: Objects, state: str
) -> dict[str, Callable[[], bool]]:
    """Each policy question a route may ask, for one viewer, account and object."""
    ties = w.ties(viewer, account)
    rel, acct = policy.relation(ties), _account(account)
    owner = rel is policy.Relation.OWNER and policy.may_see_account(rel, acct)
    graph = policy.follow_outcome(ties, acct) is not policy.FollowOutcome.HIDDEN
    return {
        "self": lambda: True,
        "account": lambda: policy.may_see_account(rel, acct),
        "content": lambda: policy.may_see_content(rel, acct),
        "owner": lambda: owner,
        # A graph write as follow_outcome decides: oneself is refused (422) before a
        # hidden account (404).
        "graph": lambda: graph,
        # One's own block stays reachable (the blocked list shows it to the blocker).
        "block": lambda: graph or (w.label_of(viewer, account) == "blocking" and not acct.deleted),
        "post": lambda: policy.may_see_post(rel, acct, state),
        "owner_post": lambda: owner and policy.may_see_post(rel, acct, state),
        "story": lambda: _story(rel, acct, state),
        "owner_story": lambda: owner and _story(rel, acct, state),
        "comment": lambda: _comment(w, viewer, account, objs, state),
        "delete_comment": lambda: (
            _comment(w, viewer, account, objs, state)
            and policy.may_delete_comment(
                viewer or "", w.commenter(objs.comments[state], account), account.user_id
            )
        ),
        "request": lambda: owner and account.private,
    }


def visible(
    check: str, w: World, viewer: str | None, account: Account, objs: Objects, state: str
) -> bool:
    # An object is visible only while it exists.
    return state != UNKNOWN and _answers(w, viewer, account, objs, state)[check]()


_FORBIDDEN: dict[tuple[int, str | None, str], frozenset[str]] = {}


def forbidden(w: World, viewer: str | None, surface: str) -> frozenset[str]:
    """What must not occur in a 2xx body for ``viewer`` on ``surface``."""
    key = (id(w), viewer, surface)
    if key not in _FORBIDDEN:
        _FORBIDDEN[key] = _forbidden(w, viewer, surface)
    return _FORBIDDEN[key]


def _forbidden(w: World, viewer: str | None, surface: str) -> frozenset[str]:
    out: set[str] = set()
    has_story: set[str] = set()
    for account, objs in w.object_sets():
        ties = w.ties(viewer, account)
        rel, acct = policy.relation(ties), _account(account)
        for state, post_id in objs.posts.items():
            shown = {
                "feed": policy.in_feed(ties, acct, state) or policy.in_discovery(ties, acct, state),
                "discovery": policy.in_discovery(ties, acct, state),
            }.get(surface, policy.may_see_post(rel, acct, state))
            out |= set() if shown else {post_id}
        for state, story_id in objs.stories.items():
            seen = _story(rel, acct, state)
            has_story |= {account.user_id} if seen else set()
            out |= set() if seen else {story_id}
        out |= {
            c.comment_id
            for s, c in objs.comments.items()
            if not _comment(w, viewer, account, objs, s)
        }
        out |= {inner for inner, outer in objs.inner.items() if outer in out}
    for account in w.accounts():
        ties = w.ties(viewer, account)
        rel, acct = policy.relation(ties), _account(account)
        if not policy.may_see_content(rel, acct):
            out |= set(account.media.values())
        if surface != "blocks" and not policy.may_see_account(rel, acct):
            out.add(account.user_id)
        if surface == "tray" and not (policy.in_tray(ties, acct) and account.user_id in has_story):
            out.add(account.user_id)
        # The owner's side of a block (a deleted account's blocks are being undone).
        if viewer == account.user_id and surface != "blocks" and not account.deleted:
            out |= {w.viewers[label] for label in BLOCKED_EITHER_WAY}
    return frozenset(out)


def secret(w: World, viewer: str | None) -> frozenset[str]:
    return frozenset(a.media["failed"] for a in w.main.values() if a.user_id != viewer)


def reasons_shown(body: Any, secret: frozenset[str]) -> list[str]:
    """Ids of the secret uploads shown with a failure reason anywhere in a JSON body."""
    if isinstance(body, list):
        return [m for item in body for m in reasons_shown(item, secret)]
    if not isinstance(body, dict):
        return []
    own = [body["media_id"]] if body.get("media_id") in secret and body.get("reason") else []
    return own + [m for value in body.values() for m in reasons_shown(value, secret)]


# --- cells ------------------------------------------------------------------------------


def cells(w: World, method: str, path: str, subject: str, rule: Rule) -> Iterator[Cell]:
    route = f"{method} {path}"
    if subject == "self":
        fresh = w.fresh_viewers.get(route)
        for label, viewer in w.users():
            viewer = fresh.get(label) if fresh else viewer
            who, _, variant = label.partition(":")
            scan = forbidden(w, viewer, rule.surface), secret(w, viewer)
            for query in QUERIES[route](w) if route in QUERIES else [""]:
                yield Cell(who, variant or "-", "-", viewer, path + query, True, *scan)
        return
    for variant in VARIANTS:
        account = w.main[variant]
        if rule.effect == "own accounts":
            account = w.own_accounts[route][variant]
        objs = w.own_objects[route][variant] if rule.effect == "own objects" else account.objects
        objs = objs or Objects()
        for label in LABELS:
            viewer = w.viewer(label, account)
            scan = forbidden(w, viewer, rule.surface), secret(w, viewer)
            for state in STATES.get(subject, ("-",)):
                filled = path
                for name, value in _params(w, route, subject, account, objs, state).items():
                    filled = filled.replace("{" + name + "}", value)
                seen = visible(rule.check, w, viewer, account, objs, state)
                yield Cell(label, variant, state, viewer, filled, seen, *scan)


def _params(
    w: World, route: str, subject: str, account: Account, objs: Objects, state: str
) -> dict[str, str]:
    if subject == "comment":
        c = objs.comments.get(state) or Comment(objs.posts["ready"], new_id("c"), "owner")
        return {"post_id": c.post_id, "comment_id": c.comment_id}
    unknown_file = f"variants/{new_id('m')}/w320.jpg"
    return {
        "post": lambda: {"post_id": objs.posts.get(state) or new_id("p")},
        "story": lambda: {"story_id": objs.stories.get(state) or new_id("s")},
        "media": lambda: {"media_id": account.media.get(state) or new_id("m")},
        "file": lambda: {"key": account.file_key if state == "ready" else unknown_file},
        "tag": lambda: {"tag": account.tag},
        "username": lambda: {"username": account.username},
        "request": lambda: {"requester_id": w.own_requests[route][account.variant]},
        "account": lambda: {"user_id": account.user_id},
    }[subject]()  # type: ignore[return-value]


# --- requests ---------------------------------------------------------------------------


def _refresh_token(http: httpx.Client, w: World) -> str:
    r = http.post("/v1/accounts/login", json={"username": w.login[0], "password": w.login[1]})
    assert r.status_code == 200, r.text
    return str(r.json()["refresh_token"])


# Bodies a schema cannot say: fresh names, real credentials and refresh tokens.
BODIES: dict[tuple[str, str], Callable[[httpx.Client, World], dict[str, Any]]] = {
    ("POST", "/v1/accounts"): lambda http, w: {"username": new_id(""), "password": PASSWORD},
    ("POST", "/v1/accounts/login"): lambda http, w: {
        "username": w.login[0],
        "password": w.login[1],
    },
    ("POST", "/v1/accounts/refresh"): lambda http, w: {"refresh_token": _refresh_token(http, w)},
    ("POST", "/v1/accounts/logout"): lambda http, w: {"refresh_token": _refresh_token(http, w)},
}


def sample(schema: dict[str, Any]) -> Any:
    """The smallest valid value of a JSON schema (required fields only)."""
    if "$ref" in schema:
        return sample(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]])
    if "const" in schema or "enum" in schema:
        return schema.get("const", (schema.get("enum") or [None])[0])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return sample(next(s for s in schema[key] if s.get("type") != "null"))
    kind, required = schema.get("type"), schema.get("required", ())
    if kind == "object":
        return {k: sample(s) for k, s in schema.get("properties", {}).items() if k in required}
    if kind == "string":
        return "matrix".ljust(schema.get("minLength", 1), "x")[: schema.get("maxLength", 64)]
    if kind in ("integer", "number", "boolean"):
        return schema.get("minimum", 1) if kind != "boolean" else False
    if kind == "array":
        return [sample(schema["items"]) for _ in range(schema.get("minItems", 0))]
    raise Unclassified(f"no sample for the schema {schema}: add the route to BODIES")


def body_for(
    http: httpx.Client, w: World, method: str, path: str, op: dict[str, Any]
) -> dict[str, Any]:
    if (method, path) in BODIES:
        return {"json": BODIES[(method, path)](http, w)}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return {"json": sample(content["application/json"]["schema"])}
    if "multipart/form-data" in content:
        schema = content["multipart/form-data"]["schema"]
        schema = SCHEMAS.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
        return {"files": {k: ("m.jpg", photo_bytes(), "image/jpeg") for k in schema["required"]}}
    if content:
        raise Unclassified(
            f"{method} {path}: no sample body for {sorted(content)}; add it to BODIES"
        )
    return {}


def judge(cell: Cell, r: httpx.Response, secured: bool) -> str | None:
    """What is wrong with this answer, or None."""
    is_json = r.headers.get("content-type", "").startswith("application/json")
    coded = is_json and isinstance(body := r.json(), dict) and "code" in body
    if secured and cell.viewer is None:
        return None if r.status_code == 401 and coded else "anonymous not refused with a JSON 401"
    if not cell.visible:
        return None if r.status_code == 404 and coded else "hidden, not a JSON 404"
    if r.status_code == 404 or r.status_code >= 500:
        return f"visible, answered {r.status_code}"
    if r.status_code >= 400 and not coded:
        return "an error without a JSON code"
    if r.is_success and is_json:
        found = sorted(f for f in cell.forbidden if f in r.text)
        found += [f"the failure reason of {m}" for m in reasons_shown(r.json(), cell.secret)]
        return f"shows hidden {found}" if found else None
    return None


# --- the tests --------------------------------------------------------------------------

TALLY: dict[str, Counter[str]] = {}


@pytest.fixture(scope="module")
def http(api: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world(
    http: httpx.Client, worker: Any, api: Any, producer: Any, token_for: Any, settings: Any
) -> Iterator[World]:
    logs = lambda: f"worker log:\n{worker.tail(30)}\napi log:\n{api.tail(30)}"  # noqa: E731
    builder = Builder(http, token_for, producer, settings, logs)
    try:
        yield builder.build(_needs())
    finally:
        builder.close()


def _routes() -> list[Any]:
    params = []
    for method, path in sorted(set(OPERATIONS) - UNCHECKED, key=lambda r: (r[1], r[0])):
        leak = KNOWN_LEAKS.get((method, path))
        marks = [pytest.mark.xfail(raises=KnownLeak, strict=True, reason=leak[0])] if leak else []
        params.append(pytest.param(method, path, id=f"{method} {path}", marks=marks))
    return params


@pytest.mark.parametrize(("method", "path"), _routes())
def test_route_obeys_the_visibility_policy(
    method: str, path: str, world: World, http: httpx.Client, token_for: Any, api: Any
) -> None:
    op = OPERATIONS[(method, path)]
    subject, rule = classify(method, path, op)
    secured = bool(op.get("security"))
    tally, wrong = TALLY.setdefault(f"{method} {path}", Counter()), []
    route_cells = list(cells(world, method, path, subject, rule))
    ids = world.object_ids() | {a.user_id for a in world.accounts()}
    for cell in route_cells:
        headers = token_for(cell.viewer) if cell.viewer else {}
        kwargs = {} if method == "GET" else body_for(http, world, method, path, op)
        if method != "GET":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        r = http.request(method, cell.path, headers=headers, **kwargs)
        tally["cells"] += 1
        tally["visible" if cell.visible and (cell.viewer or not secured) else "hidden"] += 1
        tally["scanned"] += r.is_success and any(i in r.text for i in ids)  # had something to find
        if problem := judge(cell, r, secured):
            wrong.append((cell, f"{problem}: {r.status_code} {r.text[:160]}"))
    known = KNOWN_LEAKS.get((method, path))
    leaking = {c.key for c, _ in wrong if known and known[1](c)}
    report = "\n".join(f"  {'/'.join(c.key)} {c.path}: {what}" for c, what in wrong)
    unexpected = [c for c, _ in wrong if c.key not in leaking]
    assert not unexpected, f"{method} {path} breaks the policy:\n{report}\n{api.tail(20)}"
    if known:
        fixed = {c.key for c in route_cells if known[1](c)} - leaking
        assert leaking and not fixed, f"{method} {path} no longer leaks for {sorted(fixed)}"
        raise KnownLeak(f"{method} {path}: {known[0]}\n{report}")


def test_matrix_covers_every_route(world: World, http: httpx.Client) -> None:
    """Every route of the running API's document is classified and has cells; the
    summary line gives the matrix's size (and what the route tests of this run sent)."""
    served = {
        (m.upper(), p) for p, i in http.get("/openapi.json").json()["paths"].items() for m in i
    }
    assert served == set(OPERATIONS), (
        f"the running API serves other routes: {served ^ set(OPERATIONS)}"
    )
    planned, problems = Counter[str](), []
    for (method, path), op in sorted(OPERATIONS.items()):
        if (method, path) in UNCHECKED:
            continue
        try:
            route_cells = list(cells(world, method, path, *classify(method, path, op)))
        except Unclassified as exc:
            problems.append(str(exc))
            continue
        refused = [c.viewer is None and bool(op.get("security")) for c in route_cells]
        visible = sum(c.visible and not r for c, r in zip(route_cells, refused, strict=True))
        planned.update(routes=1, cells=len(route_cells), anonymous=sum(refused), visible=visible)
        problems += [f"{method} {path} has no cells"] if not route_cells else []
    sent = sum(TALLY.values(), Counter[str]())
    states = {subject: len(s) for subject, s in STATES.items()}
    summary = (
        f"permission matrix: {planned['routes']} routes x {len(LABELS)} relations x "
        f"{len(VARIANTS)} account states x 1-{max(states.values())} object states {states} = "
        f"{planned['cells']} cells ({planned['visible']} visible, {planned['anonymous']} "
        f"anonymous 401, the rest hidden 404); sent in this run: {sent['cells']} cells, "
        f"{sent['scanned']} 2xx bodies scanned with posts, stories, comments or owners in "
        f"them; known leaks on {len(KNOWN_LEAKS)} routes"
    )
    print(f"\n{summary}")
    logger.warning(summary)
    assert not problems, summary + "\n" + "\n".join(problems)

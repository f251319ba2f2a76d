"""Rate limits across two API processes: one shared count per user and per address.

Both processes serve the session's namespace with small limits. Each test speaks from
its own loopback address (127.0.x.y, bound as the client's source address), so the
address counts of one test, and the shared API's traffic on 127.0.0.1, never meet.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Api, wait_until

READS, LIKES, UPLOADS, FACTOR = 4, 2, 1, 2
LIMITS = {
    "PHOTOSTREAM_RATE_LIMITS_ENABLED": "true",
    "PHOTOSTREAM_RATE_READS_PER_MIN": str(READS),
    "PHOTOSTREAM_RATE_WRITES_PER_MIN": "10",
    "PHOTOSTREAM_RATE_LIKES_PER_MIN": str(LIKES),
    "PHOTOSTREAM_RATE_UPLOADS_PER_MIN": str(UPLOADS),
    "PHOTOSTREAM_RATE_PER_IP_FACTOR": str(FACTOR),
}
_addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(10, 250), range(2, 250)))
_users = (f"rl-user-{n}" for n in itertools.count(1))


@pytest.fixture(scope="module")
def apis(namespace: str, test_env: dict[str, str], logs_dir: Path) -> Iterator[tuple[Api, Api]]:
    env = {**test_env, **LIMITS}
    pair = [Api(env=env, log_file=logs_dir / f"api-ratelimit-{i}.log") for i in (1, 2)]
    try:
        # Both start at once (each its own port), then each must report healthy.
        for api in pair:
            api.start()
        for api in pair:
            _wait_healthy(api)
        yield pair[0], pair[1]
    finally:
        for api in pair:
            api.stop()


def _wait_healthy(api: Api) -> None:
    def healthy() -> bool:
        if not api.alive():
            raise AssertionError(f"api exited early:\n{api.tail()}")
        try:
            return httpx.get(f"{api.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout_s=60, interval_s=0.3, what="the API to report healthy")


class Client:
    """Requests from one loopback address, sent to either process by index."""

    def __init__(self, apis: tuple[Api, Api], token_for: object) -> None:
        self.address = next(_addresses)
        self.token_for = token_for
        self.clients = [
            httpx.Client(
                base_url=api.url,
                transport=httpx.HTTPTransport(local_address=self.address),
                timeout=10,
            )
            for api in apis
        ]

    def send(self, process: int, method: str, path: str, user: str | None = None) -> httpx.Response:
        headers = self.token_for(user) if user else {}  # type: ignore[operator]
        return self.clients[process % 2].request(method, path, headers=headers)

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def client(apis: tuple[Api, Api], token_for: object) -> Iterator[Client]:
    c = Client(apis, token_for)
    yield c
    c.close()


def _read(client: Client, process: int, user: str | None) -> httpx.Response:
    return client.send(process, "GET", "/v1/users/me/saved", user)


def _assert_refused(response: httpx.Response) -> int:
    assert response.status_code == 429, (response.status_code, response.text)
    wait_s = int(response.headers["Retry-After"])
    assert 1 <= wait_s <= 60
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["message"].endswith(f"try again in {wait_s} s")
    return wait_s


def test_requests_alternating_between_processes_share_one_limit(client: Client) -> None:
    user = next(_users)
    allowed = [_read(client, i, user) for i in range(READS)]
    assert [r.status_code for r in allowed] == [200] * READS
    # Each process sees the other's requests: one count, whichever process answers.
    assert [r.headers["RateLimit-Remaining"] for r in allowed] == [
        str(n) for n in range(READS - 1, -1, -1)
    ]
    assert {r.headers["RateLimit-Limit"] for r in allowed} == {str(READS)}
    _assert_refused(_read(client, READS, user))
    _assert_refused(_read(client, READS + 1, user))


def test_users_are_limited_independently(client: Client) -> None:
    first, second = next(_users), next(_users)
    for i in range(READS):
        assert _read(client, i, first).status_code == 200
    _assert_refused(_read(client, 0, first))
    # The same address, another user: their own allowance (the address holds two).
    assert [_read(client, i, second).status_code for i in range(READS)] == [200] * READS
    _assert_refused(_read(client, 1, second))


def test_an_address_carries_a_few_users_worth_and_no_more(
    apis: tuple[Api, Api], token_for: object
) -> None:
    crowded = Client(apis, token_for)
    elsewhere = Client(apis, token_for)
    anonymous = Client(apis, token_for)
    try:
        users = [next(_users) for _ in range(FACTOR)]
        for user in users:
            assert [_read(crowded, i, user).status_code for i in range(READS)] == [200] * READS
        # The address is spent: a user who sent nothing yet is refused there, on
        # either process, and so is a request without a token.
        newcomer = next(_users)
        _assert_refused(_read(crowded, 0, newcomer))
        _assert_refused(_read(crowded, 1, newcomer))
        _assert_refused(_read(crowded, 0, None))
        # The newcomer elsewhere is fine; a spent user stays spent from any address.
        assert _read(elsewhere, 0, newcomer).status_code == 200
        _assert_refused(_read(elsewhere, 1, users[0]))
        # Requests without a token count against their address alone: the factor's worth.
        codes = [_read(anonymous, i, None).status_code for i in range(READS * FACTOR)]
        assert codes == [401] * (READS * FACTOR)
        _assert_refused(_read(anonymous, 0, None))
    finally:
        for c in (crowded, elsewhere, anonymous):
            c.close()


def test_reads_likes_and_uploads_are_separate_classes(client: Client) -> None:
    user = next(_users)
    for i in range(LIKES):
        assert client.send(i, "POST", "/v1/posts/rl-missing/like", user).status_code == 404
    _assert_refused(client.send(0, "POST", "/v1/posts/rl-missing/like", user))
    # Saves, shares and comments are the same class: refused too.
    _assert_refused(client.send(1, "POST", "/v1/posts/rl-missing/save", user))
    _assert_refused(client.send(0, "POST", "/v1/posts/rl-missing/comments", user))
    # Reads have their own allowance, untouched by the likes.
    assert [_read(client, i, user).status_code for i in range(READS)] == [200] * READS
    _assert_refused(_read(client, 0, user))
    # Uploads too (an empty upload is refused by the route, after being counted).
    assert client.send(1, "POST", "/v1/media", user).status_code == 422
    _assert_refused(client.send(0, "POST", "/v1/media", user))
    # The probes are never limited.
    assert client.send(0, "GET", "/livez").status_code == 200

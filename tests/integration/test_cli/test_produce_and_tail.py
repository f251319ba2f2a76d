"""``photostream produce`` and ``photostream tail`` against the real Kafka."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.factories import unique
from tests.support import ROOT


def run(
    args: list[str], env: dict[str, str], stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=stdin,
        env={**env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def test_produce_sends_valid_lines_reports_rejected_ones_and_exits_nonzero(
    namespace, test_env
) -> None:  # type: ignore[no-untyped-def]
    author = unique("author")
    lines = [
        orjson.dumps(
            {
                "type": "post_created",
                "user_id": author,
                "post_id": unique("p"),
                "caption": "one #a",
                "media": [],
            }
        ),
        b"{not json",
        orjson.dumps(
            {"type": "post_created", "user_id": author, "caption": "no post id", "media": []}
        ),
        b"",
        orjson.dumps(
            {
                "type": "post_deleted",
                "user_id": author,
                "post_id": "p-x",
                "event_id": "fixed-id",
                "occurred_at": "2026-05-01T12:00:00Z",
            }
        ),
    ]
    result = run(["produce", "-"], test_env, stdin=b"\n".join(lines) + b"\n")
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "line 2: rejected: not JSON" in err
    assert "line 3: rejected: field 'post_id': Field required" in err
    assert "sent 2, rejected 2, failed 0" in err

    tailed = run(
        [
            "tail",
            "posts",
            "--from-beginning",
            "--user",
            author,
            "--limit",
            "2",
            "--json",
            "--idle-exit",
            "15",
        ],
        test_env,
    )
    assert tailed.returncode == 0, tailed.stderr.decode()
    events = [orjson.loads(line) for line in tailed.stdout.splitlines()]
    assert [e["type"] for e in events] == ["post_created", "post_deleted"]
    assert events[0]["user_id"] == author and len(events[0]["event_id"]) == 32  # filled in
    assert events[1]["event_id"] == "fixed-id"  # kept when given
    assert events[1]["occurred_at"] == "2026-05-01T12:00:00Z"
    assert {e["partition"] for e in events} == {events[0]["partition"]}  # keyed by author


def test_tail_filters_by_type_and_prints_readable_lines(namespace, test_env) -> None:  # type: ignore[no-untyped-def]
    user = unique("reader")
    lines = [
        orjson.dumps({"type": "like", "user_id": user, "post_id": "p1"}),
        orjson.dumps({"type": "save", "user_id": user, "post_id": "p1"}),
        orjson.dumps({"type": "like", "user_id": user, "post_id": "p2"}),
    ]
    assert run(["produce", "-q", "-"], test_env, stdin=b"\n".join(lines)).returncode == 0
    tailed = run(
        [
            "tail",
            "all",
            "--from-beginning",
            "--type",
            "save",
            "--user",
            user,
            "--limit",
            "1",
            "--idle-exit",
            "15",
        ],
        test_env,
    )
    out = tailed.stdout.decode()
    assert tailed.returncode == 0
    assert "save" in out and f"user={user}" in out and "post_id=p1" in out
    assert "like" not in out


def test_tail_of_unknown_topic_is_a_usage_error(test_env) -> None:  # type: ignore[no-untyped-def]
    result = run(["tail", "nonsense"], test_env)
    assert result.returncode == 2
    assert "unknown topic 'nonsense'" in result.stderr.decode()

"""The local content-addressed object store: atomic writes, verified reads, safe keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clients.objectstore import (
    ChecksumMismatch,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    original_key,
    variant_key,
    video_key,
)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "media", base_url="http://cdn.test/media/")


def test_it_implements_the_interface(store: LocalObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_put_then_get_round_trips_with_a_checksum(store: LocalObjectStore) -> None:
    obj = store.put("variants/m1/w320.jpg", b"jpeg bytes", content_type="image/jpeg")
    assert obj.sha256 == hashlib.sha256(b"jpeg bytes").hexdigest()
    assert (obj.size, obj.content_type) == (10, "image/jpeg")
    assert store.get("variants/m1/w320.jpg") == b"jpeg bytes"
    assert store.stat("variants/m1/w320.jpg") == obj
    assert store.exists("variants/m1/w320.jpg")
    assert store.path("variants/m1/w320.jpg").read_bytes() == b"jpeg bytes"  # servable as is


def test_originals_are_content_addressed_and_deduplicated(store: LocalObjectStore) -> None:
    data = b"original upload"
    digest = hashlib.sha256(data).hexdigest()
    first = store.put_original(data, content_type="image/jpeg")
    assert first.key == f"originals/{digest[:2]}/{digest[2:4]}/{digest}" == original_key(digest)
    mtime = store.path(first.key).stat().st_mtime_ns
    assert store.put_original(data) == first  # a retry writes nothing
    assert store.path(first.key).stat().st_mtime_ns == mtime


def test_a_flipped_bit_on_disk_is_caught_on_read(store: LocalObjectStore) -> None:
    store.put("variants/m1/w640.jpg", b"A" * 5000)
    path = store.path("variants/m1/w640.jpg")
    damaged = bytearray(path.read_bytes())
    damaged[1234] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(ChecksumMismatch):
        store.get("variants/m1/w640.jpg")
    with pytest.raises(ChecksumMismatch), store.open("variants/m1/w640.jpg") as f:
        while f.read(1000):
            pass


def test_open_streams_and_verifies(store: LocalObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "seg_000.m4s"
    payload = bytes(range(256)) * 10_000  # larger than one read chunk
    src.write_bytes(payload)
    key = video_key("m2", "720p/seg_000.m4s")
    obj = store.put_file(key, src, content_type="video/iso.segment")
    assert obj.size == len(payload)
    with store.open(key) as f:
        assert f.read(10) == payload[:10]
        assert f.read() == payload[10:]


def test_overwrite_replaces_atomically_and_leaves_no_temp_files(store: LocalObjectStore) -> None:
    key = variant_key("m3", "sq150")
    store.put(key, b"old")
    store.put(key, b"new")
    assert store.get(key) == b"new"
    leftovers = [p for p in store.root.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_a_failed_write_keeps_the_previous_object(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = variant_key("m4", "w320")
    store.put(key, b"good")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("clients.objectstore.os.fsync", boom)
    with pytest.raises(OSError):
        store.put(key, b"half-written")
    monkeypatch.undo()
    assert store.get(key) == b"good"
    assert not [p for p in store.root.rglob("*") if p.name.startswith(".tmp-")]


def test_missing_objects(store: LocalObjectStore) -> None:
    assert not store.exists("variants/none/w320.jpg")
    with pytest.raises(ObjectNotFound):
        store.get("variants/none/w320.jpg")
    with pytest.raises(KeyError):  # ObjectNotFound is also a KeyError
        store.stat("variants/none/w320.jpg")


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../escape", "variants/../../x", "a//b", ".meta/x", "a/.hidden", "a\\b"],
)
def test_unsafe_keys_are_refused(store: LocalObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_urls_and_key_helpers(store: LocalObjectStore) -> None:
    assert variant_key("m5", "w1080") == "variants/m5/w1080.jpg"
    assert store.url("variants/m5/w1080.jpg") == "http://cdn.test/media/variants/m5/w1080.jpg"
    assert LocalObjectStore(Path("/srv/m")).url("a/b") == "file:///srv/m/a/b"
    with pytest.raises(ValueError):
        original_key("not-a-digest")


def test_delete_prefix_removes_objects_and_records(store: LocalObjectStore) -> None:
    store.put(video_key("m6", "360p/index.m3u8"), b"#EXTM3U\n")
    store.put(video_key("m6", "master.m3u8"), b"#EXTM3U\n")
    store.put(video_key("m7", "master.m3u8"), b"#EXTM3U\n")
    store.delete_prefix("videos/m6")
    assert not store.exists(video_key("m6", "master.m3u8"))
    assert store.exists(video_key("m7", "master.m3u8"))

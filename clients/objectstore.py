"""Object storage for media: a small interface and a local, checksummed implementation.

Keys are slash-separated paths. Originals are content-addressed
(``originals/ab/cd/<sha256>``), so a retried upload writes nothing new; derived files live
under their media id (``variants/<media_id>/<name>.jpg``, ``videos/<media_id>/...``) and are
rebuilt deterministically from the original. An S3-compatible store can implement the same
interface (PUT with a SHA-256 checksum, HEAD, GET, a CDN or presigned URL).

The local store keeps each object's bytes at ``<root>/<key>`` (servable as plain files) and a
small JSON record (sha256, size, content type) at ``<root>/.meta/<key>.json``. Writes go to a
temp file that is fsynced and then renamed into place, record first, so a reader never sees a
half-written object; every read verifies the sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
_CHUNK = 1 << 20
META_DIR = ".meta"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class ObjectStoreError(Exception):
    """Base class for store failures."""


class ObjectNotFound(ObjectStoreError, KeyError):
    pass


class ChecksumMismatch(ObjectStoreError):
    """The bytes on disk no longer match the checksum recorded when they were written."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    sha256: str
    size: int
    content_type: str


def original_key(sha256: str) -> str:
    """``originals/ab/cd/<sha256>``: two fan-out levels keep directories small."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a hex sha256: {sha256!r}")
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def variant_key(media_id: str, name: str, ext: str = "jpg") -> str:
    return validate_key(f"variants/{media_id}/{name}.{ext}")


def video_key(media_id: str, relative: str) -> str:
    """A file of a Reel's HLS output, e.g. ``videos/<id>/720p/seg_000.m4s``."""
    return validate_key(f"videos/{media_id}/{relative}")


def validate_key(key: str) -> str:
    parts = key.split("/")
    if not key or any(not _KEY_PART.match(p) for p in parts) or parts[0] == META_DIR:
        raise ValueError(f"invalid object key: {key!r}")
    return key


class ObjectStore(ABC):
    """The operations media processing needs; keys are validated by every implementation."""

    @abstractmethod
    def put(
        self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Store ``data`` under ``key`` atomically, replacing any previous object."""

    @abstractmethod
    def put_file(
        self, key: str, path: Path, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Store the contents of a local file (streamed, not read into memory at once)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes, verified against its checksum."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A reader that verifies the checksum when it reaches the end."""

    @abstractmethod
    def stat(self, key: str) -> StoredObject:
        """The recorded checksum, size and content type; raises ObjectNotFound."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def url(self, key: str) -> str:
        """Where a client can fetch the object (a file URI, CDN URL or presigned URL)."""

    def put_original(
        self, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        """Store an upload under its content address; a duplicate upload writes nothing."""
        key = original_key(hashlib.sha256(data).hexdigest())
        if self.exists(key):
            return self.stat(key)
        return self.put(key, data, content_type=content_type)


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root``; durable across crashes (fsync of file and directory)."""

    def __init__(self, root: Path, *, base_url: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.base_url = (base_url or self.root.as_uri()).rstrip("/")

    def path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{validate_key(key)}.json"

    def put(
        self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        return self._put_stream(key, io.BytesIO(data), content_type)

    def put_file(
        self, key: str, path: Path, *, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> StoredObject:
        with open(path, "rb") as src:
            return self._put_stream(key, src, content_type)

    def _put_stream(self, key: str, src: BinaryIO, content_type: str) -> StoredObject:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        tmp = self._temp_in(target.parent)
        try:
            with open(tmp, "wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            obj = StoredObject(key, digest.hexdigest(), size, content_type)
            # Record first: if we crash between the two renames, the old bytes fail
            # verification (and are rewritten on retry) rather than pass it unchecked.
            self._write_meta(obj)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return obj

    def _write_meta(self, obj: StoredObject) -> None:
        meta = self._meta_path(obj.key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._temp_in(meta.parent)
        record = {"sha256": obj.sha256, "size": obj.size, "content_type": obj.content_type}
        try:
            with open(tmp, "w") as out:
                json.dump(record, out, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, meta)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(meta.parent)

    @staticmethod
    def _temp_in(directory: Path) -> Path:
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        os.close(fd)
        return Path(name)

    def stat(self, key: str) -> StoredObject:
        try:
            record = json.loads(self._meta_path(key).read_text())
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        if not self.path(key).is_file():
            raise ObjectNotFound(key)
        return StoredObject(key, record["sha256"], int(record["size"]), record["content_type"])

    def exists(self, key: str) -> bool:
        return self.path(key).is_file() and self._meta_path(key).is_file()

    def get(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def open(self, key: str) -> BinaryIO:
        obj = self.stat(key)
        try:
            raw = open(self.path(key), "rb")  # noqa: SIM115 - handed to the caller
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return io.BufferedReader(_VerifyingReader(raw, obj))

    def url(self, key: str) -> str:
        return f"{self.base_url}/{validate_key(key)}"

    def delete(self, key: str) -> None:
        """Remove one object and its checksum record; a missing one is not an error."""
        self.path(key).unlink(missing_ok=True)
        self._meta_path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix`` (e.g. a failed Reel's partial output)."""
        validate_key(prefix.rstrip("/"))
        for base in (self.root, self.root / META_DIR):
            shutil.rmtree(base / prefix.rstrip("/"), ignore_errors=True)


class _VerifyingReader(io.RawIOBase):
    """Hashes what passes through and raises ChecksumMismatch at end of file."""

    def __init__(self, raw: BinaryIO, expected: StoredObject) -> None:
        self._raw = raw
        self._expected = expected
        self._digest = hashlib.sha256()
        self._size = 0
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._digest.update(memoryview(buffer)[:n])
            self._size += n
        elif not self._checked:
            self._checked = True
            if (
                self._size != self._expected.size
                or self._digest.hexdigest() != self._expected.sha256
            ):
                raise ChecksumMismatch(
                    f"{self._expected.key}: stored bytes do not match their sha256"
                )
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

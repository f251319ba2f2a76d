"""Redis Lua scripts called by SHA: one round trip, loaded on first use."""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class Lua:
    """A script run with EVALSHA, falling back to EVAL (which caches it) once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(
        self, redis: aioredis.Redis, keys: list[str], args: list[Any] | tuple[Any, ...] = ()
    ) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)

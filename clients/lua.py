"""Redis Lua scripts: the one way the project runs one, alone or in a pipeline.

A ``Lua`` holds a script's source; redis-py's script object runs it by SHA and loads it
where the server lacks it (after a restart or on another node), for a single call and,
through the pipeline's own script list, for a queued one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


class Lua:
    def __init__(self, source: str) -> None:
        self.source = source
        self._script: AsyncScript | None = None

    def _script_for(self, client: Any) -> AsyncScript:
        if self._script is None:
            self._script = client.register_script(self.source)
        return self._script

    async def __call__(
        self, redis: aioredis.Redis, keys: Sequence[str], args: Sequence[Any] = ()
    ) -> Any:
        return await self._script_for(redis)(keys=list(keys), args=list(args), client=redis)

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[Any] = ()) -> None:
        """Queue a call on ``pipe``; the pipeline loads the script first if it must."""
        script = self._script_for(pipe)
        pipe.scripts.add(script)
        pipe.evalsha(script.sha, len(keys), *keys, *args)

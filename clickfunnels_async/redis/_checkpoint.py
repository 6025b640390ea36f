"""`RedisCheckpoint`: the input indexes of a bulk job that the API confirmed, shared by its workers."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from ._connect import REDIS_ERRORS, connect, unavailable

__all__ = ["RedisCheckpoint"]

_log = logging.getLogger("clickfunnels_async.redis")


class RedisCheckpoint:
    """A bitmap in Redis, one bit per input index: ``bulk.run(fn, rows, checkpoint=RedisCheckpoint(url, key))``.

    The run reads the bitmap once when it starts and skips every input already confirmed (by this worker
    or any other, in this run or an earlier one); each success sets its bit. Give every worker of one job
    the same `key` and the same inputs in the same order (and `shard=(i, n)` to split them). The key
    expires `ttl` seconds after the last confirmation (None: never).

    Redis unreachable when the run starts: `RedisUnavailableError`, before any call. A confirmation that
    fails later is logged once and the run goes on; that input is done again by a later re-run.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        key: str,
        *,
        ttl: float | None = 7 * 24 * 3600,
        timeout: float = 2.0,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(
                "key must be a non-empty string naming the job, the same for all its workers"
            )
        if ttl is not None and not ttl > 0:
            raise ValueError(f"ttl must be > 0 seconds or None, got {ttl!r}")
        self._redis, self._owned, self._name = connect(url_or_client, timeout=timeout)
        self.key = key
        self.ttl = ttl
        self._confirmed = b""
        self._warned = False

    def __repr__(self) -> str:
        return f"RedisCheckpoint({self._name!r}, {self.key!r})"

    async def load(self) -> None:
        """Read the confirmed indexes (called by the bulk run before it reads an input)."""
        try:
            stored = await self._redis.get(self.key)
        except REDIS_ERRORS as exc:
            raise unavailable(self._name, exc, f"the checkpoint {self.key!r}") from None
        self._confirmed = stored.encode("latin-1") if isinstance(stored, str) else stored or b""

    def is_confirmed(self, index: int) -> bool:
        """Whether `index` was confirmed when the checkpoint was loaded."""
        byte = index >> 3
        return byte < len(self._confirmed) and bool(self._confirmed[byte] & (0x80 >> (index & 7)))

    async def confirm(self, index: int) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.setbit(self.key, index, 1)
                if self.ttl is not None:
                    pipe.expire(self.key, max(1, int(self.ttl)))
                await pipe.execute()
        except REDIS_ERRORS as exc:
            if not self._warned:
                self._warned = True
                _log.warning(
                    "could not record confirmed inputs in Redis at %s (%s): a re-run will do them again",
                    self._name,
                    type(exc).__name__,
                )

    async def confirmed_count(self) -> int:
        """How many inputs are confirmed now (by every worker)."""
        try:
            return int(await self._redis.bitcount(self.key))
        except REDIS_ERRORS as exc:
            raise unavailable(self._name, exc, f"the checkpoint {self.key!r}") from None

    async def clear(self) -> None:
        """Forget every confirmation (start the job over)."""
        try:
            await self._redis.delete(self.key)
        except REDIS_ERRORS as exc:
            raise unavailable(self._name, exc, f"the checkpoint {self.key!r}") from None

    async def aclose(self) -> None:
        if self._owned:
            await self._redis.aclose()

"""`RedisEventStore`: webhook deduplication shared by every worker that uses the same Redis and prefix."""

from __future__ import annotations

import logging
import secrets
from typing import Literal

import redis.asyncio as aioredis

from ._connect import REDIS_ERRORS, connect, unavailable

__all__ = ["RedisEventStore"]

_log = logging.getLogger("clickfunnels_async.redis")

_DONE = b"done"
# An unknown id (or one whose lease ran out: the key expired) is marked in flight by this claim.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'new'
end
if v == 'done' then return 'done' end
return 'in_flight'
"""
# Only our own in-flight mark is removed: after a lease ran out another worker may hold the id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisEventStore:
    """An `EventStore` in Redis: ``ClickFunnelsWebhookRouter(secret=..., store=RedisEventStore(url))``.

    One key per event id: in flight for `lease` seconds while a worker runs the handlers (a worker that
    dies leaves a mark that runs out, and the next redelivery is handled), then ``done`` for `ttl` seconds
    (the default 48 h outlasts ClickFunnels' retries). Claiming is one atomic script, so of many
    concurrent redeliveries on any number of workers exactly one gets ``"new"``.

    Redis unreachable: `claim` raises `RedisUnavailableError` (the router answers with an error and the
    sender retries later; nothing is handled unguarded). A failed `complete` or `release` is logged: the
    in-flight mark then runs out after `lease`, so the event is handled at least once, never lost.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        prefix: str = "clickfunnels:webhook:",
        ttl: float = 48 * 3600,
        lease: float = 300.0,
        timeout: float = 2.0,
    ) -> None:
        for name, value in (("ttl", ttl), ("lease", lease), ("timeout", timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
        self._redis, self._owned, self._name = connect(url_or_client, timeout=timeout)
        self.prefix = prefix
        self.ttl = ttl
        self.lease = lease
        self._claim = self._redis.register_script(_CLAIM)
        self._release = self._redis.register_script(_RELEASE)
        self._marks: dict[str, str] = {}  # event id -> the token of our in-flight mark

    def __repr__(self) -> str:
        return f"RedisEventStore({self._name!r}, prefix={self.prefix!r}, ttl={self.ttl!r}, lease={self.lease!r})"

    async def claim(self, event_id: str) -> Literal["new", "in_flight", "done"]:
        token = "in_flight:" + secrets.token_hex(8)
        try:
            state = await self._claim(keys=[self.prefix + event_id], args=[token, _ms(self.lease)])
        except REDIS_ERRORS as exc:
            raise unavailable(self._name, exc, "webhook deduplication") from None
        if state == b"new":
            self._marks[event_id] = token
            return "new"
        return "done" if state == _DONE else "in_flight"

    async def complete(self, event_id: str) -> None:
        self._marks.pop(event_id, None)
        try:
            await self._redis.set(self.prefix + event_id, _DONE, px=int(_ms(self.ttl)))
        except REDIS_ERRORS as exc:
            _log.warning(
                "could not mark webhook %s done in Redis at %s (%s): a redelivery after %.0f s may run "
                "its handlers again",
                event_id,
                self._name,
                type(exc).__name__,
                self.lease,
            )

    async def release(self, event_id: str) -> None:
        token = self._marks.pop(event_id, None)
        if token is None:
            return
        try:
            await self._release(keys=[self.prefix + event_id], args=[token])
        except REDIS_ERRORS as exc:
            _log.warning(
                "could not release webhook %s in Redis at %s (%s): its redelivery is handled once the "
                "%.0f s lease runs out",
                event_id,
                self._name,
                type(exc).__name__,
                self.lease,
            )

    async def aclose(self) -> None:
        if self._owned:
            await self._redis.aclose()


def _ms(seconds: float) -> str:
    return str(max(1, int(seconds * 1000)))

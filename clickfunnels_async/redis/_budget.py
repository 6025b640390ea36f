"""`RedisRateBudget`: one request rate shared by every process that uses the same key.

The state the in-process budget keeps (allowed rate, next free start, last cut, pause, the last limit and
the raise's calm time; the starts and the 429s of the last second) is a hash and two sorted sets in Redis,
changed only by one Lua script (`_budget.lua`, the in-process law with its numbers), so each decision is
atomic across processes and timed by the Redis server's clock. A process that must wait is given a reserved
turn (one per process), so the processes sharing a key are served in turn rather than by who polls first. Successes are counted locally and applied by the
next call of the script: one round trip per request start while paced, none per response. While the shared
rate is unpaced, a process grants starts itself and reports them with its next call, at least every
`sync_interval` seconds (so a pause or cut set by another process reaches it that much later at most).

When Redis cannot be reached the budget paces with an in-process budget (logged once) and tries Redis
again every `reconnect_after` seconds; with ``fail_closed=True`` it raises `RedisUnavailableError`.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from importlib.resources import files

import redis.asyncio as aioredis

from .._pacing import LAW, InProcessRateBudget
from ._connect import REDIS_ERRORS, connect, unavailable

__all__ = ["RedisRateBudget"]

_log = logging.getLogger("clickfunnels_async.redis")
# One source of truth for the law's numbers: the in-process budget's, given to the script as locals.
_SCRIPT = "".join(f"local {name} = {value!r}\n" for name, value in LAW.items()) + files(
    __package__
).joinpath("_budget.lua").read_text(encoding="utf-8")


class RedisRateBudget:
    """A `RateBudget` kept in Redis: ``ClickFunnels(rate_budget=RedisRateBudget(url, key="team-123"))``.

    Every client (in any process, on any host) built with the same Redis and `key` follows one rate:
    they follow the in-process budget's law together: the first 429 any of them sees (or a large share
    of their starts refused) slows all of them to about 95 % of the rate they were making together (of
    what the server took, if the rest of that first burst's 429s show a limit), which then rises again
    step by step; a sporadic 429 cuts only the share of their starts that were refused.
    `requests_per_second` caps it (None = unpaced until a 429).
    `timeout` bounds each Redis call; a Redis that fails or is too slow never fails a ClickFunnels call
    (unless `fail_closed`): pacing continues in process and Redis is tried again after `reconnect_after`
    seconds. Needs the asyncio event loop (redis-py's client).
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        key: str,
        requests_per_second: float | None = None,
        min_rate: float = 1.0,
        default_pause: float = 0.0,
        fail_closed: bool = False,
        timeout: float = 0.5,
        reconnect_after: float = 5.0,
        prefix: str = "clickfunnels:pacing:",
        state_ttl: float = 3600.0,
        sync_interval: float = 0.1,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(
                "key must be a non-empty string naming the shared budget, e.g. the team id"
            )
        if requests_per_second is not None and not requests_per_second > 0:
            raise ValueError(
                f"requests_per_second must be > 0 or None, got {requests_per_second!r}"
            )
        if not min_rate > 0:
            raise ValueError(f"min_rate must be > 0, got {min_rate!r}")
        checked = (
            ("timeout", timeout),
            ("reconnect_after", reconnect_after),
            ("sync_interval", sync_interval),
        )
        for name, value in checked:
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not state_ttl >= 1:
            raise ValueError(f"state_ttl must be >= 1 second, got {state_ttl!r}")
        self._redis, self._owned, self._name = connect(url_or_client, timeout=timeout)
        self.key = key
        self.requests_per_second = requests_per_second
        self.fail_closed = fail_closed
        self._reconnect_after = reconnect_after
        # One hash tag: the keys land on the same cluster slot, as a script needs.
        base = f"{prefix}{{{key}}}"
        self._keys = [
            f"{base}:state",
            f"{base}:starts",
            f"{base}:refused",
            f"{base}:turns",
            f"{base}:accepted",
        ]
        self._asker = (
            uuid.uuid4().hex
        )  # this budget's id among those sharing the key (its reserved turn)
        self._fixed = [
            "" if requests_per_second is None else repr(float(requests_per_second)),
            repr(float(min_rate)),
            repr(float(default_pause)),
        ]
        self._ttl_ms = str(int(state_ttl * 1000))
        self._script = self._redis.register_script(_SCRIPT)
        self._successes = 0  # counted here, applied by the next script call
        self._starts = 0  # granted here while unpaced, reported by the next script call
        self._sync_interval = sync_interval
        self._unpaced_until = -math.inf  # until then (monotonic), grant starts without asking Redis
        self._local = InProcessRateBudget(
            requests_per_second, min_rate=min_rate, default_pause=default_pause
        )
        self._down_until = -math.inf  # while Redis is considered down: the local budget paces
        self._warned = False
        self.rate: float | None = requests_per_second  # the shared rate as of the last call

    def __repr__(self) -> str:
        return f"RedisRateBudget({self._name!r}, key={self.key!r}, rate={self.rate!r})"

    @property
    def shared(self) -> bool:
        """False while Redis is unreachable and the budget paces in this process only."""
        return time.monotonic() >= self._down_until

    async def try_start(self) -> float:
        now = time.monotonic()
        if now < self._unpaced_until:
            self._starts += 1
            return 0.0
        if now < self._down_until:
            return await self._local.try_start()
        try:
            wait = await self._call("start", "")
        except REDIS_ERRORS as exc:
            self._down(exc)
            return await self._local.try_start()
        if wait == 0.0 and self.rate is None:
            self._unpaced_until = time.monotonic() + self._sync_interval
        return wait

    async def on_rate_limited(self, retry_after: float | None) -> None:
        if not self.shared:
            await self._local.on_rate_limited(retry_after)
            return
        try:
            await self._call("limited", "" if retry_after is None else repr(float(retry_after)))
        except REDIS_ERRORS as exc:
            self._down(exc)
            await self._local.on_rate_limited(retry_after)

    async def on_success(self) -> None:
        if self.shared:
            self._successes += 1
        else:
            await self._local.on_success()

    async def aclose(self) -> None:
        await self._local.aclose()
        if self._owned:
            await self._redis.aclose()

    async def _call(self, op: str, retry_after: str) -> float:
        successes, self._successes = self._successes, 0
        starts, self._starts = self._starts, 0
        self._unpaced_until = -math.inf
        try:
            reply = await self._script(
                keys=self._keys,
                args=[
                    op,
                    str(successes),
                    *self._fixed,
                    retry_after,
                    self._ttl_ms,
                    str(starts),
                    self._asker,
                ],
            )
        except BaseException:
            self._successes += successes  # not applied: keep them for the next call
            self._starts += starts
            raise
        if self._warned:
            self._warned = False
            _log.warning(
                "Redis at %s answers again: the shared rate budget %r is back", self._name, self.key
            )
        wait, rate = reply
        self.rate = None if rate == b"none" else float(rate)
        return float(wait)

    def _down(self, exc: BaseException) -> None:
        if self.fail_closed:
            raise unavailable(self._name, exc, f"the shared rate budget {self.key!r}") from None
        self._down_until = time.monotonic() + self._reconnect_after
        if not self._warned:
            self._warned = True
            # Once per outage: a log line per request would flood the log of a busy process.
            _log.warning(
                "Redis at %s is unreachable (%s): pacing in this process only, retrying Redis every %.0f s",
                self._name,
                type(exc).__name__,
                self._reconnect_after,
            )

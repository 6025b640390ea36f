"""Stand-in for clickfunnels_async._pacing.InProcessRateBudget until the pacing seam lands on main."""

from __future__ import annotations

import math
import time


class InProcessRateBudget:
    def __init__(
        self,
        requests_per_second: float | None = None,
        *,
        min_rate: float = 1.0,
        default_pause: float = 0.0,
    ) -> None:
        self._rate = requests_per_second
        self._min_rate = min_rate
        self._default_pause = default_pause
        self._next = -math.inf
        self._paused_until = -math.inf

    async def try_start(self) -> float:
        now = time.monotonic()
        if now < self._paused_until:
            return self._paused_until - now
        if self._rate is None:
            return 0.0
        if self._next > now:
            return self._next - now
        self._next = max(now, self._next) + 1.0 / self._rate
        return 0.0

    async def on_rate_limited(self, retry_after: float | None) -> None:
        self._rate = max(self._min_rate, 0.95 * (self._rate or 10.0))
        pause = self._default_pause if retry_after is None else retry_after
        self._paused_until = max(self._paused_until, time.monotonic() + pause)

    async def on_success(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

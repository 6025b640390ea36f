"""A transport wrapper for fault runs: counts what the server answered and adds a short 429 burst.

Requests numbered in `burst_429` get a 429 without `Retry-After`, as ClickFunnels answers, so a run meets a
rate-limit burst even when a loaded machine never reaches the emulator's own limit. The counts (by status,
"dropped" and "timeout") show a run really met each fault; 429s never reach the emulator's counters.
"""

from __future__ import annotations

from collections import Counter

import httpx


class StatusCounter(httpx.AsyncBaseTransport):
    """Wraps *inner*; `statuses` counts each answer by status code, or "timeout" / "dropped" for an error."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, burst_429: range = range(0)) -> None:
        self.inner = inner
        self.burst_429 = burst_429
        self.statuses: Counter[int | str] = Counter()
        self._sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._sent += 1
        if self._sent in self.burst_429:
            self.statuses[429] += 1
            return httpx.Response(429, json={"error": "Too many requests"}, request=request)
        try:
            response = await self.answer(request)
        except httpx.TimeoutException:
            self.statuses["timeout"] += 1
            raise
        except httpx.TransportError:
            self.statuses["dropped"] += 1
            raise
        self.statuses[response.status_code] += 1
        return response

    async def answer(self, request: httpx.Request) -> httpx.Response:
        """The inner transport's answer; a subclass may delay or rewrite it."""
        return await self.inner.handle_async_request(request)

"""A virtual clock for timing tests that must not depend on the machine's speed."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.lowlevel


class VirtualTime:
    """A clock that only moves when every task is waiting on it, so concurrent timing is exact.

    ``sleep`` parks the caller until the driver advances time to its deadline; the driver first lets
    all runnable tasks settle (a few rounds of checkpoints), then jumps to the earliest deadline.
    """

    def __init__(self, settle: int = 30) -> None:
        self.now = 0.0
        self.settle = settle
        self._waiters: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._waiters, (self.now + seconds, next(self._seq), event))
        await event.wait()

    async def drive(self) -> None:
        while True:
            for _ in range(self.settle):
                await anyio.lowlevel.checkpoint()
            if not self._waiters:
                continue
            deadline = self._waiters[0][0]
            self.now = max(self.now, deadline)
            while self._waiters and self._waiters[0][0] <= self.now:
                heapq.heappop(self._waiters)[2].set()


async def run_with_time(vt: VirtualTime, *jobs: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    async with anyio.create_task_group() as outer:
        outer.start_soon(vt.drive)
        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(job)
        outer.cancel_scope.cancel()

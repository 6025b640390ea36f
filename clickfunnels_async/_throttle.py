"""The queue in front of the rate budget: the concurrency cap and a first-in first-out line of waiters.

The :class:`Throttle` of one client keeps the cap and the line; only the waiter at the head asks the
budget (:mod:`clickfunnels_async._pacing`), so calls are served in order and the cost of one start does
not depend on how many wait. Nothing is reserved in advance: the head asks again when told to, so a rate
that changes (a 429 cuts it, successes raise it) re-plans every waiter at once.
"""

from __future__ import annotations

import math
from collections import deque

import anyio

from ._pacing import Clock, InProcessRateBudget, RateBudget, Sleep, default_clock

__all__ = ["PacingTimeout", "Throttle"]


class PacingTimeout(Exception):
    """Waiting for a concurrency slot or a pacing turn took longer than the call's timeout."""

    def __init__(self, waited: float, reason: str) -> None:
        super().__init__(waited, reason)
        self.waited = waited
        self.reason = reason


class _Waiter:
    __slots__ = ("dead", "event")

    def __init__(self) -> None:
        self.event = anyio.Event()  # set when this waiter becomes the head of the queue
        self.dead = False


class Throttle:
    """Concurrency cap and request pacing shared by every task that uses one client.

    ``async with throttle.slot(timeout):`` waits (in arrival order) for one of ``max_concurrency``
    slots and for the budget to grant a start, at most *timeout* seconds (then :class:`PacingTimeout`).
    """

    def __init__(
        self,
        max_concurrency: int | None = None,
        requests_per_second: float | None = None,
        *,
        budget: RateBudget | None = None,
        clock: Clock = default_clock,
        sleep: Sleep = anyio.sleep,
        min_rate: float = 1.0,
        default_pause: float = 0.0,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1 or None, got {max_concurrency!r}")
        if budget is not None and requests_per_second is not None:
            raise ValueError("pass requests_per_second= to the rate budget, not to the throttle")
        if budget is None:
            budget = InProcessRateBudget(
                requests_per_second, clock=clock, min_rate=min_rate, default_pause=default_pause
            )
        self.max_concurrency = max_concurrency
        self.budget: RateBudget = budget
        # The in-process budget is asked synchronously: no await on the fast path.
        self.local: InProcessRateBudget | None = (
            budget if type(budget) is InProcessRateBudget else None
        )
        self._clock = clock
        self._sleep = sleep
        self._cap = max_concurrency if max_concurrency is not None else math.inf
        self.in_use = 0  # slots taken
        self._queue: deque[_Waiter] = deque()
        self._released: anyio.Event | None = None  # the head waits on it for a free slot
        self._replan: anyio.Event | None = None  # the head sleeps on it until its turn is due
        self._head_until = -math.inf

    def __repr__(self) -> str:
        return f"Throttle(max_concurrency={self.max_concurrency!r}, budget={self.budget!r})"

    @property
    def requests_per_second(self) -> float | None:
        return self.local.requests_per_second if self.local is not None else None

    @property
    def rate(self) -> float | None:
        """The rate currently allowed by the in-process budget (requests per second); None = unpaced."""
        return self.local.rate if self.local is not None else None

    @property
    def paused_until(self) -> float:
        return self.local.paused_until if self.local is not None else -math.inf

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._queue if not w.dead)

    def on_rate_limited(self, pause: float | None = None) -> None:
        """For the in-process budget: a 429 (``pause`` = Retry-After seconds, if any)."""
        assert self.local is not None
        self.local.rate_limited_now(pause)

    def on_success(self) -> None:
        """For the in-process budget: a 2xx. A rate that rose enough to bring the head's turn
        forward wakes it, so a recovered rate serves the waiters at once."""
        local = self.local
        assert local is not None
        local.success_now()
        replan = self._replan
        if replan is not None:
            rate = local.rate
            if rate is None or self._head_until > self._clock() + 2.0 / rate:
                self._replan = None
                replan.set()

    def slot(self, timeout: float | None = None) -> _Slot:
        """``async with throttle.slot(timeout):`` around one request attempt."""
        return _Slot(self, math.inf if timeout is None else timeout)

    def take_now(self) -> bool:
        """Take a slot if that needs no wait (nobody waiting, a slot free, the budget says go); else False
        and the caller awaits :meth:`take`. Every slot taken is given back with :meth:`release`."""
        if self._queue or self.in_use >= self._cap:
            return False
        local = self.local
        if local is None or local.try_start_now(self._clock()) > 0:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1
        released = self._released
        if released is not None:
            self._released = None
            released.set()

    async def _wait_event(self, event: anyio.Event, seconds: float) -> bool:
        """Wait until *event* is set (True) or *seconds* pass on the throttle's clock (False)."""
        if seconds == math.inf:
            await event.wait()
            return True
        if seconds <= 0:
            return event.is_set()
        if self._sleep is anyio.sleep:
            with anyio.move_on_after(seconds):
                await event.wait()
            return event.is_set()
        # An injected clock (tests): time runs only through its sleep.
        async with anyio.create_task_group() as group:

            async def timer() -> None:
                await self._sleep(seconds)
                group.cancel_scope.cancel()

            group.start_soon(timer)
            await event.wait()
            group.cancel_scope.cancel()
        return event.is_set()

    def _promote(self) -> None:
        queue = self._queue
        while queue and queue[0].dead:
            queue.popleft()
        if queue:
            queue[0].event.set()

    async def take(self, timeout: float) -> None:
        clock = self._clock
        started = clock()
        deadline = started + timeout
        queue = self._queue
        waiter = _Waiter()
        if not queue:
            waiter.event.set()
        queue.append(waiter)
        reason = "its turn in the queue"
        try:
            if not waiter.event.is_set() and not await self._wait_event(
                waiter.event, deadline - clock()
            ):
                raise PacingTimeout(clock() - started, reason)
            # The head: the only waiter that looks at the cap and asks the budget.
            local = self.local
            while True:
                now = clock()
                if self.in_use >= self._cap:
                    reason = "a free concurrency slot (max_concurrency)"
                    released = self._released
                    if released is None:
                        released = self._released = anyio.Event()
                    if not await self._wait_event(released, deadline - now):
                        raise PacingTimeout(clock() - started, reason)
                    continue
                wait = (
                    local.try_start_now(now) if local is not None else await self.budget.try_start()
                )
                if wait <= 0:
                    break
                reason = "a turn from the rate limit pacing"
                now = clock()
                remaining = deadline - now
                if remaining <= 0:
                    raise PacingTimeout(now - started, reason)
                # Woken early when the rate rises (see on_success): the turn is asked for again.
                replan = self._replan = anyio.Event()
                self._head_until = now + min(wait, remaining)
                await self._wait_event(replan, min(wait, remaining))
                self._replan = None
            self.in_use += 1
        finally:
            if queue and queue[0] is waiter:
                queue.popleft()
                self._promote()
            else:
                waiter.dead = True


class _Slot:
    """The context manager of :meth:`Throttle.slot` (a class: a generator-based one costs a few µs more)."""

    __slots__ = ("_throttle", "_timeout")

    def __init__(self, throttle: Throttle, timeout: float) -> None:
        self._throttle = throttle
        self._timeout = timeout

    async def __aenter__(self) -> None:
        throttle = self._throttle
        if not throttle.take_now():
            await throttle.take(self._timeout)

    async def __aexit__(self, *exc_info: object) -> None:
        self._throttle.release()

"""Pacing: the rate budget a client's calls ask before they start (the queue in front of it is
:mod:`clickfunnels_async._throttle`).

A :class:`RateBudget` may be shared between processes (``redis.RedisRateBudget``); the default is
:class:`InProcessRateBudget`. ClickFunnels publishes no rate numbers and sends no ``Retry-After``; it answers 429 when a workspace
sends too fast. So the in-process budget paces nothing until the first 429, then paces a little below
the rate that was observed (multiplicative decrease) and speeds up again step by step (additive increase).
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

import anyio

from ._log import logger

__all__ = ["LAW", "Clock", "InProcessRateBudget", "RateBudget", "Sleep", "default_clock"]

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@runtime_checkable
class RateBudget(Protocol):
    """How many requests may start, possibly shared by several clients or processes.

    Pass one as ``ClickFunnels(rate_budget=...)``. The client never closes a budget it was given
    (several clients may share it): call :meth:`aclose` yourself when done.
    """

    async def try_start(self) -> float:
        """0.0: one request start is granted now and counted. > 0: nothing granted, nothing reserved;
        ask again after about this many seconds (the budget's current spacing / pause)."""
        ...

    async def on_rate_limited(self, retry_after: float | None) -> None:
        """A 429 was received (``retry_after``: seconds the server asked to wait, if it said)."""
        ...

    async def on_success(self) -> None:
        """A 2xx was received."""
        ...

    async def aclose(self) -> None: ...


def default_clock() -> float:
    # anyio.current_time() looks the backend up on every call; on asyncio the loop's clock is the same
    # value for a fraction of the cost. Other backends (trio, and its mock clocks) keep anyio's answer.
    # asyncio is not imported for this (it costs the package import ~15 ms): no loop runs without it.
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            return float(asyncio.get_running_loop().time())
        except RuntimeError:
            pass
    return anyio.current_time()


_CUT = 0.95  # after a 429: this share of the rate the server was taking
_RAISE = 0.05  # then this much more per second of successes
# A cut refusing at least this share of the last second's starts is a limit, not a sporadic 429.
_SIGNIFICANT = 0.1
_LIMIT_429S = 4  # ... and at least this many 429s (one or two among a few starts are chance)
# A 429 drawn at a lower rate than this says little about the server's limit (we were barely sending).
_INFORMATIVE = 4.0
_NEAR_LOW, _NEAR_HIGH = (
    0.97,
    1.1,
)  # the gentle zone around the rate the server took at the last limit
_MAX_DOUBLINGS = 30.0  # the raise doubles per calm second, this many times at most
_GENTLE = 4.0  # near that rate the raise is this many times smaller
# Sent less than this share of the allowed rate in the last second: the cut goes by what was sent.
_UNDERSENT = 0.5

# The law's numbers for budgets kept elsewhere: the Redis script (`redis/_budget.lua`) is given these.
LAW: Final[Mapping[str, float]] = MappingProxyType(
    {
        "CUT": _CUT,
        "RAISE": _RAISE,
        "SIGNIFICANT": _SIGNIFICANT,
        "LIMIT_429S": _LIMIT_429S,
        "INFORMATIVE": _INFORMATIVE,
        "NEAR_LOW": _NEAR_LOW,
        "NEAR_HIGH": _NEAR_HIGH,
        "MAX_DOUBLINGS": _MAX_DOUBLINGS,
        "GENTLE": _GENTLE,
        "UNDERSENT": _UNDERSENT,
    }
)


def _limit_share(refused: int, asked: float) -> bool:
    # One or two 429s among a few requests are a large share by chance alone.
    return refused >= _LIMIT_429S and refused / asked >= _SIGNIFICANT


class InProcessRateBudget:
    """The default budget: adaptive pacing within one process, decided without awaiting.

    Unpaced (or at ``requests_per_second``) until 429s refuse a limit's share of the last second's
    starts (a few sporadic ones do not pace an unpaced job); then a little below the rate observed over the
    last second, raised again by about 5 % (at least 1 request/s) per second of successes. A
    ``Retry-After`` pauses every start that long. The synchronous ``*_now`` methods are what the
    :class:`Throttle` uses; the async ones implement :class:`RateBudget`.
    """

    def __init__(
        self,
        requests_per_second: float | None = None,
        *,
        clock: Clock = default_clock,
        min_rate: float = 1.0,
        default_pause: float = 0.0,
    ) -> None:
        if requests_per_second is not None and not requests_per_second > 0:
            raise ValueError(
                f"requests_per_second must be > 0 or None, got {requests_per_second!r}"
            )
        self.requests_per_second = requests_per_second
        self._clock = clock
        self._min_rate = min_rate
        self._default_pause = default_pause
        self._rate = requests_per_second  # current allowed starts per second; None = unpaced
        self._last_start = -math.inf  # the schedule: the next start is due 1/rate after this one
        self._hold_until = -math.inf  # set by a 429: no start before this
        self._paused_until = -math.inf  # Retry-After
        self._last_cut = -math.inf
        self._limited = False  # a limit was met; sporadic 429s are told apart after that
        # Seconds of successes away from the last limit since it was met: the raise doubles per second.
        self._calm = 0.0
        self._last_success = -math.inf
        self._limit_seen = math.inf  # the rate that drew the last 429
        self._lift_above: float | None = None  # unconfigured rate: back to unpaced above this
        # While a cut from unpaced is fresh: the starts it went by (it may still be made a limit).
        self._first_base: float | None = None
        self._recent: deque[float] = deque()  # start times within the last second
        self._refused: deque[float] = deque()  # 429s received within the last second
        self._accepted: deque[float] = deque()  # 2xx received within the last second

    def __repr__(self) -> str:
        return f"InProcessRateBudget(requests_per_second={self.requests_per_second!r}, rate={self._rate!r})"

    @property
    def rate(self) -> float | None:
        return self._rate

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def _near(self, rate: float) -> bool:
        # Around the rate the server took at the last limit; well above it, that limit is gone.
        return _NEAR_LOW * self._limit_seen <= rate <= _NEAR_HIGH * self._limit_seen

    def try_start_now(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        rate = self._rate
        if rate is not None:
            interval = 1.0 / rate
            due = max(self._hold_until, self._last_start + interval)
            if now < due:
                return due - now
            # A head that woke a little late keeps the average rate (no burst beyond one interval).
            self._last_start = due if now - due < interval else now
        recent = self._recent
        recent.append(now)
        while recent[0] <= now - 1.0:
            recent.popleft()
        return 0.0

    def rate_limited_now(self, retry_after: float | None = None) -> None:
        """A 429: pace below the rate that was served, in proportion to the share refused.

        The starts of the last second are what we asked of the server and the 429s among them say how
        much it refused. A limit we ran into refuses a large share (or is met from unpaced): the new
        rate is a little under the part the server took, and the raise starts again from a gentle step.
        A sporadic 429 (a few % of requests, answered at any rate by a proxy or a loaded API) cuts the
        rate by that share only and does not slow the raise, so the rate recovers within seconds.
        At most one cut a second: 429s that arrive while a cut is fresh answer requests sent before it.
        Unpaced, only a limit's share cuts at all (sporadic 429s leave the job unpaced), and that first
        cut mostly goes by starts still in flight: while it is fresh, the 429s that answer them may show
        a larger share refused, and it is made again by that share.
        """
        now = self._clock()
        recent = self._recent
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        refused = self._refused
        refused.append(now)
        while refused[0] <= now - 1.0:
            refused.popleft()
        accepted = self._accepted
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        took = float(len(accepted))
        observed = float(len(recent))
        # Nothing started in the last second: no share to go by, the usual cut.
        share = min(1.0, len(refused) / observed) if observed > 0 else 1.0 - _CUT
        significant = observed > 0 and _limit_share(len(refused), observed)
        if (
            self._rate is None
            and not significant
            # Nothing started in the last second (answers slower than that): the last second's answers
            # tell the share refused.
            and (observed > 0 or not _limit_share(len(refused), len(refused) + took))
        ):
            # Unpaced and a small share refused: sporadic 429s (a proxy, a loaded API) answer a few % at
            # any rate, and pacing at the last second's starts would only slow the job (at the start of
            # a run, to the handful of requests sent so far). The request retries after its own backoff;
            # a limit refuses most of what goes beyond it, so its share soon shows.
            self._pause_for(retry_after, now)
            return
        if now - self._last_cut >= 1.0 or self._rate is None:  # unpaced: nothing was cut yet
            self._last_cut = now
            # A cut from unpaced goes by the starts of a burst that may be mostly in flight.
            if self._rate is None:
                base = self._first_base = observed if observed > 0 else self._min_rate
                self._lift_above = 2 * max(observed, self._min_rate)
            else:
                # What we sent, as for a limit, when probing near the last one or when we sent much less
                # than allowed; otherwise the rate (the last second's starts lag a fast raise).
                near = self._near(self._rate)
                sent = near or significant or observed < _UNDERSENT * self._rate
                base = min(self._rate, observed) if sent and observed > 0 else self._rate
                self._first_base = None
                if self.requests_per_second is None and significant:
                    self._lift_above = 2 * max(observed, self._min_rate)
            # What the server took: the share of our starts it did not refuse, or (when 429s answer
            # starts older than the last second, e.g. after a burst) at least what it accepted.
            taken = min(base, max(base * (1.0 - share), took))
            if significant or not self._limited:  # a limit (or our first 429)
                self._limited = True
                self._limit_seen = taken
                self._calm = 0.0
                self._last_success = now
                # A little below what the server took (what we sent, for a first 429 among many starts).
                self._rate = max(self._min_rate, _CUT * (taken if significant else base))
            else:
                self._rate = max(self._min_rate, taken)
            logger.info("Rate limited (429): pacing requests at %.2f/s", self._rate)
        elif self._first_base is not None and significant:
            # More 429s answering that burst within its second: the cut is made again by the share now
            # refused, from all of the burst's starts (a shared budget learns of some late).
            base = max(self._first_base, observed)
            taken = min(base, max(base * (1.0 - share), took))
            self._limit_seen = taken
            self._calm = 0.0
            self._last_success = now
            self._lift_above = 2 * max(
                observed, self._min_rate
            )  # (unpaced before: none configured)
            rate = max(self._min_rate, _CUT * taken)
            if rate != self._rate:
                self._rate = rate
                logger.info("Rate limited (429): pacing requests at %.2f/s", rate)
        rate = self._rate
        assert rate is not None
        # Only starts that have not happened move: the next one waits one interval from now, and (most
        # limits count a sliding second) until our own last second holds fewer starts than the rate.
        hold = now + 1.0 / rate
        keep = max(1, int(rate))
        if len(recent) >= keep:
            hold = max(hold, recent[-keep] + 1.0)
        self._hold_until = max(self._hold_until, hold)
        self._pause_for(retry_after, now)

    def _pause_for(self, retry_after: float | None, now: float) -> None:
        wait = self._default_pause if retry_after is None else max(0.0, retry_after)
        if wait > 0:
            self._paused_until = max(self._paused_until, now + wait)
            self._calm = 0.0

    def success_now(self) -> None:
        """A 2xx: allow more, about 5 % (at least 1 request/s) more per second of traffic at first, twice
        that for every further second spent away from the rate the server took at the last limit (so a
        cut after a short burst of 429s, or after sporadic ones, comes back within seconds, not minutes);
        near that rate, gently and without speeding up."""
        now = self._clock()
        accepted = self._accepted
        accepted.append(now)
        while accepted[0] <= now - 1.0:
            accepted.popleft()
        rate = self._rate
        if rate is None or now < self._paused_until:
            return
        near = self._near(rate) and self._limit_seen >= _INFORMATIVE
        if not near:
            self._calm += max(0.0, now - max(self._last_success, self._paused_until))
        self._last_success = now
        step = (
            max(1.0, _RAISE * rate) * 2.0 ** min(max(0.0, self._calm - 1.0), _MAX_DOUBLINGS) / rate
        )
        if near:
            step /= _GENTLE  # near the rate that drew the last limit: probe gently
        rate += step
        if self.requests_per_second is not None:
            self._rate = min(rate, self.requests_per_second)
        elif self._lift_above is not None and rate >= self._lift_above:
            self._rate = None
            self._lift_above = None
            logger.info("Recovered from rate limiting: requests no longer paced")
        else:
            self._rate = rate

    async def try_start(self) -> float:
        return self.try_start_now(self._clock())

    async def on_rate_limited(self, retry_after: float | None) -> None:
        self.rate_limited_now(retry_after)

    async def on_success(self) -> None:
        self.success_now()

    async def aclose(self) -> None:
        return None

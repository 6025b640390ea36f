"""Sending one request: concurrency slot, pacing, retries with backoff, adaptive slow-down on 429.

ClickFunnels publishes no rate numbers and no ``Retry-After``; it just answers 429 when a workspace
sends too fast, and long runs see transient 502s with HTML bodies. So the transport

- retries connection failures, timeouts and 408/429/5xx with exponential backoff and jitter
  (``Retry-After`` is honoured when a proxy or the Maton gateway sends one);
- never repeats a non-idempotent POST that may have reached the server — only when the connection
  was never made, or on 429 (the request was refused, not processed);
- paces request *starts* evenly when a rate is known, and after a 429 pauses and slows every task
  sharing the client (multiplicative decrease), then speeds up again step by step (additive increase).
"""

from __future__ import annotations

import asyncio
import datetime
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import attrs
import httpx

from ._errors import APIConnectionError, APITimeoutError, parse_retry_after
from ._log import log_request, logger, redact_url, redacting_filter

__all__ = ["RetryPolicy", "Throttle", "new_pool", "parse_retry_after", "send"]

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

# The request surely never reached the server: safe to repeat even a create.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Transient failures worth another try when repeating the request is harmless.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

_DEFAULT_RNG = random.Random()


class _NoCookies(httpx.Cookies):
    """A cookie jar that neither stores nor sends: every request carries its token instead."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _Pool(httpx.AsyncClient):
    # A session cookie the API may set is of no use to a token-authenticated client; keeping it would
    # also tie every task sharing the pool to one server-side session. Storing it costs about a tenth
    # of the CPU of a small request (httpx wraps every response for the standard cookie jar).
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: Any) -> None:
        raise TypeError("the ClickFunnels connection pool keeps no cookies")

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        # The client's own requests need none of AsyncClient.send's layers (auth flow, redirects, cookies,
        # event hooks): straight to the transport, which saves about a tenth of a small call's CPU. Anything
        # else, or a pool someone configured further, takes httpx's own path.
        hooks = self.event_hooks
        if (
            stream
            or auth is not httpx.USE_CLIENT_DEFAULT
            or follow_redirects is not httpx.USE_CLIENT_DEFAULT
            or self.auth is not None
            or hooks["request"]
            or hooks["response"]
            or self.is_closed
            or "timeout" not in request.extensions
        ):
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        transport = self._transport_for_url(request.url)  # a proxy from the environment, if any
        started = time.perf_counter()
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
        return response


def new_pool(
    *, timeout: httpx.Timeout, http2: bool = False, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The connection pool a client makes for itself when none is passed in (redirects are never followed)."""
    return _Pool(http2=http2, follow_redirects=False, timeout=timeout, transport=transport)


def _status_set(values: Iterable[int]) -> frozenset[int]:
    return frozenset(int(v) for v in values)


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How failed requests are retried.

    ``max_retries`` retries (not attempts) after the first try; ``0`` disables retrying. The n-th retry
    (n = 0, 1, ...) waits ``initial_delay * 2**n`` capped at ``max_delay``, then spread by ±``jitter``
    (a fraction) so that many clients do not retry in lockstep. A ``Retry-After`` from the server is
    used as it is, but never longer than ``max_retry_after`` seconds.
    """

    max_retries: int = attrs.field(default=2, validator=_non_negative)
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.25, validator=[_non_negative, attrs.validators.le(1.0)])
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({408, 429, 500, 502, 503, 504}), converter=_status_set
    )

    def delay(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number *attempt* (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        # min() on the exponent keeps 2**n from overflowing on absurd attempt numbers.
        base = min(self.initial_delay * 2.0 ** min(attempt, 64), self.max_delay)
        spread = (rng or _DEFAULT_RNG).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


def _default_clock() -> float:
    # anyio.current_time() looks the backend up on every call; on asyncio the loop's clock is the same
    # value for a fraction of the cost. Other backends (trio, and its mock clocks) keep anyio's answer.
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return anyio.current_time()


_CUT = 0.95  # after a 429: this share of the rate the server was taking
_RAISE = 0.05  # then this much more per second of successes


class Throttle:
    """Concurrency cap and request pacing shared by every task that uses one client.

    ``async with throttle.slot():`` first waits for one of ``max_concurrency`` slots, then for its
    turn: with a rate of *r* requests per second, starts are spaced ``1/r`` apart (no bursts). Without a
    configured rate nothing is paced until the server answers 429; then :meth:`on_rate_limited` paces
    everyone a little below the rate that was observed, which :meth:`on_success` raises again gradually.
    """

    def __init__(
        self,
        max_concurrency: int | None = None,
        requests_per_second: float | None = None,
        *,
        clock: Clock = _default_clock,
        sleep: Sleep = anyio.sleep,
        min_rate: float = 1.0,
        default_pause: float = 0.0,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1 or None, got {max_concurrency!r}")
        if requests_per_second is not None and not requests_per_second > 0:
            raise ValueError(
                f"requests_per_second must be > 0 or None, got {requests_per_second!r}"
            )
        self.max_concurrency = max_concurrency
        self.requests_per_second = requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._min_rate = min_rate
        self._default_pause = default_pause
        # Created lazily by anyio on first use, so a Throttle may be built outside an event loop.
        self._limiter = anyio.CapacityLimiter(max_concurrency) if max_concurrency else None
        self._rate = requests_per_second  # current allowed starts per second; None = unpaced
        self._next_start = -math.inf  # earliest time the next request may start
        self._paused_until = -math.inf
        self._last_cut = -math.inf
        self._resume_at = -math.inf  # set by a 429: when the sliding second has room again
        self._limit_seen = math.inf  # the rate that drew the last 429
        self._lift_above: float | None = None  # unconfigured rate: back to unpaced above this
        self._generation = 0  # bumped by every 429, invalidating turns handed out before it
        self._recent: deque[float] = deque()  # start times within the last second

    def __repr__(self) -> str:
        return (
            f"Throttle(max_concurrency={self.max_concurrency!r}, "
            f"requests_per_second={self.requests_per_second!r}, current_rate={self._rate!r})"
        )

    @property
    def rate(self) -> float | None:
        """The rate currently allowed (requests per second), or None when unpaced."""
        return self._rate

    @property
    def paused_until(self) -> float:
        """Clock time until which no request starts (in the past when not paused)."""
        return self._paused_until

    def slot(self) -> _Slot:
        """``async with throttle.slot():`` around one request attempt."""
        return _Slot(self)

    def _unhindered(self) -> bool:
        # The common case, decided without an await: no cap, no pacing, no pause. Just note the start.
        if self._limiter is None and self._rate is None:
            now = self._clock()
            if now >= self._paused_until:
                self._note_start(now)
                return True
        return False

    async def _wait_turn(self) -> None:
        # Every decision below is taken without an await in between, so concurrent tasks never
        # read and write the shared schedule interleaved.
        while True:
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            if self._rate is None:
                break
            start = max(now, self._next_start)
            interval = 1.0 / self._rate
            self._next_start = start + interval
            if start <= now:
                break
            generation = self._generation
            try:
                await self._sleep(start - now)
            except BaseException:
                # Hand an unused turn back if nobody queued behind it, so cancelling leaves no gap.
                if generation == self._generation and self._next_start == start + interval:
                    self._next_start = start
                raise
            if generation == self._generation:
                break
            # A 429 arrived while we waited; the turn was computed for the old rate. Queue again.
        self._note_start(self._clock())

    def _note_start(self, now: float) -> None:
        self._recent.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()

    def _observed_rate(self, now: float) -> float:
        self._trim(now)
        return float(len(self._recent))

    def on_rate_limited(self, pause: float | None = None) -> None:
        """A 429: pace everyone just below the rate that was being served (at most one cut a second).

        The rate observed over the last second is what the server was willing to take, so the new rate
        is a little under it: a bulk job settles near the server's limit instead of halving its speed.
        A server that says how long to wait (*pause*, from Retry-After) stops every task that long.
        429s that arrive while a cut is fresh answer requests sent before it, so they do not cut again.
        """
        now = self._clock()
        if now - self._last_cut >= 1.0:
            self._last_cut = now
            observed = self._observed_rate(now)
            current = self._rate if self._rate is not None else math.inf
            base = min(current, observed) if observed > 0 else (self._rate or self._min_rate)
            if self._rate is None or self.requests_per_second is None:
                self._lift_above = 2 * max(observed, self._min_rate)
            self._limit_seen = base
            self._rate = max(self._min_rate, _CUT * base)
            # Most limits count requests over a sliding second: hold the next start until our own last
            # second holds fewer starts than the new rate, rather than sending into a window that is full.
            keep = max(1, int(self._rate))
            if len(self._recent) >= keep:
                self._resume_at = self._recent[-keep] + 1.0
            logger.info("Rate limited (429): pacing requests at %.2f/s", self._rate)
        wait = self._default_pause if pause is None else max(0.0, pause)
        if wait > 0:
            self._paused_until = max(self._paused_until, now + wait)
        # Turns handed out before this 429 are void (the waiting tasks queue again at the new rate), so
        # the schedule restarts from now instead of from behind every voided reservation.
        self._next_start = max(
            self._paused_until, now + 1.0 / (self._rate or self._min_rate), self._resume_at
        )
        self._generation += 1

    def on_success(self) -> None:
        """A 2xx: allow a little more, about 5 % (at least 1 request/s) more for each second of traffic."""
        if self._rate is None or self._clock() < self._paused_until:
            return
        step = max(1.0, _RAISE * self._rate) / self._rate
        if self._rate >= 0.97 * self._limit_seen:
            step /= 4  # near the rate that drew the last 429: probe gently
        rate = self._rate + step
        if self.requests_per_second is not None:
            self._rate = min(rate, self.requests_per_second)
        elif self._lift_above is not None and rate >= self._lift_above:
            self._rate = None
            self._lift_above = None
            logger.info("Recovered from rate limiting: requests no longer paced")
        else:
            self._rate = rate


class _Slot:
    """The context manager of :meth:`Throttle.slot` (a class: a generator-based one costs a few µs more)."""

    __slots__ = ("_throttle",)

    def __init__(self, throttle: Throttle) -> None:
        self._throttle = throttle

    async def __aenter__(self) -> None:
        throttle = self._throttle
        if throttle._unhindered():
            return
        limiter = throttle._limiter
        if limiter is None:
            await throttle._wait_turn()
            return
        await limiter.acquire()
        try:
            await throttle._wait_turn()
        except BaseException:
            limiter.release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        limiter = self._throttle._limiter
        if limiter is not None:
            limiter.release()


def _retryable_error(exc: httpx.TransportError, idempotent: bool) -> bool:
    if isinstance(exc, _NEVER_SENT):
        return True
    return idempotent and isinstance(exc, _TRANSIENT)


def _wrap_transport_error(
    exc: httpx.TransportError, request: httpx.Request, retries: int
) -> APIConnectionError:
    detail = redacting_filter.scrub(str(exc)).strip()
    message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(
        message,
        method=request.method,
        url=redact_url(request.url),
        retries=retries,
        maybe_applied=not isinstance(exc, _NEVER_SENT),
    )


async def send(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    policy: RetryPolicy,
    idempotent: bool,
    throttle: Throttle,
    sleep: Sleep = anyio.sleep,
    rng: random.Random | None = None,
) -> tuple[httpx.Response, int]:
    """Send *request* with retries; return the final response (body read) and the retries taken.

    Logs one DEBUG line per attempt and one INFO line per retry; logging the final response
    (:func:`~clickfunnels_async._log.log_response`) is left to the caller, which knows the operation.
    A non-2xx final response is returned, not raised — the caller maps it with
    :func:`~clickfunnels_async._errors.error_from_response`. A transport failure on the last attempt
    raises :class:`APITimeoutError` or :class:`APIConnectionError` (``__cause__`` = the httpx error).
    """
    # Only an in-memory body can be sent twice; a streamed one is retried only if never sent.
    replayable = isinstance(request.stream, httpx.ByteStream)
    retries = 0
    while True:
        response: httpx.Response | None = None
        error: httpx.TransportError | None = None
        async with throttle.slot():
            log_request(request, attempt=retries + 1)
            try:
                # stream=False: httpx reads the whole body, and closes the response if that is cancelled.
                response = await http.send(request)
            except httpx.TransportError as exc:
                error = exc

        if response is not None:
            status = response.status_code
            if 200 <= status < 300:
                throttle.on_success()
                return response, retries
            retry_after = parse_retry_after(response.headers)
            delay = policy.delay(retries, retry_after, rng)
            if status == 429:
                # Everyone is stopped only when the server said for how long; otherwise all tasks are
                # paced slower, and this one waits its own backoff before retrying.
                throttle.on_rate_limited(retry_after)
            may_retry = (
                status in policy.retry_statuses and replayable and (idempotent or status == 429)
            )
            if not may_retry or retries >= policy.max_retries:
                return response, retries
            reason = f"{status} {response.reason_phrase}".rstrip()
            await response.aclose()
        else:
            assert error is not None
            if (
                not (replayable or isinstance(error, _NEVER_SENT))
                or not _retryable_error(error, idempotent)
                or retries >= policy.max_retries
            ):
                # Keep the httpx error as the cause (its type helps debugging), but scrub its text: it can
                # carry whatever a server or proxy sent, tracebacks included.
                error.args = tuple(
                    redacting_filter.scrub(a) if isinstance(a, str) else a for a in error.args
                )
                raise _wrap_transport_error(error, request, retries) from error
            delay = policy.delay(retries, None, rng)
            reason = type(error).__name__

        logger.info(
            "Retrying %s %s after %s (retry %d of %d) in %.2f s",
            request.method,
            redact_url(request.url),
            reason,
            retries + 1,
            policy.max_retries,
            delay,
        )
        await sleep(delay)
        retries += 1

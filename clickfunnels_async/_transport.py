"""Sending one request: concurrency slot and pacing (``_throttle``, ``_pacing``), retries with backoff.

ClickFunnels publishes no rate numbers and no ``Retry-After``; it just answers 429 when a workspace
sends too fast, and long runs see transient 502s with HTML bodies. So the transport

- retries connection failures, timeouts and 408/429/5xx with exponential backoff and jitter
  (``Retry-After`` is honoured when a proxy or the Maton gateway sends one);
- never repeats a non-idempotent POST that may have reached the server — only when the connection
  was never made, or on 429 (the request was refused, not processed);
- reports every 429 and 2xx to the client's rate budget, which paces the starts of every task
  sharing the client (see :mod:`clickfunnels_async._pacing`).
"""

from __future__ import annotations

import datetime
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from ._aiohttp import DefaultTransport, _AiohttpTransport
from ._errors import APIConnectionError, APITimeoutError, connection_error, parse_retry_after
from ._log import log_request, logger, redact_url, redacting_filter
from ._options import RetryPolicy
from ._throttle import PacingTimeout, Throttle

__all__ = ["RetryPolicy", "Throttle", "new_pool", "parse_retry_after", "send"]

Sleep = Callable[[float], Awaitable[None]]

# The request surely never reached the server: safe to repeat even a create.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Transient failures worth another try when repeating the request is harmless.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _NoCookies(httpx.Cookies):
    """A cookie jar that neither stores nor sends: every request carries its token instead."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


def _send_patched() -> bool:
    send = httpx.AsyncClient.send
    return getattr(send, "__module__", None) != "httpx._client" or hasattr(send, "__wrapped__")


class _Pool(httpx.AsyncClient):
    # A session cookie the API may set is of no use to a token-authenticated client; keeping it would
    # also tie every task sharing the pool to one server-side session. Storing it costs about a tenth
    # of the CPU of a small request (httpx wraps every response for the standard cookie jar).
    def __init__(self, *, connections: int | None = None, **kwargs: Any) -> None:
        # Set before httpx builds the transports (one per proxy from the environment, as httpx routes).
        self._connections = connections
        self._default_layer = not kwargs.get("http2") and kwargs.get("transport") is None
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.AsyncBaseTransport:
        if self._default_layer:
            return DefaultTransport(connections=self._connections)
        return super()._init_transport(*args, **kwargs)

    def _init_proxy_transport(
        self, proxy: httpx.Proxy, *args: Any, **kwargs: Any
    ) -> httpx.AsyncBaseTransport:
        if self._default_layer:
            return DefaultTransport(connections=self._connections, proxy=proxy)
        return super()._init_proxy_transport(proxy, *args, **kwargs)

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
        if (
            stream
            or auth is not httpx.USE_CLIENT_DEFAULT
            or follow_redirects is not httpx.USE_CLIENT_DEFAULT
        ):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        return await self.send_read(request)

    def send_read(self, request: httpx.Request) -> Awaitable[httpx.Response]:
        """What ``send(request)`` does, for the client's own requests: the response with its body read.

        They need none of AsyncClient.send's layers (auth flow, redirects, cookies, event hooks), so they go
        straight to the transport, which saves about a tenth of a small call's CPU; the aiohttp layer is
        awaited with no frame of this pool's in between (each frame is passed through on every resume).
        Anything else, or a pool someone configured further, takes httpx's own path.
        """
        hooks = self.event_hooks
        if (
            _send_patched()  # e.g. Sentry's httpx integration: let it see the request
            or self.auth is not None
            or hooks["request"]
            or hooks["response"]
            or self.is_closed
            or "timeout" not in request.extensions
        ):
            return super().send(request)
        transport = self._transport_for_url(request.url)  # a proxy from the environment, if any
        if type(transport) is DefaultTransport:
            transport = transport.route()
            if type(transport) is _AiohttpTransport:  # it answers as this pool would: read, bound
                return transport.handle_async_request(request)
        return self._send_to(transport, request)

    async def _send_to(
        self, transport: httpx.AsyncBaseTransport, request: httpx.Request
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        if not hasattr(response, "_content"):  # not read yet (a mock's or httpx's own transport)
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
        return response


def new_pool(
    *,
    timeout: httpx.Timeout,
    http2: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    connections: int | None = None,
) -> httpx.AsyncClient:
    """The connection pool a client makes for itself when none is passed in (redirects are never followed).

    Without ``transport=`` or ``http2=True`` it sends through :class:`DefaultTransport` (aiohttp on
    asyncio), with at most *connections* connections (the client's ``max_concurrency``).
    """
    return _Pool(
        connections=connections,
        http2=http2,
        follow_redirects=False,
        timeout=timeout,
        transport=transport,
    )


def _retryable_error(exc: httpx.TransportError, idempotent: bool) -> bool:
    if isinstance(exc, _NEVER_SENT):
        return True
    return idempotent and isinstance(exc, _TRANSIENT)


def _wrap_transport_error(
    exc: httpx.TransportError, request: httpx.Request, retries: int, idempotent: bool = True
) -> APIConnectionError:
    never_sent = isinstance(exc, _NEVER_SENT)
    return connection_error(
        exc,
        method=request.method,
        url=redact_url(request.url),
        retries=retries,
        maybe_applied=not never_sent,
        suffix=""
        if idempotent or never_sent
        else (" (the request may have reached the server, so it was not resent)"),
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
    on_retry: Callable[[], object] | None = None,
) -> tuple[httpx.Response, int]:
    """Send *request* with retries; return the final response (body read) and the retries taken.

    Logs one DEBUG line per attempt and one INFO line per retry; logging the final response
    (:func:`~clickfunnels_async._log.log_response`) is left to the caller, which knows the operation.
    *on_retry* is called once per retry, when it is decided (before its backoff).
    A non-2xx final response is returned, not raised — the caller maps it with
    :func:`~clickfunnels_async._errors.error_from_response`. A transport failure on the last attempt
    raises :class:`APITimeoutError` or :class:`APIConnectionError` (``__cause__`` = the httpx error).
    """
    # Only an in-memory body can be sent twice; a streamed one is retried only if never sent.
    replayable = isinstance(request.stream, httpx.ByteStream)
    # Waiting for a slot or a pacing turn is bounded like waiting for a pooled connection.
    pool_timeout = request.extensions.get("timeout", {}).get("pool")
    slot_timeout = math.inf if pool_timeout is None else float(pool_timeout)
    local = throttle.local
    retries = 0
    while True:
        response: httpx.Response | None = None
        error: httpx.TransportError | None = None
        try:
            # What `async with throttle.slot()` does, without its two coroutines in the common case
            if not throttle.take_now():
                await throttle.take(slot_timeout)
            try:
                log_request(request, attempt=retries + 1)
                # stream=False: the whole body is read, and the response closed if that is cancelled.
                response = await (
                    http.send_read(request) if type(http) is _Pool else http.send(request)
                )
            except httpx.TransportError as exc:
                error = exc
            finally:
                throttle.release()
        except PacingTimeout as exc:
            raise APITimeoutError(
                f"gave up after waiting {exc.waited:.1f} s for {exc.reason}, before sending: the client's "
                "own pacing held the request, not the server; raise timeout= (pool) or send less at once",
                method=request.method,
                url=redact_url(request.url),
                retries=retries,
            ) from None

        if response is not None:
            status = response.status_code
            if 200 <= status < 300:
                if local is not None:
                    throttle.on_success()
                else:
                    await throttle.budget.on_success()
                return response, retries
            retry_after = parse_retry_after(response.headers)
            delay = policy.delay(retries, retry_after, rng)
            if status == 429:
                # Everyone is stopped only when the server said for how long; otherwise all tasks are
                # paced slower, and this one waits its own backoff before retrying.
                if retry_after is not None:
                    retry_after = min(retry_after, policy.max_retry_after)
                if local is not None:
                    local.rate_limited_now(retry_after)
                else:
                    await throttle.budget.on_rate_limited(retry_after)
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
                raise _wrap_transport_error(error, request, retries, idempotent) from error
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
        if on_retry is not None:
            on_retry()
        await sleep(delay)
        retries += 1

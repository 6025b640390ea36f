"""The client's default transport: aiohttp on asyncio, httpx's own (httpcore) elsewhere.

Under real concurrency httpcore 1.0 closes an idle connection whenever the pool holds more than its
keep-alive limit, so at more than 20 requests in flight nearly every request opens a new connection (a
TLS handshake each), and a larger keep-alive limit makes the pool scan every connection on each request.
aiohttp keeps one connection per concurrent request and reuses it, for a fraction of the CPU. The SDK
still speaks httpx (``httpx.Request`` in, ``httpx.Response`` out); this adapter sits under its pool.

What a retry may do depends on where a failure happened, so aiohttp's errors are mapped with care:
only a failure to *establish* the connection (refused, DNS, TLS handshake, connect timeout, waiting for
a pooled connection) becomes ``httpx.ConnectError``/``ConnectTimeout`` — "surely never sent", safe to
resend even a create. Anything after the connection was made (the server dropped it, reset it, sent
half a response, or went silent) becomes ``RemoteProtocolError``/``ReadError``/``ReadTimeout`` — "may
have reached the server": a create is not resent.
"""

from __future__ import annotations

import datetime
import functools
import os
import ssl
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.client_proto import ResponseHandler
    from multidict import CIMultiDictProxy

__all__ = ["DefaultTransport"]


def _httpcore_patched() -> bool:
    """Whether something wraps httpx's own transport (OpenTelemetry's instrumentation) or patches
    httpcore (respx, test doubles) to see httpx's requests: then the requests take that path."""
    handle = httpx.AsyncHTTPTransport.handle_async_request
    if hasattr(handle, "__wrapped__") or handle.__module__ != "httpx._transports.default":
        return True
    # httpcore is never imported here: with trio installed that costs a lot
    httpcore = sys.modules.get("httpcore")
    if httpcore is None:
        return False
    send = httpcore.AsyncConnectionPool.handle_async_request
    return getattr(send, "__module__", None) != "httpcore._async.connection_pool"


# httpx's default keep-alive expiry: an idle connection older than this is not reused.
_KEEPALIVE_EXPIRY = 5.0
# Without max_concurrency: aiohttp's default connection limit; on the httpx path httpx's keep-alive limit,
# as the limit of connections too, so that requests beyond it wait for a connection instead of opening
# one that httpcore would close again (one handshake per request).
AIOHTTP_CONNECTIONS = 100
HTTPX_CONNECTIONS = 20


class DefaultTransport(httpx.AsyncBaseTransport):
    """Picks the connection layer on the first request: aiohttp on asyncio, httpcore on trio."""

    def __init__(self, *, connections: int | None, proxy: httpx.Proxy | None = None) -> None:
        self._connections = connections
        self._proxy = proxy
        self._inner: httpx.AsyncBaseTransport | None = None
        self._mocked: httpx.AsyncBaseTransport | None = None  # httpx's own transport, when needed

    @property
    def layer(self) -> str | None:
        """ "aiohttp", "httpx", or None before the first request."""
        if self._inner is None:
            return None
        return "aiohttp" if isinstance(self._inner, _AiohttpTransport) else "httpx"

    def _open(self) -> httpx.AsyncBaseTransport:
        inner: httpx.AsyncBaseTransport | None = None
        socks = self._proxy is not None and self._proxy.url.scheme.startswith("socks")
        if _on_asyncio() and not socks:
            try:
                import aiohttp  # noqa: F401  (imported here: it costs more than httpx itself)
            except ImportError:  # pragma: no cover - aiohttp is a dependency on asyncio
                inner = None
            else:
                connections = self._connections or AIOHTTP_CONNECTIONS
                inner = _AiohttpTransport(connections=connections, proxy=self._proxy)
        if inner is None:
            inner = self._httpx()
        self._inner = inner
        return inner

    def _httpx(self) -> httpx.AsyncBaseTransport:
        if self._mocked is None:
            connections = self._connections or HTTPX_CONNECTIONS
            limits = httpx.Limits(
                max_connections=connections,
                max_keepalive_connections=connections,
                keepalive_expiry=_KEEPALIVE_EXPIRY,
            )
            self._mocked = httpx.AsyncHTTPTransport(limits=limits, proxy=self._proxy)
        return self._mocked

    def route(self) -> httpx.AsyncBaseTransport:
        """The layer the next request goes through (the pool calls it directly: one await less)."""
        if _httpcore_patched():  # let the mock see the request
            return self._httpx()
        return self._inner or self._open()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.route().handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
        if self._mocked is not None and self._mocked is not self._inner:
            await self._mocked.aclose()


def _on_asyncio() -> bool:
    # Without asyncio imported no asyncio loop can be running (and importing it costs ~15 ms).
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # trio (or no loop at all)
        return False
    return True


def _ssl_context() -> ssl.SSLContext:
    # The same verification as httpx's default: certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR.
    # Loading the bundle costs ~50 ms of CPU, so clients share one context per setting and file
    # version (a context is safe to share between connections; the SDK never changes it once made).
    cert_file = os.environ.get("SSL_CERT_FILE")
    try:
        version = os.stat(cert_file).st_mtime_ns if cert_file else 0
    except OSError:
        version = -1  # httpx reports the missing file when it loads it
    return _shared_ssl_context(cert_file, version, os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)
def _shared_ssl_context(
    cert_file: str | None, version: int, cert_dir: str | None
) -> ssl.SSLContext:
    # The arguments are the cache key: httpx reads the same environment itself.
    return httpx.create_ssl_context(trust_env=True)


class _AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, connections: int, proxy: httpx.Proxy | None) -> None:
        self._connections = connections
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._proxy_kwargs: dict[str, Any] = {}
        self._url: Any = None  # yarl.URL, once aiohttp is imported
        # Recent requests' URLs and header lists, as aiohttp takes them.
        self._urls: dict[object, Any] = {}
        self._headers: dict[tuple[tuple[bytes, ...], ...], _Headers] = {}
        self._extensions: dict[str | None, dict[str, Any]] = {}  # a response's, by reason phrase

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        # A client's requests share a few timeouts: one aiohttp object for each.
        key = (timeout.get("pool"), timeout.get("connect"), timeout.get("read"))
        cached = self._timeouts.get(key)
        if cached is None:
            import aiohttp

            if len(self._timeouts) >= 64:
                self._timeouts.clear()
            pool, connect, read = key
            cached = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None,
                # aiohttp's "connect" covers waiting for a pooled connection and connecting.
                connect=_sum(pool, connect),
                sock_connect=connect,
                sock_read=read,
            )
        return cached

    def _yarl(self, url: httpx.URL) -> Any:
        # Keyed by httpx's parsed form of the URL (a tuple of its parts, which httpx.Request shares with
        # the URL it was given): turning it back into text costs more than the rest of this lookup.
        key = getattr(url, "_uri_reference", None) or str(url)
        parsed = self._urls.get(key)
        if parsed is None:
            if len(self._urls) >= _CACHE_SIZE:
                self._urls.clear()
            parsed = self._urls[key] = self._url(str(url), encoded=True)
        return parsed

    def _aiohttp_headers(self, headers: httpx.Headers) -> _Headers:
        # Keyed by httpx's own list of the headers (tuples of bytes): most requests repeat a few lists.
        key = tuple(getattr(headers, "_list", None) or headers.raw)
        cached = self._headers.get(key)
        if cached is None:
            if len(self._headers) >= _CACHE_SIZE:
                self._headers.clear()
            cached = self._headers[key] = _convert_headers(headers.raw)
        return cached

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp
        import yarl

        connector = aiohttp.TCPConnector(
            limit=self._connections,
            limit_per_host=0,
            keepalive_timeout=_KEEPALIVE_EXPIRY,
            use_dns_cache=True,
            ssl=_ssl_context(),
        )
        _keep_read_timer(connector)
        self._url = yarl.URL
        proxy = self._proxy
        if proxy is not None:
            self._proxy_kwargs["proxy"] = str(proxy.url.copy_with(username=None, password=None))
            if proxy.auth is not None:
                self._proxy_kwargs["proxy_auth"] = aiohttp.BasicAuth(*proxy.auth)
            if proxy.headers:
                self._proxy_kwargs["proxy_headers"] = dict(proxy.headers)
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Only what httpx put into the request is sent: no default headers (see _convert_headers),
            # cookies or env proxies (httpx already chose the proxy for this URL, as for its own transports).
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes the body from its headers, as on its own transports
            trust_env=False,
            version=aiohttp.HttpVersion11,
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Answers as the SDK's pool does (its fast path awaits this directly): the body read and decoded,
        # the request bound to the response and to any error, the time taken in `elapsed`.
        started = time.perf_counter()
        session = self._session or self._open()
        try:
            body = request.content  # the SDK's requests carry their body read
        except httpx.RequestNotRead:
            body = await request.aread()
        headers, skip, skip_with_body = self._aiohttp_headers(request.headers)
        try:
            async with session.request(
                request.method,
                self._yarl(request.url),
                headers=headers,
                skip_auto_headers=skip_with_body if body else skip,
                data=body or None,
                allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
                **self._proxy_kwargs,
            ) as response:
                content = await response.read()
                status = response.status
                raw_headers = response.raw_headers
                reason = response.reason
                encoded = "Content-Encoding" in response.headers
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is None:
                raise
            mapped.request = request
            raise mapped from exc
        extensions = self._extensions.get(reason)
        if extensions is None:
            extensions = {"http_version": b"HTTP/1.1"}
            if reason:
                extensions["reason_phrase"] = reason.encode("ascii", "replace")
            if len(self._extensions) < _CACHE_SIZE:  # httpx.Response copies the dict it is given
                self._extensions[reason] = extensions
        # Built as httpx's own transports answer (a stream), then read here: decoded by its headers.
        result = httpx.Response(
            status, stream=httpx.ByteStream(content), request=request, extensions=extensions
        )
        # httpx.Headers(raw) normalises each header through two function calls, but aiohttp's raw headers
        # are bytes already: the same list, built directly into the response's own (empty) headers
        # (tests/test_transport_sockets.py compares with httpx's).
        result.headers._list = [(k, k.lower(), v) for k, v in raw_headers]
        if encoded:
            await result.aread()  # decoded by its Content-Encoding, as httpx does
        else:
            # Nothing to decode: the body is the content. Set as httpx's own read() would, without its
            # decoder and chunker pipeline (a tenth of a small request's CPU).
            result._content = content
            result.is_stream_consumed = True
            result.is_closed = True
        result.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
        return result

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


# A request's headers as aiohttp takes them, and the automatic headers aiohttp must not add to it
# (without a body, with one).
_Headers = tuple["CIMultiDictProxy[str]", "tuple[str, ...] | None", "tuple[str, ...] | None"]
_CACHE_SIZE = 256
# What aiohttp adds to a request that lacks them: the request alone says what is sent.
_AUTO_HEADERS = {
    b"user-agent": "User-Agent",
    b"accept": "Accept",
    b"accept-encoding": "Accept-Encoding",
}


def _convert_headers(raw: list[tuple[bytes, bytes]]) -> _Headers:
    from multidict import CIMultiDict, CIMultiDictProxy

    # Headers are nearly always ASCII; anything else is decoded as httpx decodes it (aiohttp sends str
    # as UTF-8).
    try:
        items = [(k.decode("ascii"), v.decode("ascii")) for k, v in raw]
    except UnicodeDecodeError:
        items = httpx.Headers(raw).multi_items()
    names = {k.lower() for k, _ in raw}
    skip = tuple(name for key, name in _AUTO_HEADERS.items() if key not in names)
    # aiohttp would label a body without a Content-Type application/octet-stream.
    skip_with_body = skip if b"content-type" in names else (*skip, "Content-Type")
    # Immutable: aiohttp copies it into each request, and the cached one is shared.
    return CIMultiDictProxy(CIMultiDict(items)), skip or None, skip_with_body or None


def _keep_read_timer(connector: aiohttp.TCPConnector) -> None:
    """Give the connector's connections the read timer of :func:`_read_timer_handler`, where it fits."""
    from aiohttp.client_proto import ResponseHandler

    handler = _read_timer_handler()
    factory = getattr(connector, "_factory", None)
    if (
        handler is not None
        and isinstance(factory, functools.partial)
        and factory.func is ResponseHandler
        and set(factory.keywords) == {"loop"}
    ):
        connector._factory = functools.partial(handler, **factory.keywords)


@functools.cache
def _read_timer_handler() -> type[ResponseHandler] | None:
    """aiohttp's connection protocol with a read timeout (``sock_read``) that keeps its timer.

    aiohttp makes a new timer for the read timeout when a request has been sent and again for every
    chunk received, and cancels it when the response ends: two timers made and two cancelled for each
    small request, which the event loop sorts in and out of its heap (about a tenth of the client's CPU
    per request at 64 in flight, measured by ``make bench``, rows h.cpu). Here each connection keeps
    one timer and a deadline: a chunk only moves the deadline, the end of a response only clears it,
    and the timer, when it fires, sleeps on to the deadline, does nothing (none set) or times out as
    aiohttp does. Same limit, same error; None when aiohttp's internals are not the ones this knows.
    """
    from aiohttp.client_proto import ResponseHandler

    needed = ("_reschedule_timeout", "_drop_timeout", "_on_read_timeout", "connection_lost")
    if not all(callable(getattr(ResponseHandler, name, None)) for name in needed):
        return None

    class KeptReadTimer(ResponseHandler):
        _deadline: float | None = None

        def _reschedule_timeout(self) -> None:
            timeout = self._read_timeout
            if not timeout:
                self._deadline = None
                return
            loop = self._loop
            deadline = self._deadline = loop.time() + timeout
            timer = self._read_timeout_handle
            if timer is None or timer.when() > deadline:  # none yet, or set for a longer timeout
                if timer is not None:
                    timer.cancel()
                self._read_timeout_handle = loop.call_at(deadline, self._on_timer)

        def _drop_timeout(self) -> None:
            self._deadline = None

        def _on_timer(self) -> None:
            deadline = self._deadline
            if deadline is not None and self._loop.time() < deadline:
                self._read_timeout_handle = self._loop.call_at(deadline, self._on_timer)
                return
            self._read_timeout_handle = None
            if deadline is not None:
                self._on_read_timeout()

        def connection_lost(self, exc: BaseException | None) -> None:
            super().connection_lost(exc)
            timer, self._read_timeout_handle = self._read_timeout_handle, None
            if timer is not None:  # a closed connection is not kept alive by its timer
                timer.cancel()

    return KeptReadTimer


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def map_error(exc: BaseException) -> httpx.TransportError | None:
    """The httpx error for an aiohttp one: connect-phase failures only become Connect*."""
    import aiohttp

    text = str(exc) or type(exc).__name__
    # Never sent: the connection was not made, or no pooled connection became free in time.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(text)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake, proxy connect
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(text)
    # May have reached the server: everything after the connection was established.
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(f"server disconnected without a complete response: {text}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(f"incomplete response body: {text}")
    if isinstance(exc, aiohttp.ClientResponseError):  # a response aiohttp could not parse
        return httpx.RemoteProtocolError(text)
    if isinstance(
        exc, aiohttp.ClientError | OSError
    ):  # reset, broken pipe while sending or reading
        return httpx.ReadError(text)
    return None

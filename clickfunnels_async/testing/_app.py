"""The ways into the fake: an in-process httpx transport, an ASGI app, and uvicorn on a loopback socket."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from clickfunnels_async.testing._reply import Dropped

if TYPE_CHECKING:
    from clickfunnels_async.testing._fake import FakeClickFunnels

__all__ = ["FakeASGIApp", "FakeTransport", "build_asgi_app", "serve"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class FakeTransport(httpx.AsyncBaseTransport):
    """Serves httpx requests straight from the fake: no sockets, no ASGI round trip.

    A dropped connection surfaces as the httpx error a real one would give:
    `httpx.RemoteProtocolError` when it is cut before the server acted, `httpx.ReadError` (connection
    reset) when the write was applied and only the answer was lost.
    """

    def __init__(self, fake: FakeClickFunnels) -> None:
        self.fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        # Honour the client's read timeout as a socket would: a slow fake (latency knob) times out. The fake
        # only ever waits in its latency sleep, so it applies the timeout there (no cancel scope per request).
        timeout = (request.extensions.get("timeout") or {}).get("read")
        try:
            reply = await self.fake.handle(
                request.method,
                url.path,
                url.query.decode("latin-1"),
                _read_headers(request.headers),
                body,
                origin=origin,
                timeout=timeout,
            )
        except TimeoutError:
            raise httpx.ReadTimeout(
                "timed out waiting for the fake to answer", request=request
            ) from None
        except Dropped as exc:
            if exc.applied:
                raise httpx.ReadError(
                    "[Errno 104] Connection reset by peer", request=request
                ) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        return loaded_response(reply.status, reply.header_list(), reply.content(), request)


def loaded_response(
    status: int, headers: list[tuple[str, str]], content: bytes, request: httpx.Request
) -> httpx.Response:
    """`httpx.Response(status, headers=headers, content=content, request=request)`, built cheaply.

    That constructor runs the generic streaming read (decoders, chunker, context managers) over bytes that
    are already complete and identity-encoded: about a fifth of the fake's cost per request. Here the
    response gets the same headers (Content-Length added last, only for a non-empty body) and is left in the
    same state as after that read: content loaded, stream consumed, closed. tests/test_emulator.py checks
    the two stay equivalent.
    """
    if content and not any(key.lower() == "content-length" for key, _ in headers):
        headers = [*headers, ("Content-Length", str(len(content)))]
    response = httpx.Response(
        status, headers=headers, stream=httpx.ByteStream(content), request=request
    )
    response._content = content
    response.is_stream_consumed = True
    response.is_closed = True
    return response


_READ_HEADERS = frozenset({b"user-agent", b"authorization", b"content-type"})


def _read_headers(headers: httpx.Headers) -> Mapping[str, str]:
    """The request headers the fake reads, as `headers.get()` would give them.

    `httpx.Headers.get` first decides one text encoding for all the headers (decoding every one of them), per
    request; for ASCII values every choice decodes alike, so only those are picked out here.
    """
    found: dict[str, str] = {}
    for key, value in headers.raw:
        lowered = key.lower()
        if lowered in _READ_HEADERS:
            if not value.isascii():
                return headers  # let httpx choose the encoding
            name, text = lowered.decode("ascii"), value.decode("ascii")
            found[name] = (
                f"{found[name]}, {text}" if name in found else text
            )  # repeated: joined, as httpx does
    return found


class _Headers:
    """Case-insensitive read access to raw ASGI headers (only what the fake reads)."""

    __slots__ = ("_items",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._items: dict[str, str] = {}
        for key, value in raw:
            self._items.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._items.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class FakeASGIApp:
    """HTTP requests go straight to the fake (so a dropped connection can really be cut); the lifespan
    goes to a Starlette app, whose lifespan runs the fake's webhook sender while the server is up."""

    def __init__(self, fake: FakeClickFunnels) -> None:
        from starlette.applications import Starlette

        self.fake = fake

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with fake._run_group():
                yield

        self.starlette = Starlette(lifespan=lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = _Headers(scope.get("headers") or [])
        host = headers.get("host") or "127.0.0.1"
        origin = f"{scope.get('scheme', 'http')}://{host}"
        try:
            reply = await self.fake.handle(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                headers,  # type: ignore[arg-type]
                b"".join(chunks),
                origin=origin,
            )
        except Dropped:
            await _cut(send)
            return
        content = reply.content()
        raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.header_list()
        ]
        raw_headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})


class _ConnectionCut(Exception):
    pass


async def _cut(send: Send) -> None:
    # Under uvicorn `send` is bound to the request cycle, which holds the socket's transport: closing it
    # ends the connection with no response at all, exactly like a network failure.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        return
    # Elsewhere: announce a body that never comes, then fail, so the server has to drop the connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    raise _ConnectionCut("connection dropped by the fault injector")


def build_asgi_app(fake: FakeClickFunnels) -> FakeASGIApp:
    return FakeASGIApp(fake)


@asynccontextmanager
async def serve(
    fake: FakeClickFunnels, *, port: int = 0, log_level: str = "warning"
) -> AsyncIterator[str]:
    """Run uvicorn on 127.0.0.1 in this (asyncio) event loop for the duration of the block; yield its URL."""
    import sniffio
    import uvicorn

    if sniffio.current_async_library() != "asyncio":
        raise RuntimeError(
            "FakeClickFunnels.serve() runs uvicorn in the current event loop, which must be asyncio; under "
            "trio use fake.client() (in-process) or run `python -m clickfunnels_async.testing` in a subprocess"
        )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it, small responses wait ~40 ms for delayed ACKs (Nagle); accepted sockets inherit it.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        build_asgi_app(fake),
        host="127.0.0.1",
        port=bound,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            with anyio.fail_after(10):
                while not server.started:
                    if server.should_exit:
                        raise RuntimeError("uvicorn did not start")
                    await anyio.sleep(0.005)
            try:
                yield f"http://127.0.0.1:{bound}"
            finally:
                server.should_exit = True
    finally:
        sock.close()

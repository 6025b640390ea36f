"""The default transport against a real socket server that misbehaves on purpose.

A create may be resent only when it surely never reached the server; a drop after the request was
read, or a reset in the middle of the response, must not look like a connect error. Runs on asyncio
(aiohttp under the client's pool) and on trio (httpx's own transport).
"""

from __future__ import annotations

import gzip
import logging
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest

from clickfunnels_async import APIConnectionError, APITimeoutError, ClickFunnels, RetryPolicy
from clickfunnels_async._aiohttp import DefaultTransport

pytestmark = pytest.mark.anyio

TOKEN = "tok_sockets_1234567"
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02, jitter=0.0)
CREATE = b'{"contact":{"email_address":"a@example.com"}}'


class FaultServer:
    """HTTP/1.1 on 127.0.0.1: answers 200 with a small JSON body, or does what `plan` says.

    `plan` holds one action per request, taken in order once the request was read in full:
    "ok", "drop" (close without answering), "reset" (half a response, then a TCP reset), "ok-close"
    (answer, then close the idle connection before reading anything more), "gzip" (a gzip body),
    "trickle" (the body in five pieces, `gap` seconds apart), "silent" (half a response, then nothing).
    """

    def __init__(self, *plan: str, gap: float = 0.0) -> None:
        self.plan = list(plan)
        self.gap = gap
        self.connections = 0
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection number, head line, body)
        self.headers: list[list[tuple[bytes, bytes]]] = []  # each request's headers, as received
        self.closed_idle = anyio.Event()
        self.port = 0

    async def _read_request(
        self, stream: anyio.abc.SocketStream, buffer: bytearray
    ) -> tuple[bytes, bytes] | None:
        while b"\r\n\r\n" not in buffer:
            try:
                chunk = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return None
            buffer.extend(chunk)
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        length = 0
        received = []
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            received.append((name, value.strip()))
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.headers.append(received)
        body = bytearray(rest)
        while len(body) < length:
            body.extend(await stream.receive())
        buffer[:] = body[length:]
        return head.split(b"\r\n")[0], bytes(body[:length])

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        buffer = bytearray()
        async with stream:
            while True:
                request = await self._read_request(stream, buffer)
                if request is None:
                    return
                self.requests.append((number, *request))
                action = self.plan.pop(0) if self.plan else "ok"
                if action == "drop":
                    return
                if action == "gzip":  # a compressed body, and a header sent twice
                    packed = gzip.compress(b'{"id": 7, "email_address": "z@example.com"}')
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Encoding: gzip\r\nX-Seen: 1\r\nX-Seen: 2\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(packed), packed)
                    )
                    continue
                if action in ("trickle", "silent"):
                    body = b'{"id": 5, "email_address": "slow@example.com"}'
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body)
                    )
                    if action == "silent":
                        await stream.send(body[:10])
                        await anyio.sleep_forever()  # until the client gives up or the test ends
                    for start in range(0, len(body), 10):
                        await anyio.sleep(self.gap)
                        await stream.send(body[start : start + 10])
                    continue
                if action == "reset":
                    await stream.send(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b'Content-Length: 100\r\n\r\n{"id": 1,'
                    )
                    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                body = b'{"id": %d, "email_address": "a@example.com"}' % len(self.requests)
                await stream.send(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                if action == "ok-close":
                    await stream.aclose()
                    self.closed_idle.set()
                    return

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, self._handle)
            try:
                with anyio.fail_after(20):
                    yield f"http://127.0.0.1:{self.port}"
            finally:
                group.cancel_scope.cancel()

    def creates(self) -> int:
        return sum(
            1 for _, line, body in self.requests if line.startswith(b"POST") and body == CREATE
        )


def client(url: str, **kwargs: object) -> ClickFunnels:
    return ClickFunnels(TOKEN, base_url=url, retry_policy=FAST, **kwargs)  # type: ignore[arg-type]


async def create(cf: ClickFunnels) -> object:
    return await cf.request(
        "POST",
        "/api/v2/workspaces/42/contacts",
        json={"contact": {"email_address": "a@example.com"}},
    )


async def upsert(cf: ClickFunnels) -> object:
    # An idempotent write (as contacts.upsert is): the same path the SDK takes for every such call.
    return await cf.request(
        "PUT", "/api/v2/contacts/1", json={"contact": {"email_address": "a@example.com"}}
    )


def expected_layer(anyio_backend: str) -> str:
    return "aiohttp" if anyio_backend == "asyncio" else "httpx"


@pytest.mark.parametrize("action", ["drop", "reset"])
async def test_a_create_the_server_may_have_read_is_not_resent(
    anyio_backend: str, action: str
) -> None:
    server = FaultServer("ok", action)  # the second request, on the reused connection, is dropped
    async with server.serve() as url, client(url) as cf:
        await cf.request("GET", "/api/v2/ping")
        with pytest.raises(APIConnectionError) as info:
            await create(cf)
        assert cf._core._shared.http._transport.layer == expected_layer(anyio_backend)  # type: ignore[attr-defined]
    assert server.connections == 1  # the create went out on the kept connection
    assert server.creates() == 1
    assert "may have reached the server" in str(info.value)
    assert not isinstance(info.value.__cause__, httpx.ConnectError | httpx.ConnectTimeout)


@pytest.mark.parametrize("action", ["drop", "reset"])
async def test_an_upsert_is_retried_after_a_drop_or_reset(anyio_backend: str, action: str) -> None:
    server = FaultServer("ok", action, "ok")
    async with server.serve() as url, client(url) as cf:
        await cf.request("GET", "/api/v2/ping")
        contact = await upsert(cf)
    assert contact == {"id": 3, "email_address": "a@example.com"}
    assert [line.split(b" ")[0] for _, line, _ in server.requests] == [b"GET", b"PUT", b"PUT"]
    assert server.connections == 2  # the broken connection was replaced, once


async def test_a_connection_the_server_closed_while_idle_is_not_reused(anyio_backend: str) -> None:
    # The server closes the kept connection before reading anything more: the create goes out once,
    # on a new connection, and succeeds.
    server = FaultServer("ok-close")
    async with server.serve() as url, client(url) as cf:
        await cf.request("GET", "/api/v2/ping")
        await server.closed_idle.wait()
        await anyio.sleep(0.05)  # let the client's event loop see the FIN (no speed is measured)
        assert await create(cf) == {"id": 2, "email_address": "a@example.com"}
    assert server.creates() == 1
    assert server.connections == 2


async def test_a_create_that_could_not_connect_is_resent(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level(logging.DEBUG, logger="clickfunnels_async"):
        async with client(f"http://127.0.0.1:{port}") as cf:
            with pytest.raises(APIConnectionError) as info:
                await create(cf)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.retries == 2  # resent twice: it surely never reached a server
    assert "may have reached" not in str(info.value)
    attempts = [r.getMessage() for r in caplog.records if "HTTP request POST" in r.getMessage()]
    assert len(attempts) == 3


async def test_connections_are_kept_and_reused_under_concurrency(anyio_backend: str) -> None:
    server = FaultServer()
    async with server.serve() as url, client(url) as cf:
        for _ in range(3):
            async with anyio.create_task_group() as group:
                for _ in range(40):  # more than httpx's keep-alive limit of 20 at once
                    group.start_soon(cf.request, "GET", "/api/v2/ping")
    assert len(server.requests) == 120
    # aiohttp: up to one connection per request in flight, kept; httpx (trio): capped at its keep-alive
    # limit, so no connection is closed and reopened. Either way, not one connection per request.
    assert server.connections <= (40 if anyio_backend == "asyncio" else 20)


async def test_connection_limit_follows_max_concurrency(anyio_backend: str) -> None:
    server = FaultServer()
    async with (
        server.serve() as url,
        client(url, max_concurrency=4) as cf,
        anyio.create_task_group() as group,
    ):
        for _ in range(30):
            group.start_soon(cf.request, "GET", "/api/v2/ping")
    assert len(server.requests) == 30
    assert server.connections <= 4


async def test_responses_reach_the_caller_as_httpx_builds_them(anyio_backend: str) -> None:
    # Whichever layer sent it, the caller gets an httpx.Response: body decoded by its headers, every
    # header kept in order (repeats too), read and closed, with the request that was sent.
    server = FaultServer("ok", "gzip")
    async with server.serve() as url, client(url) as cf:
        with cf.raw_responses() as raw:
            plain = await cf.request("GET", "/api/v2/contacts/1")
            packed = await cf.request("GET", "/api/v2/contacts/7")
    assert plain == {"id": 1, "email_address": "a@example.com"}
    assert packed == {"id": 7, "email_address": "z@example.com"}
    first, second = (r.http_response for r in raw)
    assert first.content == b'{"id": 1, "email_address": "a@example.com"}'
    assert first.headers["Content-Length"] == str(len(first.content))
    assert first.http_version == "HTTP/1.1" and first.reason_phrase == "OK"
    assert first.is_closed and first.is_stream_consumed
    assert first.request.url.path == "/api/v2/contacts/1" and first.elapsed.total_seconds() > 0
    assert second.headers.get_list("X-Seen") == ["1", "2"]
    assert second.headers["Content-Encoding"] == "gzip"
    assert second.json() == {"id": 7, "email_address": "z@example.com"}
    assert second.is_closed
    # Built without httpx's per-header normalisation, but the same object httpx would build.
    # (httpx works out `_encoding` when first asked, as it did here.)
    for response in (first, second):
        ours, theirs = vars(response.headers), vars(httpx.Headers(response.headers.raw))
        assert ours.keys() == theirs.keys() and ours["_list"] == theirs["_list"]


async def test_the_server_gets_exactly_the_headers_of_the_httpx_request(anyio_backend: str) -> None:
    # aiohttp adds headers of its own to a request that lacks them (User-Agent, Accept,
    # Accept-Encoding, a Content-Type for a body); the request httpx built says alone what is sent.
    server = FaultServer()
    async with server.serve() as url:
        async with client(url) as cf:
            with cf.raw_responses() as raw:
                await cf.request("GET", "/api/v2/contacts/1")
                await create(cf)
                await cf.request("GET", "/api/v2/contacts/1")
        sent = [r.http_response.request.headers.raw for r in raw]
        layer = DefaultTransport(connections=2)
        try:
            only = {"Host": f"127.0.0.1:{server.port}", "Content-Length": "2"}
            bare = httpx.Request("POST", f"{url}/x", headers=only, stream=httpx.ByteStream(b"{}"))
            await layer.handle_async_request(bare)
        finally:
            await layer.aclose()
    if anyio_backend == "asyncio":
        assert layer.layer == "aiohttp"
    assert server.headers[:3] == sent
    assert server.headers[3] == [
        (b"Host", b"127.0.0.1:%d" % server.port),
        (b"Content-Length", b"2"),
    ]


async def test_the_read_timeout_bounds_each_wait_for_data_not_the_whole_response(
    anyio_backend: str,
) -> None:
    # Five pieces 0.15 s apart take 0.75 s in all, longer than the 0.4 s read timeout, but no single
    # wait for data does: as httpx means its read timeout, on either layer.
    server = FaultServer("trickle", gap=0.15)
    async with server.serve() as url, client(url, timeout=httpx.Timeout(5.0, read=0.4)) as cf:
        assert await cf.request("GET", "/api/v2/contacts/5") == {
            "id": 5,
            "email_address": "slow@example.com",
        }
    assert len(server.requests) == 1


async def test_a_server_gone_silent_mid_response_times_out_and_a_create_is_not_resent(
    anyio_backend: str,
) -> None:
    server = FaultServer("ok", "silent", "silent", "silent")
    async with server.serve() as url, client(url, timeout=httpx.Timeout(5.0, read=0.3)) as cf:
        await cf.request("GET", "/api/v2/ping")
        with anyio.fail_after(5), pytest.raises(APITimeoutError) as info:
            await create(cf)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert server.creates() == 1
    assert "may have reached the server" in str(info.value)


async def test_a_kept_connection_idle_past_the_read_timeout_still_serves(
    anyio_backend: str,
) -> None:
    # Between responses no read timeout runs: a connection that sat idle for longer is reused, and a
    # read timeout armed for an earlier response does not fire into a later one.
    server = FaultServer("ok", "trickle", "ok", gap=0.1)
    async with server.serve() as url, client(url, timeout=httpx.Timeout(5.0, read=0.25)) as cf:
        await cf.request("GET", "/api/v2/ping")
        await anyio.sleep(0.4)
        assert (await cf.request("GET", "/api/v2/contacts/5"))["id"] == 5
        await anyio.sleep(0.4)
        assert (await cf.request("GET", "/api/v2/ping"))["id"] == 3
        if anyio_backend == "asyncio":
            import asyncio

            timers = [
                h
                for h in asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
                if not h.cancelled() and getattr(h._callback, "__name__", "") == "_on_timer"
            ]
            assert len(timers) <= 1  # one timer per connection, not one per request or chunk
    assert server.connections == 1
    if anyio_backend == "asyncio":  # closing the client cancels the timers of its connections
        await anyio.sleep(0)
        left = [
            h
            for h in asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
            if not h.cancelled() and getattr(h._callback, "__name__", "") == "_on_timer"
        ]
        assert left == []

"""A small, fast HTTP/1.1 server for the transport figures, run in a process of its own.

`python -m benchmarks._server [--latency S] [--cert F --key F]` prints `port N` once listening. It
answers every request with one small JSON contact after `latency` seconds, except:
- `POST /_burst?ms=500`: for the next 500 ms every request gets 429 (no Retry-After, as ClickFunnels);
- `POST /_limit?rps=50`: from now on at most 50 requests per sliding second, 429 above;
- `POST /_random429?p=0.03`: from now on that share of requests, drawn at random, gets 429 (no Retry-After);
- `GET /_stats`: `{"connections": <accepted so far>, "requests": ..., "refused": ...}`.
Its own CPU per request is small next to any client's, so the client is what the figures compare.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import ssl
import sys

BODY = json.dumps(
    {
        "id": 1,
        "public_id": "abc123",
        "email_address": "a@example.com",
        "first_name": "A",
        "last_name": "B",
        "workspace_id": 42,
        "tags": [],
        "created_at": "2026-01-01T00:00:00Z",
    }
).encode()


class State:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.connections = 0
        self.requests = 0
        self.refused = 0
        self.burst_until = 0.0
        self.limit: float | None = None
        self.random_429 = 0.0
        self.rng = random.Random(0)
        self.window: collections.deque[float] = collections.deque()


def response(status: int, body: bytes) -> bytes:
    reason = {200: b"OK", 429: b"Too Many Requests"}.get(status, b"OK")
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        reason,
        len(body),
        body,
    )


class Protocol(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.handle(head.split(b"\r\n", 1)[0])

    def handle(self, line: bytes) -> None:
        state = self.state
        _method, target, _ = line.split(b" ", 2)
        now = self.loop.time()
        if target.startswith(b"/_stats"):
            stats = {
                "connections": state.connections,
                "requests": state.requests,
                "refused": state.refused,
            }
            self.send(response(200, json.dumps(stats).encode()))
            return
        if target.startswith(b"/_burst"):
            state.burst_until = now + int(target.split(b"ms=")[1]) / 1000
            self.send(response(200, b"{}"))
            return
        if target.startswith(b"/_random429"):
            state.random_429 = float(target.split(b"p=")[1])
            self.send(response(200, b"{}"))
            return
        if target.startswith(b"/_limit"):
            state.limit = float(target.split(b"rps=")[1])
            self.send(response(200, b"{}"))
            return
        state.requests += 1
        status = 200
        if now < state.burst_until or (state.random_429 and state.rng.random() < state.random_429):
            status = 429
        elif state.limit is not None:
            window = state.window
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= state.limit:
                status = 429
            else:
                window.append(now)
        if status == 429:
            state.refused += 1
        data = response(status, BODY if status == 200 else b'{"error":"rate limited"}')
        if state.latency > 0:
            self.loop.call_later(state.latency, self.send, data)
        else:
            self.send(data)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(latency: float, cert: str | None, key: str | None) -> None:
    state = State(latency)
    context = None
    if cert and key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    server = await asyncio.get_running_loop().create_server(
        lambda: Protocol(state), "127.0.0.1", 0, ssl=context, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    # Stops when the parent closes our stdin (or dies).
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    await reader.read()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    asyncio.run(serve(args.latency, args.cert, args.key))


if __name__ == "__main__":
    main()

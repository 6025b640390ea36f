"""A fault-injecting ClickFunnels server for tests, in process or over a real loopback socket.

It wraps the emulator (`FakeClickFunnels`) and adds the faults an independent fault run found the SDK
must survive, each drawn per request from a seeded RNG:

- writes that fail *before* being applied: 5xx, dropped connection, 429;
- writes that fail *after* being applied: 5xx, dropped connection, an answer slower than the client's
  timeout (the ambiguous outcomes: the client cannot know whether the record exists);
- list pages that are empty but still carry ``Pagination-Next``, and pages that repeat a cursor.

```
plan = FaultPlan(seed=1, error_after=0.05, drop_after=0.05)
faulty = FaultyFake(FakeClickFunnels(seed=1), plan)
cf = faulty.client(timeout=1)                      # in process, no latency
async with faulty.serve() as url: ...              # uvicorn on 127.0.0.1, stops with the block
```

Everything is bounded: `max_requests` caps what one server answers (then 503), and `serve()` runs only
for its block (under `anyio.fail_after(limit)`), so a broken test cannot hang or loop.
"""

from __future__ import annotations

import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
import attrs

from clickfunnels_async import ClickFunnels
from clickfunnels_async.testing import FakeClickFunnels
from clickfunnels_async.testing._app import FakeTransport, build_asgi_app
from clickfunnels_async.testing._fake import Dropped, Reply

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_EMPTY = "~e"  # a cursor with this suffix points where the cursor before it does


@attrs.frozen
class FaultPlan:
    """Probabilities per request (writes for the *_before/*_after ones, list pages for the others)."""

    seed: int = 0
    error_before: float = 0.0  # 5xx, nothing applied
    drop_before: float = 0.0  # connection cut before the server acted
    rate_limited: float = 0.0  # 429, nothing applied
    error_after: float = 0.0  # applied, then 5xx
    drop_after: float = 0.0  # applied, then the connection is cut
    slow_after: float = 0.0  # applied, then no answer before the client's timeout
    slow_seconds: float = 1.0  # how late a slow answer is (over a socket)
    empty_page: float = 0.0  # an empty page that still carries a next cursor
    repeat_cursor: float = 0.0  # a page whose Pagination-Next is the cursor it was asked with
    max_requests: int = 200_000


class FaultyFake:
    """The emulator with the faults of a `FaultPlan` in front of it. Counts what it did in `injected`."""

    def __init__(self, fake: FakeClickFunnels, plan: FaultPlan) -> None:
        self.fake = fake
        self.plan = plan
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(plan.seed)

    def __getattr__(self, name: str) -> Any:  # the ASGI app's lifespan and the rest: the emulator's
        return getattr(self.fake, name)

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        origin: str | None = None,
        timeout: float | None = None,
    ) -> Reply:
        self.requests += 1
        plan = self.plan
        if self.requests > plan.max_requests:
            return Reply(503, {"error": "fault server: request budget used up"})
        method = method.upper()
        if method in _WRITES:
            if self._roll(plan.rate_limited):
                self.injected["429"] += 1
                return Reply(429, {"error": "Too many requests"})
            if self._roll(plan.error_before):
                self.injected["error_before"] += 1
                return Reply(503, {"error": "Service Unavailable"})
            if self._roll(plan.drop_before):
                self.injected["drop_before"] += 1
                raise Dropped(applied=False)
            after = self._rng.random()
            reply = await self.fake.handle(
                method, path, query, headers, body, origin=origin, timeout=timeout
            )
            if after < plan.error_after:
                self.injected["error_after"] += 1
                return Reply(500, {"error": "Internal Server Error"})
            after -= plan.error_after
            if after < plan.drop_after:
                self.injected["drop_after"] += 1
                raise Dropped(applied=True)
            after -= plan.drop_after
            if after < plan.slow_after:
                self.injected["slow_after"] += 1
                if timeout is not None:  # in process: the client's deadline passes at once
                    raise TimeoutError
                await anyio.sleep(plan.slow_seconds)
            return reply
        return await self._read(method, path, query, headers, body, origin, timeout)

    async def _read(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        origin: str | None,
        timeout: float | None,
    ) -> Reply:
        pairs = parse_qsl(query, keep_blank_values=True)
        asked = dict(pairs).get("after")
        real = [(k, v.split(_EMPTY, 1)[0] if k == "after" else v) for k, v in pairs]
        if asked is not None and self._roll(self.plan.empty_page):
            self.injected["empty_page"] += 1
            return Reply(200, [], headers=[("Pagination-Next", asked + _EMPTY)])
        if asked is None and self._roll(self.plan.empty_page):
            self.injected["empty_page"] += 1
            return Reply(200, [], headers=[("Pagination-Next", "0" + _EMPTY)])
        reply = await self.fake.handle(
            method, path, urlencode(real), headers, body, origin=origin, timeout=timeout
        )
        has_next = any(k.lower() == "pagination-next" for k, _ in reply.headers)
        if asked is not None and has_next and self._roll(self.plan.repeat_cursor):
            self.injected["repeat_cursor"] += 1
            reply.headers = [
                (k, asked if k.lower() == "pagination-next" else v) for k, v in reply.headers
            ]
        return reply

    # ------------------------------------------------------------------ ways in

    def transport(self) -> FakeTransport:
        return FakeTransport(self)  # type: ignore[arg-type]  # duck-typed: handle() is all it calls

    def client(self, **kwargs: Any) -> ClickFunnels:
        return ClickFunnels(
            self.fake.token, base_url=self.fake.base_url, transport=self.transport(), **kwargs
        )

    @asynccontextmanager
    async def serve(self, *, limit: float = 120.0) -> AsyncIterator[str]:
        async with serve_asgi(build_asgi_app(self), limit=limit) as url:  # type: ignore[arg-type]
            yield url


@asynccontextmanager
async def serve_asgi(app: Any, *, limit: float = 120.0) -> AsyncIterator[str]:
    """Run *app* under uvicorn on 127.0.0.1 (a free port) for the block, at most `limit` seconds."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    try:
        with anyio.fail_after(limit):
            async with anyio.create_task_group() as group:
                group.start_soon(server.serve, [sock])
                while not server.started:
                    if server.should_exit:
                        raise RuntimeError("uvicorn did not start")
                    await anyio.sleep(0.005)
                try:
                    yield f"http://127.0.0.1:{port}"
                finally:
                    server.should_exit = True
    finally:
        sock.close()

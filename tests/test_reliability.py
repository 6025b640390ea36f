"""Reliability: faults, cancellation and timeouts, against the emulator and slow servers.

- Faults from the emulator (500, HTML 502, 503, dropped connections, read timeouts, 429 bursts) during
  a bulk import and long paginations: nothing lost, nothing duplicated, every failure reported.
- Cancellation at seeded random moments: no response stream or pooled connection left open, no
  concurrency slot left taken, and the client keeps working.
- Timeouts: a server slower than the timeout gives `APITimeoutError` after about
  timeout × attempts + backoff, never a hang.

The emulator's in-process transport ignores httpx timeouts (it is not a network), so `Tracking` below
enforces the read timeout the way a socket would, and counts what the emulator answered.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
from _bursts import StatusCounter

from clickfunnels_async import (
    APIConnectionError,
    APITimeoutError,
    ClickFunnels,
    ClickFunnelsError,
    InternalServerError,
    RetryPolicy,
    bulk,
)
from clickfunnels_async.testing import FakeClickFunnels

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FAST = RetryPolicy(initial_delay=0.002, max_delay=0.02, jitter=0.2)


class _CountedStream(httpx.AsyncByteStream):
    """A response body handed out in small chunks (so a cancel can land mid-body); counts open streams."""

    def __init__(self, owner: Tracking, body: bytes) -> None:
        self._owner = owner
        self._body = body
        self._closed = False
        owner.open_streams += 1

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), 256):
            await anyio.lowlevel.checkpoint()
            yield self._body[start : start + 256]

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.open_streams -= 1


class Tracking(StatusCounter):
    """Wraps the emulator's transport: enforces the read timeout, counts answers and open streams."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        slow_rate: float = 0.0,
        seed: int = 0,
        burst_429: range = range(0),
    ) -> None:
        super().__init__(inner, burst_429=burst_429)
        self.open_streams = 0
        # A seeded share of answers is late (before or after the server acted), so timeouts happen
        # at the same requests however loaded the machine is.
        self.slow_rate = slow_rate
        self._rng = random.Random(seed)

    async def answer(self, request: httpx.Request) -> httpx.Response:
        read = (request.extensions.get("timeout") or {}).get("read")
        slow = self.slow_rate and self._rng.random() < self.slow_rate
        late_after_acting = self._rng.random() < 0.5
        try:
            with anyio.fail_after(read) if read else nullcontext():
                if slow and not late_after_acting and read:
                    await anyio.sleep(read * 2)
                response = await self.inner.handle_async_request(request)
                body = await response.aread()
                if slow and read:
                    await anyio.sleep(read * 2)
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the response", request=request) from None
        headers = [
            (k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=_CountedStream(self, body),
            request=request,
        )


def tracked_client(
    fake: FakeClickFunnels, *, slow_rate: float = 0.0, burst_429: range = range(0), **kwargs: Any
) -> tuple[ClickFunnels, Tracking]:
    tracking = Tracking(
        fake.transport(), slow_rate=slow_rate, seed=len(fake.base_url), burst_429=burst_429
    )
    kwargs.setdefault("retry_policy", FAST)
    cf = ClickFunnels(
        api_token=fake.token,
        base_url=fake.base_url,
        http_client=httpx.AsyncClient(transport=tracking),
        **kwargs,
    )
    return cf, tracking


def _rows(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{"email_address": f"{prefix}{i}@example.com", "first_name": f"N{i}"} for i in range(n)]


def _emails(fake: FakeClickFunnels) -> Counter[str]:
    return Counter(rec["email_address"] for rec in fake.records("contacts"))


# ---------------------------------------------------------------------------------------------- faults


async def test_bulk_import_under_every_fault_loses_and_duplicates_nothing(
    anyio_backend: str,
) -> None:
    n = 400
    fake = FakeClickFunnels(
        seed=11,
        latency=0.006,
        jitter=0.006,
        error_rate=0.12,
        error_statuses=(500, 502, 503),
        drop_rate=0.05,
        rate_limit=250,
    )
    # One answer in ten comes later than the 50 ms read timeout. (Waiting for pacing is bounded by the pool timeout: 30 s.)
    cf, tracking = tracked_client(
        fake,
        max_retries=15,
        timeout=httpx.Timeout(0.05, pool=30.0),
        slow_rate=0.1,
        burst_429=range(250, 253),
    )
    rows = _rows(n, "import")
    results: dict[int, Any] = {}
    with anyio.fail_after(40):
        async with (
            fake,
            cf,
            bulk.run(cf.contacts.upsert, rows, concurrency=32, workspace_id=42) as run,
        ):
            async for result in run:
                assert result.index not in results, "two results for one input"
                results[result.index] = result
    assert sorted(results) == list(range(n))
    failed = {i: r.error for i, r in results.items() if not r.ok}
    assert not failed, f"upserts failed despite 15 retries: {failed}"
    assert run.summary.ok
    emails = _emails(fake)
    for row in rows:
        assert emails[row["email_address"]] == 1, row["email_address"]
    assert sum(emails.values()) == n  # nothing created twice under another address either
    # The run really met every kind of fault.
    for kind in (429, 500, 502, 503, "dropped", "timeout"):
        assert tracking.statuses[kind] > 0, (kind, tracking.statuses)
    assert tracking.open_streams == 0


async def test_exhausted_retries_are_reported_never_swallowed(
    anyio_backend: str, tmp_path: Path
) -> None:
    n = 120
    fake = FakeClickFunnels(seed=12, error_rate=0.5, error_statuses=(500, 502))
    cf, _tracking = tracked_client(fake, max_retries=1)
    failures = tmp_path / "failed.jsonl"
    with anyio.fail_after(20):
        async with fake, cf:
            summary = await bulk.execute(
                cf.contacts.upsert,
                _rows(n, "x"),
                concurrency=16,
                failures=failures,
                workspace_id=42,
            )
            outcomes: list[Any] = []
            async with bulk.run(
                cf.contacts.upsert, _rows(40, "y"), concurrency=8, workspace_id=42
            ) as run:
                async for result in run:
                    outcomes.append(result)
    assert summary.succeeded + summary.failed == n
    assert 0 < summary.failed < n  # ~25 % fail twice in a row at a 50 % error rate
    assert len(failures.read_text().splitlines()) == summary.failed
    for result in outcomes:
        if not result.ok:
            assert isinstance(result.error, InternalServerError)
            assert result.error.retries == 1
            assert result.error.status_code in (500, 502)
    # Injected errors happen before any write: the store holds exactly the inputs that succeeded.
    succeeded = {r.input["email_address"] for r in outcomes if r.ok}
    stored_y = {e for e in _emails(fake) if e.startswith("y")}
    assert stored_y == succeeded

    # A pagination that runs out of retries raises at the page that failed, with the retries taken.
    fake2 = FakeClickFunnels(seed=13)
    fake2.seed(contacts=100)
    cf2, _ = tracked_client(fake2, max_retries=2)
    seen: list[int] = []
    async with fake2, cf2:
        with pytest.raises(InternalServerError) as info:
            async for page in cf2.contacts.list(42).pages():
                seen += [c.id for c in page.items]
                fake2.faults(error_rate=1.0, error_statuses=(502,))
        assert info.value.retries == 2 and "HTML" in info.value.message
        assert seen == list(range(1, 21))
        # Dropped connections until the end: a connection error, also with the retries taken.
        fake2.faults(error_rate=0.0, drop_rate=1.0)
        with pytest.raises(APIConnectionError) as dropped:
            await cf2.contacts.get(1)
        assert dropped.value.retries == 2
        # A create whose connection dropped is not repeated (it may have been applied): reported at once.
        with pytest.raises(APIConnectionError) as create:
            await cf2.contacts.create(42, email_address="once@example.com")
        assert create.value.retries == 0


@pytest.mark.parametrize("prefetch", [False, True])
async def test_long_paginations_under_faults_see_every_item_once(
    anyio_backend: str, prefetch: bool
) -> None:
    total = 1000
    fake = FakeClickFunnels(
        seed=14, latency=0.003, jitter=0.003, error_rate=0.15, drop_rate=0.05, rate_limit=60
    )  # the limit's 429s come on a fast machine; the transport's burst on any machine
    fake.seed(contacts=total)
    cf, tracking = tracked_client(
        fake,
        max_retries=15,
        timeout=httpx.Timeout(0.05, pool=30.0),
        slow_rate=0.08,
        burst_429=range(120, 123),
    )
    orders = ["asc", "desc", "asc", "desc"]
    got: dict[int, list[int]] = {}

    async def walk(k: int) -> None:
        ids: list[int] = []
        paginator = cf.contacts.list(42, sort_order=orders[k], prefetch=prefetch)
        if prefetch:
            async with paginator as items:
                async for contact in items:
                    ids.append(contact.id)
        else:
            async for contact in paginator:
                ids.append(contact.id)
        got[k] = ids

    with anyio.fail_after(50):
        async with fake, cf, anyio.create_task_group() as group:
            for k in range(len(orders)):  # concurrent walks: the 429 bursts are shared
                group.start_soon(walk, k)
    expected = list(range(1, total + 1))
    for k, ids in got.items():
        assert ids == (expected if orders[k] == "asc" else expected[::-1]), k
    for kind in (429, "dropped", "timeout"):
        assert tracking.statuses[kind] > 0, (kind, tracking.statuses)
    assert tracking.statuses[500] + tracking.statuses[502] + tracking.statuses[503] > 0
    assert tracking.open_streams == 0


# ---------------------------------------------------------------------------------------------- cancellation


async def _random_work(cf: ClickFunnels, rng: random.Random, tag: str) -> None:
    kind = rng.choice(["get", "list", "prefetch", "upsert", "create", "pages"])
    try:
        if kind == "get":
            await cf.contacts.get(rng.randint(1, 150))
        elif kind == "list":
            await cf.contacts.list(42, limit=rng.randint(1, 120)).to_list()
        elif kind == "prefetch":
            async with cf.contacts.list(42, prefetch=True, limit=100) as items:
                async for _ in items:
                    pass
        elif kind == "pages":
            async for _page in cf.contacts.list(42, sort_order="desc").pages():
                await anyio.sleep(0)
        elif kind == "upsert":
            await cf.contacts.upsert(42, email_address=f"{tag}@example.com", first_name="C")
        else:
            await cf.contacts.create(42, email_address=f"{tag}-new@example.com")
    except ClickFunnelsError:
        pass  # faults are on: failures are fine here, leaks are not


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_cancellation_leaves_nothing_open(anyio_backend: str, seed: int) -> None:
    rng = random.Random(seed)
    fake = FakeClickFunnels(
        seed=seed, latency=0.003, jitter=0.003, error_rate=0.1, drop_rate=0.03, rate_limit=400
    )
    fake.seed(contacts=150)
    cf, tracking = tracked_client(fake, max_retries=3, max_concurrency=6)
    throttle = cf._core._shared.throttle
    with anyio.fail_after(30):
        async with fake, cf:
            for round_ in range(30):
                async with anyio.create_task_group() as group:
                    for k in range(rng.randint(1, 12)):
                        group.start_soon(_random_work, cf, rng, f"s{seed}r{round_}k{k}")
                    await anyio.sleep(rng.uniform(0, 0.025))
                    group.cancel_scope.cancel()
                assert tracking.open_streams == 0, f"round {round_}: a response was left open"
                assert throttle.in_use == 0, f"round {round_}: a concurrency slot was kept"
            fake.faults(error_rate=0.0, drop_rate=0.0, rate_limit=None)
            assert (await cf.contacts.get(1)).id == 1
            assert len(await cf.contacts.list(42, limit=50).to_list()) == 50
    assert tracking.open_streams == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs in an asyncio loop only
async def test_random_cancellation_over_sockets_leaves_no_busy_connection(
    anyio_backend: str,
) -> None:
    rng = random.Random(99)
    fake = FakeClickFunnels(seed=5, latency=0.003, jitter=0.003, error_rate=0.1, drop_rate=0.03)
    fake.seed(contacts=150)
    with anyio.fail_after(40):
        async with fake, fake.serve() as url:
            cf = ClickFunnels(
                api_token=fake.token,
                base_url=url,
                retry_policy=FAST,
                max_retries=3,
                max_concurrency=8,
            )
            transport = cf._core._shared.http._transport  # type: ignore[attr-defined]
            async with cf:
                await cf.contacts.get(1)
                assert transport.layer == "aiohttp"
                connector = transport._inner._session.connector
                for round_ in range(20):
                    async with anyio.create_task_group() as group:
                        for k in range(rng.randint(1, 10)):
                            group.start_soon(_random_work, cf, rng, f"net{round_}k{k}")
                        await anyio.sleep(rng.uniform(0, 0.03))
                        group.cancel_scope.cancel()
                    await anyio.sleep(0)  # aiohttp hands back a connection on the next loop turn
                    busy = list(connector._acquired)
                    assert not busy, f"round {round_}: {busy}"
                    assert not any(connector._waiters.values()), (
                        f"round {round_}: requests still queued in the pool"
                    )
                fake.faults(error_rate=0.0, drop_rate=0.0)
                assert (await cf.contacts.get(2)).id == 2


# ---------------------------------------------------------------------------------------------- timeouts


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts, reads the request and never answers (works under asyncio and trio)."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                while await stream.receive():
                    pass
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                pass

    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            group.cancel_scope.cancel()


BACKOFF = RetryPolicy(initial_delay=0.05, max_delay=0.05, jitter=0.0)


@pytest.mark.parametrize(("max_retries", "method"), [(0, "get"), (2, "get"), (2, "create")])
async def test_timeout_is_honoured_against_a_silent_server(
    anyio_backend: str, max_retries: int, method: str
) -> None:
    async with silent_server() as url:
        cf = ClickFunnels(
            api_token="cf_timeout_test_token",
            base_url=url,
            retry_policy=BACKOFF,
            max_retries=max_retries,
        )
        fast = cf.with_options(timeout=0.2)
        async with cf:
            started = time.monotonic()
            with anyio.fail_after(10), pytest.raises(APITimeoutError) as info:
                if method == "get":
                    await fast.contacts.get(1)
                else:
                    await fast.contacts.create(42, email_address="slow@example.com")
            elapsed = time.monotonic() - started
    # A create that timed out may have been processed: it is never sent again.
    attempts = 1 if method == "create" else max_retries + 1
    expected = 0.2 * attempts + 0.05 * (attempts - 1)
    assert info.value.retries == attempts - 1
    assert expected - 0.02 <= elapsed <= expected + 0.6, (elapsed, expected)


async def test_timeout_mid_pagination_raises_and_the_client_recovers(anyio_backend: str) -> None:
    fake = FakeClickFunnels(seed=21)
    fake.seed(contacts=60)
    cf, tracking = tracked_client(fake, retry_policy=BACKOFF, max_retries=1)
    fast = cf.with_options(timeout=0.2)
    pages = 0
    async with fake, cf:
        started = time.monotonic()
        with anyio.fail_after(10), pytest.raises(APITimeoutError):
            async for _page in fast.contacts.list(42).pages():
                pages += 1
                fake.faults(latency=5.0)
        elapsed = time.monotonic() - started
        assert pages == 1
        assert 0.4 <= elapsed <= 0.45 + 0.6, elapsed
        assert tracking.statuses["timeout"] == 2
        fake.faults(latency=0.0)
        assert len(await fast.contacts.list(42).to_list()) == 60
    assert tracking.open_streams == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # uvicorn runs in an asyncio loop only
async def test_timeout_against_the_slow_emulator_over_a_socket(anyio_backend: str) -> None:
    fake = FakeClickFunnels(seed=22, latency=3.0)
    async with fake, fake.serve() as url:
        cf = ClickFunnels(api_token=fake.token, base_url=url, retry_policy=BACKOFF, max_retries=1)
        async with cf:
            started = time.monotonic()
            with anyio.fail_after(10), pytest.raises(APITimeoutError) as info:
                await cf.with_options(timeout=0.2).contacts.list(42).to_list()
            elapsed = time.monotonic() - started
            assert info.value.retries == 1
            assert 0.43 <= elapsed <= 0.45 + 0.6, elapsed
            fake.faults(latency=0.0)
            fake.seed(contacts=3)
            assert len(await cf.contacts.list(42).to_list()) == 3

"""clickfunnels_async.bulk: one result per input, bounded memory, clean stops; against the emulator."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from _bursts import StatusCounter

from clickfunnels_async import APIStatusError, ClickFunnels, InternalServerError, RetryPolicy, bulk
from clickfunnels_async.testing import FakeClickFunnels

pytestmark = pytest.mark.anyio

FAST_RETRIES = RetryPolicy(initial_delay=0.002, max_delay=0.02, jitter=0.1)


def _rows(n: int, prefix: str = "p") -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"email_address": f"{prefix}{i}@example.com", "first_name": f"N{i}"}


# ---------------------------------------------------------------------------------------------- emulator


async def test_upsert_exactly_once_under_faults(anyio_backend: str, tmp_path: Path) -> None:
    n = 800
    fake = FakeClickFunnels(seed=7, error_rate=0.10, drop_rate=0.05, rate_limit=400)
    counter = StatusCounter(fake.transport(), burst_429=range(400, 403))
    http = httpx.AsyncClient(transport=counter)
    cf = ClickFunnels(
        api_token=fake.token,
        base_url=fake.base_url,
        http_client=http,
        retry_policy=FAST_RETRIES,
        max_retries=10,
    )
    failures = tmp_path / "failed.jsonl"
    seen: Counter[int] = Counter()
    with anyio.fail_after(15):
        async with cf:
            summary = await bulk.execute(
                cf.contacts.upsert,
                _rows(n),
                concurrency=32,
                workspace_id=fake.workspace_id,
                failures=failures,
                on_result=lambda r: seen.update([r.index]),
            )
    await http.aclose()
    assert set(seen) == set(range(n)) and max(seen.values()) == 1  # every input, exactly once
    assert summary.exhausted and summary.started == n and not summary.unfinished
    failed_lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert len(failed_lines) == summary.failed  # every failure accounted for
    emails = Counter(rec["email_address"] for rec in fake.records("contacts"))
    assert max(emails.values()) == 1  # drops after the write did not duplicate
    failed_emails = {line["input"]["email_address"] for line in failed_lines}
    for i in range(n):
        email = f"p{i}@example.com"
        assert email in emails or email in failed_emails
    assert summary.succeeded == len(emails)
    # The faults were really there, and were retried.
    assert counter.statuses[429] and counter.statuses["dropped"] and counter.statuses[503]


async def test_failed_inputs_carry_typed_error_and_rerun_from_file(
    anyio_backend: str, tmp_path: Path
) -> None:
    fake = FakeClickFunnels(seed=3)
    cf = fake.client(retry_policy=FAST_RETRIES, max_retries=1)
    failures = tmp_path / "failed.jsonl"
    async with cf:
        with fake.faults(error_rate=1.0, error_statuses=(503,)):
            async with bulk.run(
                cf.contacts.upsert, _rows(20), workspace_id=42, failures=failures, concurrency=4
            ) as results:
                got = [r async for r in results]
        assert all(isinstance(r, bulk.Failed) for r in got)
        first = got[0]
        assert isinstance(first, bulk.Failed)
        assert isinstance(first.error, InternalServerError) and first.error.status_code == 503
        assert first.input["email_address"].endswith("@example.com")
        assert results.summary.failed == 20 and not results.summary.ok
        records = [json.loads(line) for line in failures.read_text().splitlines()]
        assert {r["status"] for r in records} == {"failed"}
        assert records[0]["error"]["type"] == "InternalServerError"
        assert records[0]["error"]["status_code"] == 503
        # The same inputs again, from the file, now that the API is healthy.
        summary = await bulk.execute(
            cf.contacts.upsert, bulk.read_failures(failures), workspace_id=42
        )
    assert summary.succeeded == 20 and summary.ok
    assert len(fake.records("contacts")) == 20


async def test_validation_errors_fail_the_input_not_the_run(anyio_backend: str) -> None:
    fake = FakeClickFunnels()
    async with fake.client() as cf:
        rows = [{"email_address": "ok@example.com"}, {"bogus": 1}, {"first_name": "no email"}]
        summary_results: list[bulk.Succeeded[Any, Any] | bulk.Failed[Any]] = []
        summary = await bulk.execute(
            cf.contacts.upsert,
            rows,
            workspace_id=42,
            ordered=True,
            on_result=summary_results.append,
        )
    assert [r.ok for r in summary_results] == [True, False, False]
    assert isinstance(summary_results[1], bulk.Failed) and isinstance(
        summary_results[1].error, TypeError
    )
    assert isinstance(summary_results[2], bulk.Failed) and isinstance(
        summary_results[2].error, APIStatusError
    )
    assert summary_results[2].error.status_code == 422
    assert summary.succeeded == 1 and summary.failed == 2


async def test_shares_the_clients_concurrency_cap(anyio_backend: str) -> None:
    fake = FakeClickFunnels(latency=0.002)
    peak = 0
    running = 0

    class Counting(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = fake.transport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal peak, running
            running += 1
            peak = max(peak, running)
            try:
                return await self.inner.handle_async_request(request)
            finally:
                running -= 1

    http = httpx.AsyncClient(transport=Counting())
    async with ClickFunnels(
        api_token=fake.token, base_url=fake.base_url, http_client=http, max_concurrency=3
    ) as cf:
        summary = await bulk.execute(cf.contacts.upsert, _rows(60), concurrency=20, workspace_id=42)
    await http.aclose()
    assert summary.succeeded == 60
    assert peak <= 3


# ---------------------------------------------------------------------------------------------- mechanics


async def _echo(x: int, *, scale: int = 1) -> int:
    await anyio.sleep(random.random() * 0.002)
    if x % 5 == 0:
        raise ValueError(f"bad {x}")
    return x * scale


async def test_ordered_mode_keeps_input_order_with_a_bounded_buffer(anyio_backend: str) -> None:
    outstanding = 0
    peak = 0
    read = 0

    def inputs() -> Iterator[int]:
        nonlocal read, outstanding, peak
        for i in range(300):
            read += 1
            outstanding += 1
            peak = max(peak, outstanding)
            yield i

    async def slow_head(x: int) -> int:
        # Input 0 is much slower than the rest: everything after it must wait in the reorder buffer.
        await anyio.sleep(0.05 if x == 0 else random.random() * 0.001)
        return x

    indices = []
    async with bulk.run(slow_head, inputs(), concurrency=8, buffer_size=4, ordered=True) as results:
        async for result in results:
            outstanding -= 1
            indices.append(result.index)
            assert isinstance(result, bulk.Succeeded) and result.value == result.index
    assert indices == list(range(300))
    assert peak <= 8 + 4  # in flight + waiting for the consumer, never more


async def test_completion_order_by_default_and_extra_kwargs(anyio_backend: str) -> None:
    async def delayed(x: int, *, scale: int) -> int:
        await anyio.sleep(0.03 if x == 0 else 0)
        return x * scale

    async with bulk.run(delayed, range(10), concurrency=10, scale=3) as results:
        got = [r async for r in results]
    assert got[-1].index == 0  # the slow one finished last and was not held back
    assert sorted(r.value for r in got if isinstance(r, bulk.Succeeded)) == [
        x * 3 for x in range(10)
    ]


async def test_endless_input_is_read_lazily_and_break_stops_cleanly(anyio_backend: str) -> None:
    read = 0

    def endless() -> Iterator[dict[str, int]]:
        nonlocal read
        for i in itertools.count():
            read += 1
            yield {"x": i}

    received = 0
    with anyio.fail_after(5):
        async with bulk.run(_echo, endless(), concurrency=16, buffer_size=16) as results:
            async for _ in results:
                received += 1
                assert read <= received + 32
                if received == 500:
                    break
    summary = results.summary
    assert not summary.exhausted and summary.interrupted
    assert summary.started == read
    assert summary.done + len(summary.unfinished) == summary.started
    assert summary.next_index == read


async def test_async_iterable_input(anyio_backend: str) -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(50):
            await anyio.sleep(0)
            yield i

    summary = await bulk.execute(_echo, source(), concurrency=5)
    assert summary.done == 50 and summary.failed == 10 and summary.exhausted


async def test_cancel_scope_mid_run_reports_done_and_not_done(
    anyio_backend: str, tmp_path: Path
) -> None:
    async def slow(x: int) -> int:
        await anyio.sleep(0.001 if x < 40 else 10)
        return x

    failures = tmp_path / "failed.jsonl"
    results = bulk.run(slow, range(1000), concurrency=10, failures=failures)
    with anyio.move_on_after(0.5) as scope:
        async with results:
            async for _ in results:
                pass
    assert scope.cancelled_caught
    summary = results.summary
    assert summary.succeeded == 40 and summary.failed == 0
    assert [i for i, _ in summary.unfinished] == list(range(40, 50))
    assert summary.started == 50 and not summary.exhausted and summary.interrupted
    assert "cut short" in str(summary)
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert [(r["status"], r["input"]) for r in lines] == [("unfinished", i) for i in range(40, 50)]


async def test_consumer_error_propagates_unwrapped_and_cancels_workers(anyio_backend: str) -> None:
    finished = []

    async def work(x: int) -> int:
        await anyio.sleep(0 if x == 0 else 5)
        finished.append(x)
        return x

    with anyio.fail_after(3), pytest.raises(KeyError):
        async with bulk.run(work, range(100), concurrency=4) as results:
            async for _ in results:
                raise KeyError("boom")
    assert finished == [0]
    summary = results.summary
    assert summary.succeeded == 1 and len(summary.unfinished) == summary.started - 1


async def test_bad_input_raises_after_earlier_results(anyio_backend: str) -> None:
    def rows() -> Iterator[int]:
        yield from range(7)
        raise OSError("disk on fire")

    got = []
    with pytest.raises(bulk.BulkInputError) as info:
        async with bulk.run(_echo, rows(), concurrency=3) as results:
            async for result in results:
                got.append(result.index)
    assert sorted(got) == list(range(7))
    assert info.value.index == 7 and isinstance(info.value.error, OSError)
    assert info.value.summary is not None and info.value.summary.done == 7
    assert not results.summary.ok


async def test_progress_callback_sync_and_async(anyio_backend: str) -> None:
    seen: list[bulk.Progress] = []

    async def on_progress(p: bulk.Progress) -> None:
        seen.append(p)

    summary = await bulk.execute(_echo, range(30), concurrency=4, on_progress=on_progress)
    assert len(seen) == 30 and seen[-1].done == 30 and seen[-1].failed == 6
    assert all(b.done >= a.done for a, b in itertools.pairwise(seen))
    assert summary.rate > 0 and summary.elapsed > 0
    counts: list[int] = []
    await bulk.execute(_echo, range(5), on_progress=lambda p: counts.append(p.done))
    assert len(counts) == 5 and counts[-1] == 5 and counts == sorted(counts)


async def test_inputs_as_call_and_plain_values(anyio_backend: str) -> None:
    async def f(a: int, b: int = 0, *, c: int = 0) -> tuple[int, int, int]:
        return (a, b, c)

    async with bulk.run(f, [bulk.Call(1, 2, c=3), 4, bulk.Call(5)], ordered=True, c=9) as results:
        values = [r.value async for r in results if isinstance(r, bulk.Succeeded)]
    assert values == [(1, 2, 3), (4, 0, 9), (5, 0, 9)]


async def test_misuse_is_reported(anyio_backend: str) -> None:
    with pytest.raises(ValueError):
        bulk.run(_echo, [1], concurrency=0)
    with pytest.raises(TypeError):
        bulk.run(_echo, 5)  # type: ignore[arg-type]
    results = bulk.run(_echo, [1, 2])
    with pytest.raises(RuntimeError, match="inside the block"):
        await results.__anext__()
    with pytest.raises(RuntimeError, match="summary"):
        _ = results.summary
    async with results:
        pass
    with pytest.raises(RuntimeError, match="only once"):
        async with results:
            pass
    assert results.summary.started <= 2


async def test_empty_input(anyio_backend: str) -> None:
    summary: bulk.Summary[int] = await bulk.execute(_echo, [])
    assert summary.ok and summary.done == 0 and summary.exhausted and not summary.interrupted

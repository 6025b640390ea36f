"""RedisEventStore and RedisCheckpoint (with bulk's shard=/checkpoint=) against a real Redis server."""

from __future__ import annotations

import logging
import uuid

import anyio
import pytest
import redis.asyncio

from clickfunnels_async import bulk
from clickfunnels_async.redis import RedisCheckpoint, RedisEventStore, RedisUnavailableError

pytestmark = pytest.mark.anyio


def _prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


async def test_concurrent_claims_on_two_stores_give_one_new(redis_url: str) -> None:
    prefix = _prefix()
    a, b = RedisEventStore(redis_url, prefix=prefix), RedisEventStore(redis_url, prefix=prefix)
    states: list[str] = []

    async def claim(store: RedisEventStore) -> None:
        states.append(await store.claim("evt-1"))

    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(claim, a if i % 2 else b)
    assert sorted(set(states)) == ["in_flight", "new"] and states.count("new") == 1
    owner = a if "evt-1" in a._marks else b
    other = b if owner is a else a
    await other.release("evt-1")  # not its claim: nothing changes
    assert await a.claim("evt-1") == "in_flight"
    await owner.complete("evt-1")
    assert await a.claim("evt-1") == "done" and await b.claim("evt-1") == "done"
    await a.aclose()
    await b.aclose()


async def test_release_lets_the_redelivery_be_handled(redis_url: str) -> None:
    store = RedisEventStore(redis_url, prefix=_prefix())
    assert await store.claim("e") == "new"
    await store.release("e")
    assert await store.claim("e") == "new"
    await store.aclose()


async def test_an_expired_lease_counts_as_unknown(redis_url: str) -> None:
    store = RedisEventStore(redis_url, prefix=_prefix(), lease=0.05)
    other = RedisEventStore(redis_url, prefix=store.prefix, lease=0.05)
    assert await store.claim("e") == "new"
    state = await other.claim("e")
    with anyio.fail_after(10):
        while state == "in_flight":
            await anyio.sleep(0.02)
            state = await other.claim("e")
    assert state == "new"
    # The first worker's late release must not drop the second worker's claim.
    await store.release("e")
    assert await store.claim("e") == "in_flight"
    await store.aclose()
    await other.aclose()


async def test_done_marks_expire_after_ttl(redis_url: str) -> None:
    store = RedisEventStore(redis_url, prefix=_prefix(), ttl=60)
    assert await store.claim("e") == "new"
    await store.complete("e")
    ttl_ms = await store._redis.pttl(store.prefix + "e")
    assert 0 < ttl_ms <= 60_000
    await store.aclose()


async def test_unreachable_redis_claim_raises_without_the_password(
    dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = dead_redis_url.replace("redis://", "redis://:s3cret-pw@")
    store = RedisEventStore(url, timeout=0.5)
    with pytest.raises(RedisUnavailableError) as info:
        await store.claim("e")
    assert "s3cret-pw" not in str(info.value) and info.value.__cause__ is None
    assert "127.0.0.1" in str(info.value)
    with caplog.at_level(logging.WARNING, logger="clickfunnels_async"):
        await store.complete("e")  # logged, not raised: the handler already ran
    assert "s3cret-pw" not in caplog.text and "could not mark webhook e done" in caplog.text
    assert "s3cret-pw" not in repr(store)
    await store.aclose()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="Redis URL"):
        RedisEventStore("localhost:6379")
    with pytest.raises(ValueError, match="lease"):
        RedisEventStore("redis://127.0.0.1:1/0", lease=0)
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        RedisCheckpoint(42, "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):
        RedisCheckpoint("redis://127.0.0.1:1/0", "")
    with pytest.raises(ValueError, match="shard"):
        bulk.run(_noop, [1], shard=(3, 3))
    with pytest.raises(ValueError, match="shard"):
        bulk.run(_noop, [1], shard=(0,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="checkpoint"):
        bulk.run(_noop, [1], checkpoint=object())  # type: ignore[arg-type]


async def _noop(x: object) -> object:
    return x


async def test_three_shards_split_the_inputs_without_overlap(redis_url: str) -> None:
    key = _prefix() + "job"
    calls: list[tuple[int, int]] = []

    async def worker(i: int) -> bulk.Summary[int]:
        async def work(x: int) -> int:
            calls.append((i, x))
            await anyio.sleep(0)
            return x

        checkpoint = RedisCheckpoint(redis_url, key)
        try:
            return await bulk.execute(
                work, range(30), concurrency=4, shard=(i, 3), checkpoint=checkpoint
            )
        finally:
            await checkpoint.aclose()

    summaries: dict[int, bulk.Summary[int]] = {}

    async def run(i: int) -> None:
        summaries[i] = await worker(i)

    async with anyio.create_task_group() as group:
        for i in range(3):
            group.start_soon(run, i)
    assert sorted(x for _, x in calls) == list(range(30))
    assert all(x % 3 == i for i, x in calls)
    for summary in summaries.values():
        assert (summary.succeeded, summary.skipped, summary.next_index, summary.ok) == (
            10,
            20,
            30,
            True,
        )
    checkpoint = RedisCheckpoint(redis_url, key)
    assert await checkpoint.confirmed_count() == 30
    await checkpoint.aclose()


async def test_a_rerun_skips_what_any_worker_confirmed(redis_url: str) -> None:
    key = _prefix() + "job"
    seen: list[int] = []

    async def flaky(x: int) -> int:
        seen.append(x)
        if x % 4 == 0:
            raise RuntimeError("boom")
        return x

    first = RedisCheckpoint(redis_url, key)
    summary = await bulk.execute(flaky, range(20), concurrency=3, checkpoint=first)
    assert (summary.succeeded, summary.failed) == (15, 5)
    await first.aclose()

    seen.clear()
    # Another worker, no shard: only the failed inputs are left for it, with their original indexes.
    second = RedisCheckpoint(redis_url, key)
    indexes: list[int] = []
    summary = await bulk.execute(
        flaky, range(20), checkpoint=second, on_result=lambda r: indexes.append(r.index)
    )
    assert sorted(seen) == [0, 4, 8, 12, 16] and sorted(indexes) == [0, 4, 8, 12, 16]
    assert summary.skipped == 15 and "15 skipped" in str(summary)
    await second.aclose()


async def test_an_unreadable_checkpoint_fails_before_any_call(dead_redis_url: str) -> None:
    called: list[int] = []

    async def work(x: int) -> None:
        called.append(x)

    checkpoint = RedisCheckpoint(dead_redis_url, "job", timeout=0.5)
    with pytest.raises(RedisUnavailableError, match="checkpoint 'job'"):
        await bulk.execute(work, range(5), checkpoint=checkpoint)
    assert called == []
    await checkpoint.aclose()


async def test_a_lost_confirmation_is_logged_once_and_the_run_goes_on(
    redis_url: str, dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = RedisCheckpoint(redis_url, _prefix() + "job")
    live = checkpoint._redis

    async def work(x: int) -> int:
        if x == 2:  # Redis goes away in the middle of the run
            checkpoint._redis = redis.asyncio.Redis.from_url(
                dead_redis_url, socket_connect_timeout=0.5
            )
        return x

    with caplog.at_level(logging.WARNING, logger="clickfunnels_async"):
        summary = await bulk.execute(work, range(6), concurrency=1, checkpoint=checkpoint)
    assert summary.succeeded == 6
    assert caplog.text.count("could not record confirmed inputs") == 1
    assert await live.bitcount(checkpoint.key) == 2  # the two confirmed before
    await checkpoint.aclose()
    await live.aclose()

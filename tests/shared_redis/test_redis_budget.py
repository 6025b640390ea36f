"""RedisRateBudget against a real Redis server: one rate for every instance sharing a key."""

from __future__ import annotations

import itertools
import logging
import math
import statistics
import uuid

import anyio
import pytest

from clickfunnels_async.redis import RedisRateBudget, RedisUnavailableError

pytestmark = pytest.mark.anyio


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_starts_are_spaced_across_instances(redis_url: str) -> None:
    key = _key()
    a = RedisRateBudget(redis_url, key=key, requests_per_second=10)
    b = RedisRateBudget(redis_url, key=key, requests_per_second=10)
    assert await a.try_start() == 0.0
    wait = await b.try_start()  # the other process: its start is 1/10 s away, nothing reserved
    assert 0.0 < wait <= 0.1
    assert 0.0 < await b.try_start() <= 0.1  # asking again grants nothing early
    await a.aclose()
    await b.aclose()


async def test_processes_that_keep_asking_are_served_in_turn(redis_url: str) -> None:
    key = _key()
    a = RedisRateBudget(redis_url, key=key, requests_per_second=10)
    b = RedisRateBudget(redis_url, key=key, requests_per_second=10)
    assert await a.try_start() == 0.0
    wait_b = await b.try_start()  # b's turn is reserved: the next start, 1/10 s away
    wait_a = await a.try_start()  # a asks again at once: its turn comes after b's, not before
    assert 0.0 < wait_b <= 0.1 and wait_b + 0.05 < wait_a <= 0.2
    await anyio.sleep(wait_b)
    assert await b.try_start() == 0.0  # b comes back at its turn: granted
    assert await a.try_start() > 0.0  # a's turn is not due yet
    # A 429 moves the reserved turns that have not happened behind its hold.
    await b.on_rate_limited(None)
    assert await a.try_start() > wait_a
    await a.aclose()
    await b.aclose()


async def test_a_429_seen_by_one_instance_cuts_the_rate_of_all(redis_url: str) -> None:
    key = _key()
    # Every start asks Redis (no unpaced starts granted locally), so all 20 are counted at once.
    a = RedisRateBudget(redis_url, key=key, sync_interval=1e-9)
    b = RedisRateBudget(redis_url, key=key, sync_interval=1e-9)
    granted = 0
    for i in range(20):  # unpaced: every start is granted, and counted
        granted += (await (a if i % 2 else b).try_start()) == 0.0
    assert granted == 20 and a.rate is None
    await a.on_rate_limited(None)
    await b.try_start()
    assert b.rate is None  # one 429 among 20 starts: sporadic, nothing paced
    for _ in range(3):  # four refused of 20: a limit
        await a.on_rate_limited(None)
    await b.try_start()
    # 95 % of what the server took of the last second's 21 starts (b's after the first 429 counts too;
    # fewer, if the machine took over a second for them).
    assert b.rate is not None and 1.0 <= b.rate <= 0.95 * 17
    cut = b.rate
    # Successes raise it again, applied by the next call; they count on whichever instance saw them.
    for _ in range(10):
        await a.on_success()
    await a.try_start()
    assert a.rate is not None and a.rate > cut
    await b.try_start()
    assert b.rate == a.rate or (b.rate is not None and b.rate > cut)
    await a.aclose()
    await b.aclose()


async def test_retry_after_pauses_every_instance(redis_url: str) -> None:
    key = _key()
    a = RedisRateBudget(redis_url, key=key)
    b = RedisRateBudget(redis_url, key=key, sync_interval=0.05)
    assert await b.try_start() == 0.0
    await a.on_rate_limited(30.0)
    # Unpaced, b grants its own starts for up to sync_interval before it asks Redis again.
    await anyio.sleep(0.06)
    assert 29.0 < await b.try_start() <= 30.0
    assert 29.0 < await b.try_start() <= 30.0
    await a.aclose()
    await b.aclose()


async def test_starts_granted_locally_are_reported_with_the_next_call(redis_url: str) -> None:
    key = _key()
    a = RedisRateBudget(redis_url, key=key, sync_interval=3600)
    for _ in range(30):
        assert await a.try_start() == 0.0
    b = RedisRateBudget(redis_url, key=key, sync_interval=1e-9)
    await a.on_rate_limited(None)  # reports a's 29 local starts: one 429 among 30, nothing paced
    assert a.rate is None
    for _ in range(3):  # four among the 30 observed: a limit
        await a.on_rate_limited(None)
    await b.try_start()
    assert b.rate is not None and 20 <= b.rate <= 0.95 * 26
    await a.aclose()
    await b.aclose()


async def test_different_keys_are_independent(redis_url: str) -> None:
    a = RedisRateBudget(redis_url, key=_key(), requests_per_second=1)
    b = RedisRateBudget(redis_url, key=_key(), requests_per_second=1)
    assert await a.try_start() == 0.0 and await b.try_start() == 0.0
    await a.aclose()
    await b.aclose()


async def test_unreachable_redis_falls_back_and_logs_once(
    dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = dead_redis_url.replace("redis://", "redis://:s3cret-pw@")
    budget = RedisRateBudget(url, key="team-1", timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="clickfunnels_async"):
        assert await budget.try_start() == 0.0  # in-process pacing, unpaced: granted
        for _ in range(5):
            await budget.try_start()
            await budget.on_success()
        await budget.on_rate_limited(None)
    assert not budget.shared
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1 and "s3cret-pw" not in caplog.text
    assert "s3cret-pw" not in repr(budget)
    await budget.aclose()


async def test_fail_closed_raises_instead(dead_redis_url: str) -> None:
    budget = RedisRateBudget(
        dead_redis_url.replace("redis://", "redis://:s3cret-pw@"),
        key="team-1",
        fail_closed=True,
        timeout=0.5,
    )
    with pytest.raises(RedisUnavailableError) as info:
        await budget.try_start()
    assert "s3cret-pw" not in str(info.value) and "team-1" in str(info.value)
    await budget.aclose()


async def test_back_on_redis_when_it_answers_again(
    redis_url: str, dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio

    key = _key()
    budget = RedisRateBudget(redis_url, key=key, requests_per_second=5, reconnect_after=0.01)
    live = budget._redis
    budget._redis = redis.asyncio.Redis.from_url(dead_redis_url, socket_connect_timeout=0.5)
    budget._script = budget._redis.register_script(budget._script.script)
    with caplog.at_level(logging.WARNING, logger="clickfunnels_async"):
        assert await budget.try_start() == 0.0
        assert not budget.shared
        budget._redis, budget._script = live, live.register_script(budget._script.script)
        budget._down_until = 0.0
        await budget.try_start()
    assert budget.shared and "answers again" in caplog.text
    # That start was counted in Redis: another instance must wait for its turn.
    other = RedisRateBudget(redis_url, key=key, requests_per_second=5)
    assert await other.try_start() > 0.0
    await other.aclose()
    await budget.aclose()


def test_bad_arguments_are_refused() -> None:
    for kwargs, match in (
        ({"key": ""}, "key"),
        ({"key": "k", "requests_per_second": 0}, "requests_per_second"),
        ({"key": "k", "timeout": 0}, "timeout"),
        ({"key": "k", "min_rate": -1}, "min_rate"),
    ):
        with pytest.raises(ValueError, match=match):
            RedisRateBudget("redis://127.0.0.1:1/0", **kwargs)  # type: ignore[arg-type]


async def _serve(
    budget: RedisRateBudget, seconds: float, refuse_every: int = 0
) -> list[tuple[float, float]]:
    """Start requests as fast as `budget` allows for `seconds`, every `refuse_every`-th one answered 429
    and the others 2xx at once: (seconds since the start, shared rate) after each answer."""
    rates: list[tuple[float, float]] = []
    granted = 0
    started = anyio.current_time()
    while (now := anyio.current_time()) < started + seconds:
        wait = await budget.try_start()
        if wait > 0:
            await anyio.sleep(wait)
            continue
        granted += 1
        if refuse_every and granted % refuse_every == 0:
            await budget.on_rate_limited(None)
        else:
            await budget.on_success()
        rate = math.inf if budget.rate is None else budget.rate  # unpaced: not held at all
        rates.append((now - started, rate))
    return rates


async def _limited_at_100(redis_url: str) -> RedisRateBudget:
    # 100 unpaced starts, then 429s for a tenth of them: a limit met at ~90/s (every start asks Redis).
    budget = RedisRateBudget(redis_url, key=_key(), sync_interval=1e-9)
    for _ in range(100):
        assert await budget.try_start() == 0.0
    for _ in range(10):
        await budget.on_rate_limited(None)
    assert budget.rate == pytest.approx(0.95 * 90)
    # The hold (until the last second has room), then a full second at the rate allowed.
    await _serve(budget, 2.0)
    return budget


async def test_sporadic_429s_cut_the_shared_rate_by_their_share_only(redis_url: str) -> None:
    # 3 % of the starts refused, at any rate (a proxy or a loaded API). Each cut used to take 5 % off and
    # restart the raise from a gentle step, so a fleet sharing the budget sank second by second (to ~82/s
    # after 6 s here, and on); now each takes about the share refused and the raise comes back at once.
    budget = await _limited_at_100(redis_url)
    before = budget.rate
    assert before is not None
    rates = await _serve(budget, 6.0, refuse_every=33)
    cuts = sum(1 for (_, r0), (_, r1) in itertools.pairwise(rates) if r1 < r0)
    assert cuts >= 4  # it was cut, over and over
    late = [rate for t, rate in rates if t >= 4.0]
    assert statistics.median(late) >= 0.95 * before
    await budget.aclose()


async def test_a_limit_met_by_the_fleet_still_cuts_deeply(redis_url: str) -> None:
    budget = await _limited_at_100(redis_url)
    before = budget.rate
    assert before is not None
    # A third of the starts refused for over a second: a limit, cut below what the server took.
    rates = await _serve(budget, 1.3, refuse_every=3)
    assert min(rate for _, rate in rates) <= 0.95 * (1 - 0.25) * before
    await budget.aclose()


@pytest.mark.parametrize(
    ("starts", "successes", "refused", "rate"), [(95, 50, 45, 0.95 * 50), (300, 250, 9, None)]
)
async def test_the_429s_answering_a_first_burst_decide_if_it_was_a_limit(
    redis_url: str, starts: int, successes: int, refused: int, rate: float | None
) -> None:
    # A cold burst shared by two instances: the first 429 comes while most of it is in flight and paces
    # nothing. If the burst's 429s reach a limit's share within its second (a server taking 50 of 95),
    # the cut is made, and made again from what the server took as the others come in; a few % refused
    # (at random) leave it unpaced.
    key = _key()
    a = RedisRateBudget(redis_url, key=key, sync_interval=1e-9)
    b = RedisRateBudget(redis_url, key=key, sync_interval=1e-9)
    for i in range(starts):
        assert await (a if i % 2 else b).try_start() == 0.0
    for _ in range(successes):  # applied by a's next call, the first 429's
        await a.on_success()
    for i in range(refused):
        await (b if i % 2 else a).on_rate_limited(None)
        if i == 0:
            assert a.rate is None
    await a.try_start()
    if rate is None:
        assert a.rate is None
    else:
        assert a.rate == pytest.approx(rate, rel=0.02)
    await a.aclose()
    await b.aclose()


async def test_429s_answering_starts_over_a_second_old_still_show_a_limit(redis_url: str) -> None:
    # Nothing started in the last second (the answers were slower than that): the share of the last
    # second's answers that were refused tells, as in one process.
    budget = RedisRateBudget(redis_url, key=_key(), sync_interval=1e-9)
    for _ in range(3):
        await budget.on_rate_limited(None)
    assert budget.rate is None  # three are chance
    await budget.on_rate_limited(None)
    assert budget.rate == 1.0  # four and no success: a limit, paced at the floor
    await budget.aclose()

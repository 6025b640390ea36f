"""Pacing that never starves: FIFO service, re-planning on rate changes, waits bounded by the timeout.

Every scenario runs on a virtual clock (exact and independent of the machine's speed), on both anyio
backends.
"""

from __future__ import annotations

import collections
import random
import statistics
from typing import Any

import anyio
import httpx
import pytest
from _vtime import VirtualTime, run_with_time

from clickfunnels_async import APITimeoutError, ClickFunnels, ClickFunnelsConfigError, RateBudget
from clickfunnels_async._pacing import InProcessRateBudget
from clickfunnels_async._throttle import Throttle
from clickfunnels_async._transport import RetryPolicy, send

pytestmark = pytest.mark.anyio

URL = "https://acme.myclickfunnels.com/api/v2/contacts/1"


async def call(
    http: httpx.AsyncClient,
    throttle: Throttle,
    vt: VirtualTime,
    rng: random.Random,
    *,
    max_retries: int = 2,
    timeout: float = 1000.0,
) -> httpx.Response:
    request = http.build_request("GET", URL, timeout=timeout)
    response, _ = await send(
        http,
        request,
        policy=RetryPolicy(max_retries=max_retries),
        idempotent=True,
        throttle=throttle,
        sleep=vt.sleep,
        rng=rng,
    )
    return response


async def test_after_a_short_burst_of_429s_a_hundred_calls_finish_within_seconds() -> None:
    # The server refuses everything for 0.5 s (no Retry-After, as ClickFunnels), then takes everything.
    # One caller meets the burst alone (so the rate is cut to the floor); at its end 100 tasks each make
    # one call. Reservations made at the collapsed rate used to keep them waiting ~100 s.
    vt = VirtualTime(settle=300)
    refused = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        await vt.sleep(0.02)
        if vt.now < 0.5:
            refused += 1
            return httpx.Response(429)
        return httpx.Response(200)

    throttle = Throttle(clock=vt.clock, sleep=vt.sleep)
    rng = random.Random(3)
    finished: list[float] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        async def one() -> None:
            response = await call(http, throttle, vt, rng)
            assert response.status_code == 200
            finished.append(vt.now)

        async def probe() -> None:
            await call(http, throttle, vt, rng, max_retries=20)

        async def hundred_at_burst_end() -> None:
            await vt.sleep(0.5)
            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(one)

        await run_with_time(vt, probe, hundred_at_burst_end)
    assert refused >= 1
    assert len(finished) == 100
    assert max(finished) <= 0.5 + 5.0


async def test_a_rate_limited_crowd_is_served_in_order_and_nobody_starves() -> None:
    # 60 tasks call in a loop for 12 s against a server that takes 25 requests per sliding second and
    # answers 429 (no Retry-After) above that.
    vt = VirtualTime(settle=120)
    accepted: collections.deque[float] = collections.deque()
    refused = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        now = vt.now
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        await vt.sleep(0.02)
        if len(accepted) >= 25:
            refused += 1
            return httpx.Response(429)
        accepted.append(now)
        return httpx.Response(200)

    throttle = Throttle(clock=vt.clock, sleep=vt.sleep)
    rng = random.Random(5)
    per_task: collections.Counter[int] = collections.Counter()
    latencies: list[float] = []
    successes: list[float] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        def worker(k: int) -> Any:
            async def run() -> None:
                while vt.now < 12.0:
                    started = vt.now
                    response = await call(http, throttle, vt, rng, max_retries=10)
                    if response.status_code == 200:
                        per_task[k] += 1
                        successes.append(vt.now)
                    latencies.append(vt.now - started)

            return run

        await run_with_time(vt, *[worker(k) for k in range(60)])
    assert refused > 0  # the limit was really hit
    counts = [per_task[k] for k in range(60)]
    assert min(counts) >= 0.5 * max(counts), counts  # no task gets 1 call while another gets 10
    latencies.sort()
    assert latencies[int(0.99 * len(latencies))] <= 10.0
    steady = [t for t in successes if 2.0 <= t < 12.0]
    assert len(steady) / 10.0 >= 0.8 * 25  # and the limit is used, not wasted
    assert statistics.median(latencies) <= 3.0


async def test_a_crowd_meeting_a_limit_cold_settles_at_it() -> None:
    # 64 tasks, unpaced at first, against a server that takes 50 requests per sliding second and answers
    # in 0.2 s. The first 429 comes while most of the cold burst is in flight; taking that burst for the
    # limit paced at ~100/s, ran into the limit again, and doubled its raise away from the ~100 until a
    # deep cut: ~43/s after the first 2 s, and 429s surfaced. Its other 429s make it a limit at ~50.
    vt = VirtualTime(settle=100)
    window: collections.deque[float] = collections.deque()
    successes: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await vt.sleep(0.1)
        now = vt.now
        while window and window[0] <= now - 1.0:
            window.popleft()
        limited = len(window) >= 50
        if not limited:
            window.append(now)
        await vt.sleep(0.1)
        return httpx.Response(429 if limited else 200)

    throttle = Throttle(clock=vt.clock, sleep=vt.sleep)
    rng = random.Random(5)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        async def worker() -> None:
            while vt.now < 6.0:
                response = await call(http, throttle, vt, rng)
                assert response.status_code == 200  # client defaults: no 429 reaches the caller
                successes.append(vt.now)

        await run_with_time(vt, *[worker for _ in range(64)])
    steady = [t for t in successes if 2.0 <= t < 6.0]
    assert len(steady) / 4.0 >= 0.95 * 50


async def test_sporadic_429s_do_not_collapse_a_bulk_job() -> None:
    # 32 tasks against a server that takes everything in 0.1 s but answers 3 % of requests, drawn at
    # random, with 429 (no Retry-After). Each such 429 used to cut the rate to 95 % of the last second's
    # starts and restart the raise from a gentle step: the job settled near 25 calls/s of the 320 possible.
    vt = VirtualTime(settle=100)
    server_rng = random.Random(11)
    accepted: collections.Counter[int] = collections.Counter()
    refused = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        await vt.sleep(0.1)
        if server_rng.random() < 0.03:
            refused += 1
            return httpx.Response(429)
        accepted[int(vt.now)] += 1
        return httpx.Response(200)

    throttle = Throttle(32, clock=vt.clock, sleep=vt.sleep)
    rng = random.Random(2)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        async def worker() -> None:
            while vt.now < 20.0:
                response = await call(http, throttle, vt, rng, max_retries=10)
                assert response.status_code == 200

        await run_with_time(vt, *[worker for _ in range(32)])
    assert refused > 50  # the 429s kept coming all along
    # A limit's share was never refused, so nothing was paced: only the refused calls lose time, their
    # backoff (each task sleeps ~0.5 s for 3 % of its calls of 0.1 s: ~15 % of 320/s).
    assert throttle.rate is None
    assert sum(accepted[s] for s in range(12, 20)) / 8 >= 0.75 * 320  # (it was ~25/s)


def test_a_sporadic_429_cuts_the_rate_by_the_share_refused() -> None:
    now = [0.0]
    budget = InProcessRateBudget(requests_per_second=None, clock=lambda: now[0])
    for k in range(200):  # 200 starts in a second, then 429s for 15 % of them: a limit
        budget.try_start_now(k / 200)
    now[0] = 1.0
    budget.rate_limited_now()
    assert budget.rate is None  # one 429 among 200 starts does not pace an unpaced job
    for _ in range(29):
        budget.rate_limited_now()
    first = budget.rate
    assert first == pytest.approx(0.95 * (199 - 30))  # the start at 0.0 is a second old
    for k in range(400):  # two seconds later, at the rate allowed, one 429 among ~190 starts
        t = 1.0 + k / 200
        now[0] = t
        if budget.try_start_now(t) == 0.0:
            budget.success_now()
    before = budget.rate
    assert before is not None
    now[0] = 3.0
    budget.rate_limited_now()
    after = budget.rate
    assert after is not None and 0.98 * before <= after < before  # about 1/190 off, not 5 %
    # and a limit met (a large share refused) still cuts to a little below what the server took
    granted = 0
    for k in range(220):  # the next second: a third of the starts refused
        t = 3.0 + k / 200
        now[0] = t
        if budget.try_start_now(t) == 0.0:
            granted += 1
            if granted % 3 == 0:
                budget.rate_limited_now()
            else:
                budget.success_now()
    cut = budget.rate
    assert cut is not None and cut <= 0.95 * (1 - 0.25) * after


def test_429s_answering_a_burst_do_not_cut_below_what_the_server_accepted() -> None:
    # Unpaced, 80 starts at once; a server (50/s) accepts 50 and its 429s for the rest come late (a slow
    # or loaded server answers the burst after the window has moved on). Going by the last second's starts
    # alone, 30 refused of 40 says the server took 10/s; it accepted 50 in that second.
    now = [0.0]
    budget = InProcessRateBudget(requests_per_second=None, clock=lambda: now[0])
    for _ in range(80):
        budget.try_start_now(0.0)
    now[0] = 0.5
    budget.rate_limited_now()  # the first 429, one among 80 starts: nothing paced yet
    assert budget.rate is None
    for k in range(40):  # the next starts, at the rate allowed
        t = 1.0 + k / 75
        now[0] = t
        assert budget.try_start_now(t) == 0.0
    for k in range(50):  # the 2xx of the burst and of these
        now[0] = 1.0 + k / 100
        budget.success_now()
    for k in range(
        30
    ):  # the late 429s of the burst; the last one, a second after the first cut, cuts
        now[0] = 1.6 if k == 29 else 1.0 + k / 100
        budget.rate_limited_now()
    assert budget.rate is not None and budget.rate >= 0.95 * 40 * 0.99


def test_the_429s_answering_a_first_burst_make_it_a_limit() -> None:
    # Unpaced, 95 starts in 0.15 s; a server limited to 50/s takes 50 of them. The first 429 comes while
    # most of the burst is still in flight (one refused, 50 accepted) and paces nothing; the tenth (a
    # tenth of the starts refused) cuts, by that share, to ~80/s, which alone would run into the limit
    # again and probe gently near a limit that was never there. The other 429s of the burst, arriving
    # within its second, cut again by the share refused: 95 % of the 50 the server took, probed gently.
    now = [0.0]
    budget = InProcessRateBudget(requests_per_second=None, clock=lambda: now[0])
    for k in range(95):
        assert budget.try_start_now(k / 640) == 0.0
    for k in range(50):
        now[0] = 0.05 + k / 400
        budget.success_now()
    now[0] = 0.2
    budget.rate_limited_now()
    assert budget.rate is None
    for k in range(9):
        now[0] = 0.2 + k / 200
        budget.rate_limited_now()
    assert budget.rate == pytest.approx(0.95 * (95 - 10))  # the server took the other 85
    for k in range(9, 44):
        now[0] = 0.2 + k / 200
        budget.rate_limited_now()
    assert budget.rate is not None and 0.95 * 50 * 0.99 <= budget.rate <= 50
    # The next starts wait until the server's second has room (the burst's starts are a second old).
    assert budget.try_start_now(0.5) >= 0.5
    # Then, served at the limit for 4 s, the raise stays near it: no doubling away towards ~95.
    rates = []
    for k in range(200):
        t = 1.2 + k / 50
        now[0] = t
        if budget.try_start_now(t) == 0.0:
            budget.success_now()
        rates.append(budget.rate)
    assert max(rates) <= 1.1 * 50  # type: ignore[operator]


def test_a_first_burst_with_a_few_429s_stays_unpaced() -> None:
    # A burst of 300 starts against a server refusing 3 % at random: its 429s never reach a limit's
    # share, so nothing is paced (each refused request retries after its own backoff).
    now = [0.0]
    budget = InProcessRateBudget(requests_per_second=None, clock=lambda: now[0])
    for k in range(300):
        budget.try_start_now(k / 1000)
    for k in range(250):
        now[0] = 0.05 + k / 1000
        budget.success_now()
    for k in range(9):
        now[0] = 0.3 + k / 100
        budget.rate_limited_now()
    assert budget.rate is None
    assert budget.try_start_now(0.4) == 0.0


async def test_waiters_start_in_arrival_order() -> None:
    vt = VirtualTime()
    throttle = Throttle(requests_per_second=10, clock=vt.clock, sleep=vt.sleep)
    order: list[int] = []

    def waiter(k: int) -> Any:
        async def run() -> None:
            await vt.sleep(k * 0.001)  # arrive in the order 0, 1, 2, ...
            async with throttle.slot():
                order.append(k)

        return run

    await run_with_time(vt, *[waiter(k) for k in reversed(range(30))])
    assert order == list(range(30))


class CountingBudget:
    """A RateBudget granting one start per 0.1 s of virtual time; counts how often it is asked."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.asked = 0
        self.granted = 0
        self.next = 0.0
        self.events: list[str] = []

    async def try_start(self) -> float:
        self.asked += 1
        if self.vt.now + 1e-9 >= self.next:
            self.next = self.vt.now + 0.1
            self.granted += 1
            return 0.0
        return self.next - self.vt.now

    async def grant(self) -> float:
        self.asked += 1
        self.granted += 1
        return 0.0

    async def on_rate_limited(self, retry_after: float | None) -> None:
        self.events.append(f"429 {retry_after}")

    async def on_success(self) -> None:
        self.events.append("ok")

    async def aclose(self) -> None:
        self.events.append("closed")


@pytest.mark.parametrize("waiters", [5, 200])
async def test_the_budget_is_asked_about_once_per_start_however_many_wait(waiters: int) -> None:
    vt = VirtualTime(settle=300)
    budget = CountingBudget(vt)
    throttle = Throttle(budget=budget, clock=vt.clock, sleep=vt.sleep)

    async def one() -> None:
        async with throttle.slot():
            pass

    await run_with_time(vt, *[one] * waiters)
    assert budget.granted == waiters
    # only the head asks: one grant, at most one "not yet" before it (woken by the answer it got)
    assert budget.asked <= 2 * waiters + 1
    assert vt.now == pytest.approx(0.1 * (waiters - 1))


async def test_waiting_for_pacing_counts_against_the_timeout() -> None:
    vt = VirtualTime()
    served = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal served
        served += 1
        return httpx.Response(200)

    throttle = Throttle(requests_per_second=1, clock=vt.clock, sleep=vt.sleep)
    results: list[str] = []
    rng = random.Random(1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        async def one() -> None:
            try:
                await call(http, throttle, vt, rng, timeout=2.5)
                results.append("ok")
            except APITimeoutError as exc:
                results.append(str(exc))

        await run_with_time(vt, *[one] * 6)
    # starts at t = 0, 1, 2; the others would have to wait 3 s or more: they give up at 2.5 s, unsent
    assert results.count("ok") == 3
    assert served == 3
    failures = [r for r in results if r != "ok"]
    assert len(failures) == 3
    for text in failures:
        assert "waiting 2.5 s" in text and "pacing" in text and "not the server" in text
    assert throttle.waiting == 0 and throttle.in_use == 0


async def test_waiting_for_a_concurrency_slot_counts_against_the_timeout() -> None:
    vt = VirtualTime()

    async def handler(request: httpx.Request) -> httpx.Response:
        await vt.sleep(10.0)
        return httpx.Response(200)

    throttle = Throttle(max_concurrency=1, clock=vt.clock, sleep=vt.sleep)
    results: list[str] = []
    rng = random.Random(1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        async def one() -> None:
            try:
                await call(http, throttle, vt, rng, timeout=3.0)
                results.append("ok")
            except APITimeoutError as exc:
                results.append(str(exc))

        await run_with_time(vt, one, one)
    assert results[0].endswith(
        "max_concurrency), before sending: the client's own pacing held the "
        "request, not the server; raise timeout= (pool) or send less at once"
    )
    assert results[1] == "ok"


async def test_a_custom_rate_budget_is_asked_and_told_and_left_open() -> None:
    vt = VirtualTime()
    budget = CountingBudget(vt)
    budget.next = -1e9  # virtual time stands still here: grant every start
    budget.try_start = budget.grant  # type: ignore[method-assign]
    assert isinstance(budget, RateBudget)
    statuses = iter([429, 200, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        headers = {"Retry-After": "0"} if status == 429 else {}
        return httpx.Response(status, json={"id": 1}, headers=headers)

    cf = ClickFunnels(
        "tok_budget_1234",
        subdomain="acme",
        rate_budget=budget,
        transport=httpx.MockTransport(handler),
    )
    async with cf:
        assert cf._core._shared.throttle.budget is budget
        await cf.request("GET", "/api/v2/contacts/1")
        await cf.request("GET", "/api/v2/contacts/1")
    assert budget.events == ["429 0.0", "ok", "ok"]  # never closed: it may be shared
    assert budget.granted == 3

    with pytest.raises(ClickFunnelsConfigError, match="RateBudget"):
        ClickFunnels("tok_budget_1234", subdomain="acme", rate_budget=object())  # type: ignore[arg-type]
    with pytest.raises(ClickFunnelsConfigError, match="either"):
        ClickFunnels("tok_budget_1234", subdomain="acme", rate_budget=budget, requests_per_second=5)


async def test_in_process_budget_grants_without_reserving() -> None:
    now = [0.0]
    budget = InProcessRateBudget(requests_per_second=2, clock=lambda: now[0])
    assert await budget.try_start() == 0.0
    # asked again and again before its turn: the answer does not move (nothing was reserved)
    assert budget.try_start_now(0.1) == pytest.approx(0.4)
    assert budget.try_start_now(0.1) == pytest.approx(0.4)
    assert budget.try_start_now(0.5) == 0.0
    now[0] = 0.6
    await budget.on_rate_limited(2.0)  # a pause pushes back only the starts still to come
    assert budget.try_start_now(0.7) == pytest.approx(1.9)

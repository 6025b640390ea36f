from __future__ import annotations

import email.utils
import itertools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from _vtime import VirtualTime, run_with_time

from clickfunnels_async._errors import APIConnectionError, APITimeoutError
from clickfunnels_async._throttle import Throttle
from clickfunnels_async._transport import RetryPolicy, parse_retry_after, send

pytestmark = pytest.mark.anyio

URL = "https://acme.myclickfunnels.com/api/v2/workspaces/1/contacts"
NO_JITTER = RetryPolicy(jitter=0.0)

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


class Server:
    """A MockTransport handler: plays a script of responses/exceptions and records calls."""

    def __init__(
        self, *script: int | Exception | httpx.Response, vt: VirtualTime | None = None
    ) -> None:
        self.script = list(script)
        self.calls: list[httpx.Request] = []
        self.times: list[float] = []
        self.vt = vt

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.vt is not None:
            self.times.append(self.vt.now)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return httpx.Response(item, json={"status": item})


def client_for(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class StepClock:
    """For one task at a time: sleeping just moves the clock forward (and is recorded)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleeper(self, record: list[float]) -> Callable[[float], Awaitable[None]]:
        async def sleep(seconds: float) -> None:
            record.append(seconds)
            self.now += seconds
            await anyio.lowlevel.checkpoint()

        return sleep


async def do_send(
    server: Server,
    *,
    method: str = "GET",
    idempotent: bool | None = None,
    policy: RetryPolicy = NO_JITTER,
    delays: list[float] | None = None,
    json: Any = None,
) -> tuple[httpx.Response, int]:
    delays = delays if delays is not None else []
    clock = StepClock()
    throttle_sleeps: list[float] = []
    async with client_for(server) as http:
        request = http.build_request(method, URL, json=json)
        return await send(
            http,
            request,
            policy=policy,
            idempotent=method != "POST" if idempotent is None else idempotent,
            throttle=Throttle(clock=clock.clock, sleep=clock.sleeper(throttle_sleeps)),
            sleep=clock.sleeper(delays),
            rng=random.Random(1),
        )


# --- retry decisions -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    server = Server(status, status, 200)
    response, retries = await do_send(server)
    assert response.status_code == 200
    assert retries == 2
    assert len(server.calls) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 520])
async def test_other_statuses_not_retried(status: int) -> None:
    server = Server(status, 200)
    response, retries = await do_send(server)
    assert response.status_code == status
    assert retries == 0
    assert len(server.calls) == 1


async def test_exhausted_retries_return_last_response() -> None:
    last = httpx.Response(503, text="<html>down</html>", headers={"x-n": "3"})
    server = Server(502, 504, last)
    response, retries = await do_send(server)
    assert retries == 2
    assert len(server.calls) == 3
    assert response.status_code == 503
    assert response.headers["x-n"] == "3"
    assert response.text == "<html>down</html>"  # read fully, usable by the error mapper


async def test_max_retries_zero() -> None:
    server = Server(503, 200)
    response, retries = await do_send(server, policy=RetryPolicy(max_retries=0))
    assert (response.status_code, retries, len(server.calls)) == (503, 0, 1)


async def test_custom_retry_statuses() -> None:
    server = Server(520, 200)
    response, retries = await do_send(server, policy=RetryPolicy(retry_statuses={520}, jitter=0))
    assert (response.status_code, retries) == (200, 1)


async def test_post_create_not_retried_on_500() -> None:
    server = Server(500, 200)
    response, retries = await do_send(
        server, method="POST", json={"contact": {"email_address": "a@x.com"}}
    )
    assert (response.status_code, retries, len(server.calls)) == (500, 0, 1)


async def test_post_create_not_retried_on_read_timeout() -> None:
    server = Server(httpx.ReadTimeout("timed out"), 200)
    with pytest.raises(APITimeoutError) as info:
        await do_send(server, method="POST", json={"contact": {}})
    assert len(server.calls) == 1
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.PoolTimeout("pool"),
    ],
)
async def test_post_create_retried_when_never_sent(exc: Exception) -> None:
    server = Server(exc, 201)
    response, retries = await do_send(
        server, method="POST", json={"contact": {"email_address": "a@x.com"}}
    )
    assert (response.status_code, retries, len(server.calls)) == (201, 1, 2)
    # the same body went out both times
    assert (
        server.calls[0].content
        == server.calls[1].content
        == b'{"contact":{"email_address":"a@x.com"}}'
    )


async def test_post_create_retried_on_429() -> None:
    server = Server(429, 201)
    response, retries = await do_send(server, method="POST", json={"contact": {}})
    assert (response.status_code, retries, len(server.calls)) == (201, 1, 2)


async def test_idempotent_post_retried_on_500() -> None:
    server = Server(500, 500, 200)
    response, retries = await do_send(server, method="POST", idempotent=True, json={"contact": {}})
    assert (response.status_code, retries, len(server.calls)) == (200, 2, 3)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("t"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
async def test_get_retried_on_transient_transport_errors(exc: Exception) -> None:
    server = Server(exc, 200)
    response, retries = await do_send(server)
    assert (response.status_code, retries) == (200, 1)


async def test_unsupported_protocol_not_retried() -> None:
    server = Server(httpx.UnsupportedProtocol("nope"), 200)
    with pytest.raises(APIConnectionError):
        await do_send(server)
    assert len(server.calls) == 1


async def test_timeout_after_last_attempt_raises_api_timeout() -> None:
    server = Server(httpx.ReadTimeout("timed out"))
    with pytest.raises(APITimeoutError) as info:
        await do_send(server)
    assert len(server.calls) == 3
    assert info.value.retries == 2
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert str(info.value) == f"GET {URL} -> no response: ReadTimeout: timed out"


async def test_connection_error_after_last_attempt() -> None:
    server = Server(httpx.ConnectError("All connection attempts failed"))
    with pytest.raises(APIConnectionError) as info:
        await do_send(server)
    assert not isinstance(info.value, APITimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_transport_error_message_has_no_secret_query() -> None:
    server = Server(httpx.ConnectError("boom"))
    async with client_for(server) as http:
        request = http.build_request("GET", URL + "?access_token=tok_abcdefgh")
        with pytest.raises(APIConnectionError) as info:
            await send(
                http,
                request,
                policy=RetryPolicy(max_retries=0),
                idempotent=True,
                throttle=Throttle(),
            )
    assert "tok_abcdefgh" not in str(info.value)
    assert "tok_abcdefgh" not in repr(info.value)


# --- backoff ------------------------------------------------------------------------------


async def test_backoff_sequence_within_jitter_bounds() -> None:
    policy = RetryPolicy(max_retries=6)
    delays: list[float] = []
    server = Server(503, 503, 503, 503, 503, 503, 200)
    _, retries = await do_send(server, policy=policy, delays=delays)
    assert retries == 6
    expected = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(delays) == 6
    for got, base in zip(delays, expected, strict=True):
        assert base * 0.75 <= got <= base * 1.25


def test_backoff_jitter_actually_varies() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    values = {round(policy.delay(1, None, rng), 6) for _ in range(20)}
    assert len(values) > 10
    assert all(0.75 <= v <= 1.25 for v in values)
    assert RetryPolicy(jitter=0).delay(10_000, None, rng) == 8.0  # no overflow, capped


async def test_retry_after_seconds_honoured() -> None:
    delays: list[float] = []
    server = Server(httpx.Response(503, headers={"Retry-After": "3"}), 200)
    await do_send(server, delays=delays)
    assert delays == [3.0]


async def test_retry_after_http_date_honoured() -> None:
    delays: list[float] = []
    when = email.utils.formatdate(__import__("time").time() + 20, usegmt=True)
    server = Server(httpx.Response(429, headers={"Retry-After": when}), 200)
    await do_send(server, delays=delays)
    assert len(delays) == 1 and 18 <= delays[0] <= 21


async def test_retry_after_capped() -> None:
    delays: list[float] = []
    server = Server(httpx.Response(429, headers={"Retry-After": "3600"}), 200)
    await do_send(server, delays=delays, policy=RetryPolicy(max_retry_after=30))
    assert delays == [30.0]


def test_parse_retry_after_reexported() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "4"})) == 4.0


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
    assert RetryPolicy(retry_statuses=[500]).retry_statuses == frozenset({500})


async def test_each_retry_logs_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="clickfunnels_async"):
        await do_send(Server(502, httpx.ConnectError("x"), 200))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 2
    assert (
        "GET" in lines[0] and URL in lines[0] and "502" in lines[0] and "retry 1 of 2" in lines[0]
    )
    assert "ConnectError" in lines[1] and "retry 2 of 2" in lines[1]


async def test_debug_logs_never_show_headers(caplog: pytest.LogCaptureFixture) -> None:
    server = Server(200)
    with caplog.at_level(logging.DEBUG, logger="clickfunnels_async"):
        async with client_for(server) as http:
            request = http.build_request(
                "GET", URL, headers={"Authorization": "Bearer cf_tok_visible"}
            )
            await send(http, request, policy=NO_JITTER, idempotent=True, throttle=Throttle())
    assert "cf_tok_visible" not in caplog.text
    assert "Authorization" not in caplog.text
    assert any("attempt 1" in r.getMessage() for r in caplog.records)
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 1


# --- throttle: pacing, concurrency, shared slow-down ---------------------------------------


async def test_pacing_spaces_starts_evenly() -> None:
    vt = VirtualTime()
    server = Server(200, vt=vt)
    throttle = Throttle(requests_per_second=4, clock=vt.clock, sleep=vt.sleep)

    async with client_for(server) as http:

        async def one() -> None:
            await send(
                http,
                http.build_request("GET", URL),
                policy=NO_JITTER,
                idempotent=True,
                throttle=throttle,
                sleep=vt.sleep,
            )

        await run_with_time(vt, *[one for _ in range(8)])
    assert sorted(server.times) == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75])


async def test_max_concurrency_caps_in_flight() -> None:
    vt = VirtualTime()
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await vt.sleep(1.0)
        in_flight -= 1
        return httpx.Response(200)

    throttle = Throttle(max_concurrency=3, clock=vt.clock, sleep=vt.sleep)
    async with client_for(handler) as http:

        async def one() -> None:
            await send(
                http,
                http.build_request("GET", URL),
                policy=NO_JITTER,
                idempotent=True,
                throttle=throttle,
                sleep=vt.sleep,
            )

        await run_with_time(vt, *[one for _ in range(10)])
    assert peak == 3
    assert vt.now == pytest.approx(4.0)  # ceil(10 / 3) rounds of 1 s


async def _tasks_with_429s(
    refuse: Callable[[str, int], bool], names: str
) -> dict[str, list[float]]:
    """Tasks `names` each send 4 requests (0.1 s each) through one throttle; `refuse(task, n)` says
    whether its n-th attempt is answered 429. Returns each task's start times."""
    vt = VirtualTime()
    starts: dict[str, list[float]] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        name = request.headers["x-task"]
        starts.setdefault(name, []).append(vt.now)
        await vt.sleep(0.1)
        return httpx.Response(429 if refuse(name, len(starts[name])) else 200)

    throttle = Throttle(clock=vt.clock, sleep=vt.sleep)
    async with client_for(handler) as http:

        def worker(name: str) -> Callable[[], Coroutine[Any, Any, None]]:
            async def run() -> None:
                for _ in range(4):
                    request = http.build_request("GET", URL, headers={"x-task": name})
                    await send(
                        http,
                        request,
                        policy=NO_JITTER,
                        idempotent=True,
                        throttle=throttle,
                        sleep=vt.sleep,
                    )

            return run

        await run_with_time(vt, *[worker(name) for name in names])
    return starts


async def test_a_lone_429_in_one_task_paces_no_one() -> None:
    # b's first request is answered 429 at t=0.1: one refused of three, a chance more than a limit. b
    # waits its own backoff (0.5 s) and retries; a and c go on unpaced.
    starts = await _tasks_with_429s(lambda name, n: name == "b" and n == 1, "abc")
    assert [starts[name][0] for name in "abc"] == [0.0, 0.0, 0.0]
    for name in "ac":
        assert starts[name] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert starts["b"][1] == pytest.approx(0.6)  # b's retry waited its backoff
    assert sum(len(ts) for ts in starts.values()) == 13  # 12 requests and b's retry


async def test_a_limit_met_by_some_tasks_slows_them_all() -> None:
    # Four of five tasks have their first request refused at t=0.1: a limit's share. From then on every
    # task is paced, e (never refused) too, below what the server took; the refused ones also wait their
    # own backoff.
    starts = await _tasks_with_429s(lambda name, n: name != "e" and n == 1, "abcde")
    assert [starts[name][0] for name in "abcde"] == [0.0] * 5
    # Held until the server's second has room (the five starts at 0 count): the retries (unpaced, due
    # at 0.6) and e, whose next start may slip in at 0.1 before the 429s are seen, but not the one after.
    assert min(starts[name][1] for name in "abcd") >= 1.0
    assert starts["e"][2] >= 1.0
    # Then one start at a time, spaced (from about one a second, raised with each success), until the
    # rate is back above twice the cut and unpaced again.
    paced = sorted(t for ts in starts.values() for t in ts if t > 0.1)[:6]
    assert min(b - a for a, b in itertools.pairwise(paced)) >= 0.15  # unpaced: 0 (all at once)
    assert sum(len(ts) for ts in starts.values()) == 24  # 20 requests and 4 retries


async def test_rate_recovers_gradually_up_to_ceiling() -> None:
    vt = VirtualTime()
    throttle = Throttle(requests_per_second=10, clock=vt.clock, sleep=vt.sleep)
    for i in range(10):  # the configured 10/s was being served
        vt.now = i * 0.1
        async with throttle.slot():
            pass
    throttle.on_rate_limited(0.5)  # the server said: wait half a second
    assert throttle.rate == pytest.approx(9.5)  # just under what was served
    assert throttle.paused_until == pytest.approx(1.4)
    throttle.on_success()  # still paused: no credit for requests sent before the cut
    assert throttle.rate == pytest.approx(9.5)
    vt.now = 2.0
    throttle.on_success()
    # near the 9/s the server took (10 sent, 1 refused): a gentle quarter of +1 request/s per second
    assert throttle.rate == pytest.approx(9.5 + 1 / 4 / 9.5)
    first = throttle.rate
    vt.now = 2.4
    throttle.on_success()  # and it does not speed up while near that rate
    assert throttle.rate == pytest.approx(first + 1 / 4 / first)
    for _ in range(200):
        throttle.on_success()
    assert throttle.rate == 10


async def test_burst_of_429s_cuts_once() -> None:
    vt = VirtualTime()
    throttle = Throttle(requests_per_second=16, clock=vt.clock, sleep=vt.sleep)
    for i in range(16):
        vt.now = i / 16
        async with throttle.slot():
            pass
    for _ in range(5):  # one burst of rejections: one cut
        throttle.on_rate_limited()
    assert throttle.rate == pytest.approx(15.2)
    vt.now = 3.0  # a second later, with nothing observed in between: cut from the current rate
    throttle.on_rate_limited()
    assert throttle.rate == pytest.approx(15.2 * 0.95)


async def test_unconfigured_rate_starts_from_observed_and_lifts() -> None:
    vt = VirtualTime()
    throttle = Throttle(clock=vt.clock, sleep=vt.sleep)
    for i in range(10):  # ten starts within the last second
        vt.now = i * 0.05
        async with throttle.slot():
            pass
    throttle.on_rate_limited()
    assert throttle.rate is None  # one refused of ten: nothing paced
    for _ in range(3):
        throttle.on_rate_limited()
    assert throttle.rate == pytest.approx(
        0.95 * (10 - 4)
    )  # 95 % of what the server took of the ten
    assert throttle.paused_until < vt.now  # no Retry-After: paced, not stopped
    vt.now = 5.0
    for _ in range(1000):
        throttle.on_success()
        if throttle.rate is None:
            break
    assert throttle.rate is None  # recovered well above the observed rate: unpaced again

    # Nothing started in the last second (answers slower than that): the share of the last second's
    # answers tells. Four 429s and no success: a limit, paced at least at one request per second.
    lone = Throttle(clock=vt.clock, sleep=vt.sleep)
    for _ in range(4):
        lone.on_rate_limited()
    assert lone.rate == 1.0


# --- cancellation -------------------------------------------------------------------------


class TrackedStream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes], *, hang: bool = False) -> None:
        self.chunks = chunks
        self.hang = hang
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.hang:
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        self.closed = True


async def test_cancel_during_backoff_leaves_no_open_response() -> None:
    streams: list[TrackedStream] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        stream = TrackedStream([b"<html>busy</html>"])
        streams.append(stream)
        return httpx.Response(503, stream=stream)

    slept = anyio.Event()

    async def sleep(seconds: float) -> None:
        slept.set()
        await anyio.sleep_forever()

    throttle = Throttle(max_concurrency=1)
    async with client_for(handler) as http, anyio.create_task_group() as tg:

        async def run() -> None:
            await send(
                http,
                http.build_request("GET", URL),
                policy=NO_JITTER,
                idempotent=True,
                throttle=throttle,
                sleep=sleep,
            )

        tg.start_soon(run)
        with anyio.fail_after(2):
            await slept.wait()
        tg.cancel_scope.cancel()
    assert len(streams) == 1
    assert all(s.closed for s in streams)
    # the concurrency slot was given back
    with anyio.fail_after(1):
        async with throttle.slot():
            pass


async def test_cancel_while_reading_body_closes_response() -> None:
    streams: list[TrackedStream] = []
    reading = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        stream = TrackedStream([b"partial"], hang=True)
        streams.append(stream)
        reading.set()
        return httpx.Response(200, stream=stream)

    throttle = Throttle(max_concurrency=1)
    async with client_for(handler) as http, anyio.create_task_group() as tg:

        async def run() -> None:
            await send(
                http,
                http.build_request("GET", URL),
                policy=NO_JITTER,
                idempotent=True,
                throttle=throttle,
            )

        tg.start_soon(run)
        with anyio.fail_after(2):
            await reading.wait()
        await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert streams and all(s.closed for s in streams)
    assert throttle.rate is None


async def test_cancel_while_waiting_for_pacer_gives_turn_back() -> None:
    vt = VirtualTime()
    throttle = Throttle(requests_per_second=1, clock=vt.clock, sleep=vt.sleep)
    async with throttle.slot():
        pass  # t=0 used; the next turn is t=1
    with anyio.move_on_after(0.05):
        async with throttle.slot():
            pytest.fail("must not get a turn: virtual time never advances here")
    started: list[float] = []

    async def one() -> None:
        async with throttle.slot():
            started.append(vt.now)

    await run_with_time(vt, one)
    assert started == [1.0]  # not 2.0: the cancelled waiter left no gap


async def test_after_a_burst_the_next_start_waits_for_room_in_the_sliding_second() -> None:
    now = [0.0]

    async def jump(seconds: float) -> None:  # a lone task: sleeping just moves the clock
        now[0] += seconds

    throttle = Throttle(clock=lambda: now[0], sleep=jump)
    for i in range(10):  # a burst: ten starts within 0.1 s, then the server says 429
        now[0] = i * 0.01
        async with throttle.slot():
            pass
    now[0] = 0.1
    for _ in range(2):  # two of the ten refused: a limit's share, but one or two are chance
        throttle.on_rate_limited()
    assert throttle.rate is None
    for _ in range(2):  # four: a limit, paced at 95 % of the six the server took
        throttle.on_rate_limited()
    assert throttle.rate == pytest.approx(0.95 * 6)
    async with throttle.slot():
        started = now[0]
    # at most 5 starts in any second from now on: the 6th start of the burst must age out first
    assert started == pytest.approx(1.05)
    assert started - 0.1 < 1.0  # never a full second of silence


def test_clients_share_one_tls_context_per_ca_setting(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading the CA bundle costs tens of ms: a client per request must not pay it each time. A
    # different SSL_CERT_FILE, or the same file rewritten, gets a context of its own.
    import os

    import trustme

    from clickfunnels_async._aiohttp import _ssl_context

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = _ssl_context()
    assert _ssl_context() is default
    assert default.verify_mode.name == "CERT_REQUIRED" and default.check_hostname
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    custom = _ssl_context()
    assert custom is not default and _ssl_context() is custom
    assert len(custom.get_ca_certs()) == 1  # only the CA of that file
    trustme.CA().cert_pem.write_to_path(str(bundle))
    os.utime(bundle, ns=(1, 1))  # a rewrite the clock may not tell apart
    assert _ssl_context() is not custom

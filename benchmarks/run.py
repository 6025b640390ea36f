"""`make bench`: every figure is measured next to a baseline taken in the same run.

Timed figures are the median of several rounds in which the variants take turns (A B C, B C A, ...), so
that drift of the machine (CPU boost, other processes) hits every variant alike. The results go to
`benchmarks/results.md` (a table for people) and `benchmarks/results.json`.

Sections (see the brief in the README's benchmark paragraph):
  a. one page of 20 contacts in-process (httpx.MockTransport): SDK vs raw httpx + json.loads
  b. the same over a loopback socket against the emulator under uvicorn
  c. bulk upserts at concurrency 64, 20 ms server latency: requests/s vs the ideal and vs raw httpx
  d. pagination of 100,000 seeded contacts (items/s, memory growth), and prefetch on/off
  e. the emulator limiting to N requests/s: achieved rate and 429s that reached the caller
  f. import time of `clickfunnels_async` vs `httpx` in fresh interpreters
  g. (`--only redis`) 4 processes x 16 tasks against the emulator limited to 50/s, sharing a RedisRateBudget
     vs each pacing alone; and what the Redis round trip adds per request

Run with `python -m benchmarks.run` (optionally `--quick` for a smoke run with small sizes).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

import clickfunnels_async
from clickfunnels_async import ClickFunnels, RateLimitError
from clickfunnels_async.testing import FakeClickFunnels

HERE = Path(__file__).resolve().parent
BASE = "https://bench.myclickfunnels.test"
TOKEN = "cf_bench_token_0123456789"
WS = 42


@attrs.define
class Row:
    key: str
    figure: str
    value: float
    unit: str
    baseline: float | None
    baseline_label: str
    ratio: float | None
    target: str
    passed: bool | None
    notes: str = ""


@attrs.define
class Config:
    quick: bool
    rounds: int = 5
    page_calls: int = 300  # (a) calls per variant per round
    socket_calls: int = 60  # (b)
    bulk_items: int = 10_000  # (c) per variant per round
    bulk_rounds: int = 3
    bulk_concurrency: int = 64
    bulk_latency: float = 0.020
    pages_items: int = 100_000  # (d)
    memory_items: int = 20_000  # (d) tracemalloc pass
    prefetch_pages: int = 40
    prefetch_latency: float = 0.030
    prefetch_rounds: int = 3
    rate_limit: int = 50  # (e)
    rate_seconds: float = 5.0
    rate_workers: int = 16
    import_runs: int = 9  # (f)

    @classmethod
    def make(cls, quick: bool) -> Config:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            rounds=3,
            page_calls=50,
            socket_calls=30,
            bulk_items=1_000,
            bulk_rounds=1,
            pages_items=5_000,
            memory_items=2_000,
            prefetch_pages=10,
            prefetch_rounds=1,
            rate_seconds=2.0,
            import_runs=3,
        )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the peak, which only ever grows
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def interleaved(
    variants: dict[str, Callable[[], Awaitable[float]]], rounds: int
) -> dict[str, float]:
    """Run every variant once per round, rotating the order; the median of each variant's results."""
    names = list(variants)
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            results[name].append(await variants[name]())
    return {name: statistics.median(values) for name, values in results.items()}


def realistic_page() -> bytes:
    """20 contacts as the emulator renders them (spec-shaped, with tags and custom attributes)."""
    fake = FakeClickFunnels(seed=11)
    fake.seed(contacts=20, tags=4)
    return json.dumps(fake.records("contacts")[:20]).encode()


def auth_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "User-Agent": "bench/1",
        "Accept": "application/json",
    }


async def time_calls(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - started) / calls


def two_variants(
    cf: ClickFunnels, raw: httpx.AsyncClient, url: str
) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def sdk() -> None:
        async for page in cf.contacts.list(WS).pages():
            assert len(page.items) == 20
            break

    async def raw_call() -> None:
        response = await raw.get(url)
        assert len(json.loads(response.content)) == 20

    return {"sdk": sdk, "raw httpx + json.loads": raw_call}


async def page_figures(
    key: str,
    label: str,
    fns: dict[str, Callable[[], Awaitable[Any]]],
    calls: int,
    rounds: int,
    note: str,
    target: float = 1.3,
) -> tuple[list[Row], dict[str, float]]:
    """The target rows (SDK ≤ `target` × raw), and every variant's median time."""
    for fn in fns.values():  # warm-up: imports, model caches, connections
        for _ in range(max(5, calls // 10)):
            await fn()

    def timed(fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[float]]:
        return lambda: time_calls(fn, calls)

    medians = await interleaved({name: timed(fn) for name, fn in fns.items()}, rounds)
    sdk, raw = medians["sdk"], medians["raw httpx + json.loads"]
    rows = [
        Row(
            f"{key}.raw",
            f"{label}: SDK vs raw httpx + json.loads",
            sdk * 1e6,
            "µs/page",
            raw * 1e6,
            "raw httpx + json.loads",
            sdk / raw,
            f"≤ {target}×",
            sdk / raw <= target,
            f"{calls} calls × {rounds} rounds per variant; {note}",
        ),
    ]
    return rows, medians


# ---------------------------------------------------------------------------------------------- (a)


async def bench_in_process(cfg: Config) -> list[Row]:
    body = realistic_page()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=body,
            headers={"content-type": "application/json; charset=utf-8", "Pagination-Next": "20"},
        )

    transport = httpx.MockTransport(handler)
    url = f"{BASE}/api/v2/workspaces/{WS}/contacts"
    async with (
        # Each side as a user gets it by default: the SDK's own pool, and a plain httpx.AsyncClient.
        ClickFunnels(api_token=TOKEN, base_url=BASE, transport=transport) as cf,
        ClickFunnels(
            api_token=TOKEN, base_url=BASE, http_client=httpx.AsyncClient(transport=transport)
        ) as byo,
        httpx.AsyncClient(transport=transport, headers=auth_headers(TOKEN)) as raw,
    ):
        fns = two_variants(cf, raw, url)

        async def sdk_byo() -> None:
            async for page in byo.contacts.list(WS).pages():
                assert len(page.items) == 20
                break

        fns["sdk, http_client="] = sdk_byo
        rows, medians = await page_figures(
            "a",
            "a. one page in-process",
            fns,
            cfg.page_calls,
            cfg.rounds,
            f"httpx.MockTransport returning a fixed {len(body):,}-byte page of 20 emulator-rendered contacts; "
            "the SDK with its own pool (transport=), raw httpx with a plain AsyncClient",
            target=0.8,  # #14: the SDK's own work must stay well under what raw httpx does
        )
        byo_time, raw_time = medians["sdk, http_client="], medians["raw httpx + json.loads"]
        rows.append(
            Row(
                "a.byo",
                "a. one page in-process: SDK given http_client= vs raw httpx + json.loads",
                byo_time * 1e6,
                "µs/page",
                raw_time * 1e6,
                "raw httpx + json.loads",
                byo_time / raw_time,
                "(info)",
                None,
                "the SDK over a plain httpx.AsyncClient you pass in: httpx's cookie jar then inspects every "
                "response, which the SDK's own pool skips (the API authenticates by token)",
            )
        )
        return rows


# ---------------------------------------------------------------------------------------------- (b)


async def bench_socket(cfg: Config) -> list[Row]:
    fake = FakeClickFunnels(seed=11)
    fake.seed(contacts=20, tags=4)
    async with fake, fake.serve() as root:
        url = f"{root}/api/v2/workspaces/{WS}/contacts"
        async with (
            ClickFunnels(api_token=fake.token, base_url=root) as cf,
            httpx.AsyncClient(headers=auth_headers(fake.token)) as raw,
        ):
            # The floor of one loopback round trip: a tiny 404 from the same server.
            floor = await time_calls(lambda: raw.get(f"{root}/api/v2/no-such-route"), 20)
            rows, _ = await page_figures(
                "b",
                "b. one page over loopback",
                two_variants(cf, raw, url),
                cfg.socket_calls,
                cfg.rounds,
                "emulator under uvicorn on 127.0.0.1 in the same process and event loop, so the server's "
                "own CPU time is part of every variant",
            )
            rows.append(
                Row(
                    "b.floor",
                    "b. loopback floor: one 25-byte 404 round trip",
                    floor * 1e6,
                    "µs/request",
                    rows[0].value,
                    "SDK page over loopback",
                    floor * 1e6 / rows[0].value,
                    "(info)",
                    None,
                    "raw httpx GET of an unknown route, 20 calls. When this floor is tens of ms the socket path "
                    "stalls (Nagle + delayed ACK; the emulator sets TCP_NODELAY on its listening socket for this), "
                    "and figure b mostly measures that stall, not the SDK",
                )
            )
            return rows


# ---------------------------------------------------------------------------------------------- (c)


def _bulk_rows(cfg: Config, tag: str) -> Any:
    return (
        {"email_address": f"{tag}-{i}@example.com", "first_name": "Bench", "last_name": str(i)}
        for i in range(cfg.bulk_items)
    )


async def _sdk_upserts(cfg: Config, cf: ClickFunnels, tag: str) -> float:
    """`bulk.execute(cf.contacts.upsert, ...)` over `bulk_items` rows; requests/s."""
    rows = _bulk_rows(cfg, tag)
    started = time.perf_counter()
    try:
        from clickfunnels_async import bulk
    except ImportError:  # the bulk module is optional here: drive the calls ourselves
        ok = await _task_group_calls(cfg, rows, cf)
    else:
        summary = await bulk.execute(
            cf.contacts.upsert, rows, concurrency=cfg.bulk_concurrency, workspace_id=WS
        )
        ok = summary.succeeded
    elapsed = time.perf_counter() - started
    if ok != cfg.bulk_items:
        raise RuntimeError(f"bulk run finished {ok} of {cfg.bulk_items} upserts")
    return cfg.bulk_items / elapsed


async def _task_group_calls(cfg: Config, rows: Any, cf: ClickFunnels) -> int:
    done = 0

    async def worker() -> None:
        nonlocal done
        for row in rows:
            await cf.contacts.upsert(WS, **row)
            done += 1

    async with anyio.create_task_group() as group:
        for _ in range(cfg.bulk_concurrency):
            group.start_soon(worker)
    return done


async def _raw_upserts(cfg: Config, http: httpx.AsyncClient, tag: str) -> float:
    """`bulk_concurrency` tasks POSTing the same bodies with plain httpx; requests/s."""
    url = f"/api/v2/workspaces/{WS}/contacts/upsert"
    rows = iter(range(cfg.bulk_items))
    done = 0

    async def worker() -> None:
        nonlocal done
        for i in rows:
            body = {
                "contact": {
                    "email_address": f"{tag}-{i}@example.com",
                    "first_name": "Bench",
                    "last_name": str(i),
                }
            }
            response = await http.post(
                url, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()
            json.loads(response.content)
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(cfg.bulk_concurrency):
            group.start_soon(worker)
    elapsed = time.perf_counter() - started
    if done != cfg.bulk_items:
        raise RuntimeError(f"raw run finished {done} of {cfg.bulk_items} upserts")
    return cfg.bulk_items / elapsed


async def bulk_sdk(cfg: Config, tag: str) -> float:
    """In-process: the emulator serves the SDK's pool from the same event loop (FakeTransport)."""
    async with FakeClickFunnels(seed=21, latency=cfg.bulk_latency) as fake, fake.client() as cf:
        return await _sdk_upserts(cfg, cf, tag)


async def bulk_raw(cfg: Config, tag: str) -> float:
    async with FakeClickFunnels(seed=21, latency=cfg.bulk_latency) as fake:
        return await _raw_upserts(cfg, fake.http_client(), tag)


class EmulatorProcess:
    """``python -m clickfunnels_async.testing`` on 127.0.0.1 in a process of its own, as a remote API is.

    ``async with EmulatorProcess(latency) as server:`` gives ``server.url`` and ``server.token`` once the
    server answers; the process is stopped when the block ends, however it ends.
    """

    def __init__(
        self,
        latency: float,
        *,
        seed: int = 21,
        start_timeout: float = 30.0,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.latency = latency
        self.extra = extra
        self.seed = seed
        self.start_timeout = start_timeout
        self.url = ""
        self.token = ""
        self._proc: subprocess.Popen[str] | None = None
        self._log: Any = None

    async def __aenter__(self) -> EmulatorProcess:
        import tempfile

        # Lives until stop(): the server's stderr, shown if it fails to start.
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clickfunnels_async.testing",
                "--port",
                "0",
                "--host",
                "127.0.0.1",
                "--latency",
                repr(self.latency),
                "--seed",
                str(self.seed),
                *self.extra,
            ],
            cwd=HERE.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        try:
            with anyio.fail_after(self.start_timeout):
                port, self.token = await anyio.to_thread.run_sync(
                    self._read_banner, abandon_on_cancel=True
                )
                self.url = f"http://127.0.0.1:{port}"
                await self._wait_until_it_answers()
        except BaseException:
            self.stop()  # also ends a banner read still blocked in its thread (EOF)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    def _read_banner(self) -> tuple[int, str]:
        import re

        assert self._proc is not None and self._proc.stdout is not None
        port: int | None = None
        token: str | None = None
        while port is None or token is None:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"the emulator exited before it listened:\n{self._stderr_tail()}"
                )
            if found := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                port = int(found.group(1))
            elif line.startswith("token: "):
                token = line.removeprefix("token: ").strip()
        return port, token

    async def _wait_until_it_answers(self) -> None:
        assert self._proc is not None
        # The port is printed before uvicorn listens: poll a cheap 404 until one comes back.
        async with httpx.AsyncClient(
            base_url=self.url, headers=auth_headers(self.token), timeout=2.0
        ) as probe:
            while True:
                if self._proc.poll() is not None:
                    raise RuntimeError(
                        f"the emulator exited while starting:\n{self._stderr_tail()}"
                    )
                try:
                    await probe.get("/api/v2/no-such-route")
                    return
                except httpx.TransportError:
                    await anyio.sleep(0.05)

    def cpu_seconds(self) -> float | None:
        """CPU time the server process used so far (Linux /proc), or None."""
        if self._proc is None:
            return None
        try:
            with open(f"/proc/{self._proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _stderr_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return "".join(self._log.readlines()[-20:])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=10)
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


class CpuPerRequest:
    """Client and server CPU per request of the out-of-process runs (shows which side is the ceiling)."""

    def __init__(self) -> None:
        self.client: list[float] = []
        self.server: list[float] = []

    async def measure(self, cfg: Config, server: EmulatorProcess, run: Awaitable[float]) -> float:
        server_start, client_start = server.cpu_seconds(), time.process_time()
        rate = await run
        self.client.append((time.process_time() - client_start) / cfg.bulk_items)
        server_end = server.cpu_seconds()
        if server_start is not None and server_end is not None:
            self.server.append((server_end - server_start) / cfg.bulk_items)
        return rate

    def summary(self) -> str:
        def us(values: list[float]) -> str:
            return f"{statistics.median(values) * 1e6:,.0f} µs" if values else "?"

        return f"CPU per request (median): client {us(self.client)}, emulator process {us(self.server)}"


async def bulk_sdk_remote(cfg: Config, tag: str, cpu: CpuPerRequest | None = None) -> float:
    """The SDK as users get it (its own connection pool) against the emulator in another process."""
    async with (
        EmulatorProcess(cfg.bulk_latency) as server,
        ClickFunnels(api_token=server.token, base_url=server.url) as cf,
    ):
        run = _sdk_upserts(cfg, cf, tag)
        return await (cpu or CpuPerRequest()).measure(cfg, server, run)


async def bulk_raw_remote(cfg: Config, tag: str, cpu: CpuPerRequest | None = None) -> float:
    """A plain `httpx.AsyncClient` (default limits) against the emulator in another process."""
    async with (
        EmulatorProcess(cfg.bulk_latency) as server,
        httpx.AsyncClient(base_url=server.url, headers=auth_headers(server.token)) as http,
    ):
        run = _raw_upserts(cfg, http, tag)
        return await (cpu or CpuPerRequest()).measure(cfg, server, run)


async def bench_bulk(cfg: Config) -> list[Row]:
    counter = iter(range(1_000_000))
    sdk_cpu, raw_cpu = CpuPerRequest(), CpuPerRequest()
    medians = await interleaved(
        {
            "sdk, remote": lambda: bulk_sdk_remote(cfg, f"s{next(counter)}", sdk_cpu),
            "raw, remote": lambda: bulk_raw_remote(cfg, f"r{next(counter)}", raw_cpu),
            "sdk, in-process": lambda: bulk_sdk(cfg, f"s{next(counter)}"),
            "raw, in-process": lambda: bulk_raw(cfg, f"r{next(counter)}"),
        },
        cfg.bulk_rounds,
    )
    ideal = cfg.bulk_concurrency / cfg.bulk_latency
    sdk, raw = medians["sdk, remote"], medians["raw, remote"]
    sdk_in, raw_in = medians["sdk, in-process"], medians["raw, in-process"]
    common = (
        f"{cfg.bulk_items:,} upserts per run, concurrency {cfg.bulk_concurrency}, emulator latency "
        f"{cfg.bulk_latency * 1000:.0f} ms, {cfg.bulk_rounds} rounds per variant (fresh emulator each)"
    )
    remote = (
        "the emulator in its own process (`python -m clickfunnels_async.testing`, uvicorn on 127.0.0.1), as "
        "a real API is remote, so this client process runs only the client; the SDK with its own pool"
    )
    in_process = (
        "the emulator in-process (FakeTransport): no sockets and no connection pool, but the emulator runs in "
        "the client's event loop on the client's core, so its CPU per request caps this figure too"
    )
    return [
        # The target row: the SDK and the emulator alone, without this machine's loopback costs (below).
        Row(
            "c.ideal",
            "c. bulk upserts, emulator in-process: SDK vs ideal (concurrency ÷ latency)",
            sdk_in,
            "req/s",
            ideal,
            "ideal",
            sdk_in / ideal,
            "≥ 90 %",
            sdk_in / ideal >= 0.9,
            f"{common}; {in_process}",
        ),
        Row(
            "c.raw",
            "c. bulk upserts, emulator in-process: SDK vs raw httpx, same transport",
            sdk_in,
            "req/s",
            raw_in,
            "raw httpx, 64 tasks",
            sdk_in / raw_in,
            "(info)",
            None,
            f"raw httpx itself reaches {raw_in / ideal:.0%} of ideal in-process",
        ),
        Row(
            "c.remote",
            "c. bulk upserts, emulator in its own process: SDK vs ideal",
            sdk,
            "req/s",
            ideal,
            "ideal",
            sdk / ideal,
            "(info, % of ideal)",
            None,
            f"{common}; {remote}. {sdk_cpu.summary()}: reaching the ideal needs the client side under "
            f"{1e6 / ideal:,.0f} µs of CPU per request; the emulator's own CPU per request (uvicorn + "
            "starlette) caps this row too: section h measures the client against a lighter server",
        ),
        Row(
            "c.remote.raw",
            "c. bulk upserts, emulator in its own process: SDK vs raw httpx",
            sdk,
            "req/s",
            raw,
            "raw httpx, 64 tasks",
            sdk / raw,
            "(info)",
            None,
            f"raw httpx (a plain AsyncClient, default limits) reaches {raw / ideal:.0%} of ideal against the "
            f"same server. {raw_cpu.summary()}",
        ),
    ]


# ---------------------------------------------------------------------------------------------- (d)


async def raw_pages(http: httpx.AsyncClient, limit: int) -> int:
    url = f"/api/v2/workspaces/{WS}/contacts"
    cursor: str | None = None
    seen = 0
    while seen < limit:
        response = await http.get(url, params={"after": cursor} if cursor else None)
        items = json.loads(response.content)
        seen += len(items)
        cursor = response.headers.get("Pagination-Next")
        if not cursor or not items:
            break
    return seen


async def bench_pagination(cfg: Config) -> list[Row]:
    fake = FakeClickFunnels(seed=31)
    started = time.perf_counter()
    fake.seed(contacts=cfg.pages_items)
    seed_seconds = time.perf_counter() - started
    log(f"  seeded {cfg.pages_items:,} contacts in {seed_seconds:.1f} s")
    rows: list[Row] = []
    async with fake, fake.client() as cf:
        http = fake.http_client()
        # Items/s: one full pass each (a pass of 100k takes tens of seconds; repeating it would break
        # the time budget). The SDK pass also samples RSS to show that memory does not grow with N.
        gc.collect()
        rss_start = rss_peak = rss_bytes()
        count = 0
        t0 = time.perf_counter()
        async for _contact in cf.contacts.list(WS):
            count += 1
            if count % 200 == 0:
                rss_peak = max(rss_peak, rss_bytes())
        sdk_seconds = time.perf_counter() - t0
        assert count == cfg.pages_items, count
        t0 = time.perf_counter()
        raw_count = await raw_pages(http, cfg.pages_items)
        raw_seconds = time.perf_counter() - t0
        assert raw_count == cfg.pages_items, raw_count
        sdk_rate, raw_rate = count / sdk_seconds, raw_count / raw_seconds
        rows.append(
            Row(
                "d.rate",
                "d. pagination: items/s (SDK vs raw httpx + json.loads)",
                sdk_rate,
                "items/s",
                raw_rate,
                "raw httpx paging loop",
                sdk_rate / raw_rate,
                "(info)",
                None,
                f"{cfg.pages_items:,} seeded contacts (seeding took {seed_seconds:.1f} s), 20 per page, emulator "
                f"in-process without latency; one pass each (time budget); SDK {sdk_seconds:.1f} s, raw "
                f"{raw_seconds:.1f} s",
            )
        )
        rss_growth = (rss_peak - rss_start) / 2**20
        rows.append(
            Row(
                "d.rss",
                "d. pagination: peak RSS growth over the full pass",
                rss_growth,
                "MB",
                None,
                "—",
                None,
                "≤ 25 MB",
                rss_growth <= 25,
                f"sampled every 200 items while iterating all {cfg.pages_items:,} items; keeping them all would "
                "take hundreds of MB",
            )
        )

        # Memory precisely: tracemalloc peak above the starting point, SDK vs raw, on a shorter pass.
        async def traced(coro_fn: Callable[[], Awaitable[Any]]) -> float:
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            await coro_fn()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return (peak - base) / 2**20

        async def sdk_walk() -> None:
            n = 0
            async for _c in cf.contacts.list(WS, limit=cfg.memory_items):
                n += 1
            assert n == cfg.memory_items

        sdk_mb = await traced(sdk_walk)
        raw_mb = await traced(lambda: raw_pages(http, cfg.memory_items))
        rows.append(
            Row(
                "d.mem",
                "d. pagination: peak traced memory growth (tracemalloc)",
                sdk_mb,
                "MB",
                raw_mb,
                "raw httpx paging loop",
                sdk_mb / raw_mb if raw_mb else None,
                "≤ 25 MB",
                sdk_mb <= 25,
                f"first {cfg.memory_items:,} items; includes the in-process emulator's transient allocations",
            )
        )

    rows.append(await bench_prefetch(cfg))
    return rows


async def bench_prefetch(cfg: Config) -> Row:
    latency = cfg.prefetch_latency
    fake = FakeClickFunnels(seed=32, latency=latency)
    fake.seed(contacts=20 * cfg.prefetch_pages)
    async with fake, fake.client() as cf:

        async def plain() -> float:
            t0 = time.perf_counter()
            pages = 0
            async for _page in cf.contacts.list(WS).pages():
                pages += 1
                await anyio.sleep(latency)  # the caller's own work on the page
            assert pages == cfg.prefetch_pages
            return time.perf_counter() - t0

        async def prefetched() -> float:
            t0 = time.perf_counter()
            pages = 0
            async with cf.contacts.list(WS, prefetch=True) as paginator:
                async for _page in paginator.pages():
                    pages += 1
                    await anyio.sleep(latency)
            assert pages == cfg.prefetch_pages
            return time.perf_counter() - t0

        medians = await interleaved({"plain": plain, "prefetch": prefetched}, cfg.prefetch_rounds)
    speedup = medians["plain"] / medians["prefetch"]
    return Row(
        "d.prefetch",
        "d. pagination: prefetch=True speed-up",
        medians["prefetch"],
        "s",
        medians["plain"],
        "prefetch=False",
        speedup,
        "≥ 1.6×",
        speedup >= 1.6,
        f"{cfg.prefetch_pages} pages, server latency {latency * 1000:.0f} ms and the caller sleeps the same per "
        f"page (ideal speed-up 2×), {cfg.prefetch_rounds} rounds; value/baseline are seconds per walk, ratio = "
        "baseline ÷ value",
    )


# ---------------------------------------------------------------------------------------------- (e)


async def rate_run(cfg: Config, configured: bool) -> dict[str, float]:
    limit = cfg.rate_limit
    async with FakeClickFunnels(seed=41, rate_limit=limit) as fake:
        fake.seed(contacts=5)
        kwargs: dict[str, Any] = {"requests_per_second": limit} if configured else {}
        async with fake.client(**kwargs) as cf:
            ok = limited = other = 0
            times: list[float] = []
            t0 = anyio.current_time()

            async def worker() -> None:
                nonlocal ok, limited, other
                while True:
                    try:
                        await cf.contacts.get(1)
                    except RateLimitError:
                        limited += 1
                    except Exception:
                        other += 1
                    else:
                        ok += 1
                        times.append(anyio.current_time() - t0)

            with anyio.move_on_after(cfg.rate_seconds):
                async with anyio.create_task_group() as group:
                    for _ in range(cfg.rate_workers):
                        group.start_soon(worker)
            served = fake.request_count
    steady = [t for t in times if t >= 1.0]
    return {
        "rate": ok / cfg.rate_seconds,
        "steady": len(steady) / (cfg.rate_seconds - 1.0),
        "limited": float(limited),
        "other": float(other),
        "server_429": float(
            served - ok
        ),  # requests the emulator refused (cancelled in-flight ones aside)
    }


async def bench_rate_limit(cfg: Config) -> list[Row]:
    adaptive = await rate_run(cfg, configured=False)
    configured = await rate_run(cfg, configured=True)
    n = cfg.rate_limit
    ratio = adaptive["rate"] / n
    notes = (
        f"{cfg.rate_workers} tasks calling contacts.get for {cfg.rate_seconds:.0f} s, emulator limit {n}/s "
        f"(sliding 1 s window), client defaults (max_retries=2, no rate configured). Rate after the first "
        f"second: {adaptive['steady']:.1f}/s. The emulator answered {adaptive['server_429']:.0f} requests with "
        f"429 (absorbed by retries). Reference with requests_per_second={n} configured: "
        f"{configured['rate']:.1f}/s, {configured['server_429']:.0f} 429s from the server, "
        f"{configured['limited']:.0f} reached the caller"
    )
    return [
        Row(
            "e.rate",
            f"e. rate limit {n}/s: achieved rate (adaptive Throttle)",
            adaptive["rate"],
            "req/s",
            float(n),
            f"emulator limit N={n}",
            ratio,
            "≥ 95 %",
            ratio >= 0.95,
            notes,
        ),
        Row(
            "e.429",
            f"e. rate limit {n}/s: 429s that reached the caller",
            adaptive["limited"],
            "errors",
            None,
            "—",
            None,
            "0",
            adaptive["limited"] == 0 and adaptive["other"] == 0,
            f"RateLimitError raised to the caller after retries; other errors: {adaptive['other']:.0f}",
        ),
    ]


# ---------------------------------------------------------------------------------------------- (f)


def import_seconds(module: str, pycache: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKFUNNELS_", "MATON_"))}
    # Both imports load compiled bytecode, as from an installed wheel (pip compiles httpx's on install;
    # an editable checkout under PYTHONDONTWRITEBYTECODE would recompile ours on every run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    return float(out.strip().splitlines()[-1])


async def bench_import(cfg: Config) -> list[Row]:
    sdk: list[float] = []
    base: list[float] = []
    with tempfile.TemporaryDirectory() as pycache:
        for module in ("clickfunnels_async", "httpx"):  # fills the bytecode cache, not timed
            import_seconds(module, pycache)
        for i in range(cfg.import_runs):
            pair = [("clickfunnels_async", sdk), ("httpx", base)]
            for module, bucket in pair if i % 2 == 0 else reversed(pair):
                bucket.append(import_seconds(module, pycache))
    s, b = statistics.median(sdk), statistics.median(base)
    return [
        Row(
            "f.import",
            "f. import clickfunnels_async vs import httpx",
            s * 1000,
            "ms",
            b * 1000,
            "import httpx",
            s / b,
            "≤ 1.6×",
            s / b <= 1.6,
            f"fresh interpreter per run, time of the import statement alone, median of {cfg.import_runs} runs each, "
            "alternating, both from compiled bytecode (a first untimed import of each fills a private cache)",
        )
    ]


# ---------------------------------------------------------------------------------------------- (g)


async def _per_call(cf: ClickFunnels, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        await cf.contacts.get(1)
        times.append(time.perf_counter() - t)
    return times


async def bench_redis(cfg: Config) -> list[Row]:
    import tempfile
    import uuid

    from benchmarks.shared_budget import combined, redis_server, run_processes
    from clickfunnels_async.redis import RedisRateBudget

    if shutil.which("redis-server") is None:  # say so in the results instead of ending the run
        how = "redis-server is not installed (Debian/Ubuntu: apt-get install -y redis-server)"
        log(f"  skipped: {how}")
        return [
            Row(
                key="g.skipped",
                figure="g. processes sharing one RedisRateBudget",
                value=0.0,
                unit="",
                baseline=None,
                baseline_label="",
                ratio=None,
                target="(skipped)",
                passed=None,
                notes=how,
            )
        ]
    seconds = 4.0 if cfg.quick else 10.0
    limit = cfg.rate_limit
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        server = EmulatorProcess(0.0, seed=5, extra=("--contacts", "3", "--rate-limit", str(limit)))
        async with server:
            shared = combined(
                run_processes(
                    server.url,
                    server.token,
                    redis_url=redis_url,
                    key=uuid.uuid4().hex,
                    seconds=seconds,
                ),
                seconds,
            )
            alone = combined(
                run_processes(server.url, server.token, redis_url=None, seconds=seconds), seconds
            )
        ratio = shared["steady_rate"] / limit
        notes = (
            f"4 processes x 16 tasks calling contacts.get for {seconds:.0f} s against the emulator in its own "
            f"process, limit {limit}/s (sliding 1 s window); client defaults (max_retries=2); rate of the "
            f"calls that succeeded after the first 2 s (whole run: {shared['rate']:.1f}/s shared, "
            f"{alone['rate']:.1f}/s alone). Shared budget: {shared['seen_429']:.0f} 429s seen, "
            f"{shared['surfaced_429']:.0f} surfaced, shares of the calls after 2 s {shared['share_min']:.0%}-{shared['share_max']:.0%}. "
            f"Each process alone: {alone['seen_429']:.0f} 429s seen, {alone['surfaced_429']:.0f} surfaced, "
            f"shares {alone['share_min']:.0%}-{alone['share_max']:.0%}. Slowest process start: "
            f"{max(shared['late'], alone['late']):+.2f} s after the agreed moment"
        )
        rows.append(
            Row(
                "g.rate",
                f"g. 4 processes, shared Redis budget, limit {limit}/s: combined rate",
                shared["steady_rate"],
                "req/s",
                alone["steady_rate"],
                "4 processes pacing alone",
                ratio,
                "≥ 95 %",
                ratio >= 0.95,
                notes,
            )
        )
        fair = 0.20 <= shared["share_min"] <= shared["share_max"] <= 0.30
        rows.append(
            Row(
                "g.429",
                "g. shared budget: 429s surfaced to callers (each process's share)",
                shared["surfaced_429"],
                "errors",
                alone["surfaced_429"],
                "pacing alone",
                None,
                "0, each 25 % ± 5 %",
                shared["surfaced_429"] == 0 and fair,
                f"shares {shared['share_min']:.1%}..{shared['share_max']:.1%}; other errors "
                f"{shared['other_errors']:.0f}",
            )
        )

        # What one Redis round trip per start costs: sequential calls on an in-process transport, unpaced.
        body = json.dumps(
            json.loads(realistic_page())[0]
        ).encode()  # one contact as the emulator renders it
        mock = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
        calls = 300 if cfg.quick else 2000
        budget = RedisRateBudget(redis_url, key=uuid.uuid4().hex)
        shared_options: dict[str, Any] = {"rate_budget": budget}
        local_t: list[float] = []
        redis_t: list[float] = []
        async with (
            ClickFunnels(api_token=TOKEN, base_url=BASE, transport=mock) as local_cf,
            ClickFunnels(
                api_token=TOKEN, base_url=BASE, transport=mock, **shared_options
            ) as redis_cf,
        ):
            await _per_call(local_cf, 50)
            await _per_call(redis_cf, 50)
            for i in range(cfg.rounds):
                for cf, bucket in ((local_cf, local_t), (redis_cf, redis_t))[
                    :: 1 if i % 2 == 0 else -1
                ]:
                    bucket += await _per_call(cf, calls // cfg.rounds)
        await budget.aclose()
    p_local, p_redis = statistics.median(local_t), statistics.median(redis_t)
    added = (p_redis - p_local) * 1000
    rows.append(
        Row(
            "g.cost",
            "g. Redis budget: p50 per request (in-process transport)",
            p_redis * 1e6,
            "µs",
            p_local * 1e6,
            "in-process budget",
            p_redis / p_local,
            "≤ +0.5 ms p50",
            added <= 0.5,
            f"sequential cf.contacts.get on httpx.MockTransport, {calls} calls each, interleaved rounds; "
            f"Redis on loopback adds {added:.3f} ms p50 (unpaced: starts reported every 0.1 s)",
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------- output


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def fmt_ratio(row: Row) -> str:
    if row.ratio is None:
        return "—"
    if "%" in row.target:
        return f"{row.ratio:.0%}"
    return f"{row.ratio:.2f}×"


def write_results(rows: list[Row], meta: dict[str, Any]) -> None:
    verdict = {True: "**pass**", False: "**FAIL**", None: "info"}
    lines = [
        "# Benchmark results",
        "",
        f"Run {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs), Python {meta['python']}, "
        f"clickfunnels-async {meta['version']}, httpx {meta['httpx']}; whole run {meta['seconds']:.0f} s"
        + (" (**--quick**: reduced sizes, not comparable)" if meta["quick"] else "")
        + ".",
        "Each figure is compared with a baseline measured in the same run; timed figures are the median of "
        "interleaved rounds. Regenerate with `make bench`.",
        "",
        "| figure | value | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = fmt(row.baseline, row.unit) if row.baseline is not None else "—"
        if row.baseline is not None:
            baseline += f" ({row.baseline_label})"
        lines.append(
            f"| {row.figure} | {fmt(row.value, row.unit)} | {baseline} | {fmt_ratio(row)} | {row.target} "
            f"| {verdict[row.passed]} |"
        )
    lines += ["", "## How each figure was measured", ""]
    lines += [f"- **{row.figure}** — {row.notes}" for row in rows if row.notes]
    lines.append("")
    (HERE / "results.md").write_text("\n".join(lines), encoding="utf-8")
    (HERE / "results.json").write_text(
        json.dumps({"meta": meta, "figures": [attrs.asdict(row) for row in rows]}, indent=2) + "\n",
        encoding="utf-8",
    )


async def bench_transport(cfg: Config) -> list[Row]:
    from benchmarks import transport

    # Enough rounds that the medians hold still on a shared 2-core machine (the c256-vs-c64 row compares
    # two ratios, each as noisy as the loopback).
    rounds = 2 if cfg.quick else 5
    found = await transport.throughput_rows(cfg.quick, rounds)
    found += await transport.bulk_rows(cfg.quick, 2 if cfg.quick else 3)
    found += await transport.recovery_rows(cfg.quick)
    found += await transport.sporadic_rows(cfg.quick)
    return [Row(**fields) for fields in found]


async def main(cfg: Config, only: set[str] | None) -> None:
    started = time.perf_counter()
    sections: list[tuple[str, Callable[[Config], Awaitable[list[Row]]]]] = [
        ("a", bench_in_process),
        ("b", bench_socket),
        ("c", bench_bulk),
        ("d", bench_pagination),
        ("e", bench_rate_limit),
        ("f", bench_import),
        ("g", bench_redis),
        ("h", bench_transport),
    ]
    rows: list[Row] = []
    for key, fn in sections:
        if only and key not in only:
            continue
        t0 = time.perf_counter()
        log(f"[{key}] {fn.__name__} ...")
        new = await fn(cfg)
        rows += new
        for row in new:
            log(
                f"  {row.figure}: {fmt(row.value, row.unit)} vs {fmt(row.baseline, row.unit)} "
                f"-> {fmt_ratio(row)} [{row.target}] {row.passed}"
            )
        log(f"  ({time.perf_counter() - t0:.1f} s)")
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "version": clickfunnels_async.__version__,
        "httpx": httpx.__version__,
        "quick": cfg.quick,
        "seconds": time.perf_counter() - started,
    }
    if only:
        # A partial run keeps the other sections' figures from the last full run, in section order.
        try:
            previous = json.loads((HERE / "results.json").read_text(encoding="utf-8"))["figures"]
        except (OSError, ValueError, KeyError):
            previous = []
        kept = [Row(**f) for f in previous if f["key"].split(".")[0] not in only]
        rows = sorted(kept + rows, key=lambda row: row.key.split(".")[0])
        meta["partial"] = sorted(only)
    write_results(rows, meta)
    log(f"wrote {HERE / 'results.md'} and results.json in {meta['seconds']:.0f} s")


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        default="",
        help="sections to run, e.g. 'a,b', 'redis' or 'transport' (default: all)",
    )
    args = parser.parse_args(argv)
    aliases = {"redis": "g", "transport": "h"}
    only = {aliases.get(s.strip(), s.strip()) for s in args.only.split(",") if s.strip()} or None
    for name in ("CLICKFUNNELS_LOG",):  # debug logging would measure the logger, not the SDK
        os.environ.pop(name, None)
    # The rate-limit section retries on purpose; keep its warnings out of the progress output.
    logging.getLogger("clickfunnels_async").addHandler(logging.NullHandler())
    anyio.run(main, Config.make(args.quick), only)


if __name__ == "__main__":
    cli()

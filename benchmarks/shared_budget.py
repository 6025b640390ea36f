"""Several processes, one rate limit: each process runs `--concurrency` tasks calling the emulator.

``python -m benchmarks.shared_budget worker ...`` is one such process (it prints one JSON line);
:func:`run_processes` starts several of them at the same moment and collects their lines. With
``--redis URL`` the processes share a `RedisRateBudget`; without, each paces on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

from clickfunnels_async import ClickFunnels, RateLimitError

ROOT = Path(__file__).resolve().parent.parent


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the 429s the server sent (retried or not)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.limited = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.limited += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    budget = None
    options: dict[str, Any] = {}
    if args.redis:
        from clickfunnels_async.redis import RedisRateBudget

        budget = options["rate_budget"] = RedisRateBudget(args.redis, key=args.key)
    transport = CountingTransport()
    ok = surfaced = other = steady = 0
    async with ClickFunnels(
        api_token=args.token, base_url=args.url, transport=transport, **options
    ) as cf:
        # Ready (imports done, client built): say so, then wait for the moment every process starts at.
        print("ready", flush=True)
        start_at = float(await anyio.to_thread.run_sync(sys.stdin.readline))
        late = time.time() - start_at  # > 0: this process got the go too late
        await anyio.sleep(max(0.0, -late))
        t0 = time.monotonic()
        settled = t0 + args.settle

        async def call() -> None:
            nonlocal ok, surfaced, other, steady
            while True:
                try:
                    await cf.contacts.get(1)
                except RateLimitError:
                    surfaced += 1
                except Exception:
                    other += 1
                else:
                    ok += 1
                    steady += time.monotonic() >= settled

        rates: list[float | None] = []  # the shared rate every half second (None = unpaced)

        async def sample() -> None:
            while True:
                await anyio.sleep(0.5)
                rates.append(None if budget is None else budget.rate)

        with anyio.move_on_after(args.seconds):
            async with anyio.create_task_group() as group:
                group.start_soon(sample)
                for _ in range(args.concurrency):
                    group.start_soon(call)
        elapsed = time.monotonic() - t0
    if budget is not None:
        shared = budget.shared
        await budget.aclose()
    else:
        shared = False
    return {
        "ok": ok,
        "steady": steady,  # calls that succeeded after the first `settle` seconds
        "late": late,
        "surfaced_429": surfaced,
        "seen_429": transport.limited,
        "other_errors": other,
        "elapsed": elapsed,
        "shared": shared,
        "rates": rates,
    }


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port (no persistence); its URL until the block ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError(
            "redis-server is not installed (Debian/Ubuntu: apt-get install -y redis-server)"
        )
    for _attempt in range(3):  # the free port may be taken between probing and binding
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline and not _answers(port):
            time.sleep(0.05)
        if proc.poll() is None and _answers(port):
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError("redis-server did not start on a free loopback port")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def run_processes(
    url: str,
    token: str,
    *,
    redis_url: str | None,
    key: str = "bench",
    processes: int = 4,
    concurrency: int = 16,
    seconds: float = 10.0,
    settle: float = 2.0,
    start_delay: float = 0.5,
) -> list[dict[str, Any]]:
    """Start `processes` workers together (once all are ready); their reports, in start order."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.shared_budget",
        "worker",
        "--url",
        url,
        "--token",
        token,
        "--concurrency",
        str(concurrency),
        "--seconds",
        repr(seconds),
        "--key",
        key,
        "--settle",
        repr(settle),
    ]
    if redis_url:
        argv += ["--redis", redis_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKFUNNELS_", "MATON_"))}
    procs = [
        subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.wait(timeout=30)
            raise RuntimeError(f"worker failed to start ({proc.returncode})")
    start_at = time.time() + start_delay
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start_at!r}\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=start_delay + seconds + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed ({proc.returncode}):\n{err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def combined(
    reports: Sequence[dict[str, Any]], seconds: float, settle: float = 2.0
) -> dict[str, float]:
    # Shares of the calls after the first `settle` seconds: the cold start (every process unpaced until
    # the first 429s) goes to whichever process the machine runs first.
    total = sum(r["ok"] for r in reports)
    steady = sum(r["steady"] for r in reports)
    shares = [r["steady"] / steady if steady else 0.0 for r in reports]
    return {
        "rate": total / seconds,
        "steady_rate": sum(r["steady"] for r in reports) / (seconds - settle),
        "late": max(r["late"] for r in reports),
        "seen_429": float(sum(r["seen_429"] for r in reports)),
        "surfaced_429": float(sum(r["surfaced_429"] for r in reports)),
        "other_errors": float(sum(r["other_errors"] for r in reports)),
        "share_min": min(shares),
        "share_max": max(shares),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shared_budget")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--url", required=True)
    w.add_argument("--token", required=True)
    w.add_argument("--redis", default=None)
    w.add_argument("--key", default="bench")
    w.add_argument("--concurrency", type=int, default=16)
    w.add_argument("--seconds", type=float, default=10.0)
    w.add_argument("--settle", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.getLogger("clickfunnels_async").addHandler(logging.NullHandler())
    print(json.dumps(anyio.run(worker, args)), flush=True)


if __name__ == "__main__":
    main()

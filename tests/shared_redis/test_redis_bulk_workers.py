"""Three `clickfunnels contacts import` workers share one CSV through Redis; one is killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
import redis
from redis_procs import emulator, spawn, stop

from clickfunnels_async import ClickFunnels, RetryPolicy

ROWS = 9000


def _import(
    url: str, base_url: str, token: str, ws: int, csv: Path, shard: str
) -> subprocess.Popen[str]:
    env = {**os.environ, "CLICKFUNNELS_API_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    env.pop("CLICKFUNNELS_SUBDOMAIN", None)
    return spawn(
        [
            sys.executable,
            "-c",
            "import sys; from clickfunnels_async.cli import main; main(sys.argv[1:])",
            "--base-url",
            base_url,
            "--max-retries",
            "6",
            "contacts",
            "import",
            str(csv),
            "--workspace-id",
            str(ws),
            "--concurrency",
            "32",
            "--checkpoint",
            url,
            "--shard",
            shard,
            "--no-progress",
            "--json",
        ],
        env=env,
    )


def _bit(bitmap: bytes, index: int) -> bool:
    byte = index >> 3
    return byte < len(bitmap) and bool(bitmap[byte] & (0x80 >> (index & 7)))


def _finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    report: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return report


def test_three_workers_one_killed_and_restarted_store_every_row_once(
    redis_url: str, tmp_path: Path
) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "email_address,first_name\n" + "".join(f"row{i}@import.test,Row{i}\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    # 5xx before the write, and connections dropped before or after it: the client retries all of them
    # (an upsert is safe to repeat), so nothing is lost and nothing is stored twice.
    with emulator("--seed", "7", "--error-rate", "0.02", "--drop-rate", "0.01") as emu:
        workers = [
            _import(redis_url, emu.url, emu.token, emu.workspace_id, csv, f"{i}/3")
            for i in (1, 2, 3)
        ]
        try:
            keys = redis.Redis.from_url(redis_url)
            deadline = time.monotonic() + 60
            confirmed = 0
            # Kill worker 2 midway: once about a sixth of the rows are confirmed.
            while confirmed < ROWS // 6 and time.monotonic() < deadline:
                time.sleep(0.05)
                found = keys.keys("clickfunnels:import:*")
                confirmed = int(keys.bitcount(found[0])) if found else 0
            assert workers[1].poll() is None, "worker 2 ended before it could be killed"
            workers[1].send_signal(signal.SIGKILL)
            workers[1].wait()
            key = keys.keys("clickfunnels:import:*")[0]
            # Nobody else writes shard 2's bits (inputs 1, 4, 7, ...): what it had confirmed when it died.
            bits = keys.get(key) or b""
            done_before = sum(1 for i in range(1, ROWS, 3) if _bit(bits, i))
            # Restarted at once, while the other two go on.
            workers.append(_import(redis_url, emu.url, emu.token, emu.workspace_id, csv, "2/3"))
            first, third, again = (_finish(workers[i]) for i in (0, 2, 3))
            assert int(keys.bitcount(key)) == ROWS
        finally:
            for proc in workers:
                stop(proc)
        for report in (first, third):
            assert report["succeeded"] == ROWS // 3 and report["failed"] == 0
        # The restarted worker skipped the other shards and its own rows confirmed before the kill, and
        # did all the others (a row in flight at the kill was stored but not confirmed: it is upserted again).
        assert 0 < done_before < ROWS // 3
        assert again["failed"] == 0 and again["succeeded"] == ROWS // 3 - done_before
        assert again["skipped"] == ROWS - int(again["succeeded"])  # type: ignore[call-overload]

        async def stored() -> list[str]:
            async with ClickFunnels(
                api_token=emu.token,
                base_url=emu.url,
                retry_policy=RetryPolicy(max_retries=8, max_delay=0.2),
            ) as cf:
                return [c.email_address async for c in cf.contacts.list(emu.workspace_id)]

        emails = anyio.run(stored)
    assert len(emails) == ROWS and set(emails) == {f"row{i}@import.test" for i in range(ROWS)}


# 9,000 upserts and a full listing: ~20-40 s on a shared machine
pytestmark = pytest.mark.timeout(180)

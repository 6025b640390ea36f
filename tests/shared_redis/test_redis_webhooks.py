"""Two uvicorn workers behind one port share a RedisEventStore: each event is handled exactly once."""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from collections import Counter
from pathlib import Path

import anyio
import httpx
import pytest
import redis
from redis_procs import spawn, stop, wait_for_port

from clickfunnels_async.webhooks import sign_webhook

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


SECRET = "whsec_shared_redis_test_0123456789"
HERE = Path(__file__).resolve().parent


async def test_fifty_concurrent_redeliveries_of_ten_events_run_each_handler_once(
    redis_url: str,
) -> None:
    ns = f"test:{uuid.uuid4().hex}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CF_TEST_REDIS": redis_url, "CF_TEST_NS": ns, "CF_TEST_SECRET": SECRET}
    server = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "webhook_app:app",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    events = [f"evt-{i}" for i in range(10)]
    failing = events[3]
    processed: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    pids: set[str] = set()
    try:
        await anyio.to_thread.run_sync(wait_for_port, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            # Both workers up: each answers a probe on a new connection (a 404 from the app).
            with anyio.fail_after(60):
                while len(pids) < 2:
                    probe_reply = await http.get("/probe", headers={"connection": "close"})
                    pids.add(probe_reply.headers.get("x-worker-pid", ""))
            pids.clear()

            async def deliver(event_id: str) -> None:
                body = json.dumps(
                    {
                        "event_id": event_id,
                        "event_type": "contact.deleted"
                        if event_id == failing
                        else "contact.created",
                        "subject_type": "Contact",
                        "subject_id": 1,
                        "data": {"id": 1},
                    }
                ).encode()
                # As ClickFunnels does: an error or a 409 is delivered again (here after 50 ms).
                while True:
                    response = await http.post(
                        "/webhooks/clickfunnels",
                        content=body,
                        headers={**sign_webhook(body, SECRET), "content-type": "application/json"},
                    )
                    statuses[response.status_code] += 1
                    pids.add(response.headers.get("x-worker-pid", ""))
                    if response.status_code == 200:
                        if response.json()["status"] == "processed":
                            processed[event_id] += 1
                        return
                    assert response.status_code in (409, 500), response.text
                    await anyio.sleep(0.05)

            async with anyio.create_task_group() as group:
                for _ in range(5):
                    for event_id in events:
                        group.start_soon(deliver, event_id)
    finally:
        stop(server)
    records = redis.Redis.from_url(redis_url)
    finished = {e: int(records.get(f"{ns}:finished:{e}") or 0) for e in events}
    started = {e: int(records.get(f"{ns}:started:{e}") or 0) for e in events}
    assert finished == dict.fromkeys(events, 1)  # every handler ran to completion exactly once
    assert started == {
        e: 2 if e == failing else 1 for e in events
    }  # the failed attempt was redelivered
    assert processed == Counter(events)
    assert statuses[409] > 0 and statuses[500] == 1
    assert len(pids - {""}) == 2

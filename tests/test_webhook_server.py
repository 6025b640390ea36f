"""The webhook router over a real uvicorn server on 127.0.0.1 (issue 15, points 2 and 7)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from faultserver import serve_asgi

from clickfunnels_async.integrations.fastapi import ClickFunnelsWebhookRouter
from clickfunnels_async.webhooks import EventType, WebhookEvent, sign_webhook

SECRET = "whsec_server_test_0123456789"
PATH = "/hooks"


def delivery(event_id: str) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": "contact.created",
            "subject_type": "Contact",
            "subject_id": 1,
            "data": {"id": 1, "email_address": "a@example.com"},
        }
    ).encode()


async def post(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post(
        PATH,
        content=body,
        headers={**sign_webhook(body, SECRET), "Content-Type": "application/json"},
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs in this event loop


@pytest.mark.anyio
async def test_a_redelivery_while_the_first_attempt_runs_is_retryable_and_handled_after_that_attempt_fails() -> (
    None
):
    router = ClickFunnelsWebhookRouter(secret=SECRET, path=PATH)
    started, finish = anyio.Event(), anyio.Event()
    attempts: list[str] = []

    @router.on(EventType.CONTACT_CREATED)
    async def handle(event: WebhookEvent) -> None:
        attempts.append(event.event_id or "")
        if len(attempts) == 1:
            started.set()
            await finish.wait()
            raise RuntimeError("the first attempt fails after the sender stopped waiting")

    app = FastAPI()
    app.include_router(router)
    body = delivery("evt-inflight")
    async with (
        serve_asgi(app, limit=30) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        async with anyio.create_task_group() as group:
            first: list[httpx.Response] = []

            async def first_attempt() -> None:
                first.append(await post(http, body))

            group.start_soon(first_attempt)
            await started.wait()
            second = await post(http, body)  # ClickFunnels redelivers while the first still runs
            assert second.status_code == 409
            assert second.json() == {"status": "in_flight"}
            assert 0 < int(second.headers["Retry-After"]) <= 60
            finish.set()
        assert first[0].status_code == 500
        third = await post(http, body)  # the sender retries the 409 later: now it is handled
        assert third.status_code == 200 and third.json() == {"status": "processed"}
        fourth = await post(http, body)
        assert fourth.status_code == 200 and fourth.json() == {"status": "duplicate"}
    assert attempts == ["evt-inflight", "evt-inflight"]


class StatusRecorder:
    """ASGI middleware noting the status of every response the app sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.statuses: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, recording_send)


@pytest.mark.anyio
async def test_a_large_forged_body_is_answered_413_without_buffering_it() -> None:
    limit = 1024 * 1024
    router = ClickFunnelsWebhookRouter(secret=SECRET, path=PATH, max_body_size=limit)
    handled: list[str] = []

    @router.on(EventType.CONTACT_CREATED)
    async def handle(event: WebhookEvent) -> None:
        handled.append(event.event_id or "")

    app = FastAPI()
    app.include_router(router)
    recorder = StatusRecorder(app)
    chunk = b"x" * 65536
    total = 64 * 1024 * 1024  # 64 MiB of forged body, sent chunked (no Content-Length to trust)

    async def forged() -> AsyncIterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    forged_headers = sign_webhook(b"something else", SECRET)
    async with (
        serve_asgi(recorder, limit=60) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
    ):
        tracemalloc.start()
        try:
            try:
                response = await http.post(PATH, content=forged(), headers=forged_headers)
                assert response.status_code == 413
            except httpx.TransportError:
                pass  # the server may close the connection while the client is still sending
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert recorder.statuses == [413]
        assert peak < 16 * 1024 * 1024, peak  # far below the 64 MiB sent: never held whole

        # A declared Content-Length over the limit is refused before a byte of the body is read.
        big = await http.post(PATH, content=b"y" * (limit + 1), headers=forged_headers)
        assert big.status_code == 413 and big.json()["error"] == "payload_too_large"

        # Just under the limit, a genuine delivery streams through the chunked check and is handled.
        event = json.loads(delivery("evt-big"))
        event["data"]["notes"] = "n" * (limit - 2048)
        body = json.dumps(event).encode()
        assert len(body) < limit
        ok = await post(http, body)
        assert ok.status_code == 200 and ok.json() == {"status": "processed"}
        # A body altered after signing fails the chunked HMAC check.
        tampered = await http.post(
            PATH, content=body[:-2] + b"x}", headers=sign_webhook(body, SECRET)
        )
        assert tampered.status_code == 400 and tampered.json()["reason"] == "signature_mismatch"
    assert handled == ["evt-big"]

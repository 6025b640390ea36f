"""The app two uvicorn workers serve in test_redis_webhooks.py (configured by environment variables).

Every handler run is recorded in Redis: how often it started and finished, and by which process.
"""

from __future__ import annotations

import os

import anyio
import redis.asyncio
from fastapi import FastAPI, Request, Response

from clickfunnels_async.integrations.fastapi import ClickFunnelsWebhookRouter
from clickfunnels_async.redis import RedisEventStore
from clickfunnels_async.webhooks import WebhookEvent

REDIS = os.environ["CF_TEST_REDIS"]
NS = os.environ["CF_TEST_NS"]

records = redis.asyncio.Redis.from_url(REDIS)
router = ClickFunnelsWebhookRouter(
    secret=os.environ["CF_TEST_SECRET"], store=RedisEventStore(REDIS, prefix=f"{NS}:events:")
)


@router.on_any
async def handle(event: WebhookEvent) -> None:
    runs = await records.incr(f"{NS}:started:{event.event_id}")
    # Long enough that concurrent redeliveries find the event in flight on the other worker.
    await anyio.sleep(0.2)
    if event.event_type == "contact.deleted" and runs == 1:
        raise RuntimeError("the first attempt at this event fails")
    await records.incr(f"{NS}:finished:{event.event_id}")


app = FastAPI()
app.include_router(router)


@app.middleware("http")
async def which_worker(request: Request, call_next):  # type: ignore[no-untyped-def]
    response: Response = await call_next(request)
    response.headers["x-worker-pid"] = str(os.getpid())
    return response

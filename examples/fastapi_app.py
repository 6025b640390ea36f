"""A small FastAPI backend that receives ClickFunnels webhooks and tags every new contact.

Run it::

    export CLICKFUNNELS_API_TOKEN=...        # API token (or OAuth access token)
    export CLICKFUNNELS_SUBDOMAIN=acme       # workspace subdomain
    export CLICKFUNNELS_WEBHOOK_SECRET=...   # the endpoint's webhook_secret
    export NEW_CONTACT_TAG_ID=123            # numeric id of the tag to apply
    uvicorn --factory examples.fastapi_app:create_app_from_env

then point a webhook endpoint (event type ``contact.created``) at ``https://<host>/webhooks/clickfunnels``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request

from clickfunnels_async import ClickFunnels
from clickfunnels_async.integrations.fastapi import (
    ClickFunnelsWebhookRouter,
    clickfunnels_lifespan,
    get_clickfunnels,
)
from clickfunnels_async.webhooks import EventStore, EventType, WebhookEvent

log = logging.getLogger("example.fastapi_app")

# (client, contact_id, tag_id) -> awaitable; swappable so the app can be tried without the API.
Tagger = Callable[[Any, int, int], Awaitable[object]]


async def tag_contact(cf: ClickFunnels, contact_id: int, tag_id: int) -> None:
    """The one API call this app makes: apply a tag to a contact."""
    await cf.contacts.applied_tags.create(contact_id=contact_id, tag_id=tag_id)


def create_app(
    *,
    webhook_secret: str,
    new_contact_tag_id: int,
    client_factory: Callable[[], Any] = ClickFunnels,
    tagger: Tagger = tag_contact,
    store: EventStore | None = None,
) -> FastAPI:
    app = FastAPI(lifespan=clickfunnels_lifespan(client_factory))
    hooks = ClickFunnelsWebhookRouter(secret=webhook_secret, store=store)

    @hooks.on(EventType.CONTACT_CREATED)
    async def tag_new_contact(event: WebhookEvent, request: Request) -> None:
        # The subject of a contact.created event is the contact itself.
        contact_id = event.subject_id
        if not isinstance(contact_id, int):
            log.warning("contact.created %s without a numeric subject_id", event.event_id)
            return
        # An exception here becomes a 500, and ClickFunnels delivers the event again later.
        await tagger(get_clickfunnels(request), contact_id, new_contact_tag_id)
        log.info("tagged contact %s with tag %s", contact_id, new_contact_tag_id)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(hooks)
    return app


def create_app_from_env() -> FastAPI:
    return create_app(
        webhook_secret=os.environ["CLICKFUNNELS_WEBHOOK_SECRET"],
        new_contact_tag_id=int(os.environ["NEW_CONTACT_TAG_ID"]),
    )


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app_from_env(), host="127.0.0.1", port=8000)

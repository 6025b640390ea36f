"""Receiving ClickFunnels webhooks: signature checking, typed events, event type ids.

Typical use (any framework; FastAPI users see ``clickfunnels_async.integrations.fastapi``)::

    event = verify_webhook(raw_body, request.headers, secret)   # raises if forged / stale
    if event.event_type == EventType.CONTACT_CREATED:
        ...

`verify_webhook` checks *and* parses, because an unverified payload should never be parsed and a
verified one is always wanted parsed. `parse_event` alone is for bodies you already trust (for
example events re-read from the API's event log).
"""

from clickfunnels_async.webhooks._events import WebhookEvent, WebhookPayloadError, parse_event
from clickfunnels_async.webhooks._types import ALL_EVENT_TYPES, EventType
from clickfunnels_async.webhooks._verify import (
    DEFAULT_TOLERANCE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EventState,
    EventStore,
    InMemoryEventStore,
    SignatureVerifier,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "ALL_EVENT_TYPES",
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EventState",
    "EventStore",
    "EventType",
    "InMemoryEventStore",
    "SignatureVerifier",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "parse_event",
    "sign_webhook",
    "verify_webhook",
]

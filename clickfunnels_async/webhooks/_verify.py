"""Signature checking for ClickFunnels webhooks, and the replay (deduplication) store.

Scheme (ClickFunnels "signature verification" guide): hex HMAC-SHA256, keyed with the endpoint's
``webhook_secret``, over ``"<timestamp>.<raw body>"``; the timestamp (Unix seconds) travels in its own
header and must be within ``tolerance`` seconds of now, which bounds how long a captured delivery can be
replayed. Deliveries that ClickFunnels itself retries are new signatures over the same ``event_id``:
the dedup store is what stops those being handled twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Final, Protocol

import attrs

from clickfunnels_async._errors import ClickFunnelsError
from clickfunnels_async.webhooks._events import WebhookEvent, parse_event

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EventStore",
    "InMemoryEventStore",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]

SIGNATURE_HEADER: Final = "X-Webhook-ClickFunnels-Signature"
TIMESTAMP_HEADER: Final = "X-Webhook-ClickFunnels-Timestamp"
DEFAULT_TOLERANCE: Final = 600  # seconds, the guide's recommendation

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Unix seconds; the length cap keeps absurd values from becoming huge ints.
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class WebhookVerificationError(ClickFunnelsError):
    """The delivery cannot be trusted. `reason` is a stable code, the message says it in words.

    Codes: ``missing_signature``, ``missing_timestamp``, ``malformed_signature``,
    ``malformed_timestamp``, ``signature_mismatch``, ``timestamp_expired``, ``timestamp_in_future``.
    Neither the secret nor the expected signature ever appears in the error.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign_webhook(body: bytes, secret: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers ClickFunnels would send with `body` (for tests and the emulator)."""
    if timestamp is None:
        timestamp = int(time.time())
    return {
        SIGNATURE_HEADER: _signature(_key(secret), str(timestamp), body),
        TIMESTAMP_HEADER: str(timestamp),
    }


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """Check a delivery's signature and age, then return it parsed (see `parse_event`).

    `body` must be the raw request bytes, exactly as received: re-serialised JSON does not verify.
    `headers` is any mapping (a dict, ``httpx.Headers``, Starlette's ``request.headers``); names are
    matched case-insensitively. `now` (Unix seconds) is for tests.

    Raises `WebhookVerificationError` for an untrustworthy delivery and `WebhookPayloadError` for an
    authentic body that is not a usable envelope.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        # A str here usually means the framework already decoded (or re-encoded) the body.
        raise TypeError("verify_webhook() needs the raw request body as bytes")
    key = _key(secret)
    raw_body = bytes(body)

    signature = _header(headers, SIGNATURE_HEADER)
    if signature is None:
        raise WebhookVerificationError(
            "missing_signature", f"the {SIGNATURE_HEADER} header is missing"
        )
    stamp = _header(headers, TIMESTAMP_HEADER)
    if stamp is None:
        raise WebhookVerificationError(
            "missing_timestamp", f"the {TIMESTAMP_HEADER} header is missing"
        )
    signature, stamp = signature.strip(), stamp.strip()
    if not _UNIX_SECONDS.fullmatch(stamp):
        raise WebhookVerificationError(
            "malformed_timestamp", f"the {TIMESTAMP_HEADER} header is not Unix seconds"
        )
    if not _HEX_SHA256.fullmatch(signature):
        raise WebhookVerificationError(
            "malformed_signature", f"the {SIGNATURE_HEADER} header is not a hex SHA-256 digest"
        )

    expected = _signature(key, stamp, raw_body)
    # Both sides are ASCII hex; lower-casing the received one accepts either case.
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookVerificationError(
            "signature_mismatch",
            "the signature does not match the body (altered body or wrong webhook secret)",
        )

    # Age is checked after authenticity, so "expired" only ever describes a genuine, replayed delivery.
    current = time.time() if now is None else now
    age = current - int(stamp)
    if age > tolerance:
        raise WebhookVerificationError(
            "timestamp_expired",
            f"the delivery was signed {age:.0f} s ago, more than the {tolerance} s tolerance",
        )
    if -age > tolerance:
        raise WebhookVerificationError(
            "timestamp_in_future",
            f"the delivery is dated {-age:.0f} s in the future, more than the {tolerance} s tolerance",
        )
    return parse_event(raw_body)


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not key:
        # An empty key would let anyone produce a "valid" signature; it is always a misconfiguration.
        raise ValueError("the webhook secret is empty")
    return key


def _signature(key: bytes, stamp: str, body: bytes) -> str:
    return hmac.new(key, stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        # Plain dicts are case-sensitive; header objects already answered above.
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value


class EventStore(Protocol):
    """Remembers which event ids were handled, so a redelivery is not handled twice.

    `seen` must test and mark in one atomic step (for a shared store: ``SET key NX EX ttl`` in Redis,
    ``INSERT ... ON CONFLICT DO NOTHING`` in SQL): it returns True when the id was already marked and
    marks it otherwise. `forget` unmarks an id whose handling failed, so the retry is handled.
    """

    async def seen(self, event_id: str) -> bool: ...

    async def forget(self, event_id: str) -> None: ...


@attrs.define(slots=True)
class InMemoryEventStore:
    """Bounded in-process store: the newest `max_size` ids, each kept for `ttl` seconds.

    The default TTL (48 h) outlasts ClickFunnels' retry schedule (last attempt ~37 h after the first).
    Per process only: with several workers, use a shared store.
    """

    max_size: int = 10_000
    ttl: float = 48 * 3600
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)
    _marks: OrderedDict[str, float] = attrs.field(init=False, factory=OrderedDict, repr=False)

    async def seen(self, event_id: str) -> bool:
        # No await between the test and the mark: atomic within one event loop (asyncio or trio).
        now = self.clock()
        self._evict(now)
        if event_id in self._marks:
            return True
        self._marks[event_id] = now + self.ttl
        if len(self._marks) > self.max_size:
            self._marks.popitem(last=False)
        return False

    async def forget(self, event_id: str) -> None:
        self._marks.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._marks)

    def _evict(self, now: float) -> None:
        # Insertion order is expiry order (constant TTL), so expired ids are at the front.
        while self._marks:
            oldest, expires = next(iter(self._marks.items()))
            if expires > now:
                break
            del self._marks[oldest]

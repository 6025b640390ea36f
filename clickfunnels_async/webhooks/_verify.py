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
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, Protocol, cast

import attrs

from clickfunnels_async._errors import ClickFunnelsError
from clickfunnels_async.webhooks._events import WebhookEvent, parse_event

__all__ = [
    "DEFAULT_TOLERANCE",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "EventState",
    "EventStore",
    "InMemoryEventStore",
    "LegacyEventStore",
    "SignatureVerifier",
    "WebhookVerificationError",
    "as_event_store",
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
    matched case-insensitively. `now` (Unix seconds) is for tests. For a body that arrives in chunks,
    `SignatureVerifier` checks it without holding it twice.

    Raises `WebhookVerificationError` for an untrustworthy delivery and `WebhookPayloadError` for an
    authentic body that is not a usable envelope.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        # A str here usually means the framework already decoded (or re-encoded) the body.
        raise TypeError("verify_webhook() needs the raw request body as bytes")
    key = _Key.of(secret)
    del secret  # wrapped from here on: a traceback's locals never show it
    verifier = SignatureVerifier(headers, key, tolerance=tolerance, now=now)
    raw_body = bytes(body)
    verifier.update(raw_body)
    verifier.verify()
    return parse_event(raw_body)


class SignatureVerifier:
    """A delivery's signature checked chunk by chunk, for bodies read as a stream.

    ``SignatureVerifier(headers, secret)`` checks the headers at once (raising
    `WebhookVerificationError` for a missing or malformed one); feed the body with `update`, then
    `verify()` raises unless the signature matches and the timestamp is within `tolerance`.
    """

    __slots__ = ("_mac", "_now", "_signature", "_stamp", "_tolerance")

    def __init__(
        self,
        headers: Mapping[str, str],
        secret: str | bytes | _Key,
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        now: float | None = None,
    ) -> None:
        key = secret if isinstance(secret, _Key) else _Key.of(secret)
        del secret
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
        self._mac = hmac.new(key.value, stamp.encode("ascii") + b".", hashlib.sha256)
        self._signature = signature.lower()  # both sides ASCII hex: either case is accepted
        self._stamp = int(stamp)
        self._tolerance = tolerance
        self._now = now

    def __repr__(self) -> str:
        return "<SignatureVerifier>"

    def update(self, chunk: bytes) -> None:
        self._mac.update(chunk)

    def verify(self) -> None:
        if not hmac.compare_digest(self._mac.hexdigest(), self._signature):
            raise WebhookVerificationError(
                "signature_mismatch",
                "the signature does not match the body (altered body or wrong webhook secret)",
            )
        # Age is checked after authenticity, so "expired" only ever describes a genuine, replayed delivery.
        current = time.time() if self._now is None else self._now
        age = current - self._stamp
        tolerance = self._tolerance
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


class _Key:
    """The webhook secret as bytes, kept out of reprs and tracebacks' locals."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<webhook secret>"

    @classmethod
    def of(cls, secret: str | bytes) -> _Key:
        return cls(_key(secret))


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


EventState = Literal["new", "in_flight", "done"]


class EventStore(Protocol):
    """Remembers which event ids are being handled or were handled, so a redelivery is handled once.

    `claim` must test and mark in one atomic step (Redis: ``SET key in_flight NX PX lease``; SQL:
    ``INSERT ... ON CONFLICT``): an unknown id is marked in flight with a lease and ``"new"`` is
    returned; otherwise its state, ``"in_flight"`` or ``"done"``. An in-flight mark whose lease ran out
    (the worker died) counts as unknown. `complete` turns an in-flight id into done (kept for the
    store's TTL); `release` forgets an id whose handling failed, so the redelivery is handled.
    """

    async def claim(self, event_id: str) -> EventState: ...

    async def complete(self, event_id: str) -> None: ...

    async def release(self, event_id: str) -> None: ...


@attrs.define(slots=True)
class InMemoryEventStore:
    """Bounded in-process store: the newest `max_size` ids; done ids kept `ttl` seconds, in-flight
    ones for their `lease` (then a redelivery is handled again: the worker is presumed dead).

    The default TTL (48 h) outlasts ClickFunnels' retry schedule (last attempt ~37 h after the first).
    Per process only: with several workers, use a shared store (``clickfunnels_async.redis``).
    """

    max_size: int = 10_000
    ttl: float = 48 * 3600
    lease: float = 300.0
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)
    # id -> (done?, expiry); insertion order = age, for the size bound.
    _marks: OrderedDict[str, tuple[bool, float]] = attrs.field(
        init=False, factory=OrderedDict, repr=False
    )

    async def claim(self, event_id: str) -> EventState:
        # No await between the test and the mark: atomic within one event loop (asyncio or trio).
        now = self.clock()
        self._evict(now)
        mark = self._marks.get(event_id)
        if mark is not None and mark[1] > now:
            return "done" if mark[0] else "in_flight"
        self._marks[event_id] = (False, now + self.lease)
        self._marks.move_to_end(event_id)
        while len(self._marks) > self.max_size:
            self._marks.popitem(last=False)
        return "new"

    async def complete(self, event_id: str) -> None:
        self._marks[event_id] = (True, self.clock() + self.ttl)
        self._marks.move_to_end(event_id)
        while len(self._marks) > self.max_size:
            self._marks.popitem(last=False)

    async def release(self, event_id: str) -> None:
        self._marks.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._marks)

    def _evict(self, now: float) -> None:
        # Expired marks at the front go; one further back waits for the size bound or its next claim.
        while self._marks:
            oldest, (_, expires) = next(iter(self._marks.items()))
            if expires > now:
                break
            del self._marks[oldest]


class LegacyEventStore:
    """Adapts a store written for the old ``seen``/``forget`` protocol (deprecated) to `EventStore`.

    Such a store cannot tell "being handled" from "handled", so a redelivery that arrives while the first
    attempt runs is answered as a duplicate: implement `claim`/`complete`/`release` instead.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def claim(self, event_id: str) -> EventState:
        return "done" if await self.inner.seen(event_id) else "new"

    async def complete(self, event_id: str) -> None:
        return None

    async def release(self, event_id: str) -> None:
        await self.inner.forget(event_id)


def as_event_store(store: Any) -> EventStore:
    """*store* as an `EventStore`; one with only ``seen``/``forget`` is adapted, with a DeprecationWarning."""
    if all(callable(getattr(store, name, None)) for name in ("claim", "complete", "release")):
        return cast(EventStore, store)
    if callable(getattr(store, "seen", None)) and callable(getattr(store, "forget", None)):
        warnings.warn(
            f"{type(store).__name__} implements the old seen()/forget() EventStore protocol, which cannot "
            "tell an event being handled from a handled one; implement claim()/complete()/release()",
            DeprecationWarning,
            stacklevel=3,
        )
        return LegacyEventStore(store)
    raise TypeError(
        f"store must implement EventStore (claim/complete/release), not {type(store).__name__}"
    )

"""Outgoing webhooks: events for the fake's writes, signed as ClickFunnels signs them, delivered in the
background to registered endpoints (loopback only, unless an http client is given) and to `on_webhook`
callbacks."""

from __future__ import annotations

import hashlib
import inspect
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from clickfunnels_async import _json
from clickfunnels_async._hosts import is_loopback
from clickfunnels_async.testing._base import FakeBase
from clickfunnels_async.testing._reply import now as _now
from clickfunnels_async.testing._rules import event_subject, subject_type
from clickfunnels_async.testing._store import Record

if TYPE_CHECKING:
    import httpx

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookDelivery", "Webhooks"]

SIGNATURE_HEADER: Final = "X-Webhook-ClickFunnels-Signature"
TIMESTAMP_HEADER: Final = "X-Webhook-ClickFunnels-Timestamp"


def _is_loopback_url(url: str) -> bool:
    from urllib.parse import urlsplit

    return is_loopback(urlsplit(url).hostname or "")


@attrs.define(slots=True, eq=False)
class WebhookDelivery:
    """One signed delivery of one event to one endpoint (or callback), as the fake sent it."""

    event_id: str
    event_type: str
    workspace_id: int | None
    endpoint_id: int | None  # None for `on_webhook` callbacks
    url: str | None  # None for callbacks
    body: bytes
    headers: dict[str, str]
    secret: str = attrs.field(repr=False)
    status_code: int | None = None  # the receiver's answer (200 for a callback that returned)
    error: str | None = None  # transport error or callback exception

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


WebhookCallback = Callable[[WebhookDelivery], Awaitable[object] | object]


@attrs.define(slots=True, eq=False)
class _Listener:
    callback: WebhookCallback
    event_types: frozenset[str] | None
    secret: str


@attrs.define(slots=True)
class _Pending:
    delivery: WebhookDelivery
    listener: _Listener | None


class Webhooks(FakeBase):
    """Events, listeners and the background sender."""

    deliveries: list[WebhookDelivery]
    webhook_secret_default: str
    _listeners: list[_Listener]
    _queue: deque[_Pending]
    _pumping: bool
    _own_http: httpx.AsyncClient | None

    def on_webhook(
        self,
        callback: WebhookCallback,
        *,
        event_types: Iterable[str] | None = None,
        secret: str | None = None,
    ) -> Callable[[], None]:
        """Call `callback(delivery)` (sync or async) for every event (or only `event_types`), signed with
        `secret` (default `webhook_secret_default`). Returns a function that unsubscribes."""
        listener = _Listener(
            callback,
            frozenset(event_types) if event_types is not None else None,
            secret or self.webhook_secret_default,
        )
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def endpoint_secret(self, endpoint_id: int | str) -> str:
        """The `webhook_secret` of a registered endpoint (the API shows it only once, at creation)."""
        rec = self._store("webhooks.outgoing.endpoints").get(endpoint_id)
        if rec is None:
            raise KeyError(endpoint_id)
        secret: str = rec["_secret"]
        return secret

    def _event_type(self, ns: str, action: str) -> str | None:
        event_type = f"{event_subject(ns)}.{action}"
        try:
            from clickfunnels_async.webhooks import ALL_EVENT_TYPES
        except ImportError:  # the webhooks package is optional for the fake
            return event_type
        return event_type if event_type in ALL_EVENT_TYPES else None

    def _emit(self, ns: str, action: str, rec: Record) -> None:
        endpoints_store = self._stores.get("webhooks.outgoing.endpoints")
        if not self._listeners and (endpoints_store is None or not endpoints_store.by_id):
            return  # nobody listens: the hot path stays free of webhook work
        event_type = self._event_type(ns, action)
        if event_type is None:
            return
        workspace_id = rec["_anc"].get("workspace_id")
        if workspace_id is None and ns == "workspaces":
            workspace_id = rec["id"]
        endpoints: list[Record] = []
        if endpoints_store is not None and workspace_id is not None:
            for eid in endpoints_store.scope_ids(("workspace_id", workspace_id)):
                endpoint = endpoints_store.by_id[eid]
                types = endpoint.get("event_type_ids") or []
                if event_type in types or "*" in types:
                    endpoints.append(endpoint)
        listeners = [
            li for li in self._listeners if li.event_types is None or event_type in li.event_types
        ]
        if not endpoints and not listeners:
            return
        now = _now()
        data = self.render(rec)
        event_uuid = str(uuid.uuid4())
        events = self._store("webhooks.outgoing.events")
        anc = {"workspace_id": workspace_id} if workspace_id is not None else {}
        event = self._make(
            "webhooks.outgoing.events",
            {
                "uuid": event_uuid,
                "event_type_id": event_type,
                "subject_id": rec["id"],
                "subject_type": subject_type(ns),
                "data": data,
                "api_version": 2,
                "page": None,
                "funnel": None,
            },
            anc,
            now,
        )
        events.insert(event)
        envelope = {
            "event_id": event_uuid,
            "event_type": event_type,
            "subject_id": rec["id"],
            "subject_type": subject_type(ns),
            "workspace_id": workspace_id,
            "api_version": 2,
            "created_at": now,
            "data": data,
        }
        body = _json.dumps(envelope)
        for endpoint in endpoints:
            self._queue.append(
                _Pending(
                    WebhookDelivery(
                        event_uuid,
                        event_type,
                        workspace_id,
                        endpoint["id"],
                        endpoint.get("url"),
                        body,
                        {},
                        endpoint["_secret"],
                    ),
                    None,
                )
            )
        for listener in listeners:
            self._queue.append(
                _Pending(
                    WebhookDelivery(
                        event_uuid, event_type, workspace_id, None, None, body, {}, listener.secret
                    ),
                    listener,
                )
            )
        self._kick()

    def _kick(self) -> None:
        if self._pumping or self._task_group is None or not self._queue:
            return
        self._pumping = True
        self._task_group.start_soon(self._pump)

    async def _pump(self) -> None:
        try:
            while self._queue:
                await self._deliver(self._queue.popleft())
        finally:
            self._pumping = False

    async def drain_webhooks(self) -> list[WebhookDelivery]:
        """Wait until every queued delivery was attempted; returns the deliveries made meanwhile."""
        start = len(self.deliveries)
        while self._queue or self._pumping:
            if self._pumping:
                await anyio.sleep(0.001)
            else:
                self._pumping = True
                await self._pump()
        return self.deliveries[start:]

    async def _deliver(self, pending: _Pending) -> None:
        delivery = pending.delivery
        delivery.headers = {
            **_sign(delivery.body, delivery.secret, int(time.time())),
            "Content-Type": "application/json",
            "User-Agent": "ClickFunnels-Webhooks/2 (fake)",
        }
        self.deliveries.append(delivery)
        if pending.listener is not None:
            try:
                result = pending.listener.callback(delivery)
                if inspect.isawaitable(result):
                    await result
                delivery.status_code = 200
            except Exception as exc:  # the receiver's failure is recorded, not raised into the fake
                delivery.error = f"{type(exc).__name__}: {exc}"
            return
        if not delivery.url:
            delivery.error = "endpoint has no url"
            return
        if self.webhook_http_client is None and not _is_loopback_url(delivery.url):
            # A test fake must not reach out to the internet on its own: deliver to loopback only,
            # unless the caller hands in an http_client (e.g. one wired to their ASGI app).
            delivery.error = (
                f"not delivered to {delivery.url}: the fake delivers only to 127.0.0.1/localhost "
                "unless FakeClickFunnels(http_client=...) is given"
            )
            return
        try:
            client = self._webhook_client()
            response = await client.post(
                delivery.url, content=delivery.body, headers=delivery.headers
            )
            delivery.status_code = response.status_code
        except Exception as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"

    def _webhook_client(self) -> httpx.AsyncClient:
        if self.webhook_http_client is not None:
            return self.webhook_http_client
        if self._own_http is None:
            import httpx

            self._own_http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        return self._own_http


def _sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    try:
        from clickfunnels_async.webhooks import sign_webhook
    except ImportError:
        import hmac

        digest = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return {SIGNATURE_HEADER: digest, TIMESTAMP_HEADER: str(timestamp)}
    return dict(sign_webhook(body, secret, timestamp))

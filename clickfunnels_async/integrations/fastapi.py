"""FastAPI glue: one client per app, and a webhook receiver router.

Needs the ``fastapi`` extra (``pip install "clickfunnels-async[fastapi]"``).

::

    from clickfunnels_async import ClickFunnels
    from clickfunnels_async.integrations.fastapi import (
        ClickFunnelsWebhookRouter, clickfunnels_lifespan, get_clickfunnels,
    )

    app = FastAPI(lifespan=clickfunnels_lifespan(lambda: ClickFunnels(subdomain="acme")))
    hooks = ClickFunnelsWebhookRouter(secret=os.environ["CLICKFUNNELS_WEBHOOK_SECRET"])

    @hooks.on(EventType.CONTACT_CREATED)
    async def welcome(event: WebhookEvent, request: Request) -> None:
        cf = get_clickfunnels(request)
        ...

    app.include_router(hooks)
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from clickfunnels_async.webhooks import (
    ALL_EVENT_TYPES,
    DEFAULT_TOLERANCE,
    EventStore,
    InMemoryEventStore,
    SignatureVerifier,
    WebhookEvent,
    WebhookPayloadError,
    WebhookVerificationError,
    parse_event,
)
from clickfunnels_async.webhooks._verify import as_event_store

if TYPE_CHECKING:
    from clickfunnels_async import ClickFunnels

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_STATE_KEY",
    "ClickFunnelsWebhookRouter",
    "WebhookHandler",
    "clickfunnels_lifespan",
    "get_clickfunnels",
]

DEFAULT_STATE_KEY = "clickfunnels"
# Webhook envelopes are a few KB; this leaves room for large orders and stops a flood of bytes early.
DEFAULT_MAX_BODY_SIZE = 5 * 1024 * 1024

_log = logging.getLogger("clickfunnels_async.webhooks")

_Client = TypeVar("_Client", bound=AbstractAsyncContextManager[Any])

# A handler takes the event, and optionally the request (to reach app state, e.g. the client).
WebhookHandler = Callable[..., Awaitable[Any]]
_H = TypeVar("_H", bound=WebhookHandler)


def clickfunnels_lifespan(
    factory: Callable[[], _Client], *, state_key: str = DEFAULT_STATE_KEY
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, _Client]]]:
    """A FastAPI ``lifespan`` that opens one client at startup and closes it at shutdown.

    The client is put on ``app.state.<state_key>`` and in the lifespan state (``request.state``), so
    `get_clickfunnels` finds it from routes of mounted sub-apps too. To combine with a lifespan of
    your own, enter this one inside it: ``async with clickfunnels_lifespan(f)(app) as state: ...``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, _Client]]:
        # `async with` rather than a bare aclose(): the client may do setup in __aenter__, and it is
        # closed even when startup of something after us fails.
        async with factory() as client:
            setattr(app.state, state_key, client)
            try:
                yield {state_key: client}
            finally:
                # Routes still holding a reference after shutdown should fail loudly, not reuse a
                # closed pool.
                if getattr(app.state, state_key, None) is client:
                    delattr(app.state, state_key)

    return lifespan


def get_clickfunnels(request: Request) -> ClickFunnels:
    """FastAPI dependency: the app's client (``cf: ClickFunnels = Depends(get_clickfunnels)``)."""
    client = _lookup(request, DEFAULT_STATE_KEY)
    if client is None:
        raise RuntimeError(
            "no ClickFunnels client on this app: create the app with "
            "FastAPI(lifespan=clickfunnels_lifespan(...))"
        )
    return client  # type: ignore[no-any-return]


def _lookup(request: Request, key: str) -> Any:
    # Lifespan state first (set by the ASGI server per request), then app.state as the fallback for
    # servers or test transports that do not run the lifespan protocol.
    state = request.scope.get("state")
    if isinstance(state, dict) and state.get(key) is not None:
        return state[key]
    return getattr(request.app.state, key, None)


class ClickFunnelsWebhookRouter(APIRouter):
    """An ``APIRouter`` with one POST route that receives ClickFunnels webhooks.

    Every delivery is verified on the raw body (400 with the reason if forged, stale or malformed),
    then deduplicated on ``event_id`` through `store`, then passed to the handlers registered for its
    type (`on`) and to the catch-all handlers (`on_any`), in registration order.

    Responses: 200 ``{"status": "processed"}``; 200 ``{"status": "duplicate"}`` for an event already
    handled (ClickFunnels retries up to 8 times); 409 ``{"status": "in_flight"}`` with a short
    ``Retry-After`` while another attempt at the same event is still running (retryable: if that attempt
    fails, the redelivery is handled); 200 ``{"status": "ignored"}`` when no handler matches; 413 for
    a body over `max_body_size` (answered before reading beyond it); 500 when a handler raises, after
    releasing the event so ClickFunnels' retry is handled. Handlers are therefore run at least once per
    event; make them idempotent where it matters.
    """

    def __init__(
        self,
        *,
        secret: str | bytes,
        path: str = "/webhooks/clickfunnels",
        tolerance: int = DEFAULT_TOLERANCE,
        store: EventStore | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        in_flight_retry_after: int = 5,
        include_in_schema: bool = False,
        **router_kwargs: Any,
    ) -> None:
        super().__init__(**router_kwargs)
        if not secret:
            raise ValueError("the webhook secret is empty")
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 1
        ):
            raise ValueError(
                f"max_body_size must be a positive number of bytes, not {max_body_size!r}"
            )
        self._secret = secret
        self._tolerance = tolerance
        self.max_body_size = max_body_size
        self._retry_after = str(int(in_flight_retry_after))
        self.store: EventStore = (
            as_event_store(store) if store is not None else InMemoryEventStore()
        )
        self._handlers: dict[str, list[WebhookHandler]] = {}
        self._catch_all: list[WebhookHandler] = []
        self.add_api_route(
            path,
            self._receive,
            methods=["POST"],
            include_in_schema=include_in_schema,
            response_class=JSONResponse,
            name="clickfunnels_webhook",
        )

    def on(self, *event_types: str) -> Callable[[_H], _H]:
        """Decorator: run the handler for these event types (``@router.on("contact.created")``)."""
        if not event_types:
            raise TypeError("on() needs at least one event type; use on_any for every event")
        for event_type in event_types:
            if event_type not in ALL_EVENT_TYPES:
                # Not an error: the catalog grows. But a typo here silently drops events.
                warnings.warn(
                    f"{event_type!r} is not a known ClickFunnels event type", stacklevel=2
                )

        def register(handler: _H) -> _H:
            _check_handler(handler)
            for event_type in event_types:
                self._handlers.setdefault(event_type, []).append(handler)
            return handler

        return register

    def on_any(self, handler: _H) -> _H:
        """Decorator: run the handler for every event (after the type-specific ones)."""
        _check_handler(handler)
        self._catch_all.append(handler)
        return handler

    def handlers_for(self, event_type: str) -> list[WebhookHandler]:
        """The handlers a delivery of `event_type` would run, in order."""
        return [*self._handlers.get(event_type, ()), *self._catch_all]

    async def _read_verified(self, request: Request) -> bytes | JSONResponse:
        """The body, read at most `max_body_size` bytes far, its signature checked chunk by chunk."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            return _too_large(self.max_body_size)
        try:
            # Headers first: a delivery without a well-formed signature is refused before reading.
            verifier = SignatureVerifier(request.headers, self._secret, tolerance=self._tolerance)
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_body_size:
                    return _too_large(self.max_body_size)
                verifier.update(chunk)
                chunks.append(chunk)
            verifier.verify()
        except WebhookVerificationError as exc:
            _log.warning("rejected a webhook delivery: %s", exc.reason)
            return JSONResponse(
                {"error": "invalid_signature", "reason": exc.reason, "detail": str(exc)},
                status_code=400,
            )
        return b"".join(chunks)

    async def _receive(self, request: Request) -> JSONResponse:
        body = await self._read_verified(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            event = parse_event(body)
        except WebhookPayloadError as exc:
            _log.warning("rejected a signed webhook delivery with an unusable body: %s", exc)
            return JSONResponse({"error": "invalid_payload", "detail": str(exc)}, status_code=400)

        handlers = self.handlers_for(event.event_type)
        if not handlers:
            _log.debug("no handler for webhook %s (%s)", event.event_type, event.event_id)
            return JSONResponse({"status": "ignored"})

        # Without an id there is nothing to deduplicate on; handle it rather than drop it.
        if event.event_id is not None:
            state = await self.store.claim(event.event_id)
            if state == "done":
                _log.debug("duplicate webhook %s (%s)", event.event_type, event.event_id)
                return JSONResponse({"status": "duplicate"})
            if state == "in_flight":
                # Not a duplicate yet: the first attempt may still fail. Ask the sender to come back.
                _log.debug("webhook %s (%s) is being handled", event.event_type, event.event_id)
                return JSONResponse(
                    {"status": "in_flight"},
                    status_code=409,
                    headers={"Retry-After": self._retry_after},
                )

        try:
            for handler in handlers:
                await _call(handler, event, request)
        except Exception:
            await self._settle(event, handled=False)
            _log.exception("webhook handler failed for %s (%s)", event.event_type, event.event_id)
            # No exception details in the response: they go to your logs, not to the sender.
            return JSONResponse({"error": "handler_failed"}, status_code=500)
        except BaseException:
            # Cancelled (client went away, server shutting down): the event was not handled.
            await self._settle(event, handled=False)
            raise
        await self._settle(event, handled=True)
        return JSONResponse({"status": "processed"})

    async def _settle(self, event: WebhookEvent, *, handled: bool) -> None:
        if event.event_id is None:
            return
        # Shielded: this may run while being cancelled, and a stuck in-flight mark would hold off the
        # retry until its lease ends.
        with anyio.CancelScope(shield=True):
            try:
                if handled:
                    await self.store.complete(event.event_id)
                else:
                    await self.store.release(event.event_id)
            except Exception:
                # The handlers' outcome stands; the lease runs out and a redelivery is handled again.
                _log.exception("the event store failed to record webhook %s", event.event_id)


def _too_large(limit: int) -> JSONResponse:
    _log.warning("rejected a webhook delivery larger than %d bytes", limit)
    return JSONResponse(
        {"error": "payload_too_large", "detail": f"the body is larger than {limit} bytes"},
        status_code=413,
    )


def _wants_request(handler: WebhookHandler) -> bool:
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(params) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _check_handler(handler: WebhookHandler) -> None:
    if not inspect.iscoroutinefunction(handler):
        raise TypeError(f"webhook handlers must be async functions, got {handler!r}")


async def _call(handler: WebhookHandler, event: WebhookEvent, request: Request) -> None:
    if _wants_request(handler):
        await handler(event, request)
    else:
        await handler(event)

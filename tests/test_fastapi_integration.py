"""FastAPI integration: client lifespan + dependency, the webhook router, and the two examples."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from _records import record
from fastapi import Depends, FastAPI, Request

from clickfunnels_async.integrations.fastapi import (
    ClickFunnelsWebhookRouter,
    clickfunnels_lifespan,
    get_clickfunnels,
)
from clickfunnels_async.webhooks import EventType, WebhookEvent

try:  # prefer the real client; the stand-in keeps these tests meaningful without it
    from clickfunnels_async import ClickFunnels as _RealClickFunnels
except ImportError:  # pragma: no cover - only before the client lands
    _RealClickFunnels = None  # type: ignore[assignment,misc]

SECRET = "whsec_router_secret_0123456789"
PATH = "/webhooks/clickfunnels"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Async tests run under asyncio and trio (conftest's anyio_backend): FastAPI and the router are
# loop-agnostic, and the dedup store must stay atomic under both.


def signed(
    payload: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A delivery signed the way the docs describe, computed here with hmac directly."""
    import hashlib
    import hmac

    body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {
        "content-type": "application/json",
        "x-webhook-clickfunnels-signature": digest,
        "x-webhook-clickfunnels-timestamp": stamp,
    }


def contact_created(event_id: str = "evt-1", contact_id: int = 501) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "contact.created",
        "subject_id": contact_id,
        "subject_type": "Contact",
        "created_at": "2024-04-04T19:16:31.000Z",
        "workspace_id": 32,
        "data": {"id": contact_id, "email_address": "joe.doe@example.com"},
    }


@pytest.fixture
async def http_for() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(app: FastAPI) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def post(http: httpx.AsyncClient, payload: dict[str, Any], **kw: Any) -> httpx.Response:
    body, headers = signed(payload, **kw)
    return await http.post(PATH, content=body, headers=headers)


def app_with(router: ClickFunnelsWebhookRouter) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    return app


# --- router ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_valid_delivery_reaches_handler_once(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)
    received: list[WebhookEvent] = []

    @router.on(EventType.CONTACT_CREATED)
    async def handle(event: WebhookEvent) -> None:
        received.append(event)

    http = http_for(app_with(router))
    response = await post(http, contact_created())
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert [e.event_id for e in received] == ["evt-1"]
    assert received[0].subject_id == 501

    # Same event delivered again (ClickFunnels retry, new timestamp and signature).
    again = await post(http, contact_created(), timestamp=int(time.time()) + 1)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(received) == 1


@pytest.mark.anyio
async def test_forged_delivery_is_400_and_does_not_poison_dedup(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)
    calls: list[str] = []

    @router.on_any
    async def handle(event: WebhookEvent) -> None:
        calls.append(event.event_type)

    http = http_for(app_with(router))
    forged = await post(http, contact_created(), secret="attacker-guess")
    assert forged.status_code == 400
    assert forged.json()["error"] == "invalid_signature"
    assert forged.json()["reason"] == "signature_mismatch"
    assert SECRET not in forged.text and "attacker-guess" not in forged.text
    assert calls == []

    # The genuine delivery with the same event_id is still handled.
    genuine = await post(http, contact_created())
    assert genuine.json() == {"status": "processed"}
    assert calls == ["contact.created"]


@pytest.mark.anyio
async def test_bad_requests_say_why(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET, tolerance=600)

    @router.on_any
    async def handle(event: WebhookEvent) -> None:
        raise AssertionError("must not run")

    http = http_for(app_with(router))
    stale = await post(http, contact_created(), timestamp=int(time.time()) - 3600)
    assert (stale.status_code, stale.json()["reason"]) == (400, "timestamp_expired")

    unsigned = await http.post(PATH, json=contact_created())
    assert (unsigned.status_code, unsigned.json()["reason"]) == (400, "missing_signature")

    body, headers = signed({"no": "event type"})
    unusable = await http.post(PATH, content=body, headers=headers)
    assert (unusable.status_code, unusable.json()["error"]) == (400, "invalid_payload")


@pytest.mark.anyio
async def test_handler_error_is_500_and_redelivery_is_handled(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)
    attempts: list[str] = []

    @router.on(EventType.CONTACT_CREATED)
    async def flaky(event: WebhookEvent) -> None:
        attempts.append(event.event_id or "")
        if len(attempts) == 1:
            raise RuntimeError("database is down: internal detail")

    http = http_for(app_with(router))
    failed = await post(http, contact_created())
    assert failed.status_code == 500
    assert "internal detail" not in failed.text

    retried = await post(http, contact_created())
    assert (retried.status_code, retried.json()) == (200, {"status": "processed"})
    assert attempts == ["evt-1", "evt-1"]

    third = await post(http, contact_created())
    assert third.json() == {"status": "duplicate"}
    assert len(attempts) == 2


@pytest.mark.anyio
async def test_no_handler_is_ignored(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)

    @router.on(EventType.ORDER_CREATED)
    async def orders(event: WebhookEvent) -> None:
        raise AssertionError("wrong type routed")

    http = http_for(app_with(router))
    response = await post(http, contact_created())
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})


@pytest.mark.anyio
async def test_specific_then_catch_all_handlers_and_request_access(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)
    order: list[str] = []

    @router.on_any
    async def audit(event: WebhookEvent, request: Request) -> None:
        order.append(f"any:{request.url.path}")

    @router.on(EventType.CONTACT_CREATED, EventType.CONTACT_UPDATED)
    async def contact(event: WebhookEvent) -> None:
        order.append(f"contact:{event.event_type}")

    http = http_for(app_with(router))
    await post(http, contact_created("a"))
    await post(http, {**contact_created("b"), "event_type": "contact.updated"})
    await post(http, {**contact_created("c"), "event_type": "order.created"})
    assert order == [
        "contact:contact.created",
        f"any:{PATH}",
        "contact:contact.updated",
        f"any:{PATH}",
        f"any:{PATH}",
    ]


@pytest.mark.anyio
async def test_concurrent_deliveries_handled_exactly_once_per_event(http_for: Any) -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)
    handled: list[str] = []

    @router.on(EventType.CONTACT_CREATED)
    async def handle(event: WebhookEvent) -> None:
        await anyio.sleep(0.01)  # let other deliveries interleave while this one is in flight
        handled.append(event.event_id or "")

    http = http_for(app_with(router))
    statuses: list[str] = []
    in_flight = 0

    async def deliver(n: int) -> None:
        nonlocal in_flight
        while True:  # as a sender does: a 409 is retried after its Retry-After
            response = await post(http, contact_created(f"evt-{n % 10}"))
            if response.status_code != 409:
                break
            assert response.json() == {"status": "in_flight"} and response.headers["Retry-After"] == "5"
            in_flight += 1
            await anyio.sleep(0.005)
        assert response.status_code == 200
        statuses.append(response.json()["status"])

    async with anyio.create_task_group() as tg:
        for n in range(50):
            tg.start_soon(deliver, n)

    assert sorted(handled) == sorted(f"evt-{i}" for i in range(10))
    assert statuses.count("processed") == 10
    assert statuses.count("duplicate") == 40
    assert in_flight > 0  # redeliveries during the first attempt were told to come back, not "duplicate"


@pytest.mark.anyio
async def test_a_store_of_the_old_seen_forget_protocol_is_adapted_with_a_warning(http_for: Any) -> None:
    class RecordingStore:
        def __init__(self) -> None:
            self.marked: set[str] = set()
            self.log: list[tuple[str, str]] = []

        async def seen(self, event_id: str) -> bool:
            self.log.append(("seen", event_id))
            was = event_id in self.marked
            self.marked.add(event_id)
            return was

        async def forget(self, event_id: str) -> None:
            self.log.append(("forget", event_id))
            self.marked.discard(event_id)

    store = RecordingStore()
    with pytest.warns(DeprecationWarning, match="claim"):  # the old protocol still works, adapted
        router = ClickFunnelsWebhookRouter(secret=SECRET, store=store, path="/hooks")

    @router.on(EventType.CONTACT_CREATED)
    async def boom(event: WebhookEvent) -> None:
        raise ValueError("no")

    http = http_for(app_with(router))
    body, headers = signed(contact_created("x"))
    response = await http.post("/hooks", content=body, headers=headers)
    assert response.status_code == 500
    assert store.log == [("seen", "x"), ("forget", "x")]
    assert store.marked == set()


def test_registration_checks() -> None:
    router = ClickFunnelsWebhookRouter(secret=SECRET)
    with pytest.raises(TypeError, match="async"):
        router.on(EventType.CONTACT_CREATED)(lambda event: None)  # type: ignore[type-var]
    with pytest.warns(UserWarning, match="not a known"):
        router.on("contact.craeted")
    with pytest.raises(ValueError, match="empty"):
        ClickFunnelsWebhookRouter(secret="")


# --- lifespan + dependency -------------------------------------------------------------------


class StandIn:
    """Quacks like ClickFunnels for the lifespan: an async context manager with aclose()."""

    def __init__(self) -> None:
        self.closed = False

    async def __aenter__(self) -> StandIn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True


def real_client_factory(made: list[Any]) -> Any:
    if _RealClickFunnels is None:
        pytest.skip("clickfunnels_async.ClickFunnels is not importable yet")

    class Recording(_RealClickFunnels):
        closed = False

        async def aclose(self) -> None:
            self.closed = True
            await super().aclose()

    def factory() -> Any:
        client = Recording("test-token", subdomain="acme")
        made.append(client)
        return client

    return factory


@pytest.fixture(params=["real", "stand-in"])
def factory_and_made(request: pytest.FixtureRequest) -> tuple[Any, list[Any]]:
    made: list[Any] = []
    if request.param == "real":
        return real_client_factory(made), made

    def factory() -> StandIn:
        client = StandIn()
        made.append(client)
        return client

    return factory, made


def dependency_app(factory: Any) -> FastAPI:
    app = FastAPI(lifespan=clickfunnels_lifespan(factory))

    @app.get("/which")
    async def which(cf: Annotated[Any, Depends(get_clickfunnels)]) -> dict[str, Any]:
        return {"id": id(cf), "type": type(cf).__name__}

    return app


def test_lifespan_one_client_per_app_closed_at_shutdown(
    factory_and_made: tuple[Any, list[Any]],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette nudging towards httpx2 on import
        from fastapi.testclient import TestClient

    factory, made = factory_and_made
    app = dependency_app(factory)
    with TestClient(app) as client:  # runs the real ASGI lifespan (request.state path)
        first = client.get("/which").json()
        second = client.get("/which").json()
        assert len(made) == 1
        assert first == second == {"id": id(made[0]), "type": type(made[0]).__name__}
        assert not made[0].closed
    assert made[0].closed
    assert not hasattr(app.state, "clickfunnels")


@pytest.mark.anyio
async def test_dependency_via_app_state_without_lifespan_protocol(
    factory_and_made: tuple[Any, list[Any]], http_for: Any
) -> None:
    # httpx's ASGITransport does not speak the lifespan protocol: app.state is the fallback.
    factory, made = factory_and_made
    app = dependency_app(factory)
    async with app.router.lifespan_context(app):
        response = await http_for(app).get("/which")
        assert response.json()["id"] == id(made[0])
    assert made[0].closed


def test_get_clickfunnels_without_lifespan_explains() -> None:
    app = FastAPI()
    request = Request({"type": "http", "app": app, "headers": []})
    with pytest.raises(RuntimeError, match="clickfunnels_lifespan"):
        get_clickfunnels(request)


# --- examples --------------------------------------------------------------------------------


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_app() -> Iterator[tuple[FastAPI, list[tuple[Any, int, int]], list[StandIn]]]:
    module = load_example("fastapi_app")
    tagged: list[tuple[Any, int, int]] = []
    fail_next: list[bool] = []
    clients: list[StandIn] = []

    async def fake_tagger(cf: Any, contact_id: int, tag_id: int) -> None:
        if fail_next:
            fail_next.pop()
            raise RuntimeError("API unavailable")
        tagged.append((cf, contact_id, tag_id))

    def factory() -> StandIn:
        clients.append(StandIn())
        return clients[-1]

    app = module.create_app(
        webhook_secret=SECRET, new_contact_tag_id=77, client_factory=factory, tagger=fake_tagger
    )
    app.state.fail_next = fail_next
    yield app, tagged, clients


@pytest.mark.anyio
async def test_example_tags_new_contacts_once(example_app: Any, http_for: Any) -> None:
    app, tagged, clients = example_app
    async with app.router.lifespan_context(app):
        http = http_for(app)
        first = await post(http, contact_created("evt-9", contact_id=4242))
        assert first.json() == {"status": "processed"}
        duplicate = await post(http, contact_created("evt-9", contact_id=4242))
        assert duplicate.json() == {"status": "duplicate"}
        forged = await post(http, contact_created("evt-10", contact_id=1), secret="nope")
        assert forged.status_code == 400
        other = await post(http, {**contact_created("evt-11"), "event_type": "order.created"})
        assert other.json() == {"status": "ignored"}
    assert tagged == [(clients[0], 4242, 77)]
    assert clients[0].closed


@pytest.mark.anyio
async def test_example_failed_tagging_is_retried(example_app: Any, http_for: Any) -> None:
    app, tagged, clients = example_app
    app.state.fail_next.append(True)
    async with app.router.lifespan_context(app):
        http = http_for(app)
        assert (await post(http, contact_created("evt-5", 8))).status_code == 500
        assert (await post(http, contact_created("evt-5", 8))).json() == {"status": "processed"}
    assert tagged == [(clients[0], 8, 77)]


@pytest.mark.anyio
async def test_example_tag_contact_against_real_client() -> None:
    # The one real API call of the example, through the real client with a mocked transport.
    if _RealClickFunnels is None:
        pytest.skip("clickfunnels_async.ClickFunnels is not importable yet")
    module = load_example("fastapi_app")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201, json=record("ContactsAppliedTag", id=1, contact_id=4242, tag_id=77)
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        cf = _RealClickFunnels("test-token", subdomain="acme", http_client=http)
        if not hasattr(cf.contacts, "applied_tags"):
            pytest.skip("cf.contacts.applied_tags is not generated yet")
        await module.tag_contact(cf, 4242, 77)
    assert len(seen) == 1
    assert seen[0].method == "POST"
    assert seen[0].url.path == "/api/v2/contacts/4242/applied_tags"
    assert json.loads(seen[0].content) == {"contacts_applied_tag": {"tag_id": 77}}


def token_stub(calls: list[dict[str, Any]], status: int = 200) -> FastAPI:
    """A fake accounts host: just /oauth/token."""
    stub = FastAPI()

    @stub.post("/oauth/token")
    async def token(request: Request) -> Any:
        calls.append(json.loads(await request.body()))
        from fastapi.responses import JSONResponse

        if status != 200:
            return JSONResponse({"error": "invalid_grant"}, status_code=status)
        return JSONResponse(
            {
                "access_token": "tok-secret-123456",
                "token_type": "Bearer",
                "scope": "admin read",
                "created_at": 1_700_000_000,
                "team_id": 1,
                "team_name": "Acme Team",
                "workspace_id": 42,
                "workspace_name": "Acme Store",
                "workspace_url": "https://acme.myclickfunnels.com",
            }
        )

    return stub


@pytest.mark.anyio
async def test_oauth_example_login_and_callback(
    http_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_example("oauth_callback")
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("CLICKFUNNELS_CLIENT_ID", "cid")
    monkeypatch.setenv("CLICKFUNNELS_CLIENT_SECRET", "csecret-abcdef")
    monkeypatch.setenv("CLICKFUNNELS_REDIRECT_URI", "http://test/callback")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=token_stub(calls)),
        base_url="https://accounts.myclickfunnels.com",
    ) as accounts:
        app = module.create_app_from_env(http_client=accounts)
        http = http_for(app)

        login = await http.get("/login")
        assert login.status_code == 302
        location = login.headers["location"]
        assert location.startswith("https://accounts.myclickfunnels.com/oauth/authorize?")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["client_id"] == "cid" and query["new_installation"] == "true"

        forged = await http.get("/callback", params={"code": "c1", "state": "made-up"})
        assert forged.status_code == 400
        assert calls == []  # an unknown state never reaches the token endpoint

        done = await http.get("/callback", params={"code": "code-xyz", "state": query["state"]})
        assert done.status_code == 200
        assert done.json() == {
            "team": "Acme Team",
            "workspace": "Acme Store",
            "workspace_id": 42,
            "subdomain": "acme",
        }
        assert "tok-secret" not in done.text
        assert calls[0]["code"] == "code-xyz"
        assert calls[0]["client_secret"] == "csecret-abcdef"
        assert calls[0]["redirect_uri"] == "http://test/callback"
        assert len(calls[0]["code_verifier"]) >= 43

        # The state is single use: replaying the callback is refused without a second exchange.
        replay = await http.get("/callback", params={"code": "code-xyz", "state": query["state"]})
        assert replay.status_code == 400
        assert len(calls) == 1
        assert app.state.oauth_tokens[0].access_token == "tok-secret-123456"


@pytest.mark.anyio
async def test_oauth_example_refused_exchange(http_for: Any) -> None:
    module = load_example("oauth_callback")
    calls: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=token_stub(calls, 400))) as acc:
        from clickfunnels_async.oauth import OAuthClient

        oauth = OAuthClient(
            "cid", "csecret-abcdef", redirect_uri="http://test/callback", http_client=acc
        )
        http = http_for(module.create_app(oauth))
        state = parse_qs(urlsplit((await http.get("/login")).headers["location"]).query)["state"][0]
        response = await http.get("/callback", params={"code": "code-xyz", "state": state})
    assert response.status_code == 502
    assert "invalid_grant" in response.text
    assert "code-xyz" not in response.text and "csecret" not in response.text
    assert len(calls) == 1

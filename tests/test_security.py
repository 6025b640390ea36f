"""Security: secrets never shown, requests never redirected to another host or path, webhooks unforgeable.

1. Canary scan: a canary API token, Maton key, webhook secret and OAuth secrets are used across the SDK
   (errors and retries against a server that echoes them back, debug logging, pagination, Maton, webhook
   failures, OAuth errors, the CLI, the emulator); every log line, repr(), str() and CLI output is
   collected and must contain none of them.
2. Host, subdomain, base_url and path injection: rejected, or quoted so the request stays on its host
   and path.
3. Webhook forgery and replay.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest
from _records import contact_json

from clickfunnels_async import (
    APIConnectionError,
    ClickFunnels,
    ClickFunnelsConfigError,
    ClickFunnelsError,
    MatonConnections,
    RetryPolicy,
)
from clickfunnels_async._log import logger as sdk_logger
from clickfunnels_async.oauth import OAuthClient
from clickfunnels_async.testing import FakeClickFunnels
from clickfunnels_async.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)

TOKEN = "cfcanaryTOKEN7f3a9b2c41d0"
MATON_KEY = "matoncanaryKEY55e1d0a9"
WEBHOOK_SECRET = "whcanarySECRETa1b2c3d4"
OAUTH_SECRET = "oacanarySECRET9d8c7b"
OAUTH_CODE = "oacanaryCODE6e5f4a"
OAUTH_VERIFIER = "oacanaryVERIFIER" + "x" * 40
CANARIES = [TOKEN, MATON_KEY, WEBHOOK_SECRET, OAUTH_SECRET, OAUTH_CODE, OAUTH_VERIFIER]

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.005, jitter=0.0)


# ---------------------------------------------------------------------------------------------- helpers


class Collector:
    """Everything a user could see: reprs, strs, tracebacks of our errors, log lines, CLI output."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, *objects: Any) -> None:
        for obj in objects:
            self.texts.append((where, repr(obj)))
            self.texts.append((where, str(obj)))
            if isinstance(obj, ClickFunnelsError):
                for name in ("message", "body", "headers", "url", "errors", "error_description"):
                    if hasattr(obj, name):
                        self.texts.append((f"{where}.{name}", str(getattr(obj, name))))

    def check(self, extra: list[str] | None = None) -> None:
        secrets = CANARIES + (extra or [])
        leaks = [(where, text[:200]) for where, text in self.texts for s in secrets if s in text]
        assert not leaks, leaks


def echo_handler(request: httpx.Request) -> httpx.Response:
    """A hostile server: answers with whatever status the path ends in, echoing every credential it got."""
    echoed = " ".join(
        f"{k}={v}" for k, v in request.headers.items() if k.lower() in ("authorization", "maton-connection")
    )
    echoed += f" url={request.url} body={request.content.decode(errors='replace')}"
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    status = int(last) if last.isdigit() and 200 <= int(last) < 600 else 500
    headers = {"X-Request-Id": "req-1"}
    if status == 502:
        return httpx.Response(502, text=f"<html><body>Bad gateway {echoed}</body></html>",
                              headers={**headers, "content-type": "text/html"})
    if status == 200:
        return httpx.Response(200, text=f"not json {echoed}", headers=headers)
    if status == 422:
        return httpx.Response(422, json={"errors": {"email_address": [f"invalid {echoed}"]}}, headers=headers)
    if status == 429:
        return httpx.Response(429, json={"message": echoed}, headers={**headers, "Retry-After": "0"})
    return httpx.Response(status, json={"error": f"refused: {echoed}"}, headers=headers)


def echo_client(**kwargs: Any) -> ClickFunnels:
    kwargs.setdefault("subdomain", "acme")
    return ClickFunnels(
        api_token=TOKEN,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(echo_handler)),
        retry_policy=FAST,
        **kwargs,
    )


@pytest.fixture
def debug_logging(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """CLICKFUNNELS_LOG=debug as a user would set it; the stderr handler it adds is removed afterwards."""
    monkeypatch.setenv("CLICKFUNNELS_LOG", "debug")
    level, handlers = sdk_logger.level, list(sdk_logger.handlers)
    caplog.set_level(logging.DEBUG, logger="clickfunnels_async")
    try:
        yield
    finally:
        for handler in sdk_logger.handlers:
            if handler not in handlers:
                sdk_logger.removeHandler(handler)
        sdk_logger.setLevel(level)


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
        if record.exc_text:
            texts.append(record.exc_text)
    return texts


async def expect_error(collector: Collector, where: str, call: Callable[[], Any]) -> ClickFunnelsError:
    try:
        await call()
    except ClickFunnelsError as exc:
        collector.add(where, exc)
        return exc
    raise AssertionError(f"{where}: no error")


# ---------------------------------------------------------------------------------------------- 1. canaries


@pytest.mark.anyio
async def test_canaries_never_leak_from_client_maton_oauth_webhooks_emulator(
    anyio_backend: str,
    debug_logging: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen = Collector()
    # -- the client against a server that echoes the token back, with retries
    async with echo_client(max_retries=2) as cf:
        seen.add("client", cf, cf.with_options(timeout=3, extra_headers={"X-Trace": "1"}), cf._shared,
                 cf._options, cf._shared.throttle)
        for status in (400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 200):
            await expect_error(seen, f"request {status}", lambda s=status: cf.request("GET", f"/api/v2/x/{s}"))
        await expect_error(seen, "get", lambda: cf.contacts.get(1))  # 500, retried twice, then raised
        await expect_error(seen, "create", lambda: cf.contacts.create(42, email_address=f"{TOKEN}@x.com"))
        await expect_error(seen, "pagination", lambda: cf.contacts.list(42).to_list())
        await expect_error(seen, "paginate", lambda: cf.paginate("/api/v2/y/502").to_list())
        await expect_error(seen, "secret query", lambda: cf.request(
            "GET", "/api/v2/z/401", params={"api_key": TOKEN, "access_token": TOKEN}))
        seen.add("paginator", cf.contacts.list(42))

    # -- transport failures whose text carries the token
    def exploding(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connect failed ({request.headers['authorization']})", request=request)

    async with ClickFunnels(api_token=TOKEN, subdomain="acme", retry_policy=FAST, max_retries=1,
                            http_client=httpx.AsyncClient(transport=httpx.MockTransport(exploding))) as cf:
        await expect_error(seen, "connect", lambda: cf.contacts.get(1))

    # -- the Maton gateway and Maton's connection API
    async with ClickFunnels.via_maton(
        maton_api_key=MATON_KEY, connection="conn_1", base_url="https://gateway.maton.test/clickfunnels",
        retry_policy=FAST, http_client=httpx.AsyncClient(transport=httpx.MockTransport(echo_handler)),
    ) as maton_cf:
        seen.add("via_maton", maton_cf, maton_cf.with_options(maton_connection="conn_2"))
        await expect_error(seen, "maton 401", lambda: maton_cf.request("GET", "/api/v2/a/401"))
        await expect_error(seen, "maton 400", lambda: maton_cf.request("GET", "/api/v2/a/400"))
    async with MatonConnections(
        api_key=MATON_KEY, base_url="https://ctrl.maton.test", retry=FAST,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(echo_handler)),
    ) as maton:
        seen.add("maton", maton)
        await expect_error(seen, "maton list", lambda: maton.list())
        await expect_error(seen, "maton get", lambda: maton.get("conn_404"))

    # -- OAuth: a token endpoint that quotes the whole request back
    oauth = OAuthClient("app_1", OAUTH_SECRET, redirect_uri="https://app.example.com/cb",
                        accounts_url="https://accounts.example.test",
                        http_client=httpx.AsyncClient(transport=httpx.MockTransport(
                            lambda r: httpx.Response(400, json={"error": "invalid_grant",
                                                                "error_description": r.content.decode()}))))
    auth = oauth.authorization_url()
    seen.add("oauth", oauth, auth)
    await expect_error(seen, "oauth exchange", lambda: oauth.exchange_code(
        OAUTH_CODE, code_verifier=OAUTH_VERIFIER, state="s", expected_state="s"))
    await expect_error(seen, "oauth state", lambda: oauth.exchange_code(
        OAUTH_CODE, state="forged", expected_state="issued"))

    # -- the emulator: restricted to the canary token; its OAuth flow; a webhook with the canary secret
    fake = FakeClickFunnels(seed=3, tokens=[TOKEN])
    fake.seed(contacts=45)
    deliveries = []
    fake.on_webhook(deliveries.append, secret=WEBHOOK_SECRET)
    async with fake, fake.client(max_retries=0) as cf:
        seen.add("fake", fake, cf)
        assert len(await cf.contacts.list(42).to_list()) == 45
        contact = await cf.contacts.create(42, email_address="new@example.com")
        seen.add("contact", contact)
        await expect_error(seen, "fake 404", lambda: cf.contacts.get(999_999))
        await expect_error(seen, "fake 422", lambda: cf.contacts.create(42, email_address="new@example.com"))
        async with ClickFunnels(api_token="wrongtoken123", base_url=fake.base_url,
                                http_client=fake.http_client()) as wrong:
            await expect_error(seen, "fake 401", lambda: wrong.contacts.get(1))
        await fake.drain_webhooks()
        fake_oauth = OAuthClient("app_2", OAUTH_SECRET, redirect_uri="https://app.example.com/cb",
                                 accounts_url=fake.base_url, http_client=fake.http_client())
        await expect_error(seen, "fake oauth", lambda: fake_oauth.exchange_code(OAUTH_CODE))
    assert deliveries
    for delivery in deliveries:
        seen.add("delivery", delivery)
        event = verify_webhook(delivery.body, delivery.headers, WEBHOOK_SECRET)
        seen.add("event", event)

    # -- webhook verification failures with the canary secret
    body = json.dumps({"event_id": "e1", "event_type": "contact.created", "data": {}}).encode()
    now = int(time.time())
    good = sign_webhook(body, WEBHOOK_SECRET, now)
    expected_signature = good[SIGNATURE_HEADER]
    for name, headers, data in [
        ("wrong secret", sign_webhook(body, "another-secret", now), body),
        ("tampered", good, body + b" "),
        ("expired", sign_webhook(body, WEBHOOK_SECRET, now - 3600), body),
        ("future", sign_webhook(body, WEBHOOK_SECRET, now + 3600), body),
        ("malformed", {SIGNATURE_HEADER: "zz", TIMESTAMP_HEADER: str(now)}, body),
    ]:
        with pytest.raises(WebhookVerificationError) as info:
            verify_webhook(data, headers, WEBHOOK_SECRET)
        seen.add(f"webhook {name}", info.value)

    captured = capsys.readouterr()
    seen.texts += [("stderr", captured.err), ("stdout", captured.out)]
    seen.texts += [("log", text) for text in log_texts(caplog)]
    assert any("HTTP request GET" in text for _, text in seen.texts), "debug logging was not on"
    assert any("Retrying" in text for _, text in seen.texts), "no retry happened"
    seen.check(extra=[expected_signature])


def test_canaries_never_leak_from_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    typer_testing = pytest.importorskip("typer.testing")
    from clickfunnels_async.cli import build_app

    monkeypatch.setenv("CLICKFUNNELS_API_TOKEN", TOKEN)
    monkeypatch.setenv("MATON_API_KEY", MATON_KEY)
    monkeypatch.setenv("CLICKFUNNELS_LOG", "debug")
    level, handlers = sdk_logger.level, list(sdk_logger.handlers)
    runner = typer_testing.CliRunner()
    outputs: list[str] = []

    def run(app: Any, *args: str) -> None:
        result = runner.invoke(app, list(args))
        outputs.append(result.output)
        with contextlib.suppress(ValueError):
            outputs.append(result.stderr)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            outputs.append("".join(traceback.format_exception(result.exception)))

    try:
        fake = FakeClickFunnels(seed=4, tokens=[TOKEN])
        fake.seed(contacts=30)
        emulator_app = build_app(client_factory=lambda **kw: fake.client(**kw))
        run(emulator_app, "list", "contacts", "workspace_id=42", "--json")
        run(emulator_app, "call", "getContacts", "id=999999")
        run(emulator_app, "call", "contacts.get", "id=1", "--json")

        def hostile(**kw: Any) -> ClickFunnels:
            kw["max_retries"] = 1
            return echo_client(retry_policy=FAST, **{k: v for k, v in kw.items() if k != "retry_policy"})

        echo_app = build_app(client_factory=hostile)
        run(echo_app, "call", "contacts.get", "id=401")
        run(echo_app, "list", "contacts", "workspace_id=42")
        real = build_app()  # the client built from the environment; nothing listens on port 9
        run(real, "--base-url", "http://127.0.0.1:9", "--max-retries", "0", "call", "contacts.get", "id=1")
        run(real, "--maton", "--base-url", "http://127.0.0.1:9", "--max-retries", "0", "call", "contacts.get",
            "id=1")
    finally:
        for handler in sdk_logger.handlers:
            if handler not in handlers:
                sdk_logger.removeHandler(handler)
        sdk_logger.setLevel(level)
    assert any("999999" in out or "Not found" in out for out in outputs), outputs
    leaks = [out for out in outputs for secret in CANARIES if secret in out]
    assert not leaks, leaks


@pytest.mark.anyio
async def test_raw_response_repr_hides_an_echoed_token(anyio_backend: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=contact_json(id=1), headers={"X-Echo": request.headers["authorization"]})

    async with ClickFunnels(api_token=TOKEN, subdomain="acme",
                            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))) as cf:
        with cf.raw_responses() as raw:
            await cf.request("GET", "/api/v2/anything")
    assert TOKEN not in repr(raw)


@pytest.mark.anyio
async def test_connection_error_traceback_hides_the_token(anyio_backend: str) -> None:
    def exploding(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connect failed ({request.headers['authorization']})", request=request)

    async with ClickFunnels(api_token=TOKEN, subdomain="acme", max_retries=0,
                            http_client=httpx.AsyncClient(transport=httpx.MockTransport(exploding))) as cf:
        with pytest.raises(APIConnectionError) as info:
            await cf.contacts.get(1)
    assert TOKEN not in str(info.value)  # the SDK's own message is scrubbed ...
    assert TOKEN not in "".join(traceback.format_exception(info.value))  # ... the chained cause is not


# ---------------------------------------------------------------------------------------------- 2. injection


@pytest.mark.parametrize("subdomain", [
    "evil.com", "acme.evil.com", "evil.com#", "evil.com?", "a@evil.com", "acme/..", "acme/../x", "acme:8080",
    "acme.", ".acme", "-acme", "acme-", "", " acme", "acme\n", "acme\r\nHost: evil", "ａｃｍｅ", "acmé",
    "https://acme.myclickfunnels.com", "acme%2eevil", "a" * 64, "127.0.0.1", "[::1]", "acme\\evil",
])
def test_subdomain_injection_is_rejected(subdomain: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(api_token=TOKEN, subdomain=subdomain)


@pytest.mark.parametrize("base_url", [
    "http://evil.com", "https://user:pass@proxy.example.com", "https://proxy.example.com?x=1",
    "https://proxy.example.com#frag", "ftp://proxy.example.com", "javascript:alert(1)", "//evil.com",
    "evil.com", "/api/v2", "", "https://", "http://127.0.0.1.evil.com", "http://localhost.evil.com",
])
def test_base_url_injection_is_rejected(base_url: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(api_token=TOKEN, base_url=base_url)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/redirect"):
            return httpx.Response(302, headers={"Location": "https://evil.example.com/steal"})
        return httpx.Response(200, json=contact_json(id=1))


def recording_client() -> tuple[ClickFunnels, Recorder]:
    recorder = Recorder()
    cf = ClickFunnels(api_token=TOKEN, subdomain="acme", max_retries=0,
                      http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)))
    return cf, recorder


PATH_IDS = ["../1", "..%2f1", "%2e%2e", "%2E%2E/admin", "1?admin=1", "1#x", "1/../../teams", "1/2",
            "https://evil.com/x", "//evil.com", "a b", "1;x=2", "\\..\\x", "1%00", "ñ", "cnt_AbC123", "42"]


@pytest.mark.anyio
@pytest.mark.parametrize("value", PATH_IDS)
async def test_path_params_stay_one_quoted_segment(anyio_backend: str, value: str) -> None:
    cf, recorder = recording_client()
    async with cf:
        await cf.contacts.get(id=value)
    (request,) = recorder.requests
    assert request.url.host == "acme.myclickfunnels.com"
    raw = request.url.raw_path.decode("ascii")
    assert raw.startswith("/api/v2/contacts/")
    segment = raw[len("/api/v2/contacts/"):]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert unquote(segment) == value
    assert not request.url.query


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["..", ".", "", " ", None, True, 1.5, b"1", ["1"]])
async def test_unusable_path_params_are_refused_before_sending(anyio_backend: str, value: Any) -> None:
    cf, recorder = recording_client()
    async with cf:
        with pytest.raises((TypeError, ValueError)):
            await cf.contacts.get(id=value)
    assert not recorder.requests


@pytest.mark.anyio
@pytest.mark.parametrize("path", [
    "https://evil.com/api/v2/contacts", "//evil.com/api/v2/contacts", "evil.com/x", "api/v2/contacts",
    "/api/v2/../../admin", "/api/v2/./x", "/api/v2/x?admin=1", "/api/v2/x#frag", "/api/v2/x y",
    "/api/v2/x\n", "/api/..",
])
async def test_raw_request_paths_cannot_leave_the_host_or_path(anyio_backend: str, path: str) -> None:
    cf, recorder = recording_client()
    async with cf:
        with pytest.raises(ValueError):
            await cf.request("GET", path)
        with pytest.raises(ValueError):
            cf.paginate(path)
    assert not recorder.requests


@pytest.mark.anyio
async def test_raw_request_refuses_percent_encoded_dot_segments(anyio_backend: str) -> None:
    cf, recorder = recording_client()
    async with cf:
        with pytest.raises(ValueError):
            await cf.request("GET", "/api/v2/%2e%2e/%2e%2e/admin")
    assert not recorder.requests


@pytest.mark.anyio
async def test_raw_request_odd_paths_keep_the_host(anyio_backend: str) -> None:
    cf, recorder = recording_client()
    async with cf:
        for path in ["/api/v2/x;y", "/api/v2/@evil.com"]:
            await cf.request("GET", path)
        with pytest.raises(ValueError, match="backslash"):  # some servers read it as a slash
            await cf.request("GET", "/\\evil.com/x")
    for request in recorder.requests:
        assert request.url.host == "acme.myclickfunnels.com"
        assert request.url.scheme == "https"


@pytest.mark.anyio
async def test_redirects_are_not_followed_to_another_host(anyio_backend: str) -> None:
    cf, recorder = recording_client()
    async with cf:
        with pytest.raises(ClickFunnelsError):
            await cf.request("GET", "/api/v2/redirect")
    assert [r.url.host for r in recorder.requests] == ["acme.myclickfunnels.com"]


@pytest.mark.parametrize("headers", [
    {"X-Evil": "a\r\nHost: evil.com"}, {"Authorization": "Bearer other"}, {"Host": "evil.com"},
    {"maton-connection": "x"}, {"X-Ok\n": "v"},
])
def test_header_injection_is_rejected(headers: dict[str, str]) -> None:
    cf = ClickFunnels(api_token=TOKEN, subdomain="acme")
    with pytest.raises(ClickFunnelsConfigError):
        cf.with_options(extra_headers=headers)


@pytest.mark.parametrize("connection", ["conn\r\nX-Evil: 1", "", " ", "c\x00"])
def test_maton_connection_header_injection_is_rejected(connection: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels.via_maton(maton_api_key=MATON_KEY, connection=connection)


@pytest.mark.anyio
@pytest.mark.parametrize("connection_id", ["../connections", "a/b", "a?b=1", "a#b", "%2e%2e", "..", ""])
async def test_maton_connection_ids_cannot_change_the_path(anyio_backend: str, connection_id: str) -> None:
    recorder = Recorder()
    async with MatonConnections(api_key=MATON_KEY,
                                http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder))) as maton:
        with pytest.raises(ClickFunnelsConfigError):
            await maton.get(connection_id)
    assert not recorder.requests


def test_token_with_control_characters_is_rejected() -> None:
    for token in ("abc\r\nHost: evil.com", "abc def", "abc\x00def", "   "):
        with pytest.raises(ClickFunnelsConfigError) as info:
            ClickFunnels(api_token=token, subdomain="acme")
        assert token.strip() == "" or token not in str(info.value)


# ---------------------------------------------------------------------------------------------- 3. webhooks


BODY = json.dumps({
    "event_id": "evt_1", "event_type": "contact.created", "subject_id": 1, "subject_type": "Contact",
    "workspace_id": 42, "api_version": 2, "created_at": "2024-01-01T00:00:00Z",
    "data": {"id": 1, "email_address": "a@example.com"},
}).encode()


def _signed(timestamp: int | None = None, body: bytes = BODY, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return sign_webhook(body, secret, int(time.time()) if timestamp is None else timestamp)


def _reason(body: bytes, headers: Any, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(body, headers, WEBHOOK_SECRET, **kwargs)
    assert WEBHOOK_SECRET not in str(info.value)
    return info.value.reason


def test_webhook_genuine_delivery_verifies() -> None:
    event = verify_webhook(BODY, _signed(), WEBHOOK_SECRET)
    assert event.event_id == "evt_1" and event.event_type == "contact.created"


def test_webhook_forgeries_are_refused() -> None:
    now = int(time.time())
    assert _reason(BODY, _signed(secret="not-the-secret")) == "signature_mismatch"
    assert _reason(BODY.replace(b"a@example.com", b"b@example.com"), _signed()) == "signature_mismatch"
    assert _reason(BODY + b"\n", _signed()) == "signature_mismatch"
    # The signature of one timestamp does not carry over to another (the timestamp is signed).
    moved = {SIGNATURE_HEADER: _signed(now)[SIGNATURE_HEADER], TIMESTAMP_HEADER: str(now - 5)}
    assert _reason(BODY, moved) == "signature_mismatch"
    # A plain SHA-256 of the body, or an HMAC without the timestamp, is not the signature.
    assert _reason(BODY, {SIGNATURE_HEADER: hashlib.sha256(BODY).hexdigest(), TIMESTAMP_HEADER: str(now)}) \
        == "signature_mismatch"
    no_stamp = hmac.new(WEBHOOK_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert _reason(BODY, {SIGNATURE_HEADER: no_stamp, TIMESTAMP_HEADER: str(now)}) == "signature_mismatch"
    assert _reason(BODY, {TIMESTAMP_HEADER: str(now)}) == "missing_signature"
    assert _reason(BODY, {SIGNATURE_HEADER: "a" * 64}) == "missing_timestamp"
    good = _signed(now)[SIGNATURE_HEADER]
    for bad in ("", "sha256=" + good, good[:-1], good + "0", "g" * 64, good + " extra"):
        assert _reason(BODY, {SIGNATURE_HEADER: bad, TIMESTAMP_HEADER: str(now)}) == "malformed_signature", bad
    for stamp in ("", "-1", "1e9", "12.5", "0x10", "9" * 40, "now"):
        assert _reason(BODY, {SIGNATURE_HEADER: good, TIMESTAMP_HEADER: stamp}) == "malformed_timestamp", stamp


def test_webhook_replays_are_refused() -> None:
    now = int(time.time())
    assert _reason(BODY, _signed(now - 601)) == "timestamp_expired"
    assert _reason(BODY, _signed(now - 86_400)) == "timestamp_expired"
    assert _reason(BODY, _signed(now + 601)) == "timestamp_in_future"
    assert _reason(BODY, _signed(now - 30), tolerance=10) == "timestamp_expired"
    verify_webhook(BODY, _signed(now - 590), WEBHOOK_SECRET)  # inside the 600 s window
    assert _reason(BODY, _signed(0)) == "timestamp_expired"


def test_webhook_header_case_variations() -> None:
    signed = _signed()
    variants: list[Any] = [
        signed,
        {k.lower(): v for k, v in signed.items()},
        {k.upper(): v for k, v in signed.items()},
        {k.swapcase(): v for k, v in signed.items()},
        httpx.Headers(signed),
        {SIGNATURE_HEADER: signed[SIGNATURE_HEADER].upper(), TIMESTAMP_HEADER: signed[TIMESTAMP_HEADER]},
        {k: f"  {v} " for k, v in signed.items()},
        {k.lower().encode().decode(): v.encode() for k, v in signed.items()},
    ]
    for headers in variants:
        assert verify_webhook(BODY, headers, WEBHOOK_SECRET).event_id == "evt_1", headers


def test_webhook_misuse_is_a_clear_error() -> None:
    with pytest.raises(TypeError):
        verify_webhook(BODY.decode(), _signed(), WEBHOOK_SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        verify_webhook(BODY, _signed(), "")
    # Even with the right secret, an attacker without it cannot pass an empty-key signature.
    empty_key = hmac.new(b"", f"{int(time.time())}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {SIGNATURE_HEADER: empty_key, TIMESTAMP_HEADER: str(int(time.time()))}
    assert _reason(BODY, headers) == "signature_mismatch"


@pytest.mark.anyio
async def test_webhook_redelivery_is_deduplicated(anyio_backend: str) -> None:
    from clickfunnels_async.webhooks import InMemoryEventStore

    store = InMemoryEventStore()
    first = verify_webhook(BODY, _signed(), WEBHOOK_SECRET)
    again = verify_webhook(BODY, _signed(int(time.time()) + 1), WEBHOOK_SECRET)  # re-signed redelivery
    assert first.event_id == again.event_id
    assert first.event_id is not None
    assert await store.claim(first.event_id) == "new"
    await store.complete(first.event_id)
    assert await store.claim(again.event_id) == "done"
    results = []

    async def concurrent() -> None:
        results.append(await store.claim("evt_concurrent"))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(concurrent)
    assert sorted(results) == ["in_flight"] * 9 + ["new"]

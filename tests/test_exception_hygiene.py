"""Every public exception pickles with its attributes, and nothing reachable from a raised one holds a secret
(issue 15, points 3 and 5)."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import types
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import httpx
import pytest

import clickfunnels_async
from clickfunnels_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ClickFunnels,
    ClickFunnelsConfigError,
    ClickFunnelsError,
    MatonConnections,
    PaginationError,
    ResponseParseError,
    RetryPolicy,
)
from clickfunnels_async._errors import error_from_response
from clickfunnels_async._log import Secret
from clickfunnels_async.bulk import BulkInputError
from clickfunnels_async.oauth import OAuthClient, OAuthError, OAuthStateError
from clickfunnels_async.webhooks import (
    WebhookPayloadError,
    WebhookVerificationError,
    verify_webhook,
)

TOKEN = "cf_canary_token_5b1f0c9e2d"
MATON_KEY = "maton_canary_key_77aa31c0"
CLIENT_SECRET = "oauth_canary_secret_91d2"
CODE = "oauth_canary_code_c0ffee42"
VERIFIER = "oauth_canary_verifier_" + "v" * 30
WEBHOOK_SECRET = "whsec_canary_0f3e8a11"
CANARIES = (TOKEN, MATON_KEY, CLIENT_SECRET, CODE, VERIFIER, WEBHOOK_SECRET)


def public_exception_classes() -> set[type[BaseException]]:
    """Every exception class exported by a public module of the package (names without a leading _)."""
    found: set[type[BaseException]] = set()
    names = ["clickfunnels_async"] + [
        info.name
        for info in pkgutil.walk_packages(clickfunnels_async.__path__, "clickfunnels_async.")
        if not any(part.startswith("_") for part in info.name.split("."))
        and ".models" not in info.name
    ]
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            continue
        for export in getattr(module, "__all__", ()):
            value = getattr(module, export, None)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found.add(value)
    return found


def sample_response(status: int) -> httpx.Response:
    request = httpx.Request(
        "GET",
        "https://acme.myclickfunnels.com/api/v2/contacts/1",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    return httpx.Response(
        status,
        json={"errors": {"email_address": ["is invalid"]}, "echo": TOKEN},
        headers={"x-request-id": "req-1", "Retry-After": "2"},
        request=request,
    )


def samples() -> dict[type[BaseException], BaseException]:
    out: dict[type[BaseException], BaseException] = {}
    for status in (400, 401, 403, 404, 409, 418, 422, 429, 500):
        error = error_from_response(sample_response(status), retries=1)
        out.setdefault(type(error), error)
    out[ClickFunnelsError] = ClickFunnelsError("plain")
    out[ClickFunnelsConfigError] = ClickFunnelsConfigError("bad subdomain")
    out[APIConnectionError] = APIConnectionError(
        "ConnectError: refused", method="GET", url="https://x/y", retries=2
    )
    out[APITimeoutError] = APITimeoutError(
        "ReadTimeout", method="POST", url="https://x/y", retries=0
    )
    out[ResponseParseError] = ResponseParseError.from_response(sample_response(200), "not JSON")
    out[PaginationError] = PaginationError(
        "cursor twice", operation="contacts.list", cursor="40", items=40
    )
    out[WebhookVerificationError] = WebhookVerificationError("signature_mismatch", "does not match")
    out[WebhookPayloadError] = WebhookPayloadError("no event_type")
    out[OAuthError] = OAuthError(
        "refused", status_code=400, error="invalid_grant", error_description="expired"
    )
    out[OAuthStateError] = OAuthStateError("state mismatch", error="state_mismatch")
    out[BulkInputError] = BulkInputError(7, ValueError("bad row"))
    try:
        from clickfunnels_async.redis import RedisUnavailableError
    except ImportError:  # the redis extra is not installed
        pass
    else:
        out[RedisUnavailableError] = RedisUnavailableError("redis://127.0.0.1:6379/0 is unreachable")
    return out


def state(error: BaseException) -> dict[str, Any]:
    return {
        k: (list(v.multi_items()) if isinstance(v, httpx.Headers) else v)
        for k, v in vars(error).items()
        if k != "error"
    }


def test_every_exported_exception_class_has_a_sample() -> None:
    missing = public_exception_classes() - set(samples())
    assert not missing, f"add a sample for {sorted(c.__name__ for c in missing)}"


@pytest.mark.parametrize(
    "cls", sorted(samples(), key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_every_public_exception_pickles_with_its_attributes_and_without_secrets(
    cls: type[BaseException],
) -> None:
    clickfunnels_async._log.redacting_filter.register(TOKEN)
    try:
        error = samples()[cls]
    finally:
        clickfunnels_async._log.redacting_filter.unregister(TOKEN)
    data = pickle.dumps(error)
    assert TOKEN.encode() not in data
    copy = pickle.loads(data)
    assert type(copy) is cls
    assert str(copy) == str(error) and repr(copy) == repr(error) and copy.args == error.args
    assert state(copy) == state(error)
    if isinstance(error, BulkInputError):
        assert copy.index == 7 and str(copy.error) == "bad row"


def _raise_in_worker(status: int) -> None:
    raise error_from_response(sample_response(status), retries=3)


def test_an_sdk_error_raised_in_a_process_pool_worker_reaches_the_parent() -> None:
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_raise_in_worker, 422)
        with pytest.raises(APIStatusError) as caught:
            future.result(timeout=60)
        assert pool.submit(abs, -1).result(timeout=60) == 1  # the pool is still usable
    assert caught.value.status_code == 422 and caught.value.retries == 3
    assert caught.value.errors == {"email_address": ["is invalid"]}


# ------------------------------------------------------------------ the object graph of a raised error


def _is_sdk_frame(frame: types.FrameType) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith("clickfunnels_async")


def reachable_texts(root: BaseException) -> Iterator[str]:
    """Every string (and bytes, decoded) reachable from *root*: causes, contexts, args, attributes,
    requests and responses (headers, URL, body), and the locals of the SDK's frames in the tracebacks.

    Objects are entered through exception attributes; from frame locals only values (strings,
    containers, httpx objects, exceptions) are, not the SDK objects whose job is to hold a credential
    (a client must keep its token to send it). `Secret` is opaque by design."""
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, True)]
    while stack:
        obj, deep = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, Secret):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            yield obj
        elif isinstance(obj, bytes | bytearray | memoryview):
            yield bytes(obj).decode("latin-1")
        elif isinstance(obj, dict):
            stack += [(v, deep) for pair in obj.items() for v in pair]
        elif isinstance(obj, list | tuple | set | frozenset):
            stack += [(v, deep) for v in obj]
        elif isinstance(obj, httpx.Headers):
            stack += [(v, deep) for pair in obj.raw for v in pair]
        elif isinstance(obj, httpx.URL):
            yield str(obj)
        elif isinstance(obj, httpx.Request):
            stack += [(obj.url, deep), (obj.headers, deep), (getattr(obj, "_content", None), deep)]
        elif isinstance(obj, httpx.Response):
            stack += [
                (obj.headers, deep),
                (getattr(obj, "_content", None), deep),
                (obj._request, deep),
            ]
        elif isinstance(obj, BaseException):
            stack += [
                (obj.args, True),
                (vars(obj), True),
                (obj.__cause__, True),
                (obj.__context__, True),
            ]
            if isinstance(obj, httpx.RequestError | httpx.HTTPStatusError):
                stack.append((obj._request, True))
            tb = obj.__traceback__
            while tb is not None:
                if _is_sdk_frame(tb.tb_frame):
                    stack += [(v, False) for v in tb.tb_frame.f_locals.values()]
                tb = tb.tb_next
        elif deep and hasattr(obj, "__dict__") and not inspect.isclass(obj) and not callable(obj):
            stack.append((vars(obj), True))


def assert_clean(error: BaseException) -> None:
    for text in reachable_texts(error):
        for canary in CANARIES:
            assert canary not in text, (
                f"{canary!r} reachable from {type(error).__name__}: {text[:200]!r}"
            )


async def raised(make: Callable[[], Awaitable[Any]]) -> BaseException:
    try:
        await make()
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


def echo(status: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        # A hostile or broken server echoes everything it got.
        everything = f"{request.headers.get('authorization')} {request.content!r} {request.url}"
        return httpx.Response(
            status, text=everything, headers={"X-Echo": everything[:200].replace("\n", " ")}
        )

    return handler


def failing(exc_type: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(
            f"failed while sending {request.headers.get('authorization')}", request=request
        )

    return handler


HANDLERS = {
    "connect-error": failing(httpx.ConnectError),
    "read-timeout": failing(httpx.ReadTimeout),
    "read-error": failing(httpx.ReadError),
    "500-echo": echo(500),
    "401-echo": echo(401),
    "200-not-json": echo(200),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(HANDLERS))
async def test_no_api_token_or_maton_key_is_reachable_from_a_client_error(case: str) -> None:
    transport = httpx.MockTransport(HANDLERS[case])
    clients = [
        ClickFunnels(TOKEN, subdomain="acme", transport=transport, max_retries=0),
        ClickFunnels.via_maton(MATON_KEY, connection="conn-1", transport=transport, max_retries=0),
    ]
    for cf in clients:
        async with cf:
            for call in (
                lambda cf=cf: cf.contacts.get(1),
                lambda cf=cf: cf.contacts.create(42, email_address="a@example.com"),
                lambda cf=cf: cf.contacts.list(42).to_list(),
                lambda cf=cf: cf.request("POST", "/api/v2/anything", json={"a": 1}),
            ):
                error = await raised(call)
                assert isinstance(error, ClickFunnelsError)
                assert_clean(error)


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(HANDLERS))
async def test_no_maton_key_is_reachable_from_a_maton_connections_error(case: str) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(HANDLERS[case]))
    async with MatonConnections(
        MATON_KEY, http_client=http, retry=RetryPolicy(max_retries=0)
    ) as maton:
        for call in (lambda: maton.list(), lambda: maton.create(), lambda: maton.get("conn-1")):
            assert_clean(await raised(call))


@pytest.mark.anyio
@pytest.mark.parametrize("case", [*HANDLERS, "400-oauth-echo"])
async def test_no_oauth_secret_code_or_verifier_is_reachable_from_an_oauth_error(case: str) -> None:
    def oauth_echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": "invalid_grant", "error_description": request.content.decode()}
        )

    handler = oauth_echo if case == "400-oauth-echo" else HANDLERS[case]
    oauth = OAuthClient(
        "client-1",
        CLIENT_SECRET,
        redirect_uri="https://app.example.com/cb",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    error = await raised(lambda: oauth.exchange_code(CODE, code_verifier=VERIFIER))
    assert isinstance(error, ClickFunnelsError)
    assert_clean(error)


@pytest.mark.anyio
async def test_no_webhook_secret_is_reachable_from_a_verification_error() -> None:
    from clickfunnels_async.webhooks import sign_webhook

    body = b'{"event_type": "contact.created", "event_id": "e1"}'
    good = sign_webhook(body, WEBHOOK_SECRET)
    cases: list[tuple[bytes, dict[str, str]]] = [
        (body, {}),
        (body, {**good, "X-Webhook-ClickFunnels-Signature": "zz"}),
        (body + b" ", good),
        (body, sign_webhook(body, WEBHOOK_SECRET, timestamp=1)),
        (b"[1]", sign_webhook(b"[1]", WEBHOOK_SECRET)),
    ]
    for raw, headers in cases:
        try:
            verify_webhook(raw, headers, WEBHOOK_SECRET)
        except (WebhookVerificationError, WebhookPayloadError) as exc:
            assert_clean(exc)
        else:
            raise AssertionError("expected an error")


def test_a_failed_construction_keeps_the_token_out_of_its_traceback() -> None:
    for make in (
        lambda: ClickFunnels(TOKEN, subdomain="acme", user_agent=""),
        lambda: ClickFunnels(TOKEN, subdomain="not a subdomain!"),
        lambda: ClickFunnels.via_maton(MATON_KEY, connection="bad\nid"),
    ):
        with pytest.raises(ClickFunnelsConfigError) as caught:
            make()
        assert_clean(caught.value)

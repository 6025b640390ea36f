"""The client as users configure and call it: hosts, headers, Maton, options, errors, retries, secrets."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import httpx
import pytest
import respx
from _records import contact_json, record

from clickfunnels_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClickFunnels,
    ClickFunnelsConfigError,
    InternalServerError,
    NotFoundError,
    ResponseParseError,
    RetryPolicy,
    UnprocessableEntityError,
    __version__,
)

TOKEN = "cf_canary_TOKEN_9f8e7d6c5b4a"
MATON_KEY = "maton_canary_KEY_1a2b3c4d5e"
ACCOUNTS = "https://accounts.myclickfunnels.com"
ACME = "https://acme.myclickfunnels.com"
MATON = "https://gateway.maton.ai/clickfunnels"
FAST = RetryPolicy(initial_delay=0.001, max_delay=0.002, jitter=0.0)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLICKFUNNELS_API_TOKEN",
        "CLICKFUNNELS_SUBDOMAIN",
        "CLICKFUNNELS_BASE_URL",
        "MATON_API_KEY",
        "CLICKFUNNELS_LOG",
    ):
        monkeypatch.delenv(name, raising=False)


def mock_client(handler: Any, **kwargs: Any) -> ClickFunnels:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    kwargs.setdefault("subdomain", "acme")
    return ClickFunnels(TOKEN, http_client=http, **kwargs)


# ---------------------------------------------------------------- configuration


def test_missing_token_names_the_env_var() -> None:
    with pytest.raises(ClickFunnelsConfigError, match="CLICKFUNNELS_API_TOKEN"):
        ClickFunnels()
    with pytest.raises(ClickFunnelsConfigError, match="MATON_API_KEY"):
        ClickFunnels.via_maton()


def test_env_vars_configure_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKFUNNELS_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLICKFUNNELS_SUBDOMAIN", "acme")
    cf = ClickFunnels()
    assert "acme" in repr(cf) and TOKEN not in repr(cf)
    monkeypatch.setenv("CLICKFUNNELS_BASE_URL", "http://127.0.0.1:8765")
    assert "127.0.0.1:8765" in repr(ClickFunnels())
    assert "beta" in repr(ClickFunnels(subdomain="beta"))  # an argument beats the environment
    monkeypatch.setenv("CLICKFUNNELS_BASE_URL", "http://evil.example")
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels()


@pytest.mark.parametrize(
    "bad", ["acme.evil.com", "a/b", "a@b", "a#b", "a?b", " ", "", "-a", "a" * 64]
)
def test_bad_subdomains_are_rejected_before_any_request(bad: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(TOKEN, subdomain=bad)


@pytest.mark.parametrize(
    "bad", ["http://example.com", "ftp://x", "https://user:pw@x.com", "https://x.com/?a=1"]
)
def test_bad_base_urls_are_rejected(bad: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(TOKEN, base_url=bad)


def test_other_bad_configuration() -> None:
    with pytest.raises(ClickFunnelsConfigError, match="User-Agent"):
        ClickFunnels(TOKEN, user_agent="  ")
    with pytest.raises(ClickFunnelsConfigError, match="forever"):
        ClickFunnels(TOKEN, timeout=None)  # type: ignore[arg-type]
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(TOKEN, max_retries=-1)
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(TOKEN, max_concurrency=0)
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels(TOKEN, requests_per_second=0)
    with pytest.raises(ClickFunnelsConfigError, match="via_maton"):
        ClickFunnels(TOKEN).with_options(maton_connection="c1")
    with pytest.raises(ClickFunnelsConfigError, match="Authorization"):
        ClickFunnels(TOKEN).with_options(extra_headers={"Authorization": "x"})
    with pytest.raises(ClickFunnelsConfigError, match="control"):
        ClickFunnels(TOKEN).with_options(extra_headers={"X-A": "a\r\nInjected: 1"})
    try:
        import h2  # noqa: F401
    except ImportError:
        with pytest.raises(ClickFunnelsConfigError, match=r"clickfunnels-async\[http2\]"):
            ClickFunnels(TOKEN, http2=True)


# ---------------------------------------------------------------- hosts and headers


@pytest.mark.anyio
async def test_headers_and_host_routing_direct() -> None:
    with respx.mock:
        teams = respx.get(f"{ACCOUNTS}/api/v2/teams").respond(200, json=[])
        contact = respx.get(f"{ACME}/api/v2/contacts/1").respond(200, json=contact_json(id=1))
        async with ClickFunnels(TOKEN, subdomain="acme") as cf:
            await cf.teams.list().to_list()
            await cf.contacts.get(1)
    for route in (teams, contact):
        headers = route.calls[0].request.headers
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert (
            headers["user-agent"]
            == f"clickfunnels-async/{__version__} python-httpx/{httpx.__version__}"
        )
        assert headers["accept"] == "application/json"
        assert "maton-connection" not in headers


@pytest.mark.anyio
async def test_json_content_type_on_writes() -> None:
    with respx.mock:
        route = respx.post(f"{ACME}/api/v2/workspaces/42/contacts").respond(
            201, json=contact_json(id=1)
        )
        async with ClickFunnels(
            TOKEN, subdomain="acme", user_agent="MyApp/1.0 (ops@example.com)"
        ) as cf:
            await cf.contacts.create(42, email_address="a@x.com")
    request = route.calls[0].request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "MyApp/1.0 (ops@example.com)"


@pytest.mark.anyio
async def test_own_pool_sends_accept_encoding_and_never_stores_or_sends_cookies() -> None:
    with respx.mock:
        route = respx.get(f"{ACME}/api/v2/contacts/1").respond(
            200, json=contact_json(id=1), headers={"Set-Cookie": "_session=abc123; Path=/"}
        )
        async with ClickFunnels(TOKEN, subdomain="acme") as cf:
            await cf.contacts.get(1)
            await cf.contacts.get(1)
            assert not list(cf._core._shared.http.cookies.jar)
    first, second = (call.request.headers for call in route.calls)
    assert "gzip" in first["accept-encoding"]
    assert "cookie" not in first and "cookie" not in second


@pytest.mark.anyio
async def test_transport_goes_under_the_clients_own_pool() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=contact_json(id=7), headers={"Set-Cookie": "s=1"})

    async with ClickFunnels(TOKEN, subdomain="acme", transport=httpx.MockTransport(handler)) as cf:
        assert (await cf.contacts.get(7)).id == 7
        await cf.contacts.get(7)
    assert [str(r.url) for r in seen] == [f"{ACME}/api/v2/contacts/7"] * 2
    assert "cookie" not in seen[1].headers
    with pytest.raises(ClickFunnelsConfigError, match="http_client"):
        ClickFunnels(
            TOKEN,
            subdomain="acme",
            http_client=httpx.AsyncClient(),
            transport=httpx.MockTransport(handler),
        )


@pytest.mark.anyio
async def test_requests_are_byte_for_byte_what_httpx_would_build() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[] if request.method == "GET" else contact_json(id=1))

    token = "plain-test-token"  # not the canary: this test prints headers when it fails
    async with ClickFunnels(token, subdomain="acme", transport=httpx.MockTransport(handler)) as cf:
        await cf.contacts.list(42, filter={"email_address": ["a@x.com", "b c@x.com"]}).to_list()
        await cf.contacts.upsert(42, email_address="é@x.com")
        await cf.contacts.delete(7)
        reference = httpx.AsyncClient(
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": cf._core._shared.user_agent,
                "Accept": "application/json",
            }
        )
        expected = [
            reference.build_request(
                "GET",
                f"{ACME}/api/v2/workspaces/42/contacts",
                params={"filter[email_address]": "a@x.com,b c@x.com"},
            ),
            reference.build_request(
                "POST",
                f"{ACME}/api/v2/workspaces/42/contacts/upsert",
                headers={"Content-Type": "application/json"},
                content=seen[1].content,
            ),
            reference.build_request("DELETE", f"{ACME}/api/v2/contacts/7"),
        ]
    for ours, theirs in zip(seen, expected, strict=True):
        # The same method, URL, body and headers (Host first, as httpx sends it); the order of the others
        # only reflects how the reference client was set up.
        assert (ours.method, str(ours.url), ours.content) == (
            theirs.method,
            str(theirs.url),
            theirs.content,
        )
        assert sorted(ours.headers.raw) == sorted(theirs.headers.raw)
        assert ours.headers.raw[0] == theirs.headers.raw[0] == (b"Host", b"acme.myclickfunnels.com")
    assert json.loads(seen[1].content) == {"contact": {"email_address": "é@x.com"}}


@pytest.mark.anyio
async def test_cached_header_lists_follow_each_body_length_and_options_view() -> None:
    # Header lists are kept per view, host and body length: every request must still carry its own
    # Content-Length, and only its own view's headers.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=contact_json(id=1))

    async with ClickFunnels(TOKEN, subdomain="acme", transport=httpx.MockTransport(handler)) as cf:
        traced = cf.with_options(extra_headers={"X-Trace": "t-1"})
        for email in ["a@x.com", "bbbb@x.com", "a@x.com", "cc@x.com", "bbbb@x.com"] * 2:
            await cf.contacts.upsert(42, email_address=email)
            await traced.contacts.upsert(42, email_address=email)
        await cf.contacts.delete(7)
        await traced.contacts.get(7)
    assert len(seen) == 22
    for number, request in enumerate(seen[:20]):
        assert request.headers.get_list("Content-Length") == [str(len(request.content))]
        assert request.headers.get_list("X-Trace") == ([] if number % 2 == 0 else ["t-1"])
    delete, get = seen[20:]  # no body: no Content-Length, as httpx builds them
    assert "content-length" not in delete.headers and "x-trace" not in delete.headers
    assert "content-length" not in get.headers and get.headers["X-Trace"] == "t-1"


@pytest.mark.anyio
async def test_a_host_header_set_on_a_client_passed_in_is_kept() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=contact_json(id=1))

    http = httpx.AsyncClient(
        transport=httpx.MockTransport(handler), headers={"Host": "internal.example"}
    )
    async with ClickFunnels(TOKEN, subdomain="acme", http_client=http) as cf:
        await cf.contacts.get(1)
    assert seen[0].headers.get_list("host") == ["internal.example"]
    assert seen[0].headers.raw[0] == (b"Host", b"internal.example")


@pytest.mark.anyio
async def test_own_pool_fast_path_gives_a_complete_response_and_keeps_httpx_path_when_configured() -> (
    None
):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=contact_json(id=3))

    async with ClickFunnels(TOKEN, subdomain="acme", transport=httpx.MockTransport(handler)) as cf:
        with cf.raw_responses() as raw:
            await cf.contacts.get(3)
        response = raw[0].http_response
        assert response.is_closed and json.loads(response.content) == contact_json(id=3)
        assert (
            response.elapsed.total_seconds() >= 0
            and response.request.url.path == "/api/v2/contacts/3"
        )
        # A hook added to the pool later is honoured: such a pool takes httpx's own send.
        seen: list[str] = []

        async def hook(request: httpx.Request) -> None:
            seen.append(request.url.path)

        cf._core._shared.http.event_hooks = {"request": [hook]}
        await cf.contacts.get(3)
    assert seen == ["/api/v2/contacts/3"]


@pytest.mark.anyio
async def test_headers_of_a_client_passed_in_are_kept_and_ours_win() -> None:
    http = httpx.AsyncClient(
        headers={"X-Trace": "t-1", "Accept": "text/html", "User-Agent": "theirs"}
    )
    with respx.mock:
        route = respx.get(f"{ACME}/api/v2/contacts/1").respond(200, json=contact_json(id=1))
        async with ClickFunnels(TOKEN, subdomain="acme", http_client=http) as cf:
            await cf.with_options(extra_headers={"X-Trace": "t-2"}).contacts.get(1)
            await cf.contacts.get(1)
    first, second = (call.request.headers for call in route.calls)
    assert first["x-trace"] == "t-2" and second["x-trace"] == "t-1"
    assert first["accept"] == "application/json" and first["user-agent"].startswith(
        "clickfunnels-async/"
    )
    assert first.get_list("x-trace") == ["t-2"]


@pytest.mark.anyio
async def test_json_beyond_what_orjson_takes_still_goes_both_ways() -> None:
    big = 2**70
    with respx.mock:
        route = respx.post(f"{ACME}/api/v2/workspaces/42/contacts").mock(
            return_value=httpx.Response(
                201,
                content=json.dumps(
                    {**contact_json(id=1, custom_attributes={"n": str(big)}), "score": big}
                ).encode(),
            )
        )
        async with ClickFunnels(TOKEN, subdomain="acme") as cf:
            contact = await cf.contacts.create(
                42, email_address="a@x.com", custom_attributes={"n": big}
            )
    assert json.loads(route.calls[0].request.content) == {
        "contact": {"email_address": "a@x.com", "custom_attributes": {"n": big}}
    }
    assert contact.additional_properties["score"] == big


@pytest.mark.anyio
async def test_maton_routing_and_per_call_connection_under_concurrency() -> None:
    seen: list[tuple[str, str | None, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(
            (
                request.url.path,
                request.headers.get("maton-connection"),
                request.headers["authorization"],
            )
        )
        return httpx.Response(
            200, json={**record("Team", id=1), **contact_json(id=1)}
        )  # a team and a contact

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with (
        http,
        ClickFunnels.via_maton(MATON_KEY, connection="conn_default", http_client=http) as cf,
    ):
        await cf.teams.get(1)

        async def use(conn: str, n: int) -> None:
            view = cf.with_options(maton_connection=conn)
            for _ in range(n):
                await view.contacts.get(int(conn[-1]))
                await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            for conn in ("conn_1", "conn_2", "conn_3"):
                tg.start_soon(use, conn, 10)
        await cf.contacts.get(9)
    assert seen[0] == ("/clickfunnels/api/v2/teams/1", "conn_default", f"Bearer {MATON_KEY}")
    for path, conn, _ in seen[1:-1]:
        assert conn is not None and path == f"/clickfunnels/api/v2/contacts/{conn[-1]}"
    assert seen[-1][1] == "conn_default"  # the original client never changed
    assert len(seen) == 32


@pytest.mark.anyio
async def test_maton_gateway_errors_say_what_to_do() -> None:
    with respx.mock:
        respx.get(f"{MATON}/api/v2/teams/1").respond(401, json={"error": "Invalid API key"})
        respx.get(f"{MATON}/api/v2/teams/2").respond(400, json={"error": "No connection found"})
        async with ClickFunnels.via_maton(MATON_KEY) as cf:
            with pytest.raises(AuthenticationError, match="MATON_API_KEY") as auth:
                await cf.teams.get(1)
            with pytest.raises(BadRequestError, match=r"[Cc]onnection") as bad:
                await cf.teams.get(2)
    assert MATON_KEY not in str(auth.value) + repr(auth.value) + str(bad.value)


@pytest.mark.anyio
async def test_subdomain_discovered_once_when_the_token_reaches_one_workspace() -> None:
    with respx.mock:
        teams = respx.get(f"{ACCOUNTS}/api/v2/teams").respond(
            200, json=[record("Team", id=1, name="T")]
        )
        spaces = respx.get(f"{ACCOUNTS}/api/v2/teams/1/workspaces").respond(
            200, json=[record("Workspace", id=42, name="Acme", subdomain="acme")]
        )
        contact = respx.get(f"{ACME}/api/v2/contacts/5").respond(200, json=contact_json(id=5))
        async with ClickFunnels(TOKEN) as cf, anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(cf.contacts.get, 5)
    assert teams.call_count == 1 and spaces.call_count == 1 and contact.call_count == 5


@pytest.mark.anyio
async def test_discovery_with_several_workspaces_lists_them() -> None:
    with respx.mock:
        respx.get(f"{ACCOUNTS}/api/v2/teams").respond(200, json=[record("Team", id=1)])
        respx.get(f"{ACCOUNTS}/api/v2/teams/1/workspaces").respond(
            200,
            json=[
                record("Workspace", id=42, name="A", subdomain="acme"),
                record("Workspace", id=43, name="B", subdomain="beta"),
            ],
        )
        async with ClickFunnels(TOKEN) as cf:
            with pytest.raises(ClickFunnelsConfigError, match=r"2 workspaces.*acme.*beta"):
                await cf.contacts.get(5)


@pytest.mark.anyio
async def test_redirects_are_not_followed_so_the_token_never_leaves() -> None:
    with respx.mock:
        respx.get(f"{ACME}/api/v2/contacts/1").respond(
            302, headers={"Location": "https://evil.example/x"}
        )
        evil = respx.get("https://evil.example/x").respond(200, json=contact_json(id=1))
        async with ClickFunnels(TOKEN, subdomain="acme") as cf:
            with pytest.raises(Exception) as info:
                await cf.contacts.get(1)
    assert evil.call_count == 0
    assert getattr(info.value, "status_code", None) == 302


@pytest.mark.anyio
async def test_base_url_sends_everything_to_one_place() -> None:
    with respx.mock:
        route = respx.get("http://127.0.0.1:8765/api/v2/teams").respond(200, json=[])
        async with ClickFunnels(TOKEN, base_url="http://127.0.0.1:8765") as cf:
            await cf.teams.list().to_list()
    assert route.call_count == 1


# ---------------------------------------------------------------- errors


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (404, {"error": "Not found: Record missing"}, NotFoundError),
        (422, {"email_address": ["can't be blank"]}, UnprocessableEntityError),
        (502, "<html><body>Bad gateway</body></html>", InternalServerError),
        (520, "", InternalServerError),
    ],
)
async def test_statuses_become_typed_errors(status: int, body: Any, cls: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers={"content-type": "text/html"})
        return httpx.Response(status, json=body)

    async with mock_client(handler, max_retries=0) as cf:
        with pytest.raises(cls) as info:
            await cf.contacts.get(1)
    assert info.value.status_code == status  # type: ignore[attr-defined]
    if cls is UnprocessableEntityError:
        assert info.value.errors == {"email_address": ["can't be blank"]}  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_2xx_that_does_not_parse_keeps_the_raw_body() -> None:
    async with mock_client(lambda r: httpx.Response(200, text="<html>oops</html>")) as cf:
        with pytest.raises(ResponseParseError) as info:
            await cf.contacts.get(1)
    assert "oops" in info.value.body


# ---------------------------------------------------------------- retries


def counting(statuses: list[int]) -> tuple[list[httpx.Request], Any]:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        status = statuses[min(len(calls) - 1, len(statuses) - 1)]
        return httpx.Response(status, json=contact_json(id=1) if status < 300 else {"error": "x"})

    return calls, handler


@pytest.mark.anyio
async def test_get_is_retried_on_500_then_succeeds() -> None:
    calls, handler = counting([500, 503, 200])
    async with mock_client(handler, retry_policy=FAST) as cf:
        with cf.raw_responses() as raw:
            await cf.contacts.get(1)
    assert len(calls) == 3
    assert raw[-1].retries == 2 and raw[-1].status_code == 200


@pytest.mark.anyio
async def test_create_is_not_retried_on_500_but_upsert_is() -> None:
    calls, handler = counting([500, 200])
    async with mock_client(handler, retry_policy=FAST) as cf:
        with pytest.raises(InternalServerError):
            await cf.contacts.create(42, email_address="a@x.com")
        assert len(calls) == 1
        calls.clear()
        await cf.contacts.upsert(42, email_address="a@x.com")
        assert len(calls) == 2


@pytest.mark.anyio
async def test_create_is_retried_on_429_and_connect_errors_only() -> None:
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append("x")
        if len(attempts) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(attempts) == 2:
            return httpx.Response(429, json={"error": "slow down"})
        return httpx.Response(201, json=contact_json(id=1))

    async with mock_client(handler, retry_policy=FAST) as cf:
        await cf.contacts.create(42, email_address="a@x.com")
    assert len(attempts) == 3

    def read_timeout(request: httpx.Request) -> httpx.Response:
        attempts.append("t")
        raise httpx.ReadTimeout("slow", request=request)

    attempts.clear()
    async with mock_client(read_timeout, retry_policy=FAST) as cf:
        with pytest.raises(APITimeoutError):
            await cf.contacts.create(42, email_address="a@x.com")
    assert len(attempts) == 1  # the server may have created it: never resend


@pytest.mark.anyio
async def test_max_retries_per_call_and_connection_errors_are_typed() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("down", request=request)

    async with mock_client(handler, retry_policy=FAST) as cf:
        with pytest.raises(APIConnectionError):
            await cf.with_options(max_retries=0).contacts.get(1)
        assert len(calls) == 1
        with pytest.raises(APIConnectionError):
            await cf.contacts.get(1)
        assert len(calls) == 1 + 3


@pytest.mark.anyio
async def test_the_private_retry_hook_sees_each_retry_and_nothing_else() -> None:
    # The CLI's retry counter (progress line, summary) rests on this seam rather than on log text.
    calls, handler = counting([503, 429, 200, 404, 500])
    seen: list[int] = []
    async with mock_client(handler, retry_policy=FAST) as cf:
        cf._watch_retries(lambda: seen.append(len(calls)))
        with cf.raw_responses() as raw:
            await cf.contacts.get(1)  # 503, 429, then 200: two retries
            with pytest.raises(NotFoundError):
                await cf.with_options(max_retries=0).contacts.get(1)  # 404: none
            with pytest.raises(InternalServerError):
                await cf.with_options(max_retries=1).contacts.get(
                    1
                )  # 500 twice: one, then given up
    assert [r.retries for r in raw] == [2, 0, 1]
    assert seen == [1, 2, 5]  # each before the attempt it announces


@pytest.mark.anyio
async def test_per_call_timeout_reaches_the_request() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=contact_json(id=1))

    async with mock_client(handler) as cf:
        await cf.with_options(timeout=1.5).contacts.get(1)
        await cf.contacts.get(1)
    assert seen[0]["read"] == 1.5 and seen[1]["read"] == 30.0


# ---------------------------------------------------------------- escape hatch


@pytest.mark.anyio
async def test_escape_hatch_picks_the_host_of_the_matching_spec_operation() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, json=[])

    async with mock_client(handler) as cf:
        for _ in range(2):  # the second time from the cache of answers
            await cf.request("GET", "/api/v2/teams/7/workspaces")  # listWorkspaces: accounts host
            await cf.request(
                "GET", "/api/v2/workspaces/42/contacts"
            )  # listContacts: workspace host
            await cf.request("GET", "/api/v2/teams/7/not_in_the_spec")  # no match: workspace host
        await cf.paginate("/api/v2/teams").to_list()
    accounts, acme = "accounts.myclickfunnels.com", "acme.myclickfunnels.com"
    assert hosts == [accounts, acme, acme] * 2 + [accounts]


@pytest.mark.anyio
async def test_request_and_paginate_escape_hatch() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/teams/1/memberships":
            after = request.url.params.get("after")
            if after is None:
                return httpx.Response(200, json=[{"id": 1}], headers={"Pagination-Next": "1"})
            return httpx.Response(200, json=[{"id": 2}])
        return httpx.Response(200, json={"echo": json.loads(request.content or b"null")})

    async with mock_client(handler) as cf:
        members = await cf.paginate("/api/v2/teams/1/memberships").to_list()
        echoed = await cf.request(
            "POST", "/api/v2/workspaces/42/new_thing", json={"a": 1}, params={"x": True}
        )
        with pytest.raises(ValueError, match="API path"):
            await cf.request("GET", "https://evil.example/api/v2/teams")
        with pytest.raises(ValueError):
            await cf.request("GET", "/api/v2/../admin")
    assert members == [{"id": 1}, {"id": 2}]
    assert echoed == {"echo": {"a": 1}}


# ---------------------------------------------------------------- secrets


@pytest.mark.anyio
async def test_canary_secrets_never_leak(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLICKFUNNELS_LOG", "debug")
    caplog.set_level(logging.DEBUG, logger="clickfunnels_async")
    texts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        # a hostile server echoing the token back in an error body
        return httpx.Response(500, json={"error": f"bad token {TOKEN}"})

    async with mock_client(handler, retry_policy=FAST) as cf:
        texts += [repr(cf), str(cf), repr(cf.with_options(timeout=3)), repr(cf._core._shared.token)]
        try:
            await cf.contacts.get(1)
        except InternalServerError as exc:
            texts += [str(exc), repr(exc), repr(exc.__dict__)]
    maton = ClickFunnels.via_maton(MATON_KEY)
    texts += [repr(maton)]
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    assert caplog.records, "debug logging produced nothing"
    assert TOKEN not in blob and MATON_KEY not in blob

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from clickfunnels_async._errors import (
    AuthenticationError,
    BadRequestError,
    ClickFunnelsConfigError,
    NotFoundError,
    ResponseParseError,
)
from clickfunnels_async._maton import MATON_CTRL_URL, MatonConnection, MatonConnections
from clickfunnels_async._transport import RetryPolicy

pytestmark = pytest.mark.anyio

KEY = "maton_key_0123456789abcdef"
CONN: dict[str, Any] = {
    "connection_id": "21fd90f9-5935-43cd-b6c8-bde9d915ca80",
    "status": "ACTIVE",
    "creation_time": "2025-12-08T07:20:53.488460Z",
    "last_updated_time": "2026-01-31T20:03:32.593153Z",
    "url": "https://connect.maton.ai/?session_token=abc",
    "app": "clickfunnels",
    "metadata": {"workspace": "acme"},
}
NO_RETRY = RetryPolicy(max_retries=0)


def expected_connection() -> MatonConnection:
    return MatonConnection(
        connection_id=CONN["connection_id"],
        status="ACTIVE",
        creation_time=CONN["creation_time"],
        last_updated_time=CONN["last_updated_time"],
        url=CONN["url"],
        app="clickfunnels",
        metadata={"workspace": "acme"},
    )


def assert_auth(request: httpx.Request) -> None:
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"


@respx.mock(base_url=MATON_CTRL_URL, assert_all_called=True)
async def test_list(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/connections").respond(
        200, json={"connections": [CONN, {**CONN, "connection_id": "c2"}]}
    )
    async with MatonConnections(KEY) as maton:
        result = await maton.list()
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url == httpx.URL(f"{MATON_CTRL_URL}/connections?app=clickfunnels&status=ACTIVE")
    assert_auth(request)
    assert result == [expected_connection(), MatonConnection(**{**CONN, "connection_id": "c2"})]


@respx.mock(base_url=MATON_CTRL_URL, assert_all_called=True)
async def test_list_all_statuses(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/connections").respond(200, json={"connections": []})
    async with MatonConnections(KEY) as maton:
        assert await maton.list(status=None) == []
    assert route.calls.last.request.url.params == httpx.QueryParams({"app": "clickfunnels"})


@respx.mock(base_url=MATON_CTRL_URL, assert_all_called=True)
async def test_create(respx_mock: respx.MockRouter) -> None:
    pending = {**CONN, "status": "PENDING"}
    route = respx_mock.post("/connections").respond(201, json={"connection": pending})
    async with MatonConnections(KEY) as maton:
        conn = await maton.create()
    request = route.calls.last.request
    assert request.url == httpx.URL(f"{MATON_CTRL_URL}/connections")
    assert_auth(request)
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"app": "clickfunnels"}
    assert conn.status == "PENDING"
    assert conn.url == "https://connect.maton.ai/?session_token=abc"


@respx.mock(base_url=MATON_CTRL_URL, assert_all_called=True)
async def test_get(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"/connections/{CONN['connection_id']}").respond(
        200, json={"connection": CONN}
    )
    async with MatonConnections(KEY) as maton:
        conn = await maton.get(CONN["connection_id"])
    assert_auth(route.calls.last.request)
    assert conn == expected_connection()
    assert isinstance(conn.metadata, dict)


@respx.mock(base_url=MATON_CTRL_URL, assert_all_called=True)
async def test_delete(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.delete("/connections/c1").respond(204)
    async with MatonConnections(KEY) as maton:
        await maton.delete("c1")
    assert route.calls.last.request.method == "DELETE"
    assert_auth(route.calls.last.request)


@pytest.mark.parametrize("bad", ["", "../admin", "a/b", "a?x=1", "a#b", ".."])
async def test_connection_id_cannot_change_the_path(bad: str) -> None:
    async with MatonConnections(KEY) as maton:
        with pytest.raises(ClickFunnelsConfigError):
            await maton.get(bad)


@respx.mock(base_url=MATON_CTRL_URL)
async def test_401_is_authentication_error_with_help(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/connections").respond(401, json={"error": "Invalid API key"})
    async with MatonConnections(KEY, retry=NO_RETRY) as maton:
        with pytest.raises(AuthenticationError) as info:
            await maton.list()
    err = info.value
    assert "MATON_API_KEY" in str(err)
    assert KEY not in str(err)
    assert KEY not in repr(err)
    assert KEY not in repr(vars(err))


@respx.mock(base_url=MATON_CTRL_URL)
async def test_other_errors_mapped(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/connections/nope").respond(404, json={"error": "Connection not found"})
    respx_mock.post("/connections").respond(400, json={"error": "Missing connection app"})
    async with MatonConnections(KEY) as maton:
        with pytest.raises(NotFoundError):
            await maton.get("nope")
        with pytest.raises(BadRequestError):
            await maton.create()


@respx.mock(base_url=MATON_CTRL_URL)
async def test_get_retries_transient_failures(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get("/connections/c1")
    route.side_effect = [httpx.Response(503), httpx.Response(200, json={"connection": CONN})]
    async with MatonConnections(KEY, retry=RetryPolicy(initial_delay=0.001, jitter=0)) as maton:
        assert (await maton.get("c1")).status == "ACTIVE"
    assert route.call_count == 2


@respx.mock(base_url=MATON_CTRL_URL)
async def test_unexpected_body_is_parse_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/connections/c1").respond(200, text="<html>oops</html>")
    respx_mock.get("/connections/c2").respond(200, json={"something": "else"})
    async with MatonConnections(KEY) as maton:
        with pytest.raises(ResponseParseError) as info:
            await maton.get("c1")
        assert info.value.body == "<html>oops</html>"
        with pytest.raises(ResponseParseError):
            await maton.get("c2")


def test_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATON_API_KEY", KEY)
    maton = MatonConnections()
    assert KEY not in repr(maton)
    assert KEY not in str(maton)
    assert "Secret('****')" in repr(maton)


def test_missing_key_names_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATON_API_KEY", raising=False)
    with pytest.raises(ClickFunnelsConfigError, match="MATON_API_KEY"):
        MatonConnections()
    with pytest.raises(ClickFunnelsConfigError, match="MATON_API_KEY"):
        MatonConnections("   ")


async def test_injected_client_used_and_not_closed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"connections": [CONN]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        async with MatonConnections(KEY, http_client=http, base_url="http://127.0.0.1:9/") as maton:
            [conn] = await maton.list(app="clickfunnels", status="PENDING")
        assert not http.is_closed
    assert conn.connection_id == CONN["connection_id"]
    assert str(seen[0].url) == "http://127.0.0.1:9/connections?app=clickfunnels&status=PENDING"
    # the bearer goes on each request, not onto the caller's shared client
    assert "authorization" not in http.headers


def test_connection_is_frozen() -> None:
    conn = expected_connection()
    with pytest.raises(AttributeError):
        conn.status = "X"  # type: ignore[misc]
    assert MatonConnection.from_dict({"connection_id": 7, "status": "ACTIVE"}).connection_id == "7"

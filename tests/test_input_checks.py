"""Bad input gets a clear typed error where it is given, before anything is sent (issue 15, points 6 and 8)."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from clickfunnels_async import ClickFunnels, ClickFunnelsConfigError, MatonConnections
from clickfunnels_async.oauth import OAuthClient

TOKEN = "tok_inputs_0123456789"


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            200, json={"id": 1, "connection": {"connection_id": "c1", "status": "ACTIVE"}}
        )


def client() -> tuple[ClickFunnels, Recorder]:
    recorder = Recorder()
    return ClickFunnels(TOKEN, subdomain="acme", transport=recorder, max_retries=0), recorder


# ------------------------------------------------------------------ point 6: NaN and Infinity


@pytest.mark.anyio
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_nan_and_infinity_in_a_body_are_refused_before_sending(value: float) -> None:
    cf, recorder = client()
    async with cf:
        with pytest.raises(ValueError, match="NaN or Infinity") as caught:
            await cf.contacts.update(1, custom_attributes={"score": value})
        with pytest.raises(ValueError, match="NaN or Infinity"):
            await cf.request("POST", "/api/v2/anything", json={"a": [1, value]})
    assert "custom_attributes.score" in str(caught.value)
    assert not recorder.requests


# ------------------------------------------------------------------ point 8: one test per input case


@pytest.mark.parametrize(
    "name", ["Transfer-Encoding", "transfer-encoding", "TE", "Connection", "Content-Length"]
)
def test_extra_headers_cannot_set_message_framing(name: str) -> None:
    cf = ClickFunnels(TOKEN, subdomain="acme")
    with pytest.raises(ClickFunnelsConfigError, match=name):
        cf.with_options(extra_headers={name: "chunked"})


@pytest.mark.parametrize("name", ["X Trace", " X-Trace", "X-Trace ", "X-Trace\t", "X:Trace", ""])
def test_extra_header_names_with_whitespace_or_separators_are_refused(name: str) -> None:
    cf = ClickFunnels(TOKEN, subdomain="acme")
    with pytest.raises(ClickFunnelsConfigError):
        cf.with_options(extra_headers={name: "v"})


def test_extra_header_values_must_be_ascii() -> None:
    cf = ClickFunnels(TOKEN, subdomain="acme")
    with pytest.raises(ClickFunnelsConfigError, match="non-ASCII"):
        cf.with_options(extra_headers={"X-Name": "Zoë"})


@pytest.mark.anyio
@pytest.mark.parametrize("value", [b"ab", bytearray(b"ab"), object(), {"a": 1}, 1.5, math.nan])
async def test_filter_values_of_unsupported_types_are_refused(value: Any) -> None:
    cf, recorder = client()
    async with cf:
        with pytest.raises(TypeError, match="filter 'email_address'"):
            await cf.contacts.list(42, filter={"email_address": value}).to_list()
    assert not recorder.requests


@pytest.mark.anyio
@pytest.mark.parametrize("value", [b"ab", object(), math.inf, {"a": 1}])
async def test_query_values_of_unsupported_types_are_refused(value: Any) -> None:
    cf, recorder = client()
    async with cf:
        with pytest.raises(TypeError, match="query value"):
            await cf.request("GET", "/api/v2/things", params={"q": value})
        with pytest.raises(TypeError, match="query value"):
            cf.paginate("/api/v2/things", params={"q": value})
        with pytest.raises(TypeError, match="query value"):
            cf.contacts.list(42, stored_filter_id=value)
    assert not recorder.requests


@pytest.mark.anyio
async def test_supported_query_values_are_sent_as_text() -> None:
    cf, recorder = client()
    async with cf:
        await cf.request("GET", "/api/v2/things", params={"a": True, "b": 3, "c": 1.5, "d": "x"})
    assert recorder.requests[0].url.query == b"a=true&b=3&c=1.5&d=x"


@pytest.mark.parametrize(
    "url",
    [
        "http://accounts.example.com",
        "http://10.0.0.1",
        "ftp://accounts.myclickfunnels.com",
        "not a url",
    ],
)
def test_oauth_accounts_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ClickFunnelsConfigError, match="accounts_url"):
        OAuthClient("id", "secret", redirect_uri="https://app.example.com/cb", accounts_url=url)


def test_oauth_accounts_url_accepts_https_and_loopback_http() -> None:
    for url in ("https://accounts.example.com/", "http://127.0.0.1:8080", "http://localhost"):
        oauth = OAuthClient("id", redirect_uri="https://app.example.com/cb", accounts_url=url)
        assert not oauth.accounts_url.endswith("/")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/\\..\\admin",
        "/api/v2\\admin",
        "/api/v2/..;/admin",
        "/api/v2/.;x/admin",
        "/api/v2/%2e%2e/admin",
        "/api/v2/%2E./admin",
        "/api/v2/%252e%252e/admin",
        "/api/v2/%5c..%5cadmin",
    ],
)
async def test_raw_paths_with_traversal_are_refused(path: str) -> None:
    cf, recorder = client()
    async with cf:
        with pytest.raises(ValueError, match="dot segment"):
            await cf.request("GET", path)
        with pytest.raises(ValueError, match="dot segment"):
            cf.paginate(path)
    assert not recorder.requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    "connection_id", ["conn\n1", "conn\r\nX: y", "conn\x00", "conn\x7f", "cönn", "a;b"]
)
async def test_control_and_non_ascii_characters_in_maton_connection_ids_are_refused(
    connection_id: str,
) -> None:
    recorder = Recorder()
    async with MatonConnections(
        "maton_key_0123456789", http_client=httpx.AsyncClient(transport=recorder)
    ) as maton:
        with pytest.raises(ClickFunnelsConfigError, match="connection id"):
            await maton.get(connection_id)
        with pytest.raises(ClickFunnelsConfigError, match="connection id"):
            await maton.delete(connection_id)
    assert not recorder.requests


def test_non_ascii_user_agent_is_refused_at_construction() -> None:
    with pytest.raises(ClickFunnelsConfigError, match=r"user_agent.*non-ASCII"):
        ClickFunnels(TOKEN, subdomain="acme", user_agent="mon-app/1.0 (équipe)")


def test_non_ascii_token_is_refused_at_construction_without_echoing_it() -> None:
    token = "tok_ünicode_0123456789"
    for make in (
        lambda: ClickFunnels(token, subdomain="acme"),
        lambda: ClickFunnels.via_maton(token),
        lambda: MatonConnections(token),
    ):
        with pytest.raises(ClickFunnelsConfigError, match="non-ASCII") as caught:
            make()
        assert token not in str(caught.value)


@pytest.mark.parametrize("connection", ["cönn-1", "conn\n1"])
def test_non_ascii_or_control_maton_connection_is_refused_at_construction(connection: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        ClickFunnels.via_maton("maton_key_0123456789", connection=connection)
    cf = ClickFunnels.via_maton("maton_key_0123456789")
    with pytest.raises(ClickFunnelsConfigError):
        cf.with_options(maton_connection=connection)


def test_maton_key_with_an_inner_newline_is_refused_without_echoing_it() -> None:
    key = "maton_key_0123\n456789"
    with pytest.raises(ClickFunnelsConfigError, match="whitespace or control") as caught:
        MatonConnections(key)
    assert "0123" not in str(caught.value) and "456789" not in str(caught.value)

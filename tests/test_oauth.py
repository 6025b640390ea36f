"""OAuth 2 authorization-code flow: authorize URL, PKCE, code exchange, errors, secret hygiene."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from clickfunnels_async._errors import APIConnectionError, ClickFunnelsError
from clickfunnels_async.oauth import (
    AuthorizationRequest,
    OAuthClient,
    OAuthError,
    OAuthStateError,
    OAuthToken,
    pkce_challenge,
)

CLIENT_ID = "app_client_id_123"
CLIENT_SECRET = "app-client-secret-xyz-987"
REDIRECT = "https://app.example.com/oauth/callback"
CODE = "auth-code-5f0e3a9c"
VERIFIER = "v" * 20 + "-verifier-abcdefghijklmnop"
ACCESS_TOKEN = "cf-access-token-abcdef123456"
TOKEN_URL = "https://accounts.myclickfunnels.com/oauth/token"

TOKEN_RESPONSE: dict[str, Any] = {
    "access_token": ACCESS_TOKEN,
    "token_type": "Bearer",
    "expires_in": 7200,
    "scope": "admin read",
    "created_at": 1_700_000_000,
    "team_id": 7,
    "team_name": "Acme Team",
    "workspace_id": 42,
    "workspace_name": "Acme",
    "workspace_url": "https://acme.myclickfunnels.com",
}


def client(**kwargs: Any) -> OAuthClient:
    kwargs.setdefault("client_secret", CLIENT_SECRET)
    return OAuthClient(CLIENT_ID, redirect_uri=REDIRECT, **kwargs)


def query_of(url: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values()), "a parameter is repeated"
    return {k: v[0] for k, v in parsed.items()}


# --- authorize URL ---------------------------------------------------------------------------


def test_authorize_url_params_exact() -> None:
    request = client().authorization_url(state="st-123")
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "accounts.myclickfunnels.com",
        "/oauth/authorize",
    )
    assert request.code_verifier is not None
    assert query_of(request.url) == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st-123",
        "code_challenge": pkce_challenge(request.code_verifier),
        "code_challenge_method": "S256",
        "new_installation": "true",
    }
    assert request.state == "st-123"


def test_authorize_url_without_pkce_or_installation_with_scope() -> None:
    request = client().authorization_url(
        state="s", new_installation=False, pkce=False, scope=["read", "write"]
    )
    assert request.code_verifier is None
    assert query_of(request.url) == {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "s",
        "scope": "read write",
    }


def test_random_state_and_verifier() -> None:
    first, second = client().authorization_url(), client().authorization_url()
    assert first.state != second.state and len(first.state) >= 32
    assert first.code_verifier != second.code_verifier
    assert first.code_verifier is not None
    # RFC 7636: 43..128 characters from the unreserved set.
    assert 43 <= len(first.code_verifier) <= 128
    assert set(first.code_verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    assert query_of(first.url)["state"] == first.state


def test_pkce_challenge_is_unpadded_base64url_sha256() -> None:
    request = client().authorization_url()
    assert request.code_verifier is not None
    expected = (
        base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest())
        .decode()
        .rstrip("=")
    )
    challenge = query_of(request.url)["code_challenge"]
    assert challenge == expected
    assert "=" not in challenge and "+" not in challenge and "/" not in challenge
    # RFC 7636 appendix B test vector.
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_custom_accounts_url() -> None:
    custom = client(accounts_url="http://localhost:8080/")
    assert custom.authorization_url().url.startswith("http://localhost:8080/oauth/authorize?")
    assert custom.token_endpoint == "http://localhost:8080/oauth/token"


def test_authorization_request_repr_hides_verifier() -> None:
    request = client().authorization_url()
    assert isinstance(request, AuthorizationRequest)
    assert request.code_verifier is not None
    assert request.code_verifier not in repr(request)


# --- code exchange ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_exchange_wire_body_exact_and_token_parsed() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(TOKEN_URL).respond(200, json=TOKEN_RESPONSE)
        token = await client().exchange_code(CODE, code_verifier=VERIFIER)

    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith("clickfunnels-async/")
    assert json.loads(sent.content) == {
        "code": CODE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    assert token == OAuthToken(
        access_token=ACCESS_TOKEN,
        token_type="Bearer",
        scope="admin read",
        created_at=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        expires_in=7200,
        team_id=7,
        team_name="Acme Team",
        workspace_id=42,
        workspace_name="Acme",
        workspace_url="https://acme.myclickfunnels.com",
    )
    assert token.subdomain == "acme"


@pytest.mark.anyio
async def test_public_client_sends_no_secret_and_no_verifier_when_absent() -> None:
    with respx.mock() as mock:
        route = mock.post(TOKEN_URL).respond(200, json=TOKEN_RESPONSE)
        await client(client_secret=None).exchange_code(CODE)
    assert json.loads(route.calls.last.request.content) == {
        "code": CODE,
        "client_id": CLIENT_ID,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
    }


@pytest.mark.anyio
async def test_given_http_client_is_used_and_left_open() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=TOKEN_RESPONSE)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await client(http_client=http).exchange_code(CODE)
        assert not http.is_closed
    assert len(seen) == 1 and str(seen[0].url) == TOKEN_URL


@pytest.mark.anyio
async def test_state_mismatch_raises_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(TOKEN_URL).respond(200, json=TOKEN_RESPONSE)
        with pytest.raises(OAuthStateError):
            await client().exchange_code(CODE, state="forged", expected_state="issued")
        with pytest.raises(OAuthStateError):
            await client().exchange_code(CODE, state=None, expected_state="issued")
        assert route.call_count == 0
        await client().exchange_code(CODE, state="issued", expected_state="issued")
        assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "description"),
    [
        (
            400,
            {
                "error": "invalid_grant",
                "error_description": "The provided authorization grant "
                "is invalid, expired, revoked.",
            },
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked.",
        ),
        (401, {"error": "invalid_client"}, "invalid_client", None),
        (500, "<html>oops</html>", None, None),
        (503, "", None, None),
    ],
)
@pytest.mark.anyio
async def test_error_mapping(
    status: int, body: Any, error: str | None, description: str | None
) -> None:
    with respx.mock() as mock:
        if isinstance(body, dict):
            mock.post(TOKEN_URL).respond(status, json=body)
        else:
            mock.post(TOKEN_URL).respond(status, text=body)
        with pytest.raises(OAuthError) as excinfo:
            await client().exchange_code(CODE, code_verifier=VERIFIER)
    exc = excinfo.value
    assert isinstance(exc, ClickFunnelsError)
    assert (exc.status_code, exc.error, exc.error_description) == (status, error, description)
    assert str(status) in str(exc)
    if error:
        assert error in str(exc)


@pytest.mark.anyio
async def test_error_text_never_echoes_code_secret_or_verifier() -> None:
    echo = {
        "error": "invalid_grant",
        "error_description": f"bad code {CODE} for {CLIENT_SECRET} with {VERIFIER}",
    }
    with respx.mock() as mock:
        mock.post(TOKEN_URL).respond(400, json=echo)
        with pytest.raises(OAuthError) as excinfo:
            await client().exchange_code(CODE, code_verifier=VERIFIER)
    exc = excinfo.value
    text = " ".join([str(exc), repr(exc), str(exc.error_description), repr(exc.args)])
    for secret in (CODE, CLIENT_SECRET, VERIFIER):
        assert secret not in text


@pytest.mark.anyio
async def test_2xx_without_token_is_an_error() -> None:
    with respx.mock() as mock:
        mock.post(TOKEN_URL).respond(200, json={"token_type": "Bearer"})
        with pytest.raises(OAuthError) as excinfo:
            await client().exchange_code(CODE)
    assert excinfo.value.error == "invalid_response"
    assert excinfo.value.status_code == 200


@pytest.mark.anyio
async def test_connection_failure_is_typed_and_clean() -> None:
    with respx.mock() as mock:
        mock.post(TOKEN_URL).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(APIConnectionError) as excinfo:
            await client().exchange_code(CODE, code_verifier=VERIFIER)
    for secret in (CODE, CLIENT_SECRET, VERIFIER):
        assert secret not in str(excinfo.value)


# --- token object and secret hygiene ---------------------------------------------------------


def test_token_repr_and_str_hide_access_token() -> None:
    token = OAuthToken.from_dict(TOKEN_RESPONSE)
    assert ACCESS_TOKEN not in repr(token)
    assert ACCESS_TOKEN not in str(token)
    assert ACCESS_TOKEN not in f"{token}"
    assert "acme.myclickfunnels.com" in repr(token)  # the useful bits stay visible


def test_client_repr_hides_secret() -> None:
    assert CLIENT_SECRET not in repr(client())
    assert CLIENT_SECRET not in str(client())


def test_token_round_trips_through_dict() -> None:
    token = OAuthToken.from_dict(TOKEN_RESPONSE)
    assert token.to_dict() == TOKEN_RESPONSE
    assert OAuthToken.from_dict(token.to_dict()) == token


@pytest.mark.parametrize(
    ("url", "subdomain"),
    [
        ("https://acme.myclickfunnels.com", "acme"),
        ("https://Acme-Shop.myclickfunnels.com/", "acme-shop"),
        ("acme.myclickfunnels.com", "acme"),
        ("https://www.example.com", None),
        ("https://a.b.myclickfunnels.com", None),
        (None, None),
    ],
)
def test_subdomain(url: str | None, subdomain: str | None) -> None:
    token = OAuthToken(access_token="t", workspace_url=url)
    assert token.subdomain == subdomain


@pytest.mark.anyio
async def test_no_secrets_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with respx.mock() as mock:
        mock.post(TOKEN_URL).respond(200, json=TOKEN_RESPONSE)
        token = await client().exchange_code(
            CODE, code_verifier=VERIFIER, state="s", expected_state="s"
        )
        mock.post(TOKEN_URL).respond(400, json={"error": "invalid_grant"})
        with pytest.raises(OAuthError):
            await client().exchange_code(CODE, code_verifier=VERIFIER)
    assert token.access_token == ACCESS_TOKEN
    assert any(r.name.startswith("clickfunnels_async") for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    for secret in (CODE, CLIENT_SECRET, VERIFIER, ACCESS_TOKEN):
        assert secret not in logged

"""OAuth 2 (authorization code + PKCE) for public ClickFunnels apps.

Flow: `OAuthClient.authorization_url()` gives the URL to redirect the user to, plus the `state` and PKCE
`code_verifier` to keep (server-side session) until the callback; the callback hands the `code` to
`OAuthClient.exchange_code()`, which returns an `OAuthToken` bound to the workspace the user picked.

ClickFunnels tokens are effectively permanent and refresh tokens are disabled, so there is no refresh
helper: store the token (`OAuthToken.to_dict()`) and use it as the client's ``api_token``.

Secrets (client secret, authorization codes, code verifiers, access tokens) never appear in reprs,
exception messages or log records produced here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import attrs
import httpx

from clickfunnels_async._errors import APIConnectionError, APITimeoutError, ClickFunnelsError
from clickfunnels_async._hosts import validate_base_url
from clickfunnels_async._json import dumps as _json_dumps
from clickfunnels_async._log import MASK, Secret, redact, scrub_request, scrub_response
from clickfunnels_async._version import __version__

__all__ = [
    "DEFAULT_ACCOUNTS_URL",
    "AuthorizationRequest",
    "OAuthClient",
    "OAuthError",
    "OAuthStateError",
    "OAuthToken",
    "pkce_challenge",
]

DEFAULT_ACCOUNTS_URL: Final = "https://accounts.myclickfunnels.com"
_WORKSPACE_DOMAIN = ".myclickfunnels.com"
_TIMEOUT = httpx.Timeout(30.0)

_log = logging.getLogger("clickfunnels_async.oauth")


class OAuthError(ClickFunnelsError):
    """The token endpoint refused the exchange, or answered with something that is not a token.

    `error` / `error_description` are the OAuth error fields from the response body (None when it had
    none); `status_code` is the HTTP status (None for errors raised before any request).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.error_description = error_description


class OAuthStateError(OAuthError):
    """The callback's `state` is not the one issued: a forged or crossed callback. Nothing was sent."""


def pkce_challenge(code_verifier: str) -> str:
    """The S256 code challenge: unpadded base64url of the verifier's SHA-256 (RFC 7636 §4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@attrs.frozen(slots=True)
class AuthorizationRequest:
    """Where to send the user, and what to remember until the callback.

    Keep `state` and `code_verifier` server-side (e.g. in the session) and pass them to
    `OAuthClient.exchange_code`. The verifier is a secret and stays out of the repr.
    """

    url: str
    state: str
    code_verifier: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(slots=True, kw_only=True)
class OAuthToken:
    """An access token and the team/workspace it was granted for.

    `access_token` is left out of ``repr()``/``str()``; read the attribute where you need it.
    `created_at` is the issue time (UTC). `expires_in` is informational: ClickFunnels tokens do not
    expire in practice.
    """

    access_token: str = attrs.field(repr=False)
    token_type: str = "Bearer"
    scope: str | None = None
    created_at: datetime | None = None
    expires_in: int | None = None
    team_id: int | None = None
    team_name: str | None = None
    workspace_id: int | None = None
    workspace_name: str | None = None
    workspace_url: str | None = None

    @property
    def subdomain(self) -> str | None:
        """The workspace subdomain from `workspace_url` (``https://acme.myclickfunnels.com`` -> ``acme``).

        None when there is no workspace URL or it is not on ``*.myclickfunnels.com``.
        """
        if not self.workspace_url:
            return None
        url = self.workspace_url if "//" in self.workspace_url else f"//{self.workspace_url}"
        host = (urlsplit(url).hostname or "").lower()
        if not host.endswith(_WORKSPACE_DOMAIN):
            return None
        label = host[: -len(_WORKSPACE_DOMAIN)]
        return label if label and "." not in label else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OAuthToken:
        """Build from a token response body (or from `to_dict()` output)."""
        access_token = data.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise OAuthError("the token response has no access_token", error="invalid_response")
        token_type = data.get("token_type")
        return cls(
            access_token=access_token,
            token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
            scope=_str(data.get("scope")),
            created_at=_time(data.get("created_at")),
            expires_in=_int(data.get("expires_in")),
            team_id=_int(data.get("team_id")),
            team_name=_str(data.get("team_name")),
            workspace_id=_int(data.get("workspace_id")),
            workspace_name=_str(data.get("workspace_name")),
            workspace_url=_str(data.get("workspace_url")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything, token included, in the token response's own shape: for storing the token."""
        data = attrs.asdict(self)
        data["created_at"] = int(self.created_at.timestamp()) if self.created_at else None
        return data


def _accounts_url(url: str) -> str:
    # The client secret and the code travel to this host: https, or plain http to a loopback test server.
    return str(validate_base_url(url, name="accounts_url")).rstrip("/")


@attrs.frozen(slots=True, repr=False, eq=False)
class OAuthClient:
    """The app side of ClickFunnels' OAuth 2 authorization-code flow (Doorkeeper on the accounts host).

    `client_secret` may be None for public clients that rely on PKCE alone. `redirect_uri` must match
    the one registered in the developer portal exactly (no trailing slash). Pass `http_client` to reuse
    a pool or to test; otherwise a short-lived client is opened per exchange.
    """

    client_id: str
    client_secret: str | None = None
    redirect_uri: str = attrs.field(kw_only=True)
    accounts_url: str = attrs.field(
        default=DEFAULT_ACCOUNTS_URL, kw_only=True, converter=_accounts_url
    )
    http_client: httpx.AsyncClient | None = attrs.field(default=None, kw_only=True)
    user_agent: str = attrs.field(default=f"clickfunnels-async/{__version__}", kw_only=True)

    def __repr__(self) -> str:
        secret = MASK if self.client_secret else None
        return (
            f"OAuthClient(client_id={self.client_id!r}, client_secret={secret!r}, "
            f"redirect_uri={self.redirect_uri!r}, accounts_url={self.accounts_url!r})"
        )

    @property
    def authorize_endpoint(self) -> str:
        return f"{self.accounts_url}/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.accounts_url}/oauth/token"

    def authorization_url(
        self,
        state: str | None = None,
        *,
        new_installation: bool = True,
        scope: str | Iterable[str] | None = None,
        pkce: bool = True,
    ) -> AuthorizationRequest:
        """Build the authorize URL and the values to keep for the callback.

        `new_installation=True` (the default) shows the workspace picker and binds the token to one
        workspace; False asks for a user authorization reaching all of the user's workspaces.
        `scope` is usually unnecessary (the default grant is full workspace access).
        """
        state = state if state is not None else secrets.token_urlsafe(32)
        params: dict[str, str] = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "state": state,
        }
        if scope is not None:
            params["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        verifier = None
        if pkce:
            # 64 random bytes -> 86 URL-safe characters, inside RFC 7636's 43..128 range.
            verifier = secrets.token_urlsafe(64)
            params["code_challenge"] = pkce_challenge(verifier)
            params["code_challenge_method"] = "S256"
        if new_installation:
            params["new_installation"] = "true"
        url = f"{self.authorize_endpoint}?{urlencode(params)}"
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    async def exchange_code(
        self,
        code: str,
        *,
        code_verifier: str | None = None,
        state: str | None = None,
        expected_state: str | None = None,
    ) -> OAuthToken:
        """Trade the callback's `code` for an `OAuthToken`.

        When `expected_state` is given, the callback's `state` must equal it, or `OAuthStateError` is
        raised before anything is sent. Pass the `code_verifier` kept from `authorization_url()` when
        PKCE was used.
        """
        if expected_state is not None and (
            state is None or not hmac.compare_digest(state.encode(), expected_state.encode())
        ):
            raise OAuthStateError(
                "the callback's state does not match the one issued with the authorization URL",
                error="state_mismatch",
            )
        if not code:
            raise OAuthError("no authorization code was given", error="invalid_request")

        payload: dict[str, str] = {
            "code": code,
            "client_id": self.client_id,
            "grant_type": "authorization_code",
            "redirect_uri": self.redirect_uri,
        }
        if self.client_secret:
            payload["client_secret"] = self.client_secret
        if code_verifier:
            payload["code_verifier"] = code_verifier
        # Wrapped from here on: a traceback's locals (rich's show_locals, Sentry) must not show them.
        hidden = [Secret(v) for v in (code, self.client_secret, code_verifier) if v]
        form = Secret(_json_dumps(payload).decode())
        del payload, code, code_verifier

        _log.debug(
            "exchanging an authorization code at %s (client_id=%s)",
            self.token_endpoint,
            self.client_id,
        )
        response = await self._post(form, hidden)
        _log.debug("token endpoint answered %d", response.status_code)
        # The exchange is over: the request (code, secret, verifier) is of no further use to anyone.
        scrub_request(response.request, [h.get_secret_value() for h in hidden])
        body = _json(response)
        if not (response.is_success and isinstance(body, dict)):
            # An error is raised below from this frame: what the server echoed goes too.
            scrub_response(response, [h.get_secret_value() for h in hidden])
        if not response.is_success:
            error = _error_from(response.status_code, body, [h.get_secret_value() for h in hidden])
            del body  # it may quote the request back
            raise error
        if not isinstance(body, dict):
            raise OAuthError(
                f"the token endpoint answered {response.status_code} without a JSON object",
                status_code=response.status_code,
                error="invalid_response",
            )
        try:
            return OAuthToken.from_dict(body)
        except OAuthError as exc:
            scrub_response(response, [h.get_secret_value() for h in hidden])
            exc.status_code = response.status_code
            raise

    async def _post(self, form: Secret, hidden: list[Secret]) -> httpx.Response:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
        }
        try:
            if self.http_client is not None:
                return await self.http_client.post(
                    self.token_endpoint, content=form.get_secret_value(), headers=headers
                )
            async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
                return await client.post(
                    self.token_endpoint, content=form.get_secret_value(), headers=headers
                )
        except httpx.TransportError as exc:
            # The httpx error keeps its request, whose body holds the code, secret and verifier.
            with contextlib.suppress(RuntimeError):  # RuntimeError: no request attached
                scrub_request(exc.request, [h.get_secret_value() for h in hidden])
            cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
            what = "timed out talking to" if cls is APITimeoutError else "could not reach"
            raise cls(
                f"{what} the token endpoint ({type(exc).__name__})",
                method="POST",
                url=self.token_endpoint,
            ) from exc


def _error_from(status_code: int, body: Any, hidden: list[str]) -> OAuthError:
    error = description = None
    if isinstance(body, dict):
        error = _scrub(_str(body.get("error")), hidden)
        description = _scrub(_str(body.get("error_description")), hidden)
    message = f"token request failed with HTTP {status_code}"
    if error:
        message += f": {error}"
    if description:
        message += f" ({description})"
    return OAuthError(message, status_code=status_code, error=error, error_description=description)


def _scrub(text: str | None, hidden: list[str]) -> str | None:
    # Servers sometimes quote the offending parameter back; never let it reach an exception.
    return None if text is None else redact(text, hidden)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _time(value: Any) -> datetime | None:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None

"""Managing Maton connections (``https://ctrl.maton.ai``).

Maton holds the ClickFunnels OAuth token and injects it at its gateway; the SDK only needs a Maton API
key. A *connection* is one authorised ClickFunnels account: create one, open its ``url`` in a browser to
finish OAuth, and it becomes ``ACTIVE``. Requests through the gateway use the oldest active connection
unless a ``Maton-Connection`` header picks another.

    async with MatonConnections() as maton:          # key from MATON_API_KEY
        pending = await maton.create()
        print("finish the login at", pending.url)
"""

from __future__ import annotations

import builtins
import os
import time
from types import TracebackType
from typing import Any

import attrs
import httpx

from ._errors import (
    APIConnectionError,
    ClickFunnelsConfigError,
    ResponseParseError,
    error_from_response,
)
from ._json import loads as _json_loads
from ._log import log_response, redacting_filter, scrub_request, scrub_response
from ._options import to_secret
from ._transport import RetryPolicy, Throttle, send

__all__ = ["MATON_CTRL_URL", "MatonConnection", "MatonConnections"]

MATON_CTRL_URL = "https://ctrl.maton.ai"
MATON_KEY_ENV = "MATON_API_KEY"
_DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@attrs.frozen
class MatonConnection:
    """One Maton connection to a ClickFunnels account. ``url`` finishes the OAuth login in a browser."""

    connection_id: str
    status: str
    creation_time: str | None = None
    last_updated_time: str | None = None
    url: str | None = None
    app: str = "clickfunnels"
    metadata: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatonConnection:
        metadata = data.get("metadata")
        return cls(
            connection_id=str(data["connection_id"]),
            status=str(data.get("status", "")),
            creation_time=_opt_str(data.get("creation_time")),
            last_updated_time=_opt_str(data.get("last_updated_time")),
            url=_opt_str(data.get("url")),
            app=str(data.get("app", "clickfunnels")),
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
        )


class MatonConnections:
    """Async client for Maton's connection API. Use as ``async with MatonConnections() as maton:``.

    *api_key* defaults to the ``MATON_API_KEY`` environment variable. Pass *http_client* to reuse a
    pool (it is then not closed here); *base_url* exists for tests and proxies.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        base_url: str = MATON_CTRL_URL,
        retry: RetryPolicy | None = None,
    ) -> None:
        raw = api_key if api_key is not None else os.environ.get(MATON_KEY_ENV)
        del api_key  # only the wrapped key from here on, also in a traceback's locals
        self._api_key = to_secret(
            raw.strip() if isinstance(raw, str) else raw, "api_key", MATON_KEY_ENV
        )
        del raw
        redacting_filter.register(self._api_key, owner=self)
        self._base_url = base_url.rstrip("/")
        self._owns_client = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=_DEFAULT_TIMEOUT)
        )
        self._retry = retry if retry is not None else RetryPolicy()
        self._throttle = Throttle()

    def __repr__(self) -> str:
        return f"MatonConnections(base_url={self._base_url!r}, api_key={self._api_key!r})"

    async def __aenter__(self) -> MatonConnections:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None
    ) -> tuple[Any, httpx.Response]:
        request = self._http.build_request(
            method,
            f"{self._base_url}{path}",
            params=params,
            json=json,
            headers={
                "Authorization": f"Bearer {self._api_key.get_secret_value()}",
                "Accept": "application/json",
            },
        )
        started = time.perf_counter()
        try:
            response, retries = await send(
                self._http,
                request,
                policy=self._retry,
                idempotent=method != "POST",
                throttle=self._throttle,
            )
        except APIConnectionError:
            scrub_request(request)
            raise
        log_response(response, elapsed=time.perf_counter() - started, retries=retries)
        if not response.is_success:
            error = error_from_response(response, via_maton=True, retries=retries)
            scrub_response(response)
            raise error
        if not response.content.strip():
            return None, response
        try:
            return _json_loads(response.content), response
        except ValueError:
            raise ResponseParseError.from_response(response) from None

    async def _one(self, method: str, path: str, *, json: Any = None) -> MatonConnection:
        payload, response = await self._request(method, path, json=json)
        if isinstance(payload, dict) and isinstance(payload.get("connection"), dict):
            try:
                return MatonConnection.from_dict(payload["connection"])
            except KeyError:
                pass
        raise ResponseParseError.from_response(response, 'expected a {"connection": {...}} object')

    async def list(
        self, app: str = "clickfunnels", status: str | None = "ACTIVE"
    ) -> builtins.list[MatonConnection]:
        """Connections for *app*; ``status=None`` lists every status (ACTIVE, PENDING, ...)."""
        params = {"app": app}
        if status is not None:
            params["status"] = status
        payload, _ = await self._request("GET", "/connections", params=params)
        items = payload.get("connections", []) if isinstance(payload, dict) else []
        return [MatonConnection.from_dict(item) for item in items if isinstance(item, dict)]

    async def create(self, app: str = "clickfunnels") -> MatonConnection:
        """A new (pending) connection; open its ``url`` in a browser to authorise ClickFunnels."""
        return await self._one("POST", "/connections", json={"app": app})

    async def get(self, connection_id: str) -> MatonConnection:
        return await self._one("GET", f"/connections/{_path_id(connection_id)}")

    async def delete(self, connection_id: str) -> None:
        await self._request("DELETE", f"/connections/{_path_id(connection_id)}")


def _path_id(connection_id: str) -> str:
    # An id is one path segment; anything that could change the path is a caller error.
    if not isinstance(connection_id, str):
        raise TypeError(f"a Maton connection id is a string, not {type(connection_id).__name__}")
    if (
        not connection_id
        or any(c in connection_id for c in "/?#%\\ ;")
        or any(ord(c) < 32 or ord(c) == 127 for c in connection_id)
        or not connection_id.isascii()
        or connection_id in (".", "..")
    ):
        raise ClickFunnelsConfigError(
            f"invalid Maton connection id {connection_id!r}: one path segment of printable ASCII"
        )
    return connection_id

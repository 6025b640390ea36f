"""`ClickFunnels`, the one client users create: the generated namespaces on top of one `Core`.

The client holds configuration and lifecycle (pool, `with_options`, `raw_responses`); requests are the core's
(`_core.py`); the namespace tree (`cf.contacts.tags`, generated) calls the core through a narrow protocol.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Unpack

import attrs
import httpx

from ._core import Core, RawResponse, _raw_log, _Shared
from ._errors import ClickFunnelsConfigError
from ._generated.namespaces import ApiNamespaces
from ._hosts import Hosts, hosts_from_config
from ._log import Secret, configure_from_env, redacting_filter
from ._options import (
    ClientConfig,
    ClientOptions,
    RetryPolicy,
    check_connection,
    check_max_retries,
    check_workspace_id,
    to_headers,
    to_secret,
    to_timeout,
    workspace_id_from_env,
)
from ._pagination import AsyncPaginator
from ._throttle import Throttle
from ._transport import new_pool
from ._version import __version__

__all__ = ["ClickFunnels", "RawResponse", "default_user_agent"]


def default_user_agent() -> str:
    return f"clickfunnels-async/{__version__} python-httpx/{httpx.__version__}"


class ClickFunnels(ApiNamespaces):
    """Async client for the ClickFunnels 2.0 API.

    ```
    async with ClickFunnels(api_token="...", subdomain="acme") as cf:
        async for contact in cf.contacts.list(workspace_id=42):
            ...
    ```

    One client holds one connection pool; share it between tasks. `with_options()` gives a copy with other
    per-call options that shares the pool. Use `ClickFunnels.via_maton(...)` to go through the Maton gateway.

    Keywords (both constructors): `user_agent`, `timeout` (seconds or `httpx.Timeout`, default 30 s / 10 s
    connect), `max_retries` (2), `retry_policy`, `max_concurrency`, `requests_per_second`, `rate_budget` (a shared
    `RateBudget` instead of a local rate), `http_client`,
    `http2`, `transport`, `workspace_id` (the default for every call whose path has `{workspace_id}`; else
    `CLICKFUNNELS_WORKSPACE_ID`, else the one workspace found where the subdomain is discovered).
    """

    __slots__ = ()
    _core: Core

    def __init__(
        self,
        api_token: str | None = None,
        *,
        subdomain: str | None = None,
        base_url: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        token = to_secret(
            api_token if api_token is not None else os.environ.get("CLICKFUNNELS_API_TOKEN"),
            "api_token",
            "CLICKFUNNELS_API_TOKEN",
        )
        del api_token  # from here on only the wrapped value: a traceback's locals never show it
        hosts = hosts_from_config(subdomain, base_url, os.environ)
        self._setup(token, hosts, None, options)

    @classmethod
    def via_maton(
        cls,
        maton_api_key: str | None = None,
        *,
        connection: str | None = None,
        base_url: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> ClickFunnels:
        """A client that reaches ClickFunnels through the Maton gateway (`MATON_API_KEY`).

        `connection` picks a Maton connection (`Maton-Connection` header); without it the gateway uses its
        default, the oldest active one. `base_url` points at another gateway (tests, proxies).
        """
        key = to_secret(
            maton_api_key if maton_api_key is not None else os.environ.get("MATON_API_KEY"),
            "maton_api_key",
            "MATON_API_KEY",
        )
        del maton_api_key
        self = cls.__new__(cls)
        hosts = Hosts.custom(base_url) if base_url is not None else Hosts.maton()
        self._setup(key, hosts, connection, options, via_maton=True)
        return self

    def _setup(
        self,
        secret: Secret,
        hosts: Hosts,
        connection: str | None,
        options: ClientOptions,
        *,
        via_maton: bool = False,
    ) -> None:
        if options.get("workspace_id") is None:
            options = {**options, "workspace_id": workspace_id_from_env(os.environ)}
        config = ClientConfig(**options)
        ua = default_user_agent() if config.user_agent is None else config.user_agent
        if not isinstance(ua, str) or not ua.strip():
            raise ClickFunnelsConfigError(
                "user_agent must not be empty: ClickFunnels rejects requests without a User-Agent"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in ua):
            raise ClickFunnelsConfigError("user_agent contains a control character")
        if not ua.isascii():
            raise ClickFunnelsConfigError(
                "user_agent contains non-ASCII characters; HTTP headers must be ASCII"
            )
        request_options = config.request_options(connection)
        configure_from_env()
        owns = config.http_client is None
        try:
            http = config.http_client or new_pool(
                timeout=request_options.timeout,
                http2=config.http2,
                transport=config.transport,
                connections=config.max_concurrency,
            )
        except ImportError as exc:  # http2=True without the h2 package
            raise ClickFunnelsConfigError(
                "http2=True needs the h2 package: pip install 'clickfunnels-async[http2]'"
            ) from exc
        shared = _Shared(
            http=http,
            owns_http=owns,
            throttle=Throttle(
                config.max_concurrency, config.requests_per_second, budget=config.rate_budget
            ),
            hosts=hosts,
            token=secret,
            user_agent=ua,
            via_maton=via_maton,
        )
        redacting_filter.register(secret, owner=shared)
        self._core = Core(shared, request_options)

    # ------------------------------------------------------------------ lifecycle and options

    async def __aenter__(self) -> ClickFunnels:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (shared with every `with_options()` copy) unless you brought it."""
        shared = self._core._shared
        if shared.closed:
            return
        shared.closed = True
        if shared.owns_http:
            await shared.http.aclose()

    def __repr__(self) -> str:
        hosts = self._core._shared.hosts
        where = {
            "direct": f"subdomain={hosts.subdomain!r}",
            "base_url": f"base_url={str(hosts.base_url)!r}",
            "maton": f"maton connection={self._core._options.maton_connection!r}",
        }[hosts.mode]
        workspace = self._core.default_workspace_id()
        return (
            f"<ClickFunnels {where}>"
            if workspace is None
            else f"<ClickFunnels {where} workspace_id={workspace}>"
        )

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        maton_connection: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        workspace_id: int | None = None,
    ) -> ClickFunnels:
        """A copy that uses other options for its calls, sharing this client's pool and pacing.

        The original is never changed, so tasks can each use their own copy at the same time.
        """
        core = self._core
        current = core._options
        changes: dict[str, Any] = {}
        if timeout is not None:
            changes["timeout"] = to_timeout(timeout)
        retry = retry_policy or current.retry
        if max_retries is not None:
            retry = attrs.evolve(retry, max_retries=check_max_retries(max_retries))
        changes["retry"] = retry
        if maton_connection is not None:
            if not core._shared.via_maton:
                raise ClickFunnelsConfigError(
                    "maton_connection applies to clients made with ClickFunnels.via_maton(...)"
                )
            changes["maton_connection"] = check_connection(maton_connection)
        if extra_headers is not None:
            changes["extra_headers"] = current.extra_headers + to_headers(extra_headers)
        if workspace_id is not None:
            changes["workspace_id"] = check_workspace_id(workspace_id)
        clone = type(self).__new__(type(self))
        clone._core = Core(core._shared, attrs.evolve(current, **changes))
        return clone

    @contextmanager
    def raw_responses(self) -> Iterator[list[RawResponse]]:
        """Collect the raw response of every call made inside the block (in this task and its children).

        ```
        with cf.raw_responses() as raw:
            contact = await cf.contacts.get(123)
        raw[-1].status_code, raw[-1].headers["Pagination-Next"], raw[-1].retries
        ```
        """
        log: list[RawResponse] = []
        token = _raw_log.set(log)
        try:
            yield log
        finally:
            _raw_log.reset(token)

    async def _workspace_choices(self) -> tuple[int | None, list[tuple[Any, Any, Any]]]:
        """The default workspace_id if there is one, else (None, every workspace the token reaches as
        (id, name, subdomain)). Private: the CLI needs the id itself (for its checkpoint) before a call."""
        default = self._core.default_workspace_id()
        if default is not None:
            return default, []
        return None, await self._core.workspaces_seen()

    def _watch_retries(self, callback: Callable[[], object]) -> None:
        """Call *callback* before every retry of this client's requests (its `with_options()` copies too).

        Private: the CLI counts retries for its progress line and summary with it, instead of reading log text.
        """
        shared = self._core._shared
        earlier = shared.on_retry
        if earlier is None:
            shared.on_retry = callback
            return

        def both() -> None:
            earlier()
            callback()

        shared.on_retry = both

    # ------------------------------------------------------------------ escape hatch

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        host: str | None = None,
    ) -> Any:
        """Call an endpoint the SDK does not describe yet, with the same hosts, auth, retries and errors.

        Returns the decoded JSON (or None for an empty body). `host` is "accounts" or "workspace"; by default
        it is taken from a matching operation of the spec, else the workspace host.
        """
        return await self._core.request(method, path, params=params, json=json, host=host)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        host: str | None = None,
        limit: int | None = None,
        prefetch: bool = False,
    ) -> AsyncPaginator[Any]:
        """Iterate a list endpoint the SDK does not describe yet (`after` <- `Pagination-Next`), as dicts."""
        return self._core.paginate(path, params=params, host=host, limit=limit, prefetch=prefetch)

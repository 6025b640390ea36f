"""`ClickFunnels`, the one client users create.

Every generated namespace method ends in `_call` or `_paginate` with its row of the operation table. Those
build the request from the row (host, path, filter, body wrapper), send it through `_transport` (slots,
pacing, retries), turn any non-2xx into a typed error before parsing, and build the model.
"""

from __future__ import annotations

import contextvars
import datetime
import enum
import importlib
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import attrs
import httpx

from ._errors import (
    APIConnectionError,
    ClickFunnelsConfigError,
    ResponseParseError,
    error_from_response,
)
from ._filters import FilterArg, query_text, render_expand, render_filter
from ._hints import add_connection_hint
from ._hosts import Hosts, check_api_path, hosts_from_config
from ._json import dumps as _json_dumps
from ._json import loads as _json_loads
from ._log import (
    Secret,
    configure_from_env,
    log_response,
    redacting_filter,
    scrub_request,
    scrub_response,
)
from ._operation import Operation
from ._options import (
    DEFAULT_TIMEOUT,
    RequestOptions,
    check_connection,
    to_headers,
    to_secret,
    to_timeout,
)
from ._pacing import RateBudget, Throttle
from ._pagination import AsyncPaginator, Page
from ._resources import Namespaces
from ._transport import RetryPolicy, new_pool, send
from ._version import __version__

_MODELS_PACKAGE = "clickfunnels_async._generated.models"
_model_cache: dict[str, Any] = {}


def _model(ref: str) -> Any:
    cls = _model_cache.get(ref)
    if cls is None:
        module, name = ref.split(":")
        cls = getattr(importlib.import_module(f"{_MODELS_PACKAGE}.{module}"), name)
        _model_cache[ref] = cls
    return cls


def default_user_agent() -> str:
    return f"clickfunnels-async/{__version__} python-httpx/{httpx.__version__}"


@attrs.frozen(slots=True)
class RawResponse:
    """What came back for one call (or one page): status, headers, timing and retries taken."""

    operation: str
    status_code: int
    headers: httpx.Headers = attrs.field(repr=False)  # a server may echo anything back
    elapsed: float  # seconds, including retries and waits
    retries: int
    http_response: httpx.Response = attrs.field(repr=False)


_raw_log: contextvars.ContextVar[list[RawResponse] | None] = contextvars.ContextVar(
    "clickfunnels_raw_log", default=None
)


def _path_value(op: Operation, name: str, value: object) -> str:
    if type(value) is int:  # the common case: an id, which needs no checks beyond its type
        return str(value)
    if value is None:
        raise TypeError(f"{op.qualname}() needs {name}")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(
            f"{op.qualname}(): {name} must be an int id or a public id string, not {value!r}"
        )
    text = str(value)
    # An empty or dot segment would silently address another route.
    if not text.strip() or text in (".", ".."):
        raise ValueError(f"{op.qualname}(): {name}={value!r} is not an id")
    return quote(text, safe="")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


# Parsed URLs kept per client: enough for the calls a service repeats, small enough not to matter.
_URL_CACHE_SIZE = 256


@attrs.define(slots=True, eq=False)
class _Shared:
    """State every `with_options()` copy shares: the pool, the throttle, the discovered host."""

    http: httpx.AsyncClient
    owns_http: bool
    throttle: Throttle
    hosts: Hosts
    token: Secret
    user_agent: str
    via_maton: bool
    discover_lock: anyio.Lock = attrs.field(factory=anyio.Lock)
    closed: bool = False
    urls: dict[str, httpx.URL] = attrs.field(factory=dict)  # parsed URLs of recent calls


class ClickFunnels(Namespaces):
    """Async client for the ClickFunnels 2.0 API.

    ```
    async with ClickFunnels(api_token="...", subdomain="acme") as cf:
        async for contact in cf.contacts.list(workspace_id=42):
            ...
    ```

    One client holds one connection pool; share it between tasks. `with_options()` gives a copy with other
    per-call options that shares the pool. Use `ClickFunnels.via_maton(...)` to go through the Maton gateway.
    """

    __slots__ = ("_options", "_shared")

    def __init__(
        self,
        api_token: str | None = None,
        *,
        subdomain: str | None = None,
        base_url: str | None = None,
        user_agent: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        requests_per_second: float | None = None,
        rate_budget: RateBudget | None = None,
        http_client: httpx.AsyncClient | None = None,
        http2: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        token = to_secret(
            api_token if api_token is not None else os.environ.get("CLICKFUNNELS_API_TOKEN"),
            "api_token",
            "CLICKFUNNELS_API_TOKEN",
        )
        del api_token  # from here on only the wrapped value: a traceback's locals never show it
        hosts = hosts_from_config(subdomain, base_url, os.environ)
        self._setup(
            token,
            hosts=hosts,
            via_maton=False,
            connection=None,
            user_agent=user_agent,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            max_concurrency=max_concurrency,
            requests_per_second=requests_per_second,
            rate_budget=rate_budget,
            http_client=http_client,
            http2=http2,
            transport=transport,
        )

    @classmethod
    def via_maton(
        cls,
        maton_api_key: str | None = None,
        *,
        connection: str | None = None,
        base_url: str | None = None,
        user_agent: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        requests_per_second: float | None = None,
        rate_budget: RateBudget | None = None,
        http_client: httpx.AsyncClient | None = None,
        http2: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
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
        self._setup(
            key,
            hosts=hosts,
            via_maton=True,
            connection=connection,
            user_agent=user_agent,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            max_concurrency=max_concurrency,
            requests_per_second=requests_per_second,
            rate_budget=rate_budget,
            http_client=http_client,
            http2=http2,
            transport=transport,
        )
        return self

    def _setup(
        self,
        secret: Secret,
        *,
        hosts: Hosts,
        via_maton: bool,
        connection: str | None,
        user_agent: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        retry_policy: RetryPolicy | None,
        max_concurrency: int | None,
        requests_per_second: float | None,
        rate_budget: RateBudget | None,
        http_client: httpx.AsyncClient | None,
        http2: bool,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        ua = default_user_agent() if user_agent is None else user_agent
        if not isinstance(ua, str) or not ua.strip():
            raise ClickFunnelsConfigError(
                "user_agent must not be empty: ClickFunnels rejects requests without a User-Agent"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in ua):
            raise ClickFunnelsConfigError("user_agent contains a control character")
        if not ua.isascii():
            raise ClickFunnelsConfigError("user_agent contains non-ASCII characters; HTTP headers must be ASCII")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ClickFunnelsConfigError(f"max_retries must be an int >= 0, not {max_retries!r}")
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ClickFunnelsConfigError(
                f"max_concurrency must be an int >= 1, not {max_concurrency!r}"
            )
        if requests_per_second is not None and (
            isinstance(requests_per_second, bool)
            or not isinstance(requests_per_second, int | float)
            or requests_per_second <= 0
        ):
            raise ClickFunnelsConfigError(
                f"requests_per_second must be a positive number, not {requests_per_second!r}"
            )
        if rate_budget is not None:
            if requests_per_second is not None:
                raise ClickFunnelsConfigError(
                    "pass either requests_per_second= or rate_budget= (configure the rate on the budget)"
                )
            if not isinstance(rate_budget, RateBudget):
                raise ClickFunnelsConfigError(
                    "rate_budget must implement clickfunnels_async.RateBudget (try_start, on_rate_limited, "
                    f"on_success, aclose), not {type(rate_budget).__name__}"
                )
        policy = attrs.evolve(retry_policy or RetryPolicy(), max_retries=max_retries)
        options = RequestOptions(
            timeout=to_timeout(timeout),
            retry=policy,
            maton_connection=check_connection(connection),
        )
        configure_from_env()
        if http_client is not None and (transport is not None or http2):
            raise ClickFunnelsConfigError(
                "transport= and http2= configure the client's own connection pool; with http_client= "
                "configure that httpx.AsyncClient instead"
            )
        owns = http_client is None
        try:
            http = http_client or new_pool(
                timeout=options.timeout,
                http2=http2,
                transport=transport,
                connections=max_concurrency,
            )
        except ImportError as exc:  # http2=True without the h2 package
            raise ClickFunnelsConfigError(
                "http2=True needs the h2 package: pip install 'clickfunnels-async[http2]'"
            ) from exc
        self._shared = _Shared(
            http=http,
            owns_http=owns,
            throttle=Throttle(max_concurrency, requests_per_second, budget=rate_budget),
            hosts=hosts,
            token=secret,
            user_agent=ua,
            via_maton=via_maton,
        )
        redacting_filter.register(secret, owner=self._shared)
        self._options = options
        self._client = self

    # ------------------------------------------------------------------ lifecycle and options

    async def __aenter__(self) -> ClickFunnels:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (shared with every `with_options()` copy) unless you brought it."""
        shared = self._shared
        if shared.closed:
            return
        shared.closed = True
        if shared.owns_http:
            await shared.http.aclose()

    def __repr__(self) -> str:
        hosts = self._shared.hosts
        where = {
            "direct": f"subdomain={hosts.subdomain!r}",
            "base_url": f"base_url={str(hosts.base_url)!r}",
            "maton": f"maton connection={self._options.maton_connection!r}",
        }[hosts.mode]
        return f"<ClickFunnels {where}>"

    def with_options(
        self,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        maton_connection: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ClickFunnels:
        """A copy that uses other options for its calls, sharing this client's pool and pacing.

        The original is never changed, so tasks can each use their own copy at the same time.
        """
        changes: dict[str, Any] = {}
        if timeout is not None:
            changes["timeout"] = to_timeout(timeout)
        retry = retry_policy or self._options.retry
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
                raise ClickFunnelsConfigError(
                    f"max_retries must be an int >= 0, not {max_retries!r}"
                )
            retry = attrs.evolve(retry, max_retries=max_retries)
        changes["retry"] = retry
        if maton_connection is not None:
            if not self._shared.via_maton:
                raise ClickFunnelsConfigError(
                    "maton_connection applies to clients made with ClickFunnels.via_maton(...)"
                )
            changes["maton_connection"] = check_connection(maton_connection)
        if extra_headers is not None:
            changes["extra_headers"] = self._options.extra_headers + to_headers(extra_headers)
        clone = type(self).__new__(type(self))
        clone._shared = self._shared
        clone._options = attrs.evolve(self._options, **changes)
        clone._client = clone
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

    # ------------------------------------------------------------------ hosts

    async def _hosts_for(self, host_role: str) -> Hosts:
        shared = self._shared
        hosts = shared.hosts
        if host_role == "workspace" and hosts.mode == "direct" and hosts.subdomain is None:
            async with shared.discover_lock:
                if shared.hosts.subdomain is None:
                    shared.hosts = shared.hosts.with_subdomain(await self._discover_subdomain())
            hosts = shared.hosts
        return hosts

    async def _discover_subdomain(self) -> str:
        from ._operations import OPERATIONS

        found: list[tuple[Any, Any, Any]] = []
        teams = await self._paginate(OPERATIONS["listTeams"], {}).to_list()
        for team in teams:
            workspaces = await self._paginate(
                OPERATIONS["listWorkspaces"], {"team_id": team.id}
            ).to_list()
            found += [(w.id, w.name, w.subdomain) for w in workspaces]
        if len(found) == 1 and isinstance(found[0][2], str) and found[0][2]:
            return found[0][2]
        if not found:
            raise ClickFunnelsConfigError(
                "no subdomain given and this token reaches no workspace; pass subdomain='...'"
            )
        listing = "; ".join(f"id={i} name={n!r} subdomain={s!r}" for i, n, s in found)
        raise ClickFunnelsConfigError(
            f"no subdomain given and this token reaches {len(found)} workspaces; pick one with "
            f"subdomain='...': {listing}"
        )

    # ------------------------------------------------------------------ requests

    def _headers(self, has_body: bool, netloc: bytes) -> httpx.Headers:
        # Built once per client view and host: options never change after construction. httpx.Request copies
        # them, so the cached object is never changed.
        cache: dict[tuple[bool, bytes], httpx.Headers] | None = self.__dict__.get("_header_cache")
        if cache is None:
            cache = self.__dict__["_header_cache"] = {}
        headers = cache.get((has_body, netloc))
        if headers is None:
            headers = cache[has_body, netloc] = self._make_headers(has_body, netloc)
        return headers

    def _make_headers(self, has_body: bool, netloc: bytes) -> httpx.Headers:
        shared, options = self._shared, self._options
        # The pool's own defaults first (httpx's Accept-Encoding, or headers set on a client passed in),
        # then ours, then with_options(extra_headers=...): a later value of a name replaces an earlier one.
        headers = httpx.Headers(shared.http.headers)
        host = headers.pop("Host", None)
        headers["Authorization"] = f"Bearer {shared.token.get_secret_value()}"
        headers["User-Agent"] = shared.user_agent
        headers["Accept"] = "application/json"
        if has_body:
            headers["Content-Type"] = "application/json"
        if options.maton_connection is not None:
            headers["Maton-Connection"] = options.maton_connection
        for name, value in options.extra_headers:
            headers[name] = value
        # Host first, as httpx sends it (a client passed in may set its own); Content-Length per request.
        raw = [(k, v) for k, v in headers.raw if k.lower() != b"content-length"]
        return httpx.Headers([(b"Host", netloc if host is None else host.encode("ascii")), *raw])

    def _build(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]],
        content: bytes | None,
    ) -> httpx.Request:
        shared = self._shared
        if shared.closed:
            raise RuntimeError("this ClickFunnels client is closed; create a new one")
        # The request is put together here rather than by AsyncClient.build_request, which merges the
        # pool's URL, headers and cookies anew and parses the URL on every call: a third of a small call's
        # CPU. The headers are merged once per client view above; the parsed URLs of recent calls are
        # kept (httpx.URL is immutable); the query is encoded exactly as httpx encodes `params=`; the
        # pool's cookies are left out (the API authenticates by token). The wire format is the same.
        if params:
            url = f"{url}?{urlencode(params)}"
        urls = shared.urls
        parsed = urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(urls) >= _URL_CACHE_SIZE:
                urls.clear()
            urls[url] = parsed
        body = b"" if content is None else content
        extensions = self.__dict__.get("_extensions")
        if extensions is None:
            extensions = self.__dict__["_extensions"] = {"timeout": self._options.timeout.as_dict()}
        request = httpx.Request(
            method,
            parsed,
            headers=self._headers(content is not None, parsed.netloc),
            stream=httpx.ByteStream(body),
            extensions=extensions,  # httpx.Request copies it
        )
        if content is not None or method in ("POST", "PUT", "PATCH"):
            request.headers["Content-Length"] = str(len(body))
        request.read()  # so that request.content works, as for a request httpx built itself
        return request

    async def _send(
        self, operation: str, request: httpx.Request, idempotent: bool
    ) -> httpx.Response:
        started = time.monotonic()
        try:
            response, retries = await send(
                self._shared.http,
                request,
                policy=self._options.retry,
                idempotent=idempotent,
                throttle=self._shared.throttle,
            )
        except APIConnectionError as exc:
            scrub_request(request)  # the httpx cause and the traceback's frames hold this request
            add_connection_hint(exc, self._options.timeout, self._shared.hosts)
            raise
        elapsed = time.monotonic() - started
        log_response(response, elapsed=elapsed, retries=retries)
        log = _raw_log.get()
        if log is not None:
            log.append(
                RawResponse(
                    operation, response.status_code, response.headers, elapsed, retries, response
                )
            )
        if not 200 <= response.status_code < 300:
            error = error_from_response(response, via_maton=self._shared.via_maton, retries=retries)
            scrub_response(response)
            raise error
        return response

    def _query(
        self,
        op: Operation,
        query: Mapping[str, Any] | None,
        filter: FilterArg,
        expand: Sequence[str] | None,
    ) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if not query and filter is None and expand is None:
            return params
        for name, value in (query or {}).items():
            if value is None:
                continue
            if name == "sort_property" and op.sort_properties and value not in op.sort_properties:
                raise ValueError(
                    f"{op.qualname}(): sort_property={value!r} is not one of {', '.join(op.sort_properties)}"
                )
            if name == "sort_order" and value not in ("asc", "desc"):
                raise ValueError(f"{op.qualname}(): sort_order must be 'asc' or 'desc', not {value!r}")
            if isinstance(value, list | tuple):
                params.extend((name, query_text(name, v, op.qualname)) for v in value)
            else:
                params.append((name, query_text(name, value, op.qualname)))
        params.extend(render_filter(filter, op.filter_keys, op.qualname).items())
        params.extend(("expand[]", v) for v in render_expand(expand, op.expand, op.qualname))
        return params

    def _body(self, op: Operation, body: Any, fields: Mapping[str, Any] | None) -> bytes:
        data: dict[str, Any] = {}
        allowed = op.body_fields
        if body is not None and fields:
            raise TypeError(f"{op.qualname}(): pass either values= or keyword fields, not both")
        if body is not None:
            to_dict = getattr(body, "to_dict", None)
            if callable(to_dict):
                data = dict(to_dict())
            elif isinstance(body, Mapping):
                data = {k: v for k, v in body.items() if v is not None}
                unknown = [k for k in data if k not in allowed]
                if unknown and allowed:
                    raise TypeError(
                        f"{op.qualname}(): unknown field(s) {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(allowed)}"
                    )
            else:
                raise TypeError(
                    f"{op.qualname}(): values must be a model or a dict, not {type(body).__name__}"
                )
        elif fields:
            # No listed fields = an open body the spec does not describe yet: pass everything through.
            unknown = [k for k in fields if k not in allowed] if allowed else []
            if unknown:
                raise TypeError(
                    f"{op.qualname}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                    f"allowed: {', '.join(allowed) or 'none'}"
                )
            data = {k: v for k, v in fields.items() if v is not None}
        missing = [k for k in op.body_required if k not in data]
        if missing:
            raise TypeError(f"{op.qualname}() needs {', '.join(missing)}")
        payload = {op.body_key: data} if op.body_key else data
        return _json_dumps(payload, _jsonable)

    def _url(self, hosts: Hosts, op: Operation, path_args: Mapping[str, Any]) -> str:
        names = op.path_params
        unexpected = [name for name in path_args if name not in names]
        if unexpected:
            raise TypeError(f"{op.qualname}(): unexpected {', '.join(sorted(unexpected))}")
        values = {name: _path_value(op, name, path_args.get(name)) for name in names}
        return hosts.base_for(op.host) + op.path.format(**values)

    def _parse(self, op: Operation, response: httpx.Response) -> Any:
        if response.status_code == 204 or (op.response_model is None and not response.content):
            return None
        try:
            data = _json_loads(response.content)
        except ValueError as exc:
            raise ResponseParseError.from_response(response, "the body is not JSON") from exc
        if op.response_model is None:
            return data
        cls = _model(op.response_model)
        try:
            if op.response_is_list:
                if not isinstance(data, list):
                    raise TypeError(f"expected a JSON array, got {type(data).__name__}")
                return [cls.from_dict(item) for item in data]
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseParseError.from_response(
                response, f"does not match {cls.__name__}: {type(exc).__name__}: {exc}"
            ) from exc

    async def _call(
        self,
        op: Operation,
        path_args: Mapping[str, Any],
        *,
        query: Mapping[str, Any] | None = None,
        filter: FilterArg = None,
        expand: Sequence[str] | None = None,
        body: Any = None,
        fields: Mapping[str, Any] | None = None,
    ) -> Any:
        # Everything that can be wrong with the input is found before waiting on the network.
        params = self._query(op, query, filter, expand)
        content = self._body(op, body, fields) if op.has_body else None
        hosts = await self._hosts_for(op.host)
        request = self._build(op.method, self._url(hosts, op, path_args), params, content)
        response = await self._send(op.qualname, request, op.idempotent)
        return self._parse(op, response)

    def _paginate(
        self,
        op: Operation,
        path_args: Mapping[str, Any],
        *,
        query: Mapping[str, Any] | None = None,
        filter: FilterArg = None,
        expand: Sequence[str] | None = None,
        limit: int | None = None,
        prefetch: bool = False,
    ) -> AsyncPaginator[Any]:
        query = dict(query or {})
        after = query.pop("after", None)
        params = self._query(op, query, filter, expand)
        for name in op.path_params:
            _path_value(op, name, path_args.get(name))

        async def fetch(cursor: str | None) -> Page[Any]:
            hosts = await self._hosts_for(op.host)
            page_params = [*params, ("after", cursor)] if cursor is not None else params
            request = self._build(op.method, self._url(hosts, op, path_args), page_params, None)
            response = await self._send(op.qualname, request, op.idempotent)
            items = self._parse(op, response)
            if items is None:
                items = []
            if not isinstance(items, list):
                raise ResponseParseError.from_response(
                    response, "a list call did not return a JSON array"
                )
            return Page(
                items=items, next_cursor=response.headers.get("Pagination-Next"), response=response
            )

        return AsyncPaginator(
            fetch, operation=op.qualname, after=after, limit=limit, prefetch=prefetch
        )

    # ------------------------------------------------------------------ escape hatch

    def _raw_path(self, path: str) -> str:
        return check_api_path(path)

    def _host_role_for(self, method: str, path: str) -> str:
        for pattern, host in _host_index().get((method, path.count("/")), ()):
            if pattern.fullmatch(path):
                return host
        return "workspace"

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
        method = method.upper()
        path = self._raw_path(path)
        role = host or self._host_role_for(method, path)
        hosts = await self._hosts_for(role)
        items = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        query = [(k, query_text(k, v, f"request({method} {path})")) for k, v in items if v is not None]
        content = None if json is None else _json_bytes(json)
        request = self._build(method, hosts.base_for(role) + path, query, content)
        response = await self._send(f"{method} {path}", request, method != "POST")
        if not response.content:
            return None
        try:
            return _json_loads(response.content)
        except ValueError as exc:
            raise ResponseParseError.from_response(response, "the body is not JSON") from exc

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
        path = self._raw_path(path)
        base = dict(params or {})
        after = base.pop("after", None)

        role = host or self._host_role_for("GET", path)
        base_query = [(k, query_text(k, v, f"paginate({path})")) for k, v in base.items() if v is not None]

        async def fetch(cursor: str | None) -> Page[Any]:
            hosts = await self._hosts_for(role)
            query = [*base_query, ("after", cursor)] if cursor is not None else base_query
            request = self._build("GET", hosts.base_for(role) + path, query, None)
            response = await self._send(f"GET {path}", request, True)
            try:
                items = _json_loads(response.content)
            except ValueError as exc:
                raise ResponseParseError.from_response(response, "the body is not JSON") from exc
            if not isinstance(items, list):
                raise ResponseParseError.from_response(
                    response, "a list call did not return a JSON array"
                )
            return Page(
                items=items, next_cursor=response.headers.get("Pagination-Next"), response=response
            )

        return AsyncPaginator(
            fetch, operation=f"GET {path}", after=after, limit=limit, prefetch=prefetch
        )


_host_index_cache: dict[tuple[str, int], list[tuple[re.Pattern[str], str]]] = {}


def _host_index() -> dict[tuple[str, int], list[tuple[re.Pattern[str], str]]]:
    """Path templates of the spec by (method, depth), built once, to find the host of a raw path."""
    if not _host_index_cache:
        from ._operations import OPERATIONS

        for op in OPERATIONS.values():
            pattern = re.compile(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(op.path)))
            _host_index_cache.setdefault((op.method, op.path.count("/")), []).append(
                (pattern, op.host)
            )
    return _host_index_cache


def _json_bytes(value: Any) -> bytes:
    return _json_dumps(value, _jsonable)

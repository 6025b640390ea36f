"""The core every namespace calls: shared state, `_call`, `_paginate`, subdomain discovery.

Every generated namespace method ends in `_call` or `_paginate` with its row of the operation table. Those
build the request from the row (host, path, filter, body wrapper), send it through `_transport` (slots,
pacing, retries), turn any non-2xx into a typed error before parsing, and build the model. `ClickFunnels`
(`_client.py`) owns one `Core` per options view; the namespaces see it only as an `OperationCaller`.
"""

from __future__ import annotations

import contextvars
import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

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
from ._hosts import Hosts, check_api_path, host_role_for
from ._json import dumps as _json_dumps
from ._json import loads as _json_loads
from ._json import to_jsonable
from ._log import Secret, log_response, scrub_request, scrub_response
from ._operation_row import WORKSPACE_PARAM, Operation
from ._options import FIND_WORKSPACE_IDS, WORKSPACE_ENV, RequestOptions
from ._pagination import AsyncPaginator, Page
from ._requests import RequestFactory
from ._throttle import Throttle
from ._transport import send

_MODELS_PACKAGE = "clickfunnels_async._generated.models"
_model_cache: dict[str, Any] = {}


def _model(ref: str) -> Any:
    cls = _model_cache.get(ref)
    if cls is None:
        module, name = ref.split(":")
        cls = getattr(importlib.import_module(f"{_MODELS_PACKAGE}.{module}"), name)
        _model_cache[ref] = cls
    return cls


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
    # made on first use (in a call): anyio's synchronisation primitives are not loaded with the package
    discover_lock: anyio.Lock = attrs.field(factory=lambda: anyio.Lock())
    # The one workspace the subdomain discovery found: the default workspace_id when no view sets one.
    discovered_workspace_id: int | None = None
    closed: bool = False
    urls: dict[str, tuple[httpx.URL, bytes]] = attrs.field(factory=dict)  # see RequestFactory
    # Told of every retry `send` decides on (`ClickFunnels._watch_retries`; the CLI counts them).
    on_retry: Callable[[], object] | None = None


class Core:
    """One options view of a client: the shared state plus this view's `RequestOptions`."""

    __slots__ = ("_build", "_options", "_shared")

    def __init__(self, shared: _Shared, options: RequestOptions) -> None:
        self._shared = shared
        self._options = options
        self._build = RequestFactory(shared, options).build

    # ------------------------------------------------------------------ hosts

    async def _hosts_for(self, host_role: str) -> Hosts:
        shared = self._shared
        hosts = shared.hosts
        if host_role == "workspace" and hosts.discovers:
            async with shared.discover_lock:
                if shared.hosts.subdomain is None:
                    shared.hosts = shared.hosts.with_subdomain(await self._discover_subdomain())
            hosts = shared.hosts
        return hosts

    async def workspaces_seen(self) -> list[tuple[Any, Any, Any]]:
        """(id, name, subdomain) of every workspace this token reaches, team by team (accounts host)."""
        from ._generated.operation_table import OPERATIONS

        found: list[tuple[Any, Any, Any]] = []
        teams = await self._paginate(OPERATIONS["listTeams"], {}).to_list()
        for team in teams:
            workspaces = await self._paginate(
                OPERATIONS["listWorkspaces"], {"team_id": team.id}
            ).to_list()
            found += [(w.id, w.name, w.subdomain) for w in workspaces]
        return found

    async def _discover_subdomain(self) -> str:
        found = await self.workspaces_seen()
        if len(found) == 1 and isinstance(found[0][2], str) and found[0][2]:
            if type(found[0][0]) is int:
                self._shared.discovered_workspace_id = found[0][0]
            return found[0][2]
        if not found:
            raise ClickFunnelsConfigError(
                "no subdomain given and this token reaches no workspace; pass subdomain='...'"
            )
        listing = "; ".join(f"id={i} name={n!r} subdomain={s!r}" for i, n, s in found)
        raise ClickFunnelsConfigError(
            f"no subdomain given and this token reaches {len(found)} workspaces; pick one with "
            f"subdomain='...' (and workspace_id=... as the default for its calls): {listing}"
        )

    def _discovery_pending(self) -> bool:
        return self._shared.hosts.discovers

    def default_workspace_id(self) -> int | None:
        """The view's workspace_id option, else the one workspace the subdomain discovery found."""
        return self._options.workspace_id or self._shared.discovered_workspace_id

    def _with_workspace(self, op: Operation, path_args: Mapping[str, Any]) -> Mapping[str, Any]:
        """*path_args* with the default workspace_id filled in where the call left it out."""
        if WORKSPACE_PARAM not in op.path_params or path_args.get(WORKSPACE_PARAM) is not None:
            return path_args
        default = self.default_workspace_id()
        if default is None:
            raise TypeError(
                f"{op.qualname}() needs workspace_id: pass it (cf.{op.qualname}(42, ...)) or give the client "
                f"a default with ClickFunnels(workspace_id=42) or {WORKSPACE_ENV}=42; {FIND_WORKSPACE_IDS}"
            )
        return {**path_args, WORKSPACE_PARAM: default}

    # ------------------------------------------------------------------ requests

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
                on_retry=self._shared.on_retry,
            )
        except APIConnectionError as exc:
            from ._hints import add_connection_hint  # errors only: not loaded with the package

            add_connection_hint(exc, self._options.timeout, self._shared.hosts)
            scrub_request(request)  # the httpx cause and the traceback's frames hold this request
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
                raise ValueError(
                    f"{op.qualname}(): sort_order must be 'asc' or 'desc', not {value!r}"
                )
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
            expected = _model(op.body_model) if op.body_model else None
            if callable(to_dict) and expected is not None and not isinstance(body, expected):
                raise TypeError(
                    f"{op.qualname}(): values= takes a {expected.__name__} or a dict of its fields, "
                    f"not a {type(body).__name__}"
                )
            if callable(to_dict):
                data = dict(to_dict())
            elif isinstance(body, Mapping):
                data = dict(body)
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
            data = dict(fields)
        missing = [k for k in op.body_required if k not in data]
        if missing:
            raise TypeError(
                f"{op.qualname}() is missing the required body field(s) {', '.join(missing)}"
            )
        # An omitted field is not sent; None is sent as null, where the spec allows null for that field
        # (nested bodies included), else refused here.
        if op.body_model is not None:
            _model(op.body_model)._cf_check_nulls(data, f"{op.qualname}(): ")
        payload = {op.body_key: data} if op.body_key else data
        return _json_dumps(payload, to_jsonable)

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
        hosts = self._shared.hosts
        if hosts.discovers:
            hosts = await self._hosts_for(op.host)
        path_args = self._with_workspace(op, path_args)
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
        # The default workspace is known now unless the first page's subdomain discovery finds it.
        lazy = self._discovery_pending() and op.host == "workspace"
        if not lazy:
            path_args = self._with_workspace(op, path_args)
        for name in op.path_params:
            value = path_args.get(name)
            if not (lazy and name == WORKSPACE_PARAM and value is None):
                _path_value(op, name, value)

        async def fetch(cursor: str | None) -> Page[Any]:
            hosts = await self._hosts_for(op.host)
            args = self._with_workspace(op, path_args)
            page_params = [*params, ("after", cursor)] if cursor is not None else params
            request = self._build(op.method, self._url(hosts, op, args), page_params, None)
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
        role = host or host_role_for(method, path)
        hosts = self._shared.hosts
        if hosts.discovers:
            hosts = await self._hosts_for(role)
        if params is None:
            items = []
        elif isinstance(params, Mapping):
            items = list(params.items())
        else:
            items = list(params)
        query = [
            (k, query_text(k, v, f"request({method} {path})")) for k, v in items if v is not None
        ]
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

        role = host or host_role_for("GET", path)
        base_query = [
            (k, query_text(k, v, f"paginate({path})")) for k, v in base.items() if v is not None
        ]

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


def _json_bytes(value: Any) -> bytes:
    return _json_dumps(value, to_jsonable)

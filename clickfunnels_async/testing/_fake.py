"""`FakeClickFunnels`: a stateful, in-memory ClickFunnels 2.0 API, driven by the operation table.

How a request is served:

1. ``/oauth/*`` (authorize + token) is answered first, without an API token.
2. Security filter: no ``User-Agent`` -> 403; no or unknown bearer token -> 401.
3. Rate limit (sliding one-second window per token) -> 429.
4. Latency (+ jitter), then an injected error (500, 502 with an HTML body, 503) — *before* any write.
5. The route is found in the operation table; none -> 404 ``{"error": "No such route"}`` (so a workspace
   prefix on a member route is a 404, as on the real API).
6. The operation is served generically by its kind (list / get / create / update / delete) or by a small
   action handler (upsert, gdpr_destroy, archive, unarchive, cancel, publish); operations outside the
   emulated namespaces answer 501.
7. A dropped connection (``drop_rate``) is decided before the handler runs; half of the drops happen
   *after* the write was applied — the server did it, the client never heard — like a real network.

Responses are shaped by the spec's response schema (see `_schema.py`); webhooks fire for the writes and are
delivered in the background, signed like ClickFunnels signs them.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import inspect
import json
import random
import secrets
import time
import uuid
from base64 import urlsafe_b64encode
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode

import anyio
import anyio.abc
import attrs

from clickfunnels_async import _json
from clickfunnels_async._operation import Operation
from clickfunnels_async.testing._resources import (
    ACTION_EVENTS,
    EMULATED,
    REFERENCES,
    REQUIRED,
    STORE_ALIASES,
    UNIQUE,
    event_subject,
    subject_type,
)
from clickfunnels_async.testing._schema import OMIT, Router, Shape, SpecIndex, _plain, load_spec
from clickfunnels_async.testing._store import Record, Store, make_public_id, walk

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx

    from clickfunnels_async import ClickFunnels

__all__ = [
    "DEFAULT_TEAM_ID",
    "DEFAULT_WORKSPACE_ID",
    "FakeClickFunnels",
    "Faults",
    "Reply",
    "WebhookDelivery",
]

DEFAULT_TEAM_ID: Final = 1
DEFAULT_WORKSPACE_ID: Final = 42
DEFAULT_SUBDOMAIN: Final = "acme"
DEFAULT_BASE_URL: Final = "https://fake.myclickfunnels.test"
PAGE_SIZE: Final = 20
SIGNATURE_HEADER: Final = "X-Webhook-ClickFunnels-Signature"
TIMESTAMP_HEADER: Final = "X-Webhook-ClickFunnels-Timestamp"

_JSON = "application/json; charset=utf-8"
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_GENERIC_KINDS = ("list", "get", "create", "update", "delete")
_ACTIONS = ("upsert", "gdpr_destroy", "archive", "unarchive", "cancel", "publish")
_SEED_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Guido", "Ken",
                "Dennis", "Frances", "Radia", "Tim", "Katherine", "John", "Niklaus", "Hedy", "Leslie", "Anita")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Rossum",
               "Thompson", "Ritchie", "Allen", "Perlman", "Berners-Lee", "Johnson", "McCarthy", "Wirth",
               "Lamarr", "Lamport", "Borg")
_COLORS = ("#e11d48", "#2563eb", "#16a34a", "#f59e0b", "#7c3aed", "#0891b2", "#64748b")


def _is_loopback_url(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_clock: list[Any] = [-1, ""]  # [whole second, its "YYYY-MM-DDTHH:MM:SS" text]


async def _sleep(seconds: float) -> None:
    # anyio.sleep looks the backend up on every call; on asyncio, where most test suites run, go direct.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        await anyio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


def _now() -> str:
    """What `_iso(datetime.now(UTC))` gives, without building a datetime per request."""
    now = time.time()
    second = int(now)
    if second != _clock[0]:
        _clock[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _clock[0] = second
    return f"{_clock[1]}.{int((now - second) * 1000):03d}Z"


def _json_bytes(value: Any) -> bytes:
    return _json.dumps(value)


# ---------------------------------------------------------------------------------------------- values


@attrs.define(slots=True)
class Reply:
    """What the fake answers: status, JSON-able body (or raw bytes) and extra headers."""

    status: int
    body: Any = None
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    raw: bytes | None = None
    content_type: str = _JSON

    def content(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.status == 204 or self.body is None:
            return b""
        return _json_bytes(self.body)

    def header_list(self) -> list[tuple[str, str]]:
        out = list(self.headers)
        if self.status != 204 and (self.raw is not None or self.body is not None):
            out.append(("content-type", self.content_type))
        return out


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def _invalid(errors: dict[str, list[str]]) -> Reply:
    """422 with a sentence under ``error`` and the Rails-style field hash under ``errors``.

    ClickFunnels answers validation failures in both spellings; carrying both keeps every client happy
    (ClickFunnels' own CLI reads ``error`` then ``errors``; this SDK fills ``.errors`` from either).
    """
    sentences = [msg if field == "base" else f"{field.replace('_', ' ').capitalize()} {msg}"
                 for field, msgs in errors.items() for msg in msgs]
    return Reply(422, {"error": "; ".join(sentences), "errors": errors})


_NOT_FOUND = "Not found: Record missing"

# REFERENCES per owning namespace, in the same order (validation runs on every write).
_REFERENCES_OF: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    owner: tuple((name, target) for (o, name), target in REFERENCES.items() if o == owner)
    for owner, _ in REFERENCES
}


class Dropped(Exception):
    """The connection is to be cut without a (complete) response. `applied` says if the write happened."""

    def __init__(self, applied: bool) -> None:
        super().__init__("connection dropped by the fault injector")
        self.applied = applied


@attrs.define(slots=True)
class Faults:
    """The fault knobs. All rates are probabilities per request, drawn from the fake's seeded RNG."""

    latency: float = 0.0  # seconds added to every API request
    jitter: float = 0.0  # +/- uniformly around latency
    error_rate: float = 0.0  # share of requests answered with one of error_statuses (before any write)
    error_statuses: tuple[int, ...] = (500, 502, 503)
    drop_rate: float = 0.0  # share of requests whose connection is cut (half of them after the write)
    rate_limit: int | None = None  # requests per second per token; beyond -> 429

    def check(self) -> None:
        for name in ("latency", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("error_rate", "drop_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.error_rate and not self.error_statuses:
            raise ValueError("error_rate needs at least one status in error_statuses")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")


class _Keep:
    """Marks an argument that was left out (None has a meaning of its own)."""

    __slots__ = ()


_KEEP: Final = _Keep()


class _FaultsChange:
    """Returned by `FakeClickFunnels.faults()`: already applied; as a context manager, undone on exit."""

    def __init__(self, fake: FakeClickFunnels, previous: Faults) -> None:
        self._fake = fake
        self._previous = previous

    def __enter__(self) -> Faults:
        return self._fake._faults

    def __exit__(self, *exc: object) -> None:
        self._fake._faults = self._previous


@attrs.define(slots=True, eq=False)
class WebhookDelivery:
    """One signed delivery of one event to one endpoint (or callback), as the fake sent it."""

    event_id: str
    event_type: str
    workspace_id: int | None
    endpoint_id: int | None  # None for `on_webhook` callbacks
    url: str | None  # None for callbacks
    body: bytes
    headers: dict[str, str]
    secret: str = attrs.field(repr=False)
    status_code: int | None = None  # the receiver's answer (200 for a callback that returned)
    error: str | None = None  # transport error or callback exception

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


WebhookCallback = Callable[[WebhookDelivery], Awaitable[object] | object]


@attrs.define(slots=True, eq=False)
class _Listener:
    callback: WebhookCallback
    event_types: frozenset[str] | None
    secret: str


@attrs.define(slots=True)
class _Pending:
    delivery: WebhookDelivery
    listener: _Listener | None


@attrs.define(slots=True)
class _OpInfo:
    op: Operation
    kind: str | None  # list/get/create/update/delete/me/action; None = not emulated
    store: str
    parent_param: str | None
    parent_store: str | None
    shape: Shape | None
    body_fields: frozenset[str] = frozenset()


# ---------------------------------------------------------------------------------------------- the fake


class FakeClickFunnels:
    """A local, stateful ClickFunnels 2.0 API: in-process (`client()`), over a socket (`serve()`), or as an
    ASGI app (`asgi_app()`).

    ```
    async with FakeClickFunnels(seed=1) as fake:
        ws = fake.seed(contacts=100)
        async with fake.client() as cf:
            contacts = await cf.contacts.list(workspace_id=ws).to_list()
    ```

    One team (id 1) and one workspace (id 42, subdomain ``acme``) exist from the start. `token` is accepted
    as a bearer token; so is any other non-empty token unless `tokens=` restricts them.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        error_rate: float = 0.0,
        error_statuses: Iterable[int] = (500, 502, 503),
        drop_rate: float = 0.0,
        rate_limit: int | None = None,
        tokens: Iterable[str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        operations: Mapping[str, Operation] | None = None,
        spec: Mapping[str, Any] | None = None,
        emulate: Iterable[str] | None = None,
    ) -> None:
        if operations is None:
            from clickfunnels_async._operations import OPERATIONS

            operations = OPERATIONS
        self._faults = Faults(latency, jitter, error_rate, tuple(error_statuses), drop_rate, rate_limit)
        self._faults.check()
        self._seed_value = seed
        self._rng = random.Random(f"faults:{seed}")
        self._data_rng = random.Random(f"data:{seed}")
        self._salt = f"cf-fake-{seed}"
        self._seed_clock = _SEED_EPOCH
        self._tokens: set[str] | None = set(tokens) if tokens is not None else None
        self.token: str = next(iter(sorted(self._tokens))) if self._tokens else f"cf_fake_{seed}_token"
        self.base_url = base_url.rstrip("/")
        self.webhook_http_client = http_client
        self._own_http: httpx.AsyncClient | None = None
        self.operations: dict[str, Operation] = dict(operations)
        self.spec = SpecIndex(spec if spec is not None else load_spec())
        self._emulated = frozenset(emulate) if emulate is not None else EMULATED
        self._router = Router(self.operations.values())
        self._stores: dict[str, Store] = {}
        self._info: dict[str, _OpInfo] = {}
        self._get_ops: dict[str, Operation] = {}
        self._build_info()

        self._windows: dict[str, deque[float]] = {}
        self.calls: Counter[str] = Counter()  # operation id (or "oauth", "unrouted") -> requests served
        self.request_count = 0
        self.deliveries: list[WebhookDelivery] = []
        self._listeners: list[_Listener] = []
        self._queue: deque[_Pending] = deque()
        self._pumping = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._clients: list[httpx.AsyncClient | ClickFunnels] = []
        self._oauth_codes: dict[str, dict[str, Any]] = {}
        self._observers: list[Callable[[Operation, Reply], object]] = []
        self.webhook_secret_default = "whsec_fake_" + hashlib.sha256(self._salt.encode()).hexdigest()[:24]
        self._bootstrap()

    # ------------------------------------------------------------------ setup

    def _store(self, name: str) -> Store:
        store = self._stores.get(name)  # aliases are never keys, so a hit is the right store
        if store is None:
            name = STORE_ALIASES.get(name, name)
            store = self._stores.get(name)
            if store is None:
                store = self._stores[name] = Store(name)
        return store

    def _build_info(self) -> None:
        member_ns: dict[str, str] = {}
        for op in self.operations.values():
            if op.method == "GET" and op.path.endswith("/{id}"):
                member_ns[op.path] = op.namespace
                self._get_ops.setdefault(STORE_ALIASES.get(op.namespace, op.namespace), op)
        namespaces = {STORE_ALIASES.get(op.namespace, op.namespace) for op in self.operations.values()}
        for op in self.operations.values():
            kind = self._kind(op)
            parent_param = next((p for p in reversed(op.path_params) if p != "id"), None)
            parent_store = None
            if parent_param is not None:
                parent_store = self._parent_namespace(op, parent_param, member_ns, namespaces)
            self._info[op.id] = _OpInfo(
                op, kind, STORE_ALIASES.get(op.namespace, op.namespace), parent_param, parent_store, None,
                frozenset(op.body_fields),
            )

    def _kind(self, op: Operation) -> str | None:
        if op.namespace not in self._emulated:
            return None
        verb = op.verb
        if verb in _GENERIC_KINDS:
            return verb
        if op.method == "GET" and (op.response_is_list or verb.startswith("list_")):
            return "list"
        if op.method == "POST" and verb.startswith("create_"):
            return "create"
        if op.method == "GET" and not op.path_params and op.namespace == "users":
            return "me"
        if verb in _ACTIONS:
            return "action"
        return None

    @staticmethod
    def _parent_namespace(op: Operation, param: str, member_ns: Mapping[str, str], namespaces: set[str]) -> str:
        marker = "{" + param + "}"
        prefix = op.path[: op.path.index(marker)] + "{id}"
        found = member_ns.get(prefix)
        if found is not None:
            return STORE_ALIASES.get(found, found)
        # No member route in the table: guess from the parameter name and the path before it.
        base = param[:-3] if param.endswith("_id") else param
        candidates = {base + "s", base + "es", base[:-1] + "ies" if base.endswith("y") else base + "s"}
        before = [s for s in op.path[: op.path.index(marker)].strip("/").split("/") if not s.startswith("{")]
        best: str | None = None
        for ns in sorted(namespaces):
            parts = ns.split(".")
            if parts[-1] in candidates and (best is None or parts[0] in before):
                best = ns
        return best or base + "s"

    def _shape(self, info: _OpInfo) -> Shape | None:
        if info.shape is None:
            info.shape = self.spec.item_shape(info.op)
        return info.shape

    def _bootstrap(self) -> None:
        now = _iso(_SEED_EPOCH)
        team = self._make("teams", {"name": "Acme Team", "locale": "en",
                                    "time_zone": "Pacific Time (US & Canada)"}, {}, now, rid=DEFAULT_TEAM_ID)
        self._store("teams").insert(team)
        ws = self._make("workspaces", {"name": "Acme", "subdomain": DEFAULT_SUBDOMAIN},
                        {"team_id": DEFAULT_TEAM_ID}, now, rid=DEFAULT_WORKSPACE_ID)
        self._store("workspaces").insert(ws)
        user = self._make("users", {"email": "api-client@acme.test", "first_name": "Default",
                                    "last_name": "API Client", "locale": "en",
                                    "time_zone": "Pacific Time (US & Canada)"}, {"team_id": DEFAULT_TEAM_ID},
                          now, rid=1)
        self._store("users").insert(user)

    def _make(
        self, ns: str, fields: Mapping[str, Any], anc: Mapping[str, int], now: str, rid: int | None = None
    ) -> Record:
        store = self._store(ns)
        if rid is None:
            rid = store.allocate()
        rec: Record = dict(fields)
        rec.update(anc)
        rec["id"] = rid
        rec["public_id"] = make_public_id(store.name, rid, self._salt)
        rec["created_at"] = now
        rec["updated_at"] = now
        rec["_ns"] = store.name
        rec["_anc"] = dict(anc)
        return rec

    # ------------------------------------------------------------------ public API

    @property
    def team_id(self) -> int:
        return DEFAULT_TEAM_ID

    @property
    def workspace_id(self) -> int:
        return DEFAULT_WORKSPACE_ID

    def store(self, namespace: str) -> Store:
        """The record store of a namespace (``"contacts"``), for assertions in tests."""
        return self._store(namespace)

    def records(self, namespace: str) -> list[dict[str, Any]]:
        """Every record of a namespace as the API would show it (plain JSON), in id order."""
        store = self._store(namespace)
        return [self.render(store.by_id[i]) for i in store.ids]

    def faults(
        self,
        *,
        latency: float | None = None,
        jitter: float | None = None,
        error_rate: float | None = None,
        error_statuses: Iterable[int] | None = None,
        drop_rate: float | None = None,
        rate_limit: int | _Keep | None = _KEEP,
    ) -> _FaultsChange:
        """Change fault knobs now; use as ``with fake.faults(error_rate=1): ...`` to undo them on exit.

        `rate_limit=None` turns rate limiting off (leaving the argument out keeps the current limit).
        """
        previous = attrs.evolve(self._faults)
        changes: dict[str, Any] = {}
        for name, value in (("latency", latency), ("jitter", jitter), ("error_rate", error_rate),
                            ("drop_rate", drop_rate)):
            if value is not None:
                changes[name] = float(value)
        if error_statuses is not None:
            changes["error_statuses"] = tuple(error_statuses)
        if not isinstance(rate_limit, _Keep):
            changes["rate_limit"] = rate_limit
        updated = attrs.evolve(self._faults, **changes)
        updated.check()
        self._faults = updated
        if "rate_limit" in changes:
            self._windows.clear()
        return _FaultsChange(self, previous)

    @property
    def current_faults(self) -> Faults:
        return attrs.evolve(self._faults)

    def observe(self, callback: Callable[[Operation, Reply], object]) -> None:
        """Call `callback(operation, reply)` after every routed API request (tests validate replies)."""
        self._observers.append(callback)

    def add_token(self, token: str) -> None:
        """Accept one more bearer token (only matters when `tokens=` restricted them)."""
        if self._tokens is not None:
            self._tokens.add(token)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeClickFunnels:
        self._group_cm = self._run_group()
        await self._group_cm.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            with anyio.move_on_after(10):
                await self.drain_webhooks()
        finally:
            await self._group_cm.__aexit__(None, None, None)
            await self.aclose()

    @asynccontextmanager
    async def _run_group(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            owner = self._task_group is None
            if owner:
                self._task_group = group
                if self._queue and not self._pumping:
                    self._kick()
            try:
                yield
            finally:
                if owner:
                    self._task_group = None
                group.cancel_scope.cancel()

    async def aclose(self) -> None:
        """Close the HTTP clients the fake made (its `client()`s and the webhook sender)."""
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()
        if self._own_http is not None:
            own, self._own_http = self._own_http, None
            await own.aclose()

    # ------------------------------------------------------------------ ways in

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that serves requests in-process (no sockets, no ASGI round trip)."""
        from clickfunnels_async.testing._app import FakeTransport

        return FakeTransport(self)

    def http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A raw `httpx.AsyncClient` wired to the fake (closed with the fake), for requests the SDK
        would refuse to send."""
        import httpx

        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": "clickfunnels-fake-tests"}
        headers.update(kwargs.pop("headers", {}))
        client = httpx.AsyncClient(transport=self.transport(), base_url=self.base_url, headers=headers, **kwargs)
        self._clients.append(client)
        return client

    def client(self, **kwargs: Any) -> ClickFunnels:
        """A `ClickFunnels` client wired to this fake in-process. Keyword arguments go to `ClickFunnels`
        (`max_retries`, `retry_policy`, `max_concurrency`, `api_token`, ...)."""
        from clickfunnels_async import ClickFunnels

        kwargs.setdefault("api_token", self.token)
        kwargs.setdefault("base_url", self.base_url)
        client = ClickFunnels(transport=self.transport(), **kwargs)
        self._clients.append(client)
        return client

    def asgi_app(self) -> Any:
        """The fake as a Starlette ASGI application (for uvicorn or `httpx.ASGITransport`)."""
        from clickfunnels_async.testing._app import build_asgi_app

        return build_asgi_app(self)

    def serve(self, *, port: int = 0, log_level: str = "warning") -> Any:
        """``async with fake.serve() as url:`` — uvicorn on 127.0.0.1 (a free port unless `port` is given),
        in this event loop (asyncio); stopped when the block ends."""
        from clickfunnels_async.testing._app import serve

        return serve(self, port=port, log_level=log_level)

    # ------------------------------------------------------------------ the request path

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        origin: str | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Serve one request. Raises `Dropped` when the fault injector cuts the connection, and
        `TimeoutError` (after `timeout` seconds) when the latency knob makes the answer later than `timeout`."""
        self.request_count += 1
        method = method.upper()
        if path.startswith("/oauth/"):
            self.calls["oauth"] += 1
            return self._oauth(method, path, query, headers, body)
        ua = headers.get("user-agent")
        if not ua or not ua.strip():
            return _error(403, "Forbidden: requests need a User-Agent header")
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or (self._tokens is not None and token not in self._tokens):
            return _error(401, "API key missing or invalid")
        faults = self._faults
        if faults.rate_limit is not None and self._rate_limited(token, faults.rate_limit):
            return _error(429, "Too many requests")
        if faults.latency or faults.jitter:
            delay = faults.latency + (self._rng.uniform(-faults.jitter, faults.jitter) if faults.jitter else 0.0)
            if delay > 0:
                if timeout is not None and delay > timeout:
                    # The client gives up first (nothing else in here waits, so this is the whole deadline).
                    await _sleep(max(timeout, 0.0))
                    raise TimeoutError
                await _sleep(delay)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            return self._injected_error(self._rng.choice(faults.error_statuses))
        drop_after: bool | None = None
        if faults.drop_rate and self._rng.random() < faults.drop_rate:
            drop_after = self._rng.random() < 0.5
            if not drop_after:
                raise Dropped(applied=False)

        found = self._router.find(method, path)
        if found is None and method in ("PUT", "PATCH"):
            # Rails routes both verbs to update; the spec lists only one of them per route.
            found = self._router.find("PATCH" if method == "PUT" else "PUT", path)
        if found is None:
            self.calls["unrouted"] += 1
            reply = _error(404, "No such route")
        else:
            op, params = found
            self.calls[op.id] += 1
            reply = self._dispatch(op, params, query, body, origin or self.base_url, path)
            for observer in self._observers:
                observer(op, reply)
        if drop_after:
            raise Dropped(applied=True)
        return reply

    def _rate_limited(self, token: str, limit: int) -> bool:
        now = time.monotonic()
        window = self._windows.get(token)
        if window is None:
            window = self._windows[token] = deque()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    @staticmethod
    def _injected_error(status: int) -> Reply:
        if status == 502:
            return Reply(502, raw=_HTML_502.encode(), content_type="text/html; charset=utf-8")
        messages = {500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
        return _error(status, messages.get(status, "Injected failure"))

    def _dispatch(self, op: Operation, params: dict[str, str], query: str, body: bytes, origin: str,
                  path: str) -> Reply:
        info = self._info[op.id]
        kind = info.kind
        if kind is None:
            return _error(501, f"{op.qualname} ({op.method} {op.path}) is not emulated yet")
        pairs = parse_qsl(query, keep_blank_values=True) if query else []
        if kind == "list":
            return self._list(info, params, pairs, origin, path)
        if kind == "get":
            rec = self._store(info.store).get(params.get("id", ""))
            if rec is None:
                return _error(404, _NOT_FOUND)
            return Reply(200, self._render_with(info, rec))
        if kind == "me":
            return Reply(200, self._render_with(info, self._me_view()))
        payload = self._payload(info, kind, body)
        if isinstance(payload, Reply):
            return payload
        if kind == "create":
            return self._create(info, params, payload)
        if kind == "update":
            return self._update(info, params, payload)
        if kind == "delete":
            return self._delete(info, params)
        return self._action(info, params, payload)

    def _payload(self, info: _OpInfo, kind: str, body: bytes) -> dict[str, Any] | Reply:
        op = info.op
        if not op.has_body:
            return {}
        data: Any = {}
        if body and not body.isspace():
            try:
                data = _json.loads(body)
            except ValueError:
                return _error(400, "There was a problem in the JSON you submitted")
        strict = kind in ("create", "update") or op.verb == "upsert"
        # An empty wrapper object ({"contact": {}}) gets past the wrapper check and fails validation (422).
        if op.body_key:
            inner = data.get(op.body_key) if isinstance(data, dict) else None
            if not isinstance(inner, dict):
                if not strict and not data:
                    return {}  # the wrapper is optional where the body is
                return _error(400, f"param is missing or the value is empty: {op.body_key}")
            data = inner
        elif not isinstance(data, dict):
            return _error(400, "the request body must be a JSON object")
        if op.body_fields:
            allowed = info.body_fields
            return {k: v for k, v in data.items() if k in allowed}
        return dict(data)

    # ------------------------------------------------------------------ rendering

    def render(self, rec: Record) -> Any:
        """A record as its namespace's `get` operation shows it (plain JSON)."""
        op = self._get_ops.get(rec["_ns"])
        if op is None:
            return _plain(self._view(rec))
        return self._render_with(self._info[op.id], rec)

    def _render_with(self, info: _OpInfo, rec: Record) -> Any:
        view = self._view(rec)
        shape = self._shape(info)
        if shape is None:
            return _plain(view)
        out = shape(view)
        return _plain(view) if out is OMIT else out

    def _view(self, rec: Record) -> Record:
        """The record plus the fields that are computed from other records (a contact's tags, ...)."""
        ns = rec.get("_ns")
        if ns == "contacts":
            tags = self._store("contacts.tags")
            applied = rec.get("_applied") or {}
            shown = []
            for tag_id in rec.get("tag_ids") or ():
                tag = tags.by_id.get(tag_id)
                if tag is not None:
                    shown.append({**tag, "applied_at": applied.get(tag_id, rec["updated_at"])})
            return {**rec, "tags": shown}
        if ns == "contacts.applied_tags":
            return {**rec, "contact": self._store("contacts").by_id.get(rec.get("contact_id", -1)),
                    "tag": self._store("contacts.tags").by_id.get(rec.get("tag_id", -1))}
        if ns in ("courses.enrollments", "fulfillments", "forms.submissions"):
            return {**rec, "contact": self._store("contacts").by_id.get(rec.get("contact_id", -1))}
        if ns == "orders":
            contact = self._store("contacts").by_id.get(rec.get("contact_id", -1))
            return {**rec, "contact": self._view(contact) if contact else None,
                    "workspace": self._store("workspaces").by_id.get(rec.get("workspace_id", -1))}
        if ns == "orders.invoices":
            order = self._store("orders").by_id.get(rec.get("order_id", -1))
            return {**rec, "order": self._view(order) if order else None}
        return rec

    def _me_view(self) -> Record:
        user = self._store("users").by_id[1]
        workspace = self._store("workspaces").by_id[DEFAULT_WORKSPACE_ID]
        return {**user, "connected_workspace": workspace,
                "platform_application": {"id": 1, "public_id": make_public_id("apps", 1, self._salt),
                                         "name": "Fake Platform App"}}

    # ------------------------------------------------------------------ list

    def _list(self, info: _OpInfo, params: Mapping[str, str], pairs: list[tuple[str, str]], origin: str,
              path: str) -> Reply:
        op = info.op
        store = self._store(info.store)
        scope: tuple[str, int] | None = None
        if info.parent_param is not None:
            assert info.parent_store is not None
            parent = self._store(info.parent_store).get(params.get(info.parent_param, ""))
            if parent is None:
                return _error(404, _NOT_FOUND)
            scope = (info.parent_param, parent["id"])

        after: int | None = None
        descending = False
        prop = "id"
        filters: dict[str, list[str]] = {}
        for key, value in pairs:
            if key == "after":
                after = _int_or_none(value)
            elif key == "sort_order":
                descending = value.lower() == "desc"
            elif key == "sort_property":
                prop = value or "id"
            elif key.startswith("filter[") and key.endswith("]"):
                name = key[7:-1]
                if name not in op.filter_keys:
                    return _error(400, f"found unpermitted parameter: {name}")
                filters.setdefault(name, []).extend(v.strip() for v in value.split(",") if v.strip())
            elif key.startswith("filter[") or key == "filter":
                return _error(400, f"found unpermitted parameter: {key}")

        candidates: list[int] | None = None
        if "id" in filters:
            candidates = self._resolve_ids(store, filters.pop("id"), scope)
        elif "email_address" in filters and "email_address" in UNIQUE.get(store.name, ()) and scope is not None:
            candidates = sorted(
                rec["id"] for v in filters.pop("email_address")
                if (rec := store.lookup_unique((scope[0], scope[1], "email_address"), v)) is not None
            )
        predicates = [self._predicate(name, values) for name, values in filters.items()]

        if prop == "id":
            ids = candidates if candidates is not None else store.scope_ids(scope)
            order: Iterator[int] = walk(ids, after, descending)
        else:
            order = self._ordered(store, scope, prop, candidates, after, descending)

        by_id = store.by_id
        page: list[Record] = []
        more = False
        for rid in order:
            rec = by_id.get(rid)
            if rec is None or (predicates and not all(p(rec) for p in predicates)):
                continue
            if len(page) == PAGE_SIZE:
                more = True
                break
            page.append(rec)
        headers: list[tuple[str, str]] = []
        if more:
            last = str(page[-1]["id"])
            headers.append(("Pagination-Next", last))
            rest = [(k, v) for k, v in pairs if k != "after"] + [("after", last)]
            headers.append(("Link", f'<{origin}{path}?{urlencode(rest)}>; rel="next"'))
        return Reply(200, [self._render_with(info, rec) for rec in page], headers)

    def _ordered(self, store: Store, scope: tuple[str, int] | None, prop: str, candidates: list[int] | None,
                 after: int | None, descending: bool) -> Iterator[int]:
        def key(rec: Record) -> Any:
            value = rec.get(prop)
            if value is None:
                return (0, "")
            if isinstance(value, bool | int | float):
                return (1, float(value), "")
            return (2, 0.0, str(value))

        if candidates is not None:
            ids = sorted(candidates, key=lambda i: (key(store.by_id[i]), i))
            positions = {rid: n for n, rid in enumerate(ids)}
        else:
            ids, positions = store.sorted_view(scope, prop, key)
        if after is None:
            start = len(ids) - 1 if descending else 0
        elif after in positions:
            start = positions[after] + (-1 if descending else 1)
        else:
            start = len(ids)  # a cursor of a record that is gone: nothing sensible follows
        step = -1 if descending else 1
        i = start
        while 0 <= i < len(ids):
            yield ids[i]
            i += step

    @staticmethod
    def _resolve_ids(store: Store, values: list[str], scope: tuple[str, int] | None) -> list[int]:
        found: set[int] = set()
        for value in values:
            rec = store.get(value)
            if rec is not None and (scope is None or rec["_anc"].get(scope[0]) == scope[1]):
                found.add(rec["id"])
        return sorted(found)

    @staticmethod
    def _predicate(name: str, values: list[str]) -> Callable[[Record], bool]:
        wanted = {v.lower() for v in values}
        truthy = {"true", "1", "t", "yes"}

        def match(rec: Record) -> bool:
            value = rec.get(name)
            if value is None:
                return False
            if isinstance(value, bool):
                return any((w in truthy) == value for w in wanted)
            if isinstance(value, list | tuple | set):
                return any(str(v).lower() in wanted for v in value)
            return str(value).lower() in wanted

        return match

    # ------------------------------------------------------------------ writes

    def _parent(self, info: _OpInfo, params: Mapping[str, str]) -> tuple[Record | None, dict[str, int]]:
        if info.parent_param is None:
            return None, {}
        assert info.parent_store is not None
        parent = self._store(info.parent_store).get(params.get(info.parent_param, ""))
        if parent is None:
            return None, {}
        anc = {k: v for k, v in parent["_anc"].items()}
        anc[info.parent_param] = parent["id"]
        if info.parent_store == "workspaces":
            anc["workspace_id"] = parent["id"]
        return parent, anc

    def _validate(self, ns: str, fields: Mapping[str, Any], *, creating: bool, op: Operation) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if creating:
            for name in (*REQUIRED.get(ns, ()), *op.body_required):
                value = fields.get(name)
                if value is None or value == "" or value == []:
                    errors.setdefault(name, []).append("can't be blank")
        for name, target in _REFERENCES_OF.get(ns, ()):
            if fields.get(name) is not None:
                ref = fields[name]
                if isinstance(ref, bool) or not isinstance(ref, int | str) or self._store(target).get(ref) is None:
                    errors.setdefault(name, []).append("must exist")
        if ns == "contacts" and fields.get("email_address") is not None:
            email = fields["email_address"]
            if not isinstance(email, str) or "@" not in email:
                errors.setdefault("email_address", []).append("is invalid")
        return errors

    def _unique_taken(self, store: Store, rec: Record | None, fields: Mapping[str, Any],
                      scope: tuple[str, int] | None) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name in UNIQUE.get(store.name, ()):
            if fields.get(name) is None:
                continue
            key = (scope[0], scope[1], name) if scope else ("", 0, name)
            owner = store.lookup_unique(key, fields[name])
            if owner is not None and (rec is None or owner["id"] != rec["id"]):
                errors[name] = ["has already been taken"]
        return errors

    def _unique_scope(self, store: Store, rec: Record) -> tuple[str, int] | None:
        # Uniqueness is per workspace when the record lives in one, else per direct parent, else global.
        anc = rec["_anc"]
        if "workspace_id" in anc:
            return ("workspace_id", anc["workspace_id"])
        for key, value in anc.items():
            return (key, value)
        return None

    def _claim_unique(self, store: Store, rec: Record) -> None:
        scope = self._unique_scope(store, rec)
        for name in UNIQUE.get(store.name, ()):
            key = (scope[0], scope[1], name) if scope else ("", 0, name)
            store.claim(rec, key, rec.get(name))

    def _create(self, info: _OpInfo, params: Mapping[str, str], fields: dict[str, Any],
                *, emit: bool = True) -> Reply:
        ns = info.store
        parent, anc = self._parent(info, params)
        if info.parent_param is not None and parent is None:
            return _error(404, _NOT_FOUND)
        errors = self._validate(ns, fields, creating=True, op=info.op)
        if errors:
            return _invalid(errors)
        store = self._store(ns)
        probe = {"_anc": anc}
        scope = self._unique_scope(store, probe)
        taken = self._unique_taken(store, None, fields, scope)
        if taken:
            return _invalid(taken)
        rec, extra = self._insert(ns, fields, anc, _now())
        if emit:
            self._emit(ns, "created", rec)
        out = self._render_with(info, rec)
        if isinstance(out, dict):
            out.update(extra)
        return Reply(info.op.success[0] if info.op.success else 201, out)

    def _insert(self, ns: str, fields: dict[str, Any], anc: dict[str, int], now: str) -> tuple[Record, dict[str, Any]]:
        """Create, store and wire one record; returns it and fields shown only in the create response."""
        fields = dict(fields)
        extra: dict[str, Any] = {}
        tag_ids = fields.pop("tag_ids", None) if ns == "contacts" else None
        rec = self._make(ns, fields, anc, now)
        store = self._store(ns)
        extra = self._on_create(ns, rec, fields, now)
        store.insert(rec)
        self._claim_unique(store, rec)
        if ns == "contacts":
            self._set_contact_tags(rec, tag_ids or [], now)
        return rec, extra

    def _on_create(self, ns: str, rec: Record, fields: Mapping[str, Any], now: str) -> dict[str, Any]:
        """Defaults and the records a create brings along (a product's default variant, ...)."""
        extra: dict[str, Any] = {}
        if ns == "contacts":
            bits = f"{self._data_rng.getrandbits(128):032x}"
            rec["uuid"] = f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:]}"
            rec.setdefault("is_active", True)
            rec.setdefault("custom_attributes", {})
            rec["tag_ids"] = []
            rec["_applied"] = {}
        elif ns == "contacts.tags":
            rec.setdefault("color", _COLORS[rec["id"] % len(_COLORS)])
        elif ns == "contacts.applied_tags":
            contact = self._store("contacts").by_id.get(rec["_anc"].get("contact_id", -1))
            tag = self._store("contacts.tags").get(rec.get("tag_id") or "")
            if tag is not None:
                rec["tag_id"] = tag["id"]
            if contact is not None and tag is not None and tag["id"] not in contact["tag_ids"]:
                contact["tag_ids"].append(tag["id"])
                contact["_applied"][tag["id"]] = now
        elif ns == "products":
            rec.setdefault("archived", False)
            rec.setdefault("visible_in_store", True)
            rec.setdefault("visible_in_customer_center", True)
            rec["variant_ids"] = []
            rec["price_ids"] = []
            rec.setdefault("image_ids", [])
            rec.setdefault("tag_ids", [])
            variant = self._make("products.variants", {"name": rec.get("name"), "default": True, "archived": False,
                                                       "visible": True, "fulfillment_required": False,
                                                       "price_ids": []},
                                 {**rec["_anc"], "product_id": rec["id"]}, now)
            self._store("products.variants").insert(variant)
            rec["default_variant_id"] = variant["id"]
            rec["variant_ids"].append(variant["id"])
        elif ns == "products.variants":
            rec.setdefault("default", False)
            rec.setdefault("archived", False)
            rec.setdefault("visible", True)
            rec["price_ids"] = []
            product = self._store("products").by_id.get(rec["_anc"].get("product_id", -1))
            if product is not None:
                product["variant_ids"].append(rec["id"])
        elif ns == "products.prices":
            rec.setdefault("archived", False)
            rec.setdefault("visible", True)
            rec.setdefault("currency", "USD")
            rec.setdefault("payment_type", "one_time")
            variant_id = rec["_anc"].get("variant_id")
            if variant_id is None:
                # Created through the older per-product route: the price goes on the default variant.
                product = self._store("products").by_id.get(rec["_anc"].get("product_id", -1))
                variant_id = product.get("default_variant_id") if product else None
            if variant_id is not None:
                rec["variant_id"] = variant_id
                rec["_anc"]["variant_id"] = variant_id
                owner = self._store("products.variants").by_id.get(variant_id)
                if owner is not None:
                    owner["price_ids"].append(rec["id"])
                    rec["_anc"].setdefault("product_id", owner["_anc"].get("product_id"))
                    rec["product_id"] = rec["_anc"]["product_id"]
                    product = self._store("products").by_id.get(rec["_anc"]["product_id"] or -1)
                    if product is not None:
                        product["price_ids"].append(rec["id"])
        elif ns == "orders":
            self._on_order(rec, fields, now)
        elif ns == "orders.invoices":
            order = self._store("orders").by_id.get(rec["_anc"].get("order_id", -1))
            rec.setdefault("status", "unpaid")
            rec.setdefault("invoice_type", "one_time")
            rec.setdefault("currency", "USD")
            rec.setdefault("invoice_number", f"INV-{rec['id']:06d}")
            items, total = self._line_items(rec.pop("line_items_attributes", None) or [], now, "invoice_id",
                                            rec["id"])
            if not items and order is not None:
                items = [{**li, "invoice_id": rec["id"], "fulfillment_status": "unfulfilled"}
                         for li in order.get("line_items", [])]
                total = order.get("total_amount") or total
            rec["line_items"] = items
            rec.setdefault("total_amount", total)
            rec.setdefault("subtotal_amount", total)
            rec.setdefault("due_amount", "0.00" if rec["status"] == "paid" else total)
            if order is not None:
                rec["contact_id"] = order.get("contact_id")
        elif ns == "fulfillments":
            rec["status"] = "fulfilled"
            fulfillments = self._store("fulfillments")
            rec["fulfillment_number"] = len(fulfillments) + 1
            rec["included_invoices_line_items"] = [
                {"id": n + 1, "public_id": make_public_id("fulfillment_items", rec["id"] * 1000 + n, self._salt),
                 "fulfillment_id": rec["id"], "invoices_line_item_id": item.get("invoices_line_item_id"),
                 "quantity": item.get("quantity", 1)}
                for n, item in enumerate(rec.pop("included_orders_invoices_line_items_attributes", None) or [])
                if isinstance(item, dict)
            ]
        elif ns == "fulfillments.locations":
            rec.setdefault("archived", False)
            rec["sort_order"] = len(self._store("fulfillments.locations"))
        elif ns == "courses":
            rec.setdefault("published_at", None)
            rec.setdefault("comments_enabled", True)
            root = self._make("courses.sections", {"title": "Root", "parent_id": None, "sort_order": 0},
                              {**rec["_anc"], "course_id": rec["id"]}, now)
            self._store("courses.sections").insert(root)
            rec["root_section_id"] = root["id"]
            rec["current_path"] = f"/courses/{rec['public_id']}"
        elif ns == "courses.sections":
            course = self._store("courses").by_id.get(rec["_anc"].get("course_id", -1))
            rec["parent_id"] = course.get("root_section_id") if course else None
            siblings = self._store("courses.sections").scope_ids(("course_id", rec["_anc"].get("course_id", -1)))
            rec["sort_order"] = max(0, len(siblings) - 1)
            rec.setdefault("published_at", None)
        elif ns == "courses.lessons":
            siblings = self._store("courses.lessons").scope_ids(("section_id", rec["_anc"].get("section_id", -1)))
            rec["sort_order"] = len(siblings)
            rec.setdefault("published_at", None)
        elif ns == "courses.enrollments":
            rec.setdefault("suspended", False)
            rec["origination_source_type"] = "Api"
        elif ns == "forms.submissions":
            rec.setdefault("data", {})
        elif ns == "images":
            source = fields.get("upload_source_url")
            rec["url"] = source if isinstance(source, str) else f"https://images.fake.test/{rec['public_id']}.png"
        elif ns == "webhooks.outgoing.endpoints":
            secret = secrets.token_hex(20)
            rec["_secret"] = secret
            rec["api_version"] = 2
            rec.setdefault("page_ids", [])
            rec.setdefault("funnel_ids", [])
            rec.setdefault("name", None)
            extra["webhook_secret"] = secret
        return extra

    def _on_order(self, rec: Record, fields: Mapping[str, Any], now: str) -> None:
        contacts = self._store("contacts")
        attrs_ = fields.get("contact_attributes")
        if rec.get("contact_id") is None and isinstance(attrs_, dict) and attrs_.get("email_address"):
            ws = rec["_anc"].get("workspace_id", DEFAULT_WORKSPACE_ID)
            found = contacts.lookup_unique(("workspace_id", ws, "email_address"), attrs_["email_address"])
            if found is None:
                found, _ = self._insert("contacts", {"email_address": attrs_["email_address"]},
                                        {"workspace_id": ws}, now)
            rec["contact_id"] = found["id"]
        rec.pop("contact_attributes", None)
        contact = contacts.get(rec["contact_id"]) if rec.get("contact_id") is not None else None
        if contact is not None:
            rec["contact_id"] = contact["id"]
        rec.setdefault("order_type", "one-time-order")
        rec.setdefault("live_mode", False)
        rec.setdefault("currency", "USD")
        rec.setdefault("service_status", "active")
        rec.setdefault("billing_status", "paid")
        rec.setdefault("payment_processor", "external")
        rec.setdefault("in_trial", False)
        rec.setdefault("tag_ids", [])
        rec["order_number"] = str(100000 + rec["id"])
        items, total = self._line_items(rec.pop("line_items_attributes", None) or [], now, "order_id", rec["id"])
        rec["line_items"] = items
        rec["total_amount"] = total
        rec.setdefault("tax_amount", "0.00")

    def _line_items(self, raw: Any, now: str, owner_key: str, owner_id: int) -> tuple[list[dict[str, Any]], str]:
        prices = self._store("products.prices")
        variants = self._store("products.variants")
        items: list[dict[str, Any]] = []
        total = 0.0
        for n, item in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(item, dict):
                continue
            raw_quantity = item.get("quantity")
            quantity = raw_quantity if isinstance(raw_quantity, int) and not isinstance(raw_quantity, bool) else 1
            price = prices.get(item["products_price_id"]) if isinstance(item.get("products_price_id"), int | str) \
                else None
            variant_ref = item.get("variant_id")
            variant = variants.get(variant_ref) if isinstance(variant_ref, int | str) else None
            if variant is None and price is not None:
                variant = variants.by_id.get(price.get("variant_id", -1))
            amount = item.get("amount") if isinstance(item.get("amount"), str) else (
                price.get("amount") if price else None)
            with suppress(ValueError):
                total += float(amount or 0) * quantity
            line_id = owner_id * 100 + n + 1
            items.append({
                "id": line_id,
                "public_id": make_public_id(f"{owner_key}_line_items", line_id, self._salt),
                owner_key: owner_id,
                "quantity": quantity,
                "amount": amount,
                "description": item.get("description"),
                "products_price": price,
                "products_variant": variant,
                "created_at": now,
                "updated_at": now,
            })
        return items, f"{total:.2f}"

    def _set_contact_tags(self, contact: Record, tag_ids: Any, now: str) -> None:
        """`tag_ids` on a contact write replaces the whole set (applied tags follow)."""
        if not isinstance(tag_ids, list):
            return
        applied = self._store("contacts.applied_tags")
        if not tag_ids and not applied.scope_ids(("contact_id", contact["id"])):
            contact["tag_ids"] = []  # nothing applied, nothing wanted (every new contact without tags)
            return
        tags = self._store("contacts.tags")
        wanted: list[int] = []
        for ref in tag_ids:
            tag = tags.get(ref) if isinstance(ref, int | str) and not isinstance(ref, bool) else None
            if tag is not None and tag["id"] not in wanted:
                wanted.append(tag["id"])
        current = {applied.by_id[i]["tag_id"]: applied.by_id[i]
                   for i in list(applied.scope_ids(("contact_id", contact["id"])))}
        for tag_id, rec in current.items():
            if tag_id not in wanted:
                applied.remove(rec)
                contact["_applied"].pop(tag_id, None)
        for tag_id in wanted:
            if tag_id not in current:
                rec = self._make("contacts.applied_tags", {"tag_id": tag_id},
                                 {**contact["_anc"], "contact_id": contact["id"]}, now)
                applied.insert(rec)
                contact["_applied"][tag_id] = now
        contact["tag_ids"] = wanted

    def _update(self, info: _OpInfo, params: Mapping[str, str], fields: dict[str, Any]) -> Reply:
        store = self._store(info.store)
        rec = store.get(params.get("id", ""))
        if rec is None:
            return _error(404, _NOT_FOUND)
        errors = self._validate(store.name, fields, creating=False, op=info.op)
        errors.update(self._unique_taken(store, rec, fields, self._unique_scope(store, rec)))
        if errors:
            return _invalid(errors)
        self._apply(store, rec, fields, merge_empty=True)
        self._emit(store.name, "updated", rec)
        return Reply(200, self._render_with(info, rec))

    def _apply(self, store: Store, rec: Record, fields: Mapping[str, Any], *, merge_empty: bool) -> None:
        now = _now()
        for name, value in fields.items():
            if name in ("id", "public_id", "created_at", "updated_at") or name.startswith("_"):
                continue
            if not merge_empty and (value is None or value == ""):
                continue  # upsert ignores empty values
            if store.name == "contacts" and name == "tag_ids":
                self._set_contact_tags(rec, value, now)
            elif store.name == "contacts" and name == "custom_attributes" and isinstance(value, dict):
                rec["custom_attributes"] = {**(rec.get("custom_attributes") or {}),
                                            **{str(k): str(v) for k, v in value.items()}}
            else:
                rec[name] = value
        rec["updated_at"] = now
        self._claim_unique(store, rec)
        store.touch()

    def _delete(self, info: _OpInfo, params: Mapping[str, str]) -> Reply:
        store = self._store(info.store)
        rec = store.get(params.get("id", ""))
        if rec is None:
            return _error(404, _NOT_FOUND)
        self._remove(store, rec)
        self._emit(store.name, "deleted", rec)
        return Reply(204)

    def _remove(self, store: Store, rec: Record) -> None:
        store.remove(rec)
        if store.name == "contacts":
            applied = self._store("contacts.applied_tags")
            for rid in list(applied.scope_ids(("contact_id", rec["id"]))):
                applied.remove(applied.by_id[rid])
        elif store.name == "contacts.tags":
            applied = self._store("contacts.applied_tags")
            contacts = self._store("contacts")
            for rid in list(applied.ids):
                link = applied.by_id[rid]
                if link.get("tag_id") == rec["id"]:
                    applied.remove(link)
                    contact = contacts.by_id.get(link["_anc"].get("contact_id", -1))
                    if contact is not None and rec["id"] in contact["tag_ids"]:
                        contact["tag_ids"].remove(rec["id"])
        elif store.name == "contacts.applied_tags":
            contact = self._store("contacts").by_id.get(rec["_anc"].get("contact_id", -1))
            if contact is not None and rec.get("tag_id") in contact["tag_ids"]:
                contact["tag_ids"].remove(rec["tag_id"])
                contact["_applied"].pop(rec["tag_id"], None)

    # ------------------------------------------------------------------ actions

    def _action(self, info: _OpInfo, params: Mapping[str, str], fields: dict[str, Any]) -> Reply:
        verb = info.op.verb
        if verb == "upsert":
            return self._upsert(info, params, fields)
        store = self._store(info.store)
        rec = store.get(params.get("id", ""))
        if rec is None:
            return _error(404, _NOT_FOUND)
        label = subject_type(store.name).split("::")[-1]
        status = info.op.success[0] if info.op.success else 200
        if verb == "gdpr_destroy":
            digest = hashlib.sha256(f"{self._salt}:{rec['id']}".encode()).hexdigest()[:16]
            self._apply(store, rec, {"email_address": f"redacted-{digest}@example.com", "first_name": "REDACTED",
                                     "last_name": "REDACTED", "phone_number": None}, merge_empty=True)
        elif verb in ("archive", "unarchive"):
            want = verb == "archive"
            if bool(rec.get("archived")) == want:
                return _error(409, f"{label} is already {verb}d")
            self._apply(store, rec, {"archived": want}, merge_empty=True)
        elif verb == "cancel":
            field = "status" if "status" in rec else "service_status"
            if rec.get(field) in ("cancelled", "canceled"):
                return _error(409, f"{label} is already cancelled")
            value = "cancelled" if field == "status" else "canceled"
            changes: dict[str, Any] = {field: value}
            if store.name == "orders":
                changes["canceled_at"] = _now()
                changes["canceled_by"] = fields.get("canceled_by") or "API"
            self._apply(store, rec, changes, merge_empty=True)
        elif verb == "publish":
            when = fields.get("published_at")
            if when is not None:
                try:
                    moment = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
                except ValueError:
                    return _invalid({"published_at": ["is invalid"]})
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                if moment < datetime.now(UTC) - timedelta(seconds=1):
                    return _invalid({"published_at": ["must be in the future"]})
                stamp = _iso(moment)
            else:
                stamp = _now()
            if store.name == "courses.sections" and rec.get("parent_id") is None:
                return _invalid({"base": ["The root section cannot be published"]})
            self._apply(store, rec, {"published_at": stamp}, merge_empty=True)
            if store.name == "courses.sections":
                lessons = self._store("courses.lessons")
                for lid in lessons.scope_ids(("section_id", rec["id"])):
                    lessons.by_id[lid]["published_at"] = stamp
        event = ACTION_EVENTS.get(verb)
        if event:
            self._emit(store.name, event, rec)
        if status == 204 or (info.op.response_model is None and not info.op.response_is_list):
            return Reply(status)  # no response schema (gdpr_destroy answers 200 with no body)
        return Reply(status, self._render_with(info, rec))

    def _upsert(self, info: _OpInfo, params: Mapping[str, str], fields: dict[str, Any]) -> Reply:
        store = self._store(info.store)
        parent, anc = self._parent(info, params)
        if info.parent_param is not None and parent is None:
            return _error(404, _NOT_FOUND)
        email = fields.get("email_address")
        if not isinstance(email, str) or not email.strip():
            return _invalid({"email_address": ["can't be blank"]})
        errors = self._validate(store.name, fields, creating=False, op=info.op)
        if errors:
            return _invalid(errors)
        scope = self._unique_scope(store, {"_anc": anc})
        key = (scope[0], scope[1], "email_address") if scope else ("", 0, "email_address")
        existing = store.lookup_unique(key, email)
        if existing is None:
            rec, _ = self._insert(store.name, fields, anc, _now())
            self._emit(store.name, "created", rec)
            return Reply(201, self._render_with(info, rec))
        self._apply(store, existing, fields, merge_empty=False)
        self._emit(store.name, "updated", existing)
        return Reply(200, self._render_with(info, existing))

    # ------------------------------------------------------------------ webhooks

    def on_webhook(
        self,
        callback: WebhookCallback,
        *,
        event_types: Iterable[str] | None = None,
        secret: str | None = None,
    ) -> Callable[[], None]:
        """Call `callback(delivery)` (sync or async) for every event (or only `event_types`), signed with
        `secret` (default `webhook_secret_default`). Returns a function that unsubscribes."""
        listener = _Listener(callback, frozenset(event_types) if event_types is not None else None,
                             secret or self.webhook_secret_default)
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def endpoint_secret(self, endpoint_id: int | str) -> str:
        """The `webhook_secret` of a registered endpoint (the API shows it only once, at creation)."""
        rec = self._store("webhooks.outgoing.endpoints").get(endpoint_id)
        if rec is None:
            raise KeyError(endpoint_id)
        secret: str = rec["_secret"]
        return secret

    def _event_type(self, ns: str, action: str) -> str | None:
        event_type = f"{event_subject(ns)}.{action}"
        try:
            from clickfunnels_async.webhooks import ALL_EVENT_TYPES
        except ImportError:  # the webhooks package is optional for the fake
            return event_type
        return event_type if event_type in ALL_EVENT_TYPES else None

    def _emit(self, ns: str, action: str, rec: Record) -> None:
        endpoints_store = self._stores.get("webhooks.outgoing.endpoints")
        if not self._listeners and (endpoints_store is None or not endpoints_store.by_id):
            return  # nobody listens: the hot path stays free of webhook work
        event_type = self._event_type(ns, action)
        if event_type is None:
            return
        workspace_id = rec["_anc"].get("workspace_id")
        if workspace_id is None and ns == "workspaces":
            workspace_id = rec["id"]
        endpoints: list[Record] = []
        if endpoints_store is not None and workspace_id is not None:
            for eid in endpoints_store.scope_ids(("workspace_id", workspace_id)):
                endpoint = endpoints_store.by_id[eid]
                types = endpoint.get("event_type_ids") or []
                if event_type in types or "*" in types:
                    endpoints.append(endpoint)
        listeners = [li for li in self._listeners if li.event_types is None or event_type in li.event_types]
        if not endpoints and not listeners:
            return
        now = _now()
        data = self.render(rec)
        event_uuid = str(uuid.uuid4())
        events = self._store("webhooks.outgoing.events")
        anc = {"workspace_id": workspace_id} if workspace_id is not None else {}
        event = self._make("webhooks.outgoing.events", {
            "uuid": event_uuid, "event_type_id": event_type, "subject_id": rec["id"],
            "subject_type": subject_type(ns), "data": data, "api_version": 2, "page": None, "funnel": None,
        }, anc, now)
        events.insert(event)
        envelope = {
            "event_id": event_uuid,
            "event_type": event_type,
            "subject_id": rec["id"],
            "subject_type": subject_type(ns),
            "workspace_id": workspace_id,
            "api_version": 2,
            "created_at": now,
            "data": data,
        }
        body = _json_bytes(envelope)
        for endpoint in endpoints:
            self._queue.append(_Pending(WebhookDelivery(
                event_uuid, event_type, workspace_id, endpoint["id"], endpoint.get("url"), body, {},
                endpoint["_secret"]), None))
        for listener in listeners:
            self._queue.append(_Pending(WebhookDelivery(
                event_uuid, event_type, workspace_id, None, None, body, {}, listener.secret), listener))
        self._kick()

    def _kick(self) -> None:
        if self._pumping or self._task_group is None or not self._queue:
            return
        self._pumping = True
        self._task_group.start_soon(self._pump)

    async def _pump(self) -> None:
        try:
            while self._queue:
                await self._deliver(self._queue.popleft())
        finally:
            self._pumping = False

    async def drain_webhooks(self) -> list[WebhookDelivery]:
        """Wait until every queued delivery was attempted; returns the deliveries made meanwhile."""
        start = len(self.deliveries)
        while self._queue or self._pumping:
            if self._pumping:
                await anyio.sleep(0.001)
            else:
                self._pumping = True
                await self._pump()
        return self.deliveries[start:]

    async def _deliver(self, pending: _Pending) -> None:
        delivery = pending.delivery
        delivery.headers = {**_sign(delivery.body, delivery.secret, int(time.time())),
                            "Content-Type": "application/json", "User-Agent": "ClickFunnels-Webhooks/2 (fake)"}
        self.deliveries.append(delivery)
        if pending.listener is not None:
            try:
                result = pending.listener.callback(delivery)
                if inspect.isawaitable(result):
                    await result
                delivery.status_code = 200
            except Exception as exc:  # the receiver's failure is recorded, not raised into the fake
                delivery.error = f"{type(exc).__name__}: {exc}"
            return
        if not delivery.url:
            delivery.error = "endpoint has no url"
            return
        if self.webhook_http_client is None and not _is_loopback_url(delivery.url):
            # A test fake must not reach out to the internet on its own: deliver to loopback only,
            # unless the caller hands in an http_client (e.g. one wired to their ASGI app).
            delivery.error = (
                f"not delivered to {delivery.url}: the fake delivers only to 127.0.0.1/localhost "
                "unless FakeClickFunnels(http_client=...) is given"
            )
            return
        try:
            client = self._webhook_client()
            response = await client.post(delivery.url, content=delivery.body, headers=delivery.headers)
            delivery.status_code = response.status_code
        except Exception as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"

    def _webhook_client(self) -> httpx.AsyncClient:
        if self.webhook_http_client is not None:
            return self.webhook_http_client
        if self._own_http is None:
            import httpx

            self._own_http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        return self._own_http

    # ------------------------------------------------------------------ seeding

    def seed(
        self,
        *,
        contacts: int = 0,
        tags: int = 0,
        products: int = 0,
        orders: int = 0,
        courses: int = 0,
        forms: int = 0,
        images: int = 0,
        fulfillment_locations: int = 0,
        workspace_id: int = DEFAULT_WORKSPACE_ID,
    ) -> int:
        """Fill a workspace with deterministic data (same seed, same data); returns the workspace id.

        No webhooks fire for seeded records. Contacts get 0-2 of the seeded tags; every product gets a
        default variant and one price; every order one line item and one paid invoice; every course two
        sections of three lessons and a few enrollments; every form a few submissions.
        """
        if self._store("workspaces").by_id.get(workspace_id) is None:
            raise KeyError(f"no workspace {workspace_id}")
        # Many small dicts at once: the cyclic GC would rescan them over and over (none of them is garbage).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._seed(contacts, tags, products, orders, courses, forms, images, fulfillment_locations,
                              workspace_id)
        finally:
            if was_enabled:
                gc.enable()

    def _seed(self, contacts: int, tags: int, products: int, orders: int, courses: int, forms: int, images: int,
              fulfillment_locations: int, workspace_id: int) -> int:
        rng = self._data_rng
        anc = {"team_id": DEFAULT_TEAM_ID, "workspace_id": workspace_id}

        def tick() -> str:
            self._seed_clock += timedelta(seconds=rng.randint(1, 90))
            return _iso(self._seed_clock)

        tag_ids: list[int] = []
        start_tags = len(self._store("contacts.tags"))
        for n in range(tags):
            rec, _ = self._insert("contacts.tags", {"name": f"Tag {start_tags + n + 1}",
                                                    "color": _COLORS[n % len(_COLORS)]}, dict(anc), tick())
            tag_ids.append(rec["id"])
        contact_ids: list[int] = []
        contacts_store = self._store("contacts")
        for _ in range(contacts):
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            number = len(contacts_store) + 1
            fields: dict[str, Any] = {
                "email_address": f"{first.lower()}.{last.lower()}.{number}@example.com",
                "first_name": first,
                "last_name": last,
                "phone_number": f"+1555{rng.randrange(10**6, 10**7)}",
                "time_zone": "Pacific Time (US & Canada)",
                "custom_attributes": {"plan": rng.choice(("free", "pro", "team"))},
            }
            if tag_ids:
                fields["tag_ids"] = rng.sample(tag_ids, k=min(len(tag_ids), rng.randrange(0, 3)))
            rec, _ = self._insert("contacts", fields, dict(anc), tick())
            contact_ids.append(rec["id"])
        if not contact_ids:
            contact_ids = list(contacts_store.scope_ids(("workspace_id", workspace_id)))
        price_ids: list[int] = []
        for n in range(products):
            name = f"Product {len(self._store('products')) + 1}"
            product, _ = self._insert("products", {"name": name, "visible_in_store": n % 2 == 0}, dict(anc), tick())
            price, _ = self._insert("products.prices", {"name": f"{name} price", "amount": f"{rng.randrange(5, 500)}.00",
                                                        "payment_type": "one_time"},
                                    {**anc, "product_id": product["id"], "variant_id": product["default_variant_id"]},
                                    tick())
            price_ids.append(price["id"])
        for _ in range(orders):
            if not contact_ids:
                break
            items = [{"products_price_id": rng.choice(price_ids), "quantity": rng.randint(1, 3)}] if price_ids else []
            order, _ = self._insert("orders", {"contact_id": rng.choice(contact_ids),
                                               "order_type": rng.choice(("one-time-order", "subscription-order")),
                                               "line_items_attributes": items}, dict(anc), tick())
            self._insert("orders.invoices", {"status": "paid", "invoice_type": "initial", "paid_at": order["created_at"]},
                         {**anc, "order_id": order["id"]}, tick())
        for n in range(courses):
            course, _ = self._insert("courses", {"title": f"Course {n + 1}", "description": "Seeded course"},
                                     dict(anc), tick())
            for s in range(2):
                section, _ = self._insert("courses.sections", {"title": f"Module {s + 1}"},
                                          {**anc, "course_id": course["id"]}, tick())
                for m in range(3):
                    self._insert("courses.lessons", {"title": f"Lesson {s + 1}.{m + 1}", "body": "..."},
                                 {**anc, "course_id": course["id"], "section_id": section["id"]}, tick())
            for contact_id in rng.sample(contact_ids, k=min(3, len(contact_ids))):
                self._insert("courses.enrollments", {"contact_id": contact_id},
                             {**anc, "course_id": course["id"]}, tick())
        for n in range(forms):
            form, _ = self._insert("forms", {"name": f"Form {n + 1}"}, dict(anc), tick())
            for contact_id in rng.sample(contact_ids, k=min(3, len(contact_ids))):
                self._insert("forms.submissions", {"contact_id": contact_id, "data": {"source": "seed"}},
                             {**anc, "form_id": form["id"]}, tick())
        for n in range(images):
            self._insert("images", {"name": f"image-{n + 1}.png"}, dict(anc), tick())
        for n in range(fulfillment_locations):
            self._insert("fulfillments.locations", {"name": f"Warehouse {n + 1}"}, dict(anc), tick())
        return workspace_id

    # ------------------------------------------------------------------ OAuth (accounts host)

    def _oauth(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path.rstrip("/") == "/oauth/authorize" and method == "GET":
            params = dict(parse_qsl(query))
            redirect_uri = params.get("redirect_uri")
            if not params.get("client_id") or not redirect_uri or params.get("response_type") != "code":
                return Reply(400, {"error": "invalid_request",
                                   "error_description": "client_id, redirect_uri and response_type=code are required"})
            method_ = params.get("code_challenge_method", "S256" if params.get("code_challenge") else None)
            if method_ not in (None, "S256"):
                return Reply(400, {"error": "invalid_request", "error_description": "only S256 is supported"})
            code = secrets.token_urlsafe(24)
            self._oauth_codes[code] = {"client_id": params["client_id"], "redirect_uri": redirect_uri,
                                       "challenge": params.get("code_challenge"), "scope": params.get("scope")}
            out = {"code": code}
            if "state" in params:
                out["state"] = params["state"]
            sep = "&" if "?" in redirect_uri else "?"
            return Reply(302, headers=[("Location", f"{redirect_uri}{sep}{urlencode(out)}")])
        if path.rstrip("/") == "/oauth/token" and method == "POST":
            content_type = (headers.get("content-type") or "").lower()
            form: dict[str, Any]
            try:
                if "json" in content_type or body.strip().startswith(b"{"):
                    form = json.loads(body or b"{}")
                else:
                    form = dict(parse_qsl(body.decode()))
            except ValueError:
                return Reply(400, {"error": "invalid_request", "error_description": "unreadable body"})
            if not isinstance(form, dict) or form.get("grant_type") != "authorization_code":
                return Reply(400, {"error": "unsupported_grant_type",
                                   "error_description": "only authorization_code is supported"})
            grant = self._oauth_codes.pop(str(form.get("code")), None)
            if grant is None or grant["client_id"] != form.get("client_id") \
                    or grant["redirect_uri"] != form.get("redirect_uri"):
                return Reply(400, {"error": "invalid_grant",
                                   "error_description": "The provided authorization grant is invalid, expired, "
                                                        "revoked, or was issued to another client."})
            if grant["challenge"]:
                verifier = form.get("code_verifier")
                if not isinstance(verifier, str) or _s256(verifier) != grant["challenge"]:
                    return Reply(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
            token = "cf_oauth_" + secrets.token_urlsafe(24)
            self.add_token(token)
            team = self._store("teams").by_id[DEFAULT_TEAM_ID]
            ws = self._store("workspaces").by_id[DEFAULT_WORKSPACE_ID]
            return Reply(200, {
                "access_token": token, "token_type": "Bearer", "expires_in": 7200,
                "scope": grant["scope"] or "admin read", "created_at": int(time.time()),
                "team_id": team["id"], "team_name": team["name"], "workspace_id": ws["id"],
                "workspace_name": ws["name"], "workspace_url": f"https://{ws['subdomain']}.myclickfunnels.com",
            })
        return _error(404, "No such route")


def _s256(verifier: str) -> str:
    return urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=").decode()


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    return 0 if value else None  # Rails casts junk to 0: the list starts from the beginning


def _sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    try:
        from clickfunnels_async.webhooks import sign_webhook
    except ImportError:
        import hmac

        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: digest, TIMESTAMP_HEADER: str(timestamp)}
    return dict(sign_webhook(body, secret, timestamp))


"""`FakeClickFunnels`: a stateful, in-memory ClickFunnels 2.0 API that executes the bundled spec.

This module is the public facade (construction, knobs, the ways in). The rooms behind it, each a mixin:

| module | what it holds |
|---|---|
| `_dispatch` | the request path: auth, rate limit, faults, routing |
| `_crud` | generic list/get/create/update/delete/upsert/singletons for every operation |
| `_actions` | action verbs (archive, publish, cancel, ...) and the state they leave |
| `_families` | record writes and what each resource family brings along (tags, variants, line items) |
| `_rules` | the business rules no schema can say, each with its source |
| `_schema` | the spec by operation (compiled once: shapes, request checks, record fills); routes |
| `_shapes` / `_validate` / `_values` | response shapes, request checks, example values |
| `_store` | the record stores (sorted ids, O(log n) pages) |
| `_webhooks` | signed event deliveries |
| `_seed` | deterministic data for every family |
| `_oauth` | the authorization-code grant |
| `_reply` | `Reply`, `Faults`, `Dropped` and small helpers |
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from clickfunnels_async._operation_row import Operation
from clickfunnels_async.testing._base import (
    DEFAULT_SUBDOMAIN,
    DEFAULT_TEAM_ID,
    DEFAULT_WORKSPACE_ID,
)
from clickfunnels_async.testing._dispatch import Dispatch
from clickfunnels_async.testing._reply import (
    KEEP,
    SEED_EPOCH,
    Dropped,
    Faults,
    FaultsChange,
    Keep,
    Reply,
    iso,
)
from clickfunnels_async.testing._schema import Router, SpecIndex, default_index, load_operations
from clickfunnels_async.testing._seed import Seeding
from clickfunnels_async.testing._store import Store
from clickfunnels_async.testing._webhooks import WebhookDelivery

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx

    from clickfunnels_async import ClickFunnels

__all__ = [
    "DEFAULT_TEAM_ID",
    "DEFAULT_WORKSPACE_ID",
    "Dropped",
    "FakeClickFunnels",
    "Faults",
    "Reply",
    "WebhookDelivery",
]

DEFAULT_BASE_URL: Final = "https://fake.myclickfunnels.test"


class FakeClickFunnels(Dispatch, Seeding):
    """A local, stateful ClickFunnels 2.0 API: in-process (`client()`), over a socket (`serve()`), or as an
    ASGI app (`asgi_app()`).

    ```
    async with FakeClickFunnels(seed=1) as fake:
        ws = fake.seed(contacts=100)
        async with fake.client() as cf:
            contacts = await cf.contacts.list(workspace_id=ws).to_list()
    ```

    One team (id 1) and one workspace (id 42, subdomain ``acme``) exist from the start. Only the tokens the
    fake issued are accepted: `token` (the first of `tokens=` when given), those added by `add_token()` and
    those handed out by its OAuth flow; ``accept_any_token=True`` lets any non-empty bearer token in.
    Every operation of the bundled spec is served; bodies are checked against its request schemas and
    fields it does not list are dropped and noted in `ignored_fields` (``(operation id, field)``).
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
        accept_any_token: bool = False,
        http_client: httpx.AsyncClient | None = None,
        base_url: str = DEFAULT_BASE_URL,
        operations: Mapping[str, Operation] | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        if operations is None:
            operations = load_operations()
        self._faults = Faults(
            latency, jitter, error_rate, tuple(error_statuses), drop_rate, rate_limit
        )
        self._faults.check()
        self._seed_value = seed
        self._rng = random.Random(f"faults:{seed}")
        self._data_rng = random.Random(f"data:{seed}")
        self._salt = f"cf-fake-{seed}"
        self._seed_clock = SEED_EPOCH
        given = list(tokens) if tokens is not None else []
        if any(not isinstance(t, str) or not t.strip() for t in given):
            raise ValueError("tokens must be non-empty strings")
        self.token = given[0] if given else f"cf_fake_{seed}_token"
        self._tokens = None if accept_any_token else {self.token, *given}
        self.base_url = base_url.rstrip("/")
        self.webhook_http_client = http_client
        self._own_http = None
        self.operations = dict(operations)
        self.spec = SpecIndex(spec) if spec is not None else default_index()
        self._router = Router(self.operations.values())
        self._stores = {}
        self._info = {}
        self._get_ops = {}
        self._build_info()

        self._windows = {}
        self.calls = Counter()  # operation id (or "oauth", "unrouted") -> requests served
        self.request_count = 0
        self.ignored_fields = []
        self.deliveries = []
        self._listeners = []
        self._queue = deque()
        self._pumping = False
        self._task_group = None
        self._clients = []
        self._oauth_codes = {}
        self._observers = []
        self.webhook_secret_default = (
            "whsec_fake_" + hashlib.sha256(self._salt.encode()).hexdigest()[:24]
        )
        self._bootstrap()

    def _bootstrap(self) -> None:
        now = iso(SEED_EPOCH)
        team = self._make(
            "teams",
            {"name": "Acme Team", "locale": "en", "time_zone": "Pacific Time (US & Canada)"},
            {},
            now,
            rid=DEFAULT_TEAM_ID,
        )
        self._store("teams").insert(team)
        ws = self._make(
            "workspaces",
            {"name": "Acme", "subdomain": DEFAULT_SUBDOMAIN},
            {"team_id": DEFAULT_TEAM_ID},
            now,
            rid=DEFAULT_WORKSPACE_ID,
        )
        self._store("workspaces").insert(ws)
        user = self._make(
            "users",
            {
                "email": "api-client@acme.test",
                "first_name": "Default",
                "last_name": "API Client",
                "locale": "en",
                "time_zone": "Pacific Time (US & Canada)",
            },
            {"team_id": DEFAULT_TEAM_ID},
            now,
            rid=1,
        )
        self._store("users").insert(user)

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
        rate_limit: int | Keep | None = KEEP,
    ) -> FaultsChange:
        """Change fault knobs now; use as ``with fake.faults(error_rate=1): ...`` to undo them on exit.

        `rate_limit=None` turns rate limiting off (leaving the argument out keeps the current limit).
        """
        previous = attrs.evolve(self._faults)
        changes: dict[str, Any] = {}
        for name, value in (
            ("latency", latency),
            ("jitter", jitter),
            ("error_rate", error_rate),
            ("drop_rate", drop_rate),
        ):
            if value is not None:
                changes[name] = float(value)
        if error_statuses is not None:
            changes["error_statuses"] = tuple(error_statuses)
        if not isinstance(rate_limit, Keep):
            changes["rate_limit"] = rate_limit
        updated = attrs.evolve(self._faults, **changes)
        updated.check()
        self._faults = updated
        if "rate_limit" in changes:
            self._windows.clear()
        return FaultsChange(self._restore_faults, updated, previous)

    @property
    def current_faults(self) -> Faults:
        return attrs.evolve(self._faults)

    def _restore_faults(self, faults: Faults) -> None:
        self._faults = faults

    def observe(self, callback: Callable[[Operation, Reply], object]) -> None:
        """Call `callback(operation, reply)` after every routed API request (tests validate replies)."""
        self._observers.append(callback)

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
        client = httpx.AsyncClient(
            transport=self.transport(), base_url=self.base_url, headers=headers, **kwargs
        )
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

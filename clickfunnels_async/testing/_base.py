"""The fake's ground floor: its state, the record stores, what each operation does, and rendering.

Every room of the fake (`_crud`, `_families`, `_webhooks`, `_seed`, `_oauth`, `_dispatch`) is a mixin over
`FakeBase`; `FakeClickFunnels` (`_fake.py`) puts them together and owns `__init__`.

What an operation does (`OpInfo.kind`) is read off its row, never off a list of paths:

| kind | rows |
|---|---|
| ``list`` | GET answering an array |
| ``get`` / ``update`` / ``delete`` | the verb on a member route (``.../{id}``) |
| ``create`` | any other POST on a collection (create actions such as ``enroll_actions`` included) |
| ``upsert`` | the verb ``upsert`` (matched by `rules.UPSERT_KEYS`) |
| ``action`` | any other verb on a member route (archive, publish, cancel, approve, refund, structure, ...) |
| ``singleton`` / ``singleton_update`` | GET/PUT without ``{id}``: one record per parent (stats, settings, site) |
| ``compute`` | `rules.COMPUTED_VERBS`: answered from the schema, nothing stored |
| ``me`` | ``GET /me`` |
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from clickfunnels_async._operation_row import Operation
from clickfunnels_async.testing._reply import Faults, Reply
from clickfunnels_async.testing._rules import COMPUTED_VERBS, STORE_ALIASES
from clickfunnels_async.testing._schema import Router, SpecIndex
from clickfunnels_async.testing._shapes import OMIT, Shape, plain
from clickfunnels_async.testing._store import Record, Store, make_public_id

if TYPE_CHECKING:
    import anyio.abc
    import httpx

    from clickfunnels_async import ClickFunnels

__all__ = ["DEFAULT_TEAM_ID", "DEFAULT_WORKSPACE_ID", "FakeBase", "OpInfo", "operation_kind"]

DEFAULT_TEAM_ID: Final = 1
DEFAULT_WORKSPACE_ID: Final = 42
DEFAULT_SUBDOMAIN: Final = "acme"
ROOT_STORES: Final = frozenset({"teams", "workspaces", "users"})


@attrs.define(slots=True)
class OpInfo:
    op: Operation
    kind: str
    store: str
    parent_param: str | None
    parent_store: str | None
    shape: Shape | None = None
    shape_done: bool = False


def operation_kind(op: Operation) -> str:
    member = "id" in op.path_params
    if (
        op.namespace == "users"
        and op.method == "GET"
        and not op.path_params
        and not op.response_is_list
    ):
        return "me"
    if op.verb == "upsert":
        return "upsert"
    if op.verb in COMPUTED_VERBS:
        return "compute"
    if op.method == "GET":
        if op.response_is_list:
            return "list"
        if not member:
            return "singleton"
        return "get" if op.verb == "get" else "action"
    if op.method in ("PUT", "PATCH"):
        return ("update" if op.verb == "update" else "action") if member else "singleton_update"
    if op.method == "DELETE" and member:
        return "delete" if op.verb == "delete" else "action"
    if member:
        return "action"
    return "create"


class FakeBase:
    """State and helpers every room uses (attributes are set by `FakeClickFunnels.__init__`)."""

    operations: dict[str, Operation]
    spec: SpecIndex
    token: str
    base_url: str
    webhook_http_client: httpx.AsyncClient | None
    calls: Counter[str]
    request_count: int
    ignored_fields: list[tuple[str, str]]
    _faults: Faults
    _seed_value: int
    _rng: random.Random
    _data_rng: random.Random
    _salt: str
    _seed_clock: datetime
    _tokens: set[str] | None
    _router: Router
    _stores: dict[str, Store]
    _info: dict[str, OpInfo]
    _get_ops: dict[str, Operation]
    _creatable: frozenset[str]
    _windows: dict[str, deque[float]]
    _task_group: anyio.abc.TaskGroup | None
    _clients: list[httpx.AsyncClient | ClickFunnels]
    _observers: list[Callable[[Operation, Reply], object]]

    # ------------------------------------------------------------------ stores and operations

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
        namespaces = {
            STORE_ALIASES.get(op.namespace, op.namespace) for op in self.operations.values()
        }
        creatable: set[str] = set(ROOT_STORES)
        for op in self.operations.values():
            parent_param = next((p for p in reversed(op.path_params) if p != "id"), None)
            parent_store = None
            if parent_param is not None:
                parent_store = self._parent_namespace(op, parent_param, member_ns, namespaces)
            info = OpInfo(
                op,
                operation_kind(op),
                STORE_ALIASES.get(op.namespace, op.namespace),
                parent_param,
                parent_store,
            )
            self._info[op.id] = info
            if info.kind in ("create", "upsert"):
                creatable.add(info.store)
        self._creatable = frozenset(creatable)

    @staticmethod
    def _parent_namespace(
        op: Operation, param: str, member_ns: Mapping[str, str], namespaces: set[str]
    ) -> str:
        marker = "{" + param + "}"
        prefix = op.path[: op.path.index(marker)] + "{id}"
        found = member_ns.get(prefix)
        if found is not None:
            return STORE_ALIASES.get(found, found)
        # No member route in the table: guess from the parameter name and the path before it.
        base = param[:-3] if param.endswith("_id") else param
        candidates = {
            base + "s",
            base + "es",
            base[:-1] + "ies" if base.endswith("y") else base + "s",
        }
        before = [
            s
            for s in op.path[: op.path.index(marker)].strip("/").split("/")
            if not s.startswith("{")
        ]
        best: str | None = None
        for ns in sorted(namespaces):
            parts = ns.split(".")
            if parts[-1] in candidates and (best is None or parts[0] in before):
                best = ns
        return best or base + "s"

    def _make(
        self,
        ns: str,
        fields: Mapping[str, Any],
        anc: Mapping[str, int],
        now: str,
        rid: int | None = None,
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

    def _fill(self, info: OpInfo | None, rec: Record) -> None:
        """Give a new record a realistic value for every required field of its schema it lacks (kept, so
        every later answer shows the same value)."""
        op = self._get_ops.get(rec["_ns"]) or (info.op if info is not None else None)
        if op is None:
            return
        self.spec.record_fill(op)(rec, rec["id"])

    # ------------------------------------------------------------------ rendering

    def render(self, rec: Record) -> Any:
        """A record as its namespace's `get` operation shows it (plain JSON)."""
        op = self._get_ops.get(rec["_ns"])
        if op is None:
            return plain(self._view(rec))
        return self._render_with(self._info[op.id], rec)

    def _shape(self, info: OpInfo) -> Shape | None:
        if not info.shape_done:
            info.shape = self.spec.item_shape(info.op)
            info.shape_done = True
        return info.shape

    def _render_with(self, info: OpInfo, rec: Record) -> Any:
        view = self._view(rec)
        shape = self._shape(info)
        if shape is None:
            return plain(view)
        out = shape(view)
        return plain(view) if out is OMIT else out

    def _view(self, rec: Record) -> Record:
        """The record plus the fields computed from other records (families override)."""
        return rec

    def _public(self, ns: str, rid: int) -> str:
        return make_public_id(ns, rid, self._salt)

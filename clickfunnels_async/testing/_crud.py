"""Generic stateful CRUD over every resource family, driven by the operation row and the spec.

One method per kind of operation (see `_base.operation_kind`); none knows a path or a namespace except
through the tables in `_rules`. Request bodies are checked against the spec's request schema (`_validate`),
answers are shaped by its response schema (`_schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from clickfunnels_async.testing._actions import Actions
from clickfunnels_async.testing._base import OpInfo
from clickfunnels_async.testing._reply import NOT_FOUND, Reply, decode, error, invalid
from clickfunnels_async.testing._reply import now as _now
from clickfunnels_async.testing._rules import REFERENCES, UNIQUE, UPSERT_KEYS
from clickfunnels_async.testing._store import Record, Store, walk

__all__ = ["PAGE_SIZE", "Crud"]

PAGE_SIZE: Final = 20

_REFERENCES_OF: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    owner: tuple((name, target) for (o, name), target in REFERENCES.items() if o == owner)
    for owner, _ in REFERENCES
}


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    return 0 if value else None  # Rails casts junk to 0: the list starts from the beginning


class Crud(Actions):
    """list / get / create / update / delete / upsert / singletons for every operation (actions: `_actions`)."""

    def _serve(
        self, info: OpInfo, params: dict[str, str], query: str, body: bytes, origin: str, path: str
    ) -> Reply:
        kind = info.kind
        if kind == "list":
            return self._list(
                info,
                params,
                parse_qsl(query, keep_blank_values=True) if query else [],
                origin,
                path,
            )
        if kind == "get":
            rec = self._store(info.store).get(params.get("id", ""))
            if rec is None:
                return error(404, NOT_FOUND)
            return Reply(200, self._render_with(info, rec))
        if kind == "me":
            return Reply(200, self._render_with(info, self._me_view()))
        if kind == "singleton":
            rec = self._singleton(info, params)
            return (
                error(404, NOT_FOUND) if rec is None else Reply(200, self._render_with(info, rec))
            )
        # As Rails' before_action: the record and its parent are looked up before the body is read.
        if (
            "id" in params
            and kind in ("update", "delete", "action")
            and self._store(info.store).get(params["id"]) is None
        ):
            return error(404, NOT_FOUND)
        anc = self._parent(info, params)  # the ancestry a created record gets
        if anc is None:
            return error(404, NOT_FOUND)
        payload = self._payload(info, body)
        if isinstance(payload, Reply):
            return payload
        if kind == "create":
            return self._create(info, params, payload, anc)
        if kind == "update":
            return self._update(info, params, payload)
        if kind == "delete":
            return self._delete(info, params)
        if kind == "upsert":
            return self._upsert(info, params, payload, anc)
        if kind == "singleton_update":
            return self._singleton_update(info, params, payload)
        if kind == "compute":
            return self._compute(info, params, payload)
        return self._action(info, params, payload)

    # ------------------------------------------------------------------ request bodies

    def _payload(self, info: OpInfo, body: bytes) -> dict[str, Any] | Reply:
        op = info.op
        if not op.has_body:
            return {}
        data: Any = {}
        if body and not body.isspace():
            try:
                data = decode(body)
            except ValueError:
                return error(400, "There was a problem in the JSON you submitted")
        strict = info.kind in ("create", "update", "upsert", "singleton_update")
        # An empty wrapper object ({"contact": {}}) gets past the wrapper check and fails validation (422).
        if op.body_key:
            inner = data.get(op.body_key) if isinstance(data, dict) else None
            if not isinstance(inner, dict):
                if not strict and not data:
                    data = {}  # the wrapper is optional where the body is
                else:
                    return error(400, f"param is missing or the value is empty: {op.body_key}")
            else:
                data = inner
        elif not isinstance(data, dict):
            return error(400, "the request body must be a JSON object")
        check = self.spec.body_check(op)
        if check is None:
            return dict(data)
        cleaned, errors, dropped = check(data)
        for name in dropped:
            self.ignored_fields.append((op.id, name))
        if errors:
            refused = invalid(errors)
            if not self.spec.documents(op, 422) and self.spec.documents(op, 400):
                refused.status = (
                    400  # Rails' params.require: a route that documents no 422 answers 400
                )
            return refused
        return dict(cleaned)

    def _references_missing(self, ns: str, fields: Mapping[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name, target in _REFERENCES_OF.get(ns, ()):
            ref = fields.get(name)
            if ref is not None and (
                isinstance(ref, bool)
                or not isinstance(ref, int | str)
                or self._store(target).get(ref) is None
            ):
                errors.setdefault(name, []).append("must exist")
        return errors

    # ------------------------------------------------------------------ parents

    def _parent(self, info: OpInfo, params: Mapping[str, str]) -> dict[str, int] | None:
        """The ancestry a record under this route gets; None when the parent does not exist (404)."""
        if info.parent_param is None:
            return {}
        assert info.parent_store is not None
        ref = params.get(info.parent_param, "")
        store = self._store(info.parent_store)
        parent = store.get(ref)
        if parent is None:
            if (
                store.name in self._creatable
                or store.by_id
                or not (ref.isascii() and ref.isdigit())
            ):
                return None
            # A parent the API offers no way to create (an order's line item): taken on trust.
            return {info.parent_param: int(ref)}
        anc = dict(parent["_anc"])
        anc[info.parent_param] = parent["id"]
        if info.parent_store == "workspaces":
            anc["workspace_id"] = parent["id"]
        return anc

    # ------------------------------------------------------------------ list

    def _list(
        self,
        info: OpInfo,
        params: Mapping[str, str],
        pairs: list[tuple[str, str]],
        origin: str,
        path: str,
    ) -> Reply:
        op = info.op
        store = self._store(info.store)
        scope: tuple[str, int] | None = None
        if info.parent_param is not None:
            anc = self._parent(info, params)
            if anc is None:
                return error(404, NOT_FOUND)
            scope = (info.parent_param, anc[info.parent_param])

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
                    return error(400, f"found unpermitted parameter: {name}")
                filters.setdefault(name, []).extend(
                    v.strip() for v in value.split(",") if v.strip()
                )
            elif key.startswith("filter[") or key == "filter":
                return error(400, f"found unpermitted parameter: {key}")

        candidates: list[int] | None = None
        if "id" in filters:
            candidates = self._resolve_ids(store, filters.pop("id"), scope)
        elif (
            "email_address" in filters
            and "email_address" in UNIQUE.get(store.name, ())
            and scope is not None
        ):
            candidates = sorted(
                rec["id"]
                for v in filters.pop("email_address")
                if (rec := store.lookup_unique((scope[0], scope[1], "email_address"), v))
                is not None
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

    def _ordered(
        self,
        store: Store,
        scope: tuple[str, int] | None,
        prop: str,
        candidates: list[int] | None,
        after: int | None,
        descending: bool,
    ) -> Iterator[int]:
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

    def _create(
        self,
        info: OpInfo,
        params: Mapping[str, str],
        fields: dict[str, Any],
        anc: dict[str, int],
    ) -> Reply:
        ns = info.store
        errors = self._references_missing(ns, fields)
        if errors:
            return invalid(errors)
        store = self._store(ns)
        taken = self._unique_taken(store, None, fields, self._unique_scope(store, {"_anc": anc}))
        if taken:
            return invalid(taken)
        rec, extra = self._insert(ns, fields, anc, _now(), info)
        self._emit(ns, "created", rec)
        out = self._render_with(info, rec)
        if isinstance(out, dict):
            out.update(extra)
        return Reply(info.op.success[0] if info.op.success else 201, out)

    def _update(self, info: OpInfo, params: Mapping[str, str], fields: dict[str, Any]) -> Reply:
        store = self._store(info.store)
        rec = store.get(params.get("id", ""))
        if rec is None:
            return error(404, NOT_FOUND)
        errors = self._references_missing(store.name, fields)
        errors.update(self._unique_taken(store, rec, fields, self._unique_scope(store, rec)))
        if errors:
            return invalid(errors)
        self._apply(store, rec, fields, merge_empty=True)
        self._emit(store.name, "updated", rec)
        return Reply(200, self._render_with(info, rec))

    def _delete(self, info: OpInfo, params: Mapping[str, str]) -> Reply:
        store = self._store(info.store)
        rec = store.get(params.get("id", ""))
        if rec is None:
            return error(404, NOT_FOUND)
        self._remove(store, rec)
        self._emit(store.name, "deleted", rec)
        if info.op.success and info.op.success[0] != 204:
            return Reply(info.op.success[0], self._render_with(info, rec))
        return Reply(204)

    def _upsert(
        self,
        info: OpInfo,
        params: Mapping[str, str],
        fields: dict[str, Any],
        anc: dict[str, int],
    ) -> Reply:
        store = self._store(info.store)
        key_field = UPSERT_KEYS.get(store.name, "email_address")
        key_value = fields.get(key_field)
        if not isinstance(key_value, str) or not key_value.strip():
            return invalid({key_field: ["can't be blank"]})  # nothing to match by
        errors = self._references_missing(store.name, fields)
        if errors:
            return invalid(errors)
        scope = self._unique_scope(store, {"_anc": anc})
        key = (scope[0], scope[1], key_field) if scope else ("", 0, key_field)
        existing = store.lookup_unique(key, key_value)
        if existing is None:
            rec, _ = self._insert(store.name, fields, anc, _now(), info)
            self._emit(store.name, "created", rec)
            return Reply(201, self._render_with(info, rec))
        self._apply(store, existing, fields, merge_empty=False)
        self._emit(store.name, "updated", existing)
        return Reply(200, self._render_with(info, existing))

    # ------------------------------------------------------------------ singletons and computed answers

    def _singleton(self, info: OpInfo, params: Mapping[str, str]) -> Record | None:
        """The one record of this kind under the parent (stats, settings, site), made on first use."""
        anc = self._parent(info, params)
        if anc is None:
            return None
        store = self._store(info.store)
        scope = (info.parent_param, anc[info.parent_param]) if info.parent_param else None
        ids = store.scope_ids(scope)
        if ids:
            return store.by_id[ids[0]]
        rec, _ = self._insert(store.name, {}, anc, _now(), info)
        return rec

    def _singleton_update(
        self, info: OpInfo, params: Mapping[str, str], fields: dict[str, Any]
    ) -> Reply:
        rec = self._singleton(info, params)
        if rec is None:
            return error(404, NOT_FOUND)
        self._apply(self._store(info.store), rec, fields, merge_empty=True)
        return Reply(info.op.success[0] if info.op.success else 200, self._render_with(info, rec))

    def _compute(self, info: OpInfo, params: Mapping[str, str], fields: dict[str, Any]) -> Reply:
        if self._parent(info, params) is None:
            return error(404, NOT_FOUND)
        rec: Record = {**fields, "id": 1, "_ns": info.store, "_anc": {}}
        self._fill(info, rec)
        status = info.op.success[0] if info.op.success else 200
        return Reply(204) if status == 204 else Reply(status, self._render_with(info, rec))

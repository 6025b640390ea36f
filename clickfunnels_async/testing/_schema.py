"""The bundled spec as the emulator reads it, by operation, and the route table.

Nothing here knows a single path. Routes come from the operation table (`OPERATIONS`), schemas from the
bundled spec (`clickfunnels_async/_generated/openapi.json`). Everything an operation needs per request is
compiled on its first request and kept (shared by every fake on the same spec): its response shape
(`_shapes`), its request check (`_validate`) and the fill of a new record's required fields (`_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from clickfunnels_async._operation_row import Operation
from clickfunnels_async._spec_refs import bundled_spec
from clickfunnels_async._spec_refs import resolve as resolve_ref
from clickfunnels_async.testing._shapes import OMIT, Shape, ShapeCompiler
from clickfunnels_async.testing._validate import BodyCheck, compile_body_check
from clickfunnels_async.testing._values import Examples, compile_fill

RecordFill = Callable[[dict[str, Any], int], None]  # (record, index): required fields it lacks

__all__ = [
    "OMIT",
    "RecordFill",
    "Route",
    "Router",
    "Shape",
    "SpecIndex",
    "default_index",
    "load_operations",
    "load_spec",
]


# The one place the emulator finds the bundled spec and the operation table.
def load_spec() -> dict[str, Any]:
    return bundled_spec()


@cache
def default_index() -> SpecIndex:
    """The compiled bundled spec, shared by every fake (shapes and checks are pure functions of it)."""
    return SpecIndex(load_spec())


def load_operations() -> Mapping[str, Operation]:
    from clickfunnels_async._generated.operation_table import OPERATIONS

    return OPERATIONS


class SpecIndex(ShapeCompiler):
    """The bundled spec by operation: schemas, compiled response shapes, request checks, record fills."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self._by_ref: dict[str, Shape] = {}
        self._op_shapes: dict[str, Shape | None] = {}
        self._op_schemas: dict[str, dict[str, Any] | None] = {}
        self._body_checks: dict[str, BodyCheck | None] = {}
        self._item_schemas: dict[str, dict[str, Any] | None] = {}
        self._fills: dict[str, RecordFill] = {}
        self.examples = Examples(self.resolve)

    # ------------------------------------------------------------------ lookup

    def resolve(self, node: Any) -> Any:
        return resolve_ref(self.doc, node)

    def operation(self, op: Operation) -> dict[str, Any] | None:
        item = self.doc.get("paths", {}).get(op.path, {})
        found = item.get(op.method.lower())
        return found if isinstance(found, dict) else None

    def documents(self, op: Operation, status: int) -> bool:
        """Whether the spec lists `status` among the operation's responses."""
        return str(status) in ((self.operation(op) or {}).get("responses") or {})

    def response_schema(self, op: Operation, status: int | None = None) -> dict[str, Any] | None:
        """The JSON schema of the success response body (``None`` when the operation has no body)."""
        key = f"{op.id}:{status}"
        if key in self._op_schemas:
            return self._op_schemas[key]
        schema: dict[str, Any] | None = None
        spec_op = self.operation(op)
        if spec_op is not None:
            responses = spec_op.get("responses", {})
            codes = [str(status)] if status is not None else [str(c) for c in op.success]
            codes += [c for c in responses if c.startswith("2") and c not in codes]
            for code in codes:
                response = self.resolve(responses.get(code))
                if not isinstance(response, dict):
                    continue
                content = response.get("content") or {}
                media = content.get("application/json") or next(iter(content.values()), None)
                if isinstance(media, dict) and "schema" in media:
                    schema = media["schema"]
                    break
        self._op_schemas[key] = schema
        return schema

    def item_schema(self, op: Operation) -> dict[str, Any] | None:
        """The resolved schema of one record as `op` returns it (the items, for a list)."""
        if op.id in self._item_schemas:
            return self._item_schemas[op.id]
        schema = self._item_schema(op)
        self._item_schemas[op.id] = schema
        return schema

    def _item_schema(self, op: Operation) -> dict[str, Any] | None:
        schema = self.resolve(self.response_schema(op))
        if isinstance(schema, dict) and self._types(schema) == ["array"] and "items" in schema:
            schema = self.resolve(schema["items"])
        if isinstance(schema, dict) and "allOf" in schema:
            schema = self._merge_all_of(schema)
        return schema if isinstance(schema, dict) else None

    def record_fill(self, op: Operation) -> RecordFill:
        """``fill(record, index)`` for the records `op` returns: every required field of its schema the
        record lacks gets null where the schema allows it, else a realistic example value."""
        fill = self._fills.get(op.id)
        if fill is None:
            schema = self.item_schema(op)
            props = (schema or {}).get("properties") or {}
            plan = (
                tuple(
                    (name, self._nullable(props[name]), make)
                    for name, make, _ in self.examples.object_plan(schema)
                )
                if schema
                else ()
            )
            fill = self._fills[op.id] = compile_fill(plan)
        return fill

    def request_schema(self, op: Operation) -> Any:
        """The schema of the request body's record: the wrapper's inner object, or the flat body."""
        spec_op = self.operation(op)
        body = self.resolve((spec_op or {}).get("requestBody"))
        content = (body or {}).get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        schema = self.resolve((media or {}).get("schema"))
        if op.body_key and isinstance(schema, dict):
            if "allOf" in schema:
                schema = self._merge_all_of(schema)
            inner = (schema.get("properties") or {}).get(op.body_key)
            return inner if inner is not None else {}
        return schema if schema is not None else {}

    def body_check(self, op: Operation) -> BodyCheck | None:
        """The compiled request check of `op` (None: no body schema, anything goes)."""
        if op.id not in self._body_checks:
            schema = self.request_schema(op)
            self._body_checks[op.id] = (
                compile_body_check(schema, self.doc, self.resolve) if schema else None
            )
        return self._body_checks[op.id]

    def item_shape(self, op: Operation) -> Shape | None:
        """The shape of one record as `op` returns it (the items, for a list)."""
        if op.id in self._op_shapes:
            return self._op_shapes[op.id]
        schema = self.response_schema(op)
        shape: Shape | None = None
        if schema is not None:
            resolved = self.resolve(schema)
            if (
                isinstance(resolved, dict)
                and self._types(resolved) == ["array"]
                and "items" in resolved
            ):
                schema = resolved["items"]
            shape = self.compile(schema)
        self._op_shapes[op.id] = shape
        return shape


# ---------------------------------------------------------------------------------------------- routing


class Route:
    __slots__ = ("op", "param_at", "static", "static_count")

    def __init__(self, op: Operation) -> None:
        self.op = op
        segments = op.path.strip("/").split("/")
        self.static: tuple[str | None, ...] = tuple(
            None if s.startswith("{") and s.endswith("}") else s for s in segments
        )
        self.param_at: tuple[tuple[int, str], ...] = tuple(
            (i, s[1:-1]) for i, s in enumerate(segments) if s.startswith("{") and s.endswith("}")
        )
        self.static_count = sum(1 for s in self.static if s is not None)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        for want, got in zip(self.static, segments, strict=True):
            if want is not None and want != got:
                return None
        params = {}
        for i, name in self.param_at:
            if not segments[i]:
                return None
            params[name] = segments[i]
        return params


class Router:
    """Finds the operation for a method and path; the most specific template (most literal segments) wins."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self._table: dict[tuple[str, int], list[Route]] = {}
        self._cache: dict[tuple[str, str], tuple[Operation, dict[str, str]]] = {}
        self.operations = list(operations)
        for op in self.operations:
            route = Route(op)
            self._table.setdefault((op.method.upper(), len(route.static)), []).append(route)
        for routes in self._table.values():
            routes.sort(key=lambda r: -r.static_count)

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        # Bulk jobs hit the same few paths over and over (upsert, one list): remember recent answers.
        key = (method, path)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[0], dict(hit[1])
        segments = path.strip("/").split("/")
        for route in self._table.get((method, len(segments)), ()):
            params = route.match(segments)
            if params is not None:
                if len(self._cache) >= 4096:
                    self._cache.clear()
                self._cache[key] = (route.op, params)
                return route.op, dict(params)
        return None

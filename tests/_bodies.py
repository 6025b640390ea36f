"""Minimal valid request bodies from the bundled spec, written for the tests (independent of the fake's own
example generator): the fields a schema requires, each with the smallest value it accepts."""

from __future__ import annotations

from typing import Any

from clickfunnels_async._operation_row import Operation
from clickfunnels_async.testing._schema import load_spec


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = load_spec()
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def body_schema(op: Operation) -> dict[str, Any]:
    spec_op = load_spec()["paths"][op.path][op.method.lower()]
    schema = resolve(
        ((resolve(spec_op.get("requestBody")) or {}).get("content") or {})
        .get("application/json", {})
        .get("schema")
    )
    if op.body_key and isinstance(schema, dict):
        schema = resolve((schema.get("properties") or {}).get(op.body_key, {}))
    return schema if isinstance(schema, dict) else {}


def minimal(schema: Any, name: str) -> Any:
    """The smallest value a schema accepts (written for this test, independent of the fake's generator)."""
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return "x"
    if schema.get("enum"):
        return next(v for v in schema["enum"] if v is not None)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return minimal(next(b for b in schema[key] if resolve(b).get("type") != "null"), name)
    types = schema.get("type") or ("object" if "properties" in schema else "string")
    kind = next(t for t in ([types] if isinstance(types, str) else types) if t != "null")
    if kind == "object":
        return {
            k: minimal(v, k)
            for k, v in (schema.get("properties") or {}).items()
            if k in (schema.get("required") or ())
        }
    if kind == "array":
        # required: Rails calls an empty list blank
        return [
            minimal(schema.get("items", {}), name) for _ in range(max(1, schema.get("minItems", 0)))
        ]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    formats = {
        "date-time": "2030-01-01T00:00:00Z",
        "date": "2030-01-01",
        "email": "a@example.com",
        "uri": "https://example.com/a",
    }
    return formats.get(
        schema.get("format", ""), "https://example.com/a" if name.endswith("url") else "x"
    )

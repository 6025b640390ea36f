"""Complete JSON records for hand-made server answers in tests.

The spec requires every documented field of a response record (as the real API sends them), so a stub answer
of `{"id": 1}` is not a valid contact. `record("Contact", id=1)` is: each required field gets a minimal value
of its type (null where the spec allows it), then the overrides are applied.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def _schemas() -> dict[str, Any]:
    text = (
        resources.files("clickfunnels_async._generated").joinpath("openapi.json").read_text("utf-8")
    )
    schemas: dict[str, Any] = json.loads(text)["components"]["schemas"]
    return schemas


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _schemas()[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _value(schema: Any, depth: int) -> Any:
    schema = _resolve(schema)
    if not isinstance(schema, dict) or depth > 6:
        return None
    for key in ("oneOf", "anyOf"):
        if key in schema:
            if any(_resolve(s).get("type") == "null" for s in schema[key]):
                return None
            return _value(schema[key][0], depth)
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "null" in types:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    t = types[0]
    if t == "string":
        return "2026-01-01T00:00:00Z" if schema.get("format") == "date-time" else ""
    if t in ("integer", "number"):
        return 0
    if t == "boolean":
        return False
    if t == "array":
        return []
    if t == "object":
        return _fill(schema, depth + 1)
    return None


def _fill(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    props = schema.get("properties") or {}
    return {name: _value(props.get(name, {}), depth) for name in schema.get("required") or ()}


def record(model: str, **overrides: Any) -> dict[str, Any]:
    """A JSON object that is a valid `model` answer, with `overrides` on top."""
    return {**_fill(_schemas()[model], 0), **overrides}


def contact_json(**overrides: Any) -> dict[str, Any]:
    return record("Contact", **overrides)

"""Realistic example values for any JSON schema: what the fake puts in a required field nobody set.

Generic over JSON Schema (objects, arrays, ``$ref``, ``allOf``, ``oneOf``/``anyOf``, ``type: [x, "null"]``,
enums, ``const``, formats ``date-time``/``date``/``email``/``uri``); the field name only picks a more
lifelike value of the type the schema asks for (an ``*_amount`` string looks like money, ``currency`` like a
currency code). Every value produced validates against its schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Examples"]

_EPOCH = "2024-01-01T00:00:00.000Z"

_NAMED_STRINGS: tuple[tuple[Callable[[str], bool], Callable[[str, int], str]], ...] = (
    (lambda n: n == "public_id" or n.endswith("_public_id"), lambda n, i: f"pub{i:06d}"),
    (lambda n: "email" in n, lambda n, i: f"person{i}@example.com"),
    (lambda n: n == "currency" or n.endswith("_currency"), lambda n, i: "USD"),
    (lambda n: n.endswith("_at") or n in ("from", "to"), lambda n, i: _EPOCH),
    (
        lambda n: (
            n.endswith("amount")
            or n in ("price", "total", "subtotal", "value")
            or n.endswith("_value")
        ),
        lambda n, i: "19.00",
    ),
    (
        lambda n: n.endswith("url") or n.endswith("_path") or n == "path",
        lambda n, i: f"https://example.com/{i}",
    ),
    (lambda n: n in ("time_zone", "timezone"), lambda n, i: "Pacific Time (US & Canada)"),
    (lambda n: n == "locale", lambda n, i: "en"),
    (
        lambda n: n == "uuid" or n.endswith("_uuid"),
        lambda n, i: f"00000000-0000-4000-a000-{i:012d}",
    ),
    (lambda n: n in ("color", "colour"), lambda n, i: "#2563eb"),
    (lambda n: n == "country" or n.endswith("country_code"), lambda n, i: "US"),
)


def _string(name: str, fmt: str | None, index: int) -> str:
    if fmt == "date-time":
        return _EPOCH
    if fmt == "date":
        return _EPOCH[:10]
    if fmt == "email":
        return f"person{index}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{index}"
    if fmt == "uuid":
        return f"00000000-0000-4000-a000-{index:012d}"
    for test, make in _NAMED_STRINGS:
        if test(name):
            return make(name, index)
    words = name.replace("_", " ").strip() or "value"
    return f"{words[:1].upper()}{words[1:]} {index}"


class Examples:
    """Example values for the schemas of one spec (``$ref`` resolved through `resolve`)."""

    def __init__(self, resolve: Callable[[Any], Any]) -> None:
        self._resolve = resolve

    def value(
        self, schema: Any, name: str = "", index: int = 1, *, depth: int = 0, full: bool = False
    ) -> Any:
        """A value valid against `schema`: null only when nothing else is allowed. `full` also fills the
        optional properties of objects (one level), else only the required ones."""
        schema = self._resolve(schema)
        if not isinstance(schema, Mapping) or depth > 6:
            return None if depth > 6 else {}
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if enum:
            return next((v for v in enum if v is not None), enum[0])
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                sub = self.value(part, name, index, depth=depth + 1, full=full)
                if isinstance(sub, dict):
                    merged.update(sub)
                elif not merged:
                    return sub
            return merged
        for key in ("oneOf", "anyOf"):
            if key in schema:
                branches = [self._resolve(b) for b in schema[key]]
                concrete = [
                    b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")
                ]
                if concrete:
                    return self.value(concrete[0], name, index, depth=depth + 1, full=full)
                return None
        types = schema.get("type")
        if isinstance(types, str):
            types = [types]
        if not types:
            types = (
                ["object"]
                if "properties" in schema
                else (["array"] if "items" in schema else ["string"])
            )
        kind = next((t for t in types if t != "null"), "null")
        if kind == "null":
            return None
        if kind == "string":
            return _string(name, schema.get("format"), index)
        if kind == "integer":
            minimum = schema.get("minimum")
            return max(index, int(minimum)) if isinstance(minimum, int | float) else index
        if kind == "number":
            minimum = schema.get("minimum")
            return (
                max(float(index), float(minimum))
                if isinstance(minimum, int | float)
                else float(index)
            )
        if kind == "boolean":
            return False
        if kind == "array":
            items = schema.get("items")
            minimum = schema.get("minItems") or 0
            return (
                [self.value(items, name, index + n, depth=depth + 1) for n in range(int(minimum))]
                if items
                else []
            )
        return self.object(schema, index, depth=depth, full=full)

    def object(
        self,
        schema: Mapping[str, Any],
        index: int = 1,
        *,
        depth: int = 0,
        full: bool = False,
        present: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The required (or, with `full`, all) properties of an object schema that `present` lacks."""
        props = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for prop, sub in props.items():
            if present is not None and present.get(prop) is not None:
                continue
            if prop in required:
                out[prop] = self.value(sub, prop, index, depth=depth + 1)
            elif full:
                value = self.value(sub, prop, index, depth=depth + 5)  # optional: shallow
                if value is not None:
                    out[prop] = value
        return out

"""Request bodies checked against the spec's request schema, answered the way Rails answers them.

- A field the schema does not list is dropped (Rails' permitted parameters) and reported, so the fake can
  record it (`FakeClickFunnels.ignored_fields`). Objects without listed properties keep every key.
- A required field missing, null or empty -> ``can't be blank``; a wrong type -> ``is invalid``; a value
  outside the enum -> ``is not included in the list``. Nested fields are named by their dotted path
  (``line_items.quantity``), as Rails names nested attributes.

The checking is done by well-kept validators, compiled once per schema: `fastjsonschema` (generated Python
code) decides whether a body is valid, in a few microseconds; only a body it refuses goes through
`jsonschema`, which lists every error (Rails reports them all). This module only drops unknown keys and turns
the validator's errors into the Rails hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["BodyCheck", "compile_body_check"]

Errors = dict[str, list[str]]
# (cleaned body, field errors, names of the fields that were dropped)
BodyCheck = Callable[[Any], tuple[Any, Errors, list[str]]]

_BLANK = "can't be blank"


def _merged(schema: Any, resolve: Callable[[Any], Any]) -> Any:
    """An object schema with its ``allOf`` parts folded in (properties and required lists)."""
    schema = resolve(schema)
    if not isinstance(schema, Mapping) or "allOf" not in schema:
        return schema
    props: dict[str, Any] = dict(schema.get("properties") or {})
    required: list[str] = list(schema.get("required") or ())
    for part in schema["allOf"]:
        part = _merged(part, resolve)
        if isinstance(part, Mapping):
            props.update(part.get("properties") or {})
            required += list(part.get("required") or ())
    return {
        **{k: v for k, v in schema.items() if k != "allOf"},
        "properties": props,
        "required": required,
    }


def _strip(
    value: Any,
    schema: Any,
    merged: Callable[[Any], Any],
    path: str,
    dropped: list[str],
    errors: Errors,
) -> Any:
    schema = merged(schema)
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, list):
        items = schema.get("items")
        if items is None:
            return value
        return [
            _strip(v, items, merged, path, dropped, errors) if isinstance(v, dict | list) else v
            for v in value
        ]
    if not isinstance(value, dict):
        return value
    props = schema.get("properties")
    if not props:
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in props:
            dropped.append(f"{path}.{key}" if path else str(key))
        elif isinstance(item, dict | list):
            out[key] = _strip(
                item, props[key], merged, f"{path}.{key}" if path else key, dropped, errors
            )
        else:
            out[key] = item
    for key in schema.get("required") or ():
        item = out.get(key)
        if item is None or item == "" or item == []:
            errors.setdefault(f"{path}.{key}" if path else key, []).append(_BLANK)
    return out


def _message(error: Any) -> list[tuple[str, str]]:
    parts = [str(p) for p in error.absolute_path if isinstance(p, str)]
    if error.validator == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        return [
            (".".join([*parts, str(f)]), _BLANK) for f in error.validator_value if f not in present
        ]
    field = ".".join(parts) or "base"
    if error.validator == "enum":
        return [(field, "is not included in the list")]
    return [(field, "is invalid")]


def _reachable(schema: Any, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``doc["components"]`` that `schema` refers to, directly or not."""
    out: dict[str, dict[str, Any]] = {}
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                _, _, section, name = ref.split("/", 3)
                if name not in out.setdefault(section, {}):
                    target = doc.get("components", {}).get(section, {}).get(name, {})
                    out[section][name] = target
                    todo.append(target)
            todo.extend(v for k, v in node.items() if k != "$ref")
    return out


def compile_body_check(
    schema: Any, doc: Mapping[str, Any], resolve: Callable[[Any], Any]
) -> BodyCheck:
    """The check for one request body schema (the wrapper's inner object for wrapped bodies)."""
    import fastjsonschema

    resolved = resolve(schema)
    root = dict(resolved) if isinstance(resolved, Mapping) else {}
    # Local references (#/components/...) resolve against the root: carry the components it reaches along.
    root["components"] = _reachable(root, doc)
    # The spec is OpenAPI 3.1 (JSON Schema 2020-12); the keywords it uses mean the same in draft 7.
    fast = fastjsonschema.compile(
        {**root, "$schema": "http://json-schema.org/draft-07/schema#"}, use_formats=False
    )
    full: list[Any] = []  # jsonschema's validator, imported and built on the first refused body
    # The schema's nodes with their `allOf` folded in, by node: each is folded once, not once per body.
    folded: dict[int, tuple[Any, Any]] = {}

    def merged(node: Any) -> Any:
        hit = folded.get(id(node))
        if hit is None or hit[0] is not node:
            hit = folded[id(node)] = (node, _merged(node, resolve))
        return hit[1]

    def check(body: Any) -> tuple[Any, Errors, list[str]]:
        dropped: list[str] = []
        errors: Errors = {}
        cleaned = _strip(body, schema, merged, "", dropped, errors)
        try:
            fast(cleaned)
        except fastjsonschema.JsonSchemaException:
            pass
        else:
            return cleaned, errors, dropped
        if not full:
            from jsonschema import Draft202012Validator

            full.append(Draft202012Validator(root))
        for error in full[0].iter_errors(cleaned):
            for field, message in _message(error):
                messages = errors.setdefault(field, [])
                if message not in messages and not (message == "is invalid" and _BLANK in messages):
                    messages.append(message)
        return cleaned, errors, dropped

    return check

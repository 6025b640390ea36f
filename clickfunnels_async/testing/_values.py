"""Realistic example values for any JSON schema: what the fake puts in a required field nobody set.

Generic over JSON Schema (objects, arrays, ``$ref``, ``allOf``, ``oneOf``/``anyOf``, ``type: [x, "null"]``,
enums, ``const``, formats ``date-time``/``date``/``email``/``uri``); the field name only picks a more
lifelike value of the type the schema asks for (an ``*_amount`` string looks like money, ``currency`` like a
currency code). Every value produced validates against its schema.

A new record's required fields are filled on every create, so this is on the emulator's hot path: each schema
is compiled once into a *maker* (the record's index -> a value), objects into one generated function each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Examples", "FillPlan", "Maker", "ObjectPlan", "compile_fill"]

Maker = Callable[[int], Any]  # a record's index -> an example value
ObjectPlan = tuple[tuple[str, Maker, bool], ...]  # (property, maker, required)
FillPlan = tuple[tuple[str, bool, Maker], ...]  # (required field, nullable, maker)

_EPOCH = "2024-01-01T00:00:00.000Z"


class _Constant:
    """A maker whose value does not depend on the index (generated code inlines it)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, index: int) -> Any:
        return self.value


class _Text:
    """``prefix + format(index, spec) + suffix``: the strings that carry the record's index."""

    __slots__ = ("prefix", "spec", "suffix")

    def __init__(self, prefix: str, spec: str = "", suffix: str = "") -> None:
        if not re.fullmatch(r"[0-9a-z]*", spec):
            raise ValueError(f"unexpected format spec {spec!r}")  # it goes into generated source
        self.prefix, self.spec, self.suffix = prefix, spec, suffix

    def __call__(self, index: int) -> str:
        return f"{self.prefix}{index:{self.spec}}{self.suffix}"


class _Index:
    """The index itself (an integer field)."""

    __slots__ = ()

    def __call__(self, index: int) -> int:
        return index


_NONE = _Constant(None)
_INDEX = _Index()
_EMAIL = _Text("person", "", "@example.com")
_URL = _Text("https://example.com/")
_UUID = _Text("00000000-0000-4000-a000-", "012d")

_NAMED_STRINGS: tuple[tuple[Callable[[str], bool], Maker], ...] = (
    (lambda n: n == "public_id" or n.endswith("_public_id"), _Text("pub", "06d")),
    (lambda n: "email" in n, _EMAIL),
    (lambda n: n == "currency" or n.endswith("_currency"), _Constant("USD")),
    (lambda n: n.endswith("_at") or n in ("from", "to"), _Constant(_EPOCH)),
    (
        lambda n: (
            n.endswith("amount")
            or n in ("price", "total", "subtotal", "value")
            or n.endswith("_value")
        ),
        _Constant("19.00"),
    ),
    (lambda n: n.endswith("url") or n.endswith("_path") or n == "path", _URL),
    (lambda n: n in ("time_zone", "timezone"), _Constant("Pacific Time (US & Canada)")),
    (lambda n: n == "locale", _Constant("en")),
    (lambda n: n == "uuid" or n.endswith("_uuid"), _UUID),
    (lambda n: n in ("color", "colour"), _Constant("#2563eb")),
    (lambda n: n == "country" or n.endswith("country_code"), _Constant("US")),
)

_FORMATS: dict[str, Maker] = {
    "date-time": _Constant(_EPOCH),
    "date": _Constant(_EPOCH[:10]),
    "email": _EMAIL,
    "uri": _URL,
    "url": _URL,
    "uuid": _UUID,
}


def _string_maker(name: str, fmt: str | None) -> Maker:
    """How a string for field `name` with format `fmt` is made from the record's index."""
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    for test, make in _NAMED_STRINGS:
        if test(name):
            return make
    words = name.replace("_", " ").strip() or "value"
    return _Text(f"{words[:1].upper()}{words[1:]} ")


def _inline(
    make: Maker, n: int, namespace: dict[str, Any], texts: dict[str, str] | None = None
) -> str:
    """A Python expression (of ``i``) for `make` in generated code; its values go into `namespace`. With
    `texts`, the index as text is a local named there (format spec -> local, made once at the top)."""
    if isinstance(make, _Constant):
        namespace[f"K{n}"] = make.value
        return f"K{n}"
    if isinstance(make, _Index):
        return "i"
    if isinstance(make, _Text):
        if texts is None:
            namespace[f"P{n}"], namespace[f"S{n}"] = make.prefix, make.suffix
            return f'f"{{P{n}}}{{i:{make.spec}}}{{S{n}}}"'
        parts = [texts.setdefault(make.spec, f"t{len(texts)}")]
        if make.prefix:
            namespace[f"P{n}"] = make.prefix
            parts.insert(0, f"P{n}")
        if make.suffix:
            namespace[f"S{n}"] = make.suffix
            parts.append(f"S{n}")
        return " + ".join(parts)
    namespace[f"M{n}"] = make
    return f"M{n}(i)"


def _texts(texts: dict[str, str]) -> list[str]:
    return [f'    {local} = f"{{i:{spec}}}"' for spec, local in texts.items()]


def _generated(lines: list[str], namespace: dict[str, Any], label: str) -> Any:
    exec(compile("\n".join(lines), f"<emulator {label}>", "exec"), namespace)
    return namespace["make"]


def _object_maker(plan: ObjectPlan) -> Maker:
    """The maker of an object: ``def make(i): return {...}``, same result as looping over `plan`.

    Property names go into the source as string literals (`repr` of a str); values as names bound in the
    namespace, or as f-strings of those names and ``i``.
    """
    namespace: dict[str, Any] = {}
    texts: dict[str, str] = {}
    fields: list[tuple[str, str, bool]] = []  # (key literal, expression, kept only when not None)
    for n, (prop, make, required) in enumerate(plan):
        if isinstance(make, _Constant) and not required and make.value is None:
            continue
        maybe = not required and not isinstance(make, _Constant | _Text | _Index)
        fields.append((repr(str(prop)), _inline(make, n, namespace, texts), maybe))
    lines = ["def make(i):", *_texts(texts)]
    if not any(maybe for _, _, maybe in fields):
        lines.append(f"    return {{{', '.join(f'{k}: {e}' for k, e, _ in fields)}}}")
    else:
        lines.append("    out = {}")
        for key, expr, maybe in fields:
            if maybe:
                lines += [f"    v = {expr}", "    if v is not None:", f"        out[{key}] = v"]
            else:
                lines.append(f"    out[{key}] = {expr}")
        lines.append("    return out")
    made: Maker = _generated(lines, namespace, "example maker")
    return made


def _copy_expr(value: Any, namespace: dict[str, Any]) -> str:
    """An expression that builds a fresh copy of the JSON value `value` (C-level copies where it can)."""
    if isinstance(value, dict | list):
        name = f"V{len(namespace)}"
        namespace[name] = value
        nested = [v for v in (value.values() if isinstance(value, dict) else value)]
        if not any(isinstance(v, dict | list) for v in nested):
            return f"{type(value).__name__}({name})"
        if isinstance(value, list):
            return f"[{', '.join(_copy_expr(v, namespace) for v in value)}]"
        return f"{{{', '.join(f'{k!r}: {_copy_expr(v, namespace)}' for k, v in value.items())}}}"
    name = f"V{len(namespace)}"
    namespace[name] = value  # an immutable scalar: shared
    return name


def _copier(value: Any) -> Maker:
    """A maker that ignores the index and returns a fresh copy of `value` each time."""
    if not isinstance(value, dict | list):
        return _Constant(value)
    namespace: dict[str, Any] = {}
    expr = _copy_expr(value, namespace)
    made: Maker = _generated(["def make(i):", f"    return {expr}"], namespace, "example copy")
    return made


def compile_fill(plan: FillPlan) -> Callable[[dict[str, Any], int], None]:
    """``fill(record, index)``: every field of `plan` the record lacks (absent or null) gets null where the
    schema allows it (an existing null stays), else the maker's value. Generated straight-line code."""
    namespace: dict[str, Any] = {}
    lines = ["def make(rec, i):", "    get = rec.get"]
    for n, (name, nullable, make) in enumerate(plan):
        key = repr(str(name))
        if nullable:
            lines += [f"    if {key} not in rec:", f"        rec[{key}] = None"]
        else:
            # Most fields are set already: the index is formatted only for the ones that are not.
            lines += [
                f"    if get({key}) is None:",
                f"        rec[{key}] = {_inline(make, n, namespace)}",
            ]
    lines.append("    return None")
    fill: Callable[[dict[str, Any], int], None] = _generated(lines, namespace, "record fill")
    return fill


class Examples:
    """Example values for the schemas of one spec (``$ref`` resolved through `resolve`).

    Every schema is compiled once into a *maker* (index -> value) with all the decisions about the schema
    taken up front: a new record's required fields are filled on every create, so this is on the emulator's
    hot path. The values are the same as deciding per call would give.
    """

    def __init__(self, resolve: Callable[[Any], Any]) -> None:
        self._resolve = resolve
        # (id of the resolved schema, name, depth, full) -> (schema kept alive, maker)
        self._makers: dict[tuple[int, str, int, bool], tuple[Any, Maker]] = {}
        self._plans: dict[tuple[int, int, bool], tuple[Any, ObjectPlan]] = {}

    def value(
        self, schema: Any, name: str = "", index: int = 1, *, depth: int = 0, full: bool = False
    ) -> Any:
        """A value valid against `schema`: null only when nothing else is allowed. `full` also fills the
        optional properties of objects (one level), else only the required ones."""
        return self.maker(schema, name, depth=depth, full=full)(index)

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
        out: dict[str, Any] = {}
        for prop, make, required in self.object_plan(schema, depth=depth, full=full):
            if present is not None and present.get(prop) is not None:
                continue
            value = make(index)
            if required or value is not None:
                out[prop] = value
        return out

    # ------------------------------------------------------------------ compiling

    def maker(self, schema: Any, name: str = "", *, depth: int = 0, full: bool = False) -> Maker:
        """The compiled `value` of `schema` for a field called `name`: index -> value."""
        resolved = self._resolve(schema)
        key = (id(resolved), name, depth, full)
        hit = self._makers.get(key)
        if hit is not None and hit[0] is resolved:
            return hit[1]
        made = self._compile(resolved, name, depth, full)
        self._makers[key] = (resolved, made)
        return made

    def object_plan(
        self, schema: Mapping[str, Any], *, depth: int = 0, full: bool = False
    ) -> ObjectPlan:
        """(property, maker, required) for the properties `object` fills, in schema order."""
        key = (id(schema), depth, full)
        hit = self._plans.get(key)
        if hit is not None and hit[0] is schema:
            return hit[1]
        props = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        plan: list[tuple[str, Maker, bool]] = []
        for prop, sub in props.items():
            if prop in required:
                plan.append((prop, self.maker(sub, prop, depth=depth + 1), True))
            elif full:
                # optional: shallow
                plan.append((prop, self.maker(sub, prop, depth=depth + 5), False))
        done = tuple(plan)
        self._plans[key] = (schema, done)
        return done

    def _compile(self, schema: Any, name: str, depth: int, full: bool) -> Maker:
        if not isinstance(schema, Mapping) or depth > 6:
            return _NONE if depth > 6 else (lambda i: {})
        if "const" in schema:
            return _Constant(schema["const"])
        enum = schema.get("enum")
        if enum:
            return _Constant(next((v for v in enum if v is not None), enum[0]))
        if "allOf" in schema:
            parts = [self.maker(p, name, depth=depth + 1, full=full) for p in schema["allOf"]]

            def all_of(i: int) -> Any:
                merged: dict[str, Any] = {}
                for part in parts:
                    sub = part(i)
                    if isinstance(sub, dict):
                        merged.update(sub)
                    elif not merged:
                        return sub
                return merged

            return all_of
        for key in ("oneOf", "anyOf"):
            if key in schema:
                branches = [self._resolve(b) for b in schema[key]]
                concrete = [
                    b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")
                ]
                if concrete:
                    return self.maker(concrete[0], name, depth=depth + 1, full=full)
                return _NONE
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
            return _NONE
        minimum = schema.get("minimum")
        if kind == "string":
            return _string_maker(name, schema.get("format"))
        if kind == "integer":
            if isinstance(minimum, int | float):
                low = int(minimum)
                return lambda i: max(i, low)
            return _INDEX
        if kind == "number":
            if isinstance(minimum, int | float):
                low_f = float(minimum)
                return lambda i: max(float(i), low_f)
            return float
        if kind == "boolean":
            return _Constant(False)
        if kind == "array":
            items = schema.get("items")
            count = int(schema.get("minItems") or 0)
            if not items or not count:
                return lambda i: []
            item = self.maker(items, name, depth=depth + 1)
            return lambda i: [item(i + n) for n in range(count)]
        made = _object_maker(self.object_plan(schema, depth=depth, full=full))
        if depth >= 1:
            # An object inside a record (a contact's visits): the same value for every record, made once and
            # copied, as a new record's 50-odd nested strings are most of what its fill would cost.
            return _copier(made(1))
        return made

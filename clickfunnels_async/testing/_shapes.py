"""Response shapes: a response schema compiled into a function that renders a record as that schema says.

A *shape* turns an internal record (a plain dict with extra private keys) into exactly the JSON the schema
promises — schema properties only, missing nullable fields as null (a missing required field gets the
schema's example value), values of a wrong type coerced when that is lossless (``7`` -> ``"7"`` for a
string id) and dropped otherwise. So the records can carry whatever the emulator needs, and the spec decides
what goes over the wire. Every answer goes through one, so objects compile to straight-line Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clickfunnels_async.testing._values import Examples

__all__ = ["OMIT", "Shape", "ShapeCompiler", "plain"]


class _Omit:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
Shape = Callable[[Any], Any]  # value -> JSON value, or OMIT when it cannot be shown

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
}


def plain(value: Any) -> Any:
    """Free-form JSON: records lose their private (underscore) keys, everything else passes."""
    if isinstance(value, dict):
        return {
            k: plain(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("_"))
        }
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class ShapeCompiler:
    """Compiles the schemas of one spec into shapes (``$ref`` targets once each, recursion allowed)."""

    examples: Examples
    _by_ref: dict[str, Shape]

    def resolve(self, node: Any) -> Any:
        raise NotImplementedError

    def _types(self, schema: Mapping[str, Any]) -> list[str]:
        t = schema.get("type")
        if isinstance(t, str):
            return [t]
        if isinstance(t, list):
            return [x for x in t if isinstance(x, str)]
        if "properties" in schema or "additionalProperties" in schema:
            return ["object"]
        if "items" in schema:
            return ["array"]
        return []

    def compile(self, schema: Any) -> Shape:
        if isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            shape = self._by_ref.get(ref)
            if shape is None:
                # Placeholder first, so recursive schemas terminate.
                holder: list[Shape] = []
                self._by_ref[ref] = lambda value: holder[0](value)
                compiled = self._compile(self.resolve(schema))
                holder.append(compiled)
                self._by_ref[ref] = compiled
                shape = compiled
            return shape
        return self._compile(schema)

    def nullable(self, schema: Any) -> bool:
        """Whether `schema` allows null."""
        return self._nullable(schema)

    def _nullable(self, schema: Any) -> bool:
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return True
        if schema.get("nullable") is True:
            return True
        if "null" in self._types(schema):
            return True
        if "enum" in schema and None in schema["enum"]:
            return True
        for key in ("oneOf", "anyOf"):
            if any(self._nullable(s) for s in schema.get(key, ())):
                return True
        if "allOf" in schema:
            return all(self._nullable(s) for s in schema["allOf"]) and bool(schema["allOf"])
        # No type and no structure at all: anything goes, null included.
        return not self._types(schema) and not any(
            k in schema for k in ("oneOf", "anyOf", "allOf", "enum", "const")
        )

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        props: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[str] = list(merged.get("required") or [])
        for part in schema["allOf"]:
            part = self.resolve(part)
            if isinstance(part, dict) and "allOf" in part:
                part = self._merge_all_of(part)
            if not isinstance(part, dict):
                continue
            props.update(part.get("properties") or {})
            required += part.get("required") or []
            for key in ("type", "additionalProperties"):
                if key in part and key not in merged:
                    merged[key] = part[key]
        merged["properties"] = props
        merged["required"] = required
        merged.setdefault("type", "object")
        return merged

    def _compile(self, schema: Any) -> Shape:
        if not isinstance(schema, dict) or not schema:
            return plain
        if "allOf" in schema:
            return self._compile(self._merge_all_of(schema))
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._union([self.resolve(s) for s in schema[key]], schema[key])
        if "const" in schema:
            const = schema["const"]
            return lambda value: const
        types = self._types(schema)
        nullable = self._nullable(schema)
        enum = schema.get("enum")
        if "object" in types and ("properties" in schema or "additionalProperties" in schema):
            return self._object(schema, nullable)
        if "array" in types:
            item = self.compile(schema.get("items", {}))
            return self._array(item, nullable)
        if not types:
            return plain
        return self._scalar(types, nullable, enum)

    def _union(self, branches: list[Any], raw: list[Any]) -> Shape:
        options: list[tuple[tuple[type, ...], Shape]] = []
        nullable = False
        for branch, original in zip(branches, raw, strict=True):
            if not isinstance(branch, dict):
                continue
            types = self._types(branch)
            if types == ["null"]:
                nullable = True
                continue
            if "null" in types:
                nullable = True
            py: tuple[type, ...] = ()
            for t in types:
                py += _PY_TYPES.get(t, ())
            options.append((py, self.compile(original)))
        if not options:
            return plain
        bad = None if nullable else OMIT
        if len(options) == 1:
            # The common `oneOf: [X, null]`: the loops below come down to trying X once.
            only = options[0][1]

            def one(value: Any) -> Any:
                if value is None:
                    return bad
                result = only(value)
                return bad if result is OMIT else result

            return one

        def shape(value: Any) -> Any:
            if value is None:
                return None if nullable else OMIT
            for py, sub in options:
                if not py or (
                    isinstance(value, py) and not (isinstance(value, bool) and bool not in py)
                ):
                    result = sub(value)
                    if result is not OMIT:
                        return result
            for _, sub in options:
                result = sub(value)
                if result is not OMIT:
                    return result
            return None if nullable else OMIT

        return shape

    def _scalar(self, types: list[str], nullable: bool, enum: list[Any] | None) -> Shape:
        allowed = tuple(t for t in types if t != "null")
        enum_set = None
        if enum is not None:
            try:
                enum_set = frozenset(enum)
            except TypeError:
                enum_set = None

        def coerce(value: Any) -> Any:
            if value is None:
                return None if nullable else OMIT
            for t in allowed:
                if t == "string":
                    if isinstance(value, str):
                        return value
                elif t == "boolean":
                    if isinstance(value, bool):
                        return value
                elif t == "integer":
                    if isinstance(value, int) and not isinstance(value, bool):
                        return value
                elif t == "number":
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        return value
                elif (t == "object" and isinstance(value, dict)) or (
                    t == "array" and isinstance(value, list | tuple)
                ):
                    return plain(value)
            # A lossless conversion, else nothing: never a value of a type the spec does not allow.
            for t in allowed:
                if t == "string" and isinstance(value, int | float) and not isinstance(value, bool):
                    return str(value)
                if t == "string" and isinstance(value, bool):
                    return "true" if value else "false"
                if (
                    t == "integer"
                    and isinstance(value, str)
                    and value.isascii()
                    and value.isdigit()
                ):
                    return int(value)
                if t == "number" and isinstance(value, str):
                    try:
                        return float(value)
                    except ValueError:
                        continue
            return None if nullable else OMIT

        if enum_set is None:
            return coerce

        def with_enum(value: Any) -> Any:
            result = coerce(value)
            if result is OMIT or result is None:
                return result
            try:
                if result in enum_set:
                    return result
            except TypeError:
                pass
            return None if nullable else OMIT

        return with_enum

    def _exact_types(self, schema: Any, nullable: bool) -> frozenset[type]:
        """Python types a value may have to pass through unchanged (plain scalars without enum only)."""
        if not isinstance(schema, dict) or any(
            k in schema for k in ("enum", "const", "oneOf", "anyOf", "allOf")
        ):
            return frozenset()
        exact: set[type] = {type(None)} if nullable else set()
        for t in self._types(schema):
            if t == "string":
                exact.add(str)
            elif t == "integer":
                exact.add(int)
            elif t == "number":
                exact.update((int, float))
            elif t == "boolean":
                exact.add(bool)
            elif t != "null":
                return frozenset()  # arrays and objects always go through their shape
        return frozenset(exact)

    def _array(self, item: Shape, nullable: bool) -> Shape:
        def shape(value: Any) -> Any:
            if value is None:
                return None if nullable else OMIT
            if not isinstance(value, list | tuple):
                return None if nullable else OMIT
            out = []
            for v in value:
                r = item(v)
                if r is not OMIT:
                    out.append(r)
            return out

        return shape

    def _object(self, schema: dict[str, Any], nullable: bool) -> Shape:
        required = set(schema.get("required") or ())
        fields: list[tuple[str, Shape, frozenset[type], Any]] = []
        for name, sub in (schema.get("properties") or {}).items():
            sub_resolved = self.resolve(sub)
            sub_nullable = self._nullable(sub)
            default: Any = OMIT
            if name in required and not sub_nullable and isinstance(sub_resolved, dict):
                # A required field the record lacks: a realistic value of the schema (same for every record).
                default = self.examples.value(sub_resolved, name)
            missing: Any = None if sub_nullable else default
            fields.append(
                (name, self.compile(sub), self._exact_types(sub_resolved, sub_nullable), missing)
            )
        extra_schema = schema.get("additionalProperties")
        extra: Shape | None = None
        if isinstance(extra_schema, dict) and not fields:
            extra = self.compile(extra_schema)
        free = extra_schema is True and not fields
        if fields:
            return _object_with_fields(fields, nullable)

        def shape(value: Any) -> Any:
            if value is None:
                return None if nullable else OMIT
            if not isinstance(value, dict):
                return None if nullable else OMIT
            if free:
                return plain(value)
            if extra is not None:
                out_map: dict[str, Any] = {}
                for k, v in value.items():
                    if isinstance(k, str) and k.startswith("_"):
                        continue
                    r = extra(v)
                    if r is not OMIT:
                        out_map[str(k)] = r
                return out_map
            out: dict[str, Any] = {}
            get = value.get
            for name, sub, exact, missing in fields:
                v = get(name, OMIT)
                if type(v) in exact:  # the common case: already the right scalar type
                    out[name] = v
                    continue
                if v is OMIT:
                    if missing is not OMIT:
                        out[name] = missing
                    continue
                r = sub(v)
                if r is OMIT:
                    r = missing
                    if r is OMIT:
                        continue
                out[name] = r
            return out

        return shape


def _object_with_fields(
    fields: list[tuple[str, Shape, frozenset[type], Any]], nullable: bool
) -> Shape:
    """The shape of an object schema with properties, compiled to straight-line Python.

    Same result as looping over `fields` (name, sub-shape, types passed through as they are, value when
    missing or unshowable), field by field: every response body goes through one of these, and the loop's
    per-field overhead was most of the emulator's rendering cost. Field names go into the source as string
    literals (`repr` of a str); every other value comes in through the namespace.
    """
    namespace: dict[str, Any] = {"OMIT": OMIT, "BAD": None if nullable else OMIT}
    lines = [
        "def shape(value):",
        "    if not isinstance(value, dict):",
        "        return BAD",
    ]
    # Types every field passes through: a value with exactly the schema's keys, in its order, holding only
    # those (a nested object the record fill made, such as a contact's visits) is its own rendering.
    common = frozenset.intersection(*(exact for _, _, exact, _ in fields))
    if common:
        namespace["KEYS"] = tuple(str(name) for name, _, _, _ in fields)
        namespace["COMMON"] = common
        lines += [
            "    if tuple(value) == KEYS and COMMON.issuperset(map(type, value.values())):",
            "        return dict(value)",
        ]
    lines += ["    get = value.get", "    out = {}"]
    for i, (name, sub, exact, missing) in enumerate(fields):
        key = repr(str(name))
        namespace[f"S{i}"] = sub
        namespace[f"M{i}"] = missing
        # The value passes as it is when its type is one of `exact` (None included, as NoneType).
        test = ""
        if len(exact) == 1:
            (namespace[f"T{i}"],) = exact
            test = f"type(v) is T{i}"
        elif exact:
            namespace[f"T{i}"] = exact
            test = f"type(v) in T{i}"
        if missing is OMIT:
            store_missing = "pass"
        else:
            store_missing = f"out[{key}] = {'None' if missing is None else f'M{i}'}"
        lines.append(f"    v = get({key}, OMIT)")
        if test:
            lines += [
                f"    if {test}:",
                f"        out[{key}] = v",
                "    elif v is OMIT:",
            ]
        else:
            lines.append("    if v is OMIT:")
        lines += [
            f"        {store_missing}",
            "    else:",
            f"        r = S{i}(v)",
            "        if r is not OMIT:",
            f"            out[{key}] = r",
            "        else:",
            f"            {store_missing}",
        ]
    lines.append("    return out")
    exec(compile("\n".join(lines), "<emulator response shape>", "exec"), namespace)
    shape: Shape = namespace["shape"]
    return shape

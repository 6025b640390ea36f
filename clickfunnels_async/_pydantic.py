"""The models as pydantic types, loaded only when pydantic asks (pydantic is not a dependency of the SDK).

`core_schema(cls)`: validated from the API's JSON (or taken as an instance), serialised as `to_dict()`.
`json_schema(cls, handler)`: the model's schema in the bundled spec, as JSON Schema: FastAPI's OpenAPI
document gets one named component per model, with its real properties; a `$ref` to another model becomes
pydantic's reference to that model (its own component), any other `$ref` (an enum, a shape without a model)
is written inline.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ._spec_refs import bundled_spec, lookup

_COMPONENTS = "#/components/schemas/"
_JSON_VALUES = frozenset({"default", "enum", "const", "example", "examples"})  # values, not schemas

# Models whose schema is being written (a model reached again inside itself gets a plain reference).
_writing: ContextVar[tuple[type, ...]] = ContextVar("_writing", default=())


def _ref(cls: type) -> str:
    # The form pydantic gives any class, so that it finds its own definition of a model it met before.
    return f"{cls.__module__}.{cls.__qualname__}:{id(cls)}"


def core_schema(cls: Any) -> Any:
    from pydantic_core import core_schema as cs

    def validate(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            try:
                return cls.from_dict(value)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValueError(
                    f"not a valid {cls.__name__}: {type(exc).__name__}: {exc}"
                ) from None
        raise ValueError(f"expected a {cls.__name__} or a JSON object, not {type(value).__name__}")

    return cs.no_info_plain_validator_function(
        validate,
        serialization=cs.plain_serializer_function_ser_schema(
            lambda model: model.to_dict(), return_schema=cs.dict_schema()
        ),
        ref=_ref(cls),
        # Pydantic adds this itself for a type it meets; set here too for the models reached from
        # another model's JSON schema (pydantic drops the duplicate).
        metadata={"pydantic_js_functions": [cls.__get_pydantic_json_schema__]},
    )


def _spec_node(cls: type) -> Any:
    doc = bundled_spec()
    pointer = cls.__dict__.get("_cf_schema") or _COMPONENTS + cls.__name__
    try:
        return lookup(doc, pointer)
    except (KeyError, IndexError, TypeError):
        return None


@contextmanager
def _writing_schema_of(cls: type) -> Iterator[None]:
    token = _writing.set((*_writing.get(), cls))
    try:
        yield
    finally:
        _writing.reset(token)


def json_schema(cls: Any, handler: Any) -> dict[str, Any]:
    node = _spec_node(cls)
    if not isinstance(node, Mapping):  # not in the spec (never for a generated model): any object
        return {"type": "object", "title": cls.__name__, "additionalProperties": True}
    with _writing_schema_of(cls):
        out = _Translator(sys.modules[cls.__module__], handler).schema(node)
    return {"title": cls.__name__, **out}


class _Translator:
    """One spec schema (OpenAPI 3.1, so JSON Schema) as pydantic writes it into a document."""

    def __init__(self, module: Any, handler: Any) -> None:
        self.module = module  # the model's module: it imports the models its fields hold
        self.handler = handler

    def schema(self, node: Any, depth: int = 0) -> Any:
        if isinstance(node, list):
            return [self.schema(item, depth) for item in node]
        if not isinstance(node, Mapping):
            return node
        if depth > 64:  # no schema in the spec nests this deep; an inline $ref loop would
            return {}
        out: dict[str, Any] = {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.update(self._reference(ref, depth))
        for key, value in node.items():
            if key == "$ref" or key.startswith("x-"):
                continue
            if key in _JSON_VALUES:
                out[key] = value
            elif key in ("properties", "patternProperties", "$defs") and isinstance(value, Mapping):
                out[key] = {name: self.schema(sub, depth + 1) for name, sub in value.items()}
            else:
                out[key] = self.schema(value, depth + 1)
        return out

    def _reference(self, ref: str, depth: int) -> dict[str, Any]:
        from pydantic_core import core_schema as cs

        from ._generated.types import _Model

        model = getattr(self.module, ref.removeprefix(_COMPONENTS), None)
        if ref.startswith(_COMPONENTS) and isinstance(model, type) and issubclass(model, _Model):
            if model in _writing.get():
                found: dict[str, Any] = self.handler(cs.definition_reference_schema(_ref(model)))
                return found
            # Through a list so that pydantic takes the model's schema as a definition of its own.
            listed: dict[str, Any] = self.handler(cs.list_schema(core_schema(model)))
            return dict(listed["items"])
        target = lookup(bundled_spec(), ref)
        return dict(self.schema(target, depth + 1))

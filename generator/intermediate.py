"""Spec -> one intermediate model per operation, built and validated once.

`OperationModel.row` is the runtime's own row type (`clickfunnels_async/_operation_row.py`, loaded from its
file so that generation never imports the package it is rewriting): the table is rendered from its fields, so
the row is defined in one place. The rest of the model is what the templates need for typed signatures and
docstrings (Python annotations, descriptions, required body fields).
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
from extensions import read as read_extensions

PACKAGE = Path(__file__).resolve().parents[1] / "clickfunnels_async"
METHODS = ("get", "put", "post", "patch", "delete")


def _load(name: str) -> ModuleType:
    module_name = f"_cf_generator_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, PACKAGE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


_row_module = _load("_operation_row")
Operation = _row_module.Operation
WORKSPACE_PARAM: str = _row_module.WORKSPACE_PARAM
_refs = _load("_spec_refs")


class SpecError(Exception):
    pass


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def py_name(wire: str) -> str:
    """A Python parameter name for a wire name such as `count_by[property]`."""
    name = re.sub(r"\W+", "_", wire).strip("_")
    if not name or name[0].isdigit():
        name = f"p_{name}"
    return f"{name}_" if keyword.iskeyword(name) else name


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


@attrs.frozen
class Param:
    """One argument of a generated method (a path/query parameter, a filter key or a body field)."""

    wire: str  # the name on the wire
    name: str  # the Python name
    annotation: str  # a Python annotation (models named as in clickfunnels_async.models)
    description: str = ""
    required: bool = False
    nullable: bool = False

    @property
    def body_type(self) -> str:
        """The type of a body keyword: None (sent as null) only where the spec allows null."""
        if not self.nullable or self.annotation == "Any":
            return self.annotation
        return f"{self.annotation} | None"

    @property
    def is_identifier(self) -> bool:
        return self.wire.isidentifier() and not keyword.iskeyword(self.wire)


@attrs.frozen
class OperationModel:
    row: Any  # clickfunnels_async._operation_row.Operation
    description: str
    path_params: tuple[Param, ...]
    query: tuple[Param, ...]
    filter: tuple[Param, ...]
    expand_type: str | None  # Literal[...] of the expand values
    body: tuple[Param, ...]
    body_class: str | None
    response_class: str | None
    models_used: frozenset[str]

    @property
    def filter_type(self) -> str:
        return f"{pascal(self.row.id)}Filter"

    @property
    def fields_type(self) -> str:
        return f"{pascal(self.row.id)}Fields"

    @property
    def body_required(self) -> bool:
        return any(p.required for p in self.body)

    @property
    def returns(self) -> str:
        row = self.row
        item = self.response_class or "dict[str, Any]"
        if row.paginated:
            return f"AsyncPaginator[{item}]"
        if row.response_is_list:
            return f"builtins.list[{item}]"
        if row.response_model is None and row.success == (204,):
            return "None"
        return item


class Spec:
    """The bundled document plus the model classes openapi-python-client wrote (class -> module)."""

    def __init__(self, doc: dict[str, Any], model_modules: Mapping[str, str]) -> None:
        self.doc = doc
        self.model_modules = model_modules

    def resolve(self, node: Any) -> Any:
        try:
            return _refs.resolve(self.doc, node)
        except (KeyError, ValueError) as exc:
            raise SpecError(f"cannot resolve {node!r}: {exc}") from exc

    def model_name(self, node: Any) -> str | None:
        """The generated class for a schema that is a $ref to a named component, else None."""
        if not (isinstance(node, dict) and "$ref" in node):
            return None
        name = node["$ref"].rsplit("/", 1)[-1]
        for candidate in (name, pascal(name)):
            if candidate in self.model_modules:
                return candidate
        return None

    def model_ref(self, node: Any) -> str | None:
        """`module:Class` for the row (the runtime imports `_generated.models.<module>` lazily)."""
        name = self.model_name(node)
        if name is None:
            if (
                isinstance(node, dict)
                and "$ref" in node
                and self.resolve(node).get("type") == "object"
            ):
                raise SpecError(f"no generated model for {node['$ref']}")
            return None
        return f"{self.model_modules[name]}:{name}"

    def py_type(self, schema: Any, used: set[str]) -> str:
        """A Python annotation for a schema in a generated signature (never None: see `nullable`)."""
        if isinstance(schema, dict) and "$ref" in schema:
            target = self.resolve(schema)
            if (
                isinstance(target, dict)
                and "enum" in target
                and target.get("type") in ("string", "integer")
            ):
                return self.py_type(target, used)
            name = self.model_name(schema)
            if name is not None and target.get("type") == "object":
                used.add(name)
                return f"{name} | Mapping[str, Any]"
            return self.py_type(target, used)
        if not isinstance(schema, dict):
            return "Any"
        for union_key in ("oneOf", "anyOf"):
            if union_key in schema:
                parts = [self.py_type(s, used) for s in schema[union_key] if not _is_null(s)]
                return " | ".join(dict.fromkeys(parts)) or "Any"
        types = schema.get("type")
        names = [
            t for t in (types if isinstance(types, list) else [types]) if t not in (None, "null")
        ]
        enum = [v for v in schema.get("enum") or () if v is not None]
        if enum and names and all(n in ("string", "integer") for n in names):
            return "Literal[" + ", ".join(repr(v) for v in enum) + "]"
        parts = [self._scalar(n, schema, used) for n in names]
        return " | ".join(dict.fromkeys(parts)) or "Any"

    def _scalar(self, name: str, schema: dict[str, Any], used: set[str]) -> str:
        if name == "array":
            return f"Sequence[{self.py_type(schema.get('items', {}), used)}]"
        return {
            "string": "str",
            "integer": "int",
            "number": "float",
            "boolean": "bool",
            "object": "Mapping[str, Any]",
        }.get(name, "Any")

    def nullable(self, schema: Any) -> bool:
        node = self.resolve(schema) if isinstance(schema, dict) else schema
        if not isinstance(node, dict):
            return False
        types = node.get("type")
        if types == "null" or (isinstance(types, list) and "null" in types):
            return True
        if None in (node.get("enum") or ()):
            return True
        return any(
            _is_null(self.resolve(s)) for key in ("oneOf", "anyOf") for s in node.get(key) or ()
        )


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _filter_value_type(spec: Spec, schema: Any, used: set[str]) -> str:
    # Several values of one key are OR'ed: a list is accepted wherever the spec takes a (comma-separated) text.
    annotation = spec.py_type(schema, used)
    if annotation == "bool":
        return "bool"
    if annotation == "str":
        return "str | int | Sequence[str | int]"
    return f"{annotation} | Sequence[{annotation}]"


def _wrapper(spec: Spec, schema: Mapping[str, Any]) -> tuple[str, Any] | None:
    """`(key, inner $ref)` when a body is a wrapper: one required property holding an object model
    (`{"contact": {...}}`). A single plain property (`published_at`, `product_ids`) is a flat body."""
    props = schema.get("properties") or {}
    if len(props) != 1:
        return None
    ((only, inner),) = props.items()
    if (
        isinstance(inner, dict)
        and "$ref" in inner
        and spec.resolve(inner).get("type") == "object"
        and only in (schema.get("required") or ())
    ):
        return only, inner
    return None


def build(
    spec: Spec, path: str, method: str, op: dict[str, Any], item: dict[str, Any]
) -> OperationModel:
    op_id = op.get("operationId")
    where = f"{method.upper()} {path} ({op_id})"
    if not op_id:
        raise SpecError(f"{where}: operationId is required")
    ext = read_extensions(op, where)
    namespace, verb = ext["x-cf-namespace"], ext["x-cf-verb"]
    for seg in [*namespace.split("."), verb]:
        if not seg.isidentifier() or keyword.iskeyword(seg) or seg.startswith("_"):
            raise SpecError(f"{where}: {seg!r} is not a usable Python name")
    used: set[str] = set()

    params = [spec.resolve(p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
    path_names = re.findall(r"{(\w+)}", path)
    declared = {p["name"]: p for p in params if p["in"] == "path"}
    if set(path_names) != set(declared):
        raise SpecError(f"{where}: path params {path_names} vs declared {sorted(declared)}")
    path_params = []
    for name in path_names:
        annotation = spec.py_type(declared[name].get("schema", {}), used)
        # workspace_id may default to the client's: it must come last, or the parameters after it could not
        # stay positional.
        defaulted = name == WORKSPACE_PARAM
        if defaulted and name != path_names[-1]:
            raise SpecError(
                f"{where}: {WORKSPACE_PARAM} must be the last path parameter (it defaults to the client's)"
            )
        path_params.append(
            Param(
                name,
                name,
                "int | str" if annotation == "str" else annotation,
                _one_line(declared[name].get("description")),
                required=not defaulted,
            )
        )

    query: list[Param] = []
    filters: list[Param] = []
    expand: tuple[str, ...] = ()
    sort_properties: tuple[str, ...] = ()
    for p in params:
        if p["in"] != "query":
            continue
        name, raw_schema = p["name"], p.get("schema", {})
        schema = spec.resolve(raw_schema)
        if name == "filter":
            for key, value in (schema.get("properties") or {}).items():
                filters.append(
                    Param(
                        key,
                        key,
                        _filter_value_type(spec, value, used),
                        _one_line(spec.resolve(value).get("description")),
                    )
                )
        elif name == "expand[]":
            expand = tuple(spec.resolve(schema.get("items", {})).get("enum", ()))
        else:
            if name == "sort_property":
                sort_properties = tuple(schema.get("enum", ()))
            query.append(
                Param(
                    name,
                    py_name(name),
                    spec.py_type(raw_schema, used),
                    _one_line(p.get("description")),
                )
            )

    has_body = "requestBody" in op
    body_key = None
    body: list[Param] = []
    body_model = None
    body_class = None
    if has_body:
        content = spec.resolve(op["requestBody"]).get("content", {})
        schema_ref = (content.get("application/json") or {}).get("schema", {})
        schema = spec.resolve(schema_ref)
        inner_ref: Any = schema_ref
        wrapper = _wrapper(spec, schema)
        if wrapper is not None:
            body_key, inner_ref = wrapper
        inner = spec.resolve(inner_ref)
        required = set(inner.get("required") or ())
        for key, value in (inner.get("properties") or {}).items():
            resolved = spec.resolve(value)
            body.append(
                Param(
                    key,
                    key,
                    spec.py_type(value, used),
                    _one_line(resolved.get("description")),
                    required=key in required,
                    nullable=spec.nullable(value),
                )
            )
        body_model = spec.model_ref(inner_ref)
        body_class = spec.model_name(inner_ref)
        if body_class:
            used.add(body_class)

    success = sorted(int(code) for code in op.get("responses", {}) if str(code).startswith("2"))
    if not success:
        raise SpecError(f"{where}: no 2xx response")
    response_schema: Any = None
    for code in success:
        media = (spec.resolve(op["responses"][str(code)]).get("content") or {}).get(
            "application/json"
        )
        if media and "schema" in media:
            response_schema = media["schema"]
            break
    response_model = None
    response_is_list = False
    response_ref: Any = None
    if response_schema is not None:
        resolved = spec.resolve(response_schema)
        if resolved.get("type") == "array":
            response_is_list = True
            response_ref = resolved.get("items", {})
        else:
            response_ref = response_schema
        response_model = spec.model_ref(response_ref)
    response_class = spec.model_name(response_ref) if response_model else None
    if response_class:
        used.add(response_class)

    natural_key = ext["x-cf-natural-key"]
    if natural_key is not None and natural_key not in {p.wire for p in body}:
        raise SpecError(f"{where}: x-cf-natural-key {natural_key!r} is not a body field")
    query_names = tuple(p.wire for p in query)
    paginated = response_is_list and "after" in query_names
    reserved = {"self", *(("filter",) if filters else ()), *(("expand",) if expand else ())}
    reserved |= {"values"} if has_body else set()
    reserved |= {"limit", "prefetch"} if paginated else set()
    py_query = {p.name for p in query}
    if len(py_query) != len(query):
        raise SpecError(f"{where}: two query params map to one Python name")
    body_names = {p.name for p in body}
    clashes = (body_names & (set(path_names) | py_query | reserved)) | (
        py_query & (set(path_names) | reserved)
    )
    if clashes:
        raise SpecError(f"{where}: names used twice in one call: {sorted(clashes)}")

    row = Operation(
        id=op_id,
        method=method.upper(),
        path=path,
        host=ext["x-cf-host"],
        namespace=namespace,
        verb=verb,
        summary=_one_line(op.get("summary")),
        path_params=tuple(path_names),
        query_params=query_names,
        filter_keys=tuple(p.wire for p in filters),
        expand=expand,
        has_body=has_body,
        body_key=body_key,
        body_fields=tuple(p.wire for p in body),
        body_required=tuple(p.wire for p in body if p.required),
        body_model=body_model,
        response_model=response_model,
        response_is_list=response_is_list,
        paginated=paginated,
        idempotent=method != "post" or ext["x-cf-idempotent"],
        success=tuple(success),
        sort_properties=sort_properties,
        natural_key=natural_key,
    )
    expand_type = "Literal[" + ", ".join(repr(v) for v in expand) + "]" if expand else None
    return OperationModel(
        row=row,
        description=str(op.get("description") or "").strip(),
        path_params=tuple(path_params),
        query=tuple(query),
        filter=tuple(filters),
        expand_type=expand_type,
        body=tuple(body),
        body_class=body_class,
        response_class=response_class,
        models_used=frozenset(used),
    )


def collect(spec: Spec) -> list[OperationModel]:
    """Every operation of the spec, checked as a whole: one method per (namespace, verb)."""
    ops = [
        build(spec, path, method, item[method], item)
        for path, item in spec.doc["paths"].items()
        for method in METHODS
        if method in item
    ]
    seen: dict[tuple[str, str], str] = {}
    for o in ops:
        key = (o.row.namespace, o.row.verb)
        if key in seen:
            raise SpecError(f"{o.row.id} and {seen[key]} are both {'.'.join(key)}")
        seen[key] = o.row.id
    ids = [o.row.id for o in ops]
    if len(set(ids)) != len(ids):
        raise SpecError("an operationId is used twice")
    namespaces = {o.row.namespace for o in ops}
    for ns, verb in seen:
        if f"{ns}.{verb}" in namespaces:
            raise SpecError(f"{ns}.{verb} is both a method and a namespace")
    return sorted(ops, key=lambda o: (o.row.namespace, o.row.verb))


def hidden_schemas(doc: Mapping[str, Any]) -> set[str]:
    """Component schemas that are only a request wrapper or a filter parameter: not public models.

    A wrapper as `values=` would be sent wrapped twice; a filter model is not what `filter=` takes. They stay
    in the bundled spec (the emulator reads them) but no model class is generated for them.
    """
    schemas = doc.get("components", {}).get("schemas", {})
    spec = Spec(dict(doc), {})
    candidates: set[str] = set()
    for item in doc.get("paths", {}).values():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            for p in [*item.get("parameters", []), *op.get("parameters", [])]:
                p = spec.resolve(p)
                ref = (p.get("schema") or {}).get("$ref", "")
                if p.get("name") == "filter" and ref.startswith("#/components/schemas/"):
                    candidates.add(ref.rsplit("/", 1)[1])
            if "requestBody" in op:
                content = spec.resolve(op["requestBody"]).get("content", {})
                ref = ((content.get("application/json") or {}).get("schema") or {}).get("$ref", "")
                if ref and _wrapper(spec, spec.resolve({"$ref": ref})) is not None:
                    candidates.add(ref.rsplit("/", 1)[1])
    # Keep any that another kept schema still refers to.
    text_refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                text_refs.add(ref.rsplit("/", 1)[1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name, schema in schemas.items():
        if name not in candidates:
            walk(schema)
    return candidates - text_refs


def request_schemas(doc: Mapping[str, Any]) -> set[str]:
    """Component schemas a request body reaches (through any `$ref`): body models, not records."""
    found: set[str] = set()
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                if ref.startswith("#/components/schemas/"):
                    found.add(ref.rsplit("/", 1)[1])
                walk(_refs.lookup(doc, ref))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for item in doc.get("paths", {}).values():
        for method in METHODS:
            if method in item and "requestBody" in item[method]:
                walk(item[method]["requestBody"])
    return found

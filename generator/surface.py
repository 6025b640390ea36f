"""Our own generation step: the operation table, the resource namespaces and the public model names.

Input: the bundled spec and the model modules openapi-python-client wrote. Output (into the package dir):
`_operations.py`, `_resources/*.py`, `models.py`. Everything that differs between operations comes from the
spec; the runtime they call is hand-written.
"""

from __future__ import annotations

import keyword
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

METHODS = ("get", "put", "post", "patch", "delete")

# Our vendor extensions on operations (openapi/README.md has the full rules).
EXTENSIONS = {
    "x-cf-namespace": "dotted client namespace (`contacts.tags`)",
    "x-cf-verb": "method name in that namespace",
    "x-cf-host": "`accounts` for the accounts host; absent = the workspace host",
    "x-cf-idempotent": "a POST that is safe to retry",
    "x-cf-source": "`inventory`: not in the official spec files; typed from the inventory (best known)",
    "x-cf-natural-key": "a body field the API keeps unique; an ambiguous write is looked up by it",
}


class SurfaceError(Exception):
    pass


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


class Spec:
    def __init__(self, doc: dict[str, Any], model_modules: dict[str, str]) -> None:
        self.doc = doc
        self.model_modules = model_modules  # class name -> ".module"

    def resolve(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise SurfaceError(f"external $ref not supported after bundling: {ref}")
            target: Any = self.doc
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
            if seen > 20:
                raise SurfaceError(f"$ref loop at {ref}")
        return node

    def model_for(self, node: Any) -> str | None:
        """`module:Class` for a schema that is a $ref to a named component, else None."""
        if not (isinstance(node, dict) and "$ref" in node):
            return None
        name = node["$ref"].rsplit("/", 1)[-1]
        for candidate in (name, _pascal(name)):
            if candidate in self.model_modules:
                return f"{self.model_modules[candidate].lstrip('.')}:{candidate}"
        raise SurfaceError(f"no generated model for {node['$ref']}")


def _py_type(spec: Spec, schema: Any, *, models: bool = True) -> str:
    """A Python annotation for a schema, used in generated signatures."""
    if isinstance(schema, dict) and "$ref" in schema:
        target = spec.resolve(schema)
        if target.get("type") == "string" and "enum" in target:
            return "str"
        model = spec.model_for(schema)
        if models and model:
            return f"{model.split(':')[1]} | dict[str, Any]"
        return "dict[str, Any]"
    if not isinstance(schema, dict):
        return "Any"
    for union_key in ("oneOf", "anyOf"):
        if union_key in schema:
            parts = [_py_type(spec, s, models=models) for s in schema[union_key]]
            parts = [p for p in parts if p != "None"]
            return " | ".join(dict.fromkeys(parts)) or "Any"
    t = schema.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        if len(non_null) > 1:  # e.g. [integer, string]: an id or a public id
            return " | ".join(
                _py_type(spec, {**schema, "type": x}, models=models) for x in non_null
            )
        t = non_null[0] if non_null else "null"
    if "enum" in schema and t == "string":
        return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
    if t == "string":
        return "str"
    if t == "integer":
        return "int"
    if t == "number":
        return "float"
    if t == "boolean":
        return "bool"
    if t == "array":
        return f"Sequence[{_py_type(spec, schema.get('items', {}), models=models)}]"
    if t == "object":
        return "Mapping[str, Any]"
    if t == "null":
        return "None"
    return "Any"


def _operation_row(
    spec: Spec, path: str, method: str, op: dict[str, Any], item: dict[str, Any]
) -> dict[str, Any]:
    op_id = op["operationId"]
    where = f"{method.upper()} {path} ({op_id})"
    namespace = op.get("x-cf-namespace")
    verb = op.get("x-cf-verb")
    if not namespace or not verb:
        raise SurfaceError(f"{where}: x-cf-namespace and x-cf-verb are required")
    unknown = sorted(k for k in op if k.startswith("x-cf-") and k not in EXTENSIONS)
    if unknown:
        raise SurfaceError(f"{where}: unknown extension(s) {unknown}; known: {sorted(EXTENSIONS)}")
    for seg in [*namespace.split("."), verb]:
        if not seg.isidentifier() or keyword.iskeyword(seg):
            raise SurfaceError(f"{where}: {seg!r} is not a usable Python name")

    params = [spec.resolve(p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
    path_params = re.findall(r"{(\w+)}", path)
    declared_path = {p["name"] for p in params if p["in"] == "path"}
    if set(path_params) != declared_path:
        raise SurfaceError(
            f"{where}: path params {path_params} vs declared {sorted(declared_path)}"
        )
    path_types = {p["name"]: p.get("schema", {}) for p in params if p["in"] == "path"}

    query: list[tuple[str, Any]] = []
    filter_keys: tuple[str, ...] = ()
    filter_types: dict[str, str] = {}
    expand: tuple[str, ...] = ()
    sort_properties: tuple[str, ...] = ()
    for p in params:
        if p["in"] != "query":
            continue
        name, schema = p["name"], spec.resolve(p.get("schema", {}))
        if name == "filter":
            props = schema.get("properties") or {}
            filter_keys = tuple(props)
            filter_types = {k: _py_type(spec, v) for k, v in props.items()}
        elif name == "expand[]":
            expand = tuple(spec.resolve(schema.get("items", {})).get("enum", ()))
        else:
            if name == "sort_property":
                sort_properties = tuple(schema.get("enum", ()))
            query.append((name, p.get("schema", {})))

    has_body = "requestBody" in op
    body_key = None
    body_fields: dict[str, Any] = {}
    body_required: tuple[str, ...] = ()
    body_model = None
    if has_body:
        content = spec.resolve(op["requestBody"]).get("content", {})
        schema_ref = (content.get("application/json") or {}).get("schema", {})
        schema = spec.resolve(schema_ref)
        props = schema.get("properties") or {}
        inner_ref: Any = schema_ref
        # A wrapper is one required property holding a $ref to an object model ({"contact": {...}});
        # a single plain property (`published_at`, `product_ids`) is a flat body.
        ((only, only_schema),) = props.items() if len(props) == 1 else [(None, None)]
        if (
            only is not None
            and isinstance(only_schema, dict)
            and "$ref" in only_schema
            and spec.resolve(only_schema).get("type") == "object"
            and only in (schema.get("required") or ())
        ):
            body_key, inner_ref = only, only_schema
            inner = spec.resolve(inner_ref)
        else:
            inner = schema
        body_fields = inner.get("properties") or {}
        body_required = tuple(inner.get("required") or ())
        body_model = spec.model_for(inner_ref)

    success = sorted(int(code) for code in op.get("responses", {}) if str(code).startswith("2"))
    if not success:
        raise SurfaceError(f"{where}: no 2xx response")
    response_model = None
    response_is_list = False
    response_schema: Any = None
    for code in success:
        resp = spec.resolve(op["responses"][str(code)])
        media = (resp.get("content") or {}).get("application/json")
        if media and "schema" in media:
            response_schema = media["schema"]
            break
    if response_schema is not None:
        resolved = spec.resolve(response_schema)
        if resolved.get("type") == "array":
            response_is_list = True
            response_model = spec.model_for(resolved.get("items", {}))
        else:
            response_model = spec.model_for(response_schema)
    query_names = tuple(n for n, _ in query)
    paginated = response_is_list and "after" in query_names
    reserved = {"self"}
    reserved |= {"filter"} if filter_keys else set()
    reserved |= {"expand"} if expand else set()
    reserved |= {"values"} if has_body else set()
    reserved |= {"limit", "prefetch"} if paginated else set()
    py_query = {_py_name(n) for n in query_names}
    if len(py_query) != len(query_names):
        raise SurfaceError(f"{where}: two query params map to one Python name")
    clashes = (set(body_fields) & (set(path_params) | py_query | reserved)) | (
        py_query & (set(path_params) | reserved)
    )
    if clashes:
        raise SurfaceError(f"{where}: names used twice in one call: {sorted(clashes)}")
    natural_key = op.get("x-cf-natural-key")
    if natural_key is not None and natural_key not in body_fields:
        raise SurfaceError(f"{where}: x-cf-natural-key {natural_key!r} is not a body field")
    row_extra = {"natural_key": natural_key} if natural_key is not None else {}
    return {
        "row": {
            "id": op_id,
            "method": method.upper(),
            "path": path,
            "host": op.get("x-cf-host", "workspace"),
            "namespace": namespace,
            "verb": verb,
            "summary": " ".join(str(op.get("summary", "")).split()),
            "path_params": tuple(path_params),
            "query_params": query_names,
            "filter_keys": filter_keys,
            "expand": expand,
            "has_body": has_body,
            "body_key": body_key,
            "body_fields": tuple(body_fields),
            "body_required": body_required,
            "body_model": body_model,
            "response_model": response_model,
            "response_is_list": response_is_list,
            "paginated": paginated,
            "idempotent": method != "post" or bool(op.get("x-cf-idempotent")),
            "success": tuple(success),
            "sort_properties": sort_properties,
            **row_extra,
        },
        "path_types": {k: _py_type(spec, v) for k, v in path_types.items()},
        "query_types": {n: _py_type(spec, s) for n, s in query},
        "body_types": {k: _py_type(spec, v) for k, v in body_fields.items()},
        "filter_types": filter_types,
        "description": op.get("description", ""),
    }


def collect(spec: Spec) -> list[dict[str, Any]]:
    ops = []
    for path, item in spec.doc["paths"].items():
        for method in METHODS:
            if method in item:
                ops.append(_operation_row(spec, path, method, item[method], item))
    seen: dict[tuple[str, str], str] = {}
    for o in ops:
        key = (o["row"]["namespace"], o["row"]["verb"])
        if key in seen:
            raise SurfaceError(f"{o['row']['id']} and {seen[key]} are both {'.'.join(key)}")
        seen[key] = o["row"]["id"]
    namespaces = {o["row"]["namespace"] for o in ops}
    for ns, verb in seen:
        if f"{ns}.{verb}" in namespaces:
            raise SurfaceError(f"{ns}.{verb} is both a method and a namespace")
    return sorted(ops, key=lambda o: (o["row"]["namespace"], o["row"]["verb"]))


# --------------------------------------------------------------------------- rendering


def render_operations(ops: list[dict[str, Any]]) -> str:
    lines = [
        '"""The operation table: one row per API operation, generated from openapi/."""',
        "",
        "from ._operation import Operation",
        "",
        "OPERATIONS: dict[str, Operation] = {",
    ]
    for o in sorted(ops, key=lambda o: o["row"]["id"]):
        row = o["row"]
        fields = ", ".join(f"{k}={v!r}" for k, v in row.items())
        lines.append(f"    {row['id']!r}: Operation({fields}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _py_name(wire: str) -> str:
    """A Python parameter name for a wire name such as `count_by[property]`."""
    name = re.sub(r"\W+", "_", wire).strip("_")
    if not name or name[0].isdigit():
        name = f"p_{name}"
    return f"{name}_" if keyword.iskeyword(name) else name


def _module_name(namespace: str) -> str:
    return namespace.replace(".", "_")


def _class_name(namespace: str) -> str:
    # The suffix keeps namespace classes apart from model names (`emails.settings` vs `EmailsSettings`).
    return "".join(_pascal(seg) for seg in namespace.split(".")) + "Resource"


def _model_class(ref: str | None) -> str | None:
    return ref.split(":")[1] if ref else None


def _method(o: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Source lines of one namespace method, plus the TypedDict it needs (if any)."""
    row = o["row"]
    params: list[str] = ["self"]
    for name in row["path_params"]:
        annotation = o["path_types"][name]
        if annotation == "str":
            annotation = "int | str"
        params.append(f"{name}: {annotation}")
    params.append("*")
    query_items = []
    for name in row["query_params"]:
        annotation = o["query_types"][name]
        params.append(f"{_py_name(name)}: {annotation} | None = None")
        query_items.append(f"{name!r}: {_py_name(name)}")
    if row["filter_keys"]:
        params.append("filter: FilterArg = None")
    if row["expand"]:
        params.append("expand: Sequence[str] | None = None")
    extra: list[str] = []
    fields_type = None
    if row["has_body"]:
        body_cls = _model_class(row["body_model"])
        annotation = f"{body_cls} | Mapping[str, Any]" if body_cls else "Mapping[str, Any]"
        params.append(f"values: {annotation} | None = None")
        if not row["body_fields"]:
            params.append("**fields: Any")  # an open body: the spec does not list its fields yet
            fields_type = "open"
        else:
            fields_type = f"_{_pascal(row['id'])}Fields"
            # Quoted: the functional form evaluates its values, and models are imported for typing only.
            entries = ", ".join(f"{k!r}: {v + ' | None'!r}" for k, v in o["body_types"].items())
            extra = [f"{fields_type} = TypedDict({fields_type!r}, {{{entries}}}, total=False)", ""]
            params.append(f"**fields: Unpack[{fields_type}]")
    model = _model_class(row["response_model"])
    item = model or "dict[str, Any]"
    if row["paginated"]:
        params.insert(params.index("*") + 1, "limit: int | None = None")
        params.insert(params.index("*") + 2, "prefetch: bool = False")
        returns = f"AsyncPaginator[{item}]"
    elif row["response_is_list"]:
        returns = f"builtins.list[{item}]"
    elif row["response_model"] is None and row["success"] == (204,):
        returns = "None"
    else:
        returns = item
    if params[-1] == "*":
        params.pop()
    doc = row["summary"] or row["id"]
    head = "def" if row["paginated"] else "async def"
    args = [
        f"OPERATIONS[{row['id']!r}]",
        "{" + ", ".join(f"{n!r}: {n}" for n in row["path_params"]) + "}",
    ]
    kw = []
    if query_items:
        kw.append("query={" + ", ".join(query_items) + "}")
    if row["filter_keys"]:
        kw.append("filter=filter")
    if row["expand"]:
        kw.append("expand=expand")
    if row["has_body"]:
        kw.append("body=values")
        if fields_type:
            kw.append("fields=fields")
    if row["paginated"]:
        kw += ["limit=limit", "prefetch=prefetch"]
        call = f"return self._client._paginate({', '.join(args + kw)})"
    else:
        call = f"return cast({returns!r}, await self._client._call({', '.join(args + kw)}))"
        if returns == "None":
            call = f"await self._client._call({', '.join(args + kw)})"
    body = [
        f"    {head} {row['verb']}({', '.join(params)}) -> {returns}:",
        f'        """{doc}\n\n        `{row["method"]} {row["path"]}` ({row["id"]})\n        """',
        f"        {call}",
        "",
    ]
    return body, extra


def render_namespaces(ops: list[dict[str, Any]], model_names: set[str]) -> dict[str, str]:
    by_ns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in ops:
        by_ns[o["row"]["namespace"]].append(o)
    all_ns: set[str] = set()
    for ns in by_ns:
        parts = ns.split(".")
        for i in range(1, len(parts) + 1):
            all_ns.add(".".join(parts[:i]))
    children: dict[str, list[str]] = defaultdict(list)
    for ns in sorted(all_ns):
        parent = ns.rsplit(".", 1)[0] if "." in ns else ""
        children[parent].append(ns)

    files: dict[str, str] = {}

    def child_props(ns: str) -> tuple[list[str], list[str]]:
        lines: list[str] = []
        type_imports: list[str] = []
        for child in children.get(ns, []):
            attr = child.rsplit(".", 1)[-1]
            mod, cls = _module_name(child), _class_name(child)
            type_imports.append(f"    from .{mod} import {cls}")
            lines += [
                "    @cached_property",
                f"    def {attr}(self) -> {cls}:",
                f'        """`{child}`"""',
                f"        from .{mod} import {cls}",
                "",
                f"        return {cls}(self._client)",
                "",
            ]
        return lines, type_imports

    header = [
        "from __future__ import annotations",
        "",
        "import builtins",
        "from collections.abc import Mapping, Sequence",
        "from functools import cached_property",
        "from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack, cast",
        "",
        "from .._operations import OPERATIONS",
        "from .._resource import Resource",
        "",
    ]
    for ns in sorted(all_ns):
        methods: list[str] = []
        extras: list[str] = []
        for o in sorted(by_ns.get(ns, []), key=lambda o: o["row"]["verb"]):
            lines, extra = _method(o)
            methods += lines
            extras += extra
        props, type_imports = child_props(ns)
        tc = ["if TYPE_CHECKING:", *type_imports]
        tc += [
            "    from .._filters import FilterArg",
            "    from .._pagination import AsyncPaginator",
        ]
        used = set(re.findall(r"\b[A-Z]\w*\b", "\n".join(methods + extras))) & model_names
        if used:
            tc.append("    from ..models import " + ", ".join(sorted(used)))
        cls = _class_name(ns)
        body = [
            *header,
            *tc,
            "",
            *extras,
            "",
            f"class {cls}(Resource):",
            f'    """`cf.{ns}`"""',
            "",
            *props,
            *methods,
        ]
        if not props and not methods:
            body.append("    pass")
        files[f"{_module_name(ns)}.py"] = "\n".join(body) + "\n"

    root_props, root_imports = child_props("")
    files["__init__.py"] = (
        "\n".join(
            [
                '"""Resource namespaces, generated from openapi/. Each loads on first use."""',
                "",
                "from __future__ import annotations",
                "",
                "from functools import cached_property",
                "from typing import TYPE_CHECKING",
                "",
                "from .._resource import Resource",
                "",
                "if TYPE_CHECKING:",
                *root_imports,
                "",
                "",
                "class Namespaces(Resource):",
                '    """The top-level namespaces of the client (`cf.contacts`, `cf.orders`, ...)."""',
                "",
                *root_props,
            ]
        )
        + "\n"
    )
    return files


def render_models(model_modules: dict[str, str]) -> str:
    names = sorted(model_modules)
    return (
        "\n".join(
            [
                '"""Models of the ClickFunnels API: what calls return and accept.',
                "",
                "Every model is an attrs class with `from_dict()` / `to_dict()`. A field the server left out is `UNSET`;",
                "fields the spec does not know yet are kept in `additional_properties`. Loaded lazily.",
                '"""',
                "",
                "from typing import TYPE_CHECKING, Any",
                "",
                "from ._generated import models as _models",
                "from ._generated.types import UNSET, Unset",
                "",
                "if TYPE_CHECKING:",
                *(f"    from ._generated.models import {n} as {n}" for n in names),
                "",
                "",
                "def __getattr__(name: str) -> Any:",
                "    value = getattr(_models, name)",
                "    globals()[name] = value",
                "    return value",
                "",
                "",
                "def __dir__() -> list[str]:",
                "    return sorted(__all__)",
                "",
                "",
                "__all__ = [",
                '    "UNSET",',
                '    "Unset",',
                *(f'    "{n}",' for n in names),
                "]",
            ]
        )
        + "\n"
    )


def read_model_modules(models_init: Path) -> dict[str, str]:
    text = models_init.read_text(encoding="utf-8")
    return dict(re.findall(r'^\s+"(\w+)": "(\.\w+)",$', text, re.M))


def generate(doc: dict[str, Any], package_dir: Path) -> None:
    modules = read_model_modules(package_dir / "_generated" / "models" / "__init__.py")
    spec = Spec(doc, modules)
    ops = collect(spec)
    (package_dir / "_operations.py").write_text(render_operations(ops), encoding="utf-8")
    res = package_dir / "_resources"
    res.mkdir(exist_ok=True)
    for name, text in render_namespaces(ops, set(modules)).items():
        (res / name).write_text(text, encoding="utf-8")
    (package_dir / "models.py").write_text(render_models(modules), encoding="utf-8")

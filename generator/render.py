"""Intermediate models -> Python source, through the Jinja templates in generator/templates/sdk/.

Outputs (under `_generated/`): `operation_table.py`, `namespaces/*.py` and the package's `__init__.py`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import attrs
import jinja2
from intermediate import OperationModel, pascal

TEMPLATES = Path(__file__).resolve().parent / "templates" / "sdk"


def _docstring_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["py"] = repr
    env.filters["doc"] = _docstring_text
    return env


def module_name(namespace: str) -> str:
    return namespace.replace(".", "_")


def class_name(namespace: str) -> str:
    # The suffix keeps namespace classes apart from model names (`emails.settings` vs `EmailsSettings`).
    return "".join(pascal(seg) for seg in namespace.split(".")) + "Namespace"


@attrs.frozen
class Child:
    attr: str
    namespace: str
    module: str
    cls: str


def _children(namespaces: set[str]) -> dict[str, list[Child]]:
    every: set[str] = set()
    for ns in namespaces:
        parts = ns.split(".")
        every.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    out: dict[str, list[Child]] = defaultdict(list)
    for ns in sorted(every):
        parent = ns.rsplit(".", 1)[0] if "." in ns else ""
        out[parent].append(Child(ns.rsplit(".", 1)[-1], ns, module_name(ns), class_name(ns)))
    return out


def _signature(o: OperationModel, *, values: str, fields: str) -> list[str]:
    """Parameters of one method. values: "" | "optional" | "required"; fields: "" | "typed" | "any"."""
    row = o.row
    # A path parameter that is not required has a client-wide default (workspace_id, always the last one).
    named = [
        f"{p.name}: {p.annotation}" if p.required else f"{p.name}: {p.annotation} | None = None"
        for p in o.path_params
    ]
    keywords: list[str] = []
    if row.paginated:
        keywords += ["limit: int | None = None", "prefetch: bool = False"]
    keywords += [f"{p.name}: {p.annotation} | None = None" for p in o.query]
    if o.filter:
        keywords.append(f"filter: Filter | {o.filter_type} | None = None")
    if o.expand_type:
        keywords.append(f"expand: {o.expand_type} | Sequence[{o.expand_type}] | None = None")
    body = f"{o.body_class} | Mapping[str, Any]" if o.body_class else "Mapping[str, Any]"
    if values == "required":
        keywords.append(f"values: {body}")
    elif values == "optional":
        keywords.append(f"values: {body} | None = None")
    params = ["self", *named]
    if keywords:
        params += ["*", *keywords]
    if fields == "typed":
        params.append(f"**fields: Unpack[{o.fields_type}]")
    elif fields == "any":
        params.append("**fields: Any")
    return params


def _variants(o: OperationModel) -> dict[str, Any]:
    """The signatures of a method: one, or two overloads (`values=` or typed keywords) plus the body."""
    if not o.row.has_body:
        return {"overloads": [], "impl": _signature(o, values="", fields="")}
    if not o.body:  # an open body: the spec does not list its fields yet
        return {"overloads": [], "impl": _signature(o, values="optional", fields="any")}
    if not o.body_required:
        return {"overloads": [], "impl": _signature(o, values="optional", fields="typed")}
    return {
        "overloads": [
            _signature(o, values="required", fields=""),
            _signature(o, values="", fields="typed"),
        ],
        "impl": _signature(o, values="optional", fields="any"),
    }


def render(ops: list[OperationModel]) -> dict[str, str]:
    """{relative path under _generated/: source}"""
    env = _environment()
    row_fields = [f.name for f in attrs.fields(type(ops[0].row))]
    files = {
        "operation_table.py": env.get_template("operation_table.py.jinja").render(
            ops=sorted(ops, key=lambda o: o.row.id),
            row_fields=row_fields,
            getattr=getattr,
        ),
        "__init__.py": env.get_template("generated_init.py.jinja").render(),
    }
    by_ns: dict[str, list[OperationModel]] = defaultdict(list)
    for o in ops:
        by_ns[o.row.namespace].append(o)
    children = _children(set(by_ns))
    template = env.get_template("namespace.py.jinja")
    every = sorted({c.namespace for kids in children.values() for c in kids})
    for ns in every:
        methods = sorted(by_ns.get(ns, []), key=lambda o: o.row.verb)
        files[f"namespaces/{module_name(ns)}.py"] = template.render(
            namespace=ns,
            cls=class_name(ns),
            children=children.get(ns, []),
            methods=[(o, _variants(o)) for o in methods],
            models=sorted(set().union(*(o.models_used for o in methods))) if methods else [],
            lists=any(o.row.response_is_list and not o.row.paginated for o in methods),
        )
    files["namespaces/__init__.py"] = env.get_template("namespaces_init.py.jinja").render(
        children=children.get("", [])
    )
    return files

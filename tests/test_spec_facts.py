"""The bundled spec against the official facts (openapi/facts/), operation by operation.

Both sides are reduced to one comparable form (types as a set with "null" for nullability, formats, enum
values, array items, object properties and `required`), then every difference must be declared in
openapi/facts/deviations.yaml with its reason. A declared deviation that no longer differs fails too, so the
list stays true. Runs on a fresh clone: everything it reads is in the repository.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
FACTS_DIR = REPO / "openapi" / "facts"
MAX_DEPTH = 8
STANDARD_QUERY = ("after", "sort_order", "sort_property")


@cache
def facts() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FACTS_DIR / "official-facts.json").read_text(encoding="utf-8")
    )
    return data


@cache
def deviations() -> list[dict[str, str]]:
    data = yaml.safe_load((FACTS_DIR / "deviations.yaml").read_text(encoding="utf-8"))
    entries: list[dict[str, str]] = data["deviations"]
    return entries


@cache
def spec() -> dict[str, Any]:
    import sys

    sys.path.insert(0, str(REPO / "generator"))
    from bundle import bundle

    doc: dict[str, Any] = bundle()
    return doc


# ----------------------------------------------------------------------------- normal form


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """allOf: the union of the parts' properties and required lists."""
    out: dict[str, Any] = {"type": ["object"], "properties": {}, "required": []}
    for p in parts:
        out["properties"].update(p.get("properties", {}))
        out["required"] = sorted(set(out["required"]) | set(p.get("required", [])))
    return out


def _finish(node: dict[str, Any], types: set[str], sub: Any, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    enum = [v for v in node.get("enum", []) if v is not None]
    if types == {"boolean"} or types == {"boolean", "null"}:
        enum = [v for v in enum if v not in (True, False)]
    if types:
        out["type"] = sorted(types)
    if node.get("format"):
        out["format"] = node["format"]
    if enum:
        out["enum"] = sorted(enum, key=repr)
    items = node.get("items", node.get("contains"))
    if (
        isinstance(items, dict) and "array" in types and sub(items, depth + 1)
    ):  # `items: {}` = no items
        out["items"] = sub(items, depth + 1)
    if "properties" in node or node.get("required"):
        out["properties"] = {
            k: sub(v, depth + 1) for k, v in sorted(node.get("properties", {}).items())
        }
        out["required"] = sorted(node.get("required", []))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = sub(extra, depth + 1)
    return out


def _union(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """oneOf/anyOf of already normalised parts: null folds into the type set."""
    nullable = any(p.get("type") == ["null"] for p in parts)
    rest = [p for p in parts if p.get("type") != ["null"]]
    if len(rest) == 1:
        out = dict(rest[0])
    elif rest and all(set(p) <= {"type"} and "type" in p for p in rest):
        out = {"type": sorted({t for p in rest for t in p["type"]})}
    else:
        out = {"oneOf": sorted(rest, key=lambda p: json.dumps(p, sort_keys=True))}
    if nullable and "type" in out:
        out["type"] = sorted(set(out["type"]) | {"null"})
    elif nullable:
        out["nullable"] = True
    return out


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("type")
    if t is None:
        return set()
    return set(t) if isinstance(t, list) else {t}


def norm_fact(node: Any, depth: int = 0) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return {}
    name = node.get("$ref_schema")
    if name:
        # a component: its full shape is in `schemas` (the in-place copy is expanded one level only)
        inline = {k: v for k, v in node.items() if k != "$ref_schema"}
        target = facts()["schemas"].get(name)
        if target is None:
            return norm_fact(inline, depth)
        out = norm_fact(target, depth)
        if "null" in _types(inline) and "type" in out:
            out["type"] = sorted(set(out["type"]) | {"null"})
        return out
    for key in ("anyOf", "oneOf"):
        if key in node:
            return _union([norm_fact(p, depth) for p in node[key]])
    if "allOf" in node:
        parts = [norm_fact(p, depth) for p in node["allOf"]]
        own = {k: v for k, v in node.items() if k != "allOf"}
        own_n = norm_fact(own, depth) if own.get("properties") else {}
        merged = _merge([*parts, own_n])
        merged["properties"] = dict(sorted(merged["properties"].items()))
        return merged
    return _finish(node, _types(node), norm_fact, depth)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec()["components"][section][name]
    return node


def norm_spec(node: Any, depth: int = 0) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return {}
    node = _resolve(node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return _union([norm_spec(p, depth) for p in node[key]])
    if "allOf" in node:
        merged = _merge([norm_spec(p, depth) for p in node["allOf"]])
        merged["properties"] = dict(sorted(merged["properties"].items()))
        return merged
    return _finish(node, _types(node), norm_spec, depth)


# ----------------------------------------------------------------------------- one operation


def _params(op: dict[str, Any], item: dict[str, Any]) -> list[dict[str, Any]]:
    return [_resolve(p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]


def _fields_diff(
    where: str, want: dict[str, Any], have: dict[str, Any], out: list[tuple[str, str]]
) -> None:
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra:
        out.append((where, f"missing {missing}, extra {extra}"))
    for name in sorted(set(want) & set(have)):
        if want[name] != have[name]:
            out.append((f"{where}.{name}", f"facts {want[name]} != spec {have[name]}"))


def _body_wrapper(schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Same rule as the generator: one required property holding a $ref to an object model."""
    props = schema.get("properties") or {}
    if len(props) == 1:
        ((key, value),) = props.items()
        if (
            "$ref" in value
            and _resolve(value).get("type") == "object"
            and key in schema.get("required", [])
        ):
            return key, _resolve(value)
    return None, schema


def compare(
    fact: dict[str, Any], op: dict[str, Any], item: dict[str, Any]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    params = _params(op, item)

    want_path = {p["name"]: norm_fact({"type": p["type"]}) for p in fact["path_params"]}
    have_path = {p["name"]: norm_spec(p.get("schema", {})) for p in params if p["in"] == "path"}
    _fields_diff("path_params", want_path, have_path, out)

    want_q = {q["name"]: q for q in fact["query_params"]}
    have_q = {p["name"]: p for p in params if p["in"] == "query"}
    missing, extra = sorted(set(want_q) - set(have_q)), sorted(set(have_q) - set(want_q))
    if missing or extra:
        out.append(("query", f"missing {missing}, extra {extra}"))
    for name in sorted(set(want_q) & set(have_q)):
        w, h = want_q[name], have_q[name]
        if name == "filter":
            keys = {k: norm_fact(v) for k, v in w.get("keys", {}).items()}
            props = norm_spec(h["schema"]).get("properties", {})
            _fields_diff("filter", keys, props, out)
            if (h.get("style"), h.get("explode")) != ("deepObject", True):
                out.append(("filter", "not a deepObject with explode"))
        else:
            wn = norm_fact({k: v for k, v in w.items() if k not in ("name", "style", "explode")})
            hn = norm_spec(h.get("schema", {}))
            if wn != hn:
                out.append((f"query.{name}", f"facts {wn} != spec {hn}"))

    body = fact["request_body"]
    spec_body = op.get("requestBody")
    if body is None or spec_body is None:
        if (body is None) != (spec_body is None):
            out.append(("body", f"facts {'no body' if body is None else 'a body'}, spec the other"))
    else:
        schema = _resolve(spec_body["content"]["application/json"]["schema"])
        wrapper, inner = _body_wrapper(schema)
        if wrapper != body["wrapper"]:
            out.append(("body.wrapper", f"facts {body['wrapper']} != spec {wrapper}"))
        if bool(spec_body.get("required", False)) != bool(body["body_required"]):
            out.append(("body.body_required", f"facts {body['body_required']}"))
        inner_n = norm_spec(inner)
        if sorted(body["required"]) != inner_n.get("required", []):
            out.append(
                (
                    "body.required",
                    f"facts {sorted(body['required'])} != spec {inner_n.get('required')}",
                )
            )
        want = {k: norm_fact(v) for k, v in body["fields"].items()}
        _fields_diff("body.fields", want, inner_n.get("properties", {}), out)

    responses = fact["responses"]
    want_ok = sorted(c for c in responses if c[0] == "2")
    have_ok = sorted(str(c) for c in op["responses"] if str(c)[0] == "2")
    if want_ok != have_ok:
        out.append(("responses.2xx", f"facts {want_ok} != spec {have_ok}"))
    have_codes = {str(c) for c in op["responses"]}
    documented = {str(c) for c in [*responses.get("4xx", []), *responses.get("5xx", [])]}
    if documented - have_codes:
        out.append(
            ("responses.errors", f"documented but missing: {sorted(documented - have_codes)}")
        )
    for code in sorted(set(want_ok) & set(have_ok)):
        w = responses[code]
        content = (_resolve(op["responses"][code]).get("content") or {}).get("application/json")
        if content is None:
            kind, shape = "empty", {}
        else:
            resolved = _resolve(content["schema"])
            kind = "array" if resolved.get("type") == "array" else "object"
            shape = norm_spec(resolved.get("items", {}) if kind == "array" else resolved)
        if kind != w["kind"]:
            out.append((f"response.{code}.kind", f"facts {w['kind']} != spec {kind}"))
            continue
        if kind == "empty":
            continue
        want_fields = norm_fact(
            {"type": "object", "properties": w.get("fields", {}), "required": w.get("required", [])}
        )
        if want_fields.get("required", []) != shape.get("required", []):
            out.append(
                (
                    f"response.{code}.required",
                    f"facts {want_fields.get('required')} != spec {shape.get('required')}",
                )
            )
        _fields_diff(
            f"response.{code}.fields",
            want_fields.get("properties", {}),
            shape.get("properties", {}),
            out,
        )
    return out


# ----------------------------------------------------------------------------- tests


def _spec_ops() -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    return {
        (method.upper(), url): (op, item)
        for url, item in spec()["paths"].items()
        for method, op in item.items()
        if method in ("get", "put", "patch", "post", "delete")
    }


def all_differences() -> dict[str, list[tuple[str, str]]]:
    ops = _spec_ops()
    found: dict[str, list[tuple[str, str]]] = {}
    for fact in facts()["operations"]:
        key = (fact["method"], fact["path"])
        if key not in ops:
            found[fact["operationId"]] = [("operation", "not in the spec")]
            continue
        op, item = ops[key]
        diffs = compare(fact, op, item)
        if op["operationId"] != fact["operationId"]:
            diffs.append(
                ("operationId", f"facts {fact['operationId']} != spec {op['operationId']}")
            )
        if diffs:
            found[op["operationId"]] = diffs
    return found


def _declared(op_id: str, aspect: str) -> bool:
    return any(
        d["operation"] in (op_id, "*")
        and (aspect == d["aspect"] or aspect.startswith(d["aspect"] + "."))
        for d in deviations()
    )


def test_deviations_have_reasons() -> None:
    for d in deviations():
        assert set(d) == {"operation", "aspect", "reason"}, d
        assert d["reason"].strip(), d


def test_every_operation_matches_the_facts() -> None:
    undeclared = [
        f"{op_id}: {aspect}: {detail}"
        for op_id, diffs in all_differences().items()
        for aspect, detail in diffs
        if not _declared(op_id, aspect)
    ]
    assert undeclared == [], (
        "\n".join(undeclared[:60]) + f"\n({len(undeclared)} undeclared differences)"
    )


def test_no_stale_deviations() -> None:
    found = all_differences()
    stale = [
        d
        for d in deviations()
        if d["operation"] != "*"
        and not any(
            a == d["aspect"] or a.startswith(d["aspect"] + ".")
            for a, _ in found.get(d["operation"], [])
        )
    ]
    assert stale == []


def test_operations_outside_the_facts_are_marked() -> None:
    covered = {(f["method"], f["path"]) for f in facts()["operations"]}
    unmarked = [
        op["operationId"]
        for key, (op, _) in _spec_ops().items()
        if key not in covered and op.get("x-cf-source") != "inventory"
    ]
    assert unmarked == []
    marked_but_covered = [
        op["operationId"]
        for key, (op, _) in _spec_ops().items()
        if key in covered and "x-cf-source" in op
    ]
    assert marked_but_covered == []


def test_deviations_are_listed_in_the_readme() -> None:
    readme = (REPO / "openapi" / "README.md").read_text(encoding="utf-8")
    missing = [
        f"{d['operation']} {d['aspect']}"
        for d in deviations()
        if f"`{d['operation']}`" not in readme
    ]
    assert missing == []


def test_normal_form_sees_a_difference() -> None:
    """The comparison is not blind: a changed type, a dropped null and a dropped field all show."""
    fact = {"type": "object", "required": ["a"], "properties": {"a": {"type": ["string", "null"]}}}
    assert norm_fact(fact) != norm_fact({**fact, "required": []})
    assert norm_fact(fact) != norm_fact({**fact, "properties": {"a": {"type": "string"}}})
    assert norm_fact(fact) != norm_fact(
        {**fact, "properties": {"a": {"type": ["integer", "null"]}}}
    )
    assert norm_fact({"anyOf": [{"type": "string", "enum": ["x"]}, {"type": "null"}]}) == {
        "type": ["null", "string"],
        "enum": ["x"],
    }

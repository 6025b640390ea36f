"""Checks on the split OpenAPI spec in openapi/ (self-contained: bundles the files itself)."""

from __future__ import annotations

import keyword
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC_DIR = REPO / "openapi"
# The 435 known endpoints (method, path, operation id, sources), vendored from shared/api/operations.txt.
OPERATIONS_TXT = REPO / "openapi/facts/operations.txt"
METHODS = ("get", "put", "patch", "post", "delete")

# operations.txt lines whose operationId is "—" or duplicated; see openapi/README.md.
NORMALISED_IDS: dict[tuple[str, str], str] = {
    ("GET", "/api/v2/teams/{team_id}/memberships"): "listTeamMemberships",
    ("GET", "/api/v2/emails/broadcasts/{broadcast_id}/stats"): "getEmailsBroadcastStats",
    ("GET", "/api/v2/workflows/steps/{step_id}/stats"): "getWorkflowStepStats",
    ("GET", "/api/v2/workspaces/{workspace_id}/stats"): "getWorkspaceStats",
    (
        "GET",
        "/api/v2/workspaces/{workspace_id}/webhooks/incoming/external_purchase_endpoints",
    ): "listWebhooksIncomingExternalPurchaseEndpoints",
    (
        "POST",
        "/api/v2/workspaces/{workspace_id}/webhooks/incoming/external_purchase_endpoints",
    ): "createWebhooksIncomingExternalPurchaseEndpoints",
    (
        "GET",
        "/api/v2/webhooks/incoming/external_purchase_endpoints/{id}",
    ): "getWebhooksIncomingExternalPurchaseEndpoints",
    (
        "PATCH",
        "/api/v2/webhooks/incoming/external_purchase_endpoints/{id}",
    ): "updateWebhooksIncomingExternalPurchaseEndpoints",
    (
        "DELETE",
        "/api/v2/webhooks/incoming/external_purchase_endpoints/{id}",
    ): "removeWebhooksIncomingExternalPurchaseEndpoints",
    (
        "GET",
        "/api/v2/webhooks/incoming/external_purchase_endpoints/{id}/product_mappings",
    ): "listWebhooksIncomingExternalPurchaseProductMappings",
    (
        "POST",
        "/api/v2/webhooks/incoming/external_purchase_endpoints/{id}/product_mappings",
    ): "createWebhooksIncomingExternalPurchaseProductMappings",
    (
        "GET",
        "/api/v2/webhooks/incoming/external_purchase_product_mappings/{id}",
    ): "getWebhooksIncomingExternalPurchaseProductMappings",
    (
        "PATCH",
        "/api/v2/webhooks/incoming/external_purchase_product_mappings/{id}",
    ): "updateWebhooksIncomingExternalPurchaseProductMappings",
    (
        "DELETE",
        "/api/v2/webhooks/incoming/external_purchase_product_mappings/{id}",
    ): "removeWebhooksIncomingExternalPurchaseProductMappings",
    (
        "GET",
        "/api/v2/webhooks/incoming/external_purchase_endpoints/{id}/events",
    ): "listWebhooksIncomingExternalPurchaseEvents",
    (
        "GET",
        "/api/v2/webhooks/incoming/external_purchase_events/{id}",
    ): "getWebhooksIncomingExternalPurchaseEvents",
    # the inventory gives this legacy route the same id as POST /products/variants/{variant_id}/prices
    ("POST", "/api/v2/products/{product_id}/prices"): "createProductsPricesForProduct",
}


# ----------------------------------------------------------------------------- bundling


class DuplicateKey(Exception):
    pass


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: expected a mapping"
    return data


def bundle(spec_dir: Path = SPEC_DIR) -> dict[str, Any]:
    """Same semantics as generator/bundle.py: merge paths and components, fail on duplicates."""
    doc = _load(spec_dir / "openapi.yaml")
    assert doc.get("paths") == {}, "the root keeps `paths: {}`"
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {k: dict(v) for k, v in doc["components"].items()}
    for part in sorted((spec_dir / "paths").glob("*.yaml")):
        data = _load(part)
        assert set(data) <= {"paths", "components"}, f"{part}: unexpected top-level keys"
        for url, item in (data.get("paths") or {}).items():
            target = paths.setdefault(url, {})
            for key, value in item.items():
                if key in target:
                    raise DuplicateKey(f"{part}: {key} {url}")
                target[key] = value
        for section, entries in (data.get("components") or {}).items():
            target = components.setdefault(section, {})
            for name, value in entries.items():
                if name in target:
                    raise DuplicateKey(f"{part}: components.{section}.{name}")
                target[name] = value
    doc["paths"] = dict(sorted(paths.items()))
    doc["components"] = components
    return doc


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return bundle()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), url, op)
        for url, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def inventory_lines() -> list[tuple[str, str, str, list[str]]]:
    if not OPERATIONS_TXT.exists():
        pytest.fail(f"{OPERATIONS_TXT} is missing: it is part of the repository")
    out = []
    for line in OPERATIONS_TXT.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(\w+) (\S+) (\S+) \[.*\] (\S+)$", line)
        assert m, line
        out.append((m[1], m[2], m[3], m[4].split(",")))
    return out


# ----------------------------------------------------------------------------- tests


def test_validates(spec: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(spec)


def test_root_layout() -> None:
    root = _load(SPEC_DIR / "openapi.yaml")
    assert root["openapi"] == "3.1.0"
    assert root["info"]["title"] == "ClickFunnels API v2"
    assert "User-Agent" in root["info"]["description"]
    urls = [s["url"] for s in root["servers"]]
    assert urls == [
        "https://accounts.myclickfunnels.com",
        "https://{subdomain}.myclickfunnels.com",
        "https://gateway.maton.ai/clickfunnels",
    ]
    for name in ("After", "SortOrder"):
        assert name in root["components"]["parameters"]
    for name in ("PaginationNext", "Link"):
        assert name in root["components"]["headers"]
    for name in ("Error", "FieldErrors"):
        assert name in root["components"]["schemas"]
    for name in (
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "Conflict",
        "UnprocessableEntity",
        "TooManyRequests",
    ):
        assert name in root["components"]["responses"]


def test_bundler_rejects_duplicates(tmp_path: Path) -> None:
    (tmp_path / "paths").mkdir()
    (tmp_path / "openapi.yaml").write_text(
        "openapi: 3.1.0\npaths: {}\ncomponents: {schemas: {A: {type: object}}}\n"
    )
    (tmp_path / "paths" / "x.yaml").write_text("components: {schemas: {A: {type: string}}}\n")
    with pytest.raises(DuplicateKey):
        bundle(tmp_path)


def test_inventory_operations_present(spec: dict[str, Any]) -> None:
    have = {(m, url): op["operationId"] for m, url, op in operations(spec)}
    missing, wrong = [], []
    for method, url, opid, sources in inventory_lines():
        expected = NORMALISED_IDS.get((method, url), opid)
        if "CLI" in sources:
            assert (method, url) not in NORMALISED_IDS, "CLI ids are kept verbatim"
        if (method, url) not in have:
            missing.append(f"{method} {url}")
        elif have[(method, url)] != expected:
            wrong.append(f"{method} {url}: {have[(method, url)]} != {expected}")
    assert not missing, missing
    assert not wrong, wrong


def test_operation_ids_unique(spec: dict[str, Any]) -> None:
    ids = Counter(op["operationId"] for _, _, op in operations(spec))
    assert [i for i, n in ids.items() if n > 1] == []


def test_vendor_extensions(spec: dict[str, Any]) -> None:
    pairs: Counter[tuple[str, str]] = Counter()
    namespaces = set()
    for _, _url, op in operations(spec):
        ns, verb = op.get("x-cf-namespace"), op.get("x-cf-verb")
        assert ns and verb, f"{op['operationId']}: x-cf-namespace / x-cf-verb missing"
        for part in [*ns.split("."), verb]:
            assert part.isidentifier() and not keyword.iskeyword(part), (op["operationId"], part)
        assert op.get("x-cf-host", "accounts") == "accounts"
        assert op["summary"] and len(op.get("tags", [])) == 1
        pairs[(ns, verb)] += 1
        namespaces.add(ns)
    assert [p for p, n in pairs.items() if n > 1] == []
    shadowed = [(ns, verb) for ns, verb in pairs if f"{ns}.{verb}" in namespaces]
    assert shadowed == []


def test_pagination_headers(spec: dict[str, Any]) -> None:
    for _, _, op in operations(spec):
        names = {resolve(spec, p)["name"] for p in op.get("parameters", [])}
        if "after" not in names:
            continue
        ok = next(r for code, r in op["responses"].items() if str(code).startswith("2"))
        assert "Pagination-Next" in ok.get("headers", {}), op["operationId"]
        assert "Link" in ok.get("headers", {}), op["operationId"]
        assert {"sort_order", "sort_property"} <= names or op["operationId"] == (
            "listWorkspaceRefineFilters"
        ), op["operationId"]


def test_request_bodies(spec: dict[str, Any]) -> None:
    for _, url, op in operations(spec):
        body = op.get("requestBody")
        if not body:
            continue
        ref = body["content"]["application/json"]["schema"]
        assert "$ref" in ref, f"{op['operationId']}: request body must be a named component"
        schema = resolve(spec, ref)
        props = schema.get("properties", {})
        path_params = set(re.findall(r"\{(\w+)\}", url))
        # A wrapper is a single property that points at a named model; flat bodies (publish,
        # DELETE /pages/{id}/products, contact filters) hold plain fields at the top level.
        if len(props) == 1 and "$ref" in next(iter(props.values())):
            (key,) = props
            assert schema.get("required") == [key], op["operationId"]
            inner = resolve(spec, props[key])
            assert inner.get("type") == "object", op["operationId"]
            assert not (set(inner.get("properties", {})) & path_params), op["operationId"]
        else:
            assert all("$ref" not in v or len(props) > 1 for v in props.values())
        assert not (set(props) & path_params), op["operationId"]


def test_standard_responses(spec: dict[str, Any]) -> None:
    for method, url, op in operations(spec):
        codes = {str(c) for c in op["responses"]}
        assert {"401", "429"} <= codes, op["operationId"]
        if "{" in url:
            assert "404" in codes, op["operationId"]
        if method in ("POST", "PUT", "PATCH"):
            assert "422" in codes, op["operationId"]
        if method == "DELETE" and "204" in codes:
            assert "content" not in op["responses"]["204"]


def test_filters_are_named_deep_objects(spec: dict[str, Any]) -> None:
    for _, _, op in operations(spec):
        for p in op.get("parameters", []):
            p = resolve(spec, p)
            if p["name"] == "filter":
                assert p["style"] == "deepObject" and p["explode"] is True
                assert "$ref" in p["schema"], op["operationId"]
            if p["name"] == "expand[]":
                assert "$ref" in p["schema"]["items"], op["operationId"]


def _walk(node: Any, where: str, out: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("properties") and where.count("/") > 1:
            out.append(where)
        if node.get("additionalProperties") is False:
            out.append(where + " (additionalProperties: false)")
        for k, v in node.items():
            _walk(v, f"{where}/{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, f"{where}/{i}", out)


def test_no_inline_object_models(spec: dict[str, Any]) -> None:
    """Inline objects with properties make the generator invent names; keep them as components."""
    bad: list[str] = []
    for name, schema in spec["components"]["schemas"].items():
        for key, value in schema.get("properties", {}).items():
            _walk(value, f"{name}/{key}", bad)
    for _, url, op in operations(spec):
        _walk(op, f"{url}/{op['operationId']}", bad)
    assert bad == []

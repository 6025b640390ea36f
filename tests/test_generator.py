"""The generator's own rules: the x-cf-* registry, the verb rules of openapi/README.md, one row definition."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "generator"))

from bundle import bundle  # noqa: E402
from extensions import REGISTRY, ExtensionError  # noqa: E402
from extensions import read as read_extensions  # noqa: E402
from intermediate import Spec, SpecError, collect  # noqa: E402

from clickfunnels_async._generated.operation_table import OPERATIONS  # noqa: E402
from clickfunnels_async._operation_row import Operation  # noqa: E402


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return bundle()


def _spec(doc: dict[str, Any]) -> Spec:
    return Spec(
        doc,
        {
            op.response_model.split(":")[1]: op.response_model.split(":")[0]
            for op in OPERATIONS.values()
            if op.response_model
        }
        | {
            op.body_model.split(":")[1]: op.body_model.split(":")[0]
            for op in OPERATIONS.values()
            if op.body_model
        },
    )


def _with(doc: dict[str, Any], path: str, method: str, **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    changed["paths"][path][method].update(changes)
    return changed


def test_a_misspelt_extension_fails_generation_with_a_hint(doc: dict[str, Any]) -> None:
    bad = _with(
        doc,
        "/api/v2/workspaces/{workspace_id}/contacts/upsert",
        "post",
        **{"x-cf-idempotant": True},
    )
    with pytest.raises(
        ExtensionError,
        match=r"unknown extension x-cf-idempotant \(did you mean x-cf-idempotent\?\)",
    ):
        collect(_spec(bad))


def test_extension_values_are_type_checked() -> None:
    base = {"x-cf-namespace": "contacts", "x-cf-verb": "list"}
    with pytest.raises(ExtensionError, match="x-cf-idempotent must be a bool"):
        read_extensions({**base, "x-cf-idempotent": "yes"}, "op")
    with pytest.raises(ExtensionError, match="x-cf-host must be one of accounts, workspace"):
        read_extensions({**base, "x-cf-host": "acounts"}, "op")
    with pytest.raises(ExtensionError, match="x-cf-verb is required"):
        read_extensions({"x-cf-namespace": "contacts"}, "op")
    defaults = {
        **base,
        "x-cf-host": "workspace",
        "x-cf-idempotent": False,
        "x-cf-natural-key": None,
        "x-cf-source": None,
    }
    assert read_extensions(base, "op") == defaults


def test_every_registered_extension_is_documented() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    for name, ext in REGISTRY.items():
        assert f"`{name}`" in design, name
        assert ext.meaning


def test_the_table_is_the_generator_model_rendered(doc: dict[str, Any]) -> None:
    ops = collect(_spec(doc))
    assert {o.row.id for o in ops} == set(OPERATIONS)
    # the generator's row is the runtime's class (loaded from the same file), field for field
    assert [f.name for f in attrs.fields(type(ops[0].row))] == [
        f.name for f in attrs.fields(Operation)
    ]
    for o in ops:
        assert attrs.asdict(o.row) == attrs.asdict(OPERATIONS[o.row.id]), o.row.id


def test_two_methods_with_one_name_fail(doc: dict[str, Any]) -> None:
    bad = _with(
        doc, "/api/v2/workspaces/{workspace_id}/contacts/upsert", "post", **{"x-cf-verb": "create"}
    )
    with pytest.raises(SpecError, match=r"are both contacts\.create"):
        collect(_spec(bad))


# --------------------------------------------------------------------------- verb rules (openapi/README.md)

SINGLETONS = {"site", "stats", "settings"}
MEMBER = {"GET": "get", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
COLLECTION = {"GET": "list", "POST": "create"}
# Verbs the README lists by name as resolved collisions or actions on a collection.
EXCEPTIONS = {
    "archiveEmailsTopic": "archive",
    "createExternalPage": "create_external",
    "createProductsPricesForProduct": "create_for_product",
    "fetchMyUser": "get_me",
    "generateContactFilter": "generate",
    "listWorkspaceOrdersInvoices": "list_for_workspace",
    "previewOrdersLineItemsChange": "preview",
    "removeProductsFromPage": "remove_products",
}


def _expected_verb(op: Operation) -> str | None:
    segments = op.path.strip("/").split("/")
    last = segments[-1]
    collection = op.namespace.split(".")[-1]
    if last.startswith("{"):
        return MEMBER.get(op.method)
    if last in SINGLETONS:
        return {"GET": "get", "PUT": "update"}.get(op.method)
    # `external_purchase_product_mappings` is listed under `.../{id}/product_mappings` (README)
    if collection.endswith(last) or len(segments) < 2:
        return COLLECTION.get(op.method)
    if op.method in ("POST", "DELETE"):
        return last  # `.../{id}/<action>` or `.../<collection>/<action>`
    return f"get_{last}"


def test_verbs_follow_the_readme_rules() -> None:
    wrong = [
        f"{op.id}: {op.method} {op.path} is {op.qualname}, the rule says {_expected_verb(op)}"
        for op in OPERATIONS.values()
        if op.verb != EXCEPTIONS.get(op.id, _expected_verb(op))
    ]
    assert wrong == []


def test_every_verb_exception_is_documented() -> None:
    readme = (ROOT / "openapi" / "README.md").read_text()
    for op_id, verb in EXCEPTIONS.items():
        op = OPERATIONS[op_id]
        assert op.verb == verb
        assert op_id in readme or op.qualname in readme, op_id

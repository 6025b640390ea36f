"""The bundled OpenAPI document, and following `$ref`s inside one (all references are internal, `#/...`).

Shared by the generator (which loads this file on its own, without importing the package), the emulator and
the models' pydantic schemas. It imports nothing from the package for that reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

_MAX_HOPS = 20


@cache
def bundled_spec() -> dict[str, Any]:
    """The spec the package ships (`clickfunnels_async/_generated/openapi.json`), read once; not to be changed."""
    text = (
        resources.files("clickfunnels_async._generated").joinpath("openapi.json").read_text("utf-8")
    )
    doc: dict[str, Any] = json.loads(text)
    return doc


def lookup(doc: Mapping[str, Any], ref: str) -> Any:
    """The node a JSON pointer such as `#/components/schemas/Contact` names."""
    if not ref.startswith("#/"):
        raise ValueError(f"only internal $refs are supported after bundling, not {ref!r}")
    target: Any = doc
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def resolve(doc: Mapping[str, Any], node: Any) -> Any:
    """`node` with `$ref`s followed until a node that is not a reference."""
    hops = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        node = lookup(doc, ref)
        hops += 1
        if hops > _MAX_HOPS:
            raise ValueError(f"$ref loop at {ref}")
    return node

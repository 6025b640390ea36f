"""Following `$ref`s inside one bundled OpenAPI document (all references are internal, `#/...`).

Shared by the generator (which loads this file on its own, without importing the package) and the emulator.
It imports nothing from the package for that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MAX_HOPS = 20


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

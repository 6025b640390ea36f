"""The registry of our `x-cf-*` vendor extensions: the only ones the spec may use.

A key that is not listed here fails generation: a typo such as `x-cf-idempotant` would otherwise be ignored
and silently change behaviour (an upsert no longer retried). Adding an extension = one entry here, plus the
generator or runtime code that reads it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import attrs


class ExtensionError(Exception):
    pass


@attrs.frozen
class Extension:
    name: str
    type: type
    default: Any
    meaning: str
    required: bool = False
    choices: tuple[str, ...] = ()


REGISTRY: dict[str, Extension] = {
    e.name: e
    for e in (
        Extension(
            "x-cf-namespace",
            str,
            None,
            "dotted namespace on the client (`contacts.tags` -> `cf.contacts.tags`)",
            required=True,
        ),
        Extension(
            "x-cf-verb",
            str,
            None,
            "method name in that namespace (`list get create update delete` or the action's name)",
            required=True,
        ),
        Extension(
            "x-cf-host",
            str,
            "workspace",
            "the host that serves it: `accounts` (teams, workspaces, users) or `workspace`",
            choices=("accounts", "workspace"),
        ),
        Extension(
            "x-cf-natural-key",
            str,
            None,
            "a body field the API keeps unique: an ambiguous write is looked up by it (bulk reconciliation)",
        ),
        Extension(
            "x-cf-source",
            str,
            None,
            "`inventory`: the official spec files lack this operation; typed from the inventory (best known)",
            choices=("inventory",),
        ),
        Extension(
            "x-cf-idempotent",
            bool,
            False,
            "a POST that is safe to resend after it may have reached the server (retried like a PUT)",
        ),
    )
}


def read(op: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The extension values of one operation (defaults filled in); raises on unknown or mistyped keys."""
    values: dict[str, Any] = {}
    for key, value in op.items():
        if not key.startswith("x-cf-"):
            continue
        ext = REGISTRY.get(key)
        if ext is None:
            close = difflib.get_close_matches(key, REGISTRY, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ExtensionError(
                f"{where}: unknown extension {key}{hint}; known: {', '.join(sorted(REGISTRY))} "
                "(generator/extensions.py)"
            )
        if type(value) is not ext.type:
            raise ExtensionError(f"{where}: {key} must be a {ext.type.__name__}, not {value!r}")
        if ext.choices and value not in ext.choices:
            raise ExtensionError(
                f"{where}: {key} must be one of {', '.join(ext.choices)}, not {value!r}"
            )
        values[key] = value
    for ext in REGISTRY.values():
        if ext.name not in values:
            if ext.required:
                raise ExtensionError(f"{where}: {ext.name} is required ({ext.meaning})")
            values[ext.name] = ext.default
    return values

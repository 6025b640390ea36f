"""The floors of docs/DESIGN.md, checked on the source: imports only go the way the design draws them.

Every `import` and `from ... import` counts, including those under `if TYPE_CHECKING:` and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "clickfunnels_async"

# Hand-written modules the generator loads by file path: they import nothing from the package.
LEAVES = {"_spec_refs", "_operation_row", "_version", "_json", "_log"}
# The runtime under the client: never the client, the namespaces, the public models module or the extras.
RUNTIME = {
    "_aiohttp",
    "_hints",
    "_core",
    "_errors",
    "_filters",
    "_hosts",
    "_maton",
    "_namespace",
    "_options",
    "_pacing",
    "_pagination",
    "_requests",
    "_throttle",
    "_transport",
} | LEAVES
EXTRAS = {"bulk", "cli", "integrations", "oauth", "redis", "testing", "webhooks"}
# What the extras may use besides the public surface (`clickfunnels_async`, `.models`, each other's packages).
EXTRA_INTERNALS = {
    "_errors",
    "_filters",
    "_hosts",
    "_json",
    "_log",
    "_namespace",
    "_operation_row",
    "_pacing",
    "_pagination",
    "_spec_refs",
    "_version",
    "_generated.operation_table",
}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """Package-internal targets, relative to `clickfunnels_async.` ("" = the package itself)."""
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from pkg import name` imports the submodule pkg.name when there is one.
            folder = root.joinpath(*module.split("."))
            subs = [
                f"{module}.{a.name}"
                for a in node.names
                if (folder / f"{a.name}.py").exists() or (folder / a.name).is_dir()
            ]
            targets = [module, *subs] if node.module else subs
        for target in targets:
            if target == "generator" or target.startswith("generator."):
                out.add("generator")
            elif target == "clickfunnels_async":
                out.add("")
            elif target.startswith("clickfunnels_async."):
                out.add(target.removeprefix("clickfunnels_async."))
    return out


def _modules() -> dict[str, set[str]]:
    return {
        _module_name(p).removeprefix("clickfunnels_async").lstrip("."): _imports(p)
        for p in PKG.rglob("*.py")
    }


def _under(target: str, prefixes: set[str]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


MODULES = _modules()


def _check(modules: dict[str, set[str]], ok: object) -> list[str]:
    return [
        f"{m} imports {t}" for m, ts in sorted(modules.items()) for t in sorted(ts) if not ok(m, t)
    ]  # type: ignore[operator]


def test_the_import_graph_was_read() -> None:
    assert {"_core", "_client", "_generated.namespaces.contacts", "cli._generic"} <= set(MODULES)
    assert "_core" in MODULES["_client"] and "_generated.namespaces" in MODULES["_client"]


def test_leaves_import_nothing_from_the_package() -> None:
    assert _check({m: MODULES[m] for m in LEAVES if m in MODULES}, lambda m, t: False) == []


def test_the_runtime_never_reaches_up() -> None:
    above = {"_client", "_generated.namespaces", "models", *EXTRAS, ""}
    modules = {m: ts for m, ts in MODULES.items() if m in RUNTIME}
    assert _check(modules, lambda m, t: not _under(t, above)) == []


def test_generated_code_stands_only_on_the_namespace_floor() -> None:
    allowed = {"_generated", "_namespace", "_filters", "_pagination", "_operation_row", "_pydantic"}
    modules = {m: ts for m, ts in MODULES.items() if m.startswith("_generated")}
    assert "_generated.operation_table" in modules
    assert _check(modules, lambda m, t: _under(t, allowed)) == []


def test_only_the_client_composes_namespaces_and_core() -> None:
    users = {
        m
        for m, ts in MODULES.items()
        if any(_under(t, {"_generated.namespaces", "_core"}) for t in ts)
    }
    assert {u for u in users if not u.startswith("_generated.namespaces")} == {"_client"}


def test_extras_use_the_public_surface_and_a_few_listed_internals() -> None:
    modules = {m: ts for m, ts in MODULES.items() if m.split(".")[0] in EXTRAS}

    def ok(module: str, target: str) -> bool:
        head = target.split(".")[0]
        return target in ("", "models") or head in EXTRAS or _under(target, EXTRA_INTERNALS)

    assert _check(modules, ok) == []


def test_nothing_at_run_time_imports_the_generator() -> None:
    assert [m for m, ts in MODULES.items() if "generator" in ts] == []


@pytest.mark.parametrize(
    "bad", ["from ._client import ClickFunnels", "from clickfunnels_async import cli"]
)
def test_the_check_catches_an_upward_import(tmp_path: Path, bad: str) -> None:
    fake = tmp_path / "clickfunnels_async" / "_hosts.py"
    fake.parent.mkdir()
    fake.write_text(bad + "\n")
    (fake.parent / "cli").mkdir()
    found = _imports(fake, tmp_path)
    above = {"_client", "cli"}
    assert _check({"_hosts": found}, lambda m, t: not _under(t, above)) != []

"""Merge the split spec in openapi/ into one OpenAPI document.

`openapi/openapi.yaml` is the root; every `openapi/paths/*.yaml` adds `paths` and `components`. A key defined
twice is an error: two files silently overriding each other is how specs rot.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "openapi"


class BundleError(Exception):
    pass


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a mapping at the top level")
    return data


def _merge_paths(into: dict[str, Any], new: dict[str, Any], source: Path) -> None:
    for url, item in (new or {}).items():
        target = into.setdefault(url, {})
        for key, value in item.items():
            if key in target:
                raise BundleError(f"{source}: {key} {url} is already defined in another file")
            target[key] = value


def _merge_components(into: dict[str, Any], new: dict[str, Any], source: Path) -> None:
    for section, entries in (new or {}).items():
        target = into.setdefault(section, {})
        for name, value in entries.items():
            if name in target:
                raise BundleError(f"{source}: components.{section}.{name} is already defined")
            target[name] = value


def bundle(spec_dir: Path = SPEC_DIR) -> dict[str, Any]:
    root_file = spec_dir / "openapi.yaml"
    doc = _load(root_file)
    doc["paths"] = dict(doc.get("paths") or {})
    doc["components"] = dict(doc.get("components") or {})
    for part in sorted((spec_dir / "paths").glob("*.yaml")):
        data = _load(part)
        unknown = set(data) - {"paths", "components"}
        if unknown:
            raise BundleError(
                f"{part}: only 'paths' and 'components' may appear, found {sorted(unknown)}"
            )
        _merge_paths(doc["paths"], data.get("paths") or {}, part)
        _merge_components(doc["components"], data.get("components") or {}, part)
    doc["paths"] = dict(sorted(doc["paths"].items()))
    for section, entries in doc["components"].items():
        doc["components"][section] = dict(sorted(entries.items()))
    return doc


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    text = yaml.safe_dump(bundle(), sort_keys=False, allow_unicode=True)
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)

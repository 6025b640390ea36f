#!/usr/bin/env bash
# Each extra works alone: build the wheel once, then for "none" and every extra in pyproject.toml install
# the wheel with only that extra in a fresh venv and run .ci/smoke_extras.py there. An import the package
# needs but does not declare fails here, whatever the dev environment happens to have.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEV=.venv/bin/python   # has the testing extra: runs the emulator for the CLI smoke test
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$DEV -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
wheel=$(ls "$work"/dist/clickfunnels_async-*.whl)
extras=$($DEV -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]))')
for extra in none $extras; do
    $PY -m venv "$work/$extra"
    spec=$wheel; [ "$extra" = none ] || spec="$wheel[$extra]"
    "$work/$extra/bin/python" -m pip install --quiet "$spec"
    # Run from the temp dir so the checkout's clickfunnels_async package cannot shadow the installed one.
    (cd "$work" && "$work/$extra/bin/python" "$OLDPWD/.ci/smoke_extras.py" "$extra" "$OLDPWD/$DEV")
done

"""Every ```python block of README.md runs against the emulator, so the README cannot drift from the code.

Each block gets a fresh `FakeClickFunnels` served on 127.0.0.1 and the environment a user would set
(`CLICKFUNNELS_API_TOKEN`, `CLICKFUNNELS_BASE_URL`), in a temporary working directory. A block with top-level
`await` runs inside an event loop with `cf`, an open `ClickFunnels()` client (the README says so where the
snippets start); any other block runs as a script. A comment right before a block changes that:

- `<!-- readme-test: skip (reason) -->`: needs something the emulator cannot stand in for; reported as
  skipped with the reason (which is required);
- `<!-- readme-test: pytest -->`: the block is a test module; it is run by pytest and every test must pass.
"""

from __future__ import annotations

import ast
import inspect
import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import pytest

from clickfunnels_async import ClickFunnels
from clickfunnels_async.testing import FakeClickFunnels

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_MARKER = re.compile(
    r"^\s*<!--\s*readme-test:\s*(?P<kind>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$"
)


class Block(NamedTuple):
    line: int  # of the opening fence, 1-based
    source: str
    marker: str | None  # "skip", "pytest" or None
    reason: str


def python_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent, start = fence["indent"], i
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        if fence["lang"] == "python":
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[start + 1 : i]
            ]
            previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
            marker = _MARKER.match(previous)
            blocks.append(
                Block(
                    start + 1,
                    "\n".join(body) + "\n",
                    marker["kind"] if marker else None,
                    (marker["reason"] or "").strip() if marker else "",
                )
            )
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks_and_every_marker_is_known() -> None:
    assert len(BLOCKS) >= 10
    for block in BLOCKS:
        assert block.marker in (None, "skip", "pytest"), f"README.md:{block.line}: {block.marker}"
        if block.marker == "skip":
            assert block.reason, f"README.md:{block.line}: a skip marker needs a reason in (...)"


@contextmanager
def served(fake: FakeClickFunnels) -> Iterator[str]:
    """*fake* on a real socket, its event loop in a thread of its own, so a block may call anyio.run()."""
    ready: queue.Queue[str | BaseException] = queue.Queue()
    stop = threading.Event()

    async def host() -> None:
        try:
            async with fake, fake.serve() as url:
                ready.put(url)
                await anyio.to_thread.run_sync(stop.wait)
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=anyio.run, args=(host,), daemon=True)
    thread.start()
    item = ready.get(timeout=60)
    if isinstance(item, BaseException):
        raise item
    try:
        yield item
    finally:
        stop.set()
        thread.join(30)


def _compile(block: Block) -> Any:
    # Leading newlines keep the README's line numbers in tracebacks.
    source = "\n" * block.line + textwrap.dedent(block.source)
    return compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def _run(block: Block) -> None:
    code = _compile(block)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    if not code.co_flags & inspect.CO_COROUTINE:
        exec(code, namespace)
        return

    async def main() -> None:
        async with ClickFunnels() as cf:
            namespace["cf"] = cf
            await eval(code, namespace)

    anyio.run(main)


def _run_as_test_module(block: Block, directory: Path) -> None:
    (directory / "test_from_readme.py").write_text(
        "\n" * block.line + textwrap.dedent(block.source), encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKFUNNELS_", "PYTEST_"))}
    # The plugins a user of the README has, by their entry point names (autoloading every plugin of this
    # environment costs seconds): anyio's, pytest-asyncio's and ours, which registers the fixture.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    plugins = ["-p", "anyio", "-p", "asyncio", "-p", "clickfunnels_async", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, "test_from_readme.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b\d+ passed\b", done.stdout) and "skipped" not in done.stdout, done.stdout


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_readme_block(
    block: Block,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if block.marker == "skip":
        pytest.skip(f"README.md:{block.line}: {block.reason}")
    monkeypatch.chdir(tmp_path)
    if block.marker == "pytest":
        _run_as_test_module(block, tmp_path)
        return
    for name in list(os.environ):
        if name.startswith("CLICKFUNNELS_"):
            monkeypatch.delenv(name)
    fake = FakeClickFunnels(seed=1)
    fake.seed(contacts=150)  # ids 1..150: the README's `cf.contacts.get(123)` finds one
    with served(fake) as url:
        monkeypatch.setenv("CLICKFUNNELS_API_TOKEN", fake.token)
        monkeypatch.setenv("CLICKFUNNELS_BASE_URL", url)
        monkeypatch.setenv(
            "CLICKFUNNELS_SUBDOMAIN", "acme"
        )  # a shell set up for the real API: BASE_URL wins
        _run(block)
    capsys.readouterr()  # what the block printed is not the test's output

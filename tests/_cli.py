"""What the CLI tests share: the app wired to an in-process emulator, invoking it, input files.

The CLI runs its own event loop (anyio.run). The emulator is reached in-process through the app's hidden
hook, `build_app(client_factory=...)`; an interrupt is a real SIGINT raised from the transport after some
requests, which asyncio turns into a cancellation of the command, as Ctrl-C would.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from typer.testing import CliRunner

from clickfunnels_async import ClickFunnels, RetryPolicy
from clickfunnels_async.cli import build_app
from clickfunnels_async.testing import FakeClickFunnels

FAST_RETRIES = RetryPolicy(initial_delay=0.002, max_delay=0.02, jitter=0.1)


class Interrupting(httpx.AsyncBaseTransport):
    """Passes requests to the emulator; after `after` of them, sends this process a SIGINT (Ctrl-C)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, after: int | None) -> None:
        self.inner = inner
        self.after = after
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.after is not None and self.count == self.after:
            signal.raise_signal(signal.SIGINT)
            await anyio.sleep(
                0
            )  # a real network call would suspend here; the in-process fake does not
        return await self.inner.handle_async_request(request)


def make_app(
    fake: FakeClickFunnels,
    *,
    interrupt_after: int | None = None,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
) -> Any:
    """The CLI talking to `fake` in-process; `--api-token` and `--base-url` still apply when given."""

    def factory(**kwargs: Any) -> ClickFunnels:
        inner = fake.transport() if wrap is None else wrap(fake.transport())
        http = httpx.AsyncClient(transport=Interrupting(inner, interrupt_after))
        kwargs = {"api_token": fake.token, "base_url": fake.base_url, **kwargs}
        return ClickFunnels(http_client=http, retry_policy=FAST_RETRIES, **kwargs)

    return build_app(client_factory=factory)


def invoke(app: Any, args: list[str], **kwargs: Any) -> Any:
    return CliRunner().invoke(app, args, catch_exceptions=False, **kwargs)


def export(app: Any, out: Path | None, *more: str, workspace: str = "42") -> Any:
    """`contacts export --workspace-id 42 [-o out] more...`"""
    args = ["contacts", "export", "--workspace-id", workspace]
    if out is not None:
        args += ["-o", str(out)]
    return invoke(app, [*args, *more])


def import_(app: Any, source: Path, *more: str, workspace: str = "42") -> Any:
    """`contacts import source --workspace-id 42 more...`"""
    return invoke(app, ["contacts", "import", str(source), "--workspace-id", workspace, *more])


def write_csv(path: Path, n: int, *, prefix: str = "row") -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "first_name", "last_name", "custom_attributes.plan"])
        for i in range(n):
            writer.writerow(
                [f"{prefix}{i}@example.com", f"First{i}", f"Last{i}", "pro" if i % 2 else ""]
            )


@contextmanager
def served_emulator(*args: str, command: Sequence[str] | None = None) -> Iterator[dict[str, str]]:
    """`clickfunnels emulator serve --port 0 args...` in a subprocess: its URL, token and workspace id.
    Stopped by Ctrl-C (SIGINT) at the end, which must end it cleanly."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    prefix = list(command or [sys.executable, "-m", "clickfunnels_async.cli"])
    server = subprocess.Popen(
        [*prefix, "emulator", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        banner = [server.stdout.readline() for _ in range(3)]
        assert "http://127.0.0.1:" in banner[0], [
            *banner,
            server.stderr.read() if server.stderr else "",
        ]
        found = re.search(r"token: (\S+)", banner[1])
        workspace = re.search(r"workspace_id: (\d+)", banner[2])
        assert found is not None and workspace is not None, banner
        yield {
            "url": banner[0].strip().rsplit(" ", 1)[-1],
            "token": found.group(1),
            "workspace_id": workspace.group(1),
        }
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0

"""Processes for the multi-worker tests: the emulator on its own loopback port, stopped by the caller."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]


@attrs.frozen
class Emulator:
    url: str
    token: str
    workspace_id: int


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def emulator(*args: str) -> Iterator[Emulator]:
    """``python -m clickfunnels_async.testing --port 0 ARGS`` until the block ends."""
    # Its stderr is not read: a pipe nobody drains could fill up and stall it.
    proc = python(
        "-m", "clickfunnels_async.testing", "--port", "0", *args, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        banner = "".join(proc.stdout.readline() for _ in range(3))
        port = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        token = re.search(r"token: (\S+)", banner)
        workspace = re.search(r"workspace_id: (\d+)", banner)
        assert port and token and workspace, f"unexpected emulator banner: {banner!r}"
        wait_for_port(int(port.group(1)))
        yield Emulator(f"http://127.0.0.1:{port.group(1)}", token.group(1), int(workspace.group(1)))
    finally:
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def python(
    *args: str, env: dict[str, str] | None = None, stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    return spawn([sys.executable, *args], env=env, stderr=stderr)


def spawn(
    argv: Sequence[str], env: dict[str, str] | None = None, stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    """*argv* in the repository root: stdout (and by default stderr) piped as text, no stdin."""
    return subprocess.Popen(
        list(argv),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )

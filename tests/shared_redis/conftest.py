"""A real Redis server for the tests in this folder: started once per session on a free loopback port."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

from benchmarks.shared_budget import redis_server

HOW_TO_GET_IT = (
    "no redis-server binary on PATH: install it (Debian/Ubuntu: apt-get install -y redis-server; "
    "macOS: brew install redis) to run the Redis tests"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py's client runs on asyncio only


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip(HOW_TO_GET_IT)
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def dead_redis_url() -> str:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs under both event loops the SDK supports."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _sdk_logger_restored() -> Iterator[None]:
    """A test that sets CLICKFUNNELS_LOG leaves the SDK's stderr handler and level behind: undo that, so
    no later test sees every SDK log line twice."""
    logger = logging.getLogger("clickfunnels_async")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers

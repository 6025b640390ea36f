"""pytest plugin: the ``clickfunnels_fake`` fixture (registered as the ``clickfunnels_async`` plugin).

```
@pytest.mark.anyio
async def test_something(clickfunnels_fake):
    cf = clickfunnels_fake.client()
    ...

@pytest.mark.clickfunnels_fake(seed=3, error_rate=0.2)   # options for FakeClickFunnels(...)
@pytest.mark.anyio
async def test_flaky(clickfunnels_fake): ...
```

Importing this module imports nothing heavy; the fake is loaded when the fixture is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from clickfunnels_async.testing._fake import FakeClickFunnels


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "clickfunnels_fake(**options): options for the clickfunnels_fake fixture's FakeClickFunnels",
    )


@pytest.fixture
async def clickfunnels_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeClickFunnels]:
    """A fresh `FakeClickFunnels`, entered (webhooks are delivered in the background) and closed after."""
    from clickfunnels_async.testing._fake import FakeClickFunnels

    marker = request.node.get_closest_marker("clickfunnels_fake")
    options = dict(marker.kwargs) if marker is not None else {}
    async with FakeClickFunnels(**options) as fake:
        yield fake

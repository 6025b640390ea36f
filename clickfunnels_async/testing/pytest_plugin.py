"""pytest plugin: the ``clickfunnels_fake`` fixture (registered as the ``clickfunnels_async`` plugin).

Works with anyio's plugin and with pytest-asyncio (strict or auto mode, any loop scope):

```
@pytest.mark.anyio                  # or @pytest.mark.asyncio (pytest-asyncio), or nothing in auto mode
async def test_something(clickfunnels_fake):
    async with clickfunnels_fake.client() as cf:
        ...

@pytest.mark.clickfunnels_fake(seed=3, error_rate=0.2)   # options for FakeClickFunnels(...)
@pytest.mark.anyio
async def test_flaky(clickfunnels_fake): ...
```

Importing this module imports nothing heavy; the fake is loaded when the fixture is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from clickfunnels_async.testing._fake import FakeClickFunnels

_SCOPES = ("function", "class", "module", "package", "session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "clickfunnels_fake(**options): options for the clickfunnels_fake fixture's FakeClickFunnels",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("clickfunnels_fake")
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def clickfunnels_fake(request: pytest.FixtureRequest) -> FakeClickFunnels:
    """A fresh `FakeClickFunnels`, entered (webhooks are delivered in the background) and closed after.

    The async work is done by whichever plugin runs the test: anyio's, or pytest-asyncio's on the test's
    own event loop (so module- or session-scoped loops work too).
    """
    if "anyio_backend" in request.fixturenames or request.node.get_closest_marker("anyio"):
        fake: FakeClickFunnels = request.getfixturevalue("_clickfunnels_fake_anyio")
        return fake
    marker = request.node.get_closest_marker("asyncio")
    if marker is not None and request.config.pluginmanager.has_plugin("asyncio"):
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
        if scope is None:
            try:
                scope = request.config.getini("asyncio_default_test_loop_scope")
            except ValueError:
                scope = None
        fake = request.getfixturevalue(f"_clickfunnels_fake_asyncio_{scope or 'function'}")
        return fake
    raise pytest.UsageError(
        "clickfunnels_fake is async: mark the test @pytest.mark.anyio (anyio's plugin) or "
        "@pytest.mark.asyncio (pytest-asyncio; or asyncio_mode = auto)"
    )


@pytest.fixture
async def _clickfunnels_fake_anyio(
    request: pytest.FixtureRequest,
) -> AsyncIterator[FakeClickFunnels]:
    # anyio runs an async generator fixture's setup and teardown in one task: a plain `async with` works.
    from clickfunnels_async.testing._fake import FakeClickFunnels

    async with FakeClickFunnels(**_options(request)) as fake:
        yield fake


async def _in_own_task(options: dict[str, Any]) -> AsyncIterator[FakeClickFunnels]:
    # pytest-asyncio runs setup and teardown in two tasks, but the fake's task group must be entered and
    # left by one: a task of our own holds it open for the length of the test.
    import asyncio

    from clickfunnels_async.testing._fake import FakeClickFunnels

    fake = FakeClickFunnels(**options)
    ready, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with fake:
            ready.set()
            await stop.wait()

    task = asyncio.get_running_loop().create_task(hold())
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # entering failed: raise its error
    try:
        yield fake
    finally:
        stop.set()
        await task


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - pytest-asyncio is optional
    pass
else:

    def _asyncio_variant(loop_scope: str) -> Any:
        async def fixture(request: pytest.FixtureRequest) -> AsyncIterator[FakeClickFunnels]:
            async for fake in _in_own_task(_options(request)):
                yield fake

        name = f"_clickfunnels_fake_asyncio_{loop_scope}"
        return pytest_asyncio.fixture(fixture, loop_scope=loop_scope, name=name)  # type: ignore[call-overload]

    for _scope in _SCOPES:
        globals()[f"_clickfunnels_fake_asyncio_{_scope}"] = _asyncio_variant(_scope)

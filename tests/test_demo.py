"""`make demo` is the main job: it must run against the embedded emulator, and its read-only part against a
server chosen by the environment (here the emulator over a loopback socket, standing in for the real API)."""

from __future__ import annotations

import pytest

from clickfunnels_async.testing import FakeClickFunnels
from examples import demo


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLICKFUNNELS_API_TOKEN",
        "CLICKFUNNELS_SUBDOMAIN",
        "CLICKFUNNELS_BASE_URL",
        "MATON_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_demo_against_the_embedded_emulator(anyio_backend: str) -> None:
    await demo.main()
    results = {what: result for what, result, _ in demo.summary}
    assert results["bulk upsert"].startswith("500 upserted, 0 failed")
    assert results["filtered list"] == "found customer007@example.com, customer042@example.com"
    assert results["pagination"] == "500 contacts over 25 pages"
    assert (
        "500 of 500 deliveries verified" in results["webhooks"]
        and "HTTP 400" in results["webhooks"]
    )
    assert results["404"].startswith("NotFoundError")
    assert (
        results["422"].startswith("UnprocessableEntityError")
        and "has already been taken" in results["422"]
    )


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_demo_read_only_part_against_a_configured_server(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeClickFunnels(seed=2) as fake, fake.serve() as url:
        fake.seed(contacts=130, products=3, orders=4)
        writes_before = len(fake.records("contacts"))
        monkeypatch.setenv("CLICKFUNNELS_API_TOKEN", fake.token)
        monkeypatch.setenv("CLICKFUNNELS_BASE_URL", url)
        await demo.main()
        assert len(fake.records("contacts")) == writes_before  # read-only
    results = {what: result for what, result, _ in demo.summary}
    assert set(results) == {"team and workspace", "contacts read", "products, orders"}
    assert results["contacts read"].startswith("100 contacts")
    assert results["products, orders"] == "3 products and 4 orders (first page)"

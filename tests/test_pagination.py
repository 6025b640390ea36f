from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import anyio
import httpx
import pytest
import respx
from _records import contact_json

from clickfunnels_async import ClickFunnels, ClickFunnelsError, InternalServerError, PaginationError
from clickfunnels_async._pagination import MAX_EMPTY_PAGES

URL = "https://acme.myclickfunnels.com/api/v2/workspaces/42/contacts"


def pages_server(total: int, *, page_size: int = 20, log: list[str | None] | None = None) -> Callable[
    [httpx.Request], httpx.Response
]:
    """A list endpoint serving ids 1..total, 20 a page, the way ClickFunnels does."""

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if log is not None:
            log.append(after)
        start = int(after) if after else 0
        ids = list(range(start + 1, min(start + page_size, total) + 1))
        headers = {"Pagination-Next": str(ids[-1])} if ids and ids[-1] < total else {}
        return httpx.Response(200, json=[contact_json(id=i) for i in ids], headers=headers)

    return handler


def client() -> ClickFunnels:
    return ClickFunnels("tok_test_123456", subdomain="acme", max_retries=0)


@pytest.mark.anyio
@pytest.mark.parametrize("total", [0, 1, 20, 60, 1000])
async def test_iterates_every_item_across_pages(total: int) -> None:
    log: list[str | None] = []
    with respx.mock:
        respx.get(URL).mock(side_effect=pages_server(total, log=log))
        async with client() as cf:
            ids = [c.id async for c in cf.contacts.list(42)]
    assert ids == list(range(1, total + 1))
    expected_pages = max(1, -(-total // 20))
    assert log == [None] + [str(20 * i) for i in range(1, expected_pages)]


@pytest.mark.anyio
async def test_empty_pages_that_announce_a_next_page_are_followed() -> None:
    """A server that answers [] with Pagination-Next now and then still gives every item."""
    served = pages_server(60)

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after") or ""
        if after in ("20", "40"):  # two empty pages in a row before the real one
            return httpx.Response(200, json=[], headers={"Pagination-Next": f"{after}e"})
        if after.endswith("e") and not after.endswith("ee"):
            return httpx.Response(200, json=[], headers={"Pagination-Next": f"{after}e"})
        if after.endswith("ee"):
            request = httpx.Request("GET", URL, params={"after": after.rstrip("e")})
            return served(request)
        return served(request)

    with respx.mock:
        respx.get(URL).mock(side_effect=handler)
        async with client() as cf:
            ids = [c.id async for c in cf.contacts.list(42)]
    assert ids == list(range(1, 61))


@pytest.mark.anyio
async def test_only_empty_pages_with_a_cursor_end_in_a_pagination_error_with_the_resume_cursor() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if request.url.params.get("after"):
            return httpx.Response(200, json=[], headers={"Pagination-Next": f"c{calls}"})
        return httpx.Response(200, json=[contact_json(id=1)], headers={"Pagination-Next": "1"})

    got: list[int] = []
    with respx.mock:
        respx.get(URL).mock(side_effect=handler)
        async with client() as cf:
            with pytest.raises(PaginationError) as caught:
                async for contact in cf.contacts.list(42):
                    got.append(contact.id)
    assert got == [1]
    assert calls == 2 + MAX_EMPTY_PAGES  # the first page, then MAX_EMPTY_PAGES + 1 empty ones
    error = caught.value
    assert isinstance(error, ClickFunnelsError)
    assert error.cursor == f"c{calls}" and error.items == 1 and error.operation == "contacts.list"
    assert f"after='c{calls}'" in str(error)


@pytest.mark.anyio
async def test_resume_with_after_and_limit() -> None:
    log: list[str | None] = []
    with respx.mock:
        respx.get(URL).mock(side_effect=pages_server(100, log=log))
        async with client() as cf:
            got = await cf.contacts.list(42, after="40", limit=25).to_list()
    assert [c.id for c in got] == list(range(41, 66))
    assert log == ["40", "60"]  # stops asking once the limit is reached


@pytest.mark.anyio
async def test_limit_zero_sends_nothing() -> None:
    with respx.mock:
        route = respx.get(URL).mock(side_effect=pages_server(10))
        async with client() as cf:
            assert await cf.contacts.list(42, limit=0).to_list() == []
        assert route.call_count == 0


@pytest.mark.anyio
async def test_pages_expose_cursor_and_raw_response() -> None:
    with respx.mock:
        respx.get(URL).mock(side_effect=pages_server(45))
        async with client() as cf:
            pages = [p async for p in cf.contacts.list(42).pages()]
    assert [len(p.items) for p in pages] == [20, 20, 5]
    assert [p.next_cursor for p in pages] == ["20", "40", None]
    assert pages[0].response.status_code == 200


@pytest.mark.anyio
async def test_sort_params_pass_through_and_are_checked() -> None:
    with respx.mock:
        route = respx.get(URL).mock(side_effect=pages_server(3))
        async with client() as cf:
            await cf.contacts.list(42, sort_order="desc", sort_property="updated_at").to_list()
            with pytest.raises(ValueError, match="sort_order"):
                cf.contacts.list(42, sort_order="down")  # type: ignore[arg-type]
    params = route.calls[0].request.url.params
    assert params["sort_order"] == "desc" and params["sort_property"] == "updated_at"


@pytest.mark.anyio
@pytest.mark.parametrize("prefetch", [False, True])
async def test_a_repeated_cursor_yields_its_page_then_raises_a_pagination_error(prefetch: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if after is None:
            return httpx.Response(200, json=[contact_json(id=1)], headers={"Pagination-Next": "1"})
        return httpx.Response(200, json=[contact_json(id=2)], headers={"Pagination-Next": "1"})  # "1" again

    got: list[int] = []
    with respx.mock:
        respx.get(URL).mock(side_effect=handler)
        async with client() as cf:
            with pytest.raises(PaginationError, match="twice") as caught:
                async with cf.contacts.list(42, prefetch=prefetch) as contacts:
                    async for contact in contacts:
                        got.append(contact.id)
    assert got == [1, 2]  # the page that carried the repeated cursor is not dropped
    assert caught.value.cursor == "1" and caught.value.items == 2


@pytest.mark.anyio
async def test_prefetch_needs_a_scope_and_fetches_ahead() -> None:
    order: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        order.append(f"fetch {request.url.params.get('after')}")
        return pages_server(60)(request)

    with respx.mock:
        respx.get(URL).mock(side_effect=handler)
        async with client() as cf:
            with pytest.raises(RuntimeError, match="async with"):
                async for _ in cf.contacts.list(42, prefetch=True):
                    pass
            async with cf.contacts.list(42, prefetch=True) as contacts:
                async for page in contacts.pages():
                    order.append(f"got {page.items[0].id}")
                    await anyio.sleep(0.01)  # the caller works; the next page arrives meanwhile
    # page 2 was requested before the caller finished with page 1
    assert order.index("fetch 20") < order.index("got 21")
    assert order.index("fetch 20") < order.index("got 1") + 2
    assert order[-1] == "got 41"


@pytest.mark.anyio
async def test_error_mid_pagination_propagates_unwrapped_with_prefetch() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("after") == "20":
            return httpx.Response(500, json={"error": "boom"})
        return pages_server(60)(request)

    with respx.mock:
        respx.get(URL).mock(side_effect=handler)
        async with client() as cf:
            seen = []
            with pytest.raises(InternalServerError):
                async with cf.contacts.list(42, prefetch=True) as contacts:
                    async for c in contacts:
                        seen.append(c.id)
    assert seen == list(range(1, 21))


@pytest.mark.anyio
async def test_breaking_out_and_cancelling_leave_nothing_running() -> None:
    with respx.mock:
        respx.get(URL).mock(side_effect=pages_server(200))
        async with client() as cf:
            async with cf.contacts.list(42, prefetch=True) as contacts:
                async for c in contacts:
                    if c.id == 5:
                        break
            with anyio.move_on_after(0.05):
                async with cf.contacts.list(42, prefetch=True) as contacts:
                    async for _ in contacts:
                        await anyio.sleep(1)
            # the client is still usable afterwards
            assert len(await cf.contacts.list(42, limit=3).to_list()) == 3


@pytest.mark.anyio
async def test_memory_stays_bounded_over_a_long_collection() -> None:
    total = 20_000

    async def run(limit: int) -> int:
        # MockTransport rather than respx: respx keeps every call, which is what we measure here.
        http = httpx.AsyncClient(transport=httpx.MockTransport(pages_server(total)))
        async with http, ClickFunnels("tok_test_123456", subdomain="acme", http_client=http) as cf:
            gc.collect()
            tracemalloc.start()
            count = 0
            async for _ in cf.contacts.list(42, limit=limit):
                count += 1
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert count == limit
        return peak

    small = await run(200)
    large = await run(total)
    # 100x more items must not mean 100x more memory: pages are dropped as we go
    assert large < small * 3 + 2_000_000

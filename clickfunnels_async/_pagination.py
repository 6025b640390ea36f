"""Cursor pagination: `after` <- `Pagination-Next`, as an async iterator.

The iterators are plain classes, not async generators: breaking out of `async for` leaves nothing suspended
that would need closing later. Prefetching needs a task running beside the caller, so it only happens inside
`async with`, which gives that task a scope that ends with the block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import attrs
import httpx

from ._errors import PaginationError

if TYPE_CHECKING:
    import anyio.abc

T = TypeVar("T")

# Empty pages that still carry Pagination-Next, followed in a row before giving up with PaginationError.
MAX_EMPTY_PAGES = 3


@attrs.frozen(slots=True)
class Page(Generic[T]):
    """One page of a list: its items, the cursor of the next page (None on the last) and the raw response.

    A page from `await cf.contacts.list(42)` also knows how to fetch the next one: `await page.next_page()`
    (None after the last page, or once `limit` items were returned).
    """

    items: list[T]
    next_cursor: str | None
    response: httpx.Response
    # Set on pages that came from awaiting a paginator: the paginator (for fetch and operation) and the
    # items still allowed by its limit.
    _origin: AsyncPaginator[T] | None = attrs.field(
        default=None, eq=False, repr=False, alias="origin"
    )
    _remaining: int | None = attrs.field(default=None, eq=False, repr=False, alias="remaining")

    async def next_page(self) -> Page[T] | None:
        """The page after this one, or None if this was the last (or the paginator's `limit` is reached)."""
        origin = self._origin
        if origin is None:
            raise RuntimeError(
                "next_page() works on pages from `await cf.<resource>.list(...)`; while iterating "
                "`.pages()`, take the next page from the iterator"
            )
        if not self.items or self.next_cursor is None or self._remaining == 0:
            return None
        return await origin._page_at(self.next_cursor, self._remaining)


FetchPage = Callable[[str | None], Awaitable[Page[T]]]


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "page")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.page: Page[T] | None = None
        self.error: Exception | None = None


class AsyncPaginator(Generic[T]):
    """Every item of a list call, fetched page by page as you iterate.

    `async for item in paginator`, `paginator.pages()`, `await paginator.to_list()`, and `await paginator`
    for the first page only (then `await page.next_page()`). With `prefetch=True`
    the next page is fetched while you work on the current one; use it as `async with paginator as items:`.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        operation: str,
        after: str | None = None,
        limit: int | None = None,
        prefetch: bool = False,
    ) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be a non-negative int or None, not {limit!r}")
        if after is not None and not isinstance(after, str | int):
            raise TypeError(f"after must be the cursor string from Pagination-Next, not {after!r}")
        self._fetch = fetch
        self._operation = operation
        self._after = None if after is None else str(after)
        self._limit = limit
        self._prefetch = prefetch
        self._task_group: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"<AsyncPaginator {self._operation} after={self._after!r} limit={self._limit}>"

    async def __aenter__(self) -> AsyncPaginator[T]:
        if self._task_group is not None:
            raise RuntimeError("this paginator is already open")
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group, self._task_group = self._task_group, None
        assert group is not None
        group.cancel_scope.cancel()  # a prefetch still running is not wanted any more
        # The background task keeps its own errors, so the group only ever sees our cancel; an error of
        # the block itself propagates as it is, not wrapped in an ExceptionGroup.
        await group.__aexit__(None, None, None)
        return None

    def __await__(self) -> Generator[Any, None, Page[T]]:
        """`await paginator` gives its first page (`page.items`, `page.next_cursor`, `page.next_page()`)."""
        return self._page_at(self._after, self._limit).__await__()

    async def _page_at(self, cursor: str | None, limit: int | None) -> Page[T]:
        page = await self._fetch(cursor)
        next_cursor = page.next_cursor or None
        if next_cursor is not None and next_cursor == cursor:
            raise PaginationError(
                f"the server sent the cursor {next_cursor!r} twice; stopping instead of looping forever",
                operation=self._operation,
                cursor=cursor,
            )
        items = page.items if limit is None else page.items[:limit]
        remaining = None if limit is None else limit - len(items)
        return Page(items, next_cursor, page.response, origin=self, remaining=remaining)

    def pages(self) -> AsyncIterator[Page[T]]:
        if self._prefetch and self._task_group is None:
            raise RuntimeError(
                f"{self._operation}: prefetch=True fetches in the background, which needs a scope: "
                "write `async with cf.<resource>.list(..., prefetch=True) as items: async for x in items: ...`"
            )
        return _PageIterator(self)

    def __aiter__(self) -> AsyncIterator[T]:
        return _ItemIterator(self.pages())

    async def to_list(self) -> list[T]:
        """Collect every item (up to `limit`) into a list."""
        out: list[T] = []
        async for page in self.pages():
            out.extend(page.items)
        return out


class _PageIterator(AsyncIterator[Page[T]]):
    def __init__(self, paginator: AsyncPaginator[T]) -> None:
        self._p = paginator
        self._cursor = paginator._after
        self._remaining = paginator._limit
        self._done = paginator._limit == 0
        self._pending: _Slot[T] | None = None
        self._seen: set[str] = set()
        self._yielded = 0
        self._error: PaginationError | None = None

    def _start_prefetch(self, cursor: str) -> None:
        group = self._p._task_group
        if group is None:
            return
        slot: _Slot[T] = _Slot()

        async def run() -> None:
            try:
                slot.page = await self._p._fetch(cursor)
            except Exception as exc:  # handed to the caller when it asks for this page
                slot.error = exc
            finally:
                slot.done.set()

        group.start_soon(run)
        self._pending = slot

    async def _fetch_next(self) -> Page[T]:
        if self._pending is not None:
            slot, self._pending = self._pending, None
            await slot.done.wait()
            if slot.error is not None:
                self._done = True
                raise slot.error
            assert slot.page is not None
            return slot.page
        try:
            return await self._p._fetch(self._cursor)
        except BaseException:
            self._done = True
            raise

    def _stop(self, message: str, cursor: str | None) -> PaginationError:
        self._done = True
        return PaginationError(
            message, operation=self._p._operation, cursor=cursor, items=self._yielded
        )

    async def __anext__(self) -> Page[T]:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._done:
            raise StopAsyncIteration
        empty = 0
        while True:
            page = await self._fetch_next()
            items = page.items
            if self._remaining is not None:
                items = items[: self._remaining]
                self._remaining -= len(items)
            if items is not page.items:
                page = Page(items=items, next_cursor=page.next_cursor, response=page.response)
            self._yielded += len(items)
            next_cursor = page.next_cursor or None
            if next_cursor is None or self._remaining == 0:
                self._done = True
                if not items:
                    raise StopAsyncIteration
                return page
            if next_cursor in self._seen or next_cursor == self._cursor:
                # The page that carried it is good: hand it over, then say why the list stops there.
                error = self._stop(
                    f"the server sent the cursor {next_cursor!r} twice; stopped instead of looping",
                    next_cursor,
                )
                if not items:
                    raise error
                self._error = error
                return page
            self._seen.add(next_cursor)
            self._cursor = next_cursor
            if items:
                if self._p._prefetch:
                    self._start_prefetch(next_cursor)
                return page
            # An empty page that still names a next one: follow it a few times, never end silently.
            empty += 1
            if empty > MAX_EMPTY_PAGES:
                raise self._stop(
                    f"{empty} empty pages in a row that still announce a next page",
                    next_cursor,
                )


class _ItemIterator(AsyncIterator[T]):
    def __init__(self, pages: AsyncIterator[Page[T]]) -> None:
        self._pages = pages
        self._items: list[T] = []
        self._index = 0

    async def __anext__(self) -> T:
        while self._index >= len(self._items):
            page = await self._pages.__anext__()
            self._items, self._index = page.items, 0
        item = self._items[self._index]
        self._index += 1
        return item

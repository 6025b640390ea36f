"""What a bulk run reads: the inputs, one at a time, and how one input becomes a call's arguments.

Plain inputs: a mapping becomes keyword arguments, a `Call` carries positional ones too, anything else is
the one positional argument; the run's own keywords go to every call, an input's own win.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["AsyncSource", "Call", "SyncSource", "arguments", "source_for"]

I = TypeVar("I")  # noqa: E741 - an input


class Call:
    """An input that is more than a dict of keywords: ``Call(123)``, ``Call(123, first_name="Ada")``.

    Plain inputs: a mapping becomes keyword arguments, anything else the one positional argument.
    """

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args: tuple[Any, ...] = args
        self.kwargs: dict[str, Any] = kwargs

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Call({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Call) and (self.args, self.kwargs) == (other.args, other.kwargs)

    __hash__ = None  # type: ignore[assignment]


class SyncSource(Generic[I]):
    """A sync iterable read one item at a time (a generator may be endless or lazily read a file)."""

    def __init__(self, iterable: Iterable[I]) -> None:
        self._iterator: Iterator[I] = iter(iterable)

    async def next(self) -> I:
        try:
            return next(self._iterator)
        except StopIteration:
            raise StopAsyncIteration from None


class AsyncSource(Generic[I]):
    def __init__(self, iterable: AsyncIterable[I]) -> None:
        self._iterator: AsyncIterator[I] = aiter(iterable)

    async def next(self) -> I:
        return await anext(self._iterator)


def source_for(inputs: Iterable[I] | AsyncIterable[I]) -> SyncSource[I] | AsyncSource[I]:
    if isinstance(inputs, AsyncIterable):
        return AsyncSource(inputs)
    if isinstance(inputs, Iterable) and not isinstance(inputs, str | bytes | Mapping):
        return SyncSource(inputs)
    raise TypeError(f"bulk.run() needs an iterable of inputs, not {type(inputs).__name__}")


def arguments(item: object, kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of the call for *item* (*kwargs*: the run's own)."""
    if isinstance(item, Call):
        return item.args, {**kwargs, **item.kwargs}
    if isinstance(item, Mapping):
        return (), {**kwargs, **item}
    return (item,), kwargs

"""What the generated namespaces stand on: a base class and the narrow view of the core they call.

Namespaces know nothing of the client: they hold an `OperationCaller` (in practice `_core.Core`) and turn
each method into one `_call` or `_paginate` with the operation's row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._filters import FilterArg
    from ._operation_row import Operation
    from ._pagination import AsyncPaginator


class OperationCaller(Protocol):
    async def _call(
        self,
        op: Operation,
        path_args: Mapping[str, Any],
        *,
        query: Mapping[str, Any] | None = ...,
        filter: FilterArg = ...,
        expand: Sequence[str] | str | None = ...,
        body: Any = ...,
        fields: Mapping[str, Any] | None = ...,
    ) -> Any: ...

    def _paginate(
        self,
        op: Operation,
        path_args: Mapping[str, Any],
        *,
        query: Mapping[str, Any] | None = ...,
        filter: FilterArg = ...,
        expand: Sequence[str] | str | None = ...,
        limit: int | None = ...,
        prefetch: bool = ...,
    ) -> AsyncPaginator[Any]: ...


class Namespace:
    # cached_property (lazy child namespaces) needs an instance __dict__.
    __slots__ = ("__dict__", "_core")

    def __init__(self, core: OperationCaller) -> None:
        self._core = core

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

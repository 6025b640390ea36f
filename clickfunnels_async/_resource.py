"""Base class of the generated namespaces: they only hold the client and call into it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._client import ClickFunnels


class Resource:
    # cached_property (lazy child namespaces) needs an instance __dict__.
    __slots__ = ("__dict__", "_client")

    _client: ClickFunnels

    def __init__(self, client: Any) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} namespace>"

"""Async Python SDK for the ClickFunnels 2.0 API, direct or through the Maton gateway.

```
from clickfunnels_async import ClickFunnels, Filter

async with ClickFunnels() as cf:  # CLICKFUNNELS_API_TOKEN, CLICKFUNNELS_SUBDOMAIN
    async for contact in cf.contacts.list(workspace_id=42, filter=Filter(email_address="a@x.com")):
        print(contact.id, contact.email_address)
```

Models live in `clickfunnels_async.models`; webhooks in `clickfunnels_async.webhooks`.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._client import ClickFunnels, RawResponse
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClickFunnelsConfigError,
    ClickFunnelsError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseParseError,
    UnprocessableEntityError,
)
from ._filters import Filter
from ._options import RetryPolicy
from ._pacing import RateBudget
from ._pagination import AsyncPaginator, Page
from ._version import __version__

if TYPE_CHECKING:
    from ._maton import MatonConnection, MatonConnections

_LAZY = {"MatonConnection": "._maton", "MatonConnections": "._maton"}  # loaded on first use


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncPaginator",
    "AuthenticationError",
    "BadRequestError",
    "ClickFunnels",
    "ClickFunnelsConfigError",
    "ClickFunnelsError",
    "ConflictError",
    "Filter",
    "InternalServerError",
    "MatonConnection",
    "MatonConnections",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateBudget",
    "RateLimitError",
    "RawResponse",
    "ResponseParseError",
    "RetryPolicy",
    "UnprocessableEntityError",
    "__version__",
]

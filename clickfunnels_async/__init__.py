"""Async Python SDK for the ClickFunnels 2.0 API, direct or through the Maton gateway.

```
from clickfunnels_async import ClickFunnels, Filter

async with ClickFunnels() as cf:  # CLICKFUNNELS_API_TOKEN, CLICKFUNNELS_SUBDOMAIN
    async for contact in cf.contacts.list(workspace_id=42, filter=Filter(email_address="a@x.com")):
        print(contact.id, contact.email_address)
```

Models live in `clickfunnels_async.models`; webhooks in `clickfunnels_async.webhooks`.
"""

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
from ._maton import MatonConnection, MatonConnections
from ._pacing import RateBudget
from ._pagination import AsyncPaginator, Page
from ._transport import RetryPolicy
from ._version import __version__

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

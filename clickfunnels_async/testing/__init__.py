"""A local, stateful ClickFunnels 2.0 API for tests and demos (ClickFunnels has no sandbox).

```
from clickfunnels_async.testing import FakeClickFunnels

async with FakeClickFunnels(seed=1) as fake:
    workspace_id = fake.seed(contacts=100, tags=5)
    async with fake.client() as cf:
        async for contact in cf.contacts.list(workspace_id=workspace_id):
            ...
```

Over a socket: ``python -m clickfunnels_async.testing --port 8765`` or ``async with fake.serve() as url:``.
pytest: the ``clickfunnels_fake`` fixture (plugin ``clickfunnels_async.testing.pytest_plugin``).

Needs the ``testing`` extra (starlette, uvicorn) only for the ASGI app and the socket server. Names are
imported lazily so that loading the pytest plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clickfunnels_async.testing._fake import (
        DEFAULT_TEAM_ID,
        DEFAULT_WORKSPACE_ID,
        FakeClickFunnels,
        Faults,
        WebhookDelivery,
    )

__all__ = [
    "DEFAULT_TEAM_ID",
    "DEFAULT_WORKSPACE_ID",
    "FakeClickFunnels",
    "Faults",
    "WebhookDelivery",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("clickfunnels_async.testing._fake"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

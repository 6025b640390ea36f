"""Several processes, one ClickFunnels budget: shared pacing, webhook deduplication and bulk checkpoints.

Needs the ``redis`` extra (``pip install 'clickfunnels-async[redis]'``) and the asyncio event loop.

```
from clickfunnels_async.redis import RedisCheckpoint, RedisEventStore, RedisRateBudget

cf = ClickFunnels(..., rate_budget=RedisRateBudget("redis://localhost:6379/0", key="team-123"))
router = ClickFunnelsWebhookRouter(secret=..., store=RedisEventStore("redis://localhost:6379/0"))
await bulk.execute(cf.contacts.upsert, rows, checkpoint=RedisCheckpoint(url, "import-42"), shard=(0, 3))
```
"""

from ._budget import RedisRateBudget
from ._checkpoint import RedisCheckpoint
from ._connect import RedisUnavailableError
from ._events import RedisEventStore

__all__ = ["RedisCheckpoint", "RedisEventStore", "RedisRateBudget", "RedisUnavailableError"]

"""Run one operation over many inputs, a bounded number at a time, with one result per input.

```
from clickfunnels_async import bulk

async with bulk.run(cf.contacts.upsert, rows, concurrency=32, workspace_id=42) as results:
    async for result in results:          # Succeeded | Failed, in completion order
        if not result.ok:
            print(result.index, result.error)
print(results.summary)                    # counts, rate, elapsed; what was not done

summary = await bulk.execute(cf.contacts.upsert, rows, workspace_id=42, failures="failed.jsonl")
summary = await bulk.execute(cf.contacts.upsert, bulk.read_failures("failed.jsonl"), workspace_id=42)
```

The iterator form lives inside `async with` on purpose: the calls run in tasks that the block owns, so
`break`, an exception or a cancel (Ctrl-C) stops them before the block is left, and `summary` then tells
what finished and what was cut short. Inputs are read lazily (a generator of a million rows, or an endless
one, is fine): at most `concurrency` calls run and at most `buffer_size` finished results wait for you.
The client's retries and pacing apply to every call.
"""

from ._failures import FailureLog, MaybeApplied, describe_error, read_failures
from ._inputs import Call
from ._results import BulkInputError, Failed, Progress, Result, Succeeded, Summary
from ._run import BulkRun, execute, run

__all__ = [
    "BulkInputError",
    "BulkRun",
    "Call",
    "Failed",
    "FailureLog",
    "MaybeApplied",
    "Progress",
    "Result",
    "Succeeded",
    "Summary",
    "describe_error",
    "execute",
    "read_failures",
    "run",
]

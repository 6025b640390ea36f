"""Splitting one bulk job over several workers: which inputs this worker does, and which are done already.

Kept apart from the runner: the runner asks `Selection.skip(index)` before it hands an input over and
calls `Selection.confirm(index)` after a success; nothing here knows about Redis.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Checkpoint", "Selection", "check_shard"]


@runtime_checkable
class Checkpoint(Protocol):
    """A shared record of confirmed input indexes (`clickfunnels_async.redis.RedisCheckpoint` is one)."""

    async def load(self) -> None: ...

    def is_confirmed(self, index: int) -> bool: ...

    async def confirm(self, index: int) -> None: ...


def check_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        i, n = shard
    except (TypeError, ValueError):
        raise ValueError(f"shard must be a pair (i, n) with 0 <= i < n, not {shard!r}") from None
    if (
        isinstance(i, bool)
        or isinstance(n, bool)
        or not isinstance(i, int)
        or not isinstance(n, int)
        or not 0 <= i < n
    ):
        raise ValueError(f"shard must be a pair (i, n) of ints with 0 <= i < n, not {shard!r}")
    return i, n


class Selection:
    """This worker's share: input *k* belongs to shard ``k % n``; confirmed inputs are skipped."""

    __slots__ = ("checkpoint", "shard")

    def __init__(self, checkpoint: Checkpoint | None, shard: tuple[int, int] | None) -> None:
        if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
            raise TypeError(
                "checkpoint must have load(), is_confirmed(index) and confirm(index), such as "
                f"clickfunnels_async.redis.RedisCheckpoint, not {type(checkpoint).__name__}"
            )
        self.checkpoint = checkpoint
        self.shard = check_shard(shard)

    async def open(self) -> None:
        if self.checkpoint is not None:
            await self.checkpoint.load()

    def skip(self, index: int) -> bool:
        if self.shard is not None and index % self.shard[1] != self.shard[0]:
            return True
        return self.checkpoint is not None and self.checkpoint.is_confirmed(index)

    async def confirm(self, index: int) -> None:
        if self.checkpoint is not None:
            await self.checkpoint.confirm(index)

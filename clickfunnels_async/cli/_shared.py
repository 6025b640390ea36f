"""`contacts import --checkpoint redis://… --shard i/N`: one import split over several workers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import UsageProblem

if TYPE_CHECKING:
    from clickfunnels_async.redis import RedisCheckpoint

__all__ = ["is_shared", "parse_shard", "shared_checkpoint"]


def is_shared(checkpoint: str | None) -> bool:
    return checkpoint is not None and checkpoint.startswith(("redis://", "rediss://", "unix://"))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"1/3"`` -> (0, 3): shards are numbered from 1 on the command line, from 0 in `bulk.run`."""
    if text is None:
        return None
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if found is None or not 1 <= int(found.group(1)) <= int(found.group(2)):
        raise UsageProblem(f"--shard {text}: expected I/N with 1 <= I <= N, e.g. --shard 1/3")
    return int(found.group(1)) - 1, int(found.group(2))


def shared_checkpoint(url: str, file: Path, workspace_id: int) -> RedisCheckpoint:
    """The job's checkpoint in Redis, named after the file's content and the workspace.

    Every worker given the same file and workspace finds the same key, wherever the file lies.
    """
    try:
        from clickfunnels_async.redis import RedisCheckpoint
    except ImportError:
        raise UsageProblem(
            "--checkpoint redis://… needs redis-py: pip install 'clickfunnels-async[redis]'"
        ) from None
    digest = hashlib.sha256()
    try:
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UsageProblem(f"cannot read {file}: {exc.strerror or exc}") from None
    key = f"clickfunnels:import:{workspace_id}:{digest.hexdigest()[:32]}"
    try:
        return RedisCheckpoint(url, key)
    except ValueError as exc:
        raise UsageProblem(f"--checkpoint: {exc}") from None

"""An I/O error on the failures file never aborts a bulk run; the summary says what was not recorded
(issue 15, point 4)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import IO, Any

import pytest

from clickfunnels_async import bulk


async def half_fail(n: int) -> int:
    if n % 2:
        raise ValueError(f"odd {n}")
    return n


async def collect(run: bulk.BulkRun[Any, Any]) -> list[Any]:
    out: list[Any] = []
    async with run:
        async for result in run:
            out.append(result)
    return out


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_a_full_disk_does_not_stop_the_run_and_the_summary_says_what_is_missing() -> None:
    run = bulk.run(half_fail, range(40), failures="/dev/full")
    results = await collect(run)
    assert sorted(r.index for r in results) == list(range(40))  # every input still has its result
    summary = run.summary
    assert summary.succeeded == 20 and summary.failed == 20
    assert summary.failures_written == 0
    assert summary.failures_unrecorded == tuple(range(1, 40, 2))
    assert summary.failures_error is not None and "No space left" in summary.failures_error
    assert "NOT 20" in str(summary)


class BreaksAfter:
    """A file that accepts `good` writes, then fails as a full disk does."""

    def __init__(self, inner: IO[str], good: int) -> None:
        self.inner, self.good = inner, good

    def write(self, text: str) -> int:
        if self.good <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.good -= 1
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()


@pytest.mark.anyio
async def test_a_write_error_midway_keeps_what_was_written_and_lists_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "failed.jsonl"
    log = bulk.FailureLog(path)
    log.open()
    log._file = BreaksAfter(log._file, good=3)  # type: ignore[arg-type,assignment]
    run = bulk.run(half_fail, range(20), failures=log, ordered=True)
    results = await collect(run)
    assert [r.index for r in results] == list(range(20))
    summary = run.summary
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert [w["index"] for w in written] == [1, 3, 5] and summary.failures_written == 3
    assert summary.failures_unrecorded == (7, 9, 11, 13, 15, 17, 19)
    assert list(bulk.read_failures(path)) == [1, 3, 5]  # what was recorded reads back whole


@pytest.mark.anyio
async def test_a_failures_file_that_cannot_be_created_stops_before_anything_runs(tmp_path: Path) -> None:
    calls: list[int] = []

    async def work(n: int) -> None:
        calls.append(n)

    run = bulk.run(work, range(5), failures=tmp_path / "missing-dir" / "failed.jsonl")
    with pytest.raises(FileNotFoundError):
        async with run:
            pass
    assert calls == []
    assert run.summary.started == 0 and run.summary.failures_error is not None
    assert "missing-dir" in run.summary.failures_error

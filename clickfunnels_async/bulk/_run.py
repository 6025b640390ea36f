"""The bulk runner: one operation over many inputs, a bounded number at a time.

How it is built, and why it is safe to leave early:

- `BulkRun` is a class with `__aenter__`/`__aexit__` and `__anext__`, not an async generator. Its tasks
  (`concurrency` workers, each reading its next input when it is free) live in an anyio task group that is
  opened by `async with` and closed by its end. Leaving the block early, by `break`, an exception or a
  cancellation, cancels the tasks and waits for them before the block is left, so nothing keeps running behind
  you.
- Memory is bounded by a window of ``concurrency + buffer_size`` tokens. A worker takes one before it reads
  an input and the token comes back only when you receive that input's result. So at most `concurrency`
  calls run, and at most `buffer_size` finished results wait for you (in ordered mode: wait in the reorder
  buffer behind a slower one). An input is read only when there is room for it, so an endless input is fine.
- The calls go through the client as usual: its retries, its pacing after 429 and its `max_concurrency`
  apply to every call of the run.

What the run reads is in `_inputs` (sources, `Call`), what it hands back in `_results`, ambiguous writes in
`_reconcile`, the failures file in `_failures`, shards and checkpoints in `_shard`.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Generic, Literal, TypeAlias, TypeVar, cast

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._failures import FailureLog, MaybeApplied
from ._inputs import AsyncSource, Call, SyncSource, arguments, source_for
from ._reconcile import reconcile as resolve_ambiguous
from ._reconcile import refused_as_taken, target_for
from ._results import BulkInputError, Failed, Progress, Succeeded, Summary, describe_os_error
from ._shard import Checkpoint, Selection

__all__ = ["BulkRun", "execute", "run"]

I = TypeVar("I")  # noqa: E741 - an input
R = TypeVar("R")  # what the operation returns


ProgressCallback: TypeAlias = Callable[[Progress], "Awaitable[object] | object"]
FailuresArg: TypeAlias = str | os.PathLike[str] | FailureLog | None


async def _maybe_await(value: object) -> None:
    if inspect.isawaitable(value):
        await value


class BulkRun(Generic[I, R], AsyncIterator["Succeeded[I, R] | Failed[I]"]):
    """The results of `bulk.run(...)`: use it as ``async with bulk.run(...) as results: async for r in results``.

    After the block, `summary` says what was done and what was not.
    """

    def __init__(
        self,
        fn: Callable[..., Awaitable[R]],
        inputs: Iterable[I] | AsyncIterable[I],
        *,
        concurrency: int = 16,
        ordered: bool = False,
        buffer_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        failures: FailuresArg = None,
        reconcile: bool | None = None,
        kwargs: Mapping[str, Any] | None = None,
        checkpoint: Checkpoint | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(
                f"bulk.run() needs an async callable such as cf.contacts.upsert, not {fn!r}"
            )
        self._target = None if reconcile is False else target_for(fn)
        if reconcile is True and self._target is None:
            raise ValueError(
                "reconcile=True needs a method whose operation has a natural key (cf.contacts.create, "
                "cf.contacts.upsert, cf.contacts.tags.create): ambiguous failures are looked up by it"
            )
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, not {concurrency!r}")
        if buffer_size is None:
            buffer_size = concurrency
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 0:
            raise ValueError(f"buffer_size must be an int >= 0, not {buffer_size!r}")
        self._source: SyncSource[I] | AsyncSource[I] = source_for(inputs)
        self._selection = (
            Selection(checkpoint, shard) if checkpoint is not None or shard is not None else None
        )
        self._fn = fn
        self._kwargs = dict(kwargs or {})
        self.concurrency = concurrency
        self.buffer_size = buffer_size
        self.ordered = ordered
        self._on_progress = on_progress
        if failures is None or isinstance(failures, FailureLog):
            self._failures = failures
        else:
            self._failures = FailureLog(failures)

        self._state: Literal["new", "open", "closed"] = "new"
        self._group: anyio.abc.TaskGroup | None = None
        self._send: MemoryObjectSendStream[Succeeded[I, R] | Failed[I]] | None = None
        self._receive: MemoryObjectReceiveStream[Succeeded[I, R] | Failed[I]] | None = None
        self._window = anyio.Semaphore(concurrency + buffer_size, fast_acquire=True)
        self._reading = (
            anyio.Lock(fast_acquire=True) if isinstance(self._source, AsyncSource) else None
        )
        self._in_flight: dict[int, I] = {}
        self._reorder: dict[int, Succeeded[I, R] | Failed[I]] = {}
        self._next_to_emit = 0
        self._started = 0
        self._skipped = 0
        self._succeeded = 0
        self._failed = 0
        self._reconciled = 0
        self._resent = 0
        self._maybe_applied = 0
        self._exhausted = False
        self._input_error: BulkInputError | None = None
        self._input_error_raised = False
        self._t0 = 0.0
        self._summary: Summary[I] | None = None

    # ------------------------------------------------------------------ the public side

    @property
    def summary(self) -> Summary[I]:
        """How the run ended; available once the `async with` block is left."""
        if self._summary is None:
            raise RuntimeError(
                "the summary is ready when the `async with bulk.run(...)` block has ended"
            )
        return self._summary

    def progress(self) -> Progress:
        """The counts right now."""
        return Progress(
            self._started, self._succeeded, self._failed, self._elapsed(), self._skipped
        )

    async def __aenter__(self) -> BulkRun[I, R]:
        if self._state != "new":
            raise RuntimeError("a bulk run can be entered only once; call bulk.run(...) again")
        self._state = "open"
        if self._selection is not None:
            # A checkpoint that cannot be read fails here, before any call.
            await self._selection.open()
        self._send, self._receive = anyio.create_memory_object_stream[
            "Succeeded[I, R] | Failed[I]"
        ](math.inf)
        if self._failures is not None:
            try:
                self._failures.open()
            except OSError as exc:  # nothing was started: say so, and refuse to run unrecorded
                self._state = "closed"
                self._failures.error = exc
                self._finish(False)
                raise
        self._t0 = time.monotonic()
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        group.start_soon(self._run_workers)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group, self._group = self._group, None
        assert group is not None
        interrupted = bool(self._in_flight) or (not self._exhausted and self._input_error is None)
        group.cancel_scope.cancel()
        try:
            # Our tasks keep their own errors, so the group only sees our cancel: an error of the block
            # itself propagates as it is, not wrapped in an ExceptionGroup.
            await group.__aexit__(None, None, None)
        finally:
            self._state = "closed"
            self._finish(interrupted)
        if isinstance(exc, BulkInputError):
            exc.summary = self._summary
        return None

    def __aiter__(self) -> BulkRun[I, R]:
        return self

    async def __anext__(self) -> Succeeded[I, R] | Failed[I]:
        if self._state != "open" or self._receive is None:
            raise RuntimeError(
                "iterate bulk results inside the block: `async with bulk.run(...) as results: "
                "async for result in results: ...`"
            )
        try:
            # A result already waiting is taken without a trip through the event loop (a checkpoint per
            # result is a tenth of a small call's cost); otherwise wait for one.
            try:
                result = self._receive.receive_nowait()
            except anyio.WouldBlock:
                result = await self._receive.receive()
        except anyio.EndOfStream:
            if self._input_error is not None and not self._input_error_raised:
                self._input_error_raised = True
                raise self._input_error from self._input_error.error
            raise StopAsyncIteration from None
        self._window.release()
        if self._on_progress is not None:
            await _maybe_await(self._on_progress(self.progress()))
        return result

    # ------------------------------------------------------------------ the tasks

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0 if self._t0 else 0.0

    async def _run_workers(self) -> None:
        assert self._send is not None
        try:
            # A fixed set of workers, each reading its next input when it is free: spawning a task per input
            # costs more than a small API call's own client-side work.
            async with anyio.create_task_group() as workers:
                for _ in range(self.concurrency):
                    workers.start_soon(self._worker)
        finally:
            self._send.close()

    async def _worker(self) -> None:
        while True:
            # Room for one more result first; only then read an input.
            await self._window.acquire()
            if (
                self._reading is None
            ):  # a sync source: reading has no await, so no other worker cuts in
                taken = await self._read()
            else:
                async with self._reading:
                    taken = await self._read()
            if taken is None:
                self._window.release()
                return
            await self._work(*taken)

    async def _read(self) -> tuple[int, I, bool] | None:
        if self._exhausted or self._input_error is not None:
            return None
        while True:
            index = self._started + self._skipped
            try:
                item = await self._source.next()
            except StopAsyncIteration:
                self._exhausted = True
                return None
            except Exception as exc:  # a bad row, an unreadable file: stop reading, finish the rest
                self._input_error = BulkInputError(index, exc)
                return None
            if self._selection is None or not self._selection.skip(index):
                break
            self._skipped += 1
        self._started += 1
        ambiguous = isinstance(item, MaybeApplied)
        if isinstance(item, MaybeApplied):
            item = cast(I, item.input)  # results report the input itself
        self._in_flight[index] = item
        return index, item, ambiguous

    async def _invoke(self, item: I) -> R:
        if isinstance(item, Call):
            return await self._fn(*item.args, **{**self._kwargs, **item.kwargs})
        if isinstance(item, Mapping):
            return await self._fn(**{**self._kwargs, **item})
        return await self._fn(item, **self._kwargs)

    async def _resolve(self, item: I, error: Exception | None) -> tuple[R, bool]:
        """An ambiguous failure looked up by its natural key (see `_reconcile`); raises if unresolved."""
        assert self._target is not None
        args, kwargs = arguments(item, self._kwargs)
        value, found = await resolve_ambiguous(
            self._target, lambda: self._invoke(item), args, kwargs, error
        )
        return value, found

    def _ambiguous(self, error: Exception) -> bool:
        target = self._target
        return target is not None and (
            getattr(error, "maybe_applied", False) is True or refused_as_taken(target, error)
        )

    async def _work(self, index: int, item: I, ambiguous: bool = False) -> None:
        started = time.monotonic()
        result: Succeeded[I, R] | Failed[I]
        try:
            try:
                if ambiguous and self._target is not None:
                    # An earlier run may have applied it: look it up before sending anything.
                    value, found = await self._resolve(item, None)
                    self._reconciled += found
                else:
                    value = await self._invoke(item)
                    found = False
            except Exception as exc:
                if not self._ambiguous(exc):
                    raise
                value, found = await self._resolve(item, exc)
                if found:
                    self._reconciled += 1
                else:
                    self._resent += 1
        except Exception as exc:
            maybe = getattr(exc, "maybe_applied", False) is True
            result = Failed(index, item, exc, time.monotonic() - started, maybe_applied=maybe)
            self._failed += 1
            self._maybe_applied += maybe
            if self._failures is not None:
                self._failures.write("failed", index, item, exc, maybe_applied=maybe)
        else:
            result = Succeeded(index, item, value, time.monotonic() - started, reconciled=found)
            self._succeeded += 1
            if self._selection is not None:
                await self._selection.confirm(index)
        del self._in_flight[index]
        self._deliver(result)

    def _deliver(self, result: Succeeded[I, R] | Failed[I]) -> None:
        # No await in here: results are handed over in one step, so the order bookkeeping never interleaves.
        assert self._send is not None
        if not self.ordered:
            self._send.send_nowait(result)
            return
        self._reorder[result.index] = result
        while self._next_to_emit in self._reorder:
            self._send.send_nowait(self._reorder.pop(self._next_to_emit))
            self._next_to_emit += 1

    def _finish(self, interrupted: bool) -> None:
        unfinished = tuple(sorted(self._in_flight.items()))
        log = self._failures
        if log is not None:
            for index, item in unfinished:
                log.write("unfinished", index, item, None)
            log.close()
        if self._receive is not None:
            self._receive.close()
        self._summary = Summary(
            started=self._started,
            succeeded=self._succeeded,
            failed=self._failed,
            unfinished=unfinished,
            exhausted=self._exhausted,
            interrupted=interrupted,
            elapsed=self._elapsed(),
            input_error=self._input_error,
            failures_written=log.written if log is not None else 0,
            failures_unrecorded=tuple(log.unrecorded) if log is not None else (),
            failures_error=describe_os_error(log.error) if log is not None else None,
            reconciled=self._reconciled,
            resent=self._resent,
            maybe_applied=self._maybe_applied,
            skipped=self._skipped,
        )


def run(
    fn: Callable[..., Awaitable[R]],
    inputs: Iterable[I] | AsyncIterable[I],
    /,
    *,
    concurrency: int = 16,
    ordered: bool = False,
    buffer_size: int | None = None,
    on_progress: ProgressCallback | None = None,
    failures: FailuresArg = None,
    reconcile: bool | None = None,
    checkpoint: Checkpoint | None = None,
    shard: tuple[int, int] | None = None,
    **kwargs: Any,
) -> BulkRun[I, R]:
    """Call `fn` once per input, `concurrency` at a time; iterate the results inside `async with`.

    ```
    async with bulk.run(cf.contacts.upsert, rows, concurrency=32, workspace_id=42) as results:
        async for result in results:
            if not result.ok:
                print(result.index, result.input, result.error)
    print(results.summary)
    ```

    Each input is a dict of keyword fields (a `Call(...)` for positional arguments, or any other value,
    passed as the one positional argument); `kwargs` go to every call. Every input that is read ends as
    exactly one `Succeeded` or `Failed`, in completion order, or input order with `ordered=True`.
    `buffer_size` (default: `concurrency`) bounds the finished results waiting for you. `failures` is a
    path (or a `FailureLog`) where failed inputs are written as JSON Lines, for `read_failures()`.

    `reconcile` (default: on when `fn` is a create or upsert whose spec names a natural key, such as
    `cf.contacts.create` by `email_address`): a call that failed after it may have been applied (5xx,
    timeout, dropped connection; `Failed.maybe_applied`) is looked up by its key before anything is
    sent again. Found: `Succeeded(reconciled=True)` with the record; not found: sent again. A create
    refused as "already taken" is looked up the same way, so re-running a failures file never
    duplicates a record. `reconcile=False` turns it off; `True` requires it.
    Several workers split one job with `shard=(i, n)` (this worker takes the inputs whose index is i
    modulo n) and share a `checkpoint` (a `clickfunnels_async.redis.RedisCheckpoint`): inputs it holds as
    confirmed are skipped, and each success is confirmed in it.
    """
    return BulkRun(
        fn,
        inputs,
        concurrency=concurrency,
        ordered=ordered,
        buffer_size=buffer_size,
        on_progress=on_progress,
        failures=failures,
        reconcile=reconcile,
        kwargs=kwargs,
        checkpoint=checkpoint,
        shard=shard,
    )


async def execute(
    fn: Callable[..., Awaitable[R]],
    inputs: Iterable[I] | AsyncIterable[I],
    /,
    *,
    concurrency: int = 16,
    ordered: bool = False,
    buffer_size: int | None = None,
    on_result: Callable[[Succeeded[I, R] | Failed[I]], Awaitable[object] | object] | None = None,
    on_progress: ProgressCallback | None = None,
    failures: FailuresArg = None,
    reconcile: bool | None = None,
    checkpoint: Checkpoint | None = None,
    shard: tuple[int, int] | None = None,
    **kwargs: Any,
) -> Summary[I]:
    """Run to the end and return the `Summary`; `on_result` (sync or async) sees every result.

    ```
    summary = await bulk.execute(cf.contacts.upsert, rows, workspace_id=42, failures="failed.jsonl")
    ```

    If reading the inputs fails, `BulkInputError` is raised after every result before it; its `summary`
    says what was done.
    """
    results = run(
        fn,
        inputs,
        concurrency=concurrency,
        ordered=ordered,
        buffer_size=buffer_size,
        on_progress=on_progress,
        failures=failures,
        reconcile=reconcile,
        checkpoint=checkpoint,
        shard=shard,
        **kwargs,
    )
    async with results:
        async for result in results:
            if on_result is not None:
                await _maybe_await(on_result(result))
    return results.summary

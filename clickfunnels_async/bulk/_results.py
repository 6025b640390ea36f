"""What a bulk run hands back: one `Succeeded` or `Failed` per input, `Progress` counts, the `Summary`."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

import attrs

from clickfunnels_async._errors import ClickFunnelsError

__all__ = [
    "BulkInputError",
    "Failed",
    "Progress",
    "Result",
    "Succeeded",
    "Summary",
    "describe_os_error",
]

I = TypeVar("I")  # noqa: E741 - an input
R = TypeVar("R")  # what the operation returns


@attrs.frozen(slots=True)
class Succeeded(Generic[I, R]):
    """One input whose call returned: `value` is what the operation returned."""

    index: int  # position of the input in the iterable (0-based)
    input: I
    value: R
    elapsed: float  # seconds, including the client's retries and waits
    # The call failed ambiguously and the record was found in place by its natural key (value = it).
    reconciled: bool = False
    ok: ClassVar[bool] = True


@attrs.frozen(slots=True)
class Failed(Generic[I]):
    """One input whose call raised: `error` is the exception (a typed SDK error for API failures).

    `maybe_applied`: the request may have been applied on the server all the same (a 5xx, a timeout or a
    dropped connection after it was sent), so the record may exist; False when it surely was not.
    """

    index: int
    input: I
    error: Exception
    elapsed: float
    maybe_applied: bool = False
    ok: ClassVar[bool] = False


Result: TypeAlias = Succeeded[I, R] | Failed[I]


@attrs.frozen(slots=True)
class Progress:
    """Counts at one moment of a run (handed to `on_progress` after each result)."""

    started: int  # inputs read and handed to the operation
    succeeded: int
    failed: int
    elapsed: float
    skipped: int = 0  # inputs of another shard, or confirmed by the checkpoint already

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def in_flight(self) -> int:
        return self.started - self.done

    @property
    def rate(self) -> float:
        """Finished inputs per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@attrs.frozen(slots=True)
class Summary(Generic[I]):
    """How a run ended: what was done, and what was not.

    `succeeded` + `failed` inputs finished (results you did not receive because you left early are counted
    too). `unfinished` lists the inputs whose call was cut short by a cancellation: they may or may not have
    reached the API. Inputs from `next_index` on were never read; `exhausted` says whether there were any.
    """

    started: int
    succeeded: int
    failed: int
    unfinished: tuple[tuple[int, I], ...]
    exhausted: bool
    interrupted: bool
    elapsed: float
    input_error: BulkInputError | None = None
    # The failures file: records written, indices that could not be (disk full, ...), and why.
    failures_written: int = 0
    failures_unrecorded: tuple[int, ...] = ()
    failures_error: str | None = None
    # Ambiguous writes (see `reconcile=`): found in place, sent again and done, and failures that may
    # have been applied all the same.
    reconciled: int = 0
    resent: int = 0
    maybe_applied: int = 0
    skipped: int = 0  # inputs of another shard, or confirmed by the checkpoint already

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def next_index(self) -> int:
        """Index of the first input never read (= inputs read, skipped ones included)."""
        return self.started + self.skipped

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every input was read and succeeded."""
        return (
            self.exhausted and not self.failed and not self.unfinished and self.input_error is None
        )

    def __str__(self) -> str:
        text = (
            f"{self.succeeded} succeeded, {self.failed} failed in {self.elapsed:.2f} s "
            f"({self.rate:.1f}/s)"
        )
        if self.reconciled or self.resent:
            text += f"; {self.reconciled} reconciled, {self.resent} sent again after an ambiguous failure"
        if self.maybe_applied:
            text += f"; {self.maybe_applied} of the failed may have been applied"
        if self.skipped:
            text += f", {self.skipped} skipped"
        if self.unfinished:
            text += f"; {len(self.unfinished)} cut short"
        if not self.exhausted:
            text += f"; inputs from #{self.next_index} not read"
        if self.interrupted:
            text += " (interrupted)"
        if self.failures_error is not None:
            text += (
                f"; the failures file recorded {self.failures_written}, NOT {len(self.failures_unrecorded)} "
                f"({self.failures_error})"
            )
        return text


class BulkInputError(ClickFunnelsError):
    """Reading the inputs raised: `index` is the input that could not be read, `__cause__` the error.

    Raised by the result iterator after the results of every input read before it.
    """

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f"reading input #{index} failed: {type(error).__name__}: {error}")
        self.index = index
        self.error = error
        self.summary: Summary[Any] | None = None


def describe_os_error(error: OSError | None) -> str | None:
    if error is None:
        return None
    where = f": {error.filename}" if error.filename else ""
    return f"{type(error).__name__}: {error.strerror or error}{where}"

"""Failed inputs as JSON Lines: written while a bulk run goes, read back to run them again."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import attrs

from clickfunnels_async._client import _jsonable as jsonable

__all__ = ["FailureLog", "MaybeApplied", "describe_error", "read_failures"]


def _fallback(value: Any) -> Any:
    """JSON for the odd values a row may hold (as the client sends them); anything else becomes its text."""
    try:
        return jsonable(value)
    except TypeError:
        return str(value)


def describe_error(error: BaseException | None) -> dict[str, Any]:
    """A JSON-able account of an error. The SDK's errors carry no secrets (URLs are masked)."""
    if error is None:
        return {"type": "Cancelled", "message": "the run stopped before this input finished"}
    out: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    for name in ("status_code", "retries", "request_id"):
        value = getattr(error, name, None)
        if value is not None:
            out[name] = value
    errors = getattr(error, "errors", None)
    if errors:
        out["errors"] = errors
    return out


class FailureLog:
    """Appends one JSON object per failed (or unfinished) input to a file.

    Each line reads ``{"status": "failed" | "unfinished", "index": 12, "input": {...}, "error": {...}}``.
    `describe` turns an input into the fields stored for it (default: ``{"input": input}``); whatever it
    returns must keep the ``input`` key for :func:`read_failures` to run the line again. The file is
    created (emptied) when the run starts, so an empty file means nothing failed.

    A write that fails (disk full, file removed, permissions) does not stop the run: the log stops
    writing, keeps the error in `error` and the indices it could not record in `unrecorded`, and the
    run's summary reports both.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        describe: Callable[[Any], Mapping[str, Any]] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self._describe = describe
        self._file: IO[str] | None = None
        self.written = 0
        self.error: OSError | None = None
        self.unrecorded: list[int] = []

    def open(self) -> None:
        if self._file is None:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(
        self,
        status: str,
        index: int,
        item: Any,
        error: BaseException | None,
        **extra: Any,
    ) -> bool:
        """Append one record; False (and the index noted in `unrecorded`) if it could not be written."""
        if self.error is not None:
            self.unrecorded.append(index)
            return False
        fields = dict(self._describe(item)) if self._describe is not None else {"input": item}
        record = {
            "status": status,
            "index": index,
            **fields,
            "error": describe_error(error),
            **extra,
        }
        line = json.dumps(record, default=_fallback, ensure_ascii=False) + "\n"
        try:
            self.open()
            assert self._file is not None
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            # Disk full, file gone, permissions: the results still reach the caller; say what is missing.
            self.error = exc
            self.unrecorded.append(index)
            self._close_quietly()
            return False
        self.written += 1
        return True

    def _close_quietly(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                self.error = self.error or exc

    def close(self) -> None:
        self._close_quietly()


@attrs.frozen(slots=True)
class MaybeApplied:
    """An input whose earlier attempt may have been applied (from a failures file): `bulk.run` looks it up
    by its natural key before sending it, so a re-run never duplicates it. Results carry the inner input."""

    input: Any


def read_failures(path: str | os.PathLike[str]) -> Iterator[Any]:
    """The inputs stored in a failures file, one at a time, ready to hand to `bulk.run` again.

    An input whose failure may have been applied comes wrapped in `MaybeApplied`.
    """
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{os.fspath(path)}, line {number}: not JSON ({exc})") from None
            if not isinstance(record, dict) or "input" not in record:
                raise ValueError(f"{os.fspath(path)}, line {number}: no 'input' in this record")
            yield MaybeApplied(record["input"]) if record.get("maybe_applied") else record["input"]

"""What the fake answers and the knobs that make it misbehave: `Reply`, `Faults`, `Dropped`, clock helpers.

Small values shared by every room of the fake (no imports from the other rooms, so none of them cycle).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import anyio
import attrs
import orjson

from clickfunnels_async import _json

__all__ = [
    "KEEP",
    "NOT_FOUND",
    "Dropped",
    "Faults",
    "FaultsChange",
    "Keep",
    "Reply",
    "decode",
    "encode",
    "error",
    "invalid",
    "iso",
    "now",
    "sleep",
]

JSON_TYPE: Final = "application/json; charset=utf-8"
NOT_FOUND: Final = "Not found: Record missing"
SEED_EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)


@attrs.define(slots=True)
class Reply:
    """What the fake answers: status, JSON-able body (or raw bytes) and extra headers."""

    status: int
    body: Any = None
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    raw: bytes | None = None
    content_type: str = JSON_TYPE

    def content(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.status == 204 or self.body is None:
            return b""
        return encode(self.body)

    def header_list(self) -> list[tuple[str, str]]:
        out = list(self.headers)
        if self.status != 204 and (self.raw is not None or self.body is not None):
            out.append(("content-type", self.content_type))
        return out


def encode(value: Any) -> bytes:
    """An answer body as JSON bytes. Straight to orjson: the records hold only what `decode` let in, so no
    NaN or Infinity (that `_json.dumps` would walk every answer to refuse); what orjson declines (integers
    beyond 64 bits) goes the standard library's way."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return _json.dumps(value)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(body: bytes) -> Any:
    """A request body as Rails' JSON parser reads it: NaN and Infinity are parse errors (ValueError)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # What orjson refuses and the standard library reads (integers beyond 64 bits), without constants.
        return json.loads(body, parse_constant=_no_constant)


def error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def invalid(errors: dict[str, list[str]]) -> Reply:
    """422 with a sentence under ``error`` and the Rails-style field hash under ``errors``.

    ClickFunnels answers validation failures in both spellings (inventory.md §4); carrying both keeps every
    client happy (ClickFunnels' own CLI reads ``error`` then ``errors``; this SDK fills ``.errors`` from either).
    """
    sentences = [
        msg if field == "base" else f"{field.replace('_', ' ').capitalize()} {msg}"
        for field, msgs in errors.items()
        for msg in msgs
    ]
    return Reply(422, {"error": "; ".join(sentences), "errors": errors})


class Dropped(Exception):
    """The connection is to be cut without a (complete) response. `applied` says if the write happened."""

    def __init__(self, applied: bool) -> None:
        super().__init__("connection dropped by the fault injector")
        self.applied = applied


@attrs.define(slots=True)
class Faults:
    """The fault knobs. All rates are probabilities per request, drawn from the fake's seeded RNG."""

    latency: float = 0.0  # seconds added to every API request
    jitter: float = 0.0  # +/- uniformly around latency
    error_rate: float = (
        0.0  # share of requests answered with one of error_statuses (before any write)
    )
    error_statuses: tuple[int, ...] = (500, 502, 503)
    drop_rate: float = (
        0.0  # share of requests whose connection is cut (half of them after the write)
    )
    rate_limit: int | None = None  # requests per second per token; beyond -> 429

    def check(self) -> None:
        for name in ("latency", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("error_rate", "drop_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.error_rate and not self.error_statuses:
            raise ValueError("error_rate needs at least one status in error_statuses")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")


class Keep:
    """Marks an argument that was left out (None has a meaning of its own)."""

    __slots__ = ()


KEEP: Final = Keep()


class FaultsChange:
    """Returned by `FakeClickFunnels.faults()`: already applied; as a context manager, undone on exit."""

    def __init__(
        self, restore: Callable[[Faults], None], current: Faults, previous: Faults
    ) -> None:
        self._restore = restore
        self._current = current
        self._previous = previous

    def __enter__(self) -> Faults:
        return self._current

    def __exit__(self, *exc: object) -> None:
        self._restore(self._previous)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_clock: list[Any] = [-1, ""]  # [whole second, its "YYYY-MM-DDTHH:MM:SS" text]


def now() -> str:
    """What `iso(datetime.now(UTC))` gives, without building a datetime per request."""
    moment = time.time()
    second = int(moment)
    if second != _clock[0]:
        _clock[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _clock[0] = second
    return f"{_clock[1]}.{int((moment - second) * 1000):03d}Z"


async def sleep(seconds: float) -> None:
    # anyio.sleep looks the backend up on every call; on asyncio, where most test suites run, go direct.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        await anyio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)

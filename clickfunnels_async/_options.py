"""Per-request options: one frozen value per call, evolved (never mutated) by `with_options()`."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import httpx

from ._errors import ClickFunnelsConfigError
from ._transport import RetryPolicy

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Headers the SDK owns: set them through the matching option instead.
_RESERVED_HEADERS = {"authorization", "maton-connection", "host", "content-length"}


def to_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        raise ClickFunnelsConfigError(
            "timeout=None would wait forever on a stuck connection; pass seconds (e.g. timeout=60) "
            "or an httpx.Timeout"
        )
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ClickFunnelsConfigError(f"timeout must be a positive number of seconds, not {value!r}")
    return httpx.Timeout(float(value))


def _check_header_text(name: str, value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in name + value):
        raise ClickFunnelsConfigError(f"header {name!r} contains a control character")


def to_headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not headers:
        return ()
    out = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise ClickFunnelsConfigError("extra_headers must map header names to string values")
        if name.lower() in _RESERVED_HEADERS:
            raise ClickFunnelsConfigError(
                f"{name!r} is set by the client; use api_token= / maton_connection= instead"
            )
        _check_header_text(name, value)
        out.append((name, value))
    return tuple(out)


def check_connection(connection: str | None) -> str | None:
    if connection is None:
        return None
    if not isinstance(connection, str) or not connection.strip():
        raise ClickFunnelsConfigError("maton_connection must be a non-empty connection id string")
    _check_header_text("Maton-Connection", connection)
    return connection


@attrs.frozen(slots=True)
class RequestOptions:
    timeout: httpx.Timeout = DEFAULT_TIMEOUT
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    maton_connection: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()

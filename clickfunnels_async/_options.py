"""Per-request options: one frozen value per call, evolved (never mutated) by `with_options()`."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs
import httpx

from ._errors import ClickFunnelsConfigError
from ._log import Secret
from ._transport import RetryPolicy

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

# Headers the SDK owns: set them through the matching option instead.
_RESERVED_HEADERS = {"authorization", "maton-connection", "host", "content-length"}
# Message framing and connection handling belong to the HTTP layer: a second framing header next to the
# Content-Length it sets makes the request ambiguous (request smuggling through a proxy).
_FRAMING_HEADERS = {"transfer-encoding", "te", "trailer", "connection", "upgrade", "keep-alive"}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name


def to_secret(value: str | Secret | None, arg: str, env: str) -> Secret:
    """A key or token, checked and wrapped; the messages never repeat it."""
    if isinstance(value, Secret):
        value = value.get_secret_value()
    if not isinstance(value, str) or not value.strip():
        raise ClickFunnelsConfigError(
            f"no API key: pass {arg}=... or set the {env} environment variable"
        )
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ClickFunnelsConfigError(f"{arg} contains whitespace or control characters")
    if not value.isascii():
        # It would fail every request with UnicodeEncodeError when the header is encoded.
        raise ClickFunnelsConfigError(
            f"{arg} contains non-ASCII characters; check the key you copied"
        )
    return Secret(value)


def to_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        raise ClickFunnelsConfigError(
            "timeout=None would wait forever on a stuck connection; pass seconds (e.g. timeout=60) "
            "or an httpx.Timeout"
        )
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ClickFunnelsConfigError(
            f"timeout must be a positive number of seconds, not {value!r}"
        )
    return httpx.Timeout(float(value))


def _check_header_text(name: str, value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in name + value):
        raise ClickFunnelsConfigError(f"header {name!r} contains a control character")
    if not value.isascii():
        raise ClickFunnelsConfigError(
            f"header {name!r} contains non-ASCII characters; HTTP header values must be ASCII "
            "(percent-encode or drop them)"
        )


def to_headers(headers: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if not headers:
        return ()
    out = []
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise ClickFunnelsConfigError("extra_headers must map header names to string values")
        if not _TOKEN.fullmatch(name):
            raise ClickFunnelsConfigError(
                f"{name!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only; "
                "no spaces or colons)"
            )
        if name.lower() in _FRAMING_HEADERS:
            raise ClickFunnelsConfigError(
                f"{name!r} controls message framing, which the HTTP layer sets; it cannot be an extra header"
            )
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

"""Exceptions raised by ``clickfunnels_async``.

All of them derive from :class:`ClickFunnelsError`::

    ClickFunnelsError
    ├── ClickFunnelsConfigError         bad subdomain / base_url / missing token (also a ValueError);
    │                                   raised before any request is sent
    ├── APIConnectionError              no response: DNS, refused connection, reset, TLS, ...
    │   └── APITimeoutError             ... or a connect / read / write / pool timeout
    ├── APIStatusError                  a non-2xx response (any status without a class below)
    │   ├── BadRequestError             400
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── ConflictError               409
    │   ├── UnprocessableEntityError    422  (``.errors``: field -> messages)
    │   ├── RateLimitError              429  (``.retry_after``: seconds, when the server said so)
    │   └── InternalServerError         500 and above
    ├── ResponseParseError              a 2xx whose body is not what the API promised
    └── PaginationError                 a list could not be read to its end (``.cursor``: resume there)

``str(error)`` always reads ``"<METHOD> <url> -> <status>: <message>"``. Errors never hold the request
headers (the bearer token lives there) and their URLs have secret-looking query values masked, so an
error can be logged, printed or sent to an error tracker as it is.

Transient failures (connection errors, timeouts, 408/429/5xx) are retried before you see them; the
``retries`` attribute says how many retries were taken.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ._log import redact_url, redacting_filter, scrub_response

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClickFunnelsConfigError",
    "ClickFunnelsError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseParseError",
    "UnprocessableEntityError",
    "error_from_response",
    "parse_retry_after",
]

# Messages are for humans reading a traceback; bodies stay whole on ``.body``.
_MAX_MESSAGE_LEN = 300
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "cf-ray")


def _restore(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    # Pickle support for keyword-only constructors: build without __init__, then the state is set back.
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class ClickFunnelsError(Exception):
    """Base class of every exception raised by this package.

    Every one pickles with its attributes (a ``ProcessPoolExecutor`` worker can raise it); the cause,
    context and traceback are left behind, as for any pickled exception.
    """

    # The request may have been applied on the server though it failed (a 5xx, a timeout or a dropped
    # connection after it was sent): retrying a create could duplicate it. False when surely not applied.
    maybe_applied: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args), dict(self.__dict__))


class ClickFunnelsConfigError(ClickFunnelsError, ValueError):
    """The client was configured with a value it cannot use. Nothing was sent."""


class APIConnectionError(ClickFunnelsError):
    """The request got no HTTP response (after any retries). ``__cause__`` is the httpx exception.

    ``maybe_applied`` is False only when the connection was never made (nothing reached the server).
    """

    def __init__(
        self, message: str, *, method: str, url: str, retries: int = 0, maybe_applied: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.retries = retries
        self.maybe_applied = maybe_applied

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> no response: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, method={self.method!r}, url={self.url!r})"


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""


class APIStatusError(ClickFunnelsError):
    """The API answered with a non-2xx status.

    Attributes: ``status_code``, ``message``, ``body`` (parsed JSON, or the raw text when it is not
    JSON), ``headers`` (response headers), ``method``, ``url`` (secrets masked), ``request_id`` (from
    ``x-request-id`` / ``request-id`` / ``cf-ray``, else None), ``errors`` (field -> messages, from
    Rails-style validation bodies; usually only on 422), ``retries`` (retries taken before giving up) and
    ``maybe_applied`` (True for 5xx: the server may have applied the request before failing).
    """

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        headers: httpx.Headers | Mapping[str, str] | list[tuple[str, str]] | None = None,
        method: str = "",
        url: str = "",
        request_id: str | None = None,
        errors: dict[str, list[str]] | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.headers = httpx.Headers(headers)
        self.method = method
        self.url = url
        self.request_id = request_id
        self.errors: dict[str, list[str]] = errors if errors is not None else {}
        self.retries = retries
        # A 5xx may come from a server (or proxy) that applied the write before failing; a 4xx was refused.
        self.maybe_applied = status_code >= 500

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status_code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code}, "
            f"method={self.method!r}, url={self.url!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIStatusError):
    """400: malformed body or query, e.g. an unpermitted ``filter[...]`` key."""


class AuthenticationError(APIStatusError):
    """401: the bearer token is missing, invalid or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this (scope, plan, or a feature not enabled for the workspace)."""


class NotFoundError(APIStatusError):
    """404: no such record or route — also for records that belong to another workspace."""


class ConflictError(APIStatusError):
    """409: the record is not in a state that allows this (already archived, cancelled, ...)."""


class UnprocessableEntityError(APIStatusError):
    """422: validation failed. ``errors`` maps each field to its messages (empty when the API gave none)."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the wait the server asked for, in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the server (or a proxy in front of it) failed. Often transient."""


class ResponseParseError(ClickFunnelsError):
    """A 2xx response whose body could not be parsed. ``body`` keeps the raw text."""

    def __init__(self, message: str, *, status_code: int, body: str, method: str, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url

    @classmethod
    def from_response(cls, response: httpx.Response, detail: str = "") -> ResponseParseError:
        reason = detail or "response body is not valid JSON"
        request = response.request
        text = redacting_filter.scrub(response.text)
        scrub_response(response)  # raised from frames that hold the response and its request
        return cls(
            reason,
            status_code=response.status_code,
            body=text,
            method=request.method,
            url=redact_url(request.url),
        )

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> {self.status_code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code}, "
            f"method={self.method!r}, url={self.url!r})"
        )


class PaginationError(ClickFunnelsError):
    """A list could not be read to its end: the server sent a cursor twice, or only empty pages while
    still announcing a next one. The items yielded so far are good; ``cursor`` is the ``after=`` value
    to resume from, ``operation`` the list that stopped, ``items`` how many items were yielded."""

    def __init__(self, message: str, *, operation: str, cursor: str | None, items: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.cursor = cursor
        self.items = items

    def __str__(self) -> str:
        hint = f"; resume with after={self.cursor!r}" if self.cursor is not None else ""
        return f"{self.operation}: {self.message}{hint}"


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _class_for(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


def parse_retry_after(
    headers: httpx.Headers | Mapping[str, str], *, now: float | None = None
) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    None when absent or unreadable; a date in the past gives 0.
    """
    headers = httpx.Headers(headers)
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if 0 <= value < float("inf"):
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        # "nan" and "inf" parse as floats but are not waits.
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _scrub(data: Any) -> Any:
    """*data* with every registered secret masked in its strings (keys included)."""
    if isinstance(data, str):
        return redacting_filter.scrub(data)
    if isinstance(data, dict):
        return {_scrub(k): _scrub(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_scrub(v) for v in data]
    return data


def _parse_body(response: httpx.Response) -> Any:
    # A hostile or buggy server may echo the token back; the error must not carry it onwards.
    text = response.text
    if not text.strip():
        return None
    try:
        return _scrub(json.loads(text))
    except ValueError:
        return redacting_filter.scrub(text)


def _string_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _field_errors(body: Any) -> dict[str, list[str]]:
    """``{field: [msg, ...]}`` from a Rails-style body, bare or under ``"errors"``; else empty."""
    if not isinstance(body, dict):
        return {}
    nested = "errors" in body
    candidate = body["errors"] if nested else body
    if not isinstance(candidate, dict) or not candidate:
        return {}
    result: dict[str, list[str]] = {}
    for field, messages in candidate.items():
        # A bare body is a validation hash only if every value is a list of strings; under
        # "errors" a single string per field is common enough to accept too.
        if not nested and not isinstance(messages, list):
            return {}
        as_list = _string_list(messages)
        if as_list is None:
            return {}  # not a validation hash, just some other JSON object
        result[str(field)] = as_list
    return result


def _join_field_errors(errors: dict[str, list[str]]) -> str:
    # Rails puts record-level messages under "base"; they read best without the prefix.
    parts = [
        msg if field == "base" else f"{field}: {msg}"
        for field, msgs in errors.items()
        for msg in msgs
    ]
    return "; ".join(parts)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE_LEN else text[: _MAX_MESSAGE_LEN - 1] + "…"


def _status_line(response: httpx.Response) -> str:
    reason = httpx.codes.get_reason_phrase(response.status_code)  # "" for odd codes like 520
    return f"HTTP {response.status_code} {reason}".rstrip()


def _message(response: httpx.Response, body: Any, errors: dict[str, list[str]]) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if isinstance(error, str) and error.strip():
            return _shorten(error)
        if errors:
            return _shorten(_join_field_errors(errors))
        listed = _string_list(body.get("errors"))
        if listed:
            return _shorten("; ".join(listed))
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return _shorten(message)
        return f"{_status_line(response)} (JSON body)"
    if body is None:
        return f"{_status_line(response)} (empty body)"
    if isinstance(body, str):
        content_type = response.headers.get("content-type", "").lower()
        looks_html = "html" in content_type or body.lstrip()[:1] == "<"
        if looks_html:
            return f"{_status_line(response)} (HTML body)"
        return _shorten(body)
    return f"{_status_line(response)} (JSON body)"


def _request_id(headers: httpx.Headers) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def _maton_hint(status_code: int, message: str, raw_text: str) -> str:
    if status_code == 401:
        return (
            f"{message} — the Maton gateway rejected the API key: check MATON_API_KEY "
            "(or the key passed to the client)"
        )
    if status_code == 400 and "connection" in raw_text.lower():
        return (
            f"{message} — no usable ClickFunnels connection on Maton: create or choose a Maton "
            "connection: MatonConnections().create() and open its url to finish OAuth, or pass an "
            "ACTIVE connection id (sent as the Maton-Connection header)"
        )
    return message


def error_from_response(
    response: httpx.Response, *, via_maton: bool = False, retries: int = 0
) -> APIStatusError:
    """The typed exception for a non-2xx *response* (read fully). Never raises on odd bodies or codes.

    With ``via_maton=True``, gateway errors (400 without a ClickFunnels connection, 401 bad Maton key)
    get a message that says what to do.
    """
    body = _parse_body(response)
    errors = _field_errors(body)
    message = _message(response, body, errors)
    if via_maton:
        message = _maton_hint(response.status_code, message, response.text)
    message = redacting_filter.scrub(message)
    request = response.request
    cls = _class_for(response.status_code)
    kwargs: dict[str, Any] = {
        "status_code": response.status_code,
        "body": body,
        "headers": [(k, redacting_filter.scrub(v)) for k, v in response.headers.multi_items()],
        "method": request.method,
        "url": redact_url(request.url),
        "request_id": _request_id(response.headers),
        "errors": errors,
        "retries": retries,
    }
    if cls is RateLimitError:
        kwargs["retry_after"] = parse_retry_after(response.headers)
    return cls(message, **kwargs)

"""Logging and secret hygiene.

Everything the SDK logs goes through the single ``clickfunnels_async`` logger. Request and response lines
are one line each, at DEBUG, and never contain headers — the bearer token lives there. Anything that might
still carry a secret (URLs, exception texts) is scrubbed twice: query values whose names look secret are
masked (:func:`redact_url`) and every secret a client registered is replaced by ``****``
(:class:`RedactingFilter`).

Set ``CLICKFUNNELS_LOG=debug`` (or ``info``) and call :func:`configure_from_env` to get a stderr handler
without touching the ``logging`` configuration of the application.
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

import attrs
import httpx

__all__ = [
    "RedactingFilter",
    "Secret",
    "configure_from_env",
    "log_request",
    "log_response",
    "logger",
    "redact",
    "redact_url",
    "redacting_filter",
    "scrub_request",
    "scrub_response",
    "stderr_handler",
]

logger = logging.getLogger("clickfunnels_async")
# A library prints nothing unless asked: without this, logging's last-resort handler would print our
# WARNING records (and above) to stderr in applications that never configured logging.
logger.addHandler(logging.NullHandler())

MASK = "****"

# Shorter strings would mask ordinary words and digits all over the log.
_MIN_SECRET_LEN = 4

# Query parameter names whose values are masked in every URL we log or store in an error.
# Substrings catch the usual variants (access_token, client_secret, x-api-key, ...).
_SECRET_PARAM_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "signature",
    "credential",
    "auth",
    "session",
)
_SECRET_PARAM_NAMES = frozenset({"key", "code", "sig", "jwt"})


@attrs.frozen(repr=False)
class Secret:
    """A string that does not show itself in ``repr()``, ``str()``, f-strings or tracebacks.

    >>> Secret("cf_live_abc123")
    Secret('****')

    Compare two secrets with ``==``; read the value only where it is sent, with :meth:`get_secret_value`.
    """

    _value: str

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    __str__ = __repr__


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (at least 4 characters long) in *text* by ``****``."""
    # Longest first, so a secret that contains another one is masked whole.
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _is_secret_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_PARAM_NAMES or any(part in lowered for part in _SECRET_PARAM_PARTS)


def redact_url(url: httpx.URL | str) -> str:
    """The URL as text, safe to log: no userinfo, no fragment, secret-looking query values masked."""
    url = httpx.URL(url)
    text = str(url.copy_with(query=None, fragment=None, userinfo=b""))
    query = url.query.decode("ascii", errors="replace")
    if query:
        parts = []
        for part in query.split("&"):
            name, sep, _value = part.partition("=")
            # Keep the raw (still percent-encoded) text so the URL reads exactly as sent.
            parts.append(f"{name}={MASK}" if sep and _is_secret_param(unquote_plus(name)) else part)
        text = f"{text}?{'&'.join(parts)}"
    return redacting_filter.scrub(text)


class RedactingFilter(logging.Filter):
    """Scrubs registered secrets out of every record that passes through it.

    Clients register their token when created and unregister it when closed. Registration is
    counted, so two clients sharing one token do not unmask it for each other, and it may be tied to
    an owner object: when the owner is garbage collected, its registration goes away too.

    Secrets are indexed by their first four characters, updated on (un)registration, so scrubbing a text
    looks each of its positions up once: the cost depends on the text, not on how many clients live.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: Counter[str] = Counter()
        self._index: dict[str, list[str]] = {}  # first 4 characters -> secrets, longest first

    def register(self, secret: str | Secret, *, owner: object | None = None) -> None:
        value = secret.get_secret_value() if isinstance(secret, Secret) else secret
        if len(value) < _MIN_SECRET_LEN:
            return
        if not self._secrets[value]:
            bucket = self._index.setdefault(value[:_MIN_SECRET_LEN], [])
            bucket.append(value)
            bucket.sort(key=len, reverse=True)
        self._secrets[value] += 1
        if owner is not None:
            weakref.finalize(owner, self.unregister, value)

    def unregister(self, secret: str | Secret) -> None:
        value = secret.get_secret_value() if isinstance(secret, Secret) else secret
        count = self._secrets.get(value, 0)
        if count > 1:
            self._secrets[value] = count - 1
            return
        self._secrets.pop(value, None)
        bucket = self._index.get(value[:_MIN_SECRET_LEN])
        if bucket is not None and value in bucket:
            bucket.remove(value)
            if not bucket:
                del self._index[value[:_MIN_SECRET_LEN]]

    def scrub(self, text: str) -> str:
        index = self._index
        if not index:
            return text
        get = index.get
        size = _MIN_SECRET_LEN
        parts: list[str] = []
        last = i = 0
        end = len(text) - size
        while i <= end:
            bucket = get(text[i : i + size])
            if bucket is not None:
                for (
                    secret
                ) in bucket:  # longest first: a secret that contains another is masked whole
                    if text.startswith(secret, i):
                        parts.append(text[last:i])
                        parts.append(MASK)
                        i = last = i + len(secret)
                        break
                else:
                    i += 1
            else:
                i += 1
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._index:
            return True
        # Freeze the formatted message so handlers never re-render the raw arguments.
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


redacting_filter = RedactingFilter()
logger.addFilter(redacting_filter)

_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def scrub_request(request: httpx.Request, secrets: Iterable[str] = ()) -> None:
    """Mask, in place, what a finished request carried that an error must not: credential headers,
    registered *secrets* (and these) in the other headers, the body and the URL.

    Called when a request failed: the httpx error of a failed attempt (the error's ``__cause__``) and
    the frames of its traceback hold this very object.
    """
    hidden = [*redacting_filter._secrets, *secrets]
    request.headers = httpx.Headers(
        [
            (name, MASK if name.lower() in _CREDENTIAL_HEADERS else redact(value, hidden))
            for name, value in request.headers.items()
        ]
    )
    request.url = httpx.URL(redact(redact_url(request.url), hidden))
    content = getattr(request, "_content", None)
    if content:
        cleaned = redact(content.decode("utf-8", errors="replace"), hidden).encode()
        request._content = cleaned
        request.stream = httpx.ByteStream(cleaned)


_HANDLER_MARK = "_clickfunnels_async_handler"


def configure_from_env() -> None:
    """Honour ``CLICKFUNNELS_LOG=debug|info``: one stderr handler (added once) and that level."""
    level = {"debug": logging.DEBUG, "info": logging.INFO}.get(
        os.environ.get("CLICKFUNNELS_LOG", "").strip().lower()
    )
    if level is None:
        return
    if not any(getattr(h, _HANDLER_MARK, False) for h in logger.handlers):
        handler = stderr_handler()
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
    logger.setLevel(level)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes (a progress display or a test may swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def stderr_handler() -> logging.Handler:
    """A stderr handler in the SDK's format that masks registered secrets (also of child loggers)."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s %(name)s] %(message)s"))
    # Logger filters do not see records of child loggers; the handler filter does.
    handler.addFilter(redacting_filter)
    return handler


def log_request(request: httpx.Request, *, attempt: int) -> None:
    """One DEBUG line per attempt: method, URL, attempt number. Never headers or bodies."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "HTTP request %s %s (attempt %d)", request.method, redact_url(request.url), attempt
        )


def log_response(response: httpx.Response, *, elapsed: float, retries: int) -> None:
    """One DEBUG line per final response: method, URL, status, elapsed milliseconds, retries taken."""
    if logger.isEnabledFor(logging.DEBUG):
        request = response.request
        logger.debug(
            "HTTP response %s %s -> %d %s in %.0f ms (retries: %d)",
            request.method,
            redact_url(request.url),
            response.status_code,
            response.reason_phrase,
            elapsed * 1000,
            retries,
        )


def scrub_response(response: httpx.Response, secrets: Iterable[str] = ()) -> None:
    """Mask, in place, registered *secrets* (and these) that a failed response echoed, in its headers
    and body, and in the request it answered (see `scrub_request`)."""
    hidden = [*redacting_filter._secrets, *secrets]
    scrub_request(response.request, secrets)
    response.headers = httpx.Headers(
        [(name, redact(value, hidden)) for name, value in response.headers.items()]
    )
    content = getattr(response, "_content", None)
    if content and hidden:
        text = content.decode("utf-8", errors="replace")
        cleaned = redact(text, hidden)
        if cleaned != text:
            response._content = cleaned.encode()

"""Per-request options: one frozen value per call, evolved (never mutated) by `with_options()`."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import attrs
import httpx

from ._errors import ClickFunnelsConfigError
from ._log import Secret

if TYPE_CHECKING:
    from ._pacing import RateBudget

_DEFAULT_RNG = random.Random()
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


def _status_set(values: Iterable[int]) -> frozenset[int]:
    return frozenset(int(v) for v in values)


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How failed requests are retried.

    ``max_retries`` retries (not attempts) after the first try; ``0`` disables retrying. The n-th retry
    (n = 0, 1, ...) waits ``initial_delay * 2**n`` capped at ``max_delay``, then spread by ±``jitter``
    (a fraction) so that many clients do not retry in lockstep. A ``Retry-After`` from the server is
    used as it is, but never longer than ``max_retry_after`` seconds.
    """

    max_retries: int = attrs.field(default=2, validator=_non_negative)
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.25, validator=[_non_negative, attrs.validators.le(1.0)])
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({408, 429, 500, 502, 503, 504}), converter=_status_set
    )

    def delay(
        self, attempt: int, retry_after: float | None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number *attempt* (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        # min() on the exponent keeps 2**n from overflowing on absurd attempt numbers.
        base = min(self.initial_delay * 2.0 ** min(attempt, 64), self.max_delay)
        spread = (rng or _DEFAULT_RNG).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


@attrs.frozen(slots=True)
class RequestOptions:
    timeout: httpx.Timeout = DEFAULT_TIMEOUT
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    maton_connection: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    workspace_id: int | None = (
        None  # filled into calls whose path has {workspace_id} and that leave it out
    )


class ClientOptions(TypedDict, total=False):
    """The keywords `ClickFunnels(...)` and `ClickFunnels.via_maton(...)` share (see `ClientConfig`)."""

    user_agent: str | None
    timeout: float | httpx.Timeout
    max_retries: int
    retry_policy: RetryPolicy | None
    max_concurrency: int | None
    requests_per_second: float | None
    rate_budget: RateBudget | None
    http_client: httpx.AsyncClient | None
    http2: bool
    transport: httpx.AsyncBaseTransport | None
    workspace_id: int | None


WORKSPACE_ENV = "CLICKFUNNELS_WORKSPACE_ID"
FIND_WORKSPACE_IDS = "find the ids with cf.teams.list(), then cf.workspaces.list(team.id) (each workspace has .id and .name)"


def check_workspace_id(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ClickFunnelsConfigError(
            f"workspace_id must be a workspace's numeric id (an int >= 1), not {value!r}; "
            + FIND_WORKSPACE_IDS
        )
    return value


def workspace_id_from_env(environ: Mapping[str, str]) -> int | None:
    """CLICKFUNNELS_WORKSPACE_ID as an int (unset or empty: None); anything else is refused."""
    text = environ.get(WORKSPACE_ENV, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ClickFunnelsConfigError(
            f"{WORKSPACE_ENV} must be a workspace's numeric id such as 42, not {shown!r}; "
            + FIND_WORKSPACE_IDS
        )
    return int(text)


def _positive_int_or_none(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ClickFunnelsConfigError(f"{name} must be an int >= 1, not {value!r}")


def check_max_retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ClickFunnelsConfigError(f"max_retries must be an int >= 0, not {value!r}")
    return value


@attrs.frozen(kw_only=True)
class ClientConfig:
    """One validated set of client options, with their defaults: the one place they are spelled out."""

    user_agent: str | None = None
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT
    max_retries: int = 2
    retry_policy: RetryPolicy | None = None
    max_concurrency: int | None = None
    requests_per_second: float | None = None
    rate_budget: RateBudget | None = None
    http_client: httpx.AsyncClient | None = None
    http2: bool = False
    transport: httpx.AsyncBaseTransport | None = None
    workspace_id: int | None = None

    def __attrs_post_init__(self) -> None:
        check_max_retries(self.max_retries)
        check_workspace_id(self.workspace_id)
        _positive_int_or_none("max_concurrency", self.max_concurrency)
        rps = self.requests_per_second
        if rps is not None and (
            isinstance(rps, bool) or not isinstance(rps, int | float) or rps <= 0
        ):
            raise ClickFunnelsConfigError(
                f"requests_per_second must be a positive number, not {rps!r}"
            )
        if self.rate_budget is not None:
            from ._pacing import RateBudget

            if rps is not None:
                raise ClickFunnelsConfigError(
                    "pass either requests_per_second= or rate_budget= (configure the rate on the budget)"
                )
            if not isinstance(self.rate_budget, RateBudget):
                raise ClickFunnelsConfigError(
                    "rate_budget must implement clickfunnels_async.RateBudget (try_start, on_rate_limited, "
                    f"on_success, aclose), not {type(self.rate_budget).__name__}"
                )
        if self.http_client is not None and (self.transport is not None or self.http2):
            raise ClickFunnelsConfigError(
                "transport= and http2= configure the client's own connection pool; with http_client= "
                "configure that httpx.AsyncClient instead"
            )

    def request_options(self, connection: str | None) -> RequestOptions:
        policy = attrs.evolve(self.retry_policy or RetryPolicy(), max_retries=self.max_retries)
        return RequestOptions(
            timeout=to_timeout(self.timeout),
            retry=policy,
            maton_connection=check_connection(connection),
            workspace_id=self.workspace_id,
        )

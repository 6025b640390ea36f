"""Which host serves an operation, and validation of everything that ends up in a host name.

ClickFunnels has two host roles: the *accounts* host (teams, workspaces, users) and one host per
workspace, ``https://{subdomain}.myclickfunnels.com``. The subdomain is user input that becomes part of
a URL that receives the bearer token, so it must be a plain DNS label — anything else could send the
token to another host (``acme.evil.com``, ``evil.com#``, ``a@b``).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote

import attrs
import httpx

from ._errors import ClickFunnelsConfigError

__all__ = [
    "ACCOUNTS_URL",
    "MATON_URL",
    "WORKSPACE_URL_TEMPLATE",
    "HostRole",
    "Hosts",
    "hosts_from_config",
    "validate_base_url",
    "validate_subdomain",
]

ACCOUNTS_URL = "https://accounts.myclickfunnels.com"
MATON_URL = "https://gateway.maton.ai/clickfunnels"
WORKSPACE_URL_TEMPLATE = "https://{subdomain}.myclickfunnels.com"

HostRole = Literal["accounts", "workspace"]
Mode = Literal["direct", "base_url", "maton"]

# ASCII only: fullwidth letters and other look-alikes would be IDNA-encoded into another host.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII | re.IGNORECASE)
_API_PREFIX = "/api/v2"
_SUBDOMAIN_HELP = (
    "a subdomain is the first label of your workspace host: 1-63 letters, digits or hyphens, not "
    "starting or ending with a hyphen; for https://acme.myclickfunnels.com use subdomain='acme'"
)


def validate_subdomain(value: str) -> str:
    """*value* lowercased if it is a single DNS label, else :class:`ClickFunnelsConfigError`."""
    if not isinstance(value, str):
        raise ClickFunnelsConfigError(
            f"subdomain must be a str, not {type(value).__name__}; {_SUBDOMAIN_HELP}"
        )
    if _LABEL.fullmatch(value):
        return value.lower()
    shown = value if len(value) <= 80 else value[:77] + "..."
    # A pasted host or URL is the common mistake: point at the label instead of guessing for them.
    first_label = re.split(r"[./:]", value.split("://", 1)[-1], maxsplit=1)[0]
    if first_label != value and _LABEL.fullmatch(first_label):
        raise ClickFunnelsConfigError(
            f"invalid subdomain {shown!r}: pass only the label, e.g. subdomain={first_label.lower()!r}; "
            f"{_SUBDOMAIN_HELP}"
        )
    raise ClickFunnelsConfigError(f"invalid subdomain {shown!r}: {_SUBDOMAIN_HELP}")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_base_url(url: str | httpx.URL, *, name: str = "base_url") -> httpx.URL:
    """An absolute http(s) URL without userinfo, query or fragment; plain http only for loopback hosts.

    The trailing slash of the path is dropped, and so is a trailing ``/api/v2`` (operation paths carry it),
    so ``base + "/api/v2/..."`` joins cleanly.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ClickFunnelsConfigError(f"invalid {name} {str(url)!r}: {exc}") from None
    # The URL may be a proxy with credentials in it; never echo those back.
    shown = repr(str(parsed.copy_with(userinfo=b""))) if parsed.is_absolute_url else repr(str(url))
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ClickFunnelsConfigError(
            f"{name} must be an absolute http(s) URL such as 'https://proxy.example.com', got {shown}"
        )
    if parsed.userinfo:
        raise ClickFunnelsConfigError(
            f"{name} must not contain credentials (user:password@); got {shown}. "
            "Pass the token via the client instead"
        )
    if parsed.query or parsed.fragment or "?" in str(url) or "#" in str(url):
        raise ClickFunnelsConfigError(f"{name} must not have a query or fragment, got {shown}")
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise ClickFunnelsConfigError(
            f"{name} {shown} uses plain http; https is required except for loopback hosts "
            "(localhost, 127.0.0.0/8, ::1), because the bearer token would travel unencrypted"
        )
    path = parsed.path.rstrip("/")
    # Operation paths start with /api/v2, so a base URL copied with it would give /api/v2/api/v2/... (404).
    if path.endswith(_API_PREFIX):
        path = path[: -len(_API_PREFIX)]
    return parsed.copy_with(path=path or "/")


def hosts_from_config(
    subdomain: str | None, base_url: str | httpx.URL | None, environ: Mapping[str, str]
) -> Hosts:
    """Where a direct client sends requests. An explicit argument beats the environment: `subdomain=` or
    `base_url=` given in code wins over CLICKFUNNELS_BASE_URL / CLICKFUNNELS_SUBDOMAIN; between the two
    variables, CLICKFUNNELS_BASE_URL wins (it points a configured shell at a proxy or the emulator)."""
    if subdomain is not None and base_url is not None:
        raise ClickFunnelsConfigError(
            "pass either subdomain= (requests go to https://{subdomain}.myclickfunnels.com) or base_url= "
            "(every request goes to that URL: a proxy, a local server), not both"
        )
    if subdomain is None and base_url is None:
        base_url = environ.get("CLICKFUNNELS_BASE_URL") or None
        if base_url is None:
            subdomain = environ.get("CLICKFUNNELS_SUBDOMAIN") or None
    return Hosts.custom(base_url) if base_url is not None else Hosts.direct(subdomain)


def check_api_path(path: str) -> str:
    """*path* if it is a plain API path ('/api/v2/...'); ValueError for anything that could reach
    another route: dot segments (also percent-encoded, double-encoded, with ``;params`` or behind a
    backslash), a query or fragment, spaces and control characters."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise ValueError(
            f"path must be an API path such as '/api/v2/workspaces/42/contacts', not {path!r}"
        )
    if _PLAIN_PATH.fullmatch(
        path
    ):  # nothing to decode, no dot, no separator but "/": the common case
        return path
    decoded, previous = path, None
    for _ in range(4):  # %252e%252e decodes to %2e%2e, then to ..
        if decoded == previous:
            break
        previous, decoded = decoded, unquote(decoded)
    # Servers and proxies differ in what they normalise: a backslash as a slash (IIS, some proxies),
    # ";..." as path parameters (Tomcat, Jetty). Refuse both readings rather than guess one.
    segments = [part.split(";", 1)[0] for part in decoded.replace("\\", "/").split("/")]
    if (
        "\\" in decoded
        or any(ord(c) < 33 or ord(c) == 127 for c in decoded)
        or re.search(r"[#?]", decoded)
        or "." in segments
        or ".." in segments
    ):
        raise ValueError(
            f"path {path!r} contains a query, fragment, space, backslash, control character or dot "
            "segment (also when percent-encoded or followed by ';'); put query values in params="
        )
    return path


def _prefix(url: httpx.URL) -> str:
    # str() of a URL with an empty path adds no slash, but "/" would; drop it for clean joins.
    return str(url).rstrip("/")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host.lower(), url.port)


@attrs.frozen
class Hosts:
    """Where requests go. Build one with :meth:`direct`, :meth:`custom` or :meth:`maton`.

    - ``direct``: accounts operations to :data:`ACCOUNTS_URL`, workspace operations to
      ``https://{subdomain}.myclickfunnels.com`` (the subdomain may be discovered later, see
      :meth:`with_subdomain`).
    - ``base_url``: every operation to one URL — a proxy, a local server, the emulator.
    - ``maton``: every operation through the Maton gateway.
    """

    mode: Mode
    subdomain: str | None = None
    base_url: httpx.URL | None = None
    _base_text: str | None = attrs.field(default=None, init=False, repr=False)
    # Whether workspace operations must first find the subdomain (direct mode without one).
    discovers: bool = attrs.field(default=False, init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.mode == "direct":
            if self.subdomain is not None:
                object.__setattr__(self, "subdomain", validate_subdomain(self.subdomain))
        elif self.mode == "base_url":
            if self.base_url is None:
                raise ClickFunnelsConfigError("Hosts(mode='base_url') needs a base_url")
            object.__setattr__(self, "base_url", validate_base_url(self.base_url))
        elif self.mode != "maton":
            raise ClickFunnelsConfigError(
                f"unknown host mode {self.mode!r}; use direct, base_url or maton"
            )
        if self.base_url is not None:
            object.__setattr__(self, "_base_text", _prefix(self.base_url))
        object.__setattr__(self, "discovers", self.mode == "direct" and self.subdomain is None)

    @classmethod
    def direct(cls, subdomain: str | None = None) -> Hosts:
        return cls("direct", subdomain=subdomain)

    @classmethod
    def custom(cls, base_url: str | httpx.URL) -> Hosts:
        return cls("base_url", base_url=validate_base_url(base_url))

    @classmethod
    def maton(cls) -> Hosts:
        return cls("maton")

    def with_subdomain(self, subdomain: str) -> Hosts:
        """A copy that routes workspace operations to *subdomain* (direct mode; others ignore it)."""
        if self.mode != "direct":
            return self
        return attrs.evolve(self, subdomain=subdomain)

    def base_for(self, host_role: str) -> str:
        """The URL prefix (no trailing slash) to put before an operation path such as ``/api/v2/...``."""
        if host_role not in ("accounts", "workspace"):
            raise ValueError(f"unknown host role {host_role!r}; expected 'accounts' or 'workspace'")
        if self.mode == "maton":
            return MATON_URL
        if self.mode == "base_url":
            assert self._base_text is not None
            return self._base_text
        if host_role == "accounts":
            return ACCOUNTS_URL
        if self.subdomain is None:
            raise ClickFunnelsConfigError(
                "this operation is served by your workspace host, but no subdomain is known: pass "
                "subdomain='acme' for https://acme.myclickfunnels.com (or let the client discover it)"
            )
        return WORKSPACE_URL_TEMPLATE.format(subdomain=self.subdomain)

    def _bases(self) -> list[str]:
        if self.mode == "maton":
            return [MATON_URL]
        if self.mode == "base_url":
            assert self._base_text is not None
            return [self._base_text]
        bases = [ACCOUNTS_URL]
        if self.subdomain is not None:
            bases.append(WORKSPACE_URL_TEMPLATE.format(subdomain=self.subdomain))
        return bases

    def is_trusted_url(self, url: httpx.URL) -> bool:
        """True if *url* has the scheme, host and port of one of our bases (e.g. a redirect target).

        A downgrade from https to http, another port or a look-alike host is not trusted.
        """
        try:
            target = _origin(httpx.URL(url))
        except httpx.InvalidURL:
            return False
        return any(_origin(httpx.URL(base)) == target for base in self._bases())


_PLAIN_PATH = re.compile(r"[A-Za-z0-9_/-]+", re.ASCII)


@functools.cache
def _role_index() -> dict[tuple[str, int], list[tuple[re.Pattern[str], str]]]:
    # The operation table loads on the first raw call, not when the client is imported.
    from ._generated.operation_table import OPERATIONS

    index: dict[tuple[str, int], list[tuple[re.Pattern[str], str]]] = {}
    for op in OPERATIONS.values():
        pattern = re.compile(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(op.path)))
        index.setdefault((op.method, op.path.count("/")), []).append((pattern, op.host))
    return index


# Raw paths repeat (a bulk job sends the same one thousands of times): the answers, bounded.
@functools.lru_cache(maxsize=4096)
def host_role_for(method: str, path: str) -> str:
    """The host role of a raw API path: that of the spec operation whose template matches, else workspace."""
    for pattern, host in _role_index().get((method, path.count("/")), ()):
        if pattern.fullmatch(path):
            return host
    return "workspace"

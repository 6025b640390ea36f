"""What to do next, added to connection errors: which timeout ran out, or which subdomain did not resolve."""

from __future__ import annotations

import socket

import httpx

from ._errors import APIConnectionError, APITimeoutError
from ._hosts import WORKSPACE_URL_TEMPLATE, Hosts

# httpx's timeout exception -> the matching field of httpx.Timeout.
_TIMEOUT_KINDS = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}
# What resolvers say when a name does not exist (glibc, musl, macOS, Windows, c-ares).
_DNS_TEXTS = (
    "name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "temporary failure in name resolution",
    "no address associated with hostname",
    "could not contact dns servers",
    "name does not resolve",
    "domain name not found",
)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"


def timeout_hint(exc: BaseException, timeout: httpx.Timeout, retries: int) -> str:
    kind = next(
        (name for e in _causes(exc) for cls, name in _TIMEOUT_KINDS.items() if isinstance(e, cls)),
        None,
    )
    if kind is not None:
        spent = f"the {kind} timeout of {_seconds(getattr(timeout, kind))} ran out"
    else:
        spent = (
            f"timed out (timeout: {_seconds(timeout.read)}, connect {_seconds(timeout.connect)})"
        )
    taken = (
        "no retries"
        if retries == 0
        else f"after {retries} {'retry' if retries == 1 else 'retries'}"
    )
    return f"{spent}, {taken}; raise timeout= or max_retries= if the API is just slow"


def is_dns_failure(exc: BaseException) -> bool:
    for e in _causes(exc):
        if isinstance(e, socket.gaierror):
            return True
        if any(text in str(e).lower() for text in _DNS_TEXTS):
            return True
    return False


def add_connection_hint(exc: APIConnectionError, timeout: httpx.Timeout, hosts: Hosts) -> None:
    """Append what to check to *exc*'s message, in place (nothing secret: only options and the host)."""
    if isinstance(exc, APITimeoutError):
        hint = timeout_hint(exc, timeout, exc.retries)
    elif is_dns_failure(exc) and hosts.mode == "direct" and hosts.subdomain is not None:
        host = WORKSPACE_URL_TEMPLATE.format(subdomain=hosts.subdomain).split("://", 1)[1]
        if host not in exc.url:
            return
        hint = (
            f"{host} does not resolve: check subdomain={hosts.subdomain!r}; it is the first label of your "
            "workspace's address (https://acme.myclickfunnels.com -> subdomain='acme')"
        )
    else:
        return
    exc.message = f"{exc.message} ({hint})"
    exc.args = (exc.message,)

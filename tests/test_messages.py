"""Issue 16 point 10 through the client's real transports (aiohttp on asyncio, httpcore on trio): what a
timeout and a name that does not resolve say. The mock-transport versions are in test_usability.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from clickfunnels_async import APIConnectionError, APITimeoutError, ClickFunnels, RetryPolicy

TOKEN = "tok_messages"
FAST_RETRY = RetryPolicy(initial_delay=0.0, jitter=0.0)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLICKFUNNELS_SUBDOMAIN", "CLICKFUNNELS_BASE_URL", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def no_name_resolves(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every lookup fails as a resolver says "no such name" (and nothing leaves the machine)."""
    looked_up: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host.decode() if isinstance(host, bytes) else str(host))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A listener that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.anyio
async def test_a_workspace_host_that_does_not_resolve_points_at_the_subdomain(
    no_name_resolves: list[str],
) -> None:
    async with ClickFunnels(TOKEN, subdomain="acmee", max_retries=0) as cf:
        with pytest.raises(APIConnectionError) as workspace:
            await cf.contacts.get(1)
        with pytest.raises(APIConnectionError) as accounts:
            await cf.teams.get(1)  # the accounts host: the subdomain is not the thing to check
    assert "acmee.myclickfunnels.com does not resolve: check subdomain='acmee'" in str(
        workspace.value
    )
    assert "subdomain" not in str(accounts.value)
    assert "acmee.myclickfunnels.com" in no_name_resolves
    assert workspace.value.maybe_applied is False


@pytest.mark.anyio
async def test_a_timeout_over_a_socket_names_the_timeout_and_the_retries(
    silent_server: str,
) -> None:
    async with ClickFunnels(
        TOKEN, base_url=silent_server, timeout=0.2, max_retries=1, retry_policy=FAST_RETRY
    ) as cf:
        with pytest.raises(APITimeoutError) as info:
            await cf.contacts.get(1)
    assert "the read timeout of 0.2 s ran out, after 1 retry" in str(info.value)
    assert "raise timeout= or max_retries=" in str(info.value)
    assert info.value.retries == 1

"""Issue 16, as a user hits it: quiet logs, awaitable paginators, configuration and connection messages,
packaging metadata."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from clickfunnels_async import (
    APIConnectionError,
    APITimeoutError,
    ClickFunnels,
    ClickFunnelsConfigError,
    Page,
    RetryPolicy,
)
from clickfunnels_async.testing import FakeClickFunnels

ROOT = Path(__file__).resolve().parents[1]
FAST_RETRY = RetryPolicy(initial_delay=0.0, jitter=0.0)


# ---------------------------------------------------------------- 5. retries are quiet unless asked


def test_script_that_never_configured_logging_prints_nothing_while_retrying() -> None:
    script = textwrap.dedent(
        """
        import anyio, httpx
        from clickfunnels_async import ClickFunnels, RetryPolicy

        calls = 0
        def handler(request):
            global calls
            calls += 1
            return httpx.Response(503 if calls < 3 else 200, json={"id": 1})

        async def main():
            async with ClickFunnels(api_token="tok_abcdef", subdomain="acme",
                                    transport=httpx.MockTransport(handler),
                                    retry_policy=RetryPolicy(initial_delay=0, jitter=0)) as cf:
                await cf.request("GET", "/api/v2/teams/1")
            print("calls", calls)

        anyio.run(main)
        """
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "calls 3"  # two retries happened ...
    assert done.stderr == ""  # ... and nothing was printed about them


@pytest.mark.anyio
async def test_retries_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503 if calls == 1 else 200, json={})

    caplog.set_level(logging.INFO, logger="clickfunnels_async")
    async with ClickFunnels(
        api_token="tok_abcdef",
        subdomain="acme",
        transport=httpx.MockTransport(handler),
        retry_policy=FAST_RETRY,
    ) as cf:
        await cf.request("GET", "/api/v2/teams/1")
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert [r.levelno for r in retries] == [logging.INFO]
    assert any(
        isinstance(h, logging.NullHandler) for h in logging.getLogger("clickfunnels_async").handlers
    )


# ---------------------------------------------------------------- 8. await a paginator: its first page


@pytest.mark.anyio
async def test_awaiting_a_list_gives_the_first_page_and_next_page_walks_on() -> None:
    async with FakeClickFunnels(seed=2) as fake:
        ws = fake.seed(contacts=45)
        async with fake.client() as cf:
            page = await cf.contacts.list(ws)
            assert isinstance(page, Page)
            assert len(page.items) == 20 and page.next_cursor is not None
            seen = [c.id for c in page.items]
            while (page := await page.next_page()) is not None:  # type: ignore[assignment]
                seen += [c.id for c in page.items]
            everything = [
                c.id async for c in cf.contacts.list(ws)
            ]  # async for still gives every item
            assert seen == everything and len(everything) == 45

            limited = await cf.contacts.list(ws, limit=25)
            second = await limited.next_page()
            assert second is not None and len(limited.items) + len(second.items) == 25
            assert await second.next_page() is None


# ---------------------------------------------------------------- 10. configuration and connection messages


def test_subdomain_and_base_url_together_is_an_error() -> None:
    with pytest.raises(ClickFunnelsConfigError, match=r"either subdomain= .* or base_url="):
        ClickFunnels(api_token="tok_abcdef", subdomain="acme", base_url="http://127.0.0.1:1")


def test_explicit_subdomain_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKFUNNELS_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CLICKFUNNELS_SUBDOMAIN", "fromenv")
    assert (
        repr(ClickFunnels(api_token="tok_abcdef", subdomain="acme"))
        == "<ClickFunnels subdomain='acme'>"
    )
    # No argument: the environment decides, CLICKFUNNELS_BASE_URL before CLICKFUNNELS_SUBDOMAIN.
    assert "127.0.0.1:9" in repr(ClickFunnels(api_token="tok_abcdef"))
    monkeypatch.delenv("CLICKFUNNELS_BASE_URL")
    assert repr(ClickFunnels(api_token="tok_abcdef")) == "<ClickFunnels subdomain='fromenv'>"


@pytest.mark.anyio
async def test_base_url_ending_in_api_v2_is_accepted() -> None:
    async with FakeClickFunnels() as fake, fake.client(base_url=fake.base_url + "/api/v2/") as cf:
        contacts = await cf.contacts.list(fake.workspace_id).to_list()
    assert contacts == []
    assert fake.calls["listContacts"] == 1  # not /api/v2/api/v2/... -> 404


@pytest.mark.anyio
async def test_timeout_message_names_the_timeout_and_the_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with ClickFunnels(
        api_token="tok_abcdef",
        subdomain="acme",
        timeout=7,
        max_retries=1,
        retry_policy=FAST_RETRY,
        transport=httpx.MockTransport(handler),
    ) as cf:
        with pytest.raises(APITimeoutError) as info:
            await cf.contacts.get(1)
    text = str(info.value)
    assert "read timeout of 7 s" in text and "after 1 retry" in text and "timeout=" in text


@pytest.mark.anyio
async def test_dns_failure_on_the_workspace_host_suggests_checking_subdomain() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    async with ClickFunnels(
        api_token="tok_abcdef",
        subdomain="acmee",
        max_retries=0,
        transport=httpx.MockTransport(handler),
    ) as cf:
        with pytest.raises(APIConnectionError) as info:
            await cf.contacts.get(1)
    assert "check subdomain='acmee'" in str(info.value)


# ---------------------------------------------------------------- 12. packaging


def test_package_metadata_license_classifiers_groups_and_extras() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (
        project["project"]["license"] == "MIT" and "LICENSE" in project["project"]["license-files"]
    )
    assert project["project"]["classifiers"] and project["project"]["urls"]
    extras = project["project"]["optional-dependencies"]
    assert (
        "dev" not in extras
    )  # pinned tools are a dependency group, not something users can install
    assert "trio" in extras and "dev" in project["dependency-groups"]
    assert "--group dev" in (ROOT / "Makefile").read_text()

"""The emulator over a real loopback socket: uvicorn in-process, the CLI server, and schemathesis.

uvicorn runs on asyncio, so these tests pin the asyncio backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from clickfunnels_async import APIConnectionError, ClickFunnels, RetryPolicy
from clickfunnels_async.testing import FakeClickFunnels

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "clickfunnels_async" / "_generated" / "openapi.json"
WS = 42


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_sdk_over_loopback_socket() -> None:
    async with FakeClickFunnels(seed=2) as fake:
        fake.seed(contacts=25)
        async with fake.serve() as url:
            assert url.startswith("http://127.0.0.1:")
            async with ClickFunnels(api_token=fake.token, base_url=url, max_retries=0) as cf:
                contacts = await cf.contacts.list(WS).to_list()
                assert len(contacts) == 25
                created = await cf.contacts.create(WS, email_address="socket@x.com")
                assert (await cf.contacts.get(created.public_id)).id == created.id
            async with httpx.AsyncClient(base_url=url) as raw:
                response = await raw.get(
                    f"/api/v2/workspaces/{WS}/contacts",
                    headers={"Authorization": f"Bearer {fake.token}"},
                )
                assert response.headers["Pagination-Next"] == str(contacts[19].id)
                assert response.headers["Link"].startswith(
                    f"<{url}/api/v2/workspaces/{WS}/contacts?"
                )
    # The server stopped with the block: nothing listens any more.
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as raw:
            await raw.get(url)


async def test_dropped_connection_over_socket() -> None:
    async with FakeClickFunnels(seed=5, drop_rate=1.0) as fake, fake.serve() as url:
        async with ClickFunnels(api_token=fake.token, base_url=url, max_retries=0) as cf:
            for _ in range(4):
                with pytest.raises(APIConnectionError) as exc_info:
                    await cf.teams.list().to_list()
                assert isinstance(exc_info.value.__cause__, httpx.TransportError)
        with fake.faults(drop_rate=0.3):
            policy = RetryPolicy(max_retries=10, initial_delay=0.001, max_delay=0.01)
            async with ClickFunnels(
                api_token=fake.token, base_url=url, retry_policy=policy, max_retries=10
            ) as cf:
                for _ in range(10):
                    assert len(await cf.teams.list().to_list()) == 1


async def test_webhooks_from_the_served_fake_reach_a_callback() -> None:
    async with FakeClickFunnels() as fake, fake.serve() as url:
        seen: list[str] = []
        fake.on_webhook(lambda delivery: seen.append(delivery.event_type))
        async with ClickFunnels(api_token=fake.token, base_url=url) as cf:
            await cf.contacts.create(WS, email_address="served@x.com")
        await fake.drain_webhooks()
        assert seen == ["contact.created"]


async def test_command_line_server() -> None:
    process = await anyio.open_process(
        [
            sys.executable,
            "-m",
            "clickfunnels_async.testing",
            "--port",
            "0",
            "--contacts",
            "3",
            "--token",
            "tok",
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        text = ""
        with anyio.fail_after(20):
            async for chunk in process.stdout:
                text += chunk.decode()
                if "token:" in text:
                    break
        url = next(line.split()[-1] for line in text.splitlines() if "listening on" in line)
        assert "token: tok" in text and url.startswith("http://127.0.0.1:")
        async with ClickFunnels(api_token="tok", base_url=url, max_retries=5) as cf:
            with anyio.fail_after(20):
                while True:
                    try:
                        contacts = await cf.contacts.list(WS).to_list()
                        break
                    except APIConnectionError:
                        await anyio.sleep(0.05)
            assert len(contacts) == 3
    finally:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
        await process.aclose()


@pytest.mark.timeout(240)
async def test_schemathesis_against_the_served_fake() -> None:
    """A bounded schemathesis run over every operation, with the response-conformance checks on."""
    fake = FakeClickFunnels(seed=1)
    fake.seed(
        contacts=10,
        tags=3,
        products=2,
        orders=3,
        courses=1,
        forms=1,
        images=1,
        fulfillment_locations=1,
        every_resource=1,
    )
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "run",
        str(SPEC),
        "--url",
        "URL",
        "-H",
        f"Authorization: Bearer {fake.token}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance",
        "--mode",
        "positive",
        "--phases",
        "fuzzing",
        "--max-examples",
        "1",
        "--seed",
        "1",
        "--request-timeout",
        "5",
        "--max-time",
        "50",
        "--warnings",
        "off",
        "--no-shrink",
    ]
    async with fake, fake.serve() as url:
        command[command.index("URL")] = url
        with anyio.fail_after(200):
            result = await anyio.run_process(command, check=False, stderr=subprocess.STDOUT)
    output = result.stdout.decode(errors="replace")
    assert result.returncode == 0, output[-6000:]
    assert (
        f"Tested: {len(fake.operations)}" in output or f"{len(fake.operations)} passed" in output
    ), output[-3000:]

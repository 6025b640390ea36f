"""Smoke test of one extra, run by .ci/smoke_extras.sh inside a fresh venv that has only the wheel and that
extra installed: an import or a call the extra needs but does not declare fails here.

    python .ci/smoke_extras.py EXTRA [EMULATOR_PYTHON]

EXTRA is none, cli, testing, fastapi, http2, trio or redis (or any extra named in pyproject.toml: an
unknown one only gets the core check). For `cli`, EMULATOR_PYTHON is a Python that has the `testing`
extra: the emulator runs there and the installed `clickfunnels` command calls it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import httpx

from clickfunnels_async import ClickFunnels

TOKEN = "cf_smoke_token_1"


def mock(request: httpx.Request) -> httpx.Response:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    return httpx.Response(200, json=[CONTACT])


# A complete record: the Contact model requires what the official spec marks required.
_NULLABLE = (
    "anonymous email_suppression_reason fb_url first_name instagram_url last_name"
    " last_notification_email_sent_at linkedin_url phone_number tags time_zone twitter_url"
    " unsubscribed_at website_url"
)
CONTACT = {
    **dict.fromkeys(_NULLABLE.split()),
    "id": 1,
    "public_id": "cnt_1",
    "uuid": "00000000-0000-4000-8000-000000000001",
    "workspace_id": 42,
    "email_address": "a@example.com",
    "is_active": True,
    "custom_attributes": {},
    "visits": {"first_visit": None, "last_visit": None, "last_visit_with_utm": None},
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


async def core() -> None:
    async with ClickFunnels(
        api_token=TOKEN, subdomain="acme", transport=httpx.MockTransport(mock)
    ) as cf:
        contacts = await cf.contacts.list(42).to_list()
    assert [c.email_address for c in contacts] == ["a@example.com"], contacts


async def testing() -> None:
    from clickfunnels_async.testing import FakeClickFunnels

    async with FakeClickFunnels(tokens=[TOKEN]) as fake, fake.serve() as url:
        fake.seed(contacts=3)
        async with ClickFunnels(api_token=TOKEN, base_url=url) as cf:
            contacts = await cf.contacts.list(fake.workspace_id).to_list()
    assert len(contacts) == 3, contacts


def cli(emulator_python: str) -> None:
    command = str(Path(sys.executable).with_name("clickfunnels"))
    shown = subprocess.run(
        [command, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "contacts" in shown.stdout, shown.stdout
    emulator = subprocess.Popen(
        [
            emulator_python,
            "-m",
            "clickfunnels_async.testing",
            "--port",
            "0",
            "--contacts",
            "2",
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        url = ""
        while not url:
            line = emulator.stdout.readline()
            if not line:
                raise SystemExit("the emulator ended before listening")
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            url = found.group(0) if found else ""
        env = {**os.environ, "CLICKFUNNELS_API_TOKEN": TOKEN}
        done = subprocess.run(
            [command, "--base-url", url, "call", "listContacts", "workspace_id=42", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)) == 2, done.stdout
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)


def fastapi() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from clickfunnels_async.integrations.fastapi import ClickFunnelsWebhookRouter

    app = FastAPI()
    app.include_router(ClickFunnelsWebhookRouter(secret="whsec_smoke_secret"))
    with TestClient(app) as client:
        forged = client.post("/webhooks/clickfunnels", content=b"{}")
    assert forged.status_code == 400, forged.text


async def http2() -> None:
    import h2  # noqa: F401  (the extra's reason to exist)

    async with ClickFunnels(api_token=TOKEN, subdomain="acme", http2=True) as cf:
        assert "acme" in repr(cf)


def trio() -> None:
    import trio as trio_lib

    trio_lib.run(core)


def redis() -> None:
    from clickfunnels_async.redis import RedisRateBudget

    budget = RedisRateBudget("redis://127.0.0.1:1/0", key="smoke")
    assert budget is not None


def main() -> None:
    extra = sys.argv[1]
    anyio.run(core)
    if extra == "testing":
        anyio.run(testing)
    elif extra == "cli":
        cli(sys.argv[2])
    elif extra == "fastapi":
        fastapi()
    elif extra == "http2":
        anyio.run(http2)
    elif extra == "trio":
        trio()
    elif extra == "redis":
        redis()
    print(f"smoke {extra}: ok")


if __name__ == "__main__":
    main()

"""`http2=True` stays on httpx's transport and really speaks HTTP/2 to a real h2 server (hypercorn, TLS)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from clickfunnels_async import ClickFunnels

hypercorn_asyncio = pytest.importorskip(
    "hypercorn.asyncio", reason="hypercorn is not installed (pip install -e '.[dev]')"
)
pytest.importorskip("h2", reason="h2 is not installed (pip install 'clickfunnels-async[http2]')")
trustme = pytest.importorskip(
    "trustme", reason="trustme is not installed (pip install -e '.[dev]')"
)
from hypercorn.config import Config  # noqa: E402

pytestmark = pytest.mark.anyio

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b'{"http_version": "%s"}' % scope["http_version"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # hypercorn.asyncio
async def test_http2_true_speaks_http2_to_a_real_h2_server(
    anyio_backend: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    monkeypatch.setenv(
        "SSL_CERT_FILE", str(tmp_path / "ca.pem")
    )  # verified as httpx does, on this CA

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = str(tmp_path / "cert.pem")
    config.keyfile = str(tmp_path / "key.pem")
    config.alpn_protocols = ["h2", "http/1.1"]
    config.loglevel = "WARNING"
    stop = anyio.Event()

    async with anyio.create_task_group() as group:
        group.start_soon(lambda: hypercorn_asyncio.serve(app, config, shutdown_trigger=stop.wait))
        with anyio.fail_after(15):
            while True:  # until it listens
                try:
                    await (await anyio.connect_tcp("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await anyio.sleep(0.02)
            async with ClickFunnels(
                "tok_h2_12345678", base_url=f"https://127.0.0.1:{port}", http2=True
            ) as cf:
                with cf.raw_responses() as raw:
                    answer = await cf.request("GET", "/api/v2/ping")
                    await cf.request("GET", "/api/v2/ping")
                assert type(cf._shared.http._transport).__name__ == "AsyncHTTPTransport"
        stop.set()
    assert answer == {"http_version": "2"}
    assert [r.http_response.http_version for r in raw] == ["HTTP/2", "HTTP/2"]

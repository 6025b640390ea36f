"""The SDK's requests are visible to Sentry's, OpenTelemetry's and logfire's httpx integrations, whatever the transport.

Both integrations patch httpx globally, so each scenario runs in a fresh interpreter against a real socket
server on 127.0.0.1 (the client's default transport: aiohttp on asyncio), and reports what it saw as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("sentry_sdk", reason="sentry-sdk is not installed (pip install -e '.[dev]')")
pytest.importorskip(
    "opentelemetry.instrumentation.httpx", reason="opentelemetry-instrumentation-httpx missing"
)

SERVER = """
import asyncio, json
seen = []
async def handle(reader, writer):
    while True:
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        seen.append({k.lower(): v for k, _, v in (l.partition(": ") for l in head.decode().split("\\r\\n")[1:] if l)})
        body = b'{"id": 1}'
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 9\\r\\n\\r\\n" + body)
        await writer.drain()
"""


def run(script: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SERVER + script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_sentry_httpx_integration_sees_spans_and_propagates_trace_headers() -> None:
    result = run("""
import sentry_sdk
from sentry_sdk.integrations.httpx import HttpxIntegration
from sentry_sdk.transport import Transport
from clickfunnels_async import ClickFunnels

envelopes = []
class Memory(Transport):
    def capture_envelope(self, envelope):
        envelopes.append(envelope)

sentry_sdk.init(dsn="https://key@sentry.invalid/1", transport=Memory, integrations=[HttpxIntegration()],
                traces_sample_rate=1.0, trace_propagation_targets=[".*"])

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with ClickFunnels("tok_sentry_12345", base_url=f"http://127.0.0.1:{port}") as cf:
        with sentry_sdk.start_transaction(name="job", op="task"):
            await cf.request("GET", "/api/v2/contacts/1")
    server.close()

asyncio.run(main())
sentry_sdk.flush()
spans = []
for envelope in envelopes:
    for item in envelope.items:
        payload = item.payload.json or {}
        spans += [s.get("op") for s in payload.get("spans", [])]
print(json.dumps({"spans": spans, "headers": seen}))
""")
    assert "http.client" in result["spans"]
    headers = result["headers"][0]  # type: ignore[index]
    assert "sentry-trace" in headers and "baggage" in headers
    assert "tok_sentry_12345" not in json.dumps(result["spans"])


def test_opentelemetry_httpx_instrumentation_sees_spans_and_propagates_traceparent() -> None:
    result = run("""
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from clickfunnels_async import ClickFunnels

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
HTTPXClientInstrumentor().instrument(tracer_provider=provider)

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with ClickFunnels("tok_otel_1234567", base_url=f"http://127.0.0.1:{port}") as cf:
        with trace.get_tracer("job").start_as_current_span("job"):
            await cf.request("GET", "/api/v2/contacts/1")
    server.close()

asyncio.run(main())
spans = [{"name": s.name, "kind": str(s.kind), "attrs": dict(s.attributes or {})} for s in exporter.get_finished_spans()]
print(json.dumps({"spans": spans, "headers": seen}, default=str))
""")
    spans = result["spans"]
    client = [s for s in spans if s["kind"] == "SpanKind.CLIENT"]  # type: ignore[union-attr, index]
    assert client, spans
    assert "traceparent" in result["headers"][0]  # type: ignore[index]
    assert "tok_otel_1234567" not in json.dumps(spans)


def test_logfire_instrument_httpx_sees_spans_and_propagates_traceparent() -> None:
    pytest.importorskip("logfire", reason="logfire is not installed (make install)")
    result = run("""
import logfire
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from clickfunnels_async import ClickFunnels

exporter = InMemorySpanExporter()
logfire.configure(send_to_logfire=False, console=False,
                  additional_span_processors=[SimpleSpanProcessor(exporter)])
logfire.instrument_httpx()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with ClickFunnels("tok_logfire_12345", base_url=f"http://127.0.0.1:{port}") as cf:
        with logfire.span("job"):
            await cf.request("GET", "/api/v2/contacts/1")
    server.close()

asyncio.run(main())
spans = [{"name": s.name, "kind": str(s.kind), "attrs": dict(s.attributes or {})} for s in exporter.get_finished_spans()]
print(json.dumps({"spans": spans, "headers": seen}, default=str))
""")
    spans = result["spans"]
    client = [s for s in spans if s["kind"] == "SpanKind.CLIENT"]  # type: ignore[union-attr, index]
    assert client, spans
    assert (
        client[0]["attrs"].get(
            "http.response.status_code", client[0]["attrs"].get("http.status_code")
        )
        == 200
    )  # type: ignore[index]
    assert "traceparent" in result["headers"][0]  # type: ignore[index]
    assert "tok_logfire_12345" not in json.dumps(spans)

"""`make demo`: what a ClickFunnels integration does, end to end.

Against the embedded emulator by default (nothing to configure). With CLICKFUNNELS_API_TOKEN and
CLICKFUNNELS_SUBDOMAIN (or MATON_API_KEY) set, it runs only the read-only part against the real API instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from fastapi import FastAPI
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clickfunnels_async import (
    ClickFunnels,
    Filter,
    NotFoundError,
    UnprocessableEntityError,
    bulk,
)
from clickfunnels_async.integrations.fastapi import ClickFunnelsWebhookRouter
from clickfunnels_async.webhooks import EventType

console = Console()
HOOKS_URL = "https://backend.example.test"


class Backend:
    """The receiving web app, created once the endpoint's secret is known."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


summary: list[tuple[str, str, str]] = []


_clock = {"step": time.perf_counter()}


def step(title: str) -> None:
    _clock["step"] = time.perf_counter()
    console.print(f"\n[bold cyan]▸ {title}[/]")


def record(what: str, result: str) -> None:
    elapsed = time.perf_counter() - _clock["step"]
    summary.append((what, result, f"{elapsed:.2f} s"))
    console.print(f"  {result}")


async def discover(cf: ClickFunnels) -> Any:
    step("Discover the team and the workspace (accounts host)")
    teams = await cf.teams.list().to_list()
    team = teams[0]
    workspaces = await cf.workspaces.list(team.id).to_list()
    workspace = workspaces[0]
    record(
        "team and workspace",
        f"team {team.name!r} (id {team.id}), workspace {workspace.name!r} "
        f"(id {workspace.id}, https://{workspace.subdomain}.myclickfunnels.com)",
    )
    return workspace


async def read_only_tour(cf: ClickFunnels, workspace_id: int) -> None:
    step("Paginate contacts (first 100, prefetching the next page)")
    started = time.perf_counter()
    count = 0
    async with cf.contacts.list(workspace_id, limit=100, prefetch=True) as contacts:
        async for _ in contacts:
            count += 1
    record("contacts read", f"{count} contacts in {time.perf_counter() - started:.2f} s")
    step("A few products and orders")
    products = await cf.products.list(workspace_id, limit=5).to_list()
    orders = await cf.orders.list(workspace_id, limit=5).to_list()
    record("products, orders", f"{len(products)} products and {len(orders)} orders (first page)")


async def emulated_tour(
    fake: Any, cf: ClickFunnels, backend: Backend, backend_http: httpx.AsyncClient
) -> None:
    workspace = await discover(cf)
    ws = workspace.id

    step("Receive signed webhooks: register an endpoint for contact.created")
    endpoint = await cf.webhooks.outgoing.endpoints.create(
        ws,
        name="demo",
        url=f"{HOOKS_URL}/webhooks/clickfunnels",
        event_type_ids=[EventType.CONTACT_CREATED],
    )
    # The secret is shown once, at creation: our FastAPI backend verifies every delivery with it.
    router = ClickFunnelsWebhookRouter(secret=endpoint.webhook_secret)
    received: list[Any] = []

    @router.on(EventType.CONTACT_CREATED)
    async def on_contact_created(event: Any) -> None:
        received.append(event)

    app = FastAPI()
    app.include_router(router)
    backend.app = app
    record(
        "webhook endpoint",
        f"endpoint {endpoint.id} registered; a FastAPI route verifies its deliveries",
    )

    step("Upsert 500 contacts, 32 at a time")
    rows = [
        {"email_address": f"customer{i:03d}@example.com", "first_name": f"Customer {i}"}
        for i in range(500)
    ]
    with Progress(
        TextColumn("  upserting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("upsert", total=len(rows))
        result = await bulk.execute(
            cf.contacts.upsert,
            rows,
            concurrency=32,
            workspace_id=ws,
            on_progress=lambda p: bar.update(task, completed=p.done),
        )
    record(
        "bulk upsert",
        f"{result.succeeded} upserted, {result.failed} failed in {result.elapsed:.2f} s "
        f"({result.rate:.0f}/s)",
    )

    step("List with a filter (values OR'ed, keys AND'ed)")
    wanted = Filter(email_address=["customer007@example.com", "customer042@example.com"])
    found = await cf.contacts.list(ws, filter=wanted).to_list()
    record("filtered list", "found " + ", ".join(c.email_address for c in found))

    step("Paginate everything (20 a page, after <- Pagination-Next)")
    pages = 0
    total = 0
    async for page in cf.contacts.list(ws).pages():
        pages += 1
        total += len(page.items)
    record("pagination", f"{total} contacts over {pages} pages")

    step("Tag contacts")
    tag = await cf.contacts.tags.create(ws, name="VIP", color="#ffaa00")
    first = await cf.contacts.list(ws, limit=10).to_list()
    for contact in first:
        await cf.contacts.applied_tags.create(contact.id, tag_id=tag.id)
    tagged = await cf.contacts.applied_tags.list(first[0].id).to_list()
    record(
        "tags",
        f"tag {tag.name!r} applied to {len(first)} contacts (first one has {len(tagged)} tag)",
    )

    step("A product, an order and its fulfillment")
    product = await cf.products.create(ws, name="Demo course bundle", visible_in_store=True)
    variant_id = product.default_variant_id
    price = await cf.products.prices.create(
        variant_id, amount="49.00", currency="USD", duration=1, interval="months", interval_count=1,
        trial_interval="days", trial_duration=0, trial_amount="0.00",
    )  # fmt: skip
    order = await cf.orders.create(
        ws, contact_id=first[0].id, order_type="one-time-order", live_mode=False,
        line_items_attributes=[{"variant_id": variant_id, "products_price_id": price.id, "quantity": 1}],
    )  # fmt: skip
    location = await cf.fulfillments.locations.create(
        ws,
        name="Main warehouse",
        address_name="Main warehouse",
        email_address="warehouse@example.com",
    )
    invoice = await cf.orders.invoices.create(
        order.id, status="paid", external_id="demo-1",
        line_items_attributes=[
            {"variant_id": variant_id, "products_price_id": price.id, "amount": "49.00", "quantity": 1}
        ],
    )  # fmt: skip
    shipped = [{"invoices_line_item_id": item.id, "quantity": 1} for item in invoice.line_items]
    fulfillment = await cf.fulfillments.create(
        ws,
        contact_id=first[0].id,
        location_id=location.id,
        included_orders_invoices_line_items_attributes=shipped,
    )
    record(
        "store",
        f"product {product.id}, order {order.id}, fulfillment {fulfillment.id} ({fulfillment.status})",
    )

    step("The signed webhooks that reached the backend")
    await fake.drain_webhooks()
    deliveries = fake.deliveries
    accepted = sum(1 for d in deliveries if d.ok)
    forged = await backend_http.post(
        "/webhooks/clickfunnels",
        content=deliveries[0].body,
        headers={**deliveries[0].headers, "X-Webhook-ClickFunnels-Signature": "0" * 64},
    )
    record(
        "webhooks",
        f"{accepted} of {len(deliveries)} deliveries verified and handled "
        f"({len(received)} contact.created events); a forged one got HTTP {forged.status_code}",
    )

    step("Handle errors")
    try:
        await cf.contacts.get(999_999_999)
    except NotFoundError as exc:
        record("404", f"NotFoundError: {exc.message}")
    try:
        await cf.contacts.tags.create(ws, name="Demo duplicate")
        await cf.contacts.tags.create(
            ws, name="Demo duplicate"
        )  # tag names are unique per workspace
    except UnprocessableEntityError as exc:
        record("422", f"UnprocessableEntityError: {exc.message} {exc.errors}")


@asynccontextmanager
async def real_client() -> AsyncIterator[ClickFunnels]:
    if os.environ.get("MATON_API_KEY"):
        async with ClickFunnels.via_maton() as cf:
            yield cf
    else:
        async with ClickFunnels() as cf:
            yield cf


async def main() -> None:
    env = os.environ
    real = bool(
        env.get("CLICKFUNNELS_API_TOKEN")
        and (env.get("CLICKFUNNELS_SUBDOMAIN") or env.get("CLICKFUNNELS_BASE_URL"))
    ) or bool(env.get("MATON_API_KEY"))
    summary.clear()
    started = time.perf_counter()
    if real:
        where = env.get("CLICKFUNNELS_BASE_URL") or "the real ClickFunnels API"
        console.print(
            f"[bold]clickfunnels-async demo[/] — against [bold red]{where}[/], "
            "read-only (credentials from the environment)"
        )
        async with real_client() as cf:
            workspace = await discover(cf)
            await read_only_tour(cf, workspace.id)
    else:
        from clickfunnels_async.testing import FakeClickFunnels

        console.print(
            "[bold]clickfunnels-async demo[/] — against the embedded emulator "
            "(set CLICKFUNNELS_API_TOKEN and CLICKFUNNELS_SUBDOMAIN to use the real API, read-only)"
        )
        # Webhook deliveries go to our own backend in-process: nothing leaves this machine.
        backend = Backend()
        backend_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=backend), base_url=HOOKS_URL
        )
        async with (
            backend_http,
            FakeClickFunnels(seed=7, latency=0.002, http_client=backend_http) as fake,
            fake.client() as cf,
        ):
            await emulated_tour(fake, cf, backend, backend_http)

    table = Table(title=f"Summary ({time.perf_counter() - started:.1f} s)", show_lines=False)
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    for row in summary:
        table.add_row(*row)
    console.print()
    console.print(table)


if __name__ == "__main__":
    anyio.run(main)

"""The embedded ClickFunnels emulator, exercised through the real SDK client (so both are tested).

Every reply the fake gives during these tests is validated against the bundled spec (OAS 3.1 validator over
a `referencing` registry), so the spec and the fake cannot drift apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
import referencing
import referencing.jsonschema
from openapi_schema_validator import OAS31Validator

from clickfunnels_async import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ClickFunnels,
    ConflictError,
    Filter,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    UnprocessableEntityError,
)
from clickfunnels_async._errors import error_from_response
from clickfunnels_async._operation_row import Operation
from clickfunnels_async.testing import FakeClickFunnels
from clickfunnels_async.testing._fake import Reply
from clickfunnels_async.testing._schema import load_spec

pytestmark = pytest.mark.anyio

WS = 42
FAST_RETRIES = RetryPolicy(max_retries=6, initial_delay=0.001, max_delay=0.005)
SPEC_URI = "urn:clickfunnels:openapi"

# Fields the official spec requires on these creates (openapi/facts).
_VARIANT_REQUIRED: dict[str, Any] = {
    "product_type": "digital",
    "weight_unit": "kg",
    "properties_values": [{"property_id": 1, "value": "Gold"}],
}
_PRICE_REQUIRED: dict[str, Any] = {
    "currency": "USD",
    "duration": 1,
    "interval": "months",
    "interval_count": 1,
    "trial_interval": "days",
    "trial_duration": 0,
    "trial_amount": "0.00",
}
_LOCATION_REQUIRED: dict[str, Any] = {"address_name": "Depot", "email_address": "depot@x.com"}


# ---------------------------------------------------------------------------------------------- spec check


@functools.cache
def _registry() -> referencing.Registry[Any]:
    resource = referencing.Resource.from_contents(
        load_spec(), default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(SPEC_URI, resource)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@functools.cache
def _validator(op_id: str, path: str, method: str, status: int) -> OAS31Validator | None:
    """A validator for the documented body of `status`, or None when the spec documents no JSON body."""
    responses = load_spec()["paths"][path][method]["responses"]
    response = responses.get(str(status))
    if response is None:
        return None
    pointer = f"#/paths/{_escape(path)}/{method}/responses/{status}"
    if "$ref" in response:
        pointer = response["$ref"]
        response = load_spec()["components"]["responses"][pointer.rsplit("/", 1)[-1]]
    if "application/json" not in (response.get("content") or {}):
        return None
    schema = {"$ref": f"{SPEC_URI}{pointer}/content/application~1json/schema"}
    return OAS31Validator(
        schema, registry=_registry(), format_checker=OAS31Validator.FORMAT_CHECKER
    )


class SpecChecker:
    """Observes the fake: every reply must be documented by the spec and match its schema."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.validated: set[str] = set()

    def __call__(self, op: Operation, reply: Reply) -> None:
        if reply.status == 501:
            return
        responses = load_spec()["paths"][op.path][op.method.lower()]["responses"]
        if str(reply.status) not in responses:
            if reply.status == 400:
                # The spec leaves 400 (malformed body) off most writes; the body must still be an Error.
                error_schema = {"$ref": f"{SPEC_URI}#/components/schemas/Error"}
                validator = OAS31Validator(error_schema, registry=_registry())
                if not validator.is_valid(reply.body) or "error" not in reply.body:
                    self.problems.append(f"{op.id}: 400 body {reply.body!r} is not an Error")
                return
            self.problems.append(
                f"{op.id}: status {reply.status} is not documented ({sorted(responses)})"
            )
            return
        validator = _validator(op.id, op.path, op.method.lower(), reply.status)
        if validator is None or reply.status == 204:
            if 200 <= reply.status < 300:
                self.validated.add(op.id)
            return
        errors = sorted(validator.iter_errors(reply.body), key=str)
        if errors:
            self.problems.append(
                f"{op.id} {reply.status}: {errors[0].message} at {list(errors[0].path)}"
            )
        elif 200 <= reply.status < 300:
            self.validated.add(op.id)


@pytest.fixture
async def fake() -> AsyncIterator[FakeClickFunnels]:
    checker = SpecChecker()
    async with FakeClickFunnels(seed=7) as emulator:
        emulator.observe(checker)
        yield emulator
    assert not checker.problems, "\n".join(checker.problems[:20])


@pytest.fixture
async def cf(fake: FakeClickFunnels) -> AsyncIterator[ClickFunnels]:
    async with fake.client(max_retries=0) as client:
        yield client


# ---------------------------------------------------------------------------------------------- CRUD


async def test_contacts_crud_by_id_and_public_id(cf: ClickFunnels, fake: FakeClickFunnels) -> None:
    created = await cf.contacts.create(WS, email_address="ada@example.com", first_name="Ada")
    assert created.id > 0 and isinstance(created.public_id, str) and not created.public_id.isdigit()
    assert created.workspace_id == WS and created.created_at is not None

    by_id = await cf.contacts.get(created.id)
    by_public = await cf.contacts.get(created.public_id)
    assert by_id.email_address == by_public.email_address == "ada@example.com"

    updated = await cf.contacts.update(created.public_id, last_name="Lovelace")
    assert updated.last_name == "Lovelace" and updated.first_name == "Ada"

    listed = await cf.contacts.list(WS).to_list()
    assert [c.id for c in listed] == [created.id]

    assert await cf.contacts.delete(created.id) is None
    with pytest.raises(NotFoundError):
        await cf.contacts.get(created.id)


async def test_every_covered_resource_round_trips(cf: ClickFunnels, fake: FakeClickFunnels) -> None:
    contact = await cf.contacts.create(WS, email_address="grace@example.com")

    tag = await cf.contacts.tags.create(WS, name="VIP", color="#ff0000")
    assert (await cf.contacts.tags.update(tag.id, name="VVIP")).name == "VVIP"
    applied = await cf.contacts.applied_tags.create(contact.id, tag_id=tag.id)
    assert applied.contact_id == contact.id and applied.tag_id == tag.id
    assert [t.id for t in await cf.contacts.applied_tags.list(contact.id).to_list()] == [applied.id]
    assert [t.name for t in (await cf.contacts.get(contact.id)).tags] == ["VVIP"]
    await cf.contacts.applied_tags.delete(applied.id)
    assert (await cf.contacts.get(contact.id)).tags == []

    product = await cf.products.create(WS, name="Course bundle")
    assert product.default_variant_id is not None
    variant = await cf.products.variants.create(
        product.id, name="Gold", sku="GOLD-1", **_VARIANT_REQUIRED
    )
    assert variant.product_id == product.id
    assert {v.id for v in await cf.products.variants.list(product.id).to_list()} == {
        product.default_variant_id,
        variant.id,
    }
    price = await cf.products.prices.create(
        variant.id, amount="49.00", name="One-off", payment_type="one_time", **_PRICE_REQUIRED
    )
    assert price.variant_id == variant.id
    assert [p.id for p in await cf.products.prices.list(product.id).to_list()] == [price.id]
    assert (await cf.products.prices.update(price.id, amount="59.00")).amount == "59.00"

    order = await cf.orders.create(
        WS,
        contact_id=contact.id,
        order_type="one-time-order",
        live_mode=False,
        line_items_attributes=[
            {"variant_id": variant.id, "products_price_id": price.id, "quantity": 2}
        ],
    )
    assert order.total_amount == "118.00" and order.contact.id == contact.id
    assert len(order.line_items) == 1
    invoice = await cf.orders.invoices.create(
        order.id, status="paid", invoice_type="initial", external_id="inv-1"
    )
    assert invoice.order_id == order.id
    assert [i.id for i in await cf.orders.invoices.list(order.id).to_list()] == [invoice.id]
    assert [i.id for i in await cf.orders.invoices.list_for_workspace(WS).to_list()] == [invoice.id]
    assert (await cf.orders.update(order.id, notes="gift")).notes == "gift"

    location = await cf.fulfillments.locations.create(WS, name="Warehouse", **_LOCATION_REQUIRED)
    fulfillment = await cf.fulfillments.create(
        WS,
        contact_id=contact.id,
        location_id=location.id,
        tracking_code="1Z",
        included_orders_invoices_line_items_attributes=[
            {"invoices_line_item_id": 1, "quantity": 1}
        ],
    )
    assert fulfillment.status == "fulfilled"
    assert (await cf.fulfillments.cancel(fulfillment.id)).status == "cancelled"
    with pytest.raises(ConflictError):
        await cf.fulfillments.cancel(fulfillment.id)

    course = await cf.courses.create(WS, title="Python")
    section = await cf.courses.sections.create(course.id, title="Basics")
    lesson = await cf.courses.lessons.create(section.id, title="Hello")
    assert lesson.section_id == section.id
    sections = await cf.courses.sections.list(course.id).to_list()
    assert (
        section.id in [s.id for s in sections] and len(sections) == 2
    )  # + the hidden root section
    published = await cf.courses.sections.publish(section.id)
    assert published.published_at is not None
    assert (await cf.courses.lessons.get(lesson.id)).published_at is not None
    enrollment = await cf.courses.enrollments.create(course.id, contact_id=contact.id)
    assert enrollment.course_id == course.id
    assert (await cf.courses.enrollments.update(enrollment.id, suspended=True)).suspended is True

    form = await cf.forms.create(WS, name="Newsletter")
    submission = await cf.forms.submissions.create(form.id, contact_id=contact.id)
    assert [s.id for s in await cf.form_submissions.list(WS).to_list()] == [submission.id]
    assert (await cf.form_submissions.get(submission.id)).contact_id == contact.id

    image = await cf.images.create(WS, upload_source_url="https://example.com/cat.png")
    assert (await cf.images.get(image.public_id)).id == image.id
    await cf.images.delete(image.id)

    assert [t.id for t in await cf.teams.list().to_list()] == [1]
    assert (await cf.workspaces.get(WS)).subdomain == "acme"
    assert [w.id for w in await cf.workspaces.list(1).to_list()] == [WS]
    me = await cf.users.get_me()
    assert me.id == 1 and (await cf.users.get(me.public_id)).id == 1


async def test_upsert_creates_then_updates(cf: ClickFunnels) -> None:
    with cf.raw_responses() as raw:
        first = await cf.contacts.upsert(WS, email_address="up@example.com", first_name="Up")
        second = await cf.contacts.upsert(
            WS, email_address="up@example.com", last_name="Date", first_name=""
        )
    assert [r.status_code for r in raw] == [201, 200]
    assert second.id == first.id
    assert (second.first_name, second.last_name) == ("Up", "Date")  # empty values are ignored


async def test_gdpr_destroy_redacts(cf: ClickFunnels) -> None:
    contact = await cf.contacts.create(
        WS, email_address="secret@example.com", first_name="Sec", phone_number="+1555"
    )
    assert await cf.contacts.gdpr_destroy(contact.id) is None
    redacted = await cf.contacts.get(contact.id)
    assert redacted.email_address.startswith("redacted-") and redacted.email_address.endswith(
        "@example.com"
    )
    assert (redacted.first_name, redacted.last_name, redacted.phone_number) == (
        "REDACTED",
        "REDACTED",
        None,
    )


async def test_archive_and_unarchive_conflict_on_repeat(cf: ClickFunnels) -> None:
    product = await cf.products.create(WS, name="Widget")
    assert (await cf.products.archive(product.id)).archived is True
    with pytest.raises(ConflictError):
        await cf.products.archive(product.id)
    assert [p.id for p in await cf.products.list(WS, filter={"archived": True}).to_list()] == [
        product.id
    ]
    assert (await cf.products.unarchive(product.id)).archived is False
    with pytest.raises(ConflictError):
        await cf.products.unarchive(product.id)


# ---------------------------------------------------------------------------------------------- listing


async def test_pagination_headers_order_and_cursor(
    cf: ClickFunnels, fake: FakeClickFunnels
) -> None:
    fake.seed(contacts=45)
    with cf.raw_responses() as raw:
        pages = [page async for page in cf.contacts.list(WS).pages()]
    assert [len(p.items) for p in pages] == [20, 20, 5]
    first = raw[0].headers
    assert first["Pagination-Next"] == str(pages[0].items[-1].id)
    link = first["Link"]
    assert link.endswith('>; rel="next"')
    assert parse_qs(urlsplit(link[1 : link.index(">")]).query)["after"] == [
        first["Pagination-Next"]
    ]
    assert "Pagination-Next" not in raw[-1].headers and "Link" not in raw[-1].headers
    ids = [c.id for p in pages for c in p.items]
    assert ids == sorted(ids) and len(set(ids)) == 45

    descending = [c.id async for c in cf.contacts.list(WS, sort_order="desc")]
    assert descending == sorted(ids, reverse=True)
    after = await cf.contacts.list(WS, after=str(ids[9])).to_list()
    assert [c.id for c in after] == ids[10:]

    # Touch one contact: by updated_at it moves to the end.
    await cf.contacts.update(ids[0], first_name="Latest")
    by_update = [c.id async for c in cf.contacts.list(WS, sort_property="updated_at")]
    assert by_update[-1] == ids[0] and sorted(by_update) == ids


async def test_filters(cf: ClickFunnels, fake: FakeClickFunnels) -> None:
    vip = await cf.contacts.tags.create(WS, name="vip")
    a = await cf.contacts.create(WS, email_address="a@x.com", tag_ids=[vip.id])
    b = await cf.contacts.create(WS, email_address="b@x.com")
    c = await cf.contacts.create(WS, email_address="c@x.com", tag_ids=[vip.id])

    async def ids(**filters: Any) -> list[int]:
        return [x.id async for x in cf.contacts.list(WS, filter=Filter(**filters))]

    assert await ids(email_address=["a@x.com", "b@x.com"]) == [a.id, b.id]  # OR within a key
    assert await ids(tag_ids=vip.id) == [a.id, c.id]
    assert await ids(tag_ids=vip.id, email_address=["b@x.com", "c@x.com"]) == [
        c.id
    ]  # AND across keys
    assert await ids(id=[a.public_id, str(c.id)]) == [a.id, c.id]
    assert await ids(is_active=True) == [a.id, b.id, c.id]
    assert await ids(is_active=False) == []

    with pytest.raises(ValueError, match="cannot filter on"):
        cf.contacts.list(WS, filter={"nope": 1})  # the SDK refuses before sending
    raw = await fake.http_client().get(
        f"/api/v2/workspaces/{WS}/contacts", params={"filter[nope]": "1"}
    )
    assert raw.status_code == 400 and raw.json() == {"error": "found unpermitted parameter: nope"}
    with pytest.raises(BadRequestError, match="unpermitted parameter"):
        await cf.request("GET", f"/api/v2/workspaces/{WS}/contacts", params={"filter[nope]": "1"})


async def test_large_dataset_pages_in_constant_time(fake: FakeClickFunnels) -> None:
    fake.seed(contacts=20_000)
    http = fake.http_client()
    path = f"/api/v2/workspaces/{WS}/contacts"

    async def page_time(after: str | None) -> float:
        started = time.perf_counter()
        for _ in range(20):
            response = await http.get(path, params={"after": after} if after else None)
            assert len(response.json()) == 20
        return time.perf_counter() - started

    early, late = await page_time(None), await page_time("19900")
    assert late < early * 4 + 0.05  # a deep page costs what the first does (no O(n) scan)


# ---------------------------------------------------------------------------------------------- errors


async def test_authentication_and_user_agent(fake: FakeClickFunnels) -> None:
    http = fake.http_client()
    path = f"/api/v2/workspaces/{WS}/contacts"
    no_token = await http.get(path, headers={"Authorization": ""})
    assert no_token.status_code == 401 and no_token.json() == {
        "error": "API key missing or invalid"
    }
    missing_ua = await http.get(path, headers={"User-Agent": ""})
    assert missing_ua.status_code == 403 and "User-Agent" in missing_ua.json()["error"]
    assert error_from_response(missing_ua).__class__ is PermissionDeniedError

    strict = FakeClickFunnels(tokens=["good-token"])
    async with strict.client(api_token="bad-token", max_retries=0) as bad:
        with pytest.raises(AuthenticationError, match="API key missing or invalid"):
            await bad.teams.list().to_list()
    async with strict.client(max_retries=0) as good:
        assert strict.token == "good-token"
        assert len(await good.teams.list().to_list()) == 1
    await strict.aclose()


async def test_routes_member_prefix_and_unknown(cf: ClickFunnels, fake: FakeClickFunnels) -> None:
    contact = await cf.contacts.create(WS, email_address="r@x.com")
    http = fake.http_client()
    prefixed = await http.get(f"/api/v2/workspaces/{WS}/contacts/{contact.id}")
    assert prefixed.status_code == 404 and prefixed.json() == {"error": "No such route"}
    assert (await http.get("/api/v2/nothing/here")).status_code == 404
    with pytest.raises(NotFoundError):
        await cf.request("GET", f"/api/v2/workspaces/{WS}/contacts/{contact.id}")
    funnels = await http.get(f"/api/v2/workspaces/{WS}/funnels")  # every family is served (no 501)
    assert funnels.status_code == 200 and funnels.json() == []
    # PATCH on a route the spec lists as PUT works, like on Rails.
    patched = await http.patch(
        f"/api/v2/contacts/{contact.id}", json={"contact": {"first_name": "P"}}
    )
    assert patched.status_code == 200 and patched.json()["first_name"] == "P"


async def test_validation_errors(cf: ClickFunnels) -> None:
    # The official spec requires nothing on a contact create: no rule of the fake's own adds one.
    nobody = await cf.contacts.create(WS, first_name="Nobody")
    assert nobody.first_name == "Nobody" and nobody.email_address is None

    await cf.contacts.tags.create(WS, name="dup")
    with pytest.raises(UnprocessableEntityError) as duplicate:
        await cf.contacts.tags.create(WS, name="dup")
    assert duplicate.value.errors == {"name": ["has already been taken"]}
    assert "Name has already been taken" in str(duplicate.value)

    await cf.contacts.create(WS, email_address="same@x.com")
    with pytest.raises(UnprocessableEntityError):
        await cf.contacts.create(WS, email_address="same@x.com")
    with pytest.raises(UnprocessableEntityError, match="must exist"):
        await cf.courses.enrollments.create(
            (await cf.courses.create(WS, title="C")).id, contact_id=999999
        )


async def test_body_wrapper_is_enforced(fake: FakeClickFunnels) -> None:
    http = fake.http_client()
    path = f"/api/v2/workspaces/{WS}/contacts"
    missing = await http.post(path, json={"email_address": "flat@x.com"})
    assert missing.status_code == 400 and "contact" in missing.json()["error"]
    wrong = await http.post(path, json={"contacts_tag": {"email_address": "w@x.com"}})
    assert wrong.status_code == 400
    broken = await http.post(
        path, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    # NaN and Infinity are not JSON (Rails' parser refuses them): 400, and nothing is stored.
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        not_finite = await http.post(
            path,
            content=b'{"contact": {"email_address": "nan@x.com", "first_name": %s}}' % literal,
            headers={"Content-Type": "application/json"},
        )
        assert not_finite.status_code == 400, literal
    assert not any(r["email_address"] == "nan@x.com" for r in fake.records("contacts"))
    ok = await http.post(path, json={"contact": {"email_address": "ok@x.com", "unknown_field": 1}})
    assert ok.status_code == 201 and "unknown_field" not in ok.json()


# ---------------------------------------------------------------------------------------------- webhooks


async def test_webhooks_are_delivered_signed_and_logged(
    fake: FakeClickFunnels, cf: ClickFunnels
) -> None:
    from clickfunnels_async.webhooks import verify_webhook

    received: list[httpx.Request] = []

    async def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    fake.webhook_http_client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    endpoint = await cf.webhooks.outgoing.endpoints.create(
        WS,
        name="hooks",
        url="https://hooks.example.com/cf",
        event_type_ids=[
            "contact.created",
            "contacts/applied_tag.created",
            "order.created",
            "product.created",
        ],
    )
    secret = endpoint.webhook_secret
    assert isinstance(secret, str) and secret == fake.endpoint_secret(endpoint.id)
    assert not (await cf.webhooks.outgoing.endpoints.get(endpoint.id)).webhook_secret  # shown once

    callback_events: list[str] = []
    fake.on_webhook(lambda d: callback_events.append(d.event_type), event_types=["contact.created"])

    tag = await cf.contacts.tags.create(WS, name="hooked")
    contact = await cf.contacts.create(WS, email_address="hook@x.com", tag_ids=[tag.id])
    await cf.contacts.update(contact.id, first_name="not subscribed")
    await cf.products.create(WS, name="Hooked product")
    deliveries = await fake.drain_webhooks()
    await fake.webhook_http_client.aclose()

    assert [d.event_type for d in deliveries if d.endpoint_id] == [
        "contact.created",
        "product.created",
    ]
    assert callback_events == ["contact.created"]
    assert all(d.ok for d in deliveries)
    request = received[0]
    event = verify_webhook(request.content, request.headers, secret)
    assert event.event_type == "contact.created" and event.subject_id == contact.id
    payload = deliveries[0].payload
    assert set(payload) == {
        "event_id",
        "event_type",
        "subject_id",
        "subject_type",
        "workspace_id",
        "api_version",
        "created_at",
        "data",
    }
    assert (
        payload["subject_type"] == "Contact"
        and payload["api_version"] == 2
        and payload["workspace_id"] == WS
    )
    assert payload["data"]["email_address"] == "hook@x.com"

    events = await cf.webhooks.outgoing.events.list(WS).to_list()
    assert [e.event_type_id for e in events] == ["contact.created", "product.created"]
    assert (await cf.webhooks.outgoing.events.get(events[0].id)).subject_id == contact.id


async def test_webhook_delivery_to_an_asgi_receiver(
    fake: FakeClickFunnels, cf: ClickFunnels
) -> None:
    from clickfunnels_async.webhooks import verify_webhook

    seen: list[tuple[bytes, dict[str, str]]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append((body, {k.decode(): v.decode() for k, v in scope["headers"]}))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    fake.webhook_http_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    endpoint = await cf.webhooks.outgoing.endpoints.create(
        WS, name="asgi", url="http://receiver/hook", event_type_ids=["order.created"]
    )
    contact = await cf.contacts.create(WS, email_address="o@x.com")
    order = await cf.orders.create(
        WS,
        contact_id=contact.id,
        order_type="one-time-order",
        live_mode=False,
        line_items_attributes=[{"variant_id": 1, "products_price_id": 1, "quantity": 1}],
    )
    await fake.drain_webhooks()
    await fake.webhook_http_client.aclose()
    assert len(seen) == 1
    event = verify_webhook(seen[0][0], seen[0][1], fake.endpoint_secret(endpoint.id))
    assert event.event_type == "order.created" and event.subject_id == order.id


# ---------------------------------------------------------------------------------------------- faults


async def test_injected_errors_fail_without_retries_and_pass_with_them(
    fake: FakeClickFunnels,
) -> None:
    fake.faults(error_rate=0.5, error_statuses=(500, 502, 503))
    failures: list[InternalServerError] = []
    async with fake.client(max_retries=0) as cf:
        for n in range(30):
            try:
                await cf.contacts.list(WS).to_list()
            except InternalServerError as exc:
                failures.append(exc)
            del n
    assert 5 < len(failures) < 25
    assert {f.status_code for f in failures} == {500, 502, 503}
    assert any("HTML body" in f.message for f in failures if f.status_code == 502)

    async with fake.client(retry_policy=FAST_RETRIES, max_retries=8) as cf:
        for n in range(15):
            await cf.contacts.upsert(
                WS, email_address=f"retry{n}@x.com"
            )  # POST upsert is idempotent
            await cf.contacts.list(WS).to_list()
    assert len(fake.store("contacts")) == 15

    with fake.faults(error_rate=1.0, error_statuses=(503,)):
        async with fake.client(max_retries=0) as cf:
            with pytest.raises(InternalServerError) as exc_info:
                await cf.contacts.create(WS, email_address="never@x.com")
    assert exc_info.value.status_code == 503
    assert fake.current_faults.error_rate == 0.5  # restored by the with block
    assert len(fake.store("contacts")) == 15  # errors happen before the write


async def test_dropped_connections(fake: FakeClickFunnels) -> None:
    fake.faults(drop_rate=1.0)
    causes: list[type[BaseException]] = []
    async with fake.client(max_retries=0) as cf:
        for n in range(20):
            with pytest.raises(APIConnectionError) as exc_info:
                await cf.contacts.create(WS, email_address=f"drop{n}@x.com")
            assert exc_info.value.__cause__ is not None
            causes.append(type(exc_info.value.__cause__))
    assert set(causes) == {httpx.RemoteProtocolError, httpx.ReadError}
    applied = len(fake.store("contacts"))
    assert applied == causes.count(httpx.ReadError)  # the server did it, the client never heard
    assert 0 < applied < 20


async def test_rate_limit(fake: FakeClickFunnels) -> None:
    fake.faults(rate_limit=5)
    async with fake.client(max_retries=0) as cf:
        for _ in range(5):
            await cf.teams.list().to_list()
        with pytest.raises(RateLimitError, match="Too many requests"):
            await cf.teams.list().to_list()
    await anyio.sleep(1.05)
    async with fake.client(max_retries=0) as cf:
        await cf.teams.list().to_list()  # the window slid


async def test_latency(fake: FakeClickFunnels) -> None:
    fake.faults(latency=0.05, jitter=0.01)
    async with fake.client() as cf:
        started = time.perf_counter()
        await cf.teams.list().to_list()
        assert time.perf_counter() - started >= 0.039


async def test_seed_is_deterministic() -> None:
    def snapshot(seed: int) -> list[Any]:
        fake = FakeClickFunnels(seed=seed)
        assert fake.seed(contacts=30, tags=3, products=2, orders=5, courses=1, forms=1) == WS
        return [
            fake.records(ns)
            for ns in (
                "contacts",
                "contacts.tags",
                "products",
                "orders",
                "courses.sections",
                "forms.submissions",
            )
        ]

    assert snapshot(3) == snapshot(3)
    assert snapshot(3) != snapshot(4)


# ---------------------------------------------------------------------------------------------- OAuth


async def test_oauth_authorize_and_token(fake: FakeClickFunnels) -> None:
    from clickfunnels_async.oauth import OAuthClient, OAuthError

    strict = FakeClickFunnels(tokens=["only-this"])
    http = httpx.AsyncClient(transport=strict.transport())
    client = OAuthClient(
        "app-id",
        "app-secret",
        redirect_uri="https://app.example.com/callback",
        accounts_url=strict.base_url,
        http_client=http,
    )
    request = client.authorization_url(state="s-1")
    redirect = await http.get(request.url, headers={"User-Agent": "browser"})
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    params = parse_qs(location.query)
    assert location.netloc == "app.example.com" and params["state"] == ["s-1"]
    with pytest.raises(OAuthError):
        await client.exchange_code(params["code"][0], code_verifier="wrong-verifier" * 4)
    redirect = await http.get(request.url)
    code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]
    token = await client.exchange_code(
        code, code_verifier=request.code_verifier, state="s-1", expected_state="s-1"
    )
    assert token.workspace_id == WS and token.team_id == 1 and token.subdomain == "acme"
    async with strict.client(api_token=token.access_token, max_retries=0) as cf:
        assert [t.id for t in await cf.teams.list().to_list()] == [1]
    await http.aclose()
    await strict.aclose()


# ---------------------------------------------------------------------------------------------- plugin


@pytest.mark.clickfunnels_fake(seed=11)
async def test_pytest_fixture(clickfunnels_fake: FakeClickFunnels) -> None:
    assert clickfunnels_fake._seed_value == 11
    async with clickfunnels_fake.client() as cf:
        assert (await cf.workspaces.get(WS)).name == "Acme"


@pytest.mark.anyio
async def test_without_an_http_client_deliveries_stay_on_this_machine() -> None:
    async with FakeClickFunnels() as fake, fake.client() as cf:
        await cf.webhooks.outgoing.endpoints.create(
            WS, name="local", url="https://hooks.example.com/cf", event_type_ids=["contact.created"]
        )
        await cf.contacts.create(WS, email_address="local@x.com")
        deliveries = await fake.drain_webhooks()
    assert len(deliveries) == 1
    assert deliveries[0].status_code is None
    assert "only to 127.0.0.1" in (deliveries[0].error or "")


# ---------------------------------------------------------------------------------------------- fast paths


@pytest.mark.parametrize(
    ("status", "headers", "content"),
    [
        (201, [("content-type", "application/json; charset=utf-8")], b'{"id": 1}'),
        (
            200,
            [
                ("Pagination-Next", "20"),
                ("Link", '<https://x.test/a?after=20>; rel="next"'),
                ("content-type", "application/json; charset=utf-8"),
            ],
            b"[]",
        ),
        (204, [], b""),
        (502, [("content-type", "text/html; charset=utf-8")], b"<html>502</html>\r\n"),
        (200, [("Content-Length", "2"), ("content-type", "application/json")], b"{}"),
    ],
)
async def test_loaded_response_is_what_httpx_builds(
    status: int, headers: list[tuple[str, str]], content: bytes
) -> None:
    from clickfunnels_async.testing._app import loaded_response

    request = httpx.Request("GET", "https://fake.myclickfunnels.test/api/v2/teams")
    fast = loaded_response(status, headers, content, request)
    slow = httpx.Response(status, headers=headers, content=content, request=request)
    assert fast.headers.raw == slow.headers.raw
    for response in (fast, slow):
        assert response.status_code == status
        assert response.content == content
        assert response.is_closed and response.is_stream_consumed
        assert response.request is request
    assert fast.text == slow.text
    assert [part async for part in fast.aiter_bytes()] == [
        part async for part in slow.aiter_bytes()
    ]
    assert await fast.aread() == content


async def test_compiled_object_shape() -> None:
    from clickfunnels_async.testing._schema import OMIT, SpecIndex

    spec = SpecIndex({})
    schema = {
        "type": "object",
        "required": ["id", "name", "count"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "meta": {"type": "object", "additionalProperties": True},
        },
    }
    shape = spec.compile(schema)
    # Lossless coercion, realistic example values for required fields, null for nullable ones, unshowable values dropped,
    # private and unknown keys left out, bool never passing as an integer.
    assert shape(
        {
            "id": 7,
            "count": "12",
            "tags": ["x", 3],
            "kind": "z",
            "meta": {"a": 1, "_b": 2},
            "_private": 1,
            "extra": 5,
        }
    ) == {
        "id": "7",
        "name": "Name 1",
        "count": 12,
        "note": None,
        "tags": ["x", "3"],
        "meta": {"a": 1},
    }
    assert shape({"id": "p", "name": "n", "count": True, "kind": "a", "note": "hi"}) == {
        "id": "p",
        "name": "n",
        "count": 1,
        "note": "hi",
        "kind": "a",
    }
    assert shape(None) is OMIT and shape("not an object") is OMIT
    nullable = spec.compile({**schema, "type": ["object", "null"]})
    assert nullable(None) is None and nullable(3) is None


async def test_in_process_latency_beyond_the_read_timeout_times_out() -> None:
    from clickfunnels_async import APITimeoutError

    async with FakeClickFunnels(seed=3, latency=5.0) as fake, fake.client(max_retries=0) as cf:
        started = time.perf_counter()
        with anyio.fail_after(5), pytest.raises(APITimeoutError):
            await cf.with_options(timeout=0.1).teams.list().to_list()
        assert 0.09 <= time.perf_counter() - started < 1.0
        assert fake.request_count == 1

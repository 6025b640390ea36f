"""The generated layer as users meet it: wire format through the SDK, the model surface, the banner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from _records import record

import clickfunnels_async.models as models
from clickfunnels_async import ClickFunnels, Filter
from clickfunnels_async._generated.operation_table import OPERATIONS

BASE = "https://acme.myclickfunnels.com"
PKG = Path(__file__).resolve().parents[1] / "clickfunnels_async"


class Recorder:
    """Answers every request with `status` and, per call, the next of `bodies` (complete records)."""

    def __init__(self, status: int = 200, *bodies: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.bodies = status, list(bodies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status == 204:
            return httpx.Response(204)
        body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        return httpx.Response(self.status, json=body)


def _client(recorder: Recorder) -> ClickFunnels:
    return ClickFunnels(
        "tok_wire_123456", subdomain="acme", transport=httpx.MockTransport(recorder)
    )


@pytest.mark.anyio
async def test_filter_renders_as_bracketed_keys() -> None:
    rec = Recorder(200, [])
    async with _client(rec) as cf:
        await cf.contacts.list(
            42, filter=Filter(email_address=["a@x.com", "b@x.com"], id=5)
        ).to_list()
        await cf.contacts.list(42, filter={"email_address": "a@x.com", "is_active": True}).to_list()
    # exactly as httpx percent-encodes brackets, '@' and ','
    assert (
        rec.requests[0].url.query
        == b"filter%5Bemail_address%5D=a%40x.com%2Cb%40x.com&filter%5Bid%5D=5"
    )
    assert (
        rec.requests[1].url.query
        == b"filter%5Bemail_address%5D=a%40x.com&filter%5Bis_active%5D=true"
    )


@pytest.mark.anyio
async def test_create_body_is_wrapped_under_its_key() -> None:
    contact = record("Contact", id=1)
    rec = Recorder(
        201, contact, contact, record("CoursesEnrollment", id=1), record("ContactsFilterGenerated")
    )
    async with _client(rec) as cf:
        await cf.contacts.create(42, email_address="a@x.com", first_name="Ann")
        await cf.contacts.create(
            42, values=models.ContactCreate(email_address="a@x.com", first_name="Ann")
        )
        await cf.courses.enrollments.create(7, contact_id=9)
        await cf.contacts.filters.generate(42, text="bought twice")  # a flat body: no wrapper
    bodies = [json.loads(r.content) for r in rec.requests]
    assert bodies[0] == bodies[1] == {"contact": {"email_address": "a@x.com", "first_name": "Ann"}}
    assert bodies[2] == {"courses_enrollment": {"contact_id": 9}}
    assert bodies[3] == {"text": "bought twice"}
    assert rec.requests[2].url.path == "/api/v2/courses/7/enrollments"


@pytest.mark.anyio
async def test_delete_expects_204_without_body() -> None:
    rec = Recorder(204)
    async with _client(rec) as cf:
        assert await cf.contacts.delete("abc") is None
    (request,) = rec.requests
    assert (request.method, request.url.path, request.content) == (
        "DELETE",
        "/api/v2/contacts/abc",
        b"",
    )


@pytest.mark.anyio
async def test_a_wrapper_or_a_foreign_model_as_values_is_a_type_error_saying_what_to_pass() -> None:
    rec = Recorder(201, {})
    async with _client(rec) as cf:
        with pytest.raises(
            TypeError, match=r"values= takes a ContactCreate or a dict of its fields, not a Contact"
        ):
            await cf.contacts.create(42, values=models.Contact.from_dict(record("Contact", id=1)))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"filter= takes a Filter or a dict"):
            await cf.contacts.list(42, filter=["email_address"]).to_list()  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"missing the required body field\(s\) title"):
            await cf.courses.create(1, values={"description": "no title"})
    assert rec.requests == []


def test_models_export_resource_and_body_models_only() -> None:
    names = set(models.__all__)
    assert {"Contact", "ContactCreate", "ContactUpdate", "Order", "UNSET", "Unset"} <= names
    traps = sorted(
        n
        for n in names
        if n.endswith("Request") and n[:-7].endswith(("Create", "Update", "Upsert"))
    )
    assert not traps, traps
    wrappers = {
        "ContactCreateRequest",
        "ContactsFilter",
        "OrdersInvoicesFilter",
        "CoursesEnrollmentCreateRequest",
    }
    assert not names & wrappers
    with pytest.raises(AttributeError):
        models.ContactCreateRequest  # noqa: B018
    # Every body and response model of the table can be reached by its public name.
    for op in OPERATIONS.values():
        for ref in (op.body_model, op.response_model):
            if ref:
                assert ref.split(":")[1] in names, (op.id, ref)


def test_no_endpoint_modules_and_every_generated_file_carries_the_banner() -> None:
    generated = PKG / "_generated"
    assert not (generated / "api").exists()
    assert not (generated / "client.py").exists()
    files = list(generated.rglob("*.py"))
    missing = [str(p) for p in files if not p.read_text().startswith("# AUTOGENERATED")]
    assert not missing, missing[:5]
    outside = [p.name for p in PKG.glob("*.py") if p.read_text().startswith("# AUTOGENERATED")]
    assert not outside


def test_unknown_enum_values_are_kept() -> None:
    fulfillment = models.Fulfillment.from_dict(
        record("Fulfillment", id=1, status="brand-new-state")
    )
    assert isinstance(fulfillment.status, models.FulfillmentStatus)
    assert fulfillment.status == "brand-new-state"
    assert (
        models.Fulfillment.from_dict(record("Fulfillment", id=1, status="fulfilled")).status
        is models.FulfillmentStatus.FULFILLED
    )


def test_unknown_fields_are_kept() -> None:
    contact = models.Contact.from_dict(record("Contact", id=1, brand_new_field={"x": 1}))
    assert contact.additional_properties == {"brand_new_field": {"x": 1}}
    assert contact.to_dict()["brand_new_field"] == {"x": 1}


def test_method_docstrings_carry_the_spec() -> None:
    doc = ClickFunnels("tok_doc_1234567", subdomain="acme").contacts.list.__doc__ or ""
    assert doc.startswith("List contacts")
    assert "(operation id `listContacts`)" in doc
    assert "sort_order: Direction of the listing" in doc
    assert "email_address, id, is_active, tag_ids" in doc

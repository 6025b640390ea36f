"""Explicit nulls in request bodies and plain types on records, as a user meets them through the client."""

from __future__ import annotations

import copy
import inspect
import pickle
import sys
from typing import Any

import httpx
import pytest
from _records import contact_json

from clickfunnels_async import ClickFunnels
from clickfunnels_async.models import UNSET, Contact, ContactUpdate, OrderCreateLineItem


def _client(
    sent: list[httpx.Request], answer: Any = None
) -> tuple[httpx.AsyncClient, ClickFunnels]:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if callable(answer):
            return answer(request)
        return httpx.Response(200, json=answer if answer is not None else contact_json(id=1))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return http, ClickFunnels("tok_nulls_123456", subdomain="acme", http_client=http)


# ------------------------------------------------------------------ point 1: None is null, omitted is omitted


@pytest.mark.anyio
async def test_none_keyword_is_sent_as_null_and_omitted_keywords_are_not_sent() -> None:
    sent: list[httpx.Request] = []
    http, cf = _client(sent)
    async with http, cf:
        await cf.contacts.update(1, last_name=None)
        await cf.contacts.update(1, first_name="Ann")
        await cf.contacts.update(1, values={"last_name": None, "first_name": "Ann"})
        await cf.contacts.update(1, values=ContactUpdate(last_name=None))
    assert [r.content for r in sent] == [
        b'{"contact":{"last_name":null}}',
        b'{"contact":{"first_name":"Ann"}}',
        b'{"contact":{"last_name":null,"first_name":"Ann"}}',
        b'{"contact":{"last_name":null}}',
    ]


@pytest.mark.anyio
async def test_none_for_a_field_that_cannot_be_null_is_refused_before_sending() -> None:
    sent: list[httpx.Request] = []
    http, cf = _client(sent)
    async with http, cf:
        for call in (
            lambda: cf.contacts.update(1, tag_ids=None),  # type: ignore[arg-type]
            lambda: cf.contacts.update(1, values={"tag_ids": None}),
            lambda: cf.contacts.update(1, values=ContactUpdate(tag_ids=None)),  # type: ignore[arg-type]
        ):
            with pytest.raises(TypeError) as info:
                await call()
            assert str(info.value) == (
                "contacts.update(): tag_ids cannot be null: the API does not accept null for it "
                "(leave it out to keep the current value)"
            )
    assert sent == []


@pytest.mark.anyio
async def test_nested_objects_and_arrays_follow_the_same_rule() -> None:
    sent: list[httpx.Request] = []
    http, cf = _client(sent, answer=lambda r: httpx.Response(200, json={}))
    async with http, cf:
        # address_two may be null, city may not
        await cf.emails.settings.update(42, address={"address_two": None, "city": "Oslo"})
        with pytest.raises(
            TypeError, match=r"^emails\.settings\.update\(\): address\.city cannot be null"
        ):
            await cf.emails.settings.update(42, address={"city": None})
        line = {"products_price_id": 1, "variant_id": 2, "quantity": None}
        for item in (line, OrderCreateLineItem(products_price_id=1, variant_id=2, quantity=None)):  # type: ignore[arg-type]
            with pytest.raises(
                TypeError,
                match=r"^orders\.create\(\): line_items_attributes\[1\]\.quantity cannot be null",
            ):
                await cf.orders.create(
                    42,
                    order_type="one-time",
                    live_mode=False,
                    line_items_attributes=[{**line, "quantity": 1}, item],  # type: ignore[list-item]
                )
    assert [r.content for r in sent] == [
        b'{"marketing_setting":{"address":{"address_two":null,"city":"Oslo"}}}'
    ]


def test_a_body_model_keeps_not_sent_apart_from_null() -> None:
    update = ContactUpdate(last_name=None, first_name="Ann")
    assert update.to_dict() == {"first_name": "Ann", "last_name": None}
    again = ContactUpdate.from_dict(update.to_dict())
    assert again.last_name is None and again.first_name == "Ann" and again.email_address is UNSET
    assert again == update
    assert repr(update) == "ContactUpdate(first_name='Ann', last_name=None)"


# ------------------------------------------------------------------ point 2: records read None, know what was sent


@pytest.mark.anyio
async def test_a_record_missing_fields_reads_none_and_knows_what_was_sent() -> None:
    answer = {"id": 7, "email_address": "ann@x.com", "first_name": None, "nickname": "annie"}
    sent: list[httpx.Request] = []
    http, cf = _client(sent, answer=answer)
    async with http, cf:
        contact = await cf.contacts.get(7)
    assert isinstance(contact, Contact)
    assert contact.id == 7 and contact.email_address == "ann@x.com"
    assert contact.last_name is None  # left out
    assert contact.first_name is None  # sent as null
    assert contact.email_engagement is None  # optional, left out
    assert contact.fields_set == {"id", "email_address", "first_name"}
    assert contact.additional_properties == {"nickname": "annie"}
    assert repr(contact) == (
        "Contact(email_address='ann@x.com', first_name=None, id=7, "
        "additional_properties={'nickname': 'annie'})"
    )
    assert contact.to_dict() == answer  # nothing lost, nothing invented
    # a field the spec says is always there, missing from this answer: only reading it fails, and says why
    with pytest.raises(AttributeError, match=r"Contact\.public_id is not set: .*fields_set"):
        _ = contact.public_id
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = contact.nope  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(contact)) == contact
    assert copy.deepcopy(contact).fields_set == contact.fields_set


@pytest.mark.anyio
async def test_a_page_with_an_incomplete_record_is_still_read() -> None:
    full = contact_json(id=1, email_address="a@x.com")
    sent: list[httpx.Request] = []
    http, cf = _client(sent, answer=[full, {"id": 2}])
    async with http, cf:
        contacts = await cf.contacts.list(42).to_list()
    assert [c.id for c in contacts] == [1, 2]
    assert contacts[0].fields_set == set(full) == set(contacts[0].to_dict())
    assert contacts[1].fields_set == {"id"} and repr(contacts[1]) == "Contact(id=2)"


def test_a_record_built_in_code_needs_only_the_fields_that_are_always_present() -> None:
    base = Contact.from_dict(contact_json(id=3))
    built = Contact(
        created_at=base.created_at,
        custom_attributes=base.custom_attributes,
        id=3,
        is_active=True,
        public_id="p",
        updated_at=base.updated_at,
        uuid="u",
        visits=base.visits,
        workspace_id=42,
        first_name="Ann",
    )
    assert built.last_name is None and "last_name" not in built.to_dict()
    assert {"id", "first_name"} <= built.fields_set and "last_name" not in built.fields_set
    built.last_name = "Lee"  # set after the fact: serialised like any value
    assert built.to_dict()["last_name"] == "Lee"


def test_every_body_is_a_body_model_and_every_answer_a_record() -> None:
    # The role comes from the spec: what a request body reaches keeps UNSET, what the API returns does not.
    from clickfunnels_async._core import _model
    from clickfunnels_async._generated.operation_table import OPERATIONS
    from clickfunnels_async._generated.types import _Body, _Record

    bodies = {op.body_model for op in OPERATIONS.values() if op.body_model}
    answers = {op.response_model for op in OPERATIONS.values() if op.response_model}
    assert len(bodies) > 100 and len(answers) > 100
    assert all(issubclass(_model(ref), _Body) for ref in bodies)
    # nested bodies too, inline objects included (`step_type_settings: {type: object}`)
    nested = [
        getattr(sys.modules[cls.__module__], name)
        for cls in map(_model, bodies)
        for _, name in cls._cf_children
    ]
    assert len(nested) > 20 and all(issubclass(child, _Body) for child in nested)
    assert all(issubclass(_model(ref), _Record) for ref in answers)
    signature = inspect.signature(Contact)
    assert signature.parameters["email_engagement"].default is None
    assert "Unset" not in str(signature)
    assert "Unset" in str(inspect.signature(ContactUpdate))


# ------------------------------------------------------------------ nested values are built when first read


def _emulator_contacts() -> list[dict[str, Any]]:
    from clickfunnels_async.testing import FakeClickFunnels

    fake = FakeClickFunnels(seed=3)
    fake.seed(contacts=3, tags=2)
    return fake.records("contacts")


def _read_everything(record: Any) -> None:
    for name in type(record)._cf_fields:
        value = getattr(record, name, None)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "_cf_fields"):
                _read_everything(item)


@pytest.mark.anyio
async def test_nested_records_dates_and_lists_read_as_the_server_sent_them() -> None:
    import datetime

    from clickfunnels_async.models import ContactTag, Visit, Visits

    page = _emulator_contacts()
    page[0]["tags"] = [{"id": 5, "name": "vip", "color": "red"}]
    sent: list[httpx.Request] = []
    http, cf = _client(sent, answer=page)
    async with http, cf:
        contacts = await cf.contacts.list(42).to_list()
    first, wire = contacts[0], page[0]
    assert isinstance(first.visits, Visits) and isinstance(first.visits.first_visit, Visit)
    assert first.visits.first_visit.browser == wire["visits"]["first_visit"]["browser"]
    assert first.visits is first.visits  # built once, then kept
    assert first.created_at == datetime.datetime.fromisoformat(wire["created_at"])
    assert isinstance(first.tags, list) and isinstance(first.tags[0], ContactTag)
    assert (first.tags[0].id, first.tags[0].name) == (5, "vip")
    assert first.custom_attributes.additional_properties == wire["custom_attributes"]
    # Reading changes nothing a user can compare: to_dict, equality, fields_set, repr.
    again = Contact.from_dict(wire)
    before = (again.to_dict(), again.fields_set, repr(again))
    _read_everything(again)
    assert (again.to_dict(), again.fields_set, repr(again)) == before
    assert again == Contact.from_dict(wire) == first
    assert set(again.to_dict()) == set(wire)
    assert set(again.to_dict()["visits"]["first_visit"]) == set(wire["visits"]["first_visit"])


def test_copies_of_an_unread_record_carry_every_value() -> None:
    import attrs

    wire = _emulator_contacts()[1]
    read = Contact.from_dict(wire)
    _read_everything(read)
    for copy_of in (lambda c: pickle.loads(pickle.dumps(c)), copy.deepcopy, copy.copy):
        duplicate = copy_of(Contact.from_dict(wire))
        assert duplicate.visits.last_visit.ip == wire["visits"]["last_visit"]["ip"]
        assert duplicate.to_dict() == read.to_dict() and duplicate.fields_set == read.fields_set
    changed = attrs.evolve(Contact.from_dict(wire), first_name="Zed")
    assert changed.first_name == "Zed" and changed.id == read.id
    assert changed.visits == read.visits and changed.updated_at == read.updated_at


@pytest.mark.anyio
async def test_a_value_that_does_not_parse_fails_only_where_it_is_read() -> None:
    page = _emulator_contacts()
    page[0] = {**page[0], "created_at": "last tuesday", "visits": "none", "tags": "vip"}
    sent: list[httpx.Request] = []
    http, cf = _client(sent, answer=page)
    async with http, cf:
        contacts = await cf.contacts.list(42).to_list()
    broken = contacts[0]
    # the rest of the record, and of the page, is read as usual
    assert broken.id == page[0]["id"] and contacts[1].visits.first_visit is not None
    with pytest.raises(
        ValueError, match=r"^Contact\.created_at: the server's answer holds a value"
    ):
        _ = broken.created_at
    with pytest.raises(ValueError, match=r"^Contact\.visits: "):
        _ = broken.visits
    assert broken.tags == "vip"  # a field that may be null keeps what it cannot parse (as before)
    assert repr(broken).startswith("Contact.from_dict({") and "last tuesday" in repr(broken)
    copied = pickle.loads(pickle.dumps(broken))  # copies keep the value as sent
    assert copied.id == broken.id and copied.tags == "vip"
    with pytest.raises(ValueError, match=r"^Contact\.created_at: "):
        _ = copied.created_at

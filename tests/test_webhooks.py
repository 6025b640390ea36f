"""Webhook signature checking, envelope parsing and the event type catalog."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import types
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers as StarletteHeaders

from clickfunnels_async.webhooks import (
    ALL_EVENT_TYPES,
    EventType,
    InMemoryEventStore,
    WebhookEvent,
    WebhookPayloadError,
    WebhookVerificationError,
    parse_event,
    sign_webhook,
    verify_webhook,
)
from clickfunnels_async.webhooks._events import _subject_model

SECRET = "whsec_test_0123456789abcdef"
NOW = 1_760_000_000

# A contact.created delivery shaped like the documented V2 envelope and Contact resource.
CONTACT_CREATED: dict[str, Any] = {
    "event_id": "b7f3c2de-52c4-4e0e-9b1e-6a4c2b0f3d11",
    "event_type": "contact.created",
    "subject_id": 236296209,
    "subject_type": "Contact",
    "created_at": "2024-04-04T19:16:31.000Z",
    "workspace_id": 32,
    "api_version": 2,
    "page_id": None,
    "funnel_id": 4411,
    "data": {
        "id": 236296209,
        "public_id": "fdPJAZ",
        "workspace_id": 32,
        "anonymous": None,
        "email_address": "joe.doe@example.com",
        "first_name": "Joe",
        "last_name": "Doe",
        "phone_number": "1-241-822-5555",
        "time_zone": "Pacific Time (US & Canada)",
        "uuid": "26281ba2-7d3b-524d-8ea3-b01ff8414120",
        "unsubscribed_at": None,
        "created_at": "2024-04-04T19:16:30.871Z",
        "updated_at": "2024-04-04T19:16:30.872Z",
        "tags": [{"id": 20, "public_id": "bRkQrc", "name": "Lead", "color": "#59b0a8"}],
    },
}
BODY = json.dumps(CONTACT_CREATED).encode()


def reference_headers(body: bytes, secret: str, timestamp: int | str) -> dict[str, str]:
    """Headers computed straight from the documented scheme, independent of the SDK."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Webhook-ClickFunnels-Signature": digest,
        "X-Webhook-ClickFunnels-Timestamp": str(timestamp),
    }


def reason_of(excinfo: pytest.ExceptionInfo[WebhookVerificationError]) -> str:
    return excinfo.value.reason


# --- signature -------------------------------------------------------------------------------


def test_valid_delivery_is_returned_parsed() -> None:
    event = verify_webhook(BODY, reference_headers(BODY, SECRET, NOW), SECRET, now=NOW)
    assert event.event_type == "contact.created"
    assert event.event_id == CONTACT_CREATED["event_id"]


def test_known_vector() -> None:
    # Fixed inputs -> fixed digest, so a change in the message layout cannot go unnoticed.
    body = b'{"event_type":"contact.created","event_id":"e-1"}'
    digest = hmac.new(b"s3cr3t-key", b"1700000000." + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Webhook-ClickFunnels-Signature": digest,
        "X-Webhook-ClickFunnels-Timestamp": "1700000000",
    }
    assert verify_webhook(body, headers, "s3cr3t-key", now=1_700_000_000).event_id == "e-1"


def test_sign_webhook_matches_reference() -> None:
    assert sign_webhook(BODY, SECRET, NOW) == reference_headers(BODY, SECRET, NOW)


def test_sign_webhook_defaults_to_current_time() -> None:
    headers = sign_webhook(BODY, SECRET)
    verify_webhook(BODY, headers, SECRET)  # within tolerance of the real clock


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda h: {k.lower(): v for k, v in h.items()},
        lambda h: {k.upper(): v for k, v in h.items()},
        httpx.Headers,
        lambda h: StarletteHeaders(headers=h),
    ],
    ids=["lower-dict", "upper-dict", "httpx", "starlette"],
)
def test_header_lookup_is_case_insensitive(make_headers: Any) -> None:
    headers = make_headers(reference_headers(BODY, SECRET, NOW))
    assert verify_webhook(BODY, headers, SECRET, now=NOW).event_type == "contact.created"


def test_uppercase_hex_signature_accepted() -> None:
    headers = reference_headers(BODY, SECRET, NOW)
    headers["X-Webhook-ClickFunnels-Signature"] = headers[
        "X-Webhook-ClickFunnels-Signature"
    ].upper()
    verify_webhook(BODY, headers, SECRET, now=NOW)


def test_bytes_secret_equivalent_to_str() -> None:
    verify_webhook(BODY, reference_headers(BODY, SECRET, NOW), SECRET.encode(), now=NOW)


def test_tampered_body_rejected() -> None:
    headers = reference_headers(BODY, SECRET, NOW)
    tampered = BODY.replace(b"joe.doe@example.com", b"evil@example.com")
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(tampered, headers, SECRET, now=NOW)
    assert reason_of(excinfo) == "signature_mismatch"


def test_reserialised_body_rejected() -> None:
    # The classic mistake: verifying json.dumps(parsed) instead of the bytes received.
    headers = reference_headers(BODY, SECRET, NOW)
    reserialised = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    with pytest.raises(WebhookVerificationError):
        verify_webhook(reserialised, headers, SECRET, now=NOW)


def test_wrong_secret_rejected_without_leaking() -> None:
    headers = reference_headers(BODY, SECRET, NOW)
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(BODY, headers, "another-secret", now=NOW)
    assert reason_of(excinfo) == "signature_mismatch"
    expected = hmac.new(b"another-secret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    text = f"{excinfo.value!s} {excinfo.value!r}"
    assert "another-secret" not in text
    assert expected not in text


def test_timestamp_swapped_after_signing_rejected() -> None:
    # The timestamp is part of the signed message: moving it forward breaks the signature.
    headers = reference_headers(BODY, SECRET, NOW - 3600)
    headers["X-Webhook-ClickFunnels-Timestamp"] = str(NOW)
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(BODY, headers, SECRET, now=NOW)
    assert reason_of(excinfo) == "signature_mismatch"


@pytest.mark.parametrize(
    ("offset", "ok", "reason"),
    [
        (0, True, None),
        (600, True, None),  # exactly at the tolerance: still accepted
        (601, False, "timestamp_expired"),
        (-600, True, None),
        (-601, False, "timestamp_in_future"),
    ],
)
def test_tolerance_edges(offset: int, ok: bool, reason: str | None) -> None:
    stamp = NOW - offset  # positive offset = signed in the past
    headers = reference_headers(BODY, SECRET, stamp)
    if ok:
        verify_webhook(BODY, headers, SECRET, now=NOW)
    else:
        with pytest.raises(WebhookVerificationError) as excinfo:
            verify_webhook(BODY, headers, SECRET, now=NOW)
        assert reason_of(excinfo) == reason


def test_custom_tolerance() -> None:
    headers = reference_headers(BODY, SECRET, NOW - 60)
    verify_webhook(BODY, headers, SECRET, now=NOW, tolerance=60)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, SECRET, now=NOW, tolerance=59)


def test_replay_of_old_delivery_rejected() -> None:
    # A genuine delivery captured yesterday and sent again today.
    captured = reference_headers(BODY, SECRET, NOW - 86_400)
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(BODY, captured, SECRET, now=NOW)
    assert reason_of(excinfo) == "timestamp_expired"
    assert "expired" not in SECRET  # sanity: the reason is not derived from the secret


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        ("X-Webhook-ClickFunnels-Signature", "missing_signature"),
        ("X-Webhook-ClickFunnels-Timestamp", "missing_timestamp"),
    ],
)
def test_missing_header(drop: str, reason: str) -> None:
    headers = reference_headers(BODY, SECRET, NOW)
    del headers[drop]
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(BODY, headers, SECRET, now=NOW)
    assert reason_of(excinfo) == reason
    assert drop in str(excinfo.value)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("X-Webhook-ClickFunnels-Timestamp", "yesterday", "malformed_timestamp"),
        ("X-Webhook-ClickFunnels-Timestamp", "1760000000.5", "malformed_timestamp"),
        ("X-Webhook-ClickFunnels-Timestamp", "-1760000000", "malformed_timestamp"),
        ("X-Webhook-ClickFunnels-Timestamp", "", "malformed_timestamp"),
        ("X-Webhook-ClickFunnels-Timestamp", "9" * 40, "malformed_timestamp"),
        ("X-Webhook-ClickFunnels-Signature", "not-hex", "malformed_signature"),
        ("X-Webhook-ClickFunnels-Signature", "ab" * 31, "malformed_signature"),
        ("X-Webhook-ClickFunnels-Signature", "sha256=" + "ab" * 32, "malformed_signature"),
        ("X-Webhook-ClickFunnels-Signature", "zz" * 32, "malformed_signature"),
    ],
)
def test_garbled_headers(header: str, value: str, reason: str) -> None:
    headers = reference_headers(BODY, SECRET, NOW)
    headers[header] = value
    with pytest.raises(WebhookVerificationError) as excinfo:
        verify_webhook(BODY, headers, SECRET, now=NOW)
    assert reason_of(excinfo) == reason


def test_empty_secret_refused() -> None:
    # HMAC with an empty key is computable by anyone: never treat it as configuration.
    with pytest.raises(ValueError, match="empty"):
        verify_webhook(BODY, reference_headers(BODY, "", NOW), "", now=NOW)


def test_text_body_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        verify_webhook(BODY.decode(), reference_headers(BODY, SECRET, NOW), SECRET, now=NOW)  # type: ignore[arg-type]


def test_authentic_but_malformed_body_is_payload_error() -> None:
    body = b"[1, 2, 3]"
    with pytest.raises(WebhookPayloadError):
        verify_webhook(body, reference_headers(body, SECRET, NOW), SECRET, now=NOW)


# --- parsing ---------------------------------------------------------------------------------


def test_parse_contact_created_envelope() -> None:
    event = parse_event(BODY)
    assert isinstance(event, WebhookEvent)
    assert event.event_id == "b7f3c2de-52c4-4e0e-9b1e-6a4c2b0f3d11"
    assert event.event_type == EventType.CONTACT_CREATED
    assert event.subject_id == 236296209
    assert event.subject_type == "Contact"
    assert event.created_at == datetime(2024, 4, 4, 19, 16, 31, tzinfo=UTC)
    assert event.workspace_id == 32
    assert event.api_version == 2
    assert event.page_id is None
    assert event.funnel_id == 4411
    assert event.raw == CONTACT_CREATED
    data = event.data
    email = data["email_address"] if isinstance(data, dict) else data.email_address
    assert email == "joe.doe@example.com"


def test_parse_accepts_text_and_dict() -> None:
    assert parse_event(BODY.decode()).event_id == parse_event(CONTACT_CREATED).event_id


def test_parse_event_resource_shape() -> None:
    # Older guide examples show the stored Event resource: uuid + event_type_id, page/funnel objects.
    event = parse_event(
        {
            "id": None,
            "public_id": "YVIOwX",
            "workspace_id": 32,
            "uuid": "94856650751bb2c141fc38436fd699cb",
            "event_type_id": "contact.identified",
            "subject_id": 100,
            "subject_type": "Contact",
            "data": {"id": 12},
            "page": {"id": 7},
            "created_at": "2023-12-31T18:57:41.872Z",
        }
    )
    assert event.event_type == "contact.identified"
    assert event.event_id == "94856650751bb2c141fc38436fd699cb"
    assert event.page_id == 7


def test_repr_leaves_out_raw() -> None:
    assert "raw=" not in repr(parse_event(BODY))


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"[]", b'"contact.created"', b"null", b"{}", b'{"event_type": 5}'],
)
def test_malformed_payloads(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError) as excinfo:
        parse_event(body)
    assert isinstance(excinfo.value, ValueError)


def test_payload_error_does_not_echo_body() -> None:
    with pytest.raises(WebhookPayloadError) as excinfo:
        parse_event(b'{"email_address": "secret-person@example.com", ')
    assert "secret-person" not in str(excinfo.value)


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in for the generated models module (the real one may not exist yet)."""

    class Contact:
        def __init__(self, email_address: str) -> None:
            self.email_address = email_address

        @classmethod
        def from_dict(cls, src: dict[str, Any]) -> Contact:
            return cls(src["email_address"])

    class OrdersInvoice:
        def __init__(self, invoice_id: int) -> None:
            self.invoice_id = invoice_id

        @classmethod
        def from_dict(cls, src: dict[str, Any]) -> OrdersInvoice:
            return cls(src["id"])

    module = types.ModuleType("clickfunnels_async.models")
    module.Contact = Contact  # type: ignore[attr-defined]
    module.OrdersInvoice = OrdersInvoice  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "clickfunnels_async.models", module)
    return module


def test_data_parsed_into_subject_model(fake_models: types.ModuleType) -> None:
    event = parse_event(BODY)
    assert isinstance(event.data, fake_models.Contact)
    assert event.data.email_address == "joe.doe@example.com"
    assert event.raw["data"]["email_address"] == "joe.doe@example.com"


def test_namespaced_subject_type_maps_to_joined_name(fake_models: types.ModuleType) -> None:
    assert _subject_model("Orders::Invoice") == fake_models.OrdersInvoice.from_dict
    event = parse_event(
        {
            "event_id": "1",
            "event_type": "orders/invoice.paid",
            "subject_type": "Orders::Invoice",
            "data": {"id": 55},
        }
    )
    assert event.data.invoice_id == 55


def test_model_failure_keeps_raw_dict(fake_models: types.ModuleType) -> None:
    # Contact.from_dict needs email_address; without it the model raises and the dict is kept.
    event = parse_event(
        {
            "event_id": "1",
            "event_type": "contact.created",
            "subject_type": "Contact",
            "data": {"id": 1},
        }
    )
    assert event.data == {"id": 1}


def test_unknown_subject_keeps_raw_dict(fake_models: types.ModuleType) -> None:
    assert _subject_model("Sales::Opportunity") is None
    assert _subject_model("not a class name!") is None
    event = parse_event(
        {
            "event_id": "1",
            "event_type": "sales/opportunity.created",
            "subject_type": "Sales::Opportunity",
            "data": {"id": 3},
        }
    )
    assert event.data == {"id": 3}


def test_missing_models_module_keeps_raw_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as in a checkout without generated code.
    monkeypatch.setitem(sys.modules, "clickfunnels_async.models", None)
    assert _subject_model("Contact") is None
    assert parse_event(BODY).data == CONTACT_CREATED["data"]


# --- event types -----------------------------------------------------------------------------


def test_catalog_has_83_unique_ids() -> None:
    constants = {k: v for k, v in vars(EventType).items() if k.isupper()}
    assert len(constants) == 83
    assert len(set(constants.values())) == 83
    assert set(constants.values()) == ALL_EVENT_TYPES
    assert isinstance(ALL_EVENT_TYPES, frozenset)


def test_ids_well_formed_and_names_derived_mechanically() -> None:
    shape = re.compile(r"[a-z_\-]+(/[a-z_]+)*(\.[a-z_]+)+")
    for name, value in vars(EventType).items():
        if not name.isupper():
            continue
        assert shape.fullmatch(value), value
        assert name == re.sub(r"[/.\-]", "_", value).upper(), (name, value)


def test_spot_check_irregular_spellings() -> None:
    assert EventType.CONTACT_CREATED == "contact.created"
    assert EventType.ORDERS_INVOICE_PAID == "orders/invoice.paid"
    assert EventType.ONE_TIME_ORDER_COMPLETED == "one-time-order.completed"
    assert EventType.ONE_TIME_ORDER_REFUNDED == "one_time_order.refunded"
    assert EventType.SUBSCRIPTION_LINE_ITEMS_CHANGED == "subscription.line_items.changed"
    assert "renewal-invoice-payment-declined" not in ALL_EVENT_TYPES  # not in the catalog


def test_event_type_is_not_instantiable() -> None:
    with pytest.raises(TypeError):
        EventType()


# --- dedup store -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_store_claims_completes_and_releases() -> None:
    store = InMemoryEventStore()
    assert await store.claim("a") == "new"
    assert await store.claim("a") == "in_flight"  # still being handled: not a duplicate yet
    await store.release("a")  # handling failed: the redelivery is handled
    assert await store.claim("a") == "new"
    await store.complete("a")
    assert await store.claim("a") == "done"


@pytest.mark.anyio
async def test_store_is_bounded() -> None:
    store = InMemoryEventStore(max_size=3)
    for event_id in "abcd":
        await store.claim(event_id)
        await store.complete(event_id)
    assert len(store) == 3
    assert await store.claim("a") == "new"  # the oldest was pushed out
    assert await store.claim("d") == "done"


@pytest.mark.anyio
async def test_store_expires_done_ids_after_ttl_and_in_flight_ones_after_their_lease() -> None:
    clock = [1000.0]
    store = InMemoryEventStore(ttl=60, lease=10, clock=lambda: clock[0])
    await store.claim("a")
    await store.complete("a")
    clock[0] += 59
    assert await store.claim("a") == "done"
    clock[0] += 2
    assert await store.claim("a") == "new"  # expired: handled again (now in flight)
    clock[0] += 9
    assert await store.claim("a") == "in_flight"
    clock[0] += 2
    assert await store.claim("a") == "new"  # the lease ran out: that worker is presumed dead

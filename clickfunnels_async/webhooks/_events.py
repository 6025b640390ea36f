"""The delivery envelope: parsing a webhook body into a typed `WebhookEvent`."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from clickfunnels_async._errors import ClickFunnelsError

__all__ = ["WebhookEvent", "WebhookPayloadError", "parse_event"]


class WebhookPayloadError(ClickFunnelsError, ValueError):
    """The (authentic) body is not a usable webhook envelope: bad JSON, not an object, no event type.

    A `ValueError` too, because it is bad input rather than a failed request.
    """


@attrs.frozen(slots=True, kw_only=True)
class WebhookEvent:
    """One webhook delivery.

    `data` is the subject rendered as in the API. When the SDK has a model for `subject_type`
    (``Contact`` -> ``models.Contact``, ``Orders::Invoice`` -> ``models.OrdersInvoice``) it is that
    model; otherwise, or if the model rejects the payload, it is the plain dict. `raw` is the whole
    decoded envelope, for fields this class does not lift out.
    """

    event_id: str | None
    event_type: str
    subject_id: int | str | None = None
    subject_type: str | None = None
    created_at: datetime | None = None
    workspace_id: int | None = None
    api_version: int | None = None
    page_id: int | None = None
    funnel_id: int | None = None
    data: Any = None
    # Kept out of the repr: it repeats `data`, which holds customer details.
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


def parse_event(body: bytes | str | Mapping[str, Any]) -> WebhookEvent:
    """Parse a delivery body (raw bytes, text, or an already-decoded dict) into a `WebhookEvent`.

    Does *not* check the signature: use `verify_webhook` on untrusted input. Raises
    `WebhookPayloadError` when the body is not a JSON object or has no event type.
    """
    envelope = _decode(body)

    # Two envelope spellings exist: the documented delivery keys (`event_id`, `event_type`) and the
    # stored Event resource shape (`uuid`/`public_id`, `event_type_id`) shown in older guide examples.
    event_type = _first(envelope, "event_type", "event_type_id")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookPayloadError("webhook payload has no 'event_type' string")

    event_id = _first(envelope, "event_id", "uuid", "public_id", "id")
    subject_type = envelope.get("subject_type")
    subject_type = subject_type if isinstance(subject_type, str) else None

    data = envelope.get("data")
    if isinstance(data, dict) and subject_type is not None:
        data = _to_model(subject_type, data)

    return WebhookEvent(
        event_id=None if event_id is None or isinstance(event_id, bool) else str(event_id),
        event_type=event_type,
        subject_id=_id_or_none(envelope.get("subject_id")),
        subject_type=subject_type,
        created_at=_parse_time(envelope.get("created_at")),
        workspace_id=_int_or_none(envelope.get("workspace_id")),
        api_version=_int_or_none(envelope.get("api_version")),
        page_id=_int_or_none(_first(envelope, "page_id") or _nested_id(envelope, "page")),
        funnel_id=_int_or_none(_first(envelope, "funnel_id") or _nested_id(envelope, "funnel")),
        data=data,
        raw=envelope,
    )


def _decode(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return dict(body)
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # The position is useful; the body itself is not repeated (it may hold customer data).
        raise WebhookPayloadError(
            f"webhook payload is not valid JSON ({exc.__class__.__name__} "
            f"at position {getattr(exc, 'pos', getattr(exc, 'start', '?'))})"
        ) from None
    if not isinstance(decoded, dict):
        raise WebhookPayloadError(
            f"webhook payload must be a JSON object, got {type(decoded).__name__}"
        )
    return decoded


def _subject_model(subject_type: str) -> Callable[[dict[str, Any]], Any] | None:
    """The `from_dict` of the public model for a subject type, or None when the SDK has none.

    ``Orders::Invoice`` -> ``clickfunnels_async.models.OrdersInvoice``. Looked up at call time because
    the models module is generated and may be absent in a partial checkout.
    """
    name = subject_type.replace("::", "")
    if not name.isidentifier():
        return None
    try:
        models = importlib.import_module("clickfunnels_async.models")
        model = getattr(models, name, None)
    except Exception:  # a missing or half-generated module must not break webhook handling
        return None
    from_dict = getattr(model, "from_dict", None)
    return from_dict if callable(from_dict) else None


def _to_model(subject_type: str, data: dict[str, Any]) -> Any:
    from_dict = _subject_model(subject_type)
    if from_dict is None:
        return data
    try:
        return from_dict(data)
    except Exception:
        # Payloads run ahead of the spec now and then; a raw dict beats a failed delivery.
        return data


def _first(envelope: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = envelope.get(key)
        if value is not None:
            return value
    return None


def _nested_id(envelope: Mapping[str, Any], key: str) -> Any:
    nested = envelope.get(key)
    return nested.get("id") if isinstance(nested, Mapping) else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def _id_or_none(value: Any) -> int | str | None:
    # Subject ids are numeric in practice, but member routes also accept public ids (strings).
    number = _int_or_none(value)
    if number is not None:
        return number
    return value if isinstance(value, str) and value else None


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None

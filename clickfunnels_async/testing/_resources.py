"""The few facts about resources that the spec cannot say: what the emulator covers, business rules.

Everything here is keyed by namespace (``contacts.tags``), never by path; paths, methods, wrapper keys,
filter keys and response shapes come from the operation table and the bundled spec.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ACTION_EVENTS",
    "EMULATED",
    "EVENT_SUBJECTS",
    "REFERENCES",
    "REQUIRED",
    "STORE_ALIASES",
    "UNIQUE",
    "event_subject",
    "singular",
    "subject_type",
]

# Namespaces served with state; every other operation answers 501.
EMULATED: Final[frozenset[str]] = frozenset(
    {
        "teams",
        "workspaces",
        "users",
        "contacts",
        "contacts.tags",
        "contacts.applied_tags",
        "products",
        "products.variants",
        "products.prices",
        "orders",
        "orders.invoices",
        "fulfillments",
        "fulfillments.locations",
        "courses",
        "courses.enrollments",
        "courses.sections",
        "courses.lessons",
        "forms",
        "forms.submissions",
        "form_submissions",
        "images",
        "webhooks.outgoing.endpoints",
        "webhooks.outgoing.events",
    }
)

# Two namespaces over the same records: the workspace-wide form submission log is the forms' submissions.
STORE_ALIASES: Final[dict[str, str]] = {"form_submissions": "forms.submissions"}

# Fields that must be present and non-empty on create (on top of the spec's own `required`).
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "contacts": ("email_address",),
    "contacts.tags": ("name",),
    "contacts.applied_tags": ("tag_id",),
    "courses.enrollments": ("contact_id",),
    "webhooks.outgoing.endpoints": ("url", "event_type_ids"),
    "products": ("name",),
    "courses": ("title",),
    "forms": ("name",),
}

# Field values unique among the records sharing the same parent (scope = the collection's parent key).
UNIQUE: Final[dict[str, tuple[str, ...]]] = {
    "contacts": ("email_address",),
    "contacts.tags": ("name",),
}

# Body fields that point at another record, which must exist (else 422 "must exist").
REFERENCES: Final[dict[tuple[str, str], str]] = {
    ("contacts.applied_tags", "tag_id"): "contacts.tags",
    ("courses.enrollments", "contact_id"): "contacts",
    ("forms.submissions", "contact_id"): "contacts",
    ("orders", "contact_id"): "contacts",
    ("fulfillments", "contact_id"): "contacts",
    ("fulfillments", "location_id"): "fulfillments.locations",
}

# Webhook event subjects whose spelling is not the namespace's.
EVENT_SUBJECTS: Final[dict[str, str]] = {
    "forms.submissions": "form_submission",
    "form_submissions": "form_submission",
}

# Which event an action fires: verb -> past tense used in the event type id.
ACTION_EVENTS: Final[dict[str, str]] = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "publish": "published",
    "archive": "updated",
    "unarchive": "updated",
    "cancel": "updated",
    "gdpr_destroy": "updated",
}


def singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def event_subject(namespace: str) -> str:
    """``contacts.applied_tags`` -> ``contacts/applied_tag`` (the event type id's subject part)."""
    if namespace in EVENT_SUBJECTS:
        return EVENT_SUBJECTS[namespace]
    parts = namespace.split(".")
    return "/".join([*parts[:-1], singular(parts[-1])])


def _pascal(word: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"_+", word) if p)


def subject_type(namespace: str) -> str:
    """``contacts.applied_tags`` -> ``Contacts::AppliedTag`` (the Rails class name)."""
    parts = namespace.split(".")
    return "::".join([*(_pascal(p) for p in parts[:-1]), _pascal(singular(parts[-1]))])

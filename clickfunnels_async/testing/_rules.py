"""The few facts about resources that the spec cannot say: business rules, each with the source it is from.

Everything here is keyed by namespace (``contacts.tags``), never by path; paths, methods, wrapper keys,
filter keys, required fields, types, enums and response shapes come from the operation table and the bundled
spec. A rule no source documents does not belong here. Sources: ``inventory.md`` is the shared API
inventory (its section), the seeds are `FakeClickFunnels.seed()`'s own data.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ACTION_EVENTS",
    "COMPUTED_VERBS",
    "CONFLICT_VERBS",
    "EVENT_SUBJECTS",
    "PAST_TENSE",
    "REFERENCES",
    "STORE_ALIASES",
    "UNIQUE",
    "UPSERT_KEYS",
    "event_subject",
    "singular",
    "subject_type",
]

# Two namespaces over the same records: the workspace-wide form submission log is the forms' submissions
# (inventory.md, forms: `form_submissions` lists the submissions of every form).
STORE_ALIASES: Final[dict[str, str]] = {"form_submissions": "forms.submissions"}

# Field values unique among the records of one workspace (else 422 "has already been taken").
UNIQUE: Final[dict[str, tuple[str, ...]]] = {
    "contacts": ("email_address",),  # inventory.md, contacts: upsert matches on email_address
    "contacts.tags": ("name",),  # inventory.md, contact tags: "Names unique per workspace"
}

# Upsert operations: the field they match an existing record by (inventory.md, contacts: "Upsert matches
# on `email_address` -> 201 created / 200 updated; empty/null values are ignored").
UPSERT_KEYS: Final[dict[str, str]] = {"contacts": "email_address"}

# Body fields that point at another record, which must exist (else 422 "must exist"; Rails' belongs_to).
# inventory.md lists each as the id of that resource in the body of the create.
REFERENCES: Final[dict[tuple[str, str], str]] = {
    ("contacts.applied_tags", "tag_id"): "contacts.tags",
    ("courses.enrollments", "contact_id"): "contacts",
    ("forms.submissions", "contact_id"): "contacts",
    ("orders", "contact_id"): "contacts",
    ("fulfillments", "contact_id"): "contacts",
    ("fulfillments", "location_id"): "fulfillments.locations",
}

# Actions answered 409 when the record is already in the state they lead to (inventory.md §4: "409 (state
# conflict: already archived/unarchived/cancelled ...)").
CONFLICT_VERBS: Final[frozenset[str]] = frozenset({"archive", "unarchive", "cancel"})

# The state an action leaves a record in, by the words the spec's fields use: a boolean property named
# after it (`pinned`), an enum value of `status`/`state` (`approved`), a timestamp `<word>_at`.
PAST_TENSE: Final[dict[str, tuple[str, ...]]] = {
    "archive": ("archived",),
    "unarchive": ("archived",),
    "cancel": ("cancelled", "canceled"),
    "publish": ("published",),
    "approve": ("approved",),
    "decline": ("declined", "rejected"),
    "abandon": ("abandoned",),
    "verify": ("verified",),
    "refund": ("refunded",),
    "enable": ("enabled", "active"),
    "disable": ("disabled", "inactive"),
    "pin": ("pinned",),
    "unpin": ("pinned",),
    "set_default": ("default",),
    "dismiss_reports": ("reports_dismissed",),
}

# POSTs that compute an answer without creating anything (a filter generated from text, a change previewed,
# fields reordered): answered from the response schema, nothing stored.
COMPUTED_VERBS: Final[frozenset[str]] = frozenset({"generate", "preview", "reorder"})

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

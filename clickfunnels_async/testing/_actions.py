"""Action endpoints: a verb on a member route (archive, publish, cancel, gdpr_destroy, refund, ...).

The side effects are read off the words of the spec's fields (`rules.PAST_TENSE`: ``archive`` sets
``archived``/``archived_at``, a ``status`` enum gets the verb's past tense where it lists one), so no verb needs
code of its own except the two whose rules no field can say (`gdpr_destroy` redacts, `publish` checks its date).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from clickfunnels_async.testing._base import OpInfo
from clickfunnels_async.testing._families import Families
from clickfunnels_async.testing._reply import NOT_FOUND, Reply, error, invalid, iso
from clickfunnels_async.testing._reply import now as _now
from clickfunnels_async.testing._rules import (
    ACTION_EVENTS,
    CONFLICT_VERBS,
    PAST_TENSE,
    subject_type,
)
from clickfunnels_async.testing._store import Record, Store

__all__ = ["Actions"]

_STATUS_FIELDS: Final = ("status", "state", "service_status")


class Actions(Families):
    """`_action` and the state changes a verb implies."""

    def _action(self, info: OpInfo, params: Mapping[str, str], fields: dict[str, Any]) -> Reply:
        verb = info.op.verb
        store = self._store(info.store)
        rec = store.get(params.get("id", ""))
        if rec is None:
            return error(404, NOT_FOUND)
        status = info.op.success[0] if info.op.success else 200
        if verb == "gdpr_destroy":
            digest = hashlib.sha256(f"{self._salt}:{rec['id']}".encode()).hexdigest()[:16]
            self._apply(
                store,
                rec,
                {
                    "email_address": f"redacted-{digest}@example.com",
                    "first_name": "REDACTED",
                    "last_name": "REDACTED",
                    "phone_number": None,
                },
                merge_empty=True,
            )
        elif verb == "publish":
            refused = self._publish(store, rec, fields)
            if refused is not None:
                return refused
        elif verb in PAST_TENSE:
            changes = self._state_changes(info, rec, verb, fields)
            if (
                verb in CONFLICT_VERBS
                and changes
                and all(
                    rec.get(k) == v
                    for k, v in changes.items()
                    if not k.endswith("_at") and k != "canceled_by"
                )
            ):
                label = subject_type(store.name).split("::")[-1]
                return error(409, f"{label} is already {verb.rstrip('e')}ed")
            if changes:
                self._apply(store, rec, changes, merge_empty=True)
        elif fields:
            # Other actions with a body (remove products, ...): the listed ids leave the record's lists.
            for name, value in fields.items():
                if isinstance(value, list) and isinstance(rec.get(name), list):
                    rec[name] = [v for v in rec[name] if v not in value]
        event = ACTION_EVENTS.get(verb)
        if event:
            self._emit(store.name, event, rec)
        if status == 204 or (
            info.op.response_model is None
            and not info.op.response_is_list
            and self.spec.response_schema(info.op) is None
        ):
            return Reply(
                status
            )  # no response body documented (gdpr_destroy answers 200 without one)
        return Reply(status, self._render_with(info, rec))

    def _state_changes(
        self, info: OpInfo, rec: Record, verb: str, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What `verb` changes, by the words of the spec's fields (`rules.PAST_TENSE`)."""
        props: dict[str, Any] = {}
        for op in (self._get_ops.get(rec["_ns"]), info.op):
            schema = self.spec.item_schema(op) if op is not None else None
            props.update((schema or {}).get("properties") or {})
        words = PAST_TENSE[verb]
        on = not verb.startswith("un")
        changes: dict[str, Any] = {}
        for word in words:
            if word in props or isinstance(rec.get(word), bool):
                changes[word] = on
            if f"{word}_at" in props:
                changes[f"{word}_at"] = _now() if on else None
        if on:
            for name in _STATUS_FIELDS:
                if name not in props and name not in rec:
                    continue
                enum = self.spec.resolve(props.get(name) or {}).get("enum") or ()
                chosen = next((w for w in words if w in enum), None if enum else words[0])
                if chosen is not None:
                    changes[name] = chosen
        if verb == "cancel" and "canceled_by" in props:
            changes["canceled_by"] = fields.get("canceled_by") or "API"
        return changes

    def _publish(self, store: Store, rec: Record, fields: Mapping[str, Any]) -> Reply | None:
        when = fields.get("published_at")
        if when is not None:
            try:
                moment = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
            except ValueError:
                return invalid({"published_at": ["is invalid"]})
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            if moment < datetime.now(UTC) - timedelta(seconds=1):
                return invalid({"published_at": ["must be in the future"]})
            stamp = iso(moment)
        else:
            stamp = _now()
        if store.name == "courses.sections" and rec.get("parent_id") is None:
            return invalid({"base": ["The root section cannot be published"]})
        self._apply(store, rec, {"published_at": stamp}, merge_empty=True)
        if store.name == "courses.sections":
            lessons = self._store("courses.lessons")
            for lid in lessons.scope_ids(("section_id", rec["id"])):
                lessons.by_id[lid]["published_at"] = stamp
        return None

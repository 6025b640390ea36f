"""Writes on records and what each resource family brings along (the part of the API no schema can say).

`insert`, `apply` and `remove` are the only ways records change; each family's extras live here, keyed by
namespace: a contact's applied tags follow its ``tag_ids``, a product comes with its default variant, an order
with its line items, a course with its root section, a new webhook endpoint shows its secret once
(inventory.md: contacts, products, orders, courses, webhooks). Everything else about a record — the fields a
schema requires, their types — is generic (`FakeBase._fill`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from clickfunnels_async.testing._base import DEFAULT_WORKSPACE_ID, OpInfo
from clickfunnels_async.testing._reply import now as _now
from clickfunnels_async.testing._rules import UNIQUE
from clickfunnels_async.testing._store import Record, Store, make_public_id
from clickfunnels_async.testing._webhooks import Webhooks

__all__ = ["Families"]

_COLORS = ("#e11d48", "#2563eb", "#16a34a", "#f59e0b", "#7c3aed", "#0891b2", "#64748b")


class Families(Webhooks):
    """Record writes and the per-family rules that go with them."""

    def _unique_taken(
        self,
        store: Store,
        rec: Record | None,
        fields: Mapping[str, Any],
        scope: tuple[str, int] | None,
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name in UNIQUE.get(store.name, ()):
            if fields.get(name) is None:
                continue
            key = (scope[0], scope[1], name) if scope else ("", 0, name)
            owner = store.lookup_unique(key, fields[name])
            if owner is not None and (rec is None or owner["id"] != rec["id"]):
                errors[name] = ["has already been taken"]
        return errors

    def _unique_scope(self, store: Store, rec: Record) -> tuple[str, int] | None:
        # Uniqueness is per workspace when the record lives in one, else per direct parent, else global.
        anc = rec["_anc"]
        if "workspace_id" in anc:
            return ("workspace_id", anc["workspace_id"])
        for key, value in anc.items():
            return (key, value)
        return None

    def _claim_unique(self, store: Store, rec: Record) -> None:
        scope = self._unique_scope(store, rec)
        for name in UNIQUE.get(store.name, ()):
            key = (scope[0], scope[1], name) if scope else ("", 0, name)
            store.claim(rec, key, rec.get(name))

    def _insert(
        self,
        ns: str,
        fields: dict[str, Any],
        anc: dict[str, int],
        now: str,
        info: OpInfo | None = None,
    ) -> tuple[Record, dict[str, Any]]:
        """Create, store and wire one record; returns it and fields shown only in the create response."""
        fields = dict(fields)
        extra: dict[str, Any] = {}
        tag_ids = fields.pop("tag_ids", None) if ns == "contacts" else None
        rec = self._make(ns, fields, anc, now)
        store = self._store(ns)
        extra = self._on_create(ns, rec, fields, now)
        self._fill(info, rec)
        store.insert(rec)
        self._claim_unique(store, rec)
        if ns == "contacts":
            self._set_contact_tags(rec, tag_ids or [], now)
        return rec, extra

    def _on_create(
        self, ns: str, rec: Record, fields: Mapping[str, Any], now: str
    ) -> dict[str, Any]:
        """Defaults and the records a create brings along (a product's default variant, ...)."""
        extra: dict[str, Any] = {}
        if ns == "contacts":
            bits = f"{self._data_rng.getrandbits(128):032x}"
            rec["uuid"] = f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:]}"
            rec.setdefault("is_active", True)
            rec.setdefault("custom_attributes", {})
            rec["tag_ids"] = []
            rec["_applied"] = {}
        elif ns == "contacts.tags":
            rec.setdefault("color", _COLORS[rec["id"] % len(_COLORS)])
        elif ns == "contacts.applied_tags":
            contact = self._store("contacts").by_id.get(rec["_anc"].get("contact_id", -1))
            tag = self._store("contacts.tags").get(rec.get("tag_id") or "")
            if tag is not None:
                rec["tag_id"] = tag["id"]
            if contact is not None and tag is not None and tag["id"] not in contact["tag_ids"]:
                contact["tag_ids"].append(tag["id"])
                contact["_applied"][tag["id"]] = now
        elif ns == "products":
            rec.setdefault("archived", False)
            rec.setdefault("visible_in_store", True)
            rec.setdefault("visible_in_customer_center", True)
            rec["variant_ids"] = []
            rec["price_ids"] = []
            rec.setdefault("image_ids", [])
            rec.setdefault("tag_ids", [])
            variant = self._make(
                "products.variants",
                {
                    "name": rec.get("name"),
                    "default": True,
                    "archived": False,
                    "visible": True,
                    "fulfillment_required": False,
                    "price_ids": [],
                },
                {**rec["_anc"], "product_id": rec["id"]},
                now,
            )
            self._store("products.variants").insert(variant)
            rec["default_variant_id"] = variant["id"]
            rec["variant_ids"].append(variant["id"])
        elif ns == "products.variants":
            rec.setdefault("default", False)
            rec.setdefault("archived", False)
            rec.setdefault("visible", True)
            rec["price_ids"] = []
            product = self._store("products").by_id.get(rec["_anc"].get("product_id", -1))
            if product is not None:
                product["variant_ids"].append(rec["id"])
        elif ns == "products.prices":
            rec.setdefault("archived", False)
            rec.setdefault("visible", True)
            rec.setdefault("currency", "USD")
            rec.setdefault("payment_type", "one_time")
            variant_id = rec["_anc"].get("variant_id")
            if variant_id is None:
                # Created through the older per-product route: the price goes on the default variant.
                product = self._store("products").by_id.get(rec["_anc"].get("product_id", -1))
                variant_id = product.get("default_variant_id") if product else None
            if variant_id is not None:
                rec["variant_id"] = variant_id
                rec["_anc"]["variant_id"] = variant_id
                owner = self._store("products.variants").by_id.get(variant_id)
                if owner is not None:
                    owner["price_ids"].append(rec["id"])
                    rec["_anc"].setdefault("product_id", owner["_anc"].get("product_id"))
                    rec["product_id"] = rec["_anc"]["product_id"]
                    product = self._store("products").by_id.get(rec["_anc"]["product_id"] or -1)
                    if product is not None:
                        product["price_ids"].append(rec["id"])
        elif ns == "orders":
            self._on_order(rec, fields, now)
        elif ns == "orders.invoices":
            order = self._store("orders").by_id.get(rec["_anc"].get("order_id", -1))
            rec.setdefault("status", "unpaid")
            rec.setdefault("invoice_type", "one_time")
            rec.setdefault("currency", "USD")
            rec.setdefault("invoice_number", f"INV-{rec['id']:06d}")
            items, total = self._line_items(
                rec.pop("line_items_attributes", None) or [], now, "invoice_id", rec["id"]
            )
            if not items and order is not None:
                items = [
                    {**li, "invoice_id": rec["id"], "fulfillment_status": "unfulfilled"}
                    for li in order.get("line_items", [])
                ]
                total = order.get("total_amount") or total
            rec["line_items"] = items
            rec.setdefault("total_amount", total)
            rec.setdefault("subtotal_amount", total)
            rec.setdefault("due_amount", "0.00" if rec["status"] == "paid" else total)
            if order is not None:
                rec["contact_id"] = order.get("contact_id")
        elif ns == "fulfillments":
            rec["status"] = "fulfilled"
            fulfillments = self._store("fulfillments")
            rec["fulfillment_number"] = len(fulfillments) + 1
            rec["included_invoices_line_items"] = [
                {
                    "id": n + 1,
                    "public_id": make_public_id(
                        "fulfillment_items", rec["id"] * 1000 + n, self._salt
                    ),
                    "fulfillment_id": rec["id"],
                    "invoices_line_item_id": item.get("invoices_line_item_id"),
                    "quantity": item.get("quantity", 1),
                }
                for n, item in enumerate(
                    rec.pop("included_orders_invoices_line_items_attributes", None) or []
                )
                if isinstance(item, dict)
            ]
        elif ns == "fulfillments.locations":
            rec.setdefault("archived", False)
            rec["sort_order"] = len(self._store("fulfillments.locations"))
        elif ns == "courses":
            rec.setdefault("published_at", None)
            rec.setdefault("comments_enabled", True)
            root = self._make(
                "courses.sections",
                {"title": "Root", "parent_id": None, "sort_order": 0},
                {**rec["_anc"], "course_id": rec["id"]},
                now,
            )
            self._store("courses.sections").insert(root)
            rec["root_section_id"] = root["id"]
            rec["current_path"] = f"/courses/{rec['public_id']}"
        elif ns == "courses.sections":
            course = self._store("courses").by_id.get(rec["_anc"].get("course_id", -1))
            rec["parent_id"] = course.get("root_section_id") if course else None
            siblings = self._store("courses.sections").scope_ids(
                ("course_id", rec["_anc"].get("course_id", -1))
            )
            rec["sort_order"] = max(0, len(siblings) - 1)
            rec.setdefault("published_at", None)
        elif ns == "courses.lessons":
            siblings = self._store("courses.lessons").scope_ids(
                ("section_id", rec["_anc"].get("section_id", -1))
            )
            rec["sort_order"] = len(siblings)
            rec.setdefault("published_at", None)
        elif ns == "courses.enrollments":
            rec.setdefault("suspended", False)
            rec["origination_source_type"] = "Api"
        elif ns == "forms.submissions":
            rec.setdefault("data", {})
        elif ns == "images":
            source = fields.get("upload_source_url")
            rec["url"] = (
                source
                if isinstance(source, str)
                else f"https://images.fake.test/{rec['public_id']}.png"
            )
        elif ns == "webhooks.outgoing.endpoints":
            secret = secrets.token_hex(20)
            rec["_secret"] = secret
            rec["api_version"] = 2
            rec.setdefault("page_ids", [])
            rec.setdefault("funnel_ids", [])
            rec.setdefault("name", None)
            extra["webhook_secret"] = secret
        return extra

    def _on_order(self, rec: Record, fields: Mapping[str, Any], now: str) -> None:
        contacts = self._store("contacts")
        attrs_ = fields.get("contact_attributes")
        if (
            rec.get("contact_id") is None
            and isinstance(attrs_, dict)
            and attrs_.get("email_address")
        ):
            ws = rec["_anc"].get("workspace_id", DEFAULT_WORKSPACE_ID)
            found = contacts.lookup_unique(
                ("workspace_id", ws, "email_address"), attrs_["email_address"]
            )
            if found is None:
                found, _ = self._insert(
                    "contacts",
                    {"email_address": attrs_["email_address"]},
                    {"workspace_id": ws},
                    now,
                )
            rec["contact_id"] = found["id"]
        rec.pop("contact_attributes", None)
        contact = contacts.get(rec["contact_id"]) if rec.get("contact_id") is not None else None
        if contact is not None:
            rec["contact_id"] = contact["id"]
        rec.setdefault("order_type", "one-time-order")
        rec.setdefault("live_mode", False)
        rec.setdefault("currency", "USD")
        rec.setdefault("service_status", "active")
        rec.setdefault("billing_status", "paid")
        rec.setdefault("payment_processor", "external")
        rec.setdefault("in_trial", False)
        rec.setdefault("tag_ids", [])
        rec["order_number"] = str(100000 + rec["id"])
        items, total = self._line_items(
            rec.pop("line_items_attributes", None) or [], now, "order_id", rec["id"]
        )
        rec["line_items"] = items
        rec["total_amount"] = total
        rec.setdefault("tax_amount", "0.00")

    def _line_items(
        self, raw: Any, now: str, owner_key: str, owner_id: int
    ) -> tuple[list[dict[str, Any]], str]:
        prices = self._store("products.prices")
        variants = self._store("products.variants")
        items: list[dict[str, Any]] = []
        total = 0.0
        for n, item in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(item, dict):
                continue
            raw_quantity = item.get("quantity")
            quantity = (
                raw_quantity
                if isinstance(raw_quantity, int) and not isinstance(raw_quantity, bool)
                else 1
            )
            price = (
                prices.get(item["products_price_id"])
                if isinstance(item.get("products_price_id"), int | str)
                else None
            )
            variant_ref = item.get("variant_id")
            variant = variants.get(variant_ref) if isinstance(variant_ref, int | str) else None
            if variant is None and price is not None:
                variant = variants.by_id.get(price.get("variant_id", -1))
            amount = (
                item.get("amount")
                if isinstance(item.get("amount"), str)
                else (price.get("amount") if price else None)
            )
            with suppress(ValueError):
                total += float(amount or 0) * quantity
            line_id = owner_id * 100 + n + 1
            items.append(
                {
                    "id": line_id,
                    "public_id": make_public_id(f"{owner_key}_line_items", line_id, self._salt),
                    owner_key: owner_id,
                    "quantity": quantity,
                    "amount": amount,
                    "description": item.get("description"),
                    "products_price": price,
                    "products_variant": variant,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        return items, f"{total:.2f}"

    def _set_contact_tags(self, contact: Record, tag_ids: Any, now: str) -> None:
        """`tag_ids` on a contact write replaces the whole set (applied tags follow)."""
        if not isinstance(tag_ids, list):
            return
        applied = self._store("contacts.applied_tags")
        if not tag_ids and not applied.scope_ids(("contact_id", contact["id"])):
            contact[
                "tag_ids"
            ] = []  # nothing applied, nothing wanted (every new contact without tags)
            return
        tags = self._store("contacts.tags")
        wanted: list[int] = []
        for ref in tag_ids:
            tag = (
                tags.get(ref) if isinstance(ref, int | str) and not isinstance(ref, bool) else None
            )
            if tag is not None and tag["id"] not in wanted:
                wanted.append(tag["id"])
        current = {
            applied.by_id[i]["tag_id"]: applied.by_id[i]
            for i in list(applied.scope_ids(("contact_id", contact["id"])))
        }
        for tag_id, rec in current.items():
            if tag_id not in wanted:
                applied.remove(rec)
                contact["_applied"].pop(tag_id, None)
        for tag_id in wanted:
            if tag_id not in current:
                rec = self._make(
                    "contacts.applied_tags",
                    {"tag_id": tag_id},
                    {**contact["_anc"], "contact_id": contact["id"]},
                    now,
                )
                applied.insert(rec)
                contact["_applied"][tag_id] = now
        contact["tag_ids"] = wanted

    def _apply(
        self, store: Store, rec: Record, fields: Mapping[str, Any], *, merge_empty: bool
    ) -> None:
        now = _now()
        for name, value in fields.items():
            if name in ("id", "public_id", "created_at", "updated_at") or name.startswith("_"):
                continue
            if not merge_empty and (value is None or value == ""):
                continue  # upsert ignores empty values
            if store.name == "contacts" and name == "tag_ids":
                self._set_contact_tags(rec, value, now)
            elif (
                store.name == "contacts" and name == "custom_attributes" and isinstance(value, dict)
            ):
                rec["custom_attributes"] = {
                    **(rec.get("custom_attributes") or {}),
                    **{str(k): str(v) for k, v in value.items()},
                }
            else:
                rec[name] = value
        rec["updated_at"] = now
        self._claim_unique(store, rec)
        store.touch()

    def _remove(self, store: Store, rec: Record) -> None:
        store.remove(rec)
        if store.name == "contacts":
            applied = self._store("contacts.applied_tags")
            for rid in list(applied.scope_ids(("contact_id", rec["id"]))):
                applied.remove(applied.by_id[rid])
        elif store.name == "contacts.tags":
            applied = self._store("contacts.applied_tags")
            contacts = self._store("contacts")
            for rid in list(applied.ids):
                link = applied.by_id[rid]
                if link.get("tag_id") == rec["id"]:
                    applied.remove(link)
                    contact = contacts.by_id.get(link["_anc"].get("contact_id", -1))
                    if contact is not None and rec["id"] in contact["tag_ids"]:
                        contact["tag_ids"].remove(rec["id"])
        elif store.name == "contacts.applied_tags":
            contact = self._store("contacts").by_id.get(rec["_anc"].get("contact_id", -1))
            if contact is not None and rec.get("tag_id") in contact["tag_ids"]:
                contact["tag_ids"].remove(rec["tag_id"])
                contact["_applied"].pop(rec["tag_id"], None)

    def _view(self, rec: Record) -> Record:
        """The record plus the fields that are computed from other records (a contact's tags, ...)."""
        ns = rec.get("_ns")
        if ns == "contacts":
            tags = self._store("contacts.tags")
            applied = rec.get("_applied") or {}
            shown = []
            for tag_id in rec.get("tag_ids") or ():
                tag = tags.by_id.get(tag_id)
                if tag is not None:
                    shown.append({**tag, "applied_at": applied.get(tag_id, rec["updated_at"])})
            return {**rec, "tags": shown}
        if ns == "contacts.applied_tags":
            return {
                **rec,
                "contact": self._store("contacts").by_id.get(rec.get("contact_id", -1)),
                "tag": self._store("contacts.tags").by_id.get(rec.get("tag_id", -1)),
            }
        if ns in ("courses.enrollments", "fulfillments", "forms.submissions"):
            return {**rec, "contact": self._store("contacts").by_id.get(rec.get("contact_id", -1))}
        if ns == "orders":
            contact = self._store("contacts").by_id.get(rec.get("contact_id", -1))
            return {
                **rec,
                "contact": self._view(contact) if contact else None,
                "workspace": self._store("workspaces").by_id.get(rec.get("workspace_id", -1)),
            }
        if ns == "orders.invoices":
            order = self._store("orders").by_id.get(rec.get("order_id", -1))
            return {**rec, "order": self._view(order) if order else None}
        return rec

    def _me_view(self) -> Record:
        user = self._store("users").by_id[1]
        workspace = self._store("workspaces").by_id[DEFAULT_WORKSPACE_ID]
        return {
            **user,
            "connected_workspace": workspace,
            "platform_application": {
                "id": 1,
                "public_id": make_public_id("apps", 1, self._salt),
                "name": "Fake Platform App",
            },
        }

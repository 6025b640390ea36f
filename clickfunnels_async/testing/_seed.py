"""`seed()`: deterministic data for a workspace (same seed, same data), for every resource family."""

from __future__ import annotations

import gc
from datetime import timedelta
from typing import Any

from clickfunnels_async.testing._base import DEFAULT_TEAM_ID, DEFAULT_WORKSPACE_ID, ROOT_STORES
from clickfunnels_async.testing._crud import Crud
from clickfunnels_async.testing._reply import iso
from clickfunnels_async.testing._rules import REFERENCES
from clickfunnels_async.testing._store import Record

__all__ = ["Seeding"]

_FIRST_NAMES = (
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Linus",
    "Guido",
    "Ken",
    "Dennis",
    "Frances",
    "Radia",
    "Tim",
    "Katherine",
    "John",
    "Niklaus",
    "Hedy",
    "Leslie",
    "Anita",
)
_LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Torvalds",
    "Rossum",
    "Thompson",
    "Ritchie",
    "Allen",
    "Perlman",
    "Berners-Lee",
    "Johnson",
    "McCarthy",
    "Wirth",
    "Lamarr",
    "Lamport",
    "Borg",
)
_COLORS = ("#e11d48", "#2563eb", "#16a34a", "#f59e0b", "#7c3aed", "#0891b2", "#64748b")


class Seeding(Crud):
    """Seeded records go in without webhooks and without request validation."""

    def seed(
        self,
        *,
        contacts: int = 0,
        tags: int = 0,
        products: int = 0,
        orders: int = 0,
        courses: int = 0,
        forms: int = 0,
        images: int = 0,
        fulfillment_locations: int = 0,
        every_resource: int = 0,
        workspace_id: int = DEFAULT_WORKSPACE_ID,
    ) -> int:
        """Fill a workspace with deterministic data (same seed, same data); returns the workspace id.

        `every_resource=n` also gives every other resource family the API can create (funnels, pages, sales
        pipelines, shipping profiles, ...) n records, each under a parent of its own kind, with the fields
        its schema requires. No webhooks fire for seeded records. Contacts get 0-2 of the seeded tags; every product gets a
        default variant and one price; every order one line item and one paid invoice; every course two
        sections of three lessons and a few enrollments; every form a few submissions.
        """
        if self._store("workspaces").by_id.get(workspace_id) is None:
            raise KeyError(f"no workspace {workspace_id}")
        # Many small dicts at once: the cyclic GC would rescan them over and over (none of them is garbage).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._seed(
                contacts,
                tags,
                products,
                orders,
                courses,
                forms,
                images,
                fulfillment_locations,
                workspace_id,
            )
            for ns in sorted(self._creatable - ROOT_STORES):
                store = self._store(ns)
                have = len(store.scope_ids(("workspace_id", workspace_id)))
                for _ in range(max(0, every_resource - have)):
                    self._seed_one(ns, workspace_id)
            return workspace_id
        finally:
            if was_enabled:
                gc.enable()

    def _seed(
        self,
        contacts: int,
        tags: int,
        products: int,
        orders: int,
        courses: int,
        forms: int,
        images: int,
        fulfillment_locations: int,
        workspace_id: int,
    ) -> int:
        rng = self._data_rng
        anc = {"team_id": DEFAULT_TEAM_ID, "workspace_id": workspace_id}

        def tick() -> str:
            self._seed_clock += timedelta(seconds=rng.randint(1, 90))
            return iso(self._seed_clock)

        tag_ids: list[int] = []
        start_tags = len(self._store("contacts.tags"))
        for n in range(tags):
            rec, _ = self._insert(
                "contacts.tags",
                {"name": f"Tag {start_tags + n + 1}", "color": _COLORS[n % len(_COLORS)]},
                dict(anc),
                tick(),
            )
            tag_ids.append(rec["id"])
        contact_ids: list[int] = []
        contacts_store = self._store("contacts")
        for _ in range(contacts):
            first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
            number = len(contacts_store) + 1
            fields: dict[str, Any] = {
                "email_address": f"{first.lower()}.{last.lower()}.{number}@example.com",
                "first_name": first,
                "last_name": last,
                "phone_number": f"+1555{rng.randrange(10**6, 10**7)}",
                "time_zone": "Pacific Time (US & Canada)",
                "custom_attributes": {"plan": rng.choice(("free", "pro", "team"))},
            }
            if tag_ids:
                fields["tag_ids"] = rng.sample(tag_ids, k=min(len(tag_ids), rng.randrange(0, 3)))
            rec, _ = self._insert("contacts", fields, dict(anc), tick())
            contact_ids.append(rec["id"])
        if not contact_ids:
            contact_ids = list(contacts_store.scope_ids(("workspace_id", workspace_id)))
        price_ids: list[int] = []
        for n in range(products):
            name = f"Product {len(self._store('products')) + 1}"
            product, _ = self._insert(
                "products", {"name": name, "visible_in_store": n % 2 == 0}, dict(anc), tick()
            )
            price, _ = self._insert(
                "products.prices",
                {
                    "name": f"{name} price",
                    "amount": f"{rng.randrange(5, 500)}.00",
                    "payment_type": "one_time",
                },
                {**anc, "product_id": product["id"], "variant_id": product["default_variant_id"]},
                tick(),
            )
            price_ids.append(price["id"])
        for _ in range(orders):
            if not contact_ids:
                break
            items = (
                [{"products_price_id": rng.choice(price_ids), "quantity": rng.randint(1, 3)}]
                if price_ids
                else []
            )
            order, _ = self._insert(
                "orders",
                {
                    "contact_id": rng.choice(contact_ids),
                    "order_type": rng.choice(("one-time-order", "subscription-order")),
                    "line_items_attributes": items,
                },
                dict(anc),
                tick(),
            )
            self._insert(
                "orders.invoices",
                {"status": "paid", "invoice_type": "initial", "paid_at": order["created_at"]},
                {**anc, "order_id": order["id"]},
                tick(),
            )
        for n in range(courses):
            course, _ = self._insert(
                "courses",
                {"title": f"Course {n + 1}", "description": "Seeded course"},
                dict(anc),
                tick(),
            )
            for s in range(2):
                section, _ = self._insert(
                    "courses.sections",
                    {"title": f"Module {s + 1}"},
                    {**anc, "course_id": course["id"]},
                    tick(),
                )
                for m in range(3):
                    self._insert(
                        "courses.lessons",
                        {"title": f"Lesson {s + 1}.{m + 1}", "body": "..."},
                        {**anc, "course_id": course["id"], "section_id": section["id"]},
                        tick(),
                    )
            for contact_id in rng.sample(contact_ids, k=min(3, len(contact_ids))):
                self._insert(
                    "courses.enrollments",
                    {"contact_id": contact_id},
                    {**anc, "course_id": course["id"]},
                    tick(),
                )
        for n in range(forms):
            form, _ = self._insert("forms", {"name": f"Form {n + 1}"}, dict(anc), tick())
            for contact_id in rng.sample(contact_ids, k=min(3, len(contact_ids))):
                self._insert(
                    "forms.submissions",
                    {"contact_id": contact_id, "data": {"source": "seed"}},
                    {**anc, "form_id": form["id"]},
                    tick(),
                )
        for n in range(images):
            self._insert("images", {"name": f"image-{n + 1}.png"}, dict(anc), tick())
        for n in range(fulfillment_locations):
            self._insert(
                "fulfillments.locations", {"name": f"Warehouse {n + 1}"}, dict(anc), tick()
            )
        return workspace_id

    def _seed_one(
        self, ns: str, workspace_id: int = DEFAULT_WORKSPACE_ID, depth: int = 0
    ) -> Record:
        """One record of `ns` with the fields its create body requires, under a parent made if need be."""
        store = self._store(ns)
        creators = [
            i
            for i in self._info.values()
            if i.kind in ("create", "upsert") and i.store == store.name
        ]
        creators.sort(key=lambda i: (i.parent_store != "workspaces", i.op.id))
        anc: dict[str, int] = {"team_id": DEFAULT_TEAM_ID, "workspace_id": workspace_id}
        fields: dict[str, Any] = {}
        info = creators[0] if creators else None
        if info is not None:
            if info.parent_param is not None and info.parent_store not in (None, "workspaces"):
                assert info.parent_store is not None
                parent = self._any_record(info.parent_store, workspace_id, depth)
                anc = {**parent["_anc"], info.parent_param: parent["id"]}
            schema = self.spec.resolve(self.spec.request_schema(info.op))
            if isinstance(schema, dict):
                fields = self.spec.examples.object(schema, store.next_id)
            for (owner, name), target in REFERENCES.items():
                if owner == store.name and name in fields:
                    fields[name] = self._any_record(target, workspace_id, depth)["id"]
        rec, _ = self._insert(store.name, fields, anc, self._tick(), info)
        return rec

    def _any_record(self, ns: str, workspace_id: int, depth: int) -> Record:
        """The newest record of `ns` in the workspace, seeded when there is none."""
        store = self._store(ns)
        if store.name in ROOT_STORES:
            return store.by_id[store.ids[-1]] if ns != "workspaces" else store.by_id[workspace_id]
        ids = store.scope_ids(("workspace_id", workspace_id))
        if ids:
            return store.by_id[ids[-1]]
        if depth > 8:
            raise RuntimeError(f"cannot seed {ns}: its parents go round in a circle")
        return self._seed_one(ns, workspace_id, depth + 1)

    def _tick(self) -> str:
        self._seed_clock += timedelta(seconds=self._data_rng.randint(1, 90))
        return iso(self._seed_clock)

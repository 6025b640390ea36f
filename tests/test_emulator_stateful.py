"""A stateful property test of the emulator through the SDK: create -> get -> list (filtered) -> update ->
delete stays consistent with a plain model, over contacts, tags and applied tags, products/variants/prices,
orders/invoices and courses/sections/lessons/enrollments (bounded examples)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from _bodies import body_schema, minimal
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from clickfunnels_async import ClickFunnels, Filter, NotFoundError, UnprocessableEntityError
from clickfunnels_async.testing import FakeClickFunnels

WS = 42


@attrs.frozen
class Family:
    namespace: str
    parent: str | None  # family of the parent record; None = the workspace
    fields: Callable[[st.DataObject, Model], dict[str, Any]]
    update: str | None = None  # a field updated with a new text value
    unique: str | None = None  # unique per workspace
    list_filter: str | None = None  # a filter key checked against the model
    extra_children: bool = False  # the API adds children of its own (a product's default variant)


@attrs.define
class Model:
    records: dict[str, dict[int, dict[str, Any]]] = attrs.field(factory=dict)
    parents: dict[str, dict[int, int | None]] = attrs.field(factory=dict)

    def ids(self, family: str) -> list[int]:
        return sorted(self.records.get(family, {}))


def _ref(family: str) -> Callable[[st.DataObject, Model], int]:
    return lambda data, model: data.draw(st.sampled_from(model.ids(family)))


EMAILS = ["ada@example.com", "grace@example.com", "alan@example.com"]
FAMILIES: dict[str, Family] = {
    f.namespace: f
    for f in (
        Family(
            "contacts",
            None,
            lambda d, m: {
                "email_address": d.draw(st.sampled_from(EMAILS)),
                "first_name": d.draw(st.sampled_from(["A", "B"])),
            },
            update="first_name",
            unique="email_address",
            list_filter="email_address",
        ),
        Family(
            "contacts.tags",
            None,
            lambda d, m: {"name": d.draw(st.sampled_from(["vip", "lead"]))},
            unique="name",
            list_filter="name",
        ),
        Family(
            "contacts.applied_tags",
            "contacts",
            lambda d, m: {"tag_id": _ref("contacts.tags")(d, m)},
            list_filter="tag_id",
        ),
        Family("products", None, lambda d, m: {"name": "Product"}, update="name", list_filter="id"),
        Family(
            "products.variants",
            "products",
            lambda d, m: {"name": "Variant"},
            update="name",
            extra_children=True,
        ),
        Family(
            "products.prices",
            "products.variants",
            lambda d, m: {"amount": "10.00", "currency": "USD"},
        ),
        Family(
            "orders",
            None,
            lambda d, m: {"contact_id": _ref("contacts")(d, m)},
            list_filter="contact_id",
        ),
        Family("orders.invoices", "orders", lambda d, m: {"status": "paid"}, list_filter="status"),
        Family("courses", None, lambda d, m: {"title": "Course"}, update="title"),
        Family(
            "courses.sections",
            "courses",
            lambda d, m: {"title": "Section"},
            update="title",
            extra_children=True,
        ),
        Family(
            "courses.lessons", "courses.sections", lambda d, m: {"title": "Lesson"}, update="title"
        ),
        Family(
            "courses.enrollments",
            "courses",
            lambda d, m: {"contact_id": _ref("contacts")(d, m)},
            list_filter="contact_id",
        ),
    )
}
# What a family's create needs to exist first (its parent and the records its fields point at).
NEEDS = {
    "contacts.applied_tags": ("contacts", "contacts.tags"),
    "orders": ("contacts",),
    "courses.enrollments": ("courses", "contacts"),
}


def _namespace(cf: ClickFunnels, namespace: str) -> Any:
    target: Any = cf
    for part in namespace.split("."):
        target = getattr(target, part)
    return target


class EmulatorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeClickFunnels(seed=3)
        self.model = Model()
        self.runner = asyncio.Runner()  # one event loop and one client for the whole run of steps
        self.cf = self.fake.client(max_retries=0)

    def call(self, fn: Callable[[ClickFunnels], Awaitable[Any]]) -> Any:
        return self.runner.run(fn(self.cf))

    def teardown(self) -> None:
        self.runner.run(self.cf.aclose())
        self.runner.close()

    def _ready(self, family: Family) -> bool:
        needs = NEEDS.get(family.namespace, (family.parent,) if family.parent else ())
        return all(self.model.ids(n) for n in needs if n)

    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        family = data.draw(st.sampled_from([f for f in FAMILIES.values() if self._ready(f)]))
        own = family.fields(data, self.model)  # the fields the model follows
        fields = {**self._required_fields(family.namespace), **own}
        parent = data.draw(st.sampled_from(self.model.ids(family.parent))) if family.parent else WS
        existing = self.model.records.get(family.namespace, {}).values()
        duplicate = family.unique is not None and any(
            r[family.unique] == own[family.unique] for r in existing
        )
        resource = _namespace
        try:
            created = self.call(
                lambda cf: resource(cf, family.namespace).create(parent, values=fields)
            )
        except UnprocessableEntityError as exc:
            assert duplicate and family.unique in exc.errors, exc.errors
            return
        assert not duplicate, f"{family.namespace}: a duplicate {family.unique} was accepted"
        for key, value in own.items():
            assert getattr(created, key) == value, (family.namespace, key)
        self.model.records.setdefault(family.namespace, {})[created.id] = dict(own)
        self.model.parents.setdefault(family.namespace, {})[created.id] = (
            parent if family.parent else None
        )

    @precondition(lambda self: any(self.model.ids(f) for f in FAMILIES))
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        namespace = data.draw(st.sampled_from([f for f in FAMILIES if self.model.ids(f)]))
        rid = data.draw(st.sampled_from(self.model.ids(namespace)))
        got = self.call(lambda cf: _namespace(cf, namespace).get(rid))
        for key, value in self.model.records[namespace][rid].items():
            assert getattr(got, key) == value, (namespace, rid, key)

    @precondition(lambda self: any(self.model.ids(f) for f in FAMILIES))
    @rule(data=st.data())
    def list_filtered(self, data: st.DataObject) -> None:
        namespace = data.draw(st.sampled_from([f for f in FAMILIES if self.model.ids(f)]))
        family = FAMILIES[namespace]
        parents = {p for p in self.model.parents[namespace].values()}
        parent = data.draw(st.sampled_from(sorted(parents, key=str)))
        in_scope = {
            rid: rec
            for rid, rec in self.model.records[namespace].items()
            if self.model.parents[namespace][rid] == parent
        }
        key = family.list_filter
        flt = None
        if key is not None and data.draw(st.booleans()):
            value = data.draw(
                st.sampled_from(
                    [r.get(key, rid) if key != "id" else rid for rid, r in in_scope.items()] or [0]
                )
            )
            flt = Filter(**{key: value})
            in_scope = {
                rid: r
                for rid, r in in_scope.items()
                if (rid if key == "id" else r.get(key)) == value
            }
        target = parent if parent is not None else WS
        options = {"filter": flt} if flt is not None else {}
        listed = self.call(lambda cf: _namespace(cf, namespace).list(target, **options).to_list())
        ids = {item.id for item in listed}
        if family.extra_children:
            assert set(in_scope) <= ids, (namespace, sorted(in_scope), sorted(ids))
        else:
            assert ids == set(in_scope), (namespace, sorted(in_scope), sorted(ids))

    @precondition(lambda self: any(self.model.ids(n) for n, f in FAMILIES.items() if f.update))
    @rule(data=st.data(), text=st.text("abcxyz", min_size=1, max_size=6))
    def update(self, data: st.DataObject, text: str) -> None:
        namespace = data.draw(
            st.sampled_from([n for n, f in FAMILIES.items() if f.update and self.model.ids(n)])
        )
        field = FAMILIES[namespace].update
        assert field is not None
        rid = data.draw(st.sampled_from(self.model.ids(namespace)))
        updated = self.call(lambda cf: _namespace(cf, namespace).update(rid, values={field: text}))
        assert getattr(updated, field) == text
        self.model.records[namespace][rid][field] = text

    @precondition(lambda self: any(self.model.ids(f) for f in FAMILIES if f != "products.prices"))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        deletable = [f for f in FAMILIES if self.model.ids(f) and self._deletable(f)]
        if not deletable:
            return
        namespace = data.draw(st.sampled_from(deletable))
        rid = data.draw(st.sampled_from(self.model.ids(namespace)))
        self.call(lambda cf: _namespace(cf, namespace).delete(rid))
        self._forget(namespace, rid)

        async def gone(cf: ClickFunnels) -> None:
            try:
                await _namespace(cf, namespace).get(rid)
            except NotFoundError:
                return
            raise AssertionError(f"{namespace} {rid} still there after delete")

        self.call(gone)

    def _required_fields(self, namespace: str) -> dict[str, Any]:
        """What the spec requires on this family's create (minimal values; ids point at records made)."""
        op = next(
            o
            for o in self.fake.operations.values()
            if o.namespace == namespace and o.verb == "create"
        )
        body = minimal(body_schema(op), "")
        return body if isinstance(body, dict) else {}

    def _deletable(self, namespace: str) -> bool:
        return any(
            op.namespace == namespace and op.verb == "delete"
            for op in self.fake.operations.values()
        )

    def _forget(self, namespace: str, rid: int) -> None:
        """Drop a record and what hangs off it from the model (what the API does to children is not
        asserted; records pointing at it by a field are dropped as well)."""
        self.model.records[namespace].pop(rid, None)
        self.model.parents[namespace].pop(rid, None)
        for child, family in FAMILIES.items():
            for cid, parent in list(self.model.parents.get(child, {}).items()):
                if family.parent == namespace and parent == rid:
                    self._forget(child, cid)
            field = {"contacts": "contact_id", "contacts.tags": "tag_id"}.get(namespace)
            for cid, rec in list(self.model.records.get(child, {}).items()):
                if field and rec.get(field) == rid:
                    self._forget(child, cid)

    @invariant()
    def no_ignored_fields(self) -> None:
        assert not self.fake.ignored_fields, self.fake.ignored_fields


EmulatorMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEmulatorStateful = EmulatorMachine.TestCase

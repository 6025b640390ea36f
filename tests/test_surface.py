"""The generated namespaces: every operation of the spec is reachable with its method and path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
from _records import contact_json, record

from clickfunnels_async import ClickFunnels
from clickfunnels_async._generated.operation_table import OPERATIONS

BASE = "https://acme.myclickfunnels.com"


def _target(cf: Any, qualname: str) -> Any:
    obj = cf
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.anyio
async def test_every_operation_is_reachable_with_its_method_and_path() -> None:
    seen: list[httpx.Request] = []
    current: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        op = current["op"]
        status = op.success[0]
        if status == 204:
            return httpx.Response(204)
        body: Any = [] if op.response_is_list else {"id": 1}
        if op.response_model and not op.response_is_list:
            body = record(op.response_model.split(":")[1], id=1)
        if op.response_model is None and not op.response_is_list:
            body = {"ok": True}
        return httpx.Response(status, json=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with http, ClickFunnels("tok_surface_123", subdomain="acme", http_client=http) as cf:
        for op in OPERATIONS.values():
            current["op"] = op
            method = _target(cf, op.qualname)
            assert callable(method), op.qualname
            args = {name: 7 for name in op.path_params}
            fields = {name: "x" for name in op.body_required}
            seen.clear()
            if op.paginated:
                await method(**args, limit=1).to_list()
            else:
                await method(**args, **fields)
            assert len(seen) == 1, op.qualname
            request = seen[0]
            assert request.method == op.method, op.qualname
            expected = op.path.format(**{n: 7 for n in op.path_params})
            assert request.url.path == expected, op.qualname
            host = (
                "accounts.myclickfunnels.com"
                if op.host == "accounts"
                else "acme.myclickfunnels.com"
            )
            assert request.url.host == host, op.qualname
            if op.has_body:
                body = json.loads(request.content)
                assert (list(body) == [op.body_key]) if op.body_key else isinstance(body, dict)


def test_namespaces_follow_the_naming_rule() -> None:
    qualnames = {op.qualname for op in OPERATIONS.values()}
    for expected in [
        "teams.list",
        "workspaces.get",
        "users.list",
        "contacts.list",
        "contacts.get",
        "contacts.create",
        "contacts.update",
        "contacts.delete",
        "contacts.upsert",
        "contacts.gdpr_destroy",
        "contacts.tags.list",
        "contacts.applied_tags.create",
        "products.archive",
        "products.unarchive",
        "products.variants.list",
        "products.prices.list",
        "orders.list",
        "orders.invoices.list",
        "fulfillments.cancel",
        "fulfillments.locations.list",
        "courses.enrollments.create",
        "courses.sections.list",
        "courses.lessons.list",
        "forms.list",
        "forms.submissions.list",
        "images.create",
        "webhooks.outgoing.endpoints.create",
        "webhooks.outgoing.events.list",
    ]:
        assert expected in qualnames, expected
    for name in qualnames:
        assert re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+", name), name


def test_importing_and_creating_a_client_loads_no_operation_modules() -> None:
    code = (
        "import sys\n"
        "from clickfunnels_async import ClickFunnels\n"
        "cf = ClickFunnels('tok_lazy_12345', subdomain='acme')\n"
        "ns = cf.contacts.tags\n"
        "mods = [m for m in sys.modules if m.startswith('clickfunnels_async.')]\n"
        "api = [m for m in mods if '._generated.models.' in m and 'request' in m]\n"
        "models = [m for m in mods if '._generated.models.' in m]\n"
        "res = [m for m in mods if '._generated.namespaces.' in m]\n"
        "print(len(api), len(models), sorted(res))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    api, models, resources = out.split(" ", 2)
    assert api == "0"
    assert models == "0"
    assert resources.strip() == (
        "['clickfunnels_async._generated.namespaces.contacts', 'clickfunnels_async._generated.namespaces.contacts_tags']"
    )


@pytest.mark.anyio
async def test_unknown_keyword_is_a_type_error_naming_the_fields_before_sending() -> None:
    sent: list[httpx.Request] = []
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(201))
    )
    async with http, ClickFunnels("tok_kw_1234567", subdomain="acme", http_client=http) as cf:
        with pytest.raises(TypeError, match=r"'email'.*allowed: .*email_address"):
            await cf.contacts.create(42, email="a@x.com")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="either values= or keyword fields"):
            await cf.contacts.create(42, values={"email_address": "a"}, first_name="A")
        with pytest.raises(TypeError, match="unknown field"):
            await cf.contacts.create(42, values={"nope": 1})
    assert sent == []


@pytest.mark.anyio
async def test_keyword_bodies_models_and_none_means_null() -> None:
    from clickfunnels_async.models import ContactCreate

    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, json=contact_json(id=5, email_address="a@x.com"))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with http, ClickFunnels("tok_kw_1234567", subdomain="acme", http_client=http) as cf:
        contact = await cf.contacts.create(
            42, email_address="a@x.com", first_name="Ann", last_name=None
        )
        await cf.contacts.create(workspace_id=42, values=ContactCreate(email_address="b@x.com"))
        await cf.contacts.create(42, values={"email_address": "c@x.com", "tag_ids": (1, 2)})
    assert contact.id == 5
    assert bodies == [
        {"contact": {"email_address": "a@x.com", "first_name": "Ann", "last_name": None}},
        {"contact": {"email_address": "b@x.com"}},
        {"contact": {"email_address": "c@x.com", "tag_ids": [1, 2]}},
    ]


@pytest.mark.anyio
async def test_path_params_positional_or_by_name_and_quoted() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=contact_json(id=1))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with http, ClickFunnels("tok_path_123456", subdomain="acme", http_client=http) as cf:
        await cf.contacts.get(123)
        await cf.contacts.get(id="pub_Ab1")
        await cf.contacts.get("a/../b")
        for bad in ["", "..", ".", " "]:
            with pytest.raises(ValueError):
                await cf.contacts.get(bad)
        with pytest.raises(TypeError):
            await cf.contacts.get(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await cf.contacts.get(True)
    assert paths == [
        "/api/v2/contacts/123",
        "/api/v2/contacts/pub_Ab1",
        "/api/v2/contacts/a%2F..%2Fb",
    ]


@pytest.mark.anyio
async def test_delete_returns_none_and_expand_renders() -> None:
    urls: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(request.url)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json=contact_json(id=1))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with http, ClickFunnels("tok_del_1234567", subdomain="acme", http_client=http) as cf:
        assert await cf.contacts.delete(1) is None
        await cf.contacts.get(1, expand=["email_engagement"])
        with pytest.raises(ValueError, match="cannot expand"):
            await cf.contacts.get(1, expand=["markup"])
    assert urls[1].query == b"expand%5B%5D=email_engagement"


@pytest.mark.anyio
async def test_a_model_can_send_an_explicit_null_to_clear_a_field() -> None:
    from clickfunnels_async.models import ContactUpdate

    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=contact_json(id=1))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with http, ClickFunnels("tok_null_123456", subdomain="acme", http_client=http) as cf:
        await cf.contacts.update(1, values=ContactUpdate(first_name="Ann", last_name=None))
        await cf.contacts.update(1, first_name="Ann", last_name=None)
    assert bodies == [
        {"contact": {"first_name": "Ann", "last_name": None}},  # model: None is sent as null
        {"contact": {"first_name": "Ann", "last_name": None}},  # keywords: the same
    ]

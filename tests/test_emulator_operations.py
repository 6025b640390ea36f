"""Acceptance: every operation of the operation table, called through the SDK against the emulator.

For each operation: a minimal valid request (the fields its request schema requires, references pointing at
records that exist) answers a documented 2xx whose body validates against the bundled spec's response
schema (a JSON Schema 2020-12 validator over the whole spec); the same request with one required field left
out answers 422 naming that field (or is refused by the SDK before sending). One fake serves the module.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import referencing
import referencing.jsonschema
from _bodies import body_schema as _body_schema
from _bodies import minimal as _minimal
from jsonschema import Draft202012Validator

from clickfunnels_async import BadRequestError, ClickFunnels, UnprocessableEntityError
from clickfunnels_async._operation_row import Operation
from clickfunnels_async.testing import FakeClickFunnels
from clickfunnels_async.testing._rules import PAST_TENSE, REFERENCES, UPSERT_KEYS
from clickfunnels_async.testing._schema import load_operations, load_spec

OPERATIONS = load_operations()
SPEC_URI = "urn:clickfunnels:openapi"
WS = 42


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # one backend: the fake is shared by the whole module


@functools.cache
def _fake() -> FakeClickFunnels:
    fake = FakeClickFunnels(seed=5)
    fake.seed(contacts=3, tags=2, products=1, orders=1, courses=1, forms=1, every_resource=1)
    return fake


@functools.cache
def _registry() -> referencing.Registry[Any]:
    resource = referencing.Resource.from_contents(
        load_spec(), default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(SPEC_URI, resource)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _response_validator(op: Operation, status: int) -> Draft202012Validator | None:
    response = load_spec()["paths"][op.path][op.method.lower()]["responses"].get(str(status))
    assert response is not None, f"{op.id}: status {status} is not documented"
    if "application/json" not in (response.get("content") or {}):
        return None
    pointer = f"#/paths/{_escape(op.path)}/{op.method.lower()}/responses/{status}/content/application~1json/schema"
    return Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=_registry())


def _request(fake: FakeClickFunnels, op: Operation) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Path arguments (parents that exist; a record of its own for a member route) and a minimal body."""
    info = fake._info[op.id]
    args: dict[str, Any] = {}
    for name in op.path_params:
        if name == "id":
            if info.store in ("teams", "workspaces", "users"):
                args[name] = fake.store(info.store).ids[-1]
                continue
            rec = fake._seed_one(info.store)
            for word in PAST_TENSE.get(op.verb, ()):
                if op.verb.startswith("un"):
                    rec[word] = True  # an unarchive needs something archived
            args[name] = rec["id"]
        elif name == "workspace_id":
            args[name] = WS
        elif name == "team_id":
            args[name] = fake.team_id
        elif info.parent_store is not None and info.parent_store in fake._creatable:
            args[name] = fake._any_record(info.parent_store, WS, 0)["id"]
        else:
            args[name] = 1
    if not op.has_body:
        return args, None
    body = _minimal(_body_schema(op), "")
    body = body if isinstance(body, dict) else {}
    for (owner, field), target in REFERENCES.items():
        if owner == info.store and field in body:
            body[field] = fake._any_record(target, WS, 0)["id"]
    key = UPSERT_KEYS.get(info.store)
    if op.verb == "upsert" and key:
        body[key] = f"upsert-{op.id}@example.com"
    if op.verb == "publish":
        body.pop("published_at", None)  # now (a fixed moment would soon be in the past)
    return args, body


def _method(cf: ClickFunnels, op: Operation) -> Any:
    target: Any = cf
    for part in op.namespace.split("."):
        target = getattr(target, part)
    return getattr(target, op.verb)


def _required(op: Operation) -> list[str]:
    return [str(f) for f in _body_schema(op).get("required") or ()]


@pytest.mark.anyio
@pytest.mark.parametrize("op_id", sorted(OPERATIONS))
async def test_operation_answers_as_documented(op_id: str) -> None:
    op = OPERATIONS[op_id]
    fake = _fake()
    args, body = _request(fake, op)
    async with fake.client(max_retries=0) as cf:
        with cf.raw_responses() as raw:
            call = _method(cf, op)(**args, **({"values": body} if body is not None else {}))
            if op.paginated:
                await call.to_list()
            else:
                await call
    response = raw[0].http_response
    assert response.status_code in op.success, (
        f"{op_id}: {response.status_code} {response.text[:300]}"
    )
    validator = _response_validator(op, response.status_code)
    if validator is not None and response.status_code != 204:
        errors = sorted(validator.iter_errors(response.json()), key=str)
        assert not errors, f"{op_id}: {errors[0].message} at {list(errors[0].absolute_path)}"


REQUIRED_CASES = [
    (op_id, field) for op_id in sorted(OPERATIONS) for field in _required(OPERATIONS[op_id])[:1]
]


@pytest.mark.anyio
@pytest.mark.parametrize(("op_id", "field"), REQUIRED_CASES)
async def test_operation_refuses_a_missing_required_field(op_id: str, field: str) -> None:
    op = OPERATIONS[op_id]
    fake = _fake()
    args, body = _request(fake, op)
    assert body is not None
    body.pop(field, None)
    async with fake.client(max_retries=0) as cf:
        sent = fake.request_count
        try:
            await _method(cf, op)(**args, values=body)
        except (UnprocessableEntityError, BadRequestError) as exc:
            # 422, or 400 where the route documents no 422 (Rails' params.require)
            assert isinstance(exc, UnprocessableEntityError) or not fake.spec.documents(op, 422), (
                op_id
            )
            assert field in exc.errors, f"{op_id}: {exc.errors}"
        except (TypeError, ValueError) as exc:
            assert fake.request_count == sent and field in str(exc), (
                f"{op_id}: {exc}"
            )  # refused before sending
        else:
            pytest.fail(f"{op_id}: accepted a body without {field}")


def test_every_operation_is_covered() -> None:
    assert len(OPERATIONS) >= 435
    assert REQUIRED_CASES, "no operation has a required body field"

"""Fuzzing the inputs users type (hypothesis), through the real client and an httpx.MockTransport.

Whatever goes in, only our typed errors (ClickFunnelsError subclasses) or TypeError / ValueError with a
clear message come out; and when a call is sent, the wire request is well-formed: same host, the path
param one quoted segment, the filter rendered as documented, the body the JSON of what was given.
"""

from __future__ import annotations

import datetime
import json
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest
from _records import contact_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clickfunnels_async import ClickFunnels, ClickFunnelsError, Filter
from clickfunnels_async._core import _model
from clickfunnels_async._generated.operation_table import OPERATIONS

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HOST = "acme.myclickfunnels.com"
LIST_OP = OPERATIONS["listContacts"]
CREATE_OP = OPERATIONS["createContacts"]


class Wire:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path.endswith("/contacts"):
            return httpx.Response(200, json=[])
        return httpx.Response(200, json=contact_json(id=1, email_address="a@example.com"))


def client() -> tuple[ClickFunnels, Wire]:
    wire = Wire()
    cf = ClickFunnels(
        api_token="cf_fuzz_token_1234",
        subdomain="acme",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(wire)),
    )
    return cf, wire


def allowed_error(exc: BaseException) -> None:
    """Fail unless *exc* is one of the errors callers are promised, with a message worth reading."""
    if isinstance(exc, ClickFunnelsError):
        return
    assert isinstance(exc, TypeError | ValueError), f"unexpected {type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


scalars = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.binary(max_size=4),
    st.just(datetime.date(2024, 1, 1)),
)
filter_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.tuples(scalars, scalars),
    st.dictionaries(st.text(max_size=3), scalars, max_size=2),
)
filter_keys = st.one_of(st.sampled_from(LIST_OP.filter_keys), st.text(max_size=10))


@FUZZ
@given(mapping=st.dictionaries(filter_keys, filter_values, max_size=4), as_filter=st.booleans())
async def test_filter_fuzz(anyio_backend: str, mapping: dict[str, Any], as_filter: bool) -> None:
    cf, wire = client()
    async with cf:
        try:
            await cf.contacts.list(42, filter=Filter(mapping) if as_filter else mapping).to_list()
        except Exception as exc:
            allowed_error(exc)
            assert not wire.requests, "an input error must be found before sending"
            return
    (request,) = wire.requests
    assert request.url.host == HOST and request.url.path == "/api/v2/workspaces/42/contacts"
    sent = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
    for key, value in mapping.items():
        if value is None:
            assert f"filter[{key}]" not in sent
            continue
        rendered = sent[f"filter[{key}]"]
        values = [value] if isinstance(value, str | int | bool) else list(value)
        parts = rendered.split(",")
        assert len(parts) == len(values)
        for part, original in zip(parts, values, strict=True):
            expected = (
                ("true" if original else "false") if isinstance(original, bool) else str(original)
            )
            assert part == expected
    assert set(sent) == {f"filter[{k}]" for k, v in mapping.items() if v is not None}


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
odd_value = st.one_of(
    json_value,
    st.just(object()),
    st.binary(max_size=3),
    st.sets(st.integers(), max_size=2),
    st.just(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)),
    st.floats(allow_nan=True),
)
body_keys = st.one_of(st.sampled_from(CREATE_OP.body_fields), st.text(max_size=8))


@FUZZ
@given(fields=st.dictionaries(body_keys, odd_value, max_size=5))
async def test_keyword_body_fuzz(anyio_backend: str, fields: dict[str, Any]) -> None:
    cf, wire = client()
    async with cf:
        try:
            await cf.contacts.create(42, **fields)
        except Exception as exc:
            allowed_error(exc)
            assert not wire.requests
            return
    (request,) = wire.requests
    assert request.url.host == HOST and request.url.path == "/api/v2/workspaces/42/contacts"
    assert request.headers["content-type"] == "application/json"
    sent = json.loads(request.content)
    assert list(sent) == [CREATE_OP.body_key]
    # Every keyword given is sent (None as null), and None only where the spec allows null.
    assert set(sent[CREATE_OP.body_key]) == set(fields)
    not_null = _model(CREATE_OP.body_model)._cf_not_null
    assert all(sent[CREATE_OP.body_key][k] is None for k, v in fields.items() if v is None)
    assert not any(v is None and k in not_null for k, v in fields.items())
    assert set(fields) <= set(CREATE_OP.body_fields)


path_values = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from("./%?#\\@:;2eE ~"), max_size=12),
    st.integers(),
    st.sampled_from(["..", ".", "../x", "%2e%2e", "https://evil.com", "//evil.com", "a/../../b"]),
    st.none(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=3),
)


@FUZZ
@given(value=path_values)
async def test_path_param_fuzz(anyio_backend: str, value: Any) -> None:
    cf, wire = client()
    async with cf:
        try:
            await cf.contacts.get(id=value)
        except Exception as exc:
            allowed_error(exc)
            assert not wire.requests
            return
    (request,) = wire.requests
    assert request.url.host == HOST and request.url.scheme == "https"
    raw = request.url.raw_path.decode("ascii")
    assert raw.startswith("/api/v2/contacts/"), raw
    segment = raw[len("/api/v2/contacts/") :]
    assert segment and "/" not in segment and "?" not in segment and "#" not in segment, raw
    assert unquote(segment) == str(value)
    assert not request.url.query


printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)


@FUZZ
@given(path=st.one_of(printable, st.builds(lambda s: "/api/v2/" + s, printable)))
async def test_raw_request_path_fuzz(anyio_backend: str, path: str) -> None:
    cf, wire = client()
    async with cf:
        try:
            await cf.request("GET", path)
        except Exception as exc:
            allowed_error(exc)
            assert not wire.requests
            return
    (request,) = wire.requests
    # Paths of accounts operations (/api/v2/teams...) go to the accounts host: still one of ours.
    assert (
        request.url.host in (HOST, "accounts.myclickfunnels.com") and request.url.scheme == "https"
    )
    assert request.url.raw_path.startswith(b"/") and not request.url.raw_path.startswith(b"//")
    assert not request.url.query and not request.url.fragment


async def test_raw_request_control_character_is_a_clear_error(anyio_backend: str) -> None:
    cf, wire = client()
    async with cf:
        try:
            await cf.request("GET", "/api/v2/a\x08b")
        except Exception as exc:
            allowed_error(exc)
    assert not wire.requests

"""Models in FastAPI routes and pydantic models, serialised as the API's JSON (pydantic is not a core dependency)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import jsonschema
import pytest
from _records import contact_json
from fastapi import Body, FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel, TypeAdapter, ValidationError

import clickfunnels_async
import clickfunnels_async.models as public_models
from clickfunnels_async._spec_refs import lookup
from clickfunnels_async.models import BlogsPost, BlogsPostCreate, Contact, ContactUpdate
from clickfunnels_async.testing import FakeClickFunnels

# As the API sent it (dates in the form to_dict() writes them back), with a field the spec does not know.
WIRE = {
    **contact_json(id=5, email_address="ann@x.com", first_name="Ann"),
    "created_at": "2026-01-01T00:00:00+00:00",
    "updated_at": "2026-01-02T00:00:00+00:00",
    "loyalty_tier": "gold",
}
PARTIAL = {"id": 6, "email_address": None, "nickname": "bo"}


class Note(BaseModel):
    contact: Contact
    partial: Contact | None = None
    note: str


def _app() -> FastAPI:
    app = FastAPI()
    contact, partial = Contact.from_dict(WIRE), Contact.from_dict(PARTIAL)

    @app.get("/plain")
    def plain():  # type: ignore[no-untyped-def]  # no annotation: FastAPI's jsonable_encoder
        return contact

    @app.get("/plain-list")
    def plain_list():  # type: ignore[no-untyped-def]
        return [contact, partial]

    @app.get("/annotated")
    def annotated() -> Contact:
        return partial

    @app.get("/response-model", response_model=Contact)
    def response_model() -> object:
        return contact

    @app.get("/note")
    def note() -> Note:
        return Note(contact=contact, partial=partial, note="hi")

    @app.post("/echo")
    def echo(body: Annotated[ContactUpdate, Body()]) -> dict[str, object]:
        return {"type": type(body).__name__, "sent": body.to_dict()}

    return app


def test_fastapi_routes_answer_the_apis_json() -> None:
    with TestClient(_app()) as client:
        assert client.get("/plain").json() == WIRE
        assert client.get("/plain-list").json() == [WIRE, PARTIAL]
        assert client.get("/annotated").json() == PARTIAL  # what the server sent, no invented nulls
        assert client.get("/response-model").json() == WIRE
        assert client.get("/note").json() == {"contact": WIRE, "partial": PARTIAL, "note": "hi"}
        echoed = client.post("/echo", json={"last_name": None, "first_name": "Ann"})
        assert echoed.json() == {
            "type": "ContactUpdate",
            "sent": {"first_name": "Ann", "last_name": None},
        }
        assert client.post("/echo", json=["not", "an", "object"]).status_code == 422
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert schema["Note"]["properties"]["contact"] == {"$ref": "#/components/schemas/Contact"}


def test_pydantic_fields_validate_from_json_and_dump_as_json() -> None:
    note = Note.model_validate({"contact": WIRE, "note": "x"})
    assert isinstance(note.contact, Contact) and note.contact.first_name == "Ann"
    assert note.contact.additional_properties == {"loyalty_tier": "gold"}
    assert note.model_dump() == {"contact": WIRE, "partial": None, "note": "x"}
    assert Note.model_validate_json(note.model_dump_json()).model_dump() == note.model_dump()
    same = Contact.from_dict(WIRE)
    assert Note(contact=same, note="x").contact is same  # an instance is taken as it is
    with pytest.raises(ValidationError, match="expected a Contact or a JSON object"):
        Note.model_validate({"contact": "cnt_1", "note": "x"})


def test_importing_the_sdk_and_its_models_does_not_import_pydantic() -> None:
    code = (
        "import sys, clickfunnels_async\n"
        "from clickfunnels_async.models import Contact\n"
        "Contact.from_dict({'id': 1}).to_dict()\n"
        "assert 'pydantic' not in sys.modules and 'pydantic_core' not in sys.modules, 'pydantic imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------- JSON schemas

SPEC = json.loads(
    (Path(clickfunnels_async.__file__).parent / "_generated" / "openapi.json").read_text("utf-8")
)["components"]["schemas"]


def _documented_app() -> FastAPI:
    app = FastAPI()

    @app.get("/contacts/{cid}", response_model=Contact)
    def get_contact(cid: int) -> object:
        return Contact.from_dict(WIRE)

    @app.patch("/contacts/{cid}")
    def update_contact(cid: int, body: Annotated[ContactUpdate, Body()]) -> Contact:
        return Contact.from_dict(WIRE)

    @app.post("/posts")
    def create_post(body: Annotated[BlogsPostCreate, Body()]) -> list[BlogsPost]:
        return []

    @app.get("/note")
    def note() -> Note:
        return Note(contact=Contact.from_dict(WIRE), note="hi")

    return app


def test_fastapi_openapi_has_each_model_as_a_component_with_the_apis_fields() -> None:
    doc = _documented_app().openapi()
    validate_openapi(doc)  # the whole document is valid OpenAPI 3.1 (schemas included)
    schemas = doc["components"]["schemas"]
    ref = "#/components/schemas/{}".format

    contact = schemas["Contact"]
    assert contact["title"] == "Contact" and contact["type"] == "object"
    props = contact["properties"]
    assert props["id"] == {"type": "integer"}
    assert props["email_address"] == {"type": ["string", "null"]}
    assert props["created_at"] == {"type": "string", "format": "date-time"}
    assert props["tags"] == {"type": ["array", "null"], "items": {"$ref": ref("ContactTag")}}
    assert props["custom_attributes"] == {"$ref": ref("ContactCustomAttributes")}
    assert sorted(contact["required"]) == sorted(SPEC["Contact"]["required"])
    assert set(props) == set(SPEC["Contact"]["properties"])
    assert schemas["ContactTag"]["properties"]["name"] == SPEC["ContactTag"]["properties"]["name"]

    update = schemas["ContactUpdate"]  # a request body: what may be sent
    assert update["properties"]["last_name"] == {"type": ["string", "null"]}
    assert update["properties"]["tag_ids"] == {"type": "array", "items": {"type": "integer"}}
    assert "required" not in update and "id" not in update["properties"]
    # An enum the spec keeps as a component of its own (not a model) is written inline.
    visibility = schemas["BlogsPostCreate"]["properties"]["visibility"]
    assert visibility == {
        "type": "string",
        "enum": ["draft", "public", "members_only", "scheduled"],
    }

    def body(path: str, method: str) -> object:
        return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    def answer(path: str, method: str) -> object:
        return doc["paths"][path][method]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]

    assert body("/contacts/{cid}", "patch") == {"$ref": ref("ContactUpdate")}
    assert (
        answer("/contacts/{cid}", "get")
        == answer("/contacts/{cid}", "patch")
        == {"$ref": ref("Contact")}
    )
    assert body("/posts", "post") == {"$ref": ref("BlogsPostCreate")}
    assert answer("/posts", "post")["items"] == {"$ref": ref("BlogsPost")}  # type: ignore[index]
    assert schemas["Note"]["properties"]["contact"] == {"$ref": ref("Contact")}
    # One schema per model: the API's JSON is the same both ways, so no -Input/-Output pairs.
    assert not [name for name in schemas if name.endswith(("-Input", "-Output"))]


def test_the_schemas_describe_what_the_models_read_and_write() -> None:
    fake = FakeClickFunnels(seed=4)
    fake.seed(contacts=20, tags=3)
    contact_schema = TypeAdapter(Contact).json_schema(mode="serialization")
    checker = jsonschema.Draft202012Validator(contact_schema)
    for record in fake.records("contacts"):
        checker.validate(Contact.from_dict(record).to_dict())
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        checker.validate({**Contact.from_dict(fake.records("contacts")[0]).to_dict(), "id": "5"})

    update = jsonschema.Draft202012Validator(
        TypeAdapter(ContactUpdate).json_schema(mode="validation")
    )
    update.validate(ContactUpdate(last_name=None, first_name="Ann").to_dict())
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'array'"):
        update.validate({"tag_ids": 5})


def test_every_model_has_its_spec_schema() -> None:
    models = tuple(
        value
        for name in public_models.__all__
        if hasattr(value := getattr(public_models, name), "from_dict")
    )
    defs = TypeAdapter(tuple[models]).json_schema(mode="serialization")["$defs"]  # type: ignore[valid-type]
    assert len(defs) == len(models) > 400
    for model in models:
        pointer = model.__dict__.get("_cf_schema", f"#/components/schemas/{model.__name__}")
        spec = lookup({"components": {"schemas": SPEC}}, pointer)
        mine = defs[model.__name__]
        assert set(mine.get("properties", {})) == set(spec.get("properties", {})), model
        assert mine.get("required") == spec.get("required"), model


def test_a_model_reached_again_inside_itself_is_a_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No schema of today's spec refers back to itself; one that does must not recurse forever.
    from clickfunnels_async import _pydantic
    from clickfunnels_async._generated.types import _Record

    doc = {
        "components": {
            "schemas": {
                "Folder": {
                    "type": "object",
                    "properties": {
                        "parent": {
                            "oneOf": [{"$ref": "#/components/schemas/Folder"}, {"type": "null"}]
                        },
                        "files": {"type": "array", "items": {"$ref": "#/components/schemas/File"}},
                    },
                },
                "File": {
                    "type": "object",
                    "properties": {"folder": {"$ref": "#/components/schemas/Folder"}},
                },
            }
        }
    }
    monkeypatch.setattr(_pydantic, "bundled_spec", lambda: doc)

    class Folder(_Record):
        __slots__ = ()

    class File(_Record):
        __slots__ = ()

    monkeypatch.setattr(sys.modules[__name__], "Folder", Folder, raising=False)
    monkeypatch.setattr(sys.modules[__name__], "File", File, raising=False)
    defs = TypeAdapter(Folder).json_schema()["$defs"]
    assert defs["Folder"]["properties"]["parent"]["oneOf"][0] == {"$ref": "#/$defs/Folder"}
    assert defs["Folder"]["properties"]["files"]["items"] == {"$ref": "#/$defs/File"}
    assert defs["File"]["properties"]["folder"] == {"$ref": "#/$defs/Folder"}

"""Models in FastAPI routes and pydantic models, serialised as the API's JSON (pydantic is not a core dependency)."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import pytest
from _records import contact_json
from fastapi import Body, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from clickfunnels_async.models import Contact, ContactUpdate

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
        assert schema["Note"]["properties"]["contact"]["type"] == "object"


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

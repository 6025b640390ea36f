"""What a type checker tells a user: the spec's enums, filter keys and required fields reach `mypy --strict`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """from typing import reveal_type

from clickfunnels_async import ClickFunnels, Filter


async def main(cf: ClickFunnels) -> None:
    cf.contacts.list(42, sort_order="up")  # line 7: not asc/desc
    cf.contacts.list(42, filter={"emali": "a@x.com"})  # line 8: no such filter key
    await cf.blogs.posts.update(1, visibility="secret")  # line 9: not draft/public/...
    await cf.courses.create(1, description="no title")  # line 10: title is required
    cf.contacts.list(42, expand=["email_engagement"], sort_order="desc", filter=Filter(id=5))  # fine
    cf.contacts.list(42, filter={"email_address": ["a@x.com", "b@x.com"], "is_active": True})  # fine
    await cf.courses.create(1, title="T")  # fine
    await cf.courses.create(1, values={"title": "T"})  # fine
    reveal_type(cf.contacts.list)  # line 15
    await cf.contacts.upsert(email_address="a@x.com")  # fine: the client's default workspace
    await cf.contacts.get()  # line 17: id has no default
    reveal_type(cf.contacts.tags.create)  # line 18: two overloads
    ClickFunnels(workspace_id=42).with_options(workspace_id=7)  # fine
    ClickFunnels(workspace_id="42")  # line 20: a numeric id
    from clickfunnels_async.models import ContactUpdate
    await cf.contacts.update(1, last_name=None)  # line 22: fine, last_name may be null
    await cf.contacts.update(1, values=ContactUpdate(last_name=None))  # line 23: fine
    await cf.contacts.update(1, tag_ids=None)  # line 24: tag_ids cannot be null
    c = await cf.contacts.get(1)
    if c.email_address is not None:
        reveal_type(c.email_address)  # line 27: narrowed to str
    reveal_type(c.id)  # line 28: required, not nullable: plain int
    reveal_type(c.email_engagement)  # line 29: optional: model | None
    reveal_type(c.fields_set)  # line 30
    c.emial_address  # line 31: misspelt: still an error
"""


@pytest.mark.timeout(900)
def test_mypy_flags_what_the_spec_rules_out(tmp_path: Path) -> None:
    (tmp_path / "user.py").write_text(SCRIPT, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config-file",
            "",
            "user.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=800,
    )
    out = proc.stdout
    errors = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"^user\.py:(\d+): error: (.*)$", out, re.M)
    }
    assert proc.returncode == 1, out + proc.stderr
    assert sorted(errors) == [7, 8, 9, 10, 17, 20, 24, 31], out
    assert '"sort_order"' in errors[7] and "Literal['asc', 'desc']" in errors[7], errors[7]
    assert '"filter"' in errors[8] and "ListContactsFilter" in errors[8], errors[8]
    assert '"visibility"' in errors[9] and "Literal['draft', 'public'" in errors[9], errors[9]
    assert "No overload variant" in errors[10], errors[10]
    assert re.search(r"^user\.py:10: note: .*title: [^,=)]+\)", out, re.M), (
        out
    )  # title: Required, no default
    (note,) = re.findall(r"^user\.py:15: note: Revealed type is (.*)$", out, re.M)
    assert "sort_order: Literal['asc'] | Literal['desc'] | None" in note, note
    assert "sort_property: Literal['id'] | Literal['updated_at'] | None" in note, note
    assert (
        "expand: Literal['email_engagement'] | typing.Sequence[Literal['email_engagement']] | None"
        in note
    ), note
    assert "ListContactsFilter, {'email_address'?: str | int" in note, note
    assert 'Missing positional argument "id"' in errors[17], errors[17]
    assert '"workspace_id"' in errors[20] and "int | None" in errors[20], errors[20]
    assert note.startswith('"def (workspace_id: int | str | None =, *,'), note  # optional, first
    (create,) = re.findall(r"^user\.py:18: note: Revealed type is (.*)$", out, re.M)
    assert create.count("def (workspace_id: int | str | None =,") == 2, create
    assert '"tag_ids"' in errors[24] and "None" in errors[24], errors[24]
    assert '"emial_address"' in errors[31], errors[31]
    revealed = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"^user\.py:(\d+): note: Revealed type is (.*)$", out, re.M)
    }
    assert revealed[27] == '"str"', revealed
    assert revealed[28] == '"int"', revealed
    assert revealed[29] == (
        '"clickfunnels_async._generated.models.contact_email_engagement.ContactEmailEngagement | None"'
    ), revealed
    assert revealed[30] == '"frozenset[str]"', revealed

"""`clickfunnels contacts export` and `contacts import` without --workspace-id take the SDK's default
workspace: the only one the token reaches (with --subdomain: the one with that subdomain). Several or none
stop with exit code 2 and say what to pass. Against the emulator, in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _cli import invoke, make_app, write_csv

from clickfunnels_async import ClickFunnels
from clickfunnels_async.cli import build_app
from clickfunnels_async.testing import FakeClickFunnels

PICK = "pick one with --workspace-id ID (or set CLICKFUNNELS_WORKSPACE_ID)"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLICKFUNNELS_WORKSPACE_ID", "CLICKFUNNELS_SUBDOMAIN", "CLICKFUNNELS_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _second_workspace(fake: FakeClickFunnels, rid: int, name: str, subdomain: str) -> None:
    store = fake.store("workspaces")
    first = store.by_id[fake.workspace_id]
    store.insert(
        {**first, "id": rid, "public_id": f"ws{rid}pub", "name": name, "subdomain": subdomain}
    )


def test_export_and_import_use_the_one_workspace_the_token_reaches(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=11)
    fake.seed(contacts=7)
    app = make_app(fake)
    exported = invoke(app, ["contacts", "export", "-q"])
    assert exported.exit_code == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 7 and {r["workspace_id"] for r in rows} == {fake.workspace_id}
    assert (fake.calls["listTeams"], fake.calls["listWorkspaces"]) == (1, 1)

    source = tmp_path / "in.csv"
    write_csv(source, 4, prefix="dflt")
    imported = invoke(app, ["contacts", "import", str(source), "--json", "-q"])
    assert imported.exit_code == 0, imported.stderr
    assert json.loads(imported.stdout)["succeeded"] == 4
    emails = {c["email_address"]: c for c in fake.records("contacts")}
    assert all(emails[f"dflt{i}@example.com"]["workspace_id"] == 42 for i in range(4))

    # The same rows again: the checkpoint keyed by the discovered workspace matches the explicit one.
    again = invoke(app, ["contacts", "import", str(source), "--workspace-id", "42", "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["succeeded"] == 4


def test_an_explicit_workspace_or_the_environment_sends_no_discovery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeClickFunnels(seed=12)
    fake.seed(contacts=3)
    app = make_app(fake)
    assert invoke(app, ["contacts", "export", "--workspace-id", "42", "-q"]).exit_code == 0
    monkeypatch.setenv("CLICKFUNNELS_WORKSPACE_ID", "42")
    assert len(invoke(app, ["contacts", "export", "-q"]).stdout.splitlines()) == 3
    assert fake.calls.get("listTeams", 0) == 0 and fake.calls.get("listWorkspaces", 0) == 0


def test_several_workspaces_stop_with_the_list_and_subdomain_picks_one(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=13)
    fake.seed(contacts=2)
    _second_workspace(fake, 43, "Beta", "beta")
    app = make_app(fake)
    source = tmp_path / "in.csv"
    write_csv(source, 2)
    listing = "id=42 name='Acme' subdomain='acme'; id=43 name='Beta' subdomain='beta'"
    expected = (
        f"Error: no --workspace-id given and this token reaches 2 workspaces; {PICK}: {listing}\n"
    )
    for args in (["contacts", "export"], ["contacts", "import", str(source)]):
        before = fake.request_count
        result = invoke(app, args)
        assert (result.exit_code, result.stderr, result.stdout) == (2, expected, ""), args
        assert fake.request_count - before == 2  # the team list and its workspaces, nothing else
    assert len(fake.records("contacts")) == 2  # nothing imported
    assert not (tmp_path / "in.csv.checkpoint").exists()

    # --subdomain names the workspace among several (real hosts here: acme.myclickfunnels.com).
    def by_host(**kwargs: Any) -> ClickFunnels:
        return ClickFunnels(transport=fake.transport(), api_token=fake.token, **kwargs)

    app = build_app(client_factory=by_host)
    acme = invoke(app, ["--subdomain", "acme", "contacts", "export", "-q"])
    beta = invoke(app, ["--subdomain", "beta", "contacts", "export", "--format", "csv", "-q"])
    assert (acme.exit_code, beta.exit_code) == (0, 0), acme.stderr + beta.stderr
    assert {json.loads(line)["workspace_id"] for line in acme.stdout.splitlines()} == {42}
    assert len(acme.stdout.splitlines()) == 2
    assert len(beta.stdout.splitlines()) == 1  # workspace 43 has no contacts: the CSV header only


def test_no_workspace_says_what_to_pass_and_a_bad_file_is_refused_first(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=14)
    store = fake.store("workspaces")
    store.remove(store.by_id[fake.workspace_id])
    app = make_app(fake)
    result = invoke(app, ["contacts", "export"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no --workspace-id given and this token reaches no workspace; pass --workspace-id ID "
        "(or set CLICKFUNNELS_WORKSPACE_ID) for a workspace it can use; find the ids with "
        "`clickfunnels list teams`, then `clickfunnels list workspaces team_id=…`\n"
    )

    # A file problem is still found before any request, workspace or not.
    bad = tmp_path / "bad.csv"
    bad.write_text("first_name,colour\nAnn,red\n", encoding="utf-8")
    before = fake.request_count
    refused = invoke(app, ["contacts", "import", str(bad)])
    assert refused.exit_code == 2 and "colour" in refused.stderr
    assert fake.request_count == before

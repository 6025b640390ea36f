"""Issue 16 point 9, as a user hits it: a default workspace_id for every operation whose path has one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _records import record

from clickfunnels_async import ClickFunnels, ClickFunnelsConfigError
from clickfunnels_async.testing import FakeClickFunnels

TOKEN = "tok_workspace_tests"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLICKFUNNELS_API_TOKEN",
        "CLICKFUNNELS_SUBDOMAIN",
        "CLICKFUNNELS_BASE_URL",
        "CLICKFUNNELS_WORKSPACE_ID",
        "MATON_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


class Recorder:
    """A transport that answers every request with an empty list and keeps the paths it saw."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.method == "POST":
            return httpx.Response(201, json=record("ContactsTag", id=1, name="vip"))
        return httpx.Response(200, json=[])

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    yield Recorder()


@pytest.mark.anyio
async def test_client_workspace_id_fills_every_workspace_call_and_an_argument_wins(
    recorder: Recorder,
) -> None:
    async with ClickFunnels(
        TOKEN, subdomain="acme", workspace_id=42, transport=recorder.transport()
    ) as cf:
        await cf.contacts.list().to_list()
        await cf.contacts.tags.create(name="vip")
        await cf.contacts.list(7).to_list()  # positional, as before
        await cf.contacts.list(workspace_id=8).to_list()
        await cf.teams.list().to_list()  # no {workspace_id} in its path: untouched
    assert recorder.paths == [
        "/api/v2/workspaces/42/contacts",
        "/api/v2/workspaces/42/contacts/tags",
        "/api/v2/workspaces/7/contacts",
        "/api/v2/workspaces/8/contacts",
        "/api/v2/teams",
    ]


@pytest.mark.anyio
async def test_environment_variable_sets_the_default_and_an_argument_beats_it(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLICKFUNNELS_WORKSPACE_ID", " 42 ")
    async with ClickFunnels(TOKEN, subdomain="acme", transport=recorder.transport()) as cf:
        await cf.contacts.list().to_list()
    async with ClickFunnels(
        TOKEN, subdomain="acme", workspace_id=5, transport=recorder.transport()
    ) as cf:
        await cf.contacts.list().to_list()
    assert recorder.paths == ["/api/v2/workspaces/42/contacts", "/api/v2/workspaces/5/contacts"]


@pytest.mark.anyio
async def test_with_options_and_via_maton_take_the_same_option(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ClickFunnels(
        TOKEN, subdomain="acme", workspace_id=42, transport=recorder.transport()
    ) as cf:
        other = cf.with_options(workspace_id=7, timeout=5)
        await other.contacts.list().to_list()
        await cf.contacts.list().to_list()  # the original keeps its default
        assert repr(other) == "<ClickFunnels subdomain='acme' workspace_id=7>"
    async with ClickFunnels.via_maton(
        "maton_key_123", workspace_id=9, transport=recorder.transport()
    ) as maton:
        await maton.contacts.list().to_list()
    monkeypatch.setenv("CLICKFUNNELS_WORKSPACE_ID", "10")
    async with ClickFunnels.via_maton("maton_key_123", transport=recorder.transport()) as maton:
        await maton.contacts.list().to_list()
    assert recorder.paths == [
        "/api/v2/workspaces/7/contacts",
        "/api/v2/workspaces/42/contacts",
        "/clickfunnels/api/v2/workspaces/9/contacts",
        "/clickfunnels/api/v2/workspaces/10/contacts",
    ]


@pytest.mark.anyio
async def test_the_one_workspace_found_by_subdomain_discovery_is_the_default() -> None:
    async with FakeClickFunnels() as fake:
        fake.seed(contacts=3)
        # No subdomain and no base_url: the client discovers the workspace, as it always did for the host.
        async with ClickFunnels(fake.token, transport=fake.transport()) as cf:
            contacts = await cf.contacts.list().to_list()
            created = await cf.contacts.create(email_address="new@example.com")
            assert repr(cf) == f"<ClickFunnels subdomain='acme' workspace_id={fake.workspace_id}>"
    assert len(contacts) == 3 and created.workspace_id == fake.workspace_id
    assert fake.calls["listTeams"] == 1 and fake.calls["listWorkspaces"] == 1


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["call", "list"])
async def test_no_default_is_a_type_error_that_says_how_to_set_one_and_nothing_is_sent(
    recorder: Recorder, where: str
) -> None:
    # With a subdomain (or a base_url, or Maton) nothing is discovered: no hidden request for a default.
    async with ClickFunnels(TOKEN, subdomain="acme", transport=recorder.transport()) as cf:
        with pytest.raises(TypeError) as info:
            if where == "call":
                await cf.contacts.create(email_address="a@x.com")
            else:
                cf.contacts.list()  # refused when the paginator is made, before any page
    message = str(info.value)
    assert "needs workspace_id" in message
    assert "ClickFunnels(workspace_id=42)" in message and "CLICKFUNNELS_WORKSPACE_ID" in message
    assert "cf.teams.list()" in message and "cf.workspaces.list(team.id)" in message
    assert recorder.paths == []


@pytest.mark.parametrize("value", ["42", 0, -3, True, 4.2])
def test_a_bad_workspace_id_is_refused_at_construction(value: object) -> None:
    with pytest.raises(ClickFunnelsConfigError, match=r"workspace_id must be .*numeric id"):
        ClickFunnels(TOKEN, subdomain="acme", workspace_id=value)  # type: ignore[arg-type]
    cf = ClickFunnels(TOKEN, subdomain="acme")
    with pytest.raises(ClickFunnelsConfigError, match=r"workspace_id must be"):
        cf.with_options(workspace_id=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["abc", "0", "4 2", "-1", "wrk_42", "٤٢"])
def test_a_bad_workspace_environment_variable_is_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("CLICKFUNNELS_WORKSPACE_ID", text)
    with pytest.raises(ClickFunnelsConfigError, match=r"CLICKFUNNELS_WORKSPACE_ID must be"):
        ClickFunnels(TOKEN, subdomain="acme")
    # An explicit argument means the variable is not read at all.
    assert "workspace_id=3" in repr(ClickFunnels(TOKEN, subdomain="acme", workspace_id=3))

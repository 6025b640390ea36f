"""The `clickfunnels` command, through typer's CliRunner, against the emulator (faults on): import, export,
call and list, credentials, the console script. Options common to the commands: test_cli_options.py."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from _cli import export, import_, invoke, make_app, served_emulator, write_csv
from _records import contact_json

from clickfunnels_async import ClickFunnels
from clickfunnels_async.cli import build_app, main
from clickfunnels_async.testing import FakeClickFunnels

VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------------- import


def test_import_5000_rows_with_faults_every_row_exactly_once(tmp_path: Path) -> None:
    n = 5000
    source = tmp_path / "people.csv"
    write_csv(source, n)
    fake = FakeClickFunnels(seed=11, error_rate=0.10, drop_rate=0.05, rate_limit=1000)
    failures = tmp_path / "failures.jsonl"
    started = time.perf_counter()
    result = import_(
        make_app(fake),
        source,
        "--max-retries",
        "10",
        "--concurrency",
        "32",
        "--failures",
        str(failures),
        "--json",
    )
    elapsed = time.perf_counter() - started
    report = json.loads(result.stdout)
    failed_lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert report["failed"] == len(failed_lines)  # every failure accounted for
    assert result.exit_code == (1 if failed_lines else 0), result.stderr
    emails = Counter(rec["email_address"] for rec in fake.records("contacts"))
    assert (
        max(emails.values()) == 1
    )  # retried upserts (also after dropped answers) did not duplicate
    failed = {line["input"]["email_address"] for line in failed_lines}
    assert all(f"row{i}@example.com" in emails or f"row{i}@example.com" in failed for i in range(n))
    assert report["succeeded"] + report["failed"] == n and report["unfinished"] == 0
    by_email = {rec["email_address"]: rec for rec in fake.records("contacts")}
    assert by_email["row1@example.com"]["custom_attributes"] == {"plan": "pro"}
    assert by_email["row2@example.com"]["first_name"] == "First2"
    assert fake.request_count > n  # the faults were there and were retried through
    print(
        f"\nimport of {n} rows with faults: {elapsed:.2f} s, {n / elapsed:.0f} rows/s "
        f"({report['rate']} rows/s inside the run), {fake.request_count} requests"
    )


def test_import_interrupted_then_rerun_skips_confirmed_rows(tmp_path: Path) -> None:
    n = 1500
    source = tmp_path / "people.csv"
    write_csv(source, n)
    fake = FakeClickFunnels(seed=5, error_rate=0.05, drop_rate=0.02)
    result = import_(make_app(fake, interrupt_after=400), source, "--concurrency", "16", "--json")
    assert result.exit_code == 130, result.stderr
    report = json.loads(result.stdout)
    assert report["interrupted"] and report["succeeded"] < n
    assert (
        report["succeeded"] + report["failed"] + report["unfinished"] + report["not_started"] == n
    )
    assert "not done" in result.stderr and "Run the same command again" in result.stderr
    checkpoint = Path(str(source) + ".checkpoint")
    confirmed = len(checkpoint.read_text().splitlines())
    assert 0 < confirmed <= report["succeeded"]

    again = import_(make_app(fake), source, "--json")
    assert again.exit_code == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["skipped"] == confirmed and second["succeeded"] == n - confirmed
    assert not checkpoint.exists()  # complete: nothing left to resume
    emails = Counter(rec["email_address"] for rec in fake.records("contacts"))
    assert len(emails) == n and max(emails.values()) == 1


def test_import_failures_file_can_be_imported_again(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    write_csv(source, 30)
    fake = FakeClickFunnels(seed=2)
    failures = tmp_path / "failures.jsonl"
    with fake.faults(error_rate=1.0, error_statuses=(500,)):
        result = import_(make_app(fake), source, "--max-retries", "0", "--failures", str(failures))
    assert result.exit_code == 1
    assert "30 failed" in result.stderr and "InternalServerError" not in result.stdout
    lines = [json.loads(line) for line in failures.read_text().splitlines()]
    assert len(lines) == 30 and lines[0]["line"] == 2 and lines[0]["error"]["status_code"] == 500
    retry = import_(make_app(fake), failures)
    assert retry.exit_code == 0, retry.stderr
    assert len(fake.records("contacts")) == 30


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("first_name,last_name\nAda,L\n", "no email_address (or email) column"),
        ('email,first_name\na@x.com,"Ada\n', "malformed CSV"),
        ("email,nickname\na@x.com,Ada\n", "unknown column(s) 'nickname'"),
        ("email,email_address\na@x.com,a@x.com\n", "column(s) given twice: email_address"),
        ("", "the file is empty"),
    ],
)
def test_import_file_level_problems_exit_2_before_sending(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(content, encoding="utf-8")
    fake = FakeClickFunnels()
    result = import_(make_app(fake), source)
    assert result.exit_code == 2
    assert message in result.stderr
    assert fake.request_count == 0  # nothing half-done
    assert not Path(str(source) + ".checkpoint").exists()


def test_import_unreadable_and_binary_files(tmp_path: Path) -> None:
    fake = FakeClickFunnels()
    missing = import_(make_app(fake), tmp_path / "nope.csv")
    assert missing.exit_code == 2
    assert (
        missing.stderr == f"Error: cannot read {tmp_path / 'nope.csv'}: No such file or directory\n"
    )
    binary = tmp_path / "latin1.csv"
    binary.write_bytes(b"email,first_name\na@x.com,Ren\xe9e\n")
    result = import_(make_app(fake), binary)
    assert result.exit_code == 2 and "not UTF-8" in result.stderr
    assert fake.request_count == 0


# ---------------------------------------------------------------------------------------------- export


def test_export_10000_with_faults_equals_the_emulator_and_resume_gives_the_same_file(
    tmp_path: Path,
) -> None:
    fake = FakeClickFunnels(seed=4, error_rate=0.10, drop_rate=0.05)
    fake.seed(contacts=10_000)
    full = tmp_path / "full.jsonl"
    result = export(make_app(fake), full, "--max-retries", "10", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 10_000
    rows = [json.loads(line) for line in full.read_text(encoding="utf-8").splitlines()]
    assert rows == fake.records("contacts")
    assert not Path(str(full) + ".checkpoint.json").exists()

    part = tmp_path / "part.jsonl"
    cut = export(make_app(fake, interrupt_after=120), part, "--max-retries", "10")
    assert cut.exit_code == 130, cut.stderr
    assert "--resume" in cut.stderr
    checkpoint = json.loads(Path(str(part) + ".checkpoint.json").read_text())
    assert 0 < checkpoint["rows"] < 10_000 and checkpoint["cursor"]
    # A page written after the last checkpoint, as a crash could leave.
    with open(part, "ab") as file:
        file.write(b'{"half": "a page"}\n')
    resumed = export(make_app(fake), part, "--max-retries", "10", "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert part.read_bytes() == full.read_bytes()
    assert not Path(str(part) + ".checkpoint.json").exists()


def test_export_csv_with_filter_and_resume(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=9)
    fake.seed(contacts=300)
    wanted = [r for r in fake.records("contacts") if r["is_active"]]
    out = tmp_path / "active.csv"
    active = ("--filter", "is_active=true")
    cut = export(make_app(fake, interrupt_after=4), out, *active)
    assert cut.exit_code == 130
    done = export(make_app(fake), out, *active, "--resume")
    assert done.exit_code == 0, done.stderr
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["id"]) for r in rows] == [r["id"] for r in wanted]
    assert rows[0]["email_address"] == wanted[0]["email_address"]
    assert json.loads(rows[0]["custom_attributes"]) == wanted[0]["custom_attributes"]
    # A resume with other settings is refused, not mixed into the file.
    export(make_app(fake, interrupt_after=3), out)
    other = export(make_app(fake), out, "--filter", "is_active=false", "--resume")
    assert other.exit_code == 2 and "belongs to another export" in other.stderr
    assert "--restart" in other.stderr


def test_export_to_stdout_and_bad_options(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=1)
    fake.seed(contacts=25)
    result = export(make_app(fake), None, "--no-progress")
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == list(range(1, 26))
    before = fake.request_count
    bad = export(make_app(fake), None, "--filter", "colour=red")
    assert bad.exit_code == 2
    assert "--filter 'colour=red'" in bad.stderr and "email_address" in bad.stderr
    bad = export(make_app(fake), None, "--filter", "oops")
    assert bad.exit_code == 2 and "key=value" in bad.stderr
    bad = export(make_app(fake), None, "--resume")
    assert bad.exit_code == 2 and "--resume needs -o" in bad.stderr
    assert fake.request_count == before


# ---------------------------------------------------------------------------------------------- generic


def test_call_and_list_for_any_operation() -> None:
    fake = FakeClickFunnels(seed=1)
    fake.seed(contacts=5, tags=3)
    app = make_app(fake)
    got = invoke(app, ["call", "getContacts", "id=2", "--json"])
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout)["id"] == 2
    same = invoke(app, ["call", "contacts.get", "id=2", "--json"])
    assert json.loads(same.stdout) == json.loads(got.stdout)

    created = invoke(
        app,
        ["call", "contacts.tags.create", "workspace_id=42", "name=VIP", "color=#ff0000", "--json"],
    )
    assert created.exit_code == 0, created.stderr
    tag = json.loads(created.stdout)
    assert tag["name"] == "VIP"
    upserted = invoke(
        app,
        [
            "call",
            "upsertContacts",
            "workspace_id=42",
            "email_address=new@example.com",
            f"tag_ids:=[{tag['id']}]",
            "--json",
        ],
    )
    assert upserted.exit_code == 0, upserted.stderr

    listed = invoke(app, ["list", "contacts.tags", "workspace_id=42", "--json"])
    assert listed.exit_code == 0, listed.stderr
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert "VIP" in names and len(names) == 4

    filtered = invoke(
        app,
        [
            "list",
            "contacts",
            "workspace_id=42",
            "--filter",
            "email_address=new@example.com",
            "--json",
        ],
    )
    assert [json.loads(line)["email_address"] for line in filtered.stdout.splitlines()] == [
        "new@example.com"
    ]
    limited = invoke(app, ["list", "contacts", "workspace_id=42", "--limit", "2", "--json"])
    assert len(limited.stdout.splitlines()) == 2
    table = invoke(app, ["list", "contacts", "workspace_id=42", "--limit", "2"])
    assert table.exit_code == 0 and "email_address" in table.stdout

    page = invoke(app, ["call", "listContacts", "workspace_id=42", "--json"])
    assert page.exit_code == 0 and len(json.loads(page.stdout)) == 6

    deleted = invoke(app, ["call", "removeContacts", "id=1"])
    assert deleted.exit_code == 0 and "done" in deleted.stderr
    missing = invoke(app, ["call", "getContacts", "id=1"])
    assert missing.exit_code == 1 and "404" in missing.stderr


def test_generic_commands_reject_bad_input_with_exit_2() -> None:
    fake = FakeClickFunnels()
    app = make_app(fake)
    cases = [
        (
            ["call", "getContactz", "id=1"],
            "unknown operation 'getContactz'; did you mean getContacts",
        ),
        (["call", "getContacts"], "needs id=..."),
        (["call", "getContacts", "id=1", "colour=red"], "takes no 'colour'"),
        (["call", "getContacts", "id"], "write key=value"),
        (["call", "upsertContacts", "workspace_id=42", "tag_ids:=[1,"], "must be JSON"),
        (
            ["call", "listContacts", "workspace_id=42", "filter.colour=red"],
            "cannot filter on 'colour'",
        ),
        (["call", "getContacts", "id=1", "expand=everything"], "cannot expand everything"),
        (["list", "contactz"], "no list operation for 'contactz'; did you mean contacts"),
        (["list", "contacts"], "listContacts (contacts.list): --workspace-id is required"),
    ]
    for args, message in cases:
        result = invoke(app, args)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert fake.request_count == 0


def test_every_operation_is_reachable_from_the_table() -> None:
    from clickfunnels_async._generated.operation_table import OPERATIONS
    from clickfunnels_async.cli._generic import _method, find_list_operation, find_operation

    cf = ClickFunnels(api_token="t", subdomain="acme")
    for op in OPERATIONS.values():
        assert find_operation(op.id) is op
        assert callable(_method(cf, op))
        if op.paginated and op.verb == "list":
            assert find_list_operation(op.namespace).namespace == op.namespace
    listing = invoke(build_app(), ["operations", "--json"])
    assert len(listing.stdout.splitlines()) == len(OPERATIONS)


# ---------------------------------------------------------------------------------------------- auth, secrets


def test_secrets_are_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "cf_live_SUPERSECRET_1234567890"
    monkeypatch.setenv("CLICKFUNNELS_API_TOKEN", secret)
    result = invoke(
        build_app(),
        [
            "--base-url",
            "http://127.0.0.1:9",
            "--max-retries",
            "0",
            "--timeout",
            "2",
            "call",
            "getContacts",
            "id=1",
        ],
    )
    assert result.exit_code == 1
    assert "no response" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_missing_credentials_and_maton_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLICKFUNNELS_API_TOKEN", "CLICKFUNNELS_SUBDOMAIN", "MATON_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = invoke(build_app(), ["call", "getContacts", "id=1"])
    assert result.exit_code == 2 and "CLICKFUNNELS_API_TOKEN" in result.stderr
    result = invoke(build_app(), ["--maton", "call", "getContacts", "id=1"])
    assert result.exit_code == 2 and "MATON_API_KEY" in result.stderr
    result = invoke(build_app(), ["--connection", "c1", "call", "getContacts", "id=1"])
    assert result.exit_code == 2 and "add --maton" in result.stderr


def test_maton_gateway_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=contact_json(id=7, email_address="m@example.com"))

    key = "maton_SECRET_key_abcdef"
    monkeypatch.setenv("MATON_API_KEY", key)

    def factory(**kwargs: Any) -> ClickFunnels:
        return ClickFunnels.via_maton(
            connection="conn-1",
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
            **kwargs,
        )

    result = invoke(build_app(client_factory=factory), ["call", "getContacts", "id=7", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == 7
    assert (
        seen[0].url.host == "gateway.maton.ai" and seen[0].headers["Maton-Connection"] == "conn-1"
    )
    assert key not in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------- entry point


def test_main_entry_point_help() -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0


@pytest.mark.skipif(not (VENV_BIN / "clickfunnels").exists(), reason="console script not installed")
def test_console_script_against_the_emulator_served_on_loopback(tmp_path: Path) -> None:
    """`clickfunnels emulator serve` in one process, `clickfunnels ... --base-url` in another; Ctrl-C stops."""
    script = str(VENV_BIN / "clickfunnels")
    with served_emulator("--contacts", "30", command=[script]) as served:
        env = {**os.environ, "CLICKFUNNELS_API_TOKEN": served["token"]}
        env.pop("CLICKFUNNELS_SUBDOMAIN", None)
        out = tmp_path / "c.jsonl"
        done = subprocess.run(
            [
                script,
                "--base-url",
                served["url"],
                "contacts",
                "export",
                "--workspace-id",
                served["workspace_id"],
                "-o",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert (
            done.stdout == ""
            and done.stderr == "Exported 30 contacts to " + str(out) + " (0 retries).\n"
        )
        assert len(out.read_text().splitlines()) == 30


class AddsAFieldLater(httpx.AsyncBaseTransport):
    """From the second page on, contacts carry a field the first page (and the spec) did not have."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and "after" in request.url.params:
            items = json.loads(await response.aread())
            for item in items:
                item["brand_new_field"] = "x"
            return httpx.Response(response.status_code, headers=response.headers, json=items)
        return response


def test_export_csv_refuses_to_drop_a_field_that_appears_later(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=3)
    fake.seed(contacts=45)

    app = make_app(fake, wrap=AddsAFieldLater)
    result = export(app, tmp_path / "c.csv")
    assert result.exit_code == 2
    assert "brand_new_field" in result.stderr and "--format jsonl" in result.stderr
    jsonl_out = tmp_path / "c.jsonl"
    result = export(app, jsonl_out)
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in jsonl_out.read_text().splitlines()]
    assert len(rows) == 45 and rows[-1]["brand_new_field"] == "x"

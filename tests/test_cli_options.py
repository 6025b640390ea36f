"""What every `clickfunnels` command shares, as a user meets it: global options before or after the command,
--workspace-id/--filter/--limit alike on export, list and call, --version, -q/-v, the progress line,
import of an export's own file, bad rows in the failures file, the export checkpoint guard, `emulator serve`'s
options and the documented exit codes. Against the emulator, in-process or served on loopback."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cli import export, import_, invoke, make_app, served_emulator

from clickfunnels_async import __version__
from clickfunnels_async.cli import build_app
from clickfunnels_async.testing import FakeClickFunnels
from clickfunnels_async.testing.__main__ import main as emulator_main

NEEDS = (
    "--workspace-id is required (or set CLICKFUNNELS_WORKSPACE_ID); find the ids with "
    "`clickfunnels list teams`, then `clickfunnels list workspaces team_id=…`"
)
GOOD, BAD = "tok-good-1234567", "tok-bad-7654321"
WRITABLE = (
    "email_address",
    "first_name",
    "last_name",
    "phone_number",
    "time_zone",
    "fb_url",
    "twitter_url",
    "instagram_url",
    "linkedin_url",
    "website_url",
    "custom_attributes",
)
READ_ONLY_NOTE = (
    "Note: skipping the column(s) the API does not take (read-only): anonymous, created_at, "
    "email_engagement, email_suppression_reason, id, is_active, last_notification_email_sent_at, "
    "public_id, tags, unsubscribed_at, updated_at, uuid, visits, workspace_id\n"
)
SUMMARY = re.compile(
    r"(\d+) upserted, (\d+) failed, (\d+) invalid \(not sent\), (\d+) skipped \(already confirmed\) "
    r"of (\d+) rows in [\d.]+ s \(\d+ rows/s, (\d+) retries\)\n"
)


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    """The emulator on loopback, started through `clickfunnels emulator serve` with the emulator's options."""
    with served_emulator("--token", GOOD, "--contacts", "3", "--seed", "7") as info:
        yield info


def _env(**extra: str | None) -> dict[str, str | None]:
    """A user's environment: a wrong token and an unreachable base URL, which the options must beat."""
    base = {
        "CLICKFUNNELS_API_TOKEN": BAD,
        "CLICKFUNNELS_BASE_URL": "http://127.0.0.1:9",
        "CLICKFUNNELS_SUBDOMAIN": None,
        "CLICKFUNNELS_WORKSPACE_ID": None,
        "MATON_API_KEY": None,
    }
    return {**base, **extra}


# ---------------------------------------------------------------------------------------------- global options


def test_global_options_work_after_the_command_and_beat_the_environment(
    served: dict[str, str],
) -> None:
    url, ws = served["url"], served["workspace_id"]
    after = ["--base-url", url, "--api-token", GOOD, "--max-retries", "0"]
    done = invoke(build_app(), ["contacts", "export", "--workspace-id", ws, *after], env=_env())
    assert done.exit_code == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == [1, 2, 3]
    assert done.stderr == "Exported 3 contacts (0 retries).\n"

    # Without --api-token the environment's (wrong) token is used: the option was what made it work.
    refused = invoke(
        build_app(),
        ["contacts", "export", "--workspace-id", ws, "--base-url", url, "--max-retries", "0"],
        env=_env(),
    )
    assert refused.exit_code == 1 and "401" in refused.stderr
    assert BAD not in refused.stdout + refused.stderr

    # Before and after: the later one wins, as for any repeated option.
    both = invoke(
        build_app(),
        ["--api-token", BAD, "call", "getContacts", "id=2", "--json", "--api-token", GOOD],
        env=_env(CLICKFUNNELS_BASE_URL=url),
    )
    assert both.exit_code == 0, both.stderr
    assert json.loads(both.stdout)["id"] == 2 and both.stderr == ""

    # A flag after the command: --maton with no key set is bad input, reported before sending.
    maton = invoke(build_app(), ["call", "getContacts", "id=1", "--maton"], env=_env())
    assert maton.exit_code == 2 and "MATON_API_KEY" in maton.stderr
    # -q after the command: nothing but the data.
    quiet = invoke(
        build_app(),
        ["list", "contacts", "--workspace-id", ws, "--json", "-q"],
        env=_env(CLICKFUNNELS_BASE_URL=url, CLICKFUNNELS_API_TOKEN=GOOD),
    )
    assert quiet.exit_code == 0 and quiet.stderr == "" and len(quiet.stdout.splitlines()) == 3


def test_version_and_documented_exit_codes() -> None:
    version = invoke(build_app(), ["--version"])
    assert version.exit_code == 0 and version.stdout == f"clickfunnels-async {__version__}\n"
    module = subprocess.run(
        [sys.executable, "-m", "clickfunnels_async.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == 0 and module.stdout == version.stdout
    helped = invoke(build_app(), ["--help"])
    text = " ".join(helped.stdout.split())
    assert (
        "Exit codes: 0 done; 1 the API refused something or some rows failed (see the failures "
        "file); 2 bad input (option, file, header, operation), nothing sent; 130 interrupted (run "
        "again to resume)." in text
    )
    assert "--api-token" in text and "--verbose" in text and "--quiet" in text


def test_emulator_serve_takes_the_options_of_python_m_testing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        emulator_main(["--help"])
    module_help = capsys.readouterr().out
    cli_help = invoke(build_app(), ["emulator", "serve", "--help"])
    assert cli_help.exit_code == 0
    assert cli_help.stdout.startswith("usage: clickfunnels emulator serve ")
    options = set(re.findall(r"--[a-z-]+", module_help))
    assert options >= {"--host", "--port", "--seed", "--latency", "--rate-limit", "--token"}
    assert set(re.findall(r"--[a-z-]+", cli_help.stdout)) == options
    bad = invoke(build_app(), ["emulator", "serve", "--port", "eighty"])
    assert bad.exit_code == 2 and "invalid int value: 'eighty'" in bad.stderr


# ---------------------------------------------------------------------------------------------- one style


def test_workspace_id_filter_and_limit_alike_on_export_list_and_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeClickFunnels(seed=2)
    fake.seed(contacts=45, tags=2)
    app = make_app(fake)
    email = fake.records("contacts")[4]["email_address"]
    by_filter = ["--workspace-id", "42", "--filter", f"email_address={email}", "--json"]
    listed = invoke(app, ["list", "contacts", *by_filter])
    called = invoke(app, ["call", "listContacts", *by_filter])
    exported = export(app, None, "--filter", f"email_address={email}")
    assert json.loads(called.stdout) == [json.loads(listed.stdout)] == [json.loads(exported.stdout)]

    limited = invoke(
        app, ["call", "listContacts", "--workspace-id", "42", "--limit", "30", "--json"]
    )
    assert [c["id"] for c in json.loads(limited.stdout)] == list(range(1, 31))
    assert limited.stderr == ""  # the limit cut a page: no cursor to resume from
    whole = invoke(app, ["call", "listContacts", "--workspace-id", "42", "--limit", "20", "--json"])
    assert len(json.loads(whole.stdout)) == 20 and whole.stderr == "next page: after=20\n"
    listed = invoke(app, ["list", "contacts", "--workspace-id", "42", "--limit", "30", "--json"])
    assert [json.loads(line) for line in listed.stdout.splitlines()] == json.loads(limited.stdout)

    before = fake.request_count
    for args, message in [
        (
            ["call", "getContacts", "id=1", "--workspace-id", "42"],
            "getContacts (contacts.get) takes no workspace id; drop --workspace-id",
        ),
        (
            ["call", "getContacts", "id=1", "--limit", "3"],
            "--limit applies to list operations; getContacts returns one item",
        ),
        (
            ["list", "contacts", "workspace_id=41", "--workspace-id", "42"],
            "workspace_id=41 and --workspace-id 42 disagree; give one",
        ),
        (["list", "contacts.tags"], f"listContactsTags (contacts.tags.list): {NEEDS}"),
    ]:
        result = invoke(app, args)
        assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n"), args
    assert fake.request_count == before

    # CLICKFUNNELS_WORKSPACE_ID is the default where an operation takes a workspace, ignored elsewhere.
    monkeypatch.setenv("CLICKFUNNELS_WORKSPACE_ID", "42")
    tags = invoke(app, ["list", "contacts.tags", "--json"])
    assert tags.exit_code == 0 and len(tags.stdout.splitlines()) == 2
    one = invoke(app, ["call", "getContacts", "id=3", "--json"])
    assert one.exit_code == 0 and json.loads(one.stdout)["id"] == 3
    assert len(export(app, None).stdout.splitlines()) == 45


# ---------------------------------------------------------------------------------------------- -q, -v, progress


def test_retries_are_counted_quietly_and_shown_with_verbose(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=3, error_rate=0.5)
    fake.seed(contacts=100)
    out = tmp_path / "c.jsonl"
    plain = export(make_app(fake), out, "--max-retries", "20", "--json")
    assert plain.exit_code == 0, plain.stderr
    retries = json.loads(plain.stdout)["retries"]
    assert retries > 0 and plain.stderr == ""  # the SDK's retry log is not printed by default

    shown = export(make_app(fake), out, "--max-retries", "20", "--json", "-v")
    lines = shown.stderr.splitlines()
    assert lines and all(" INFO clickfunnels_async] Retrying GET " in line for line in lines)
    assert json.loads(shown.stdout)["retries"] == len(lines)
    debug = export(make_app(fake), out, "-vv", "--max-retries", "20")
    assert "HTTP request GET" in debug.stderr and "Retrying GET" in debug.stderr
    assert fake.token not in debug.stderr

    quiet = export(make_app(fake), None, "-q", "--max-retries", "20")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert len(quiet.stdout.splitlines()) == 100
    missing = invoke(make_app(fake), ["-q", "call", "getContacts", "id=999", "--max-retries", "20"])
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: ")  # errors still show
    assert "404" in missing.stderr


def test_progress_line_has_rate_eta_and_retries_on_stderr_only(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=5, error_rate=0.3)
    fake.seed(contacts=60)
    # The test's stderr is no terminal: no progress unless asked for.
    assert export(make_app(fake), None, "--max-retries", "20").stderr.count("\n") == 1
    shown = export(make_app(fake), None, "--progress", "--max-retries", "20")
    assert shown.exit_code == 0
    assert [json.loads(line)["id"] for line in shown.stdout.splitlines()] == list(range(1, 61))
    bar = shown.stderr.splitlines()[0]
    assert re.search(r"Exporting contacts 60 rows [\d,]+ rows/s \d:\d\d:\d\d \d+ retries$", bar), (
        bar
    )

    source = tmp_path / "c.csv"
    export(make_app(fake), source)
    imported = import_(make_app(FakeClickFunnels()), source, "--progress", "--json")
    bar = imported.stderr.splitlines()[1]
    assert re.search(
        r"Importing contacts .* 60/60 [\d,]+ rows/s \d:\d\d:\d\d ETA \d:\d\d:\d\d 0 retries$", bar
    ), bar
    assert json.loads(imported.stdout)["succeeded"] == 60
    silenced = import_(make_app(FakeClickFunnels()), source, "--no-progress", "-q")
    assert silenced.exit_code == 0 and silenced.stderr == ""


# ---------------------------------------------------------------------------------------------- import of an export


def _writable(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["email_address"]: {k: r.get(k) for k in WRITABLE} for r in records}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_then_import_into_a_fresh_emulator_gives_the_same_contacts(
    tmp_path: Path, suffix: str
) -> None:
    origin = FakeClickFunnels(seed=8)
    origin.seed(contacts=70)
    source = tmp_path / f"contacts{suffix}"
    assert export(make_app(origin), source).exit_code == 0
    fresh = FakeClickFunnels(seed=1)
    result = import_(make_app(fresh), source)
    assert result.exit_code == 0, result.stderr
    note, summary = result.stderr.splitlines(keepends=True)
    if suffix == ".csv":
        assert note == READ_ONLY_NOTE
    else:  # what the records hold of those fields
        assert note.startswith("Note: skipping the column(s) the API does not take (read-only): ")
        assert "id, " in note and "created_at" in note and "email_address" not in note
    found = SUMMARY.fullmatch(summary)
    assert found is not None and found.groups() == ("70", "0", "0", "0", "70", "0"), summary
    assert _writable(fresh.records("contacts")) == _writable(origin.records("contacts"))


def test_unknown_columns_exit_2_unless_ignored(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text("email,nickname,id\na@example.com,Al,7\n", encoding="utf-8")
    fake = FakeClickFunnels()
    refused = import_(make_app(fake), source)
    assert refused.exit_code == 2 and fake.request_count == 0
    assert refused.stderr.startswith(f"Error: {source}, header: unknown column(s) 'nickname'; use ")
    assert refused.stderr.endswith("or skip them with --ignore-columns nickname\n")
    done = import_(make_app(fake), source, "--ignore-columns", "nickname,id")
    assert done.exit_code == 0 and SUMMARY.fullmatch(done.stderr) is not None  # no note: asked for
    assert [r["email_address"] for r in fake.records("contacts")] == ["a@example.com"]


# ---------------------------------------------------------------------------------------------- bad rows


def test_bad_rows_go_to_the_failures_file_with_line_and_reason(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    rows = [
        ["email", "first_name", "tag_ids"],
        ["ok1@example.com", "One", ""],
        ["not-an-email", "Two", ""],
        ["", "Three", ""],
        ["ok4@example.com", "Four", "one;two"],
        ["ok5@example.com", "Five", "", "extra"],
        ["ok6@example.com", "Six", "1;2"],
    ]
    with open(source, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    fake = FakeClickFunnels()
    failures = tmp_path / "failed.jsonl"
    result = import_(make_app(fake), source, "--failures", str(failures))
    assert result.exit_code == 1
    reasons = {
        3: "line 3: email_address 'not-an-email' is not an email address",
        4: "line 4: no email_address (contacts are matched by email)",
        5: "line 5: tag_ids must be numbers separated by ';', not 'one;two'",
        6: "line 6: 4 fields, but the header has 3",
    }
    lines = result.stderr.splitlines()
    assert lines[:4] == [f"{reason}; not sent" for reason in reasons.values()]
    found = SUMMARY.fullmatch(lines[4] + "\n")
    assert found is not None and found.groups() == ("2", "0", "4", "0", "6", "0")
    assert lines[5:] == [
        f"Failed and invalid rows are in {failures}; fix and import that file to retry them."
    ]
    records = [json.loads(line) for line in failures.read_text().splitlines()]
    assert [(r["status"], r["line"], r["error"]["message"]) for r in records] == [
        ("invalid", line, reason) for line, reason in reasons.items()
    ]
    assert records[0]["input"] == {
        "email_address": "not-an-email",
        "first_name": "Two",
        "tag_ids": "",
    }
    assert sorted(r["email_address"] for r in fake.records("contacts")) == [
        "ok1@example.com",
        "ok6@example.com",
    ]

    # Fixed in the failures file, it imports (its rows are read from the "input" of each record).
    records[0]["input"]["email_address"] = "two@example.com"
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(json.dumps(records[0]) + "\n", encoding="utf-8")
    again = import_(make_app(fake), fixed)
    assert again.exit_code == 0, again.stderr
    assert "two@example.com" in {r["email_address"] for r in fake.records("contacts")}


def test_a_line_that_is_not_json_is_a_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"email_address": "a@example.com"}\n{oops\n', encoding="utf-8")
    fake = FakeClickFunnels()
    result = import_(make_app(fake), source, "--json")
    assert result.exit_code == 1
    assert result.stderr.startswith("line 2: not JSON (")
    report = json.loads(result.stdout)
    assert (report["succeeded"], report["invalid"], report["rows"]) == (1, 1, 2)


# ---------------------------------------------------------------------------------------------- export checkpoint


def test_export_refuses_to_overwrite_a_checkpoint_without_resume_or_restart(tmp_path: Path) -> None:
    fake = FakeClickFunnels(seed=6)
    fake.seed(contacts=90)
    out = tmp_path / "c.jsonl"
    checkpoint = Path(str(out) + ".checkpoint.json")
    assert export(make_app(fake, interrupt_after=3), out).exit_code == 130
    saved, partial = checkpoint.read_bytes(), out.read_bytes()
    before = fake.request_count

    refused = export(make_app(fake), out)
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"Error: {checkpoint} is there: an export to {out} was interrupted. "
        "Add --resume to continue it, or --restart to start over\n"
    )
    both = export(make_app(fake), out, "--resume", "--restart")
    assert (
        both.exit_code == 2
        and both.stderr == "Error: --resume continues, --restart starts over: give one\n"
    )
    assert (checkpoint.read_bytes(), out.read_bytes(), fake.request_count) == (
        saved,
        partial,
        before,
    )

    restarted = export(make_app(fake), out, "--restart")
    assert restarted.exit_code == 0 and not checkpoint.exists()
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == list(range(1, 91))

"""Nothing lost, nothing duplicated, every input one honest result: bulk writes and pagination against the
fault server (tests/faultserver.py), over a real loopback socket where the socket matters (issue 15, point 9
and its Tests section)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from faultserver import FaultPlan, FaultyFake

from clickfunnels_async import ClickFunnels, PaginationError, RetryPolicy, bulk
from clickfunnels_async.testing import FakeClickFunnels
from clickfunnels_async.testing import _rules as emulator_resources

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01, jitter=0.1)
# No 429s here: they are refusals, never ambiguous, and the client's adaptive pacing (tested with the
# transport) would slow a run under a random 3 % of them to a crawl.
WRITE_FAULTS = dict(
    error_before=0.03,
    drop_before=0.03,
    error_after=0.06,
    drop_after=0.06,
    slow_after=0.03,
    slow_seconds=1.0,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs in the test's event loop


@pytest.fixture
def without_unique_emails(monkeypatch: pytest.MonkeyPatch) -> None:
    # A server that does not refuse a second contact with the same email: then only the SDK stands
    # between an ambiguous create and a duplicate.
    monkeypatch.setitem(emulator_resources.UNIQUE, "contacts", ())


def figures(results: list[Any], emails: list[str], fake: FakeClickFunnels) -> dict[str, int]:
    """What a user would need to know: lost, duplicated, reconciled, unreported (failed but there)."""
    stored = Counter(str(r["email_address"]).lower() for r in fake.records("contacts"))
    by_index = {r.index: r for r in results}
    lost = sum(1 for r in results if r.ok and stored[emails[r.index]] == 0)
    unreported = sum(
        1 for r in results if not r.ok and not r.maybe_applied and stored[emails[r.index]] > 0
    )
    return {
        "rows": len(emails),
        "results": len(results),
        "distinct_results": len(by_index),
        "lost": lost,
        "duplicated": sum(n - 1 for n in stored.values() if n > 1),
        "reconciled": sum(1 for r in results if r.ok and r.reconciled),
        "failed": sum(1 for r in results if not r.ok),
        "unreported": unreported,
    }


async def run_writes(
    cf: ClickFunnels, method: str, emails: list[str], *, reconcile: bool | None = None, **kw: Any
) -> tuple[list[Any], bulk.Summary[Any]]:
    rows = [{"email_address": e, "first_name": f"N{i}"} for i, e in enumerate(emails)]
    fn = getattr(cf.contacts, method)
    out: list[Any] = []
    async with bulk.run(
        fn, rows, concurrency=32, workspace_id=42, reconcile=reconcile, **kw
    ) as results:
        async for result in results:
            out.append(result)
    return out, results.summary


@pytest.mark.anyio
async def test_1000_creates_over_a_socket_with_faults_lose_and_duplicate_nothing(
    without_unique_emails: None,
) -> None:
    fake = FakeClickFunnels(seed=21)
    faulty = FaultyFake(fake, FaultPlan(seed=21, **WRITE_FAULTS))
    emails = [f"create{i}@example.com" for i in range(1000)]
    async with faulty.serve(limit=60) as url:
        cf = ClickFunnels(fake.token, base_url=url, retry_policy=FAST, max_retries=3, timeout=0.25)
        async with cf:
            results, summary = await run_writes(cf, "create", emails)
    got = figures(results, emails, fake)
    assert got["results"] == got["distinct_results"] == 1000  # every input exactly one result
    assert got["lost"] == 0 and got["duplicated"] == 0 and got["unreported"] == 0
    assert (
        faulty.injected["error_after"]
        and faulty.injected["drop_after"]
        and faulty.injected["slow_after"]
    )
    assert got["reconciled"] > 0 and summary.reconciled == got["reconciled"]
    assert summary.succeeded + summary.failed == 1000
    assert "reconciled" in str(summary)


@pytest.mark.anyio
async def test_5000_upserts_with_faults_lose_nothing_and_report_reconciled_counts() -> None:
    fake = FakeClickFunnels(seed=22)
    faulty = FaultyFake(fake, FaultPlan(seed=22, **WRITE_FAULTS))
    emails = [f"upsert{i}@example.com" for i in range(5000)]
    async with faulty.client(retry_policy=FAST, max_retries=1, timeout=5) as cf:
        results, summary = await run_writes(cf, "upsert", emails)
    got = figures(results, emails, fake)
    assert got["results"] == got["distinct_results"] == 5000
    assert got["lost"] == 0 and got["duplicated"] == 0 and got["unreported"] == 0
    assert summary.reconciled + summary.resent > 0
    stored = {r["email_address"]: r for r in fake.records("contacts")}
    for r in results:
        if r.ok:
            assert stored[emails[r.index]]["first_name"] == f"N{r.index}"  # the write is in place


@pytest.mark.anyio
async def test_without_reconciliation_ambiguous_creates_are_reported_as_maybe_applied(
    without_unique_emails: None, tmp_path: Path
) -> None:
    fake = FakeClickFunnels(seed=23)
    faulty = FaultyFake(fake, FaultPlan(seed=23, error_after=0.2, drop_after=0.1))
    emails = [f"plain{i}@example.com" for i in range(400)]
    failures = tmp_path / "failed.jsonl"
    async with faulty.client(retry_policy=FAST, max_retries=2) as cf:
        results, summary = await run_writes(
            cf, "create", emails, reconcile=False, failures=failures
        )
        got = figures(results, emails, fake)
        # Honest: every failure that might have been applied says so, and none that says "not applied"
        # exists (the ambiguity is reported, not resolved, when reconciliation is off).
        assert got["unreported"] == 0 and got["failed"] > 0
        assert summary.maybe_applied == sum(1 for r in results if not r.ok and r.maybe_applied) > 0
        records = [json.loads(line) for line in failures.read_text().splitlines()]
        assert sum(rec["maybe_applied"] for rec in records) == summary.maybe_applied
        assert {rec["index"] for rec in records} == {r.index for r in results if not r.ok}

        # Re-running the failures file (faults off) never duplicates what the first run did create.
        present = {c["email_address"] for c in fake.records("contacts")}
        created_anyway = sum(1 for r in results if not r.ok and emails[r.index] in present)
        assert created_anyway > 0  # the ambiguity is real: some "failed" creates exist
        faulty.plan = FaultPlan()
        again, second = await run_writes_from(cf, failures)
    assert second.failed == 0 and second.reconciled == created_anyway
    assert all(isinstance(r.input, dict) for r in again)  # results carry the input, not its wrapper
    stored = Counter(r["email_address"] for r in fake.records("contacts"))
    assert all(n == 1 for n in stored.values()) and set(stored) == set(emails)


async def run_writes_from(cf: ClickFunnels, failures: Path) -> tuple[list[Any], bulk.Summary[Any]]:
    out: list[Any] = []
    async with bulk.run(
        cf.contacts.create, bulk.read_failures(failures), workspace_id=42
    ) as results:
        async for result in results:
            out.append(result)
    return out, results.summary


def test_reconcile_true_needs_a_natural_key() -> None:
    cf = ClickFunnels("tok_reconcile_123456", subdomain="acme")
    with pytest.raises(ValueError, match="natural key"):
        bulk.run(cf.contacts.update, [], reconcile=True)

    async def custom(**kw: Any) -> None:
        return None

    with pytest.raises(ValueError, match="natural key"):
        bulk.run(custom, [], reconcile=True)
    assert bulk.run(cf.contacts.create, [])._target is not None  # on by default where it applies
    assert bulk.run(cf.contacts.create, [], reconcile=False)._target is None


# ------------------------------------------------------------------ pagination


def read_all(cf: ClickFunnels) -> Any:
    async def go() -> tuple[list[int], list[PaginationError]]:
        seen: list[int] = []
        errors: list[PaginationError] = []
        cursor: str | None = None
        for _ in range(
            200
        ):  # bounded: each pass either ends the list or raises with a resume cursor
            pass_ids: list[int] = []
            try:
                async for contact in cf.contacts.list(42, after=cursor):
                    pass_ids.append(contact.id)
            except PaginationError as exc:
                assert exc.cursor is not None
                errors.append(exc)
                cursor = exc.cursor
                assert pass_ids == sorted(set(pass_ids))  # within a pass, every item once, in order
                seen += pass_ids
                continue
            assert pass_ids == sorted(set(pass_ids))
            seen += pass_ids
            return seen, errors
        raise AssertionError("pagination did not finish")

    return go()


@pytest.mark.anyio
@pytest.mark.parametrize(("empty", "repeat"), [(0.05, 0.0), (0.0, 0.03), (0.05, 0.02), (0.7, 0.0)])
async def test_5000_items_with_empty_pages_and_repeated_cursors_every_item_or_a_resume_cursor(
    empty: float, repeat: float
) -> None:
    fake = FakeClickFunnels(seed=24)
    fake.seed(contacts=5000)
    expected = sorted(r["id"] for r in fake.records("contacts"))
    faulty = FaultyFake(fake, FaultPlan(seed=24, empty_page=empty, repeat_cursor=repeat))
    async with faulty.client(retry_policy=FAST) as cf:
        seen, errors = await read_all(cf)
    assert sorted(set(seen)) == expected  # never a silent short read
    if repeat:
        assert faulty.injected["repeat_cursor"] and errors
    if empty:
        assert faulty.injected["empty_page"]
    if empty >= 0.5:
        assert errors  # too many empty pages in a row: a typed error with the cursor, then resumed
    extra = len(seen) - len(expected)
    assert extra <= sum(1 for e in errors if "twice" in str(e)) * 100  # only a re-read page repeats


@pytest.mark.anyio
async def test_pagination_over_a_socket_with_faults() -> None:
    fake = FakeClickFunnels(seed=25)
    fake.seed(contacts=1000)
    faulty = FaultyFake(fake, FaultPlan(seed=25, empty_page=0.1, repeat_cursor=0.05))
    async with (
        faulty.serve(limit=60) as url,
        ClickFunnels(fake.token, base_url=url, retry_policy=FAST) as cf,
    ):
        seen, errors = await read_all(cf)
    assert sorted(set(seen)) == sorted(r["id"] for r in fake.records("contacts"))
    assert all(isinstance(e, PaginationError) and e.cursor for e in errors)
    assert isinstance(httpx.URL(url).port, int)

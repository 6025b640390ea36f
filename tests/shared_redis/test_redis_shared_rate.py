"""4 processes x 16 tasks against one emulator limited to 50 requests/s, sharing one RedisRateBudget."""

from __future__ import annotations

import uuid

import pytest
from redis_procs import emulator

from benchmarks.shared_budget import combined, run_processes

pytestmark = pytest.mark.timeout(180)


def test_four_processes_share_one_budget_fairly_and_surface_no_429(redis_url: str) -> None:
    seconds = 6.0
    with emulator("--seed", "3", "--contacts", "3", "--rate-limit", "50") as emu:
        reports = run_processes(
            emu.url, emu.token, redis_url=redis_url, key=uuid.uuid4().hex, seconds=seconds
        )
    figures = combined(reports, seconds)
    assert all(r["shared"] for r in reports)  # every process stayed on the shared budget
    assert figures["surfaced_429"] == 0 and figures["other_errors"] == 0
    # Fair: each process got about a quarter of the calls once the budget was shared (after 2 s).
    assert 0.20 <= figures["share_min"] <= figures["share_max"] <= 0.30, reports

"""The clickfunnels_fake fixture in a throwaway test project, run by pytest in a subprocess as a user's
suite would be: under anyio's plugin, and under pytest-asyncio in strict and auto mode with function and
module loops."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pytest_asyncio")

USES_THE_FAKE = """
    async with clickfunnels_fake.client() as cf:
        contact = await cf.contacts.create(clickfunnels_fake.workspace_id, email_address="{email}")
        assert (await cf.contacts.get(contact.id)).email_address == "{email}"
"""


def run_project(tmp_path: Path, ini: str, tests: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(ini))
    (tmp_path / "test_user.py").write_text(textwrap.dedent(tests))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CLICKFUNNELS_"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnraisableExceptionWarning",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def body(email: str) -> str:
    return textwrap.indent(textwrap.dedent(USES_THE_FAKE.format(email=email)), "    ")


def test_fixture_under_pytest_asyncio_strict_mode(tmp_path: Path) -> None:
    tests = f"""
import pytest

@pytest.mark.asyncio
async def test_function_loop(clickfunnels_fake):
{body("a@example.com")}

@pytest.mark.clickfunnels_fake(seed=5)
@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop(clickfunnels_fake):
    assert clickfunnels_fake._seed_value == 5
{body("b@example.com")}

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_again(clickfunnels_fake):
{body("c@example.com")}
"""
    done = run_project(
        tmp_path,
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n",
        tests,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_fixture_under_pytest_asyncio_auto_mode(tmp_path: Path) -> None:
    tests = f"""
import pytest

async def test_unmarked(clickfunnels_fake):
{body("a@example.com")}

@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop(clickfunnels_fake):
{body("b@example.com")}
"""
    done = run_project(
        tmp_path,
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
        tests,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_fixture_under_anyio_plugin_asyncio_and_trio(tmp_path: Path) -> None:
    tests = f"""
import pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param

@pytest.mark.anyio
async def test_anyio(clickfunnels_fake):
{body("a@example.com")}
"""
    done = run_project(tmp_path, "[pytest]\n", tests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_fixture_in_a_sync_test_says_what_to_do(tmp_path: Path) -> None:
    done = run_project(tmp_path, "[pytest]\n", "def test_sync(clickfunnels_fake):\n    pass\n")
    assert done.returncode != 0
    assert "@pytest.mark.anyio" in done.stdout + done.stderr

"""The PostgreSQL half of the suite: skipped in one line without a server, required under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parent.parent
NO_SERVER = "postgresql+psycopg://postgres@127.0.0.1:1/test"  # port 1: refused at once


def pytest_run() -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env.update(TEST_DATABASE_URL=NO_SERVER)
    return subprocess.run(  # our own interpreter, on our own tests
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "tests/reports/test_roles.py::test_a_clean_stop_hands_the_role_on_at_once",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_server_the_sqlite_half_runs_and_one_line_says_so() -> None:
    result = pytest_run()
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "PostgreSQL runs skipped" in line]
    assert lines == [
        f"PostgreSQL runs skipped: no server at {NO_SERVER} (set TEST_DATABASE_URL; CI requires it)"
    ]


def test_under_ci_a_missing_server_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process: what the run above shows, with CI set, is this failure of the fixture.
    monkeypatch.setattr(conftest, "POSTGRES_URL", NO_SERVER)
    monkeypatch.setattr(conftest, "UNDER_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI requires it"), conftest.postgres_schema():
        pass

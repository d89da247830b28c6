"""Shared fixtures: the one clock, a real BrowserStack sandbox on loopback, clients pointed at it.

Every test that needs "today" takes it from the ``clock`` fixture. ``pytest --today 2027-01-01``
moves that clock, and with it the whole stack (sandbox, Slack stand-in, bot), to another date;
CI runs the suite once on the real date and once on a date that crosses a year boundary.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.browserstack.client import BrowserStackClient, RetryPolicy
from bot.browserstack.ratelimit import TokenBucket
from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.clock import Clock, ShiftedClock
from bot.stack import SANDBOX_ACCESS_KEY, SANDBOX_USERNAME

USERNAME, ACCESS_KEY = SANDBOX_USERNAME, SANDBOX_ACCESS_KEY
FAST_RETRY = RetryPolicy(
    attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0, timeout=30, rate_limited_wait=0.2
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--today",
        type=dt.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="run the whole stack on this date (the clock keeps the real time of day)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    today = config.getoption("--today")
    return f"today: {today} (--today)" if today else "today: the real date"


@pytest.fixture(autouse=True)
def own_data_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's own user data folder (XDG_DATA_HOME, inherited by the bot processes it
    starts): a run without DATABASE_URL makes its SQLite file there, never in the home folder of
    whoever runs the suite, and no two tests share one."""
    folder = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> ShiftedClock:
    """The clock of everything a test runs: the real time, or moved to ``--today``."""
    today: dt.date | None = request.config.getoption("--today")
    return ShiftedClock.on(today) if today else ShiftedClock()


# PostgreSQL for the tests: a server with trust authentication, as on the development machines
# and CI (TEST_DATABASE_URL names another). Each test gets a schema of its own, dropped after.
# Under CI the PostgreSQL runs are required; elsewhere they are skipped, with one line saying so,
# when no server answers.
POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_postgres_down: list[str] = []
_UNREACHABLE = "PostgreSQL is not reachable"


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL on PostgreSQL whose tables go to a fresh schema of their own."""
    if _postgres_down and not UNDER_CI:
        pytest.skip(f"{_UNREACHABLE} at {POSTGRES_URL}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as error:
        admin.dispose()
        reason = f"{_UNREACHABLE} at {POSTGRES_URL}: {str(error.orig).strip()}"
        if UNDER_CI:
            pytest.fail(f"{reason} (CI requires it; TEST_DATABASE_URL names the server)")
        _postgres_down.append(reason)
        pytest.skip(reason)
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The skips' reasons, not ``_postgres_down``: under xdist the tests ran in other processes.
    skipped = terminalreporter.stats.get("skipped", [])
    if any(_UNREACHABLE in str(report.longrepr) for report in skipped):
        terminalreporter.write_line(
            "PostgreSQL runs skipped: no server at "
            f"{POSTGRES_URL} (set TEST_DATABASE_URL; CI requires it)"
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a schema of its own on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bot.sqlite"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on PostgreSQL: for what only a database server can do (replicas)."""
    with postgres_schema() as url:
        yield url


class FakeTimer:
    """A monotonic timer that only moves when told; ``wait`` advances it instead of sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def wait(self, seconds: float) -> bool:
        self.advance(seconds)
        return False


@pytest.fixture
def fake_timer() -> FakeTimer:
    return FakeTimer()


SandboxFactory = Callable[..., SandboxServer]


@pytest.fixture
def sandbox_factory(clock: ShiftedClock) -> Iterator[SandboxFactory]:
    """Start sandboxes with config overrides, on the test's clock; all stop after the test."""
    servers: list[SandboxServer] = []

    def start(**overrides: object) -> SandboxServer:
        config = SandboxConfig(
            username=USERNAME,
            access_key=ACCESS_KEY,
            users=300,
            seed=7,
            queued_seconds=0.05,
            processing_seconds=0.05,
            rate_limit=False,
            clock=clock,
        )
        server = SandboxServer(replace(config, **overrides), host="127.0.0.1", port=0)  # type: ignore[arg-type]  # overrides are SandboxConfig fields
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    return sandbox_factory()


def make_client(base_url: str, *, clock: Clock, **overrides: object) -> BrowserStackClient:
    """A client with fast retries and its own (not the process-wide) limiter."""
    options: dict[str, object] = {
        "base_url": base_url,
        "username": USERNAME,
        "access_key": ACCESS_KEY,
        "retry": FAST_RETRY,
        "budget": TokenBucket(burst=1000, per_minute=600_000),
        "clock": clock,
    }
    options.update(overrides)
    return BrowserStackClient(**options)  # type: ignore[arg-type]  # options are keyword arguments


def make_sandbox_client(server: SandboxServer, **overrides: object) -> BrowserStackClient:
    """A client of ``server`` on the server's clock: they agree on the date."""
    return make_client(server.url, clock=server.config.clock, **overrides)

"""Fixtures for the tests that run real ``python -m bot serve`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.browserstack.sandbox import SandboxServer
from bot.clock import SystemClock
from bot.slack.standin import SlackStandIn
from bot.stack import BOT_TOKEN, SANDBOX_ACCESS_KEY, SANDBOX_USERNAME, SIGNING_SECRET
from tests.cli import clean_environment
from tests.conftest import SandboxFactory
from tests.processes.harness import CHANNEL, ServeProcess
from tests.slack.harness import PEOPLE


@pytest.fixture
def sandbox_options() -> dict[str, object]:
    """The sandbox's settings beyond the defaults below (a module overrides this fixture)."""
    return {}


@pytest.fixture
def world(
    sandbox_factory: SandboxFactory, sandbox_options: dict[str, object]
) -> Iterator[tuple[SandboxServer, SlackStandIn]]:
    clock = SystemClock()
    options: dict[str, object] = {"queued_seconds": 0.3, "processing_seconds": 0.3}
    sandbox = sandbox_factory(clock=clock, **(options | sandbox_options))
    with SlackStandIn(
        bot_token=BOT_TOKEN, users=PEOPLE, member_channels={CHANNEL}, clock=clock
    ) as standin:
        yield sandbox, standin


@pytest.fixture
def bot_database(tmp_path: Path) -> str:
    """The database the bots share: a SQLite file (the replica tests override it)."""
    return f"sqlite:///{tmp_path / 'bot.sqlite'}"


@pytest.fixture
def bot_env(world: tuple[SandboxServer, SlackStandIn], bot_database: str) -> dict[str, str]:
    """The environment of every bot process of a test: the world's sandbox, stand-in, database."""
    sandbox, standin = world
    return clean_environment(
        dict(
            BROWSERSTACK_USERNAME=SANDBOX_USERNAME,
            BROWSERSTACK_ACCESS_KEY=SANDBOX_ACCESS_KEY,
            BROWSERSTACK_API_URL=sandbox.url,
            BROWSERSTACK_RATE_BURST="1000",
            BROWSERSTACK_RATE_PER_MINUTE="600000",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=standin.api_url,
            DATABASE_URL=bot_database,
            PORT="0",
            REPORT_POLL_INITIAL_SECONDS="0.05",
            REPORT_POLL_MAX_SECONDS="0.2",
            SCHEDULER_TICK_SECONDS="0.2",
            # A killed instance's leases are taken over half a second after its last heartbeat.
            INSTANCE_STALE_SECONDS="0.5",
        )
    )


@pytest.fixture
def start_bot(bot_env: dict[str, str]) -> Iterator[Callable[..., ServeProcess]]:
    """Start a ``serve`` on the test's world; keywords override its environment."""
    started: list[ServeProcess] = []

    def start(**overrides: str) -> ServeProcess:
        bot = ServeProcess(bot_env | overrides)
        started.append(bot)
        return bot

    yield start
    for number, bot in enumerate(started, 1):
        bot.stop()
        # Captured: pytest shows it when the test fails.
        print(f"--- serve #{number} ---\n" + "".join(bot.log[-200:]))

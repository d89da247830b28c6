"""The end-to-end fixtures: the Slack stand-in, and the bot between it and a sandbox."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.browserstack.sandbox import SandboxServer
from bot.clock import ShiftedClock
from bot.slack.standin import SlackStandIn
from bot.stack import BOT_TOKEN, LoopbackStack
from tests.conftest import FAST_RETRY, SandboxFactory
from tests.slack.harness import CHANNEL, FAST, PEOPLE, StackFactory, work_state

_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test itself failed (for its fixtures' teardown)."""
    return bool(request.node.stash.get(_CALL_FAILED, False))


@pytest.fixture
def standin(clock: ShiftedClock) -> Iterator[SlackStandIn]:
    with SlackStandIn(
        bot_token=BOT_TOKEN, users=PEOPLE, member_channels={CHANNEL}, clock=clock
    ) as server:
        yield server


@pytest.fixture
def make_stack(
    sandbox_factory: SandboxFactory,
    standin: SlackStandIn,
    tmp_path: Path,
    clock: ShiftedClock,
    request: pytest.FixtureRequest,
) -> Iterator[StackFactory]:
    """Start the bot between a sandbox (the default one, or the test's) and the stand-in."""
    stacks: list[LoopbackStack] = []

    def start(sandbox: SandboxServer | None = None, **settings: Any) -> LoopbackStack:
        stack = LoopbackStack(
            clock=clock,
            database=tmp_path / "bot.sqlite",
            sandbox=sandbox or sandbox_factory(),
            standin=standin,
            settings={**FAST, **settings},
            retry=FAST_RETRY,
        ).start()
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        if stack.running and failed(request):
            # What the bot was doing, beside the stand-in's calls in the failure report.
            print(work_state(stack))
        stack.close()


@pytest.fixture
def stack(make_stack: StackFactory) -> LoopbackStack:
    return make_stack()

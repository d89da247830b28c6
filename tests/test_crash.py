"""Crashes: a real ``python -m bot serve`` killed with SIGKILL at each window, then started again.

The bot is a child process on the real clock (it makes its own, as in production), so the
sandbox and the Slack stand-in it talks to run on the real clock too, whatever ``--today`` says.
After the restart every request must be answered by exactly one message: an answer resumed after
the kill edits the message it replaces (the placeholder, through response_url or chat.update),
so at most the message being written at the kill is written again, in place.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.browserstack.sandbox import SandboxServer
from bot.clock import SystemClock
from bot.reports.store import RequestState, requests
from bot.slack.standin import AppDriver, SlackStandIn
from bot.stack import BOT_TOKEN, SANDBOX_ACCESS_KEY, SANDBOX_USERNAME, SIGNING_SECRET
from tests.conftest import SandboxFactory
from tests.slack.harness import CHANNEL, PEOPLE

PEOPLE_IDS = list(PEOPLE)[:2]  # two full members (the third is a guest)
_LISTENING = re.compile(r"listening on http://[^:]+:(\d+)/slack/events")


class ServeProcess:
    """``python -m bot serve`` in HTTP mode, as a child; ``kill`` is SIGKILL, no goodbye."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # our own interpreter and module
            [sys.executable, "-m", "bot", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_port()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            self.lines.put(line)

    def _wait_for_port(self) -> str:
        while True:
            try:
                line = self.lines.get(timeout=30)
            except queue.Empty:
                raise AssertionError("serve did not start:\n" + "".join(self.log)) from None
            if match := _LISTENING.search(line):
                return f"http://127.0.0.1:{match[1]}/slack/events"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def world(sandbox_factory: SandboxFactory) -> Iterator[tuple[SandboxServer, SlackStandIn]]:
    clock = SystemClock()
    sandbox = sandbox_factory(clock=clock, queued_seconds=0.3, processing_seconds=0.3)
    with SlackStandIn(
        bot_token=BOT_TOKEN, users=PEOPLE, member_channels={CHANNEL}, clock=clock
    ) as standin:
        yield sandbox, standin


@pytest.fixture
def start_bot(
    world: tuple[SandboxServer, SlackStandIn], tmp_path: Path
) -> Iterator[Callable[[], ServeProcess]]:
    sandbox, standin = world
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROWSERSTACK_", "SLACK_"))}
    env.update(
        BROWSERSTACK_USERNAME=SANDBOX_USERNAME,
        BROWSERSTACK_ACCESS_KEY=SANDBOX_ACCESS_KEY,
        BROWSERSTACK_API_URL=sandbox.url,
        BROWSERSTACK_RATE_BURST="1000",
        BROWSERSTACK_RATE_PER_MINUTE="600000",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=standin.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite'}",
        PORT="0",
        REPORT_POLL_INITIAL_SECONDS="0.05",
        REPORT_POLL_MAX_SECONDS="0.2",
        SCHEDULER_TICK_SECONDS="0.05",
        # A killed instance's leases are taken over half a second after its last heartbeat.
        INSTANCE_STALE_SECONDS="0.5",
    )
    started: list[ServeProcess] = []

    def start() -> ServeProcess:
        bot = ServeProcess(env)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()


def ask(url: str, standin: SlackStandIn, texts: list[str]) -> list[int]:
    """Send every command at once, as many people would; the HTTP status of each ack."""
    with AppDriver(url, SIGNING_SECRET, standin) as driver, ThreadPoolExecutor(10) as pool:
        return list(
            pool.map(
                lambda item: (
                    driver.command(
                        item[1], user=PEOPLE_IDS[item[0] % 2], channel=CHANNEL
                    ).status_code
                ),
                enumerate(texts),
            )
        )


def request_ids(database: Path) -> list[str]:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(requests.c.id)).scalars())
    finally:
        engine.dispose()


def wait_until_all_answered(database: Path, standin: SlackStandIn, count: int) -> None:
    """Until the database holds ``count`` requests, all answered (the stand-in sees each)."""
    engine = sa.create_engine(f"sqlite:///{database}")
    try:

        def done(_: SlackStandIn) -> bool:
            with engine.connect() as connection:
                states = Counter(connection.execute(sa.select(requests.c.state)).scalars())
            return states == {RequestState.ANSWERED.value: count}

        standin.wait_for(done, timeout=60, recheck=0.1)
    finally:
        engine.dispose()


def answers_by_request(standin: SlackStandIn) -> Counter[str]:
    """How many messages people see that answer each request (an edit is the same message)."""
    seen = {m.ts: m for user in PEOPLE_IDS for m in standin.visible_to(user, CHANNEL)}
    counts: Counter[str] = Counter()
    for message in seen.values():
        blocks = str(message.blocks)
        if ":hourglass" not in blocks:
            counts.update(set(re.findall(r"'value': '([0-9a-f]{32})'", blocks)))
    return counts


def assert_each_answered_once(standin: SlackStandIn, ids: list[str]) -> None:
    counts = answers_by_request(standin)
    assert set(ids) <= set(counts), f"never answered: {set(ids) - set(counts)}"
    # Answering again after the kill edits the message in place (replace_original, chat.update):
    # never a second message.
    assert {rid: n for rid, n in counts.items() if n > 1} == {}


def test_kill_right_after_the_acks(
    start_bot: Callable[[], ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    tmp_path: Path,
) -> None:
    _, standin = world
    first = start_bot()
    texts = ["teams", "idle", "top 5", "team Acme team"] * 5
    assert ask(first.url, standin, texts) == [200] * len(texts)
    first.kill()  # acknowledged, and nothing more: the work after the ack dies with it
    ids = request_ids(tmp_path / "bot.sqlite")
    assert len(ids) == len(texts)  # every acknowledged question was stored first

    start_bot()
    wait_until_all_answered(tmp_path / "bot.sqlite", standin, len(texts))
    assert_each_answered_once(standin, ids)


def test_kill_mid_poll(
    start_bot: Callable[[], ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    tmp_path: Path,
) -> None:
    sandbox, standin = world
    first = start_bot()
    assert ask(first.url, standin, ["teams"] * 4) == [200] * 4
    # "queued" is shown once the job's id is stored: from then on, polling is what is left.
    standin.wait_for(lambda s: any("queued" in str(c.args) for c in s.calls_to("response_url")))
    first.kill()  # the job is queued at BrowserStack, and nobody polls it

    start_bot()
    wait_until_all_answered(tmp_path / "bot.sqlite", standin, 4)
    assert_each_answered_once(standin, request_ids(tmp_path / "bot.sqlite"))
    assert sandbox.stats.jobs_created == 1  # the same job was picked up, not made again


@pytest.mark.parametrize("periods", [1, 5], ids=["one shared report", "five reports"])
def test_kill_mid_answer(
    start_bot: Callable[[], ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    tmp_path: Path,
    periods: int,
) -> None:
    _, standin = world
    first = start_bot()
    texts = [f"teams last {7 + n % periods}d" for n in range(12)]
    texts[3], texts[9] = texts[3] + " public", texts[9] + " public"
    # Slack answers slowly: answering 12 people takes a second, and the kill lands among them.
    standin.slow_down("response_url", 0.1)
    standin.slow_down("chat.update", 0.1)
    assert ask(first.url, standin, texts) == [200] * len(texts)
    standin.wait_for(lambda s: sum(answers_by_request(s).values()) >= 4, timeout=30)
    first.kill()
    standin.slow_down("response_url", 0)
    standin.slow_down("chat.update", 0)

    start_bot()
    wait_until_all_answered(tmp_path / "bot.sqlite", standin, len(texts))
    ids = request_ids(tmp_path / "bot.sqlite")
    assert_each_answered_once(standin, ids)
    # Public answers replace their recorded placeholder: never a second message in the channel.
    public = [m for m in standin.channel_messages(CHANNEL) if not m.ephemeral]
    assert len(public) == 2

"""Real ``python -m bot serve`` processes on loopback, for the crash and replica tests.

Each is a child process on the real clock, with the BrowserStack sandbox and the Slack stand-in
in the test process (on the real clock too: the child makes its own). ``kill`` is SIGKILL.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from bot.reports.store import RequestState, requests
from bot.slack.standin import AppDriver, SlackStandIn
from bot.slack.standin.server import Msg
from bot.stack import SIGNING_SECRET
from tests.slack.harness import CHANNEL, PEOPLE

__all__ = ["CHANNEL"]

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


def request_ids(database: str) -> list[str]:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(requests.c.id)).scalars())
    finally:
        engine.dispose()


def wait_until_all_answered(database: str, standin: SlackStandIn, count: int) -> None:
    """Until the database holds ``count`` requests, all answered (the stand-in sees each)."""
    engine = sa.create_engine(database)
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
    """Every request in ``ids`` has exactly one message answering it."""
    counts = answers_by_request(standin)
    assert set(ids) <= set(counts), f"never answered: {set(ids) - set(counts)}"
    # Answering again after a kill edits the message in place (replace_original, chat.update):
    # never a second message.
    assert {rid: n for rid, n in counts.items() if n > 1} == {}


def bot_posts(standin: SlackStandIn) -> list[Msg]:
    """The bot's own top-level posts in the channel (the digest): the answers are private or in
    threads, and people's messages are theirs."""
    return [
        m
        for m in standin.channel_messages(CHANNEL)
        if not m.ephemeral and not m.thread_ts and m.user not in PEOPLE_IDS
    ]

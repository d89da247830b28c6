"""Crashes: a real ``python -m bot serve`` killed with SIGKILL at each window, then started again.

The bot is a child process on the real clock (it makes its own, as in production), so the
sandbox and the Slack stand-in it talks to run on the real clock too, whatever ``--today`` says.
After the restart every request must be answered by exactly one message: an answer resumed after
the kill edits the message it replaces (the placeholder, through response_url or chat.update),
so at most the message being written at the kill is written again, in place.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from bot.browserstack.sandbox import SandboxServer
from bot.reports.store import datasets
from bot.slack.standin import SlackStandIn
from tests.processes.harness import (
    CHANNEL,
    ServeProcess,
    answers_by_request,
    ask,
    assert_each_answered_once,
    request_ids,
    wait_until_all_answered,
)


def test_kill_right_after_the_acks(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_database: str,
) -> None:
    _, standin = world
    first = start_bot()
    texts = ["teams", "idle", "top 5", "team Acme team"] * 5
    assert ask(first.url, standin, texts) == [200] * len(texts)
    first.kill()  # acknowledged, and nothing more: the work after the ack dies with it
    ids = request_ids(bot_database)
    assert len(ids) == len(texts)  # every acknowledged question was stored first

    start_bot()
    wait_until_all_answered(bot_database, standin, len(texts))
    assert_each_answered_once(standin, ids)


def test_kill_mid_poll(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_database: str,
) -> None:
    sandbox, standin = world
    first = start_bot()
    assert ask(first.url, standin, ["teams"] * 4) == [200] * 4
    # Once both jobs' ids (the team report's, the user report's) are stored, polling is what is
    # left: a create in flight at the kill could not be named, and would be made again.
    engine = sa.create_engine(bot_database)
    try:

        def both_queued(_: SlackStandIn) -> bool:
            with engine.connect() as connection:
                ids = connection.execute(sa.select(datasets.c.job_id)).scalars().all()
            return len(ids) == 2 and all(ids)

        standin.wait_for(both_queued, timeout=30, recheck=0.05)
    finally:
        engine.dispose()
    first.kill()  # the jobs are queued at BrowserStack, and nobody polls them

    start_bot()
    wait_until_all_answered(bot_database, standin, 4)
    assert_each_answered_once(standin, request_ids(bot_database))
    assert sandbox.stats.jobs_created == 2  # the same jobs (team, user) were picked up again


@pytest.mark.parametrize("periods", [1, 5], ids=["one shared report", "five reports"])
def test_kill_mid_answer(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_database: str,
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
    wait_until_all_answered(bot_database, standin, len(texts))
    ids = request_ids(bot_database)
    assert_each_answered_once(standin, ids)
    # Public answers replace their recorded placeholder: never a second message in the channel.
    public = [m for m in standin.channel_messages(CHANNEL) if not m.ephemeral]
    assert len(public) == 2

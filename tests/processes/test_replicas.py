"""Three ``serve`` replicas on one PostgreSQL, the one running the schedule killed mid-burst.

Any replica acknowledges and records what it receives; the work is shared through leases in the
database; one replica holds the schedule role (the weekly digest). When it dies with -9, the
others take its leased work and its role over once its heartbeats are ``stale``, and every
request is still answered exactly once, within the account's BrowserStack budget, with one
digest. ``bench/replicas.py`` measures the takeover with the default settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from bot.browserstack.sandbox import SandboxServer
from bot.reports.store import Store
from bot.scheduling import SCHEDULE_ROLE
from bot.slack.standin import AppDriver, SlackStandIn
from bot.stack import SIGNING_SECRET
from tests.processes.harness import (
    CHANNEL,
    PEOPLE_IDS,
    ServeProcess,
    ask,
    assert_each_answered_once,
    bot_posts,
    request_ids,
    wait_until_all_answered,
)

BURST, PER_MINUTE = 5, 600.0
TEXTS = ["teams", "idle", "top 5", "team Acme team", "teams last 7d", "teams last 14d"]


@pytest.fixture
def bot_database(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def sandbox_options() -> dict[str, object]:
    return {"rate_limit": True, "rate_burst": BURST, "rate_per_minute": PER_MINUTE}


@pytest.fixture
def store(bot_database: str) -> Iterator[Store]:
    engine = sa.create_engine(bot_database)
    yield Store(engine)
    engine.dispose()


def test_replicas_share_the_work_and_survive_the_schedulers_death(
    store: Store,
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_database: str,
) -> None:
    sandbox, standin = world

    def holder() -> str | None:
        return store.role_holder(SCHEDULE_ROLE)[0]

    env = {
        # One token short of the sandbox's burst. A replica that took a token and was then kept
        # off the CPU (seven processes on this suite's two cores) sends late, beside the tokens
        # of the next burst: once in some ten runs here, the sandbox saw six at once (one 429).
        # Three budgets of their own could still send twelve at once, the sandbox taking five.
        "BROWSERSTACK_RATE_BURST": str(BURST - 1),
        "BROWSERSTACK_RATE_PER_MINUTE": str(PER_MINUTE),
        "DIGEST_CHANNEL": CHANNEL,
        "DIGEST_CRON": "* * * * *",  # due now, whatever the day: posted once this week
        # Longer than the other process tests: three processes and PostgreSQL on a busy
        # machine must not take each other for dead.
        "INSTANCE_STALE_SECONDS": "3",
    }
    with ThreadPoolExecutor(3) as pool:  # at once, as a deploy starts them
        replicas = list(pool.map(lambda _: start_bot(**env), range(3)))
    standin.wait_for(lambda _: holder(), timeout=30, recheck=0.1)
    leader_id = holder()
    assert leader_id is not None
    (leader,) = [r for r in replicas if f"-{r.process.pid}-" in leader_id]
    others = [r for r in replicas if r is not leader]

    texts = [TEXTS[n % len(TEXTS)] for n in range(100)]
    # Round robin over the three, as a load balancer would: the first half, then the kill.
    for number, replica in enumerate(replicas):
        assert ask(replica.url, standin, texts[number:50:3]) == [200] * len(texts[number:50:3])
    leader.kill()
    killed_at = time.monotonic()
    for number, replica in enumerate(others):
        rest = texts[50 + number :: 2]
        assert ask(replica.url, standin, rest) == [200] * len(rest)

    # A mention reaches one replica, and Slack's retry of it another: one request, not two.
    parent = standin.record_user_message(channel=CHANNEL, user=PEOPLE_IDS[0], text="Acme?")
    with AppDriver(others[0].url, SIGNING_SECRET, standin) as first:
        first.mention("team Acme team", user=PEOPLE_IDS[0], channel=CHANNEL, thread_ts=parent.ts)
        event = first.last_event
    assert event is not None
    with AppDriver(others[1].url, SIGNING_SECRET, standin) as second:
        assert second.event(event, retry_num=1).status_code == 200

    standin.wait_for(lambda _: holder() not in (None, leader_id), timeout=30, recheck=0.05)
    print(f"schedule taken over {time.monotonic() - killed_at:.1f} s after the kill")
    wait_until_all_answered(bot_database, standin, len(texts) + 1)
    ids = request_ids(bot_database)
    assert len(ids) == 101  # every request stored before its ack: a second mention would be here
    assert_each_answered_once(standin, ids)
    assert sandbox.stats.rate_limited == 0

    standin.wait_for(bot_posts, timeout=30)
    posts = bot_posts(standin)
    assert len(posts) == 1
    assert "idle" in posts[0].text.lower()

"""One BrowserStack budget for every process on an account, against a sandbox that sends 429s.

BrowserStack counts an account's requests whichever process sends them. The sandbox here keeps
BrowserStack's limit (a burst of 5, then a steady rate, sped up to keep the tests short) and the
bots are told the same limit: any process that spends more than the account has meets a 429,
which the sandbox counts. Each test fails when every process has a budget of its own.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from bot.browserstack.sandbox import SandboxServer
from bot.slack.standin import SlackStandIn
from tests.processes.harness import (
    CHANNEL,
    ServeProcess,
    ask,
    assert_each_answered_once,
    bot_posts,
    request_ids,
    wait_until_all_answered,
)

BURST = 5


def limit(per_minute: float) -> dict[str, str]:
    """The bots' settings for the sandbox's limit."""
    return {"BROWSERSTACK_RATE_BURST": str(BURST), "BROWSERSTACK_RATE_PER_MINUTE": str(per_minute)}


def sandbox_limit(per_minute: float) -> dict[str, object]:
    return {"rate_limit": True, "rate_burst": BURST, "rate_per_minute": per_minute}


# Two tokens a second: the second or so a restart takes gives back about two, so a process that
# started with a burst of five of its own would meet 429s.
@pytest.mark.parametrize("sandbox_options", [sandbox_limit(120)], ids=["120 a minute"])
def test_a_restart_mid_burst_spends_what_is_left_not_a_new_burst(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_database: str,
) -> None:
    sandbox, standin = world
    first = start_bot(**limit(120))
    # Three reports (three periods): a create, a poll or two and a download each.
    texts = [f"teams last {days}d" for days in range(7, 10)]
    assert ask(first.url, standin, texts) == [200] * len(texts)
    standin.wait_for(lambda _: sandbox.stats.requests >= BURST, timeout=30)
    first.kill()  # the burst is spent, at BrowserStack and in the database

    start_bot(**limit(120))
    wait_until_all_answered(bot_database, standin, len(texts))
    assert_each_answered_once(standin, request_ids(bot_database))
    assert sandbox.stats.rate_limited == 0


@pytest.mark.parametrize("sandbox_options", [sandbox_limit(600)], ids=["600 a minute"])
def test_serve_fetch_and_digest_at_once_share_the_account(
    start_bot: Callable[..., ServeProcess],
    world: tuple[SandboxServer, SlackStandIn],
    bot_env: dict[str, str],
    bot_database: str,
) -> None:
    sandbox, standin = world
    env = bot_env | limit(600) | {"DIGEST_CHANNEL": CHANNEL}
    bot = start_bot(**env)
    others = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bot", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["fetch", "team", "--format", "csv"], ["digest", "--post"])
    ]
    texts = [f"teams last {days}d" for days in range(7, 11)]
    assert ask(bot.url, standin, texts) == [200] * len(texts)

    for other in others:
        _, errors = other.communicate(timeout=60)
        assert other.returncode == 0, errors
    wait_until_all_answered(bot_database, standin, len(texts))
    assert_each_answered_once(standin, request_ids(bot_database))
    assert sandbox.stats.rate_limited == 0
    # The answers are private: the one message the channel sees is the digest's summary.
    posts = bot_posts(standin)
    assert len(posts) == 1, [m.text for m in posts]
    assert "idle" in posts[0].text.lower()

"""The App Home tab, subscriptions and alerts end to end (issue 12): signed events and commands
in, views and messages at the Slack stand-in out, the sandbox behind, the clock injected."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.clock import ShiftedClock
from bot.home.store import schedule_claims
from bot.stack import LoopbackStack
from tests.slack.harness import ANA, BEN, CHANNEL, StackFactory, wait_answer


def _text(view: dict[str, Any] | None) -> str:
    return str(view["blocks"]) if view else ""


def _wait_view(stack: LoopbackStack, user: str, needle: str, *, after: int = 0) -> dict[str, Any]:
    def found(s: Any) -> dict[str, Any] | None:
        views = s.home_views(user)[after:]
        return next((v for v in reversed(views) if needle in str(v["blocks"])), None)

    return stack.standin.wait_for(found)


def test_member_home_says_refreshing_then_shows_the_numbers(stack: LoopbackStack) -> None:
    assert stack.driver.open_home(user=ANA).status_code == 200
    first = stack.standin.wait_for(lambda s: s.home_view(ANA))
    assert "Refreshing" in _text(first)
    full = _wait_view(stack, ANA, "Me this month")
    assert "Refreshing" not in _text(full)
    assert "My team" in _text(full)
    assert "Last test" in _text(full)
    assert "Organisation (admins)" not in _text(full)  # Ana is no admin
    assert stack.sandbox.stats.jobs_created == 2  # this month's team and user reports


def test_home_from_the_cache_publishes_once_and_asks_nothing(stack: LoopbackStack) -> None:
    stack.driver.open_home(user=ANA)
    _wait_view(stack, ANA, "Me this month")
    jobs, requests = stack.sandbox.stats.jobs_created, stack.sandbox.stats.requests
    seen = len(stack.standin.home_views(BEN))
    stack.driver.open_home(user=BEN)
    view = stack.standin.wait_for(lambda s: s.home_views(BEN)[seen:])
    # From the cache: one publish, the full view at once, and BrowserStack never asked.
    assert len(view) == 1
    assert "Refreshing" not in _text(view[0])
    assert "Me this month" in _text(view[0])
    assert stack.sandbox.stats.jobs_created == jobs
    assert stack.sandbox.stats.requests == requests


def test_admin_home_shows_seats_money_parallels_and_the_digest(make_stack: StackFactory) -> None:
    stack = make_stack(
        reclaim_admins=ANA,
        seat_prices="live=39,app-live=49",
        parallel_prices="automate=150",
        digest_channel=CHANNEL,
    )
    stack.driver.open_home(user=ANA)
    view = _text(_wait_view(stack, ANA, "Licensed seats this month"))
    assert "Licensed seats this month" in view
    assert "Live" in view and "idle of" in view
    assert "a month" in view  # the prices are set: idle seats cost money
    assert "Parallels: peak against allocation" in view
    assert "Weekly digest" in view and "Next:" in view
    assert "home_ask_idle" in view  # the admins' button
    # Ben is no admin: his tab has no admin part, from the same cache.
    stack.driver.open_home(user=BEN)
    ben = _text(_wait_view(stack, BEN, "Me this month"))
    assert "Organisation (admins)" not in ben
    assert "home_ask_idle" not in ben

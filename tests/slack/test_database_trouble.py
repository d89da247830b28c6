"""The database locked by another process: nothing is lost, /healthz says so, the bot recovers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from bot.stack import LoopbackStack
from tests.slack.harness import ANA, BEN, CHANNEL, StackFactory, wait_answer


def eventually(condition: Callable[[], bool], *, timeout: float = 15.0) -> None:
    """Until ``condition()`` holds: the bot is another thread, reacting to a real lock."""
    waiter = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        waiter.wait(0.05)
    raise AssertionError(f"{condition.__qualname__} did not hold within {timeout} s")


def healthz(stack: LoopbackStack) -> int:
    return httpx.get(f"{stack.http.url}/healthz", timeout=5).status_code


def test_a_locked_database_delays_work_turns_healthz_503_and_loses_nothing(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack(health_stale_seconds=0.5)
    assert healthz(stack) == 200
    stack.driver.command("teams", user=ANA, channel=CHANNEL)  # in flight when the lock comes

    # Another process takes SQLite's write lock and keeps it.
    locker = sqlite3.connect(tmp_path / "bot.sqlite", isolation_level=None, timeout=5)
    locker.execute("BEGIN IMMEDIATE")
    try:
        # A question that cannot be stored is refused at once, with a reason: never dropped.
        refused = stack.driver.command("idle", user=BEN, channel=CHANNEL).json()
        assert "can't take requests right now" in refused["text"]
        assert "try again" in str(refused["blocks"]).lower()
        eventually(lambda: healthz(stack) == 503)
    finally:
        locker.execute("COMMIT")
        locker.close()

    eventually(lambda: healthz(stack) == 200)  # by itself, with the next tick
    wait_answer(stack.standin, ANA, "All teams")  # the request in flight was answered
    stack.driver.command("idle", user=BEN, channel=CHANNEL)
    wait_answer(stack.standin, BEN, "idle")
    eventually(lambda: stack.bot.store.open_requests() == 0)

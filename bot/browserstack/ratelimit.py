"""Request budgets: the gate every BrowserStack request passes through.

BrowserStack allows a burst of 5 requests, then 15 a minute (one every 4 s), per account. A
``Budget`` with the same shape keeps the bot under that limit however many reports run at once.
Two kinds implement it:

- ``TokenBucket``, in memory: one process's budget (tests, and the sandbox server, which uses
  it to enforce the limit);
- ``bot.budget.SharedBudget``, in ``DATABASE_URL``: one budget for every process that uses the
  same account (``serve`` replicas, ``fetch``, ``digest``, a restarted process).

``take`` never sleeps: it grants a token, or says how long until one is due, so that a caller
that must not hold its thread (the work loop) can come back later, and one that may (the
command line) can sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Budget(Protocol):
    """A request budget shared by everything that calls one account."""

    def take(self) -> float:
        """Take a token and return 0.0; or, when none is left, the seconds until one is due
        (nothing taken)."""
        ...

    def drain(self) -> None:
        """BrowserStack answered 429: whatever was counted, the account's budget is spent."""
        ...


# Requests reach BrowserStack a little later, and in a slightly different order, than they leave
# our budget (connection set-up, network jitter); if both budgets refilled at exactly the same
# pace, that jitter alone could trigger a 429. Each of our tokens therefore takes this much longer.
NETWORK_MARGIN = 0.25


def with_margin(per_minute: float, margin: float = NETWORK_MARGIN) -> float:
    """``per_minute`` slowed by ``margin`` seconds a token: the pace our budgets refill at."""
    return 60.0 / (60.0 / per_minute + margin)


class TokenBucket:
    """``burst`` tokens at most, refilled at ``per_minute`` tokens a minute; thread-safe."""

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_minute > 0")
        self.burst = burst
        self.per_minute = per_minute
        self._interval = 60.0 / per_minute
        self._timer = timer
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = timer()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed / self._interval)
        self._updated = now

    def take(self) -> float:
        """Take a token now (0.0), or the seconds until one is due (nothing taken)."""
        with self._lock:
            self._refill(self._timer())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) * self._interval

    def drain(self) -> None:
        with self._lock:
            self._refill(self._timer())
            self._tokens = min(self._tokens, 0.0)

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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Rate:
    """The token arithmetic of a budget: ``burst`` tokens at most, ``per_minute`` added a minute."""

    burst: int
    per_minute: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_minute <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_minute > 0")

    @property
    def interval(self) -> float:
        """Seconds between two tokens."""
        return 60.0 / self.per_minute

    def refilled(self, tokens: float, elapsed: float) -> float:
        """``tokens`` after ``elapsed`` seconds (none added for time gone backwards)."""
        return min(float(self.burst), tokens + max(0.0, elapsed) / self.interval)

    def take(self, tokens: float) -> tuple[float, float]:
        """(tokens left, 0.0) when one is there to take; else (``tokens``, seconds until one)."""
        if tokens >= 1.0:
            return tokens - 1.0, 0.0
        return tokens, (1.0 - tokens) * self.interval


class TokenBucket:
    """A ``Rate`` in this process's memory; thread-safe."""

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = Rate(burst, per_minute)
        self._timer = timer
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = timer()

    def _refill(self) -> None:
        now = self._timer()
        self._tokens = self.rate.refilled(self._tokens, now - self._updated)
        self._updated = now

    def take(self) -> float:
        """Take a token now (0.0), or the seconds until one is due (nothing taken)."""
        with self._lock:
            self._refill()
            self._tokens, wait = self.rate.take(self._tokens)
            return wait

    def drain(self) -> None:
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)

"""The one clock: every decision about the date or the time of day reads it.

One clock is made per process (``bot.runtime`` for ``serve``, once per CLI command) and handed to
everything that needs "now": the BrowserStack client and its sandbox, the report service, the
scheduler, Slack delivery, the front desk, the access cache and the digest. No other module asks
the operating system for the date (``tests/test_clock.py`` fails if one does); time spans that
only bound a wait (timeouts, rate-limit refills) use ``time.monotonic``, which no date depends on.

Three kinds:

- ``SystemClock``: the real time, in UTC. Production.
- ``ShiftedClock``: the real time moved by an offset. It still ticks, so every real wait (the
  scheduler's, a socket's) passes as usual, while every date the stack computes is the shifted
  one: this is how the whole stack runs "on 2027-01-02" (``pytest --today``), and how a test
  skips past a deadline (``advance``) without sleeping.
- ``ManualClock``: stands still until told to move. Unit tests of pure steps.
"""

from __future__ import annotations

import abc
import datetime as dt
import threading


class Clock(abc.ABC):
    """Tells the time: aware UTC datetimes, and the dates derived from them."""

    @abc.abstractmethod
    def now(self) -> dt.datetime:
        """The current time, aware, in UTC."""

    def today(self) -> dt.date:
        """Today's date in UTC."""
        return self.now().date()

    def timestamp(self) -> float:
        """Seconds since the epoch: Slack's request timestamps and message ts."""
        return self.now().timestamp()


class SystemClock(Clock):
    """The real time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ShiftedClock(Clock):
    """The real time plus an offset that ``advance`` and ``travel_to`` move; thread-safe."""

    def __init__(self, offset: dt.timedelta = dt.timedelta(0)) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    @classmethod
    def on(cls, day: dt.date) -> ShiftedClock:
        """A clock whose today is ``day``, at the real time of day."""
        real = dt.datetime.now(dt.UTC)
        return cls(dt.datetime.combine(day, real.timetz()) - real)

    @property
    def offset(self) -> dt.timedelta:
        with self._lock:
            return self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        """Jump ahead (a negative number goes back)."""
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return f"ShiftedClock(now={self.now().isoformat(timespec='seconds')})"


class ManualClock(Clock):
    """A clock that stands still until ``advance`` or ``set`` moves it; thread-safe."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock keeps aware datetimes: give start a tzinfo")
        self._now = start.astimezone(dt.UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += dt.timedelta(seconds=seconds)

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(dt.UTC)

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"

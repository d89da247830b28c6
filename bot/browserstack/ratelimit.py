"""A thread-safe token bucket: the one gate every BrowserStack request passes through.

BrowserStack allows a burst of 5 requests, then 15 a minute (one every 4 s). A shared bucket with
the same shape keeps the whole process under that limit however many reports run at once, so the
bot never causes a 429 by itself. The sandbox server uses the same class to enforce the limit.

Waiting is FIFO by reservation: a caller takes the next free slot under the lock and sleeps until
it outside the lock, so slow callers never hold up the bucket and no caller starves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``burst`` tokens at most, refilled at ``per_minute`` tokens a minute."""

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if burst < 1 or per_minute <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_minute > 0")
        self.burst = burst
        self.per_minute = per_minute
        self._interval = 60.0 / per_minute
        self._timer = timer
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = timer()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed / self._interval)
        self._updated = now

    def reserve(self) -> float:
        """Take a token, possibly from the future; return how long to wait before using it."""
        with self._lock:
            now = self._timer()
            self._refill(now)
            self._tokens -= 1.0
            # A negative balance is a queue of reservations; each waits for its token to refill.
            return 0.0 if self._tokens >= 0 else -self._tokens * self._interval

    def acquire(self) -> float:
        """Block until a request may be sent; return the time waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def try_acquire(self) -> bool:
        """Take a token only if one is available now (the sandbox's server-side check)."""
        with self._lock:
            self._refill(self._timer())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def retry_after(self) -> float:
        """Seconds until a token will be available."""
        with self._lock:
            self._refill(self._timer())
            return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) * self._interval

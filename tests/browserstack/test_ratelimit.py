"""The token bucket every BrowserStack request passes through, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from bot.browserstack.client import shared_rate_limiter
from bot.browserstack.ratelimit import TokenBucket
from tests.conftest import FakeTimer


def test_burst_then_one_every_interval(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=15, timer=fake_timer, sleep=fake_timer.advance)
    started = fake_timer()
    waits = [bucket.acquire() for _ in range(8)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 4, 4, 4])
    assert fake_timer() - started == pytest.approx(12)


def test_reservations_queue_in_order(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=15, timer=fake_timer)
    waits = [bucket.reserve() for _ in range(8)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 4, 8, 12])


def test_idle_time_refills_up_to_the_burst_only(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=15, timer=fake_timer)
    for _ in range(5):
        assert bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.retry_after() == pytest.approx(4)
    fake_timer.advance(3600)
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]


def test_concurrent_callers_never_exceed_the_rate(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=60, timer=fake_timer)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = bucket.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 50 requests at once: 5 go now, the other 45 are spread one a second.
    assert sorted(waits) == pytest.approx([0] * 5 + [float(n) for n in range(1, 46)])


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(burst=0, per_minute=15)


def test_shared_limiter_is_one_per_account_and_slower_than_the_server() -> None:
    a = shared_rate_limiter(account=("https://api.test", "owner"))
    assert shared_rate_limiter(account=("https://api.test", "owner")) is a
    assert shared_rate_limiter(account=("https://api.test", "other")) is not a
    # 15 a minute is one every 4 s; ours leave one every 4.25 s to absorb network jitter.
    assert a.burst == 5
    assert 60 / a.per_minute == pytest.approx(4.25)

"""Token arithmetic, and the in-memory bucket (one process's budget, and the sandbox's limit)."""

from __future__ import annotations

import threading

import pytest

from bot.browserstack.ratelimit import Rate, TokenBucket, with_margin
from tests.conftest import FakeTimer


def test_burst_then_one_token_every_interval(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=15, timer=fake_timer)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == pytest.approx(4)  # nothing taken: the caller comes back in 4 s
    fake_timer.advance(3)
    assert bucket.take() == pytest.approx(1)
    fake_timer.advance(1)
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(4)


def test_idle_time_refills_up_to_the_burst_only(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=15, timer=fake_timer)
    for _ in range(5):
        bucket.take()
    fake_timer.advance(3600)
    assert [bucket.take() == 0.0 for _ in range(6)] == [True] * 5 + [False]


def test_drain_empties_the_bucket_after_a_429(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=15, timer=fake_timer)
    bucket.drain()
    assert bucket.take() == pytest.approx(4)


def test_concurrent_takers_never_exceed_the_budget(fake_timer: FakeTimer) -> None:
    bucket = TokenBucket(burst=5, per_minute=60, timer=fake_timer)
    granted: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        ok = bucket.take() == 0.0
        with lock:
            granted.append(ok)

    threads = [threading.Thread(target=take) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 5  # the burst, and not one more while time stands still


def test_invalid_limits() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(burst=0, per_minute=15)


def test_our_pace_is_a_little_slower_than_browserstacks() -> None:
    # 15 a minute is one every 4 s; ours leave one every 4.25 s to absorb network jitter.
    assert 60 / with_margin(15) == pytest.approx(4.25)


@pytest.mark.parametrize(
    ("tokens", "elapsed", "refilled"),
    [
        (0.0, 4.0, 1.0),  # one token every 4 s at 15 a minute
        (2.5, 2.0, 3.0),
        (4.0, 3600.0, 5.0),  # never beyond the burst
        (1.0, -10.0, 1.0),  # a clock gone backwards adds nothing
    ],
)
def test_rate_refills_at_its_pace_up_to_the_burst(
    tokens: float, elapsed: float, refilled: float
) -> None:
    assert Rate(5, 15).refilled(tokens, elapsed) == pytest.approx(refilled)


@pytest.mark.parametrize(
    ("tokens", "left", "wait"),
    [(5.0, 4.0, 0.0), (1.0, 0.0, 0.0), (0.5, 0.5, 2.0), (0.0, 0.0, 4.0), (-1.0, -1.0, 8.0)],
)
def test_rate_take_spends_a_token_or_says_when_one_is_due(
    tokens: float, left: float, wait: float
) -> None:
    assert Rate(5, 15).take(tokens) == pytest.approx((left, wait))


@pytest.mark.parametrize(("burst", "per_minute"), [(0, 15), (5, 0), (5, -1)])
def test_a_rate_needs_a_burst_and_a_pace(burst: int, per_minute: float) -> None:
    with pytest.raises(ValueError, match="burst >= 1 and per_minute > 0"):
        Rate(burst, per_minute)

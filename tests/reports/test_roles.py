"""The schedule role: one of many instances runs the digest; another takes over when it dies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import Engine

from bot.clock import ManualClock, ShiftedClock
from bot.reports.leases import Leases
from bot.reports.store import Store
from bot.scheduling import SCHEDULE_ROLE, Worker
from bot.storage import open_database

STALE = 15.0


@pytest.fixture
def still(clock: ShiftedClock) -> ManualClock:
    return ManualClock(clock.now())


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


def beat_and_hold(store: Store, leases: Leases) -> bool:
    """What an instance's heartbeat does."""
    store.heartbeat(leases.owner, now=leases.clock.now())
    return store.hold_role(SCHEDULE_ROLE, leases.take(leases.stale))


def test_one_holder_while_it_beats_then_the_next_takes_over(
    store: Store, still: ManualClock
) -> None:
    first = Leases("first", still, stale=STALE)
    second = Leases("second", still, stale=STALE)
    assert beat_and_hold(store, first)
    taken_at = still.now()
    assert not beat_and_hold(store, second)
    for _ in range(8):  # renewed with each heartbeat, for two minutes
        still.advance(STALE / 2)
        assert beat_and_hold(store, first)
        assert not beat_and_hold(store, second)
    assert store.role_holder(SCHEDULE_ROLE) == ("first", taken_at)

    still.advance(STALE + 1)  # the first stops beating: taken for dead
    assert beat_and_hold(store, second)
    assert store.role_holder(SCHEDULE_ROLE) == ("second", still.now())
    assert not beat_and_hold(store, first)  # back from a long pause: not the holder any more


def test_a_clean_stop_hands_the_role_on_at_once(store: Store, still: ManualClock) -> None:
    first = Leases("first", still, stale=STALE)
    second = Leases("second", still, stale=STALE)
    assert beat_and_hold(store, first)
    store.retire(first.owner)
    assert beat_and_hold(store, second)


def test_instances_starting_at_once_make_one_holder(database_url: str, still: ManualClock) -> None:
    # Each with its own engine, as separate processes: the role's row does not exist yet.
    engines = [open_database(database_url) for _ in range(4)]
    start = threading.Barrier(len(engines))

    def race(number: int) -> bool:
        store = Store(engines[number])
        leases = Leases(f"instance-{number}", still, stale=STALE)
        store.heartbeat(leases.owner, now=still.now())
        start.wait()
        return store.hold_role(SCHEDULE_ROLE, leases.take(STALE))

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            results = list(pool.map(race, range(len(engines))))
    finally:
        for engine in engines:
            engine.dispose()
    assert sorted(results) == [False, False, False, True]


def test_only_the_holder_runs_the_digest(store: Store, still: ManualClock) -> None:
    digests: list[str] = []

    def worker(name: str) -> Worker:
        return Worker(
            store=store,
            leases=Leases(name, still, stale=STALE),
            clock=still,
            step=lambda _: None,
            check=lambda _: None,
            deliver=lambda _: None,
            digest=lambda: digests.append(name),
        )

    first, second = worker("first"), worker("second")
    try:
        first.tick()
        second.tick()
        for each in (first, second):
            each.stop()  # waits for the digest's thread: it has run, or was never started
        assert (first.leader, second.leader) == (True, False)
        assert digests == ["first"]
    finally:
        first.stop()
        second.stop()

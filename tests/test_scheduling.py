"""The work loop's kicks: new work is taken up at once, not at the next interval, and a kick that
comes while a tick runs is not lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clock import ShiftedClock
from bot.reports.leases import Leases
from bot.reports.store import Store
from bot.scheduling import Worker
from bot.storage import open_database

WAIT = 10.0  # a bound for a failing test, not a pause: each wait ends as soon as a tick comes


class CountedWorker(Worker):
    """A worker whose interval tick never comes in a test: every tick seen is a kick's."""

    def __init__(self, store: Store, clock: ShiftedClock) -> None:
        super().__init__(
            store=store,
            leases=Leases("kicked", clock),
            clock=clock,
            step=lambda _: None,
            check=lambda _: None,
            deliver=lambda _: None,
            tick=60,
        )
        self.ticks = threading.Semaphore(0)
        self.hold = threading.Event()
        self.hold.set()
        self.ticking = threading.Event()

    def tick(self) -> None:
        self.ticking.set()
        self.hold.wait(WAIT)
        super().tick()
        self.ticks.release()


@pytest.fixture
def worker(tmp_path: Path, clock: ShiftedClock) -> Iterator[CountedWorker]:
    engine = open_database(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    worker = CountedWorker(Store(engine), clock)
    worker.start()
    yield worker
    worker.stop()
    engine.dispose()


def test_a_kick_ticks_at_once(worker: CountedWorker) -> None:
    assert worker.ticks.acquire(timeout=WAIT)  # the start's own kick
    worker.kick()
    assert worker.ticks.acquire(timeout=WAIT)
    assert worker.healthy()


def test_a_kick_during_a_tick_makes_another(worker: CountedWorker) -> None:
    assert worker.ticks.acquire(timeout=WAIT)
    worker.hold.clear()
    worker.ticking.clear()
    worker.kick()
    assert worker.ticking.wait(WAIT)  # this tick has begun, and is held
    worker.kick()  # new work, after the held tick looked for it
    worker.kick()  # and more: kicks coalesce
    worker.hold.set()
    assert worker.ticks.acquire(timeout=WAIT)  # the held tick
    assert worker.ticks.acquire(timeout=WAIT)  # the one the kicks asked for
    worker.stop()  # waits for any tick still running
    assert not worker.ticks.acquire(blocking=False)  # and there was no third


def test_stop_ends_the_kicks(tmp_path: Path, clock: ShiftedClock) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    worker = CountedWorker(Store(engine), clock)
    worker.start()
    worker.stop()
    worker.kick()  # after the stop: nothing ticks, nothing fails
    assert not worker.running
    engine.dispose()

"""BrowserStack's request budget in the database: one for every process that uses the account."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.budget import SharedBudget, account_budget
from bot.clock import ManualClock, ShiftedClock
from bot.settings import Settings
from bot.storage import open_database


@pytest.fixture
def engines(database_url: str) -> Iterator[Callable[[], Engine]]:
    """Engines on one database: each stands for a process of its own."""
    made: list[Engine] = []

    def make() -> Engine:
        made.append(open_database(database_url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def manual(clock: ShiftedClock) -> ManualClock:
    return ManualClock(clock.now())


def budget(engine: Engine, clock: ManualClock, account: str = "api.test|owner") -> SharedBudget:
    return SharedBudget(engine, account=account, burst=5, per_minute=15, clock=clock)


def test_a_burst_then_one_every_four_seconds(
    engines: Callable[[], Engine], manual: ManualClock
) -> None:
    shared = budget(engines(), manual)
    assert [shared.take() for _ in range(5)] == [0.0] * 5
    assert shared.take() == pytest.approx(4)  # nothing taken: come back in 4 s
    manual.advance(4)
    assert shared.take() == 0.0
    assert shared.take() == pytest.approx(4)


def test_every_process_draws_from_the_same_tokens(
    engines: Callable[[], Engine], manual: ManualClock
) -> None:
    serve, fetch = budget(engines(), manual), budget(engines(), manual)
    assert [serve.take() for _ in range(3)] == [0.0] * 3
    assert [fetch.take() for _ in range(2)] == [0.0] * 2
    assert serve.take() > 0
    assert fetch.take() > 0
    # A restart finds the budget spent, not a fresh burst of 5.
    restarted = budget(engines(), manual)
    assert restarted.take() == pytest.approx(4)


def test_accounts_have_budgets_of_their_own(
    engines: Callable[[], Engine], manual: ManualClock
) -> None:
    engine = engines()
    one, other = budget(engine, manual, "api.test|one"), budget(engine, manual, "api.test|two")
    for _ in range(5):
        one.take()
    assert other.take() == 0.0


def test_a_429_drains_it_for_everyone(engines: Callable[[], Engine], manual: ManualClock) -> None:
    a, b = budget(engines(), manual), budget(engines(), manual)
    a.drain()
    assert b.take() == pytest.approx(4)
    manual.advance(3600)  # refills, up to the burst only
    assert b.tokens() == 5


def test_concurrent_processes_never_take_more_than_the_budget(
    engines: Callable[[], Engine], manual: ManualClock
) -> None:
    budgets = [budget(engines(), manual) for _ in range(4)]
    granted: list[bool] = []
    lock = threading.Lock()

    def take(shared: SharedBudget) -> None:
        for _ in range(5):
            ok = shared.take() == 0.0
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=take, args=(b,)) for b in budgets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 5  # 20 tries at one moment: the burst, not one more


def test_the_configured_account_budget_names_no_secret(
    engines: Callable[[], Engine], manual: ManualClock
) -> None:
    settings = Settings.from_values(
        {
            "browserstack_username": "owner",
            "browserstack_access_key": "key",
            "browserstack_api_url": "https://proxyuser:hunter2@proxy.test",
        }
    )
    shared = account_budget(settings, engines(), clock=manual)
    assert "hunter2" not in shared.account
    assert shared.rate.burst == 5
    assert shared.rate.interval == pytest.approx(4.25)  # BrowserStack's 4 s, and a margin


def test_time_going_back_refills_nothing(
    engines: Callable[[], Engine], manual: ManualClock
) -> None:
    shared = budget(engines(), manual)
    for _ in range(5):
        shared.take()
    manual.set(manual.now() - dt.timedelta(hours=1))  # another replica's clock, behind
    assert shared.take() > 0

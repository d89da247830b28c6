"""Store.share_report on SQLite and PostgreSQL: a report fetched outside the work loop (the
posted digest's) joins the shared datasets, without disturbing one that is fresh or being made."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import msgspec
import pytest

from bot.browserstack.models import Report, ReportFilters, ReportKind
from bot.clock import ManualClock
from bot.reports.leases import Leases
from bot.reports.question import Question, Verb
from bot.reports.store import DatasetState, Origin, RequestState, Store, dataset_key
from bot.storage import open_database
from tests.reports.rows import put_dataset

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
TTL = 3600.0
FILTERS = ReportFilters(dt.date(2026, 11, 2), dt.date(2026, 11, 29))
KEY = dataset_key(ReportKind.USER, FILTERS)


def report(fetched_at: dt.datetime) -> Report:
    return Report(kind=ReportKind.USER, filters=FILTERS, fetched_at=fetched_at)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = open_database(database_url)
    yield Store(engine)
    engine.dispose()


def put_row(store: Store, state: DatasetState, **values: object) -> None:
    """A dataset row as the work loop leaves it (an old report, fetched an hour and more ago)."""
    put_dataset(store, KEY, FILTERS, state, created_at=NOW - dt.timedelta(hours=2), **values)


def ready(expires_at: dt.datetime) -> dict[str, object]:
    old = report(NOW - dt.timedelta(hours=2))
    return {
        "report": msgspec.msgpack.encode(old),
        "fetched_at": old.fetched_at,
        "expires_at": expires_at,
    }


# (what is there, is the new report stored, the dataset's state after, whose report it holds)
READY, PENDING = DatasetState.READY, DatasetState.PENDING
CASES: dict[str, tuple[tuple[DatasetState, dict[str, object]] | None, bool, DatasetState, str]] = {
    "no row": (None, True, READY, "new"),
    "expired": ((READY, ready(NOW - dt.timedelta(seconds=1))), True, READY, "new"),
    "failed": ((DatasetState.FAILED, {"error": "timed out"}), True, READY, "new"),
    "cancelled": ((DatasetState.CANCELLED, {}), True, READY, "new"),
    "fresh": ((READY, ready(NOW + dt.timedelta(minutes=5))), False, READY, "old"),
    "pending": ((PENDING, {"job_id": "j1", "next_step_at": NOW}), False, PENDING, "none"),
}


@pytest.mark.parametrize("case", CASES)
def test_share_report_takes_the_place_of_what_cannot_answer(store: Store, case: str) -> None:
    before, stored, state, holds = CASES[case]
    if before is not None:
        put_row(store, before[0], **before[1])
    new = report(NOW)

    assert store.share_report(ReportKind.USER, FILTERS, new, now=NOW, ttl=TTL) is stored

    dataset = store.dataset(KEY)
    assert dataset is not None
    assert dataset.state is state
    # Read back from the database, not this Store's memory: another process sees the same.
    reader = Store(store.engine)
    if holds == "new":
        assert dataset.fresh(NOW)
        assert dataset.expires_at == NOW + dt.timedelta(seconds=TTL)
        assert dataset.next_step_at is None  # nothing for the work loop to do
        assert reader.report(KEY) == new
        assert reader.fresh_report(ReportKind.USER, FILTERS, now=NOW) == new
    elif holds == "old":
        assert reader.report(KEY) == report(NOW - dt.timedelta(hours=2))
    else:
        assert dataset.job_id == "j1"
        assert dataset.next_step_at == NOW  # its poll still due
        assert reader.fresh_report(ReportKind.USER, FILTERS, now=NOW) is None


def test_share_report_keeps_an_ended_datasets_job_to_delete(store: Store) -> None:
    """A cancelled dataset whose BrowserStack job still waits to be deleted moves aside."""
    put_row(store, DatasetState.CANCELLED, job_id="j9", delete_job=True, next_step_at=NOW)

    assert store.share_report(ReportKind.USER, FILTERS, report(NOW), now=NOW, ttl=TTL)

    aside = store.dataset(f"{KEY}~j9")
    assert aside is not None
    assert aside.delete_job
    assert aside.job_id == "j9"
    shared = store.dataset(KEY)
    assert shared is not None
    assert shared.fresh(NOW)
    assert not shared.delete_job


def test_a_pending_dataset_keeps_its_waiting_request(store: Store) -> None:
    """A request waits on a dataset being made: the shared report leaves both as they are, and
    the request is answered when its own job lands (the work loop's normal path)."""
    leases = Leases(owner="test-instance", clock=ManualClock(NOW))
    store.heartbeat(leases.owner, now=NOW)
    question = Question(
        verb=Verb.IDLE,
        start=FILTERS.start or NOW.date(),
        end=FILTERS.end or NOW.date(),
        period_label="last 4 weeks",
        describe="idle",
    )
    assert store.receive("r1", question, Origin("U0ANA", "C0001"), lease=leases.take())
    attached = store.attach("r1", leases.take(), deadline=900)
    assert attached is not None
    _, pending, new = attached
    assert new
    assert pending.key == KEY
    assert pending.state is DatasetState.PENDING

    assert not store.share_report(ReportKind.USER, FILTERS, report(NOW), now=NOW, ttl=TTL)

    assert store.dataset(KEY) == pending
    assert [r.id for r in store.waiting_requests(KEY)] == ["r1"]
    assert store.waiting_requests(KEY)[0].state is RequestState.WAITING


def test_concurrent_shares_store_one_report(database_url: str) -> None:
    """Replicas sharing the same new report at once: one inserts it, the others find it fresh
    (on PostgreSQL ``serialise`` orders them; without it, both would insert and one would fail)."""
    engines = [open_database(database_url) for _ in range(4)]
    stores = [Store(engine) for engine in engines]
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def share(store: Store) -> None:
        start.wait()
        try:
            results.append(
                store.share_report(ReportKind.USER, FILTERS, report(NOW), now=NOW, ttl=TTL)
            )
        except BaseException as error:  # reported below, with the test's failure
            errors.append(error)

    threads = [threading.Thread(target=share, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert sorted(results) == [False, False, False, True]
        dataset = stores[0].dataset(KEY)
        assert dataset is not None
        assert dataset.fresh(NOW)
    finally:
        for engine in engines:
            engine.dispose()


def test_a_report_another_process_replaced_is_read_anew(store: Store) -> None:
    """A process that read the old report does not serve it from memory once another process
    (a ``digest`` run) stored a newer one under the same key."""
    old, new = report(NOW - dt.timedelta(hours=2)), report(NOW)
    assert store.share_report(ReportKind.USER, FILTERS, old, now=old.fetched_at, ttl=TTL)
    serve = Store(store.engine)
    assert serve.report(KEY) == old  # now in its memory

    assert store.share_report(ReportKind.USER, FILTERS, new, now=NOW, ttl=TTL)  # old expired

    assert serve.report(KEY) == new
    assert serve.fresh_report(ReportKind.USER, FILTERS, now=NOW) == new

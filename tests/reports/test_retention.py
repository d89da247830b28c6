"""Bounded storage, on SQLite and PostgreSQL: reports are stored compressed (and those stored
before, uncompressed, still read), ended datasets past the retention are deleted with their
reports while whatever may still be needed is kept, and a SQLite file shrinks when they go."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from bot.browserstack.client import decode
from bot.browserstack.models import (
    Report,
    ReportFilters,
    ReportKind,
    TeamReportResponse,
    UserReportResponse,
)
from bot.browserstack.sandbox import SyntheticOrg
from bot.clock import ManualClock
from bot.reports.leases import Leases
from bot.reports.packed import load_report
from bot.reports.question import Question, Verb
from bot.reports.store import (
    DatasetState,
    Origin,
    RequestState,
    Store,
    dataset_key,
    datasets,
    decode_report,
    encode_report,
)
from bot.scheduling import Worker
from bot.storage import open_database
from tests.reports.rows import put_dataset

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
TTL = 3600.0
KEEP = dt.timedelta(days=14)
DAY = dt.timedelta(days=1)
ORG = SyntheticOrg(seed=11, users=300, today=NOW.date())


def span(n: int) -> tuple[dt.date, dt.date]:
    """The n-th of distinct two-week periods: each one a dataset of its own."""
    start = dt.date(2026, 8, 1) + dt.timedelta(days=n)
    return start, start + dt.timedelta(days=13)


def period(n: int) -> ReportFilters:
    return ReportFilters(*span(n))


def synthetic(
    kind: ReportKind, filters: ReportFilters, fetched_at: dt.datetime, org: SyntheticOrg = ORG
) -> Report:
    """A report as the client makes it, from the synthetic organisation's answer."""
    start, end = filters.period(today=NOW.date())
    body = org.report_body(kind, start=start, end=end)
    if kind is ReportKind.USER:
        users = decode(UserReportResponse, body).data
        assert users is not None
        return Report(kind, filters, fetched_at, users=users.users)
    teams = decode(TeamReportResponse, body).data
    assert teams is not None
    return Report(kind, filters, fetched_at, teams=teams.teams)


def idle(n: int) -> Question:
    """``/usage idle`` over period ``n``: it reads the user report of that period."""
    start, end = span(n)
    return Question(verb=Verb.IDLE, start=start, end=end, period_label="", describe="idle")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = open_database(database_url)
    yield Store(engine)
    engine.dispose()


def stored_blob(store: Store, key: str) -> bytes:
    with store.engine.connect() as connection, connection.begin():
        blob = connection.execute(
            sa.select(datasets.c.report).where(datasets.c.key == key)
        ).scalar_one()
    return bytes(blob)


def put_row(
    store: Store, key: str, filters: ReportFilters, state: DatasetState, **values: Any
) -> None:
    """A dataset row as the work loop leaves it, created ``values["created_at"]``."""
    created: dt.datetime = values.pop("created_at")
    put_dataset(store, key, filters, state, created_at=created, **values)


# Compression


def test_a_report_round_trips_compressed() -> None:
    report = synthetic(ReportKind.USER, period(0), NOW)
    bare = msgspec.msgpack.encode(report)

    blob = encode_report(report)

    assert len(blob) < len(bare) / 5
    assert decode_report(blob) == report
    # As stored before: compressed msgpack (migration 0009), and bare msgpack before that.
    assert decode_report(zlib.compress(bare)) == report
    assert decode_report(bare) == report


def test_reports_are_stored_compressed_by_both_paths(store: Store) -> None:
    leases = Leases(owner="test-instance", clock=ManualClock(NOW))
    store.heartbeat(leases.owner, now=NOW)
    # A report the work loop fetched (finish_dataset) ...
    question = idle(1)
    assert store.receive("r1", question, Origin("U0ANA", "C0001"), lease=leases.take())
    attached = store.attach("r1", leases.take(), deadline=900)
    assert attached is not None
    pending = attached[1]
    assert store.claim_dataset(pending.key, leases.take())
    fetched = synthetic(ReportKind.USER, period(1), NOW)
    assert store.finish_dataset(pending.key, leases.owner, fetched, now=NOW, ttl=TTL)
    # ... and one fetched outside it (share_report: the digest's).
    shared = synthetic(ReportKind.TEAM, period(2), NOW)
    assert store.share_report(ReportKind.TEAM, period(2), shared, now=NOW, ttl=TTL)

    for key, report in ((pending.key, fetched), (dataset_key(ReportKind.TEAM, period(2)), shared)):
        blob = stored_blob(store, key)
        assert len(blob) < len(msgspec.msgpack.encode(report)) / 3
        assert load_report(blob) == report  # packed: loading it decodes no member
        # Read back from the database by another process, not from this Store's memory.
        assert Store(store.engine).report(key) == report


def test_a_report_stored_uncompressed_before_still_reads(store: Store) -> None:
    old = synthetic(ReportKind.USER, period(3), NOW - DAY)
    key = dataset_key(ReportKind.USER, period(3))
    put_row(
        store,
        key,
        period(3),
        DatasetState.READY,
        created_at=old.fetched_at,
        report=msgspec.msgpack.encode(old),
        fetched_at=old.fetched_at,
        expires_at=NOW + dt.timedelta(minutes=5),
    )

    assert store.report(key) == old
    assert store.fresh_report(ReportKind.USER, period(3), now=NOW) == old


# Retention


def share(store: Store, kind: ReportKind, n: int, fetched_at: dt.datetime, **kw: Any) -> str:
    """A ready dataset of period ``n``, fetched at ``fetched_at`` and expired an hour later
    (``ttl`` says otherwise)."""
    report = Report(kind, period(n), fetched_at)
    ttl = kw.get("ttl", TTL)
    assert store.share_report(kind, period(n), report, now=fetched_at, ttl=ttl)
    return dataset_key(kind, period(n))


def ask(store: Store, leases: Leases, request_id: str, n: int) -> None:
    """A question on the user report of period ``n``, received (an open request)."""
    assert store.receive(request_id, idle(n), Origin("U0ANA", "C0001"), lease=leases.take())


def test_retention_deletes_what_nothing_needs_and_keeps_the_rest(store: Store) -> None:
    user, team = ReportKind.USER, ReportKind.TEAM
    old, ancient = NOW - 20 * DAY, NOW - 40 * DAY
    leases = Leases(owner="test-instance", clock=ManualClock(NOW))
    store.heartbeat(leases.owner, now=NOW)
    pruned = {
        "old ready": share(store, user, 0, old),
        "old team, a later one kept": share(store, team, 1, ancient),
        "old, its request answered": share(store, user, 2, old),
    }
    kept = {
        "recent ready": share(store, user, 3, NOW - 3 * DAY),
        "latest user report": share(store, user, 4, NOW - DAY),
        "latest team report, however old": share(store, team, 5, NOW - 30 * DAY),
        "old but still fresh": share(store, user, 6, old, ttl=30 * 86400.0),
        "old, a request open on it": share(store, user, 7, old),
    }
    ask(store, leases, "open", 7)
    ask(store, leases, "answered", 2)
    assert store.finish_request("answered", RequestState.ANSWERED, now=NOW - 19 * DAY)
    rows: dict[str, tuple[int, DatasetState, dict[str, Any]]] = {
        "failed": (8, DatasetState.FAILED, {"error": "timed out"}),
        "cancelled": (9, DatasetState.CANCELLED, {}),
        "aside, its job deleted": (10, DatasetState.CANCELLED, {"job_id": "j2"}),
    }
    for name, (n, state, values) in rows.items():
        key = dataset_key(user, period(n)) + ("~j2" if "aside" in name else "")
        put_row(store, key, period(n), state, created_at=old, **values)
        pruned[name] = key
    rows = {
        "pending": (11, DatasetState.PENDING, {"job_id": "j3", "next_step_at": NOW}),
        "aside, its job still to delete": (
            12,
            DatasetState.CANCELLED,
            {"job_id": "j4", "delete_job": True, "next_step_at": NOW},
        ),
        "failed, leased": (
            13,
            DatasetState.FAILED,
            {"lease_owner": "another", "lease_until": NOW + dt.timedelta(minutes=1)},
        ),
    }
    for name, (n, state, values) in rows.items():
        key = dataset_key(user, period(n)) + ("~j4" if "aside" in name else "")
        put_row(store, key, period(n), state, created_at=old, **values)
        kept[name] = key
    kept["failed yesterday"] = dataset_key(user, period(14))
    put_row(store, kept["failed yesterday"], period(14), DatasetState.FAILED, created_at=NOW - DAY)

    assert store.prune_datasets(now=NOW, keep=KEEP) == len(pruned)

    with store.engine.connect() as connection, connection.begin():
        left = set(connection.execute(sa.select(datasets.c.key)).scalars())
    assert {name for name, key in kept.items() if key not in left} == set()
    assert {name for name, key in pruned.items() if key in left} == set()
    assert all(store.report(key) is None for key in pruned.values())
    latest_team = store.latest_report(team)
    assert latest_team is not None
    assert latest_team.fetched_at == NOW - 30 * DAY
    assert store.prune_datasets(now=NOW, keep=KEEP) == 0  # nothing more to do

    # Once its request is answered, nothing keeps that one.
    assert store.finish_request("open", RequestState.ANSWERED, now=NOW)
    assert store.prune_datasets(now=NOW, keep=KEEP) == 1
    assert store.dataset(kept["old, a request open on it"]) is None


# Space


def file_size(path: Path) -> int:
    """The database on disk: the file and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def fill(store: Store, days: int) -> None:
    """``days`` distinct reports of 2,000 members, one a day up to NOW."""
    org = SyntheticOrg(seed=5, users=2000, today=NOW.date())
    for n in range(days):
        fetched_at = NOW - (days - n) * DAY
        report = synthetic(ReportKind.USER, period(n), fetched_at, org)
        assert store.share_report(ReportKind.USER, period(n), report, now=fetched_at, ttl=TTL)


def test_a_sqlite_file_shrinks_when_datasets_go(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    engine = open_database(f"sqlite:///{path}")
    try:
        store = Store(engine)
        fill(store, 8)
        full = file_size(path)

        # All but the latest report are past the retention.
        assert store.prune_datasets(now=NOW + 30 * DAY, keep=KEEP) == 7

        assert file_size(path) < full / 3
        with sqlite3.connect(path) as sqlite:
            assert sqlite.execute("PRAGMA freelist_count").fetchone() == (0,)
    finally:
        engine.dispose()


def test_a_sqlite_file_made_before_is_made_shrinkable_once(tmp_path: Path) -> None:
    """An existing file without auto_vacuum (a pragma only a new file or a VACUUM sets) is
    rewritten at its next start; what it held is kept."""
    path = tmp_path / "bot.sqlite"
    with sqlite3.connect(path) as sqlite:
        sqlite.execute("PRAGMA journal_mode=WAL")
        sqlite.execute("CREATE TABLE notes (text TEXT)")
        sqlite.execute("INSERT INTO notes VALUES ('kept')")
    sqlite.close()
    engine = open_database(f"sqlite:///{path}")
    try:
        with sqlite3.connect(path) as sqlite:
            assert sqlite.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # incremental
            assert sqlite.execute("SELECT text FROM notes").fetchall() == [("kept",)]
        sqlite.close()
        store = Store(engine)
        fill(store, 4)
        full = file_size(path)
        assert store.prune_datasets(now=NOW + 30 * DAY, keep=KEEP) == 3
        assert file_size(path) < full / 2
    finally:
        engine.dispose()


def test_requests_answered_past_retention_go_with_old_event_ids(store: Store) -> None:
    leases = Leases(owner="test-instance", clock=ManualClock(NOW - 20 * DAY))
    store.heartbeat(leases.owner, now=NOW)
    for request_id in ("answered long ago", "cancelled long ago", "answered lately", "open"):
        ask(store, leases, request_id, 1)  # all received 20 days ago
    assert store.finish_request("answered long ago", RequestState.ANSWERED, now=NOW - 15 * DAY)
    assert store.cancel_request("cancelled long ago", user_id="U0ANA", now=NOW - 15 * DAY)
    assert store.finish_request("answered lately", RequestState.ANSWERED, now=NOW - 13 * DAY)
    assert store.first_time_seen("Ev-old", now=NOW - 15 * DAY)
    assert store.first_time_seen("Ev-recent", now=NOW - DAY)

    assert store.prune_requests(now=NOW, keep=KEEP) == 2

    assert store.request("answered long ago") is None
    assert store.request("cancelled long ago") is None
    assert store.request("answered lately") is not None
    open_request = store.request("open")  # received 20 days ago, never answered: kept
    assert open_request is not None
    assert open_request.state is RequestState.RECEIVED
    assert store.first_time_seen("Ev-old", now=NOW)  # forgotten: new again
    assert not store.first_time_seen("Ev-recent", now=NOW)  # still a retry


class Pruned(Store):
    """A store that says when the work loop pruned it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.done = threading.Event()

    def prune_datasets(self, *, now: dt.datetime, keep: dt.timedelta) -> int:
        count = super().prune_datasets(now=now, keep=keep)
        self.done.set()
        return count


def test_the_work_loop_prunes_with_the_retention_setting(database_url: str) -> None:
    engine = open_database(database_url)
    store = Pruned(engine)
    clock = ManualClock(NOW)
    old = share(store, ReportKind.USER, 0, NOW - 15 * DAY)
    recent = share(store, ReportKind.USER, 1, NOW - 13 * DAY)
    latest = share(store, ReportKind.USER, 2, NOW - DAY)
    leases = Leases("asker", ManualClock(NOW - 16 * DAY))
    ask(store, leases, "answered", 1)
    assert store.finish_request("answered", RequestState.ANSWERED, now=NOW - 15 * DAY)
    worker = Worker(
        store=store,
        leases=Leases("pruner", clock),
        clock=clock,
        step=lambda _: None,
        check=lambda _: None,
        deliver=lambda _: None,
        tick=60,
        retention_days=14,
    )
    try:
        worker.start()  # its first tick takes the schedule, and prunes
        assert store.done.wait(10)
        assert store.dataset(old) is None
        assert store.dataset(recent) is not None
        assert store.dataset(latest) is not None
        assert store.request("answered") is None  # requests first, then datasets
    finally:
        worker.stop()
        engine.dispose()


def test_a_report_loaded_twice_at_once_stays_one_object(store: Store) -> None:
    """A thread that loaded the report while another kept it gets the kept one: what answers
    derive from a report lives with that object (``bot.reports.index``)."""
    filters = period(4)
    assert store.share_report(
        ReportKind.USER, filters, synthetic(ReportKind.USER, filters, NOW), now=NOW, ttl=TTL
    )
    key = dataset_key(ReportKind.USER, filters)
    kept = store.report(key)
    loaded_meanwhile = decode_report(stored_blob(store, key))
    assert loaded_meanwhile is not kept
    assert store._remember(key, loaded_meanwhile) is kept
    assert store.report(key) is kept

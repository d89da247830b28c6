"""Campaign rows in the database (SQLite and PostgreSQL): DMs claimed once, taken over from the
dead, "keep" answers remembered for the snooze."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from bot.browserstack.models import Product
from bot.reclaim.rules import AskState, Candidate, Choice
from bot.reclaim.store import CLOSED, CLOSING, ReclaimStore
from bot.reports.store import Lease, Store
from bot.storage import open_database

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def lease(owner: str, now: dt.datetime = NOW, stale: float = 15.0) -> Lease:
    return Lease(
        owner=owner,
        now=now,
        until=now + dt.timedelta(seconds=60),
        live_since=now - dt.timedelta(seconds=stale),
    )


def campaign(store: ReclaimStore, *emails: str) -> str:
    created = start(store, *emails)
    assert created is not None
    return created


def start(store: ReclaimStore, *emails: str) -> str | None:
    return store.create(
        [Candidate(e, e, (Product.LIVE,), None, 29.0) for e in emails],
        started_by="U0ANA",
        now=NOW,
        deadline=NOW + dt.timedelta(days=7),
        remind_at=NOW + dt.timedelta(days=3.5),
        period="2026-11-01..2026-11-30",
        products=(Product.LIVE, Product.APP_LIVE),
        channel="C0001",
        thread_ts=None,
    )


def test_a_dm_is_claimed_by_one_instance_and_taken_over_only_from_a_dead_one(
    engine: Engine,
) -> None:
    work, store = Store(engine), ReclaimStore(engine)
    cid = campaign(store, "a@x.test", "b@x.test")
    for owner in ("one", "two"):
        work.heartbeat(owner, now=NOW)
    assert store.due_asks(cid, lease("one"), limit=10) == ["a@x.test", "b@x.test"]
    first = store.claim_ask(cid, "a@x.test", lease("one"))
    assert first is not None
    assert first.state is AskState.PENDING
    assert store.claim_ask(cid, "a@x.test", lease("two")) is None  # "one" is alive
    assert store.due_asks(cid, lease("two"), limit=10) == ["b@x.test"]
    store.update_ask(cid, "a@x.test", owner="one", user_id="U1", dm_channel="D1")
    # "one" dies (no heartbeat for longer than stale): "two" takes the DM over, mid-send.
    later = NOW + dt.timedelta(seconds=30)
    work.heartbeat("two", now=later)
    taken = store.claim_ask(cid, "a@x.test", lease("two", later))
    assert taken is not None
    assert taken.state is AskState.SENDING
    assert taken.dm_channel == "D1"
    assert not store.update_ask(cid, "a@x.test", owner="one", dm_ts="1.0")  # lost its lease
    store.update_ask(cid, "a@x.test", state=AskState.SENT.value, dm_ts="2.0", lease_owner=None)
    assert store.claim_ask(cid, "a@x.test", lease("two", later)) is None  # sent: never again


def test_keep_answers_snooze_members_across_campaigns(engine: Engine) -> None:
    store = ReclaimStore(engine)
    cid = campaign(store, "a@x.test", "b@x.test")
    store.update_ask(cid, "a@x.test", choice=Choice.KEEP.value, answered_at=NOW)
    store.update_ask(cid, "b@x.test", choice=Choice.RELEASE.value, answered_at=NOW)
    assert store.snoozed(NOW - dt.timedelta(days=90)) == {"a@x.test"}
    assert store.snoozed(NOW + dt.timedelta(days=1)) == set()
    latest = store.latest()
    assert latest is not None
    assert latest.id == cid


def test_of_two_replicas_starting_a_campaign_at_once_one_does(database_url: str) -> None:
    """Two admins click "Ask…" at the same moment, on two replicas: one campaign, not two."""
    engines = [open_database(database_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    started: list[str | None] = []

    def click(engine: Engine) -> None:
        barrier.wait()
        started.append(start(ReclaimStore(engine), "a@x.test"))

    threads = [threading.Thread(target=click, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(started, key=lambda c: c is None)[1:] == [None]  # one id, one refusal
    assert len(ReclaimStore(engines[0]).active()) == 1
    assert start(ReclaimStore(engines[1]), "b@x.test") is None  # still one at a time
    for engine in engines:
        engine.dispose()


def test_a_members_reminder_is_taken_once_and_its_ts_recorded_after(engine: Engine) -> None:
    """A reminder is claimed once; claimed with no ts is what a takeover checks in Slack."""
    store = ReclaimStore(engine)
    cid = campaign(store, "a@x.test", "b@x.test")
    assert store.claim_reminder(cid, "a@x.test")
    assert not store.claim_reminder(cid, "a@x.test")
    assert store.claim_reminder(cid, "b@x.test")
    claimed = store.ask(cid, "a@x.test")
    assert claimed is not None
    assert (claimed.reminded, claimed.reminder_ts) == (True, None)
    store.record_reminder(cid, "a@x.test", "3.0")
    recorded = store.ask(cid, "a@x.test")
    assert recorded is not None
    assert recorded.reminder_ts == "3.0"


def test_a_campaign_closes_through_closing_with_its_release_ts(engine: Engine) -> None:
    store = ReclaimStore(engine)
    cid = campaign(store, "a@x.test")
    assert store.update_campaign(cid, state=CLOSING)
    assert [c.id for c in store.active()] == [cid]  # closing is not closed: it is taken over
    assert start(store, "b@x.test") is None  # and still the one campaign running
    store.record_release(cid, "4.0")
    closed = store.campaign(cid)
    assert closed is not None
    assert (closed.state, closed.release_ts, closed.tally_dirty) == (CLOSED, "4.0", True)
    assert store.active() == []

"""Subscriptions and the schedule's claims, on SQLite and PostgreSQL, raced by two engines."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from bot.home.store import Cadence, HomeStore, Scope
from bot.storage import open_database

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def engines(database_url: str) -> Iterator[list[Engine]]:
    made = [open_database(database_url), open_database(database_url)]
    yield made
    for engine in made:
        engine.dispose()


def test_subscribe_list_and_remove(engines: list[Engine]) -> None:
    store = HomeStore(engines[0])
    first = store.subscribe(
        user_id="U1",
        scope=Scope.TEAM,
        team="Acme",
        cadence=Cadence.WEEKLY,
        channel_id="C1",
        now=NOW,
    )
    again = store.subscribe(
        user_id="U1",
        scope=Scope.TEAM,
        team="Acme",
        cadence=Cadence.WEEKLY,
        channel_id="C1",
        now=NOW,
    )
    assert again == first  # asking twice is harmless
    mine = store.subscribe(
        user_id="U1", scope=Scope.ME, team=None, cadence=Cadence.WEEKLY, channel_id=None, now=NOW
    )
    other = store.subscribe(
        user_id="U2",
        scope=Scope.TEAMS,
        team=None,
        cadence=Cadence.MONTHLY,
        channel_id=None,
        now=NOW,
    )
    assert [s.id for s in store.active(user_id="U1")] == [first.id, mine.id]
    assert [s.id for s in store.active()] == [first.id, mine.id, other.id]
    assert first.command == "team Acme"
    assert first.created_at == NOW
    assert store.remove(first.id, now=NOW)
    assert not store.remove(first.id, now=NOW)
    assert store.get(first.id) is None
    assert [s.id for s in HomeStore(engines[1]).active(user_id="U1")] == [mine.id]


def test_a_claim_is_won_once_across_processes(engines: list[Engine]) -> None:
    stores = [HomeStore(engine) for engine in engines]
    with ThreadPoolExecutor(8) as pool:
        won = list(
            pool.map(
                lambda i: stores[i % 2].claim("sub:1:2026-W48", now=NOW, request_id=f"r{i}"),
                range(8),
            )
        )
    assert won.count(True) == 1
    claimed = stores[0].claimed("sub:1:2026-W48")
    assert claimed is not None
    assert claimed[0] == NOW
    stores[1].release("sub:1:2026-W48")
    assert stores[0].claimed("sub:1:2026-W48") is None
    assert stores[0].claim("sub:1:2026-W48", now=NOW)

"""The digest's history: one claim per (week, channel), whoever races for it, and the snapshots
that next week's digest compares with."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.digest.history import ABANDONED_AFTER, RETRY_AFTER, DigestHistory, DigestState
from bot.digest.rules import Snapshot
from bot.storage import open_database

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CHANNEL = "C0DIGEST"
SEATS = frozenset({("ana@example.com", "live_testing"), ("bob@example.com", "automate")})


@pytest.fixture
def engines(database_url: str) -> Iterator[Callable[[], Engine]]:
    """Engines on one database, as two processes of the bot would open it."""
    made: list[Engine] = []

    def make() -> Engine:
        engine = open_database(database_url)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def history(engines: Callable[[], Engine]) -> DigestHistory:
    return DigestHistory(engines())


def test_claim_is_true_once_per_week_and_channel(history: DigestHistory) -> None:
    assert history.claim("2026-W48", CHANNEL, now=NOW)
    assert not history.claim("2026-W48", CHANNEL, now=NOW)
    history.posted_summary("2026-W48", CHANNEL, "1700000000.000100")
    assert not history.claim("2026-W48", CHANNEL, now=NOW + timedelta(hours=3), late=True)
    assert history.claim("2026-W49", CHANNEL, now=NOW)
    assert history.claim("2026-W48", "C0TEAM", now=NOW)


def test_a_claim_whose_summary_never_reached_slack_is_taken_over_once(
    history: DigestHistory,
) -> None:
    # Its claimer died between the claim and the post: the week's digest must still go out.
    assert history.claim("2026-W48", CHANNEL, now=NOW)
    soon = NOW + ABANDONED_AFTER - timedelta(seconds=1)
    assert not history.claim("2026-W48", CHANNEL, now=soon)  # it may still be posting
    later = NOW + ABANDONED_AFTER + timedelta(seconds=1)
    entry = history.entry("2026-W48", CHANNEL)
    assert entry is not None
    assert entry.open(later)
    assert not entry.open(soon)
    assert history.claim("2026-W48", CHANNEL, now=later, late=True)
    assert not history.claim("2026-W48", CHANNEL, now=later)  # taken over by one, not two
    taken = history.entry("2026-W48", CHANNEL)
    assert taken is not None
    assert taken.late
    assert taken.claimed_at == later


def test_a_released_claim_after_the_summary_was_posted_is_kept(history: DigestHistory) -> None:
    assert history.claim("2026-W48", CHANNEL, now=NOW)
    history.posted_summary("2026-W48", CHANNEL, "1700000000.000100")
    assert not history.release("2026-W48", CHANNEL)  # the channel has it: never post it again
    entry = history.entry("2026-W48", CHANNEL)
    assert entry is not None
    assert not entry.open(NOW + timedelta(days=1))


def _race(claimers: list[DigestHistory], week: str, channel: str) -> list[bool]:
    """Every claimer claims at the same instant, each from its own thread."""
    start = threading.Barrier(len(claimers))

    def claim(history: DigestHistory) -> bool:
        start.wait()
        return history.claim(week, channel, now=NOW)

    with ThreadPoolExecutor(max_workers=len(claimers)) as pool:
        return list(pool.map(claim, claimers))


def test_claim_from_many_threads_at_once(history: DigestHistory) -> None:
    for week in ("2026-W48", "2026-W49", "2026-W50"):
        results = _race([history] * 8, week, CHANNEL)
        assert results.count(True) == 1, results


def test_claim_across_two_engines_on_one_file(engines: Callable[[], Engine]) -> None:
    # Two processes (a restart overlapping the old one, or a second start) share the database.
    first, second = DigestHistory(engines()), DigestHistory(engines())
    for week in ("2026-W48", "2026-W49", "2026-W50", "2026-W51"):
        results = _race([first, second] * 4, week, CHANNEL)
        assert results.count(True) == 1, results
    assert second.entry("2026-W50", CHANNEL) is not None


def test_entry_records_the_claim_and_the_post(history: DigestHistory) -> None:
    assert history.entry("2026-W48", CHANNEL) is None
    history.claim("2026-W48", CHANNEL, now=NOW, late=True)
    claimed = history.entry("2026-W48", CHANNEL)
    assert claimed is not None
    assert (claimed.state, claimed.late, claimed.claimed_at) == (DigestState.CLAIMED, True, NOW)
    assert claimed.posted_at is None
    history.finish(
        "2026-W48", CHANNEL, now=NOW + timedelta(seconds=5), snapshot=SEATS, message_ts="1.2"
    )
    posted = history.entry("2026-W48", CHANNEL)
    assert posted is not None
    assert posted.state is DigestState.POSTED
    assert posted.posted_at == NOW + timedelta(seconds=5)
    assert posted.posted_at.tzinfo is not None
    assert posted.message_ts == "1.2"


def test_finish_needs_a_claim(history: DigestHistory) -> None:
    with pytest.raises(LookupError):
        history.finish("2026-W48", CHANNEL, now=NOW, snapshot=SEATS)


def test_release_lets_a_retry_claim_again(history: DigestHistory) -> None:
    assert not history.release("2026-W48", CHANNEL)
    assert history.claim("2026-W48", CHANNEL, now=NOW)
    assert history.release("2026-W48", CHANNEL)
    assert history.claim("2026-W48", CHANNEL, now=NOW)
    history.finish("2026-W48", CHANNEL, now=NOW, snapshot=SEATS)
    # A posted digest stays posted.
    assert not history.release("2026-W48", CHANNEL)
    assert not history.claim("2026-W48", CHANNEL, now=NOW)


def test_a_failed_post_is_kept_and_claimed_again_after_an_hour_once(
    engines: Callable[[], Engine],
) -> None:
    first, second = DigestHistory(engines()), DigestHistory(engines())
    assert first.claim("2026-W48", CHANNEL, now=NOW)
    assert first.fail("2026-W48", CHANNEL, now=NOW, error="not_in_channel")
    entry = first.entry("2026-W48", CHANNEL)
    assert entry is not None
    assert (entry.state, entry.error, entry.failing) == (DigestState.FAILED, "not_in_channel", True)
    assert not entry.open(NOW + RETRY_AFTER - timedelta(seconds=1))
    assert entry.open(NOW + RETRY_AFTER)
    # Not before the hour, by any process; then by exactly one of two at once.
    assert not second.claim("2026-W48", CHANNEL, now=NOW + timedelta(minutes=59))
    retry = NOW + RETRY_AFTER
    with ThreadPoolExecutor(2) as pool:
        won = list(pool.map(lambda h: h.claim("2026-W48", CHANNEL, now=retry), [first, second]))
    assert sorted(won) == [False, True]
    retrying = second.latest(CHANNEL)
    assert retrying is not None
    assert (retrying.state, retrying.failing) == (
        DigestState.CLAIMED,
        True,
    )  # still why, until posted
    second.finish("2026-W48", CHANNEL, now=retry, snapshot=SEATS)
    posted = second.latest(CHANNEL)
    assert posted is not None
    assert (posted.state, posted.error, posted.failing) == (DigestState.POSTED, None, False)
    assert not first.fail("2026-W48", CHANNEL, now=retry, error="is_archived")  # posted stays


def test_latest_is_the_newest_week_of_the_channel(history: DigestHistory) -> None:
    assert history.latest(CHANNEL) is None
    _post(history, "2026-W47", SEATS)
    assert history.claim("2026-W48", CHANNEL, now=NOW)
    history.fail("2026-W48", CHANNEL, now=NOW, error="x" * 500)
    latest = history.latest(CHANNEL)
    assert latest is not None
    assert (latest.week, latest.error) == ("2026-W48", "x" * 100)  # cut to the column's length
    assert history.latest("C0OTHER") is None


def _post(
    history: DigestHistory, week: str, seats: frozenset[tuple[str, str]], channel: str = CHANNEL
) -> None:
    assert history.claim(week, channel, now=NOW)
    history.finish(week, channel, now=NOW, snapshot=seats)


def test_previous_snapshot_is_the_latest_posted_before_the_week(history: DigestHistory) -> None:
    assert history.previous_snapshot(CHANNEL, "2026-W48") is None
    older = frozenset({("old@example.com", "automate")})
    _post(history, "2026-W45", older)
    _post(history, "2026-W47", SEATS)
    _post(history, "2026-W47", frozenset(), channel="C0OTHER")
    history.claim("2026-W48", CHANNEL, now=NOW)  # claimed, never posted: not a reference
    assert history.previous_snapshot(CHANNEL, "2026-W48") == Snapshot("2026-W47", SEATS)
    assert history.previous_snapshot(CHANNEL, "2026-W49") == Snapshot("2026-W47", SEATS)
    assert history.previous_snapshot(CHANNEL, "2026-W47") == Snapshot("2026-W45", older)
    assert history.previous_snapshot(CHANNEL, "2026-W45") is None
    assert history.previous_snapshot("C0OTHER", "2026-W48") == Snapshot("2026-W47", frozenset())
    assert history.previous_snapshot("C0NONE", "2026-W48") is None


def test_previous_snapshot_across_the_year(history: DigestHistory) -> None:
    _post(history, "2026-W52", frozenset())
    _post(history, "2026-W53", SEATS)
    assert history.previous_snapshot(CHANNEL, "2027-W01") == Snapshot("2026-W53", SEATS)


def test_a_large_snapshot_survives_the_round_trip(history: DigestHistory) -> None:
    seats = frozenset(
        (f"user{i}@example.com", product)
        for i in range(50_000)
        for product in ("live_testing", "automate")[: 1 + i % 2]
    ) | {("zoë+ünïcode@exämple.com", "app_live_testing")}
    _post(history, "2026-W47", seats)
    previous = history.previous_snapshot(CHANNEL, "2026-W48")
    assert previous is not None
    assert previous.seats == seats


def test_history_survives_reopening_the_database(engines: Callable[[], Engine]) -> None:
    first = DigestHistory(engines())
    assert first.claim("2026-W48", CHANNEL, now=NOW)
    # Opening it again (a restart) keeps what was there.
    again = DigestHistory(engines())
    assert not again.claim("2026-W48", CHANNEL, now=NOW)

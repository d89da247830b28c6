"""Which digests were posted: one row per (ISO week, channel), in the bot's database.

``claim`` is what makes the digest post once per week and channel whatever happens around it (a
restart, a second process, a misfire run and a catch-up run at once): it INSERTs the row, and the
primary key lets exactly one INSERT succeed, on SQLite across engines and processes as on any
database. Whoever claimed posts, records the summary's ``ts`` as soon as Slack returns it
(``posted_summary``), then calls ``finish`` with the digest's snapshot of idle seats, which next
week's digest compares with (``previous_snapshot``). ``release`` gives a claim back when nothing
reached Slack, so a retry may post.

A claimer that dies between its claim and the summary's post leaves a claim with no ``ts``:
after ``ABANDONED_AFTER`` (a post takes seconds) the claim may be taken over, so the week's
digest is still posted. Only a death in the instant between Slack taking the summary and the
database taking its ``ts`` could make that a second post.

The snapshot is stored as zlib-compressed JSON: 50,000 members make about 9 MB of JSON that
compresses tenfold, since emails share their domains.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.digest.rules import SeatKey, Snapshot
from bot.storage import UTCDateTime, metadata, read, write

__all__ = ["ABANDONED_AFTER", "DigestEntry", "DigestHistory", "DigestState", "digest_history"]

log = logging.getLogger(__name__)

ABANDONED_AFTER = dt.timedelta(minutes=10)

digest_history = sa.Table(
    "digest_history",
    metadata,
    sa.Column("week", sa.String(10), primary_key=True),  # "2026-W48"
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("late", sa.Boolean, nullable=False, default=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("posted_at", UTCDateTime),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("snapshot", sa.LargeBinary),
)


class DigestState(enum.StrEnum):
    CLAIMED = "claimed"  # someone is posting it (or died while posting: never posted twice)
    POSTED = "posted"


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One week's digest in one channel."""

    week: str
    channel: str
    state: DigestState
    late: bool
    claimed_at: dt.datetime
    posted_at: dt.datetime | None
    message_ts: str | None

    def open(self, now: dt.datetime) -> bool:
        """Still to be posted: claimed long ago and nothing reached Slack (see the module)."""
        return (
            self.state is DigestState.CLAIMED
            and self.message_ts is None
            and self.claimed_at < now - ABANDONED_AFTER
        )


def _encode(seats: Iterable[SeatKey]) -> bytes:
    by_email: dict[str, list[str]] = {}
    for email, product in seats:
        by_email.setdefault(email, []).append(product)
    data = {email: sorted(products) for email, products in sorted(by_email.items())}
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), level=6)


def _decode(blob: bytes) -> frozenset[SeatKey]:
    data: dict[str, list[str]] = json.loads(zlib.decompress(blob))
    return frozenset((email, product) for email, products in data.items() for product in products)


class DigestHistory:
    """The digests posted so far, in the database of ``engine`` (``store.create_engine``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with write(self.engine) as connection:
            yield connection

    def claim(self, week: str, channel: str, *, now: dt.datetime, late: bool = False) -> bool:
        """Take the right to post ``week``'s digest in ``channel``; True for exactly one caller."""
        try:
            with self._tx() as tx:
                tx.execute(
                    sa.insert(digest_history).values(
                        week=week,
                        channel=channel,
                        state=DigestState.CLAIMED.value,
                        late=late,
                        claimed_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            pass
        else:
            return True
        with self._tx() as tx:
            taken = tx.execute(
                sa.update(digest_history)
                .where(digest_history.c.week == week)
                .where(digest_history.c.channel == channel)
                .where(digest_history.c.state == DigestState.CLAIMED.value)
                .where(digest_history.c.message_ts.is_(None))
                .where(digest_history.c.claimed_at < now - ABANDONED_AFTER)
                .values(claimed_at=now, late=late)
            )
        if taken.rowcount == 1:
            log.warning(
                "the digest of %s in %s was claimed and never posted: posting it", week, channel
            )
            return True
        return False

    def posted_summary(self, week: str, channel: str, ts: str) -> None:
        """The claimed digest's summary is in Slack: its claim is no longer abandoned, ever."""
        with self._tx() as tx:
            tx.execute(
                sa.update(digest_history)
                .where(digest_history.c.week == week)
                .where(digest_history.c.channel == channel)
                .values(message_ts=ts)
            )

    def finish(
        self,
        week: str,
        channel: str,
        *,
        now: dt.datetime,
        snapshot: Iterable[SeatKey],
        message_ts: str | None = None,
    ) -> None:
        """Record that the claimed digest was posted, with its idle seats for next week."""
        with self._tx() as tx:
            result = tx.execute(
                sa.update(digest_history)
                .where(digest_history.c.week == week)
                .where(digest_history.c.channel == channel)
                .values(
                    state=DigestState.POSTED.value,
                    posted_at=now,
                    message_ts=message_ts,
                    snapshot=_encode(snapshot),
                )
            )
        if result.rowcount != 1:
            raise LookupError(f"no claim on the digest of {week} in {channel} to finish")

    def release(self, week: str, channel: str) -> bool:
        """Give back a claim whose summary was not posted; False when there was none to give."""
        with self._tx() as tx:
            result = tx.execute(
                sa.delete(digest_history)
                .where(digest_history.c.week == week)
                .where(digest_history.c.channel == channel)
                .where(digest_history.c.state == DigestState.CLAIMED.value)
                .where(digest_history.c.message_ts.is_(None))
            )
        return result.rowcount == 1

    def entry(self, week: str, channel: str) -> DigestEntry | None:
        """That week's digest in that channel, if claimed."""
        columns = [c for c in digest_history.c if c.name != "snapshot"]
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(*columns)
                .where(digest_history.c.week == week)
                .where(digest_history.c.channel == channel)
            ).first()
        return None if row is None else _entry(row)

    def previous_snapshot(self, channel: str, before_week: str) -> Snapshot | None:
        """The idle seats of the latest digest posted in ``channel`` before ``before_week``."""
        # Week keys ("2026-W48") sort as text in the order of time.
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(digest_history.c.week, digest_history.c.snapshot)
                .where(digest_history.c.channel == channel)
                .where(digest_history.c.week < before_week)
                .where(digest_history.c.state == DigestState.POSTED.value)
                .where(digest_history.c.snapshot.is_not(None))
                .order_by(digest_history.c.week.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return Snapshot(week=row.week, seats=_decode(row.snapshot))


def _entry(row: Any) -> DigestEntry:
    return DigestEntry(
        week=row.week,
        channel=row.channel,
        state=DigestState(row.state),
        late=bool(row.late),
        claimed_at=row.claimed_at,
        posted_at=row.posted_at,
        message_ts=row.message_ts,
    )

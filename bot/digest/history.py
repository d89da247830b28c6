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

A post that Slack refuses (the bot is not in the channel, the channel is gone or archived) is
recorded as ``failed`` with Slack's error (``fail``): the row stays, so every process and every
restart sees the failure, and it may be claimed again once ``RETRY_AFTER`` has passed (the
schedule keeps the retries within ``DIGEST_GRACE_HOURS``). ``/usage digest`` reads it back
(``latest``) to tell whoever asks why the last digest is missing.

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

__all__ = [
    "ABANDONED_AFTER",
    "RETRY_AFTER",
    "DigestEntry",
    "DigestHistory",
    "DigestState",
    "digest_history",
]

log = logging.getLogger(__name__)

ABANDONED_AFTER = dt.timedelta(minutes=10)
# A post Slack refused is tried again this long after the failure: someone has to invite the bot
# (or fix the setting) first, and every try runs two report jobs.
RETRY_AFTER = dt.timedelta(hours=1)
ERROR_LENGTH = 100

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
    # Slack's error for the last post that failed ("not_in_channel"); cleared once posted.
    sa.Column("error", sa.String(ERROR_LENGTH)),
)


class DigestState(enum.StrEnum):
    CLAIMED = "claimed"  # someone is posting it (or died while posting: never posted twice)
    POSTED = "posted"
    FAILED = "failed"  # Slack refused the summary; ``claimed_at`` is when, ``error`` says why


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
    error: str | None = None  # why the last try failed, until one succeeds

    def open(self, now: dt.datetime) -> bool:
        """Still to be posted, and free to try: claimed long ago and nothing reached Slack, or
        failed at least ``RETRY_AFTER`` ago (see the module)."""
        if self.state is DigestState.FAILED:
            return self.claimed_at <= now - RETRY_AFTER
        return (
            self.state is DigestState.CLAIMED
            and self.message_ts is None
            and self.claimed_at < now - ABANDONED_AFTER
        )

    @property
    def failing(self) -> bool:
        """Not posted, and the last try failed (a retry may be under way)."""
        return self.state is not DigestState.POSTED and self.error is not None


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
        c = digest_history.c
        abandoned = sa.and_(
            c.state == DigestState.CLAIMED.value,
            c.message_ts.is_(None),
            c.claimed_at < now - ABANDONED_AFTER,
        )
        failed = sa.and_(c.state == DigestState.FAILED.value, c.claimed_at <= now - RETRY_AFTER)
        with self._tx() as tx:
            previous = tx.execute(
                sa.select(c.state).where(c.week == week).where(c.channel == channel)
            ).scalar()
            # One UPDATE decides: of processes racing for the same row, one changes it.
            taken = tx.execute(
                sa.update(digest_history)
                .where(c.week == week)
                .where(c.channel == channel)
                .where(sa.or_(abandoned, failed))
                .values(state=DigestState.CLAIMED.value, claimed_at=now, late=late)
            )
        if taken.rowcount == 1:
            if previous == DigestState.FAILED.value:
                log.info("trying again to post the digest of %s in %s", week, channel)
            else:
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
                    error=None,
                )
            )
        if result.rowcount != 1:
            raise LookupError(f"no claim on the digest of {week} in {channel} to finish")

    def fail(self, week: str, channel: str, *, now: dt.datetime, error: str) -> bool:
        """Record that Slack refused the claimed digest's summary (``error``, such as
        ``not_in_channel``): kept, for ``/usage digest`` to tell, and retried after
        ``RETRY_AFTER``. False when there was no such claim."""
        c = digest_history.c
        with self._tx() as tx:
            result = tx.execute(
                sa.update(digest_history)
                .where(c.week == week)
                .where(c.channel == channel)
                .where(c.state == DigestState.CLAIMED.value)
                .where(c.message_ts.is_(None))
                .values(state=DigestState.FAILED.value, claimed_at=now, error=error[:ERROR_LENGTH])
            )
        return result.rowcount == 1

    def latest(self, channel: str) -> DigestEntry | None:
        """The newest week's digest in ``channel`` (posted, failed or being posted), if any."""
        columns = [c for c in digest_history.c if c.name != "snapshot"]
        with read(self.engine) as tx:
            row = tx.execute(
                sa.select(*columns)
                .where(digest_history.c.channel == channel)
                .order_by(digest_history.c.week.desc())
                .limit(1)
            ).first()
        return None if row is None else _entry(row)

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
        error=row.error,
    )

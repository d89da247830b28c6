"""How long recent report jobs took, in the database: the learned poll schedule's evidence.

One row per BrowserStack job the work loop created: its kind, its period's length in days, when
it was created, the last status check that saw it still running and the first that saw it
done. Every process on ``DATABASE_URL`` writes and reads the same rows, so that a replica, or
a process restarted a minute ago, plans its checks from everyone's jobs
(``bot.browserstack.jobs.LearnedSchedule``). Rows older than ``KEEP`` are removed as new jobs
come, so the table stays small (a few hundred rows a month at most).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.browserstack.jobs import Observation
from bot.browserstack.models import ReportKind
from bot.storage import UTCDateTime, metadata, read, write

job_durations = sa.Table(
    "job_durations",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("days", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("running_at", UTCDateTime),  # the last check that saw the job still running
    sa.Column("done_at", UTCDateTime),  # the first check that saw it done
)

# Periods of similar length take similar time: up to a week, two weeks, a month, two, three,
# six months, a year (BrowserStack's longest period), each bucket learned on its own.
BUCKETS = (7, 14, 31, 62, 92, 183, 366)
# The recent jobs a plan is made from: enough to see the spread, few enough to follow a change.
HISTORY = 20
# Older rows are removed: BrowserStack's timings a month ago say little of today's.
KEEP = dt.timedelta(days=30)


def bucket(days: int) -> tuple[int, int]:
    """The range of period lengths (days, both ends included) learned together with ``days``."""
    low = 1
    for high in BUCKETS:
        if days <= high:
            return low, high
        low = high + 1
    return low, 1 << 30


@dataclass(frozen=True, slots=True)
class JobTiming:
    """One job's creation time and what recent jobs like it took."""

    created_at: dt.datetime
    history: tuple[Observation, ...]


class JobDurations:
    """The ``job_durations`` table: written at each step of a job, read to plan the next."""

    def __init__(self, engine: Engine, *, history: int = HISTORY) -> None:
        self.engine = engine
        self.history = history

    def created(self, job_id: str, kind: ReportKind, days: int, *, at: dt.datetime) -> None:
        """A job was created ``at``; rows past ``KEEP`` go."""
        with write(self.engine) as tx:
            tx.execute(sa.delete(job_durations).where(job_durations.c.created_at < at - KEEP))
            tx.execute(
                sa.insert(job_durations).values(
                    job_id=job_id, kind=kind.value, days=days, created_at=at
                )
            )

    def running(self, job_id: str, *, at: dt.datetime) -> None:
        """A status check sent ``at`` saw the job still running."""
        self._unfinished(job_id, running_at=at)

    def done(self, job_id: str, *, at: dt.datetime) -> None:
        """A status check answered by ``at`` saw the job done (the first one counts)."""
        self._unfinished(job_id, done_at=at)

    def _unfinished(self, job_id: str, **values: dt.datetime) -> None:
        """Record a check of a job not yet seen done (later checks change nothing)."""
        with write(self.engine) as tx:
            tx.execute(
                sa.update(job_durations)
                .where(job_durations.c.job_id == job_id)
                .where(job_durations.c.done_at.is_(None))
                .values(**values)
            )

    def timing(self, job_id: str, kind: ReportKind, days: int) -> JobTiming | None:
        """The job's creation time and the recent finished jobs of its kind and bucket (newest
        first); None for a job not recorded here (created before this table was)."""
        low, high = bucket(days)
        columns = job_durations.c
        with read(self.engine) as tx:
            created_at = tx.execute(
                sa.select(columns.created_at).where(columns.job_id == job_id)
            ).scalar()
            if created_at is None:
                return None
            rows = tx.execute(
                sa.select(columns.created_at, columns.running_at, columns.done_at)
                .where(columns.kind == kind.value)
                .where(columns.days.between(low, high))
                .where(columns.done_at.is_not(None))
                .where(columns.job_id != job_id)
                .order_by(columns.created_at.desc())
                .limit(self.history)
            ).all()
        return JobTiming(created_at, tuple(_observation(*row) for row in rows))

    def observations(self, kind: ReportKind, days: int) -> tuple[Observation, ...]:
        """The recent finished jobs of this kind and bucket, newest first (reports, tests)."""
        low, high = bucket(days)
        columns = job_durations.c
        with read(self.engine) as tx:
            rows = tx.execute(
                sa.select(columns.created_at, columns.running_at, columns.done_at)
                .where(columns.kind == kind.value)
                .where(columns.days.between(low, high))
                .where(columns.done_at.is_not(None))
                .order_by(columns.created_at.desc())
                .limit(self.history)
            ).all()
        return tuple(_observation(*row) for row in rows)


def _observation(
    created_at: dt.datetime, running_at: dt.datetime | None, done_at: dt.datetime
) -> Observation:
    after = 0.0 if running_at is None else (running_at - created_at).total_seconds()
    return Observation(after=max(0.0, after), by=(done_at - created_at).total_seconds())

"""When the digest runs: cron, lateness, and a missed run surviving a restart of the scheduler."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.triggers.cron import CronTrigger

from bot.digest.schedule import DIGEST_JOB_ID, ensure_digest_job, is_late, last_fire_time
from bot.reports.store import create_engine
from bot.scheduling import build_scheduler
from bot.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_9 = CronTrigger.from_crontab("0 9 * * mon", timezone=BERLIN)


@pytest.mark.parametrize(
    ("now", "last", "late"),
    [
        (
            dt.datetime(2026, 11, 23, 9, 0, 5, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            False,
        ),
        (
            dt.datetime(2026, 11, 23, 9, 9, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            False,
        ),
        (
            dt.datetime(2026, 11, 23, 13, 0, tzinfo=BERLIN),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            True,
        ),
        (
            dt.datetime(2026, 11, 23, 8, 59, tzinfo=BERLIN),
            dt.datetime(2026, 11, 16, 9, tzinfo=BERLIN),
            True,
        ),
        # 09:00 in Berlin is 08:00 UTC in winter: the time zone is the digest's, not the server's.
        (
            dt.datetime(2026, 11, 23, 8, 5, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN),
            False,
        ),
        # Across the change to summer time the job still fires at 09:00 local.
        (
            dt.datetime(2026, 3, 30, 9, 1, tzinfo=BERLIN),
            dt.datetime(2026, 3, 30, 9, tzinfo=BERLIN),
            False,
        ),
    ],
)
def test_last_fire_time_and_lateness(now: dt.datetime, last: dt.datetime, late: bool) -> None:
    assert last_fire_time(MONDAY_9, now) == last
    assert is_late(MONDAY_9, now) is late


_ran = threading.Event()


def record_run() -> None:
    """A job function the job store can pickle by name."""
    _ran.set()


def _settings(**extra: object) -> Settings:
    values: dict[str, object] = {"digest_channel": "C0DIGEST", "digest_cron": "0 9 * * mon"}
    return Settings(**{**values, **extra})  # type: ignore[arg-type]


def _restart_after_outage(db: Path, missed_by: dt.timedelta, grace_hours: float) -> bool:
    """Schedule, stop, let the run time pass during an 'outage', restart; did the job run?"""
    _ran.clear()
    settings = _settings(digest_grace_hours=grace_hours)
    engine = create_engine(f"sqlite:///{db}")
    first = build_scheduler(engine)
    first.start(paused=True)
    ensure_digest_job(first, settings, record_run)
    first.shutdown(wait=False)

    # The outage: while nothing runs, the stored job's run time passes. (Done on the job store
    # directly: a live scheduler would move the run time on as it shut down.)
    store = SQLAlchemyJobStore(engine=engine)
    store.start(build_scheduler(engine), "default")
    job = store.lookup_job(DIGEST_JOB_ID)
    job._modify(next_run_time=dt.datetime.now(dt.UTC) - missed_by)
    store.update_job(job)

    second = build_scheduler(engine)
    second.start(paused=True)
    ensure_digest_job(second, settings, record_run)  # what Usagebot.start does
    second.resume()
    try:
        ran = _ran.wait(timeout=5)
        if not ran:
            # Not run: APScheduler must have moved it to the next Monday instead.
            job = second.get_job(DIGEST_JOB_ID)
            assert job.next_run_time > dt.datetime.now(dt.UTC)
        return ran
    finally:
        second.shutdown(wait=False)
        engine.dispose()


def test_a_run_missed_within_the_grace_period_runs_after_restart(tmp_path: Path) -> None:
    assert _restart_after_outage(tmp_path / "a.sqlite", dt.timedelta(hours=2), grace_hours=24)


def test_a_run_missed_beyond_the_grace_period_is_skipped(tmp_path: Path) -> None:
    assert not _restart_after_outage(tmp_path / "b.sqlite", dt.timedelta(hours=30), grace_hours=24)


def test_restart_does_not_duplicate_or_reschedule_the_job(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    scheduler = build_scheduler(engine)
    scheduler.start(paused=True)
    try:
        ensure_digest_job(scheduler, _settings(), record_run)
        first = scheduler.get_job(DIGEST_JOB_ID).next_run_time
        ensure_digest_job(scheduler, _settings(), record_run)
        assert [job.id for job in scheduler.get_jobs()] == [DIGEST_JOB_ID]
        assert scheduler.get_job(DIGEST_JOB_ID).next_run_time == first
        # A changed schedule replaces it.
        ensure_digest_job(scheduler, _settings(digest_cron="0 8 * * fri"), record_run)
        assert "fri" in str(scheduler.get_job(DIGEST_JOB_ID).trigger)
    finally:
        scheduler.shutdown(wait=False)
        engine.dispose()

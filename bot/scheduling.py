"""The scheduler, its job ids, and the module-level job functions it runs.

APScheduler's SQLAlchemy job store pickles each job, so job functions live at module level, take
ids rather than objects, and find the running bot through ``install``. Job ids are fixed
(``poll:<dataset key>``) and added with ``replace_existing=True``, so a restart or a second
``schedule_poll`` never duplicates a job. One scheduler per database: APScheduler's own FAQ says a
persistent job store must never be shared by two running schedulers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from bot.digest.post import DigestPoster
    from bot.reports.service import ReportService

log = logging.getLogger(__name__)

_service: ReportService | None = None
_digest: DigestPoster | None = None


def install(service: ReportService | None, digest: DigestPoster | None = None) -> None:
    """Make these the ones the job functions below work with (None to detach)."""
    # The scheduler's pickled jobs can carry only names and ids: this is their way in.
    global _service, _digest
    _service, _digest = service, digest


def poll_dataset(key: str) -> None:
    """Job: one polling step of a report dataset."""
    if _service is None:
        log.error("poll of %s ran before the service was installed", key)
        return
    _service.poll(key)


def run_weekly_digest() -> None:
    """Job: post the weekly idle-seat digest (once per week and channel, whatever happens)."""
    if _digest is None:
        log.error("the weekly digest ran before the bot was installed")
        return
    _digest.run_scheduled()


def poll_job_id(key: str) -> str:
    return f"poll:{key}"


def build_scheduler(engine: Engine, *, workers: int = 4) -> BackgroundScheduler:
    """A scheduler whose jobs persist in the bot's database."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            # A poll that is late (the process was down) is still wanted: run it however late.
            "misfire_grace_time": None,
        },
        timezone=dt.UTC,
    )


class Polls:
    """Schedules and cancels the polling jobs of datasets."""

    def __init__(self, scheduler: BackgroundScheduler) -> None:
        self.scheduler = scheduler

    def schedule(self, key: str, when: dt.datetime) -> None:
        self.scheduler.add_job(
            poll_dataset,
            trigger="date",
            run_date=when,
            args=[key],
            id=poll_job_id(key),
            name=f"poll {key}",
            replace_existing=True,
        )

    def cancel(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(poll_job_id(key))

    def has(self, key: str) -> bool:
        return self.scheduler.get_job(poll_job_id(key)) is not None

"""Running a report job from start to finish: create, poll on a backoff schedule, fetch, clean up.

``run_report`` is the blocking, one-call form used by ``python -m bot fetch`` and the digest. The
Slack app polls from the scheduler instead, one step at a time, with the same pieces:
``PollSchedule`` for when to look again and ``BrowserStackClient.job_status`` for the answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.browserstack import errors
from bot.browserstack.client import BrowserStackClient
from bot.browserstack.models import JobState, Report, ReportFilters, ReportKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Wait ``initial`` seconds, then ``factor`` times longer each poll, never over ``maximum``.

    Jobs that finish quickly are seen quickly; long ones cost few requests from the shared
    budget of 15 a minute.
    """

    initial: float = 4.0
    factor: float = 1.5
    maximum: float = 30.0

    def delay(self, polls: int) -> float:
        """Seconds to wait before poll number ``polls`` (0-based)."""
        return min(self.maximum, self.initial * self.factor**polls)


@dataclass(frozen=True, slots=True)
class JobProgress:
    """What ``run_report`` tells its ``on_status`` callback at each change."""

    kind: ReportKind
    job_id: str
    state: JobState
    status: str
    message: str
    elapsed: float
    polls: int


def run_report(
    client: BrowserStackClient,
    kind: ReportKind,
    filters: ReportFilters | None = None,
    *,
    deadline: float = 900.0,
    schedule: PollSchedule | None = None,
    on_status: Callable[[JobProgress], None] | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], bool] | None = None,
) -> Report:
    """Create a job, poll it until done, and return its report.

    ``wait(seconds)`` sleeps and returns True when the caller cancelled (by default it waits on
    ``cancel``). While the account's queue is full, creating is tried again on the poll schedule.
    Past ``deadline`` seconds, or on cancel, the job is deleted so that it stops taking a place in
    the account's queue, and JobTimedOutError or JobCancelledError is raised.
    """
    filters = filters or ReportFilters()
    schedule = schedule or PollSchedule()
    cancel = cancel or threading.Event()
    wait = wait or cancel.wait
    started = clock()
    job_id = _create(client, kind, filters, schedule, deadline, started, clock, wait)
    last_status: str | None = None
    polls = 0
    finished = False
    try:
        while True:
            if wait(schedule.delay(polls)) or cancel.is_set():
                raise errors.JobCancelledError(job_id=job_id)
            elapsed = clock() - started
            if elapsed > deadline:
                raise errors.JobTimedOutError(job_id=job_id, waited=elapsed)
            status = client.job_status(kind, job_id)
            polls += 1
            if status.status != last_status:
                last_status = status.status
                if on_status:
                    on_status(
                        JobProgress(
                            kind,
                            job_id,
                            status.state,
                            status.status,
                            status.message,
                            elapsed,
                            polls,
                        )
                    )
            if status.state is JobState.FAILED:
                finished = True
                raise errors.JobFailedError(job_id=job_id, status=status.status)
            if status.state is JobState.COMPLETED:
                report = client.get_report(kind, job_id, filters=filters)
                finished = True
                return report
    finally:
        if not finished:
            _delete_quietly(client, kind, job_id)


def _create(
    client: BrowserStackClient,
    kind: ReportKind,
    filters: ReportFilters,
    schedule: PollSchedule,
    deadline: float,
    started: float,
    clock: Callable[[], float],
    wait: Callable[[float], bool],
) -> str:
    """Queue the job, waiting for a place while the account's queue is full."""
    tries = 0
    while True:
        try:
            return client.create_job(kind, filters)
        except errors.QueueFullError:
            elapsed = clock() - started
            if elapsed > deadline:
                raise
            log.info("the report queue is full; asking again in %.0f s", schedule.delay(tries))
            if wait(schedule.delay(tries)):
                raise errors.JobCancelledError(job_id="") from None
            tries += 1


def _delete_quietly(client: BrowserStackClient, kind: ReportKind, job_id: str) -> None:
    """Free the job's queue place; a failure here must not hide the error that got us here."""
    try:
        client.delete_job(kind, job_id)
    except errors.BrowserStackError as error:
        log.warning("could not delete %s report job %s: %s", kind, job_id, error)

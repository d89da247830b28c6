"""Questions in, answers out: report datasets shared between requests, polled one step at a time.

``submit`` records a request and either answers it from a fresh dataset at once, attaches it to a
dataset already being generated, or starts a new one. ``poll`` is one step of a dataset's life
(create the BrowserStack job, check its status, fetch the report), run by the scheduler again and
again until the dataset is ready, failed, timed out or cancelled. All state lives in the store,
so a restart loses nothing: the scheduler's persistent jobs resume the polls, and ``recover``
answers what a crash left half-done.

This module knows nothing of Slack: it tells a ``Notifier`` what happened to each request.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.browserstack import errors
from bot.browserstack.client import BrowserStackClient
from bot.browserstack.jobs import PollSchedule
from bot.browserstack.models import JobState, Report, ReportFilters, ReportKind
from bot.reports.store import (
    Dataset,
    DatasetState,
    PendingRequest,
    RequestState,
    Store,
)

log = logging.getLogger(__name__)

# Transient trouble while polling: keep trying until the deadline rather than give up at once.
_TRANSIENT = (errors.TransportError, errors.ServerError, errors.RateLimitedError)


class Notifier(Protocol):
    """Tells the person who asked; implemented by the Slack delivery."""

    def progress(self, request: PendingRequest, status: str) -> None: ...

    def answer(self, request: PendingRequest, report: Report) -> None: ...

    def fail(self, request: PendingRequest, error: errors.BrowserStackError) -> None: ...

    def cancelled(
        self, request: PendingRequest, *, by_user: str | None, note: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Timing:
    deadline: float = 900.0
    cache_ttl: float = 3600.0
    schedule: PollSchedule = field(default_factory=PollSchedule)


@dataclass(frozen=True, slots=True)
class Submitted:
    request: PendingRequest
    dataset: Dataset
    outcome: str  # "cached" (already answered), "joined" (shares a job) or "started"
    status: str  # what to tell the asker meanwhile


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    cancelled: bool
    job_deleted: bool
    others_waiting: int


class ReportService:
    """The one place that decides when BrowserStack is asked, and who is told what."""

    def __init__(
        self,
        *,
        store: Store,
        client: BrowserStackClient,
        notifier: Notifier,
        schedule_poll: Callable[[str, dt.datetime], None],
        cancel_poll: Callable[[str], None],
        timing: Timing | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store = store
        self.client = client
        self.notifier = notifier
        self.timing = timing or Timing()
        self._schedule_poll = schedule_poll
        self._cancel_poll = cancel_poll
        self._clock = clock

    def submit(
        self,
        kind: ReportKind,
        filters: ReportFilters,
        *,
        command: dict[str, Any],
        user_id: str,
        channel_id: str,
        team_id: str | None = None,
        response_url: str | None = None,
        thread_ts: str | None = None,
        placeholder_ts: str | None = None,
        request_id: str | None = None,
    ) -> Submitted:
        """Record a question; answer it now from the cache, or get a report going.

        Raises RequestExists when ``request_id`` was cancelled before it got here.
        """
        now = self._clock()
        # The request is stored first: a Cancel click that raced ahead has left a tombstone
        # under this id, and then nothing may start for it.
        request = self.store.add_request(
            command=command,
            user_id=user_id,
            channel_id=channel_id,
            team_id=team_id,
            response_url=response_url,
            thread_ts=thread_ts,
            now=now,
            request_id=request_id,
            placeholder_ts=placeholder_ts,
        )
        while True:
            dataset, new = self.store.start_dataset(
                kind, filters, now=now, deadline=self.timing.deadline
            )
            self.store.update_request(request.id, dataset_key=dataset.key)
            # Read the dataset again: since start_dataset a poll may have finished it (then this
            # request would wait for an answer already given out), or the last other asker may
            # have cancelled it (see ``Store.abandon_dataset``): then start afresh.
            current = self.store.dataset(dataset.key) or dataset
            if current.state is not DatasetState.CANCELLED:
                break
        request = self.store.request(request.id) or request
        if current.fresh(now):
            report = self.store.report(current.key)
            if report is not None:
                self._answer(request, report)
                return Submitted(request, current, "cached", "ready")
        if current.state is DatasetState.FAILED:
            self._fail_request(request, errors.BrowserStackError(current.error or "failed"))
            return Submitted(request, current, "failed", "failed")
        if new:
            self._schedule_poll(current.key, now)
            return Submitted(request, current, "started", self.describe(current))
        return Submitted(request, current, "joined", self.describe(current))

    def describe(self, dataset: Dataset) -> str:
        """Where a dataset stands, in words for a placeholder."""
        status = dataset.job_status or "starting"
        if status in ("enqueued", "starting"):
            ahead = self.store.jobs_ahead(dataset.key)
            word = "queued" if dataset.job_status else "starting"
            return f"{word}, {ahead} job{'s' if ahead != 1 else ''} ahead" if ahead else word
        return status

    def poll(self, key: str) -> None:
        """One step of a dataset's life; schedules the next one unless it has ended."""
        dataset = self.store.dataset(key)
        if dataset is None or dataset.state is not DatasetState.PENDING:
            return
        now = self._clock()
        try:
            if dataset.job_id is None:
                self._create_job(dataset, now)
            else:
                self._check_job(dataset, now)
        except _TRANSIENT as error:
            if now >= dataset.deadline_at:
                self._fail(dataset, error)
            else:
                log.warning("dataset %s: %s; trying again", key, error)
                self._next(key, dataset.polls, now)
        except errors.BrowserStackError as error:
            self._fail(dataset, error)

    def _create_job(self, dataset: Dataset, now: dt.datetime) -> None:
        job_id = self.client.create_job(dataset.kind, dataset.filters)
        self.store.update_dataset(dataset.key, job_id=job_id, job_status="enqueued")
        self._progress(dataset.key, self.describe(self.store.dataset(dataset.key) or dataset))
        self._next(dataset.key, 0, now)

    def _check_job(self, dataset: Dataset, now: dt.datetime) -> None:
        assert dataset.job_id is not None
        if now >= dataset.deadline_at:
            self._delete_job(dataset)
            waited = (now - dataset.created_at).total_seconds()
            self._fail(dataset, errors.JobTimedOutError(job_id=dataset.job_id, waited=waited))
            return
        status = self.client.job_status(dataset.kind, dataset.job_id)
        if status.status != dataset.job_status:
            self.store.update_dataset(dataset.key, job_status=status.status)
            if status.state in (JobState.QUEUED, JobState.RUNNING):
                refreshed = self.store.dataset(dataset.key) or dataset
                self._progress(dataset.key, self.describe(refreshed))
        if status.state is JobState.FAILED:
            self._fail(dataset, errors.JobFailedError(job_id=dataset.job_id, status=status.status))
        elif status.state is JobState.COMPLETED:
            report = self.client.get_report(dataset.kind, dataset.job_id, filters=dataset.filters)
            self.store.finish_dataset(dataset.key, report, now=now, ttl=self.timing.cache_ttl)
            for request in self.store.waiting_requests(dataset.key):
                self._answer(request, report)
        else:
            self.store.update_dataset(dataset.key, polls=dataset.polls + 1)
            self._next(dataset.key, dataset.polls + 1, now)

    def _next(self, key: str, polls: int, now: dt.datetime) -> None:
        delay = self.timing.schedule.delay(polls)
        self._schedule_poll(key, now + dt.timedelta(seconds=delay))

    def _progress(self, key: str, status: str) -> None:
        for request in self.store.waiting_requests(key):
            if request.last_status != status:
                self.store.update_request(request.id, last_status=status)
                self._tell(self.notifier.progress, request, status)

    def _answer(self, request: PendingRequest, report: Report) -> None:
        if not self.store.claim(request.id):
            return
        self._tell(self.notifier.answer, request, report)
        self.store.mark(request.id, RequestState.ANSWERED, now=self._clock())

    def _fail(self, dataset: Dataset, error: errors.BrowserStackError) -> None:
        log.warning("dataset %s failed: %s", dataset.key, error)
        self.store.update_dataset(dataset.key, state=DatasetState.FAILED.value, error=str(error))
        for request in self.store.waiting_requests(dataset.key):
            self._fail_request(request, error)

    def _fail_request(self, request: PendingRequest, error: errors.BrowserStackError) -> None:
        if self.store.claim(request.id):
            self._tell(self.notifier.fail, request, error)
            self.store.mark(request.id, RequestState.ANSWERED, now=self._clock())

    def _tell(
        self, what: Callable[..., None], request: PendingRequest, *args: Any, **kwargs: Any
    ) -> None:
        # One person's Slack trouble must not stop the others from getting their answers.
        try:
            what(request, *args, **kwargs)
        except Exception:
            log.exception("could not tell request %s (%s)", request.id, what.__name__)

    def cancel(self, request_id: str, *, by_user: str) -> CancelOutcome:
        """Cancel one request; delete the BrowserStack job if nobody else waits on it."""
        request = self.store.request(request_id)
        if request is None or not self.store.claim(request_id):
            return CancelOutcome(cancelled=False, job_deleted=False, others_waiting=0)
        self.store.mark(request_id, RequestState.CANCELLED, now=self._clock())
        dataset = self.store.dataset(request.dataset_key) if request.dataset_key else None
        deleted, note = False, None
        if dataset is not None and dataset.state is DatasetState.PENDING:
            if self.store.abandon_dataset(dataset.key):
                self._cancel_poll(dataset.key)
                deleted = self._delete_job(dataset)
                if deleted:
                    note = "BrowserStack's report job was deleted, freeing its place in the queue."
            else:
                note = "Someone else is waiting for the same report, so it goes on for them."
        others = self.store.waiting_requests(request.dataset_key) if request.dataset_key else []
        self._tell(self.notifier.cancelled, request, by_user=by_user, note=note)
        return CancelOutcome(cancelled=True, job_deleted=deleted, others_waiting=len(others))

    def _delete_job(self, dataset: Dataset) -> bool:
        if dataset.job_id is None:
            return False
        try:
            self.client.delete_job(dataset.kind, dataset.job_id)
        except errors.BrowserStackError as error:
            log.warning("could not delete job %s: %s", dataset.job_id, error)
            return False
        return True

    def recover(self, *, has_poll: Callable[[str], bool]) -> int:
        """After a restart: resume polls that have no scheduled job, answer half-done requests."""
        now = self._clock()
        resumed = 0
        for dataset in self.store.pending_datasets():
            if not has_poll(dataset.key):
                self._schedule_poll(dataset.key, now)
                resumed += 1
        for request in self.store.unfinished_answers():
            # Claimed but never marked: the process died mid-answer. Answering again may repeat
            # a message in that narrow window; never answering would lose the request.
            self.store.update_request(request.id, state=RequestState.WAITING.value)
            dataset = self.store.dataset(request.dataset_key) if request.dataset_key else None
            if dataset is None:
                continue
            if dataset.state is DatasetState.READY:
                report = self.store.report(dataset.key)
                if report is not None:
                    self._answer(request, report)
            elif dataset.state is not DatasetState.PENDING:
                error = errors.BrowserStackError(dataset.error or "The report could not be made.")
                self._fail_request(request, error)
        return resumed

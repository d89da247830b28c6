"""Questions in, answers out: report datasets shared between requests, made one step at a time.

``attach`` puts a checked request on its dataset: answered at once from a fresh one, joined to
one being made, or starting a new one. ``step`` is one step of a dataset's life (create the
BrowserStack job, check its status, fetch the report), taken by whichever process holds the
dataset's lease when the step is due, until the dataset is ready, failed, timed out or
cancelled. ``deliver`` answers one request whose dataset has ended. Every step starts from what
the store says and ends by writing it back, so a process that dies at any point leaves work that
another process (or the same one, restarted) picks up: see ``bot.scheduling``.

This module knows nothing of Slack: it tells a ``Notifier`` what happened to each request.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from bot.browserstack import errors
from bot.browserstack.client import BrowserStackClient
from bot.browserstack.jobs import LearnedSchedule, PollSchedule, next_check
from bot.browserstack.models import JobState, Report, ReportFilters, ReportKind, classify_status
from bot.clock import Clock
from bot.reports.durations import JobDurations
from bot.reports.leases import Leases
from bot.reports.question import Question
from bot.reports.store import (
    Dataset,
    DatasetState,
    PendingRequest,
    RequestState,
    Store,
    dataset_key,
)

log = logging.getLogger(__name__)

# Trouble that passes: keep trying until the deadline rather than give up at once.
_TRANSIENT = (
    errors.TransportError,
    errors.ServerError,
    errors.RateLimitedError,
    errors.InvalidResponseError,
    errors.QueueFullError,
)
# A create whose answer never came may have made a job we cannot name (BrowserStack has no way
# to list jobs): after this many, stop adding jobs to the account's queue and say so.
MAX_UNCONFIRMED_CREATES = 2
# How long a request may be tried (each claim is one attempt) before its asker is told it failed.
MAX_ATTEMPTS = 5
# After a 429 without Retry-After (none is documented): long enough for tokens to refill.
RATE_LIMITED_WAIT = 20.0
# An abandoned job that still cannot be deleted this long after its deadline is left to expire.
GIVE_UP_DELETING = dt.timedelta(days=1)


class Notifier(Protocol):
    """Tells the person who asked; implemented by the Slack delivery."""

    def progress(self, request: PendingRequest, status: str) -> None: ...

    def answer(self, request: PendingRequest, reports: Mapping[ReportKind, Report]) -> None: ...

    def fail(self, request: PendingRequest, failure: errors.Failure) -> None: ...

    def cancelled(
        self, request: PendingRequest, *, by_user: str | None, note: str | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Timing:
    deadline: float = 900.0
    cache_ttl: float = 3600.0
    # Without history for a job's kind and period length: the backoff schedule.
    schedule: PollSchedule = field(default_factory=PollSchedule)
    # With it: checks planned from recent jobs' durations (None: the backoff schedule always).
    learned: LearnedSchedule | None = field(default_factory=LearnedSchedule)
    # Steps and deliveries that fail unexpectedly are tried again after this long.
    retry_after: float = 5.0


@dataclass(frozen=True, slots=True)
class Attached:
    request: PendingRequest
    dataset: Dataset
    outcome: str  # "answered" (from the cache or a failure), "joined" or "started"
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
        leases: Leases,
        clock: Clock,
        timing: Timing | None = None,
        kick: Callable[[], None] = lambda: None,
        durations: JobDurations | None = None,
    ) -> None:
        self.store = store
        # Shared by every process on the database, as the datasets are.
        self.durations = durations or JobDurations(store.engine)
        self.client = client
        self.notifier = notifier
        self.leases = leases
        self.clock = clock
        self.timing = timing or Timing()
        # Tells the scheduler that a step is due now, so that it need not wait for its tick.
        self.kick = kick

    # Requests

    def attach(self, request_id: str, *, question: Question | None = None) -> Attached | None:
        """Put a checked request on its dataset (this process must hold its lease, or nobody),
        with ``question`` as its check completed it, if it did.

        The asker is told where the report stands while the request's lease is still held, so
        that no answer can overtake that news and be replaced by it. None when the request was
        cancelled, or taken by someone else, meanwhile.
        """
        lease = self.leases.take()
        attached = self.store.attach(
            request_id, lease, deadline=self.timing.deadline, hold=True, question=question
        )
        if attached is None:
            return None
        request, dataset, new = attached
        finished = False
        try:
            if dataset.fresh(lease.now):
                # What attach just read is passed on: a cached answer is a handful of database
                # round trips, each ~1-2 ms of SQLAlchemy here, and they add up under load.
                finished = self.deliver(request.id, mine=True, known=(request, dataset))
                return Attached(request, dataset, "answered", "ready")
            if new:
                self.kick()
            status = self.describe(dataset)
            # The placeholder already says "starting": only news is worth a message.
            if status != "starting":
                self.store.update_request(request.id, last_status=status)
                self._tell(self.notifier.progress, request, status)
            return Attached(request, dataset, "started" if new else "joined", status)
        finally:
            if not finished:  # an answered request's lease went with its answer
                self.store.release_request(request.id, lease.owner)

    def describe(self, dataset: Dataset) -> str:
        """Where a dataset stands, in words for a placeholder."""
        status = dataset.job_status or "starting"
        if status in ("enqueued", "starting"):
            ahead = self.store.jobs_ahead(dataset.key)
            word = "queued" if dataset.job_status else "starting"
            return f"{word}, {ahead} job{'s' if ahead != 1 else ''} ahead" if ahead else word
        return status

    def deliver(
        self,
        request_id: str,
        *,
        mine: bool = False,
        known: tuple[PendingRequest, Dataset] | None = None,
    ) -> bool:
        """Answer one request whose dataset has ended; False when there was nothing to do.

        Takes the request's lease first (``mine``: a lease this process holds counts): of two
        processes that try, one answers. A request whose dataset is gone (cancelled by its
        last other asker, or expired) starts it again. A question that reads several reports
        is answered once all are ready: until then it moves on to the next one still being
        made, and waits there. ``known``: the request and its dataset as the caller has just
        read them under its lease (``attach``).
        """
        request, found = known if known is not None else (self.store.request(request_id), None)
        if request is None or request.state not in (RequestState.WAITING, RequestState.ANSWERING):
            return False
        dataset = found if found is not None else self.store.dataset(request.dataset_key)
        if dataset is None or dataset.state is DatasetState.CANCELLED:
            return self.attach(request_id) is not None
        if dataset.state is DatasetState.PENDING:
            return False
        reports: dict[ReportKind, Report] = {}
        if dataset.state is DatasetState.READY:
            ended = self._all_ended(request, dataset, reports)
            if ended is None:
                return self.attach(request_id) is not None  # expired and pruned: make it again
            if ended.state is DatasetState.PENDING:
                self._move(request, ended)
                return False
            dataset = ended  # every report is ready, or this one failed
        lease = self.leases.take()
        claimed = self.store.claim_request(
            request_id, lease, states=(RequestState.WAITING, RequestState.ANSWERING), mine=mine
        )
        if claimed is None:
            return False
        if claimed.attempts > MAX_ATTEMPTS:
            log.error("request %s failed %d times; telling its asker", claimed.id, MAX_ATTEMPTS)
            given_up = errors.Failure(
                errors.FailureKind.OTHER, "The answer could not be delivered; please ask again."
            )
            self._tell(self.notifier.fail, claimed, given_up)
        elif dataset.state is DatasetState.READY:
            if not self._tell(self.notifier.answer, claimed, reports):
                self.store.release_request(claimed.id, lease.owner, retry_at=self._retry_at())
                return False
        else:
            failure = errors.Failure(
                errors.FailureKind(dataset.error_kind or errors.FailureKind.OTHER),
                dataset.error or "The report could not be made.",
            )
            if not self._tell(self.notifier.fail, claimed, failure):
                self.store.release_request(claimed.id, lease.owner, retry_at=self._retry_at())
                return False
        self.store.finish_request(
            claimed.id, RequestState.ANSWERED, now=self.clock.now(), owner=lease.owner
        )
        return True

    def reports(self, question: Question) -> dict[ReportKind, Report] | None:
        """Every report ``question``'s answer reads, as stored; None when one is gone."""
        found = {}
        for kind in question.kinds:
            report = self.store.report(dataset_key(kind, question.filters))
            if report is None:
                return None
            found[kind] = report
        return found

    def _all_ended(
        self, request: PendingRequest, ready: Dataset, reports: dict[ReportKind, Report]
    ) -> Dataset | None:
        """Fill ``reports`` from the request's datasets, ``ready`` first; the first one that is
        not ready stops it (pending: the request moves there; failed: its failure is the news).

        None when a dataset is gone or its report was pruned: the request is attached again.
        """
        question = request.question
        for kind in (ready.kind, *(k for k in question.kinds if k is not ready.kind)):
            dataset = (
                ready
                if kind is ready.kind
                else self.store.dataset(dataset_key(kind, question.filters))
            )
            if dataset is None or dataset.state is DatasetState.CANCELLED:
                return None
            if dataset.state is not DatasetState.READY:
                return dataset
            report = self.store.report(dataset.key)
            if report is None:
                return None
            reports[kind] = report
        return ready

    def _move(self, request: PendingRequest, pending: Dataset) -> None:
        """On to the next dataset the answer reads, telling the asker where it stands."""
        lease = self.leases.take()
        if not self.store.move_request(
            request.id, lease, from_key=request.dataset_key, to_key=pending.key
        ):
            return  # someone else moved or took it
        status = self.describe(pending)
        if status != request.last_status:
            self._news(request.id, pending.key, status)

    def cancel(self, request_id: str, *, by_user: str) -> CancelOutcome:
        """Cancel ``by_user``'s own request; delete the BrowserStack job if nobody else waits."""
        request = self.store.request(request_id)
        now = self.clock.now()
        if request is None or not self.store.cancel_request(request_id, user_id=by_user, now=now):
            return CancelOutcome(cancelled=False, job_deleted=False, others_waiting=0)
        # Every dataset the question reads that is still being made and that no one else may
        # need (no open request waits on any of them) stops; the others go on.
        keys = [dataset_key(kind, request.question.filters) for kind in request.question.kinds]
        deleted, later, shared = False, False, False
        for key in dict.fromkeys([request.dataset_key, *keys]):
            dataset = self.store.dataset(key)
            if dataset is None or dataset.state is not DatasetState.PENDING:
                continue
            if not self.store.abandon_dataset(dataset.key, waiting_on=keys):
                shared = True
            elif self._abandon_job(dataset):
                deleted = True
            elif dataset.job_id:
                later = True
        note = None
        if shared:
            note = "Someone else is waiting for the same report, so it goes on for them."
        elif deleted:
            note = "BrowserStack's report job was deleted, freeing its place in the queue."
        elif later:
            note = "BrowserStack's report job will be deleted in a moment."
        others = self.store.waiting_requests(request.dataset_key)
        self._tell(self.notifier.cancelled, request, by_user=by_user, note=note)
        return CancelOutcome(cancelled=True, job_deleted=deleted, others_waiting=len(others))

    # Datasets

    def share(self, kind: ReportKind, filters: ReportFilters, report: Report) -> None:
        """Put a report fetched outside the work loop (the posted digest's) in the shared
        datasets, so that questions of its kind and period read it (``Store.share_report``)."""
        if self.store.share_report(
            kind, filters, report, now=self.clock.now(), ttl=self.timing.cache_ttl
        ):
            # Requests left on a failed dataset of that key are answered from it at once.
            self.kick()

    def step(self, key: str) -> None:
        """One step of a dataset whose lease this process holds; the next one is scheduled."""
        owner = self.leases.owner
        dataset = self.store.dataset(key)
        if dataset is not None and dataset.delete_job:
            self._clean_up(dataset)
            return
        if dataset is None or dataset.state is not DatasetState.PENDING:
            self.store.step_done(key, owner, next_step_at=None)
            return
        now = self.clock.now()
        try:
            if now >= dataset.deadline_at:
                self._time_out(dataset)
            elif dataset.job_id is None:
                self._create_job(dataset, now)
            else:
                self._check_job(dataset, now)
        except errors.BudgetSpentError as error:
            # Not trouble: the account's budget is shared, and this step's turn comes later.
            later = now + dt.timedelta(seconds=error.retry_after)
            self.store.step_done(key, owner, next_step_at=min(later, dataset.deadline_at))
        except errors.RateLimitedError as error:
            log.warning("dataset %s: BrowserStack says 429; trying again later", key)
            wait = error.retry_after if error.retry_after is not None else RATE_LIMITED_WAIT
            self._again(dataset, now, error, at=now + dt.timedelta(seconds=wait))
        except errors.UnconfirmedJobError as error:
            self._unconfirmed(dataset, error, now)
        except _TRANSIENT as error:
            log.warning("dataset %s: %s; trying again", key, error)
            self._again(dataset, now, error)
        except errors.BrowserStackError as error:
            self._fail(dataset, error)
        except Exception:
            # A bug, or the database gone: logged once; the step is tried again, never dropped,
            # and the deadline still ends it.
            log.exception("dataset %s: step failed unexpectedly; trying again", key)
            self.store.step_done(key, owner, next_step_at=self._retry_at())

    def _create_job(self, dataset: Dataset, now: dt.datetime) -> None:
        job_id = self.client.create_job(dataset.kind, dataset.filters)
        # The job's clock starts when BrowserStack has it: after the answer, so that waits
        # measured from here are never longer than the job's own.
        created = self.clock.now()
        self._record(self.durations.created, job_id, dataset.kind, _days(dataset), at=created)
        if not self.store.step_done(
            dataset.key,
            self.leases.owner,
            next_step_at=self._next_check(dataset, job_id, 0, created),
            job_id=job_id,
            job_status="enqueued",
            polls=0,
            error=None,
            error_kind=None,
        ):
            # Our lease was taken over while we waited on BrowserStack: this job is no one's.
            self._delete_job_id(dataset, job_id)
            return
        stored = self.store.dataset(dataset.key) or dataset
        if stored.state is DatasetState.CANCELLED:
            # Cancelled while BrowserStack made the job: the canceller saw no job to delete, so
            # this step deletes it, or it would hold a place in the account's queue.
            self._abandon_job(stored)
            return
        self._progress(dataset.key, self.describe(stored))

    def _check_job(self, dataset: Dataset, now: dt.datetime) -> None:
        assert dataset.job_id is not None
        if classify_status(dataset.job_status) is JobState.COMPLETED:
            self._download(dataset, now)
            return
        sent = self.clock.now()
        status = self.client.job_status(dataset.kind, dataset.job_id)
        answered = self.clock.now()
        if status.state is JobState.FAILED:
            self._fail(dataset, errors.JobFailedError(job_id=dataset.job_id, status=status.status))
            return
        if status.state is JobState.COMPLETED:
            # Known from now on: a download put off (the shared budget spent, a passing error)
            # is tried again as a download, not after another status request. Asking again
            # would spend the token the download needs, over and over, while others wait.
            self.store.update_dataset(dataset.key, job_status=status.status)
            self._record(self.durations.done, dataset.job_id, at=answered)
            self._download(dataset, now)
            return
        self._record(self.durations.running, dataset.job_id, at=sent)
        polls = dataset.polls + 1
        self.store.step_done(
            dataset.key,
            self.leases.owner,
            next_step_at=self._next_check(dataset, dataset.job_id, polls, answered),
            polls=polls,
            job_status=status.status,
            error=None,  # BrowserStack answers: any earlier trouble has passed
            error_kind=None,
        )
        if status.status != dataset.job_status:
            self._progress(dataset.key, self.describe(self.store.dataset(dataset.key) or dataset))

    def _download(self, dataset: Dataset, now: dt.datetime) -> None:
        assert dataset.job_id is not None
        report = self.client.get_report(dataset.kind, dataset.job_id, filters=dataset.filters)
        if self.store.finish_dataset(
            dataset.key, self.leases.owner, report, now=now, ttl=self.timing.cache_ttl
        ):
            self._answer_waiting(dataset.key)

    def _next_check(
        self, dataset: Dataset, job_id: str, polls: int, now: dt.datetime
    ) -> dt.datetime:
        """When to check the job's status next: where recent jobs of its kind and period
        length say it is likely done (``LearnedSchedule``), or without them on the backoff
        schedule; never past the deadline."""
        learned = self.timing.learned
        timing = None
        if learned is not None:
            try:
                timing = self.durations.timing(job_id, dataset.kind, _days(dataset))
            except sa.exc.SQLAlchemyError:
                # Only the schedule's precision is lost: the backoff schedule still works.
                log.warning("could not read recent job durations", exc_info=True)
        maximum = self.timing.schedule.maximum
        plan: tuple[float, ...] = ()
        if learned is not None and timing is not None:
            plan = learned.plan(timing.history, maximum=maximum)
        if timing is None or not plan:
            return self._next_poll(dataset, polls, now)
        elapsed = (now - timing.created_at).total_seconds()
        at = next_check(plan, elapsed, maximum=maximum)
        return min(timing.created_at + dt.timedelta(seconds=at), dataset.deadline_at)

    def _record(self, what: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Write a job's timing; a failure costs the schedule some precision, never the job."""
        try:
            what(*args, **kwargs)
        except sa.exc.SQLAlchemyError:
            log.warning("could not record a job's timing (%s)", what.__name__, exc_info=True)

    def _next_poll(self, dataset: Dataset, polls: int, now: dt.datetime) -> dt.datetime:
        """The poll schedule's next time, but never past the deadline (then it times out)."""
        later = now + dt.timedelta(seconds=self.timing.schedule.delay(polls))
        return min(later, dataset.deadline_at)

    def _again(
        self,
        dataset: Dataset,
        now: dt.datetime,
        error: errors.BrowserStackError,
        *,
        at: dt.datetime | None = None,
    ) -> None:
        """After a passing trouble: the same step later (on the poll schedule, or ``at``).

        The trouble is kept: if it lasts until the deadline, it is what the asker is told.
        """
        failure = errors.Failure.of(error)
        later = self._next_poll(dataset, dataset.polls + 1, now) if at is None else at
        self.store.step_done(
            dataset.key,
            self.leases.owner,
            next_step_at=min(later, dataset.deadline_at),
            polls=dataset.polls + 1,
            error=failure.message,
            error_kind=failure.kind.value,
        )

    def _unconfirmed(
        self, dataset: Dataset, error: errors.UnconfirmedJobError, now: dt.datetime
    ) -> None:
        """A create sent but never confirmed: a job may be queued that no one can name."""
        count = dataset.unanswered_creates + 1
        log.warning(
            "dataset %s: create %d not confirmed (%s); BrowserStack may hold a job we cannot "
            "delete",
            dataset.key,
            count,
            error,
        )
        if count >= MAX_UNCONFIRMED_CREATES:
            self._fail(
                dataset,
                errors.BrowserStackError(
                    "BrowserStack did not confirm the report job, twice, so I stopped asking "
                    "rather than fill the account's report queue. Try again in a few minutes."
                ),
                unanswered_creates=count,
            )
            return
        # Leave the unconfirmed job time to run its course before queueing another.
        later = now + dt.timedelta(seconds=self.timing.schedule.maximum)
        self.store.step_done(
            dataset.key,
            self.leases.owner,
            next_step_at=min(later, dataset.deadline_at),
            unanswered_creates=count,
        )

    def _time_out(self, dataset: Dataset) -> None:
        if dataset.error and dataset.error_kind:
            # The last step failed too (BrowserStack down, the queue full): that trouble, which
            # lasted until the deadline, is the news, not the clock.
            last = errors.Failure(errors.FailureKind(dataset.error_kind), dataset.error)
            self._fail(dataset, last)
            return
        waited = (dataset.deadline_at - dataset.created_at).total_seconds()
        self._fail(dataset, errors.JobTimedOutError(job_id=dataset.job_id, waited=waited))

    def _fail(
        self, dataset: Dataset, error: errors.BrowserStackError | errors.Failure, **values: Any
    ) -> None:
        log.warning("dataset %s failed: %s", dataset.key, error)
        failure = error if isinstance(error, errors.Failure) else errors.Failure.of(error)
        done = self.store.step_done(
            dataset.key,
            self.leases.owner,
            next_step_at=None,
            state=DatasetState.FAILED.value,
            error=failure.message,
            error_kind=failure.kind.value,
            **values,
        )
        # A job that will never be read is deleted, so that it stops holding a queue place
        # (one that BrowserStack itself failed holds none).
        if done and dataset.job_id and not isinstance(error, errors.JobFailedError):
            self._abandon_job(dataset)
        if done:
            self._answer_waiting(dataset.key)

    def _answer_waiting(self, key: str) -> None:
        """Answer everyone waiting on an ended dataset, each request claimed on its own."""
        for request in self.store.waiting_requests(key):
            self.deliver(request.id)

    def _progress(self, key: str, status: str) -> None:
        """Tell the requests waiting on ``key`` where it stands, each under its lease.

        A deliverer holds the same lease while it answers: news sent without it could land
        after the answer (another process answering, or the request moved on to its next
        report) and replace the answer with a placeholder. A request held by someone else gets
        no news; one whose delivery this hold made fail is answered by the work loop.
        """
        for waiting in self.store.waiting_requests(key):
            if waiting.last_status != status:
                self._news(waiting.id, key, status)

    def _news(self, request_id: str, key: str, status: str) -> None:
        """Tell one request waiting on ``key`` its ``status``, under its lease (see _progress)."""
        lease = self.leases.take()
        request = self.store.hold_request(
            request_id, lease, state=RequestState.WAITING, dataset_key=key, last_status=status
        )
        if request is None:
            return
        try:
            self._tell(self.notifier.progress, request, status)
        finally:
            self.store.release_request(request.id, lease.owner)

    def _tell(
        self, what: Callable[..., None], request: PendingRequest, *args: Any, **kwargs: Any
    ) -> bool:
        """Call the notifier; one person's Slack trouble must not stop the others' answers."""
        try:
            what(request, *args, **kwargs)
        except Exception:
            log.exception("could not tell request %s (%s)", request.id, what.__name__)
            return False
        return True

    def _retry_at(self) -> dt.datetime:
        return self.clock.now() + dt.timedelta(seconds=self.timing.retry_after)

    def _abandon_job(self, dataset: Dataset) -> bool:
        """Delete an ended dataset's job now if the budget allows (True), else soon: the work
        loop takes the deletion up as a step of its own, whichever process survives."""
        if dataset.job_id is None:
            return False
        try:
            self.client.delete_job(dataset.kind, dataset.job_id)
        except errors.NotFoundError:
            return True  # already gone
        except errors.BrowserStackError as error:
            wait = getattr(error, "retry_after", None) or self.timing.retry_after
            log.info("job %s will be deleted later: %s", dataset.job_id, error)
            self.store.update_dataset(
                dataset.key,
                delete_job=True,
                next_step_at=self.clock.now() + dt.timedelta(seconds=wait),
            )
            self.kick()
            return False
        return True

    def _clean_up(self, dataset: Dataset) -> None:
        """The step of an abandoned job: delete it at BrowserStack, or try again later."""
        assert dataset.job_id is not None
        now = self.clock.now()
        try:
            self.client.delete_job(dataset.kind, dataset.job_id)
        except errors.NotFoundError:
            pass  # already gone
        except errors.BrowserStackError as error:
            if now < dataset.deadline_at + GIVE_UP_DELETING:
                wait = getattr(error, "retry_after", None) or self.timing.schedule.maximum
                later = now + dt.timedelta(seconds=wait)
                self.store.step_done(dataset.key, self.leases.owner, next_step_at=later)
                return
            log.warning("giving up deleting job %s: %s", dataset.job_id, error)
        self.store.step_done(dataset.key, self.leases.owner, next_step_at=None, delete_job=False)

    def _delete_job_id(self, dataset: Dataset, job_id: str) -> bool:
        try:
            self.client.delete_job(dataset.kind, job_id)
        except errors.NotFoundError:
            return True  # already gone
        except errors.BrowserStackError as error:
            log.warning("could not delete job %s: %s", job_id, error)
            return False
        return True


def _days(dataset: Dataset) -> int:
    """The length of a dataset's period in days, both ends counted (its jobs' timing bucket)."""
    start, end = dataset.filters.start, dataset.filters.end
    return 0 if start is None or end is None else (end - start).days + 1

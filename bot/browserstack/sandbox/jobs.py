"""The sandbox's report jobs: one queue per account, a lifecycle read off an injected timer.

A job's status is never stored: it is computed from its age, so tests move a job along by advancing
a fake timer instead of sleeping. ``enqueued`` for ``queued_seconds``, then ``processing`` for
``processing_seconds``, then ``completed`` (or ``failed``; a stuck job stays ``processing``).
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.browserstack.models import Product, ReportKind
from bot.browserstack.sandbox.faults import JobOutcome


class JobStatus(enum.StrEnum):
    ENQUEUED = "enqueued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def message(self) -> str:
        """The ``message`` the status endpoint sends with this status."""
        return _MESSAGES[self]

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


_MESSAGES = {
    JobStatus.ENQUEUED: "Request enqueued successfully",
    JobStatus.PROCESSING: "Report generation in progress",
    JobStatus.COMPLETED: "Report generated successfully",
    JobStatus.FAILED: "Report generation failed",
}


class QueueFullError(Exception):
    """The account already has ``limit`` unfinished jobs."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Too many report jobs in queue (limit {limit}). Delete or wait for a job to finish."
        )
        self.limit = limit


@dataclass(eq=False)
class Job:
    """One report job and the filters it was created with."""

    id: str
    kind: ReportKind
    start: dt.date
    end: dt.date
    product: Product | None
    created_at: float
    outcome: JobOutcome = JobOutcome.COMPLETE
    deleted: bool = False
    body: bytes | None = None  # the report, built once on first fetch
    # Held while building the body, so two fetches of one 50k-user report build it once.
    build_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def new_job_id() -> str:
    """24 lowercase hex characters, the shape of the documented ids."""
    return secrets.token_hex(12)


class JobStore:
    """All jobs of the sandbox's one account; thread-safe."""

    def __init__(
        self,
        *,
        queued_seconds: float,
        processing_seconds: float,
        limit: int,
        timer: Callable[[], float],
        new_id: Callable[[], str] = new_job_id,
        cached_bodies: int = 8,
    ) -> None:
        self.queued_seconds = queued_seconds
        self.processing_seconds = processing_seconds
        self.limit = limit
        self._timer = timer
        self._new_id = new_id
        self._cached_bodies = cached_bodies
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # deleted jobs stay, flagged, so tests can see them
        self._with_body: list[Job] = []  # oldest first

    def status(self, job: Job) -> JobStatus:
        """The job's status now, from its age and its fixed outcome."""
        age = self._timer() - job.created_at
        if age < self.queued_seconds:
            return JobStatus.ENQUEUED
        if job.outcome is JobOutcome.STUCK or age < self.queued_seconds + self.processing_seconds:
            return JobStatus.PROCESSING
        return JobStatus.FAILED if job.outcome is JobOutcome.FAIL else JobStatus.COMPLETED

    def create(
        self,
        kind: ReportKind,
        *,
        start: dt.date,
        end: dt.date,
        product: Product | None,
        outcome: JobOutcome = JobOutcome.COMPLETE,
    ) -> Job:
        """Queue a job; raise QueueFullError when the account's queue is full."""
        with self._lock:
            if self._unfinished_locked() >= self.limit:
                raise QueueFullError(self.limit)
            job_id = self._new_id()
            while job_id in self._jobs:
                job_id = self._new_id()
            job = Job(job_id, kind, start, end, product, self._timer(), outcome)
            self._jobs[job_id] = job
            return job

    def get(self, job_id: str, kind: ReportKind | None = None) -> Job | None:
        """A live (not deleted) job; ``None`` if unknown, deleted, or of the other kind."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.deleted or (kind is not None and job.kind is not kind):
            return None
        return job

    def delete(self, job_id: str, kind: ReportKind | None = None) -> bool:
        """Dequeue a job; False when there was no such live job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.deleted or (kind is not None and job.kind is not kind):
                return False
            job.deleted = True
            job.body = None
            return True

    def was_deleted(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
        return job is not None and job.deleted

    def all(self) -> list[Job]:
        """Every job ever created, deleted ones included, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def unfinished(self) -> int:
        """Jobs holding a queue slot: neither finished nor deleted."""
        with self._lock:
            return self._unfinished_locked()

    def _unfinished_locked(self) -> int:
        return sum(1 for j in self._jobs.values() if not j.deleted and not self.status(j).finished)

    def report_body(self, job: Job, build: Callable[[Job], bytes]) -> bytes:
        """The job's report, built by ``build`` on first use and cached on the job."""
        with job.build_lock:
            body = job.body
            if body is None:
                body = build(job)
                with self._lock:
                    if not job.deleted:
                        job.body = body
                        self._remember_body_locked(job)
            return body

    def _remember_body_locked(self, job: Job) -> None:
        # A 50k-user report is tens of MB; a long demo must not keep every one ever fetched.
        # Reports are deterministic, so an evicted body is simply rebuilt if fetched again.
        self._with_body = [j for j in self._with_body if j.body is not None and j is not job]
        self._with_body.append(job)
        while len(self._with_body) > self._cached_bodies:
            self._with_body.pop(0).body = None

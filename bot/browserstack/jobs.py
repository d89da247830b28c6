"""Running a report job from start to finish: create, poll on a backoff schedule, fetch, clean up.

``run_report`` is the blocking, one-call form used by ``python -m bot fetch`` and the digest. The
Slack app polls from the scheduler instead, one step at a time, with the same pieces:
``PollSchedule`` for when to look again and ``BrowserStackClient.job_status`` for the answer.

``LearnedSchedule`` is the work loop's schedule once jobs like this one have run: from what the
status checks of recent jobs of the same kind and period length saw (``Observation``), it plans
the checks of a new job so that the answer follows completion closely with few checks. It is
pure: durations in, times out (``bot.reports.durations`` keeps the durations in the database).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
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
class Observation:
    """What the status checks saw of one finished job, in seconds from its creation.

    The job was still running at ``after`` (0.0 when no check saw it running) and done by
    ``by``: its true duration lies somewhere between.
    """

    after: float
    by: float


@dataclass(frozen=True, slots=True)
class LearnedSchedule:
    """Status checks planned from the durations of recent jobs of the same kind and period length.

    A job's duration is only known to lie between two checks, and a check that finds the job
    done at once says nothing of how early it finished. Taking the upper ends as durations would
    make the plan drift later and later (each plan's first check becomes the next plan's
    evidence); so the distribution is estimated from the intervals themselves (Turnbull's
    self-consistency algorithm on a grid: each interval's weight goes where the others say
    jobs end), then widened by ``spread`` for the run-to-run variation a short history misses.

    The plan then minimises, by dynamic programming over that grid, the expected number of
    checks times ``check_cost`` plus the expected wait from completion to the check that sees
    it: one check just after the likely end for jobs of steady length, several around it when
    lengths vary. A check costs a token of the account's budget (one every 4 s, shared with
    every other job), hence ``check_cost``, in seconds of waiting it is worth.
    """

    check_cost: float = 0.5
    spread: float = 0.1
    min_gap: float = 0.5  # between two planned checks
    resolution: float = 0.1  # the grid's finest step, seconds
    cells: int = 100  # the grid's most steps
    rounds: int = 30  # of the self-consistency algorithm

    def plan(self, history: Sequence[Observation], *, maximum: float) -> tuple[float, ...]:
        """When to check a new job, in seconds from its creation; () without history.

        ``maximum`` is the longest the caller leaves between two checks (``next_check``). A job
        whose checks were further apart than twice that (the process was down, or its clock
        jumped) is left out: it says little of how long jobs take, and a day's gap would put
        every plan's first check at the deadline.
        """
        usable = tuple(
            o for o in history if o.by > 0 and o.after <= o.by and o.by - o.after <= 2 * maximum
        )
        if not usable:
            return ()
        return _plan(usable, self)


def next_check(
    plan: Sequence[float], elapsed: float, *, maximum: float, min_wait: float = 0.2
) -> float:
    """Seconds from a job's creation to its next status check, ``elapsed`` after it.

    The plan's next time, but never more than ``maximum`` away; past the plan (a job slower
    than any recent one), checks spaced by a quarter of the time already spent, between 1 s and
    ``maximum``: a late job is likely a long one, and its checks should not eat the budget the
    other jobs need.
    """
    for at in plan:
        if at >= elapsed + min_wait:
            return min(at, elapsed + maximum)
    return elapsed + min(maximum, max(1.0, 0.25 * elapsed))


def _density(
    history: tuple[Observation, ...], schedule: LearnedSchedule
) -> tuple[float, list[float]]:
    """The estimated distribution of durations: the grid's cell width, and each cell's mass."""
    top = max(o.by for o in history) * (1 + schedule.spread) + schedule.resolution
    cells = max(1, min(schedule.cells, math.ceil(top / schedule.resolution)))
    width = top / cells
    spans = []
    for o in history:
        first = min(cells - 1, int(o.after / width))
        last = min(cells, max(first + 1, math.ceil(o.by / width)))
        spans.append((first, last))
    # Start from each interval spread evenly over its cells, then move each interval's weight
    # to where the current estimate puts it (self-consistency), towards the most likely spread.
    mass = [0.0] * cells
    for first, last in spans:
        for cell in range(first, last):
            mass[cell] += 1.0 / (last - first)
    for _ in range(schedule.rounds):
        moved = [0.0] * cells
        for first, last in spans:
            total = sum(mass[first:last])
            for cell in range(first, last):
                moved[cell] += mass[cell] / total if total > 0 else 1.0 / (last - first)
        mass = moved
    # Widened by ``spread`` either side of each cell's middle.
    smooth = [0.0] * cells
    for cell, weight in enumerate(mass):
        if weight <= 0:
            continue
        middle = (cell + 0.5) * width
        low = max(0, int(middle * (1 - schedule.spread) / width))
        high = min(cells, max(low + 1, math.ceil(middle * (1 + schedule.spread) / width)))
        for spread_to in range(low, high):
            smooth[spread_to] += weight / (high - low)
    total = sum(smooth)
    return width, [m / total for m in smooth]


def _plan(history: tuple[Observation, ...], schedule: LearnedSchedule) -> tuple[float, ...]:
    width, mass = _density(history, schedule)
    cells = len(mass)
    # left[i]: the chance that the job still runs at the grid's point i (i * width).
    left = [0.0] * (cells + 1)
    for i in range(cells - 1, -1, -1):
        left[i] = left[i + 1] + mass[i]
    gap = max(1, math.ceil(schedule.min_gap / width - 1e-9))
    # cost[i]: the expected cost from a check at point i that found the job running, times the
    # chance of getting there; the last point, beyond every duration seen, ends every plan.
    cost = [0.0] * (cells + 1)
    step = [cells] * (cells + 1)
    for i in range(cells - 1, -1, -1):
        best, best_k = math.inf, cells
        waiting, weighted = 0.0, 0.0  # mass ending in (i, k], and that mass times its middle
        for k in range(i + 1, cells + 1):
            waiting += mass[k - 1]
            weighted += mass[k - 1] * (k - 0.5) * width
            if k - i < gap and k < cells:
                continue
            # A check at k: paid by every job still running at i; it finds done the jobs that
            # ended in (i, k], which waited from their end to k.
            value = schedule.check_cost * left[i] + (waiting * k * width - weighted) + cost[k]
            if value < best:
                best, best_k = value, k
        cost[i], step[i] = best, best_k
    plan = []
    i = 0
    while i < cells:
        i = step[i]
        plan.append(round(i * width, 3))
    return tuple(plan)


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

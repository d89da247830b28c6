"""The work loop: APScheduler ticks, and each tick takes whatever work is due in the database.

Nothing waits in memory. A dataset's next step has a due time in its row, a request's state says
what it needs, the digest's schedule is a cron expression read against the clock; each tick
(every ``tick`` seconds, and at once when ``kick`` says new work is due):

1. sends this instance's heartbeat, which keeps its leases alive (``bot.reports.leases``);
2. claims due dataset steps and due requests (checks after a restart, answers whose dataset
   ended, answers whose answerer died) and runs them on a bounded pool of workers;
3. runs the reclaim campaigns' due work (``bot.reclaim.service``: DMs, reminders, deadlines);
4. once a minute, on the one instance that holds the *schedule* role, posts the weekly digest
   if it is due and not yet posted (``bot.digest``); and once an hour, there too, deletes the
   requests and datasets older than the retention (``Store.prune_requests``, ``prune_datasets``).

So a restart resumes everything by itself, replicas on one database share the work (each piece
is claimed by one of them), and a database that is locked or gone for a while only delays the
work: a failed tick is logged and the next one tries again. The schedule role is held like a
lease, renewed with the heartbeats: when its holder dies, another instance takes it within
``stale`` seconds (and the dead one's leased work as well). ``healthy`` turns false when the
database has taken no heartbeat for ``health_bound`` seconds, and true again with the next.

APScheduler keeps only the tick, in memory: its persistent job store, which two schedulers must
never share, is not used.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.clock import Clock
from bot.reports.leases import Leases
from bot.reports.store import RequestState, Store, datasets
from bot.storage import TRANSIENT_ERRORS, read

log = logging.getLogger(__name__)


class _QuietOverlap(logging.Filter):
    """A tick still running when the next is due is routine (the next one simply waits)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_QuietOverlap())

TICK_JOB = "tick"
# A tick waits this long for a locked database, then gives up until the next one: /healthz
# goes on reporting, and the loop goes on trying, however long the lock is held.
HEARTBEAT_WAIT = 2.0
# The role of the instance that runs the schedule (the weekly digest) for all of them.
SCHEDULE_ROLE = "schedule"
DIGEST_CHECK_SECONDS = 60.0
# Threads for due work (dataset steps, deliveries, checks, reclaim DMs). None of them waits for
# BrowserStack's budget (a step without a token is put off, see ReportService.step): 4 keep up
# with the account's 15 requests a minute with room for Slack's slower answers.
WORKERS = 4
# A step is due at its time on the clock; waking this much later makes sure it is due then.
WAKE_MARGIN = 0.005
RECLAIM_WORK = "reclaim"
DIGEST_RETRY_SECONDS = 900.0
SCHEDULE_CHECK_SECONDS = 60.0
PRUNE = "prune"
PRUNE_CHECK_SECONDS = 3600.0


class Worker:
    """Runs the work that is due, as told by the database and the clock."""

    def __init__(
        self,
        *,
        store: Store,
        leases: Leases,
        clock: Clock,
        step: Callable[[str], Any],
        check: Callable[[str], Any],
        deliver: Callable[[str], Any],
        digest: Callable[[], Any] | None = None,
        reclaim: Callable[[], Any] | None = None,
        schedule: Callable[[], Any] | None = None,
        tick: float = 1.0,
        workers: int = WORKERS,
        health_bound: float = 30.0,
        retention_days: float | None = None,
    ) -> None:
        self.store = store
        self.leases = leases
        self.clock = clock
        self._step, self._check, self._deliver, self._digest = step, check, deliver, digest
        self._reclaim = reclaim
        # Subscriptions' posts and the alerts' check (bot.home), on the schedule's holder too.
        self._schedule = schedule
        self._next_schedule_check = 0.0
        # Datasets older than this are deleted (None: kept for ever).
        self.retention = None if retention_days is None else dt.timedelta(days=retention_days)
        self._next_prune = 0.0
        self.tick_seconds = tick
        self.workers = workers
        self.health_bound = health_bound
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        # The digest fetches its reports in one go, waiting for the shared budget as it must:
        # on a thread of its own, so that no waiting holds a worker other work needs.
        self._digest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest")
        self._busy: set[str] = set()  # work queued or running here, by key or request id
        self._lock = threading.Lock()
        self._last_ok: float | None = None  # monotonic time of the last tick that succeeded
        self._next_digest_check = 0.0
        self._next_heartbeat = 0.0
        self._digest_running = threading.Event()
        self._failing = False
        self._leader = False
        # Kicks: new work is due now. A thread of its own ticks at once, rather than a one-off
        # APScheduler job: adding and removing those while the scheduler shuts down (or runs
        # them) crashes APScheduler 3's thread (JobLookupError in _process_jobs). A kick that
        # comes during its tick makes it tick again: none is lost. The same thread ticks when a
        # dataset's step falls due between two intervals (``_plan_wake``).
        self._kicked = False
        self._wake_at: float | None = None  # time.monotonic() of the next step due soon
        self._wakes = threading.Condition()
        self._stopping = threading.Event()
        self._kicker = threading.Thread(target=self._kicks, name="kick", daemon=True)
        # One job, never two at once (max_instances): one thread is all it can use.
        self._scheduler = BackgroundScheduler(
            executors={"default": SchedulerExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # Life cycle

    def start(self) -> None:
        # Alive before anything is received: a lease of ours must never look abandoned.
        self.store.heartbeat(self.leases.owner, now=self.clock.now())
        self._last_ok = time.monotonic()  # a fresh start counts as healthy until proven not
        self._scheduler.add_job(
            self.tick, "interval", seconds=self.tick_seconds, id=TICK_JOB, name="work tick"
        )
        self._scheduler.start()
        self._kicker.start()
        self.kick()

    def stop(self, *, wait: bool = True) -> None:
        self._stopping.set()
        with self._wakes:
            self._wakes.notify_all()  # wakes the kicker, which then sees it is stopping
        if self._kicker.is_alive() and wait:
            self._kicker.join()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._digest_pool.shutdown(wait=wait, cancel_futures=not wait)

    @property
    def running(self) -> bool:
        running: bool = self._scheduler.running
        return running

    @property
    def leader(self) -> bool:
        """This instance runs the schedule (as of its last heartbeat)."""
        return self._leader

    @property
    def busy(self) -> list[str]:
        """The work queued or running here (for reports and tests)."""
        with self._lock:
            return sorted(self._busy)

    def kick(self) -> None:
        """Tick now, not at the next interval: new work is due."""
        with self._wakes:
            self._kicked = True
            self._wakes.notify_all()

    def _kicks(self) -> None:
        while True:
            with self._wakes:
                while not (self._kicked or self._stopping.is_set()):
                    wake = self._wake_at
                    left = None if wake is None else wake - time.monotonic()
                    if left is not None and left <= 0:
                        self._wake_at = None
                        break
                    self._wakes.wait(left)
                if self._stopping.is_set():
                    return
                self._kicked = False
            self.tick()

    def _plan_wake(self) -> None:
        """Tick when the next dataset step is due rather than at the next interval: a status
        check planned for when the job is likely done (``LearnedSchedule``) is made then, not
        up to a tick later. Only within a tick from now: the ticks between plan again."""
        columns = datasets.c
        now = self.clock.now()
        with read(self.store.engine) as tx:
            due = tx.execute(
                sa.select(columns.next_step_at)
                .where(columns.next_step_at > now)
                .order_by(columns.next_step_at)
                .limit(1)
            ).scalar()
        if due is None:
            return
        wait = (due - now).total_seconds()
        if wait >= self.tick_seconds:
            return
        wake = time.monotonic() + wait + WAKE_MARGIN
        with self._wakes:
            if self._wake_at is None or wake < self._wake_at:
                self._wake_at = wake
                self._wakes.notify_all()

    def healthy(self) -> bool:
        """The database took this instance's heartbeat within ``health_bound`` seconds, and the
        scheduler runs."""
        last = self._last_ok
        return self.running and last is not None and time.monotonic() - last <= self.health_bound

    # The tick

    def tick(self) -> None:
        """Heartbeat, then claim and start every piece of due work there is room for."""
        try:
            self._heartbeat()
            self._take_due_work()
            self._plan_wake()
            self._maybe_reclaim()
            self._maybe_digest()
            self._maybe_schedule()
            self._maybe_prune()
        except TRANSIENT_ERRORS as error:
            if not self._failing:
                log.warning("the database is not answering (%s); trying again", _short(error))
            self._failing = True
            return
        except Exception:
            log.exception("the work tick failed; trying again at the next one")
            return
        if self._failing:
            log.warning("the database answers again; work goes on")
            self._failing = False

    def _heartbeat(self) -> None:
        """Say this instance is alive, a few times per stale period (not every tick: each is a
        write, and SQLite has one writer)."""
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self.store.heartbeat(self.leases.owner, now=self.clock.now(), timeout=HEARTBEAT_WAIT)
        self._next_heartbeat = now + min(self.leases.stale / 4, 5.0)
        # Health is the database taking a write: reads alone go on while another holds the lock.
        self._last_ok = time.monotonic()
        # Held for ``stale`` seconds and renewed several times in that span: lost only when the
        # heartbeats stop, which is when the others take this instance for dead anyway.
        leader = self.store.hold_role(
            SCHEDULE_ROLE, self.leases.take(self.leases.stale), timeout=HEARTBEAT_WAIT
        )
        if leader != self._leader:
            if leader:
                log.info("this instance runs the schedule now (the weekly digest)")
            else:
                log.warning("another instance runs the schedule now")
            self._leader = leader

    def _take_due_work(self) -> None:
        room = self._room()
        if room <= 0:
            log.debug("no room for more work: %s", sorted(self._busy))
            return
        lease = self.leases.take()
        for key in self.store.due_datasets(lease, limit=room + len(self._busy)):
            name = f"dataset:{key}"
            # Reserved here before it is claimed: a step still running here (its lease already
            # given back) is not claimed again, by this tick or a concurrent one.
            if not self._reserve(name):
                log.debug("%s is due but still busy here", name)
            elif self.store.claim_dataset(key, self.leases.take()):
                self._pool.submit(self._run, name, self._step, key)
            else:
                self._done(name)
                log.debug("%s is due but taken by someone else", name)
        room = self._room()
        if room <= 0:
            return
        for request_id in self.store.due_requests(self.leases.take(), limit=room * 2):
            self._submit(f"request:{request_id}", self._handle_request, request_id)

    def _handle_request(self, request_id: str) -> None:
        request = self.store.request(request_id)
        if request is None:
            return
        if request.state is RequestState.RECEIVED:
            self._check(request_id)
        else:
            self._deliver(request_id)

    def _maybe_reclaim(self) -> None:
        """Reclaim campaigns' due work (DMs, reminders, deadlines): one pass at a time here;
        each DM and campaign is claimed in the database, so replicas share it."""
        reclaim = self._reclaim
        if reclaim is not None and self._reserve(RECLAIM_WORK):
            self._pool.submit(self._run, RECLAIM_WORK, lambda _: reclaim(), "")

    def _maybe_digest(self) -> None:
        if self._digest is None or not self._leader or self._digest_running.is_set():
            return
        now = time.monotonic()
        if now < self._next_digest_check:
            return
        self._next_digest_check = now + DIGEST_CHECK_SECONDS
        self._digest_running.set()
        self._digest_pool.submit(self._run_digest)

    def _maybe_schedule(self) -> None:
        """About once a minute, on the schedule's holder: start due subscriptions and alerts
        (each claimed in the database, so a second holder in a handover posts nothing twice)."""
        if self._schedule is None or not self._leader:
            return
        now = time.monotonic()
        if now < self._next_schedule_check:
            return
        self._next_schedule_check = now + SCHEDULE_CHECK_SECONDS
        schedule = self._schedule
        self._submit("schedule", lambda _: schedule(), "")

    def _maybe_prune(self) -> None:
        """About once an hour, on the schedule's holder: delete the requests and the datasets
        past retention."""
        retention = self.retention
        if retention is None or not self._leader or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_CHECK_SECONDS

        def prune(_: str) -> None:
            now = self.clock.now()
            self.store.prune_requests(now=now, keep=retention)
            self.store.prune_datasets(now=now, keep=retention)

        self._submit(PRUNE, prune, "")

    def _run_digest(self) -> None:
        assert self._digest is not None
        try:
            self._digest()
        except Exception:
            log.exception("the weekly digest failed; it is tried again in a while")
            # Each try runs two report jobs: not every minute while BrowserStack is down.
            self._next_digest_check = time.monotonic() + DIGEST_RETRY_SECONDS
        finally:
            self._digest_running.clear()

    # The pool

    def _room(self) -> int:
        with self._lock:
            return self.workers - len(self._busy)

    def _reserve(self, name: str) -> bool:
        """Mark ``name`` busy here; False if it already was."""
        with self._lock:
            if name in self._busy:
                return False
            self._busy.add(name)
            return True

    def _done(self, name: str) -> None:
        with self._lock:
            self._busy.discard(name)

    def _submit(self, name: str, work: Callable[[str], Any], arg: str) -> None:
        if self._reserve(name):
            self._pool.submit(self._run, name, work, arg)

    def _run(self, name: str, work: Callable[[str], Any], arg: str) -> None:
        try:
            work(arg)
        except TRANSIENT_ERRORS as error:
            # Its lease (or none) stays in the database: the work is taken up again later.
            log.warning("%s: the database is not answering (%s)", name, _short(error))
        except Exception:
            log.exception("%s failed; it is tried again later", name)
        finally:
            self._done(name)


def _short(error: BaseException) -> str:
    return " ".join(str(getattr(error, "orig", error)).split())[:200]

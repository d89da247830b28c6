"""Job durations in the database, and the service's checks planned from them.

On real parts, as ``test_service``: the sandbox on loopback and a real database (SQLite and
PostgreSQL). Here the sandbox's job timer follows the one standing clock, so that a step taken at
its due time sees the job exactly as BrowserStack would then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from bot.browserstack.client import BrowserStackClient
from bot.browserstack.jobs import LearnedSchedule, Observation, PollSchedule
from bot.browserstack.models import ReportKind
from bot.browserstack.sandbox import SandboxServer
from bot.budget import SharedBudget
from bot.clock import ManualClock, ShiftedClock
from bot.reports.durations import JobDurations
from bot.reports.leases import Leases
from bot.reports.question import Question, Verb
from bot.reports.service import ReportService, Timing
from bot.reports.store import Dataset, DatasetState, Origin, Store, new_request_id
from bot.storage import open_database
from tests.conftest import SandboxFactory, make_sandbox_client
from tests.reports.test_service import ONE_TRY, Told

# Jobs of 5 s; the backoff checks at 4 s, then 6 s later: the first job is seen at 4 and 10 s.
QUEUED, PROCESSING = 2.0, 3.0
TIMING = Timing(
    deadline=120.0,
    cache_ttl=60.0,
    schedule=PollSchedule(initial=4.0, factor=1.5, maximum=30.0),
)


@pytest.fixture
def still(clock: ShiftedClock) -> ManualClock:
    return ManualClock(clock.now())


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, still: ManualClock) -> SandboxServer:
    # The job timer reads the standing clock: a job is as old as the clock says.
    return sandbox_factory(
        clock=still,
        timer=lambda: still.now().timestamp(),
        queued_seconds=QUEUED,
        processing_seconds=PROCESSING,
    )


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[BrowserStackClient]:
    with make_sandbox_client(sandbox, retry=ONE_TRY) as made:
        yield made


class Process:
    """One bot process on the shared database: its own engine, store and service."""

    def __init__(
        self, database_url: str, owner: str, client: BrowserStackClient, clock: ManualClock
    ) -> None:
        self.engine = open_database(database_url)
        self.store = Store(self.engine)
        self.clock = clock
        self.told = Told()
        self.service = ReportService(
            store=self.store,
            client=client,
            notifier=self.told,
            leases=Leases(owner=owner, clock=clock),
            clock=clock,
            timing=TIMING,
        )

    def ask(self, days: int) -> str:
        today = self.clock.today()
        question = Question(
            verb=Verb.IDLE,
            start=today - dt.timedelta(days=days - 1),
            end=today,
            period_label=f"the last {days} days",
            describe=f"idle last {days}d",
        )
        request_id = new_request_id()
        origin = Origin(user_id="U0ANA", channel_id="C0001")
        assert self.store.receive(request_id, question, origin, lease=self.service.leases.take())
        attached = self.service.attach(request_id)
        assert attached is not None
        return attached.dataset.key

    def step(self, key: str) -> Dataset:
        """The scheduler's tick for ``key`` at its due time: claim, step."""
        due = self.dataset(key).next_step_at
        if due is not None and due > self.clock.now():
            self.clock.set(due)
        self.store.heartbeat(self.service.leases.owner, now=self.clock.now())
        assert self.store.claim_dataset(key, self.service.leases.take())
        self.service.step(key)
        return self.dataset(key)

    def run(self, key: str) -> tuple[Dataset, list[float]]:
        """Step until the dataset ends; and when each status check ran, from the job's creation."""
        created = self.step(key)
        assert created.job_id is not None
        started = self.clock.now()
        checks: list[float] = []
        while (dataset := self.dataset(key)).state is DatasetState.PENDING:
            assert len(checks) < 20, "a job checked far too often"
            dataset = self.step(key)
            checks.append((self.clock.now() - started).total_seconds())
        return dataset, checks

    def dataset(self, key: str) -> Dataset:
        found = self.store.dataset(key)
        assert found is not None
        return found

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def processes(
    database_url: str, client: BrowserStackClient, still: ManualClock
) -> Iterator[tuple[Process, Process]]:
    made = (
        Process(database_url, "one", client, still),
        Process(database_url, "two", client, still),
    )
    yield made
    for process in made:
        process.close()


def test_durations_are_recorded_and_shared_by_every_process(
    processes: tuple[Process, Process], still: ManualClock
) -> None:
    one, two = processes
    # The first job of its kind: no history, the backoff schedule (4 s, then 10 s).
    first, checks = one.run(one.ask(14))
    assert first.state is DatasetState.READY
    assert checks == [4.0, 10.0]
    seen = (Observation(after=4.0, by=10.0),)
    assert JobDurations(two.engine).observations(ReportKind.USER, 14) == seen
    # Another period of similar length, on the other process (a replica, or a restart): its
    # checks are planned from the first job's, where a 5 s job is likely done.
    plan = LearnedSchedule().plan(seen, maximum=30.0)
    assert plan[0] != 4.0
    second, checks = two.run(two.ask(10))
    assert second.state is DatasetState.READY
    assert checks[0] == pytest.approx(plan[0], abs=1e-3)
    assert len(checks) == 1  # done by the first check: 5 s < plan[0]
    # And it is history in turn, newest first.
    newest = JobDurations(one.engine).observations(ReportKind.USER, 10)[0]
    assert newest.after == 0.0
    assert newest.by == pytest.approx(plan[0], abs=1e-3)
    # A period of another length learns on its own: back to the backoff for it.
    _, checks = one.run(one.ask(90))
    assert checks == [4.0, 10.0]


def test_a_step_without_a_token_gives_its_thread_back_until_the_token_is_due(
    database_url: str, sandbox: SandboxServer, still: ManualClock
) -> None:
    # The account's budget is the shared one in the database: a non-blocking client (the work
    # loop's) does not wait for it; the step returns at once, due again when a token is.
    engine = open_database(database_url)
    try:
        # One token every 6 s: none yet at the first check, 4 s after the create took it.
        budget = SharedBudget(engine, account="acct", burst=1, per_minute=10, clock=still)
        with make_sandbox_client(sandbox, retry=ONE_TRY, budget=budget, blocking=False) as client:
            process = Process(database_url, "one", client, still)
            key = process.ask(14)
            start = still.now()
            created = process.step(key)  # the create takes the only token
            assert created.job_id is not None
            assert sandbox.stats.requests == 1
            assert created.next_step_at == start + dt.timedelta(seconds=4)
            put_off = process.step(key)  # at 4 s: the status check finds no token
            assert still.now() == start + dt.timedelta(seconds=4)
            assert sandbox.stats.requests == 1  # nothing sent; the step returned at once
            assert put_off.polls == 0  # not a check, and not trouble
            assert put_off.error is None
            assert put_off.next_step_at == start + dt.timedelta(seconds=6)  # the token's time
            assert process.step(key).job_status == "completed"  # then the check is made
            assert sandbox.stats.requests == 2
            process.close()
    finally:
        engine.dispose()

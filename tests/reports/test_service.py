"""ReportService on real parts: the BrowserStack sandbox on loopback and a real database.

Nothing runs by itself: each test takes a dataset's steps the way the scheduler would (claim its
lease, ``step``), moving the sandbox's job timer and the one clock in between. Only Slack delivery
is faked, by ``Told``, a Notifier that records what each asker was told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.browserstack.client import BrowserStackClient, RetryPolicy
from bot.browserstack.errors import Failure, FailureKind
from bot.browserstack.jobs import PollSchedule
from bot.browserstack.models import Report, ReportFilters, ReportKind
from bot.browserstack.ratelimit import TokenBucket
from bot.browserstack.sandbox import FaultConfig, SandboxServer
from bot.browserstack.sandbox.faults import FaultInjector
from bot.clock import ManualClock, ShiftedClock
from bot.reports.leases import Leases
from bot.reports.question import Question, Verb
from bot.reports.service import (
    MAX_ATTEMPTS,
    Attached,
    CancelOutcome,
    ReportService,
    Timing,
)
from bot.reports.store import (
    Dataset,
    DatasetState,
    Origin,
    PendingRequest,
    RequestState,
    Store,
    dataset_key,
    new_request_id,
)
from bot.storage import open_database
from tests.conftest import FakeTimer, SandboxFactory, make_sandbox_client

ANA, BEN, CAL = "U0ANA", "U0BEN", "U0CAL"
REPORTS = (ReportKind.TEAM, ReportKind.USER)  # what a team question reads
CHANNEL = "C0001"
OWNER = "test-instance"
# A sandbox job is enqueued for QUEUED seconds of its timer, then processing for PROCESSING.
QUEUED = PROCESSING = 10.0
DEADLINE = 15.0
TIMING = Timing(
    deadline=DEADLINE,
    cache_ttl=600.0,
    schedule=PollSchedule(initial=2.0, factor=2.0, maximum=4.0),
    retry_after=5.0,
)
# One HTTP attempt per step: the retrying under test is the service's, step after step.
ONE_TRY = RetryPolicy(attempts=1, timeout=30)
MOST_STEPS = 100  # far more than any dataset here needs; a loop past it is a bug


class Crash(BaseException):
    """The process dies here: nothing after this point runs (not caught like an Exception)."""


@dataclass
class Told:
    """A Notifier that records what each asker was told: a fake of Slack delivery.

    ``broken`` users' answers fail as a Slack error would; with ``crash``, the first answer
    kills the process before anything reaches Slack.
    """

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)
    crash: bool = False
    attempts: list[str] = field(default_factory=list)

    def progress(self, request: PendingRequest, status: str) -> None:
        self.calls.append(("progress", request.id, status))

    def answer(self, request: PendingRequest, reports: Mapping[ReportKind, Report]) -> None:
        self.attempts.append(request.id)
        if self.crash:
            raise Crash
        if request.user_id in self.broken:
            raise RuntimeError("Slack said channel_not_found")
        self.calls.append(("answer", request.id, dict(reports)))

    def fail(self, request: PendingRequest, failure: Failure) -> None:
        self.calls.append(("fail", request.id, failure))

    def cancelled(
        self, request: PendingRequest, *, by_user: str | None, note: str | None = None
    ) -> None:
        self.calls.append(("cancelled", request.id, (by_user, note)))

    def of(self, kind: str) -> list[tuple[str, Any]]:
        return [(request_id, what) for told, request_id, what in self.calls if told == kind]

    @property
    def answered(self) -> list[str]:
        return [request_id for request_id, _ in self.of("answer")]

    def statuses(self, request_id: str) -> list[str]:
        return [status for rid, status in self.of("progress") if rid == request_id]

    def failure(self, request_id: str) -> Failure:
        failures: list[Failure] = [f for rid, f in self.of("fail") if rid == request_id]
        (failure,) = failures  # told once, and only once
        return failure


@dataclass
class Harness:
    """The sandbox, one database, one standing clock, and the service instances on them."""

    sandbox: SandboxServer
    client: BrowserStackClient
    timer: FakeTimer
    clock: ManualClock
    store: Store
    timing: Timing
    told: Told = field(default_factory=Told)
    kicks: int = 0

    def __post_init__(self) -> None:
        self.service = self.instance(OWNER, self.told)

    def instance(self, owner: str, told: Told) -> ReportService:
        """Another process on the same database and account, as after a restart or a scale-out."""
        return ReportService(
            store=self.store,
            client=self.client,
            notifier=told,
            leases=Leases(owner=owner, clock=self.clock),
            clock=self.clock,
            timing=self.timing,
            kick=self._kick,
        )

    def _kick(self) -> None:
        self.kicks += 1

    def question(self, verb: Verb = Verb.IDLE, *, target: str | None = None) -> Question:
        today = self.clock.today()
        return Question(
            verb=verb,
            start=today - dt.timedelta(days=14),
            end=today,
            period_label="the last 14 days",
            describe=f"{verb} last 14d",
            target=target,
        )

    def ask(
        self,
        user: str = ANA,
        verb: Verb = Verb.IDLE,
        *,
        target: str | None = None,
        service: ReportService | None = None,
    ) -> Attached:
        """A checked question, received and attached as the front desk does it."""
        service = service or self.service
        request_id = new_request_id()
        origin = Origin(user_id=user, channel_id=CHANNEL)
        question = self.question(verb, target=target)
        assert self.store.receive(request_id, question, origin, lease=service.leases.take())
        attached = service.attach(request_id)
        assert attached is not None
        return attached

    def step(self, key: str, *, service: ReportService | None = None) -> Dataset:
        """One scheduler tick for one dataset: at its due time, heartbeat, claim, step."""
        service = service or self.service
        due = self.dataset(key).next_step_at
        if due is not None and due > self.clock.now():
            self.clock.set(due)
        self.store.heartbeat(service.leases.owner, now=self.clock.now())
        assert self.store.claim_dataset(key, service.leases.take())
        service.step(key)
        return self.dataset(key)

    def run(self, key: str, *, service: ReportService | None = None) -> Dataset:
        """Step a dataset until it has ended."""
        for _ in range(MOST_STEPS):
            dataset = self.dataset(key)
            if dataset.state is not DatasetState.PENDING:
                return dataset
            self.step(key, service=service)
        raise AssertionError(f"dataset {key} still pending after {MOST_STEPS} steps")

    def finish(self, key: str, *, service: ReportService | None = None) -> Dataset:
        """Create the job if need be, let it run its course, and step until the dataset ended."""
        if self.dataset(key).job_id is None:
            self.step(key, service=service)
        self.timer.advance(QUEUED + PROCESSING)
        return self.run(key, service=service)

    def dataset(self, key: str) -> Dataset:
        dataset = self.store.dataset(key)
        assert dataset is not None
        return dataset

    def state(self, attached: Attached) -> RequestState:
        request = self.store.request(attached.request.id)
        assert request is not None
        return request.state

    def faults(self, config: FaultConfig) -> None:
        """Change what the running sandbox gets wrong from now on."""
        self.sandbox.faults = FaultInjector(config)


HarnessFactory = Callable[..., Harness]  # keyword overrides of the sandbox, and timing


@pytest.fixture
def still(clock: ShiftedClock) -> ManualClock:
    """The one clock, standing still at the test's "now" (``--today`` included)."""
    return ManualClock(clock.now())


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = open_database(database_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def make_harness(
    sandbox_factory: SandboxFactory, fake_timer: FakeTimer, still: ManualClock, store: Store
) -> Iterator[HarnessFactory]:
    clients: list[BrowserStackClient] = []

    def make(*, timing: Timing = TIMING, **sandbox: object) -> Harness:
        server = sandbox_factory(
            clock=still,
            timer=fake_timer,
            queued_seconds=QUEUED,
            processing_seconds=PROCESSING,
            **sandbox,
        )
        client = make_sandbox_client(server, retry=ONE_TRY)
        clients.append(client)
        return Harness(server, client, fake_timer, still, store, timing)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def harness(make_harness: HarnessFactory) -> Harness:
    return make_harness()


# --- attach ------------------------------------------------------------------------------------


def test_a_question_starts_a_dataset_and_the_same_report_is_joined(harness: Harness) -> None:
    first = harness.ask(ANA, Verb.IDLE)
    assert (first.outcome, first.status) == ("started", "starting")
    assert harness.kicks == 1  # the scheduler is told a step is due now
    key = first.dataset.key
    harness.step(key)
    assert harness.sandbox.stats.jobs_created == 1

    # "top" is read off the same user report: it waits for the same job.
    second = harness.ask(BEN, Verb.TOP)
    assert (second.outcome, second.status) == ("joined", "queued")
    assert second.dataset.key == key
    assert harness.kicks == 1

    harness.finish(key)
    assert harness.sandbox.stats.jobs_created == 1
    assert sorted(harness.told.answered) == sorted([first.request.id, second.request.id])


def test_a_fresh_dataset_answers_at_once_until_it_expires(harness: Harness) -> None:
    key = harness.ask(ANA).dataset.key
    harness.finish(key)

    cached = harness.ask(BEN, Verb.TOP)
    assert cached.outcome == "answered"
    assert cached.request.id in harness.told.answered  # before attach returned
    assert harness.state(cached) is RequestState.ANSWERED
    assert harness.sandbox.stats.jobs_created == 1

    harness.clock.advance(TIMING.cache_ttl)
    again = harness.ask(CAL)
    assert again.outcome == "started"
    harness.step(again.dataset.key)
    assert harness.sandbox.stats.jobs_created == 2


def test_queued_status_counts_our_own_jobs_ahead(harness: Harness) -> None:
    users = harness.ask(ANA, Verb.IDLE)  # the user report
    harness.clock.advance(1)
    teams = harness.ask(BEN, Verb.TEAMS)  # the team report, asked for later
    harness.step(users.dataset.key)
    harness.step(teams.dataset.key)
    assert harness.told.statuses(users.request.id) == ["queued"]
    # Told where it stands when it is asked (behind one of ours), then when its job is queued.
    assert harness.told.statuses(teams.request.id) == [
        "starting, 1 job ahead",
        "queued, 1 job ahead",
    ]


# --- questions that read two reports ----------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "kinds"),
    [
        (Verb.TEAM, REPORTS),  # seats and members come from the user report
        (Verb.TEAMS, REPORTS),  # the org's seats too
        (Verb.USER, (ReportKind.USER,)),
        (Verb.ME, (ReportKind.USER,)),
        (Verb.IDLE, (ReportKind.USER,)),
        (Verb.TOP, (ReportKind.USER,)),
        (Verb.DIGEST, (ReportKind.USER, ReportKind.TEAM)),  # its parallels: the team report
    ],
)
def test_what_each_question_reads(verb: Verb, kinds: tuple[ReportKind, ...]) -> None:
    day = dt.date(2026, 11, 30)
    question = Question(verb=verb, start=day, end=day, period_label="today", describe=verb.value)
    assert question.kinds == kinds
    assert question.kinds[0] is question.kind  # the request is stored on its own kind's first


def test_a_team_question_starts_both_reports_and_is_answered_from_both(harness: Harness) -> None:
    asked = harness.ask(ANA, Verb.TEAM, target="Acme team")
    team, users = (dataset_key(kind, asked.request.question.filters) for kind in REPORTS)
    assert asked.outcome == "started"
    assert asked.dataset.key == team
    # Both jobs run at once: the user report is not asked for only after the team report.
    harness.step(team)
    harness.step(users)
    assert harness.sandbox.stats.jobs_created == 2

    assert harness.finish(team).state is DatasetState.READY
    # Not answered from half the figures: the request moved on to the user report.
    assert harness.told.answered == []
    moved = harness.store.request(asked.request.id)
    assert moved is not None
    assert (moved.state, moved.dataset_key) == (RequestState.WAITING, users)

    assert harness.finish(users).state is DatasetState.READY
    ((request_id, reports),) = harness.told.of("answer")
    assert request_id == asked.request.id
    assert sorted(reports) == sorted(REPORTS)
    assert reports[ReportKind.TEAM].teams
    assert reports[ReportKind.USER].users
    assert harness.sandbox.stats.jobs_created == 2


def test_a_team_question_reuses_the_reports_already_made(harness: Harness) -> None:
    idle = harness.ask(ANA, Verb.IDLE)
    harness.finish(idle.dataset.key)
    assert harness.sandbox.stats.jobs_created == 1

    # The user report is fresh: only the team report is made, and the request waits on it.
    team = harness.ask(BEN, Verb.TEAM, target="Acme team")
    assert team.dataset.kind is ReportKind.TEAM
    harness.finish(team.dataset.key)
    assert harness.told.answered == [idle.request.id, team.request.id]
    assert harness.sandbox.stats.jobs_created == 2

    # Both fresh: answered at once, with no job at all.
    teams = harness.ask(CAL, Verb.TEAMS)
    assert teams.outcome == "answered"
    assert harness.told.answered[-1] == teams.request.id
    assert sorted(harness.told.of("answer")[-1][1]) == sorted(REPORTS)
    assert harness.sandbox.stats.jobs_created == 2


def test_a_team_answer_lost_in_a_crash_is_given_by_another_instance(harness: Harness) -> None:
    dead_told = Told(crash=True)
    dead = harness.instance("dead-instance", dead_told)
    asked = harness.ask(ANA, Verb.TEAMS, service=dead)
    team, users = (dataset_key(kind, asked.request.question.filters) for kind in REPORTS)
    harness.finish(users, service=dead)  # nobody waits on it yet: the request is on the team's
    assert harness.told.answered == dead_told.answered == []
    with pytest.raises(Crash):
        harness.finish(team, service=dead)  # both ready: it dies answering
    assert harness.state(asked) is RequestState.ANSWERING

    rescuer = harness.instance("rescuer", harness.told)
    harness.clock.advance(rescuer.leases.stale + 1)
    harness.store.heartbeat(rescuer.leases.owner, now=harness.clock.now())
    assert harness.store.due_requests(rescuer.leases.take(), limit=10) == [asked.request.id]
    assert rescuer.deliver(asked.request.id)
    assert harness.told.answered == [asked.request.id]
    assert sorted(harness.told.of("answer")[0][1]) == sorted(REPORTS)
    assert harness.sandbox.stats.jobs_created == 2


def test_a_team_question_left_behind_by_a_crash_is_answered_by_the_work_loop(
    harness: Harness,
) -> None:
    asked = harness.ask(ANA, Verb.TEAM, target="Acme team")
    team, users = (dataset_key(kind, asked.request.question.filters) for kind in REPORTS)
    harness.finish(team)
    # The user report ends while no one holds the request (as if its process died just then):
    # the dataset's own "answer those waiting" ran before the request came to wait on it.
    harness.store.update_request(asked.request.id, dataset_key=team)
    harness.finish(users)
    assert harness.told.answered == []
    due = harness.store.due_requests(harness.service.leases.take(), limit=10)
    assert due == [asked.request.id]
    assert harness.service.deliver(asked.request.id)
    assert harness.told.answered == [asked.request.id]


def test_a_failed_companion_report_is_the_answer(make_harness: HarnessFactory) -> None:
    harness = make_harness()
    asked = harness.ask(ANA, Verb.TEAMS)
    team, users = (dataset_key(kind, asked.request.question.filters) for kind in REPORTS)
    harness.step(users)
    harness.store.update_dataset(
        users, state=DatasetState.FAILED.value, error="no", error_kind="other"
    )
    harness.finish(team)
    assert harness.told.answered == []
    assert harness.told.failure(asked.request.id).message == "no"


def test_cancelling_a_team_question_deletes_both_jobs(harness: Harness) -> None:
    asked = harness.ask(ANA, Verb.TEAM, target="Acme team")
    keys = [dataset_key(kind, asked.request.question.filters) for kind in REPORTS]
    jobs = [harness.step(key).job_id for key in keys]
    outcome = harness.service.cancel(asked.request.id, by_user=ANA)
    assert outcome.job_deleted
    for key, job_id in zip(keys, jobs, strict=True):
        assert job_id is not None
        assert harness.sandbox.jobs.was_deleted(job_id)
        assert harness.dataset(key).state is DatasetState.CANCELLED


def test_cancelling_keeps_a_report_another_question_needs(harness: Harness) -> None:
    asked = harness.ask(ANA, Verb.TEAM, target="Acme team")
    idle = harness.ask(BEN, Verb.IDLE)  # waits on the user report
    team, users = (dataset_key(kind, asked.request.question.filters) for kind in REPORTS)
    harness.step(team)
    harness.step(users)
    harness.service.cancel(asked.request.id, by_user=ANA)
    assert harness.dataset(users).state is DatasetState.PENDING
    harness.finish(users)
    assert harness.told.answered == [idle.request.id]


# --- polling -----------------------------------------------------------------------------------


def test_a_poll_goes_through_every_job_state_and_answers_everyone_once(harness: Harness) -> None:
    first = harness.ask(ANA)
    second = harness.ask(BEN)
    key = first.dataset.key
    assert second.dataset.key == key

    created = harness.step(key)
    assert created.job_id is not None
    assert created.job_status == "enqueued"
    assert harness.told.answered == []
    for asked in (first, second):
        assert harness.told.statuses(asked.request.id) == ["queued"]

    harness.timer.advance(QUEUED)
    assert harness.step(key).job_status == "processing"
    harness.step(key)  # still processing: nobody is told twice
    for asked in (first, second):
        assert harness.told.statuses(asked.request.id) == ["queued", "processing"]
        assert harness.state(asked) is RequestState.WAITING

    harness.timer.advance(PROCESSING)
    done = harness.step(key)
    assert done.state is DatasetState.READY
    assert sorted(harness.told.answered) == sorted([first.request.id, second.request.id])
    reports: dict[ReportKind, Report] = harness.told.of("answer")[0][1]
    report = reports[ReportKind.USER]
    assert list(reports) == [ReportKind.USER]
    assert report.filters == first.request.question.filters
    assert report.users
    for asked in (first, second):
        assert harness.state(asked) is RequestState.ANSWERED
        assert not harness.service.deliver(asked.request.id)  # answered once, and only once
    assert len(harness.told.answered) == 2
    assert harness.sandbox.stats.jobs_created == 1


def test_news_never_reaches_a_request_someone_else_is_answering(harness: Harness) -> None:
    """A status change and an answer on two processes at once: the news must not land after the
    answer (it would replace it with a placeholder), so it is only sent under the request's
    lease, which an answerer holds."""
    first, second = harness.ask(ANA), harness.ask(BEN)
    key = first.dataset.key
    answerer = harness.instance("answerer", Told())
    harness.store.heartbeat(answerer.leases.owner, now=harness.clock.now())
    held = harness.store.hold_request(
        second.request.id, answerer.leases.take(), state=RequestState.WAITING
    )
    assert held is not None
    harness.step(key)  # the job is made: "queued"
    assert harness.told.statuses(first.request.id) == ["queued"]
    assert harness.told.statuses(second.request.id) == []  # its answerer holds it
    harness.store.release_request(second.request.id, answerer.leases.owner)
    # Answered meanwhile: no news either, whatever the waiting list said a moment before.
    assert harness.store.finish_request(
        second.request.id, RequestState.ANSWERED, now=harness.clock.now()
    )
    harness.timer.advance(QUEUED)
    harness.step(key)
    assert harness.told.statuses(first.request.id) == ["queued", "processing"]
    assert harness.told.statuses(second.request.id) == []
    # The news let go of its lease: anyone may take the request up (the answerer, here).
    lease = answerer.leases.take()
    assert harness.store.hold_request(first.request.id, lease, state=RequestState.WAITING)


def test_a_failed_job_tells_every_asker_and_is_not_kept(make_harness: HarnessFactory) -> None:
    harness = make_harness(faults=FaultConfig(fail_rate=1.0))
    first, second = harness.ask(ANA), harness.ask(BEN)
    failed = harness.finish(first.dataset.key)
    assert failed.state is DatasetState.FAILED
    for asked in (first, second):
        failure = harness.told.failure(asked.request.id)
        assert failure.kind is FailureKind.JOB_FAILED
        assert "job status: failed" in failure.message
        assert harness.state(asked) is RequestState.ANSWERED
    assert harness.told.answered == []

    # A failure is not an answer to keep: the next question asks BrowserStack again.
    again = harness.ask(CAL)
    assert again.outcome == "started"
    harness.step(again.dataset.key)
    assert harness.sandbox.stats.jobs_created == 2


# --- the deadline and BrowserStack's troubles ---------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "said"), [(15.0, "after 15 s"), (90.0, "after 1 min 30 s")], ids=["15s", "90s"]
)
def test_a_stuck_job_times_out_at_the_deadline_and_is_deleted(
    make_harness: HarnessFactory, deadline: float, said: str
) -> None:
    timing = Timing(deadline=deadline, schedule=TIMING.schedule)
    harness = make_harness(faults=FaultConfig(stuck_rate=1.0), timing=timing)
    asked = harness.ask(ANA)
    key = asked.dataset.key
    job_id = harness.step(key).job_id
    assert job_id is not None

    harness.timer.advance(10 * (QUEUED + PROCESSING))  # it never finishes
    ended = harness.run(key)
    assert ended.state is DatasetState.FAILED
    # Polls are never scheduled past the deadline: it ends exactly then.
    assert (
        harness.clock.now()
        == ended.deadline_at
        == ended.created_at + dt.timedelta(seconds=deadline)
    )
    failure = harness.told.failure(asked.request.id)
    assert failure.kind is FailureKind.TIMED_OUT
    assert f"still not ready {said}, so the job was cancelled" in failure.message
    assert harness.sandbox.jobs.was_deleted(job_id)
    assert harness.sandbox.jobs.unfinished() == 0  # its place in the account's queue is free


def test_server_errors_are_retried_until_the_deadline_then_unreachable(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(faults=FaultConfig(error_rate=1.0))
    asked = harness.ask(ANA)
    ended = harness.run(asked.dataset.key)

    assert ended.state is DatasetState.FAILED
    failure = harness.told.failure(asked.request.id)
    assert failure.kind is FailureKind.UNREACHABLE
    assert "internal error (HTTP 50" in failure.message
    assert "not ready" not in failure.message  # what stopped it is the news, not the clock
    # Every step tried once more; none gave up before the deadline.
    assert harness.clock.now() == ended.deadline_at
    server_errors = sum(n for status, n in harness.sandbox.stats.by_status.items() if status >= 500)
    assert server_errors == ended.polls >= 3
    assert harness.sandbox.stats.jobs_created == 0


def test_an_outage_after_the_job_was_made_is_unreachable_not_a_timeout(harness: Harness) -> None:
    asked = harness.ask(ANA)
    key = asked.dataset.key
    job_id = harness.step(key).job_id
    assert job_id is not None
    harness.faults(FaultConfig(error_rate=1.0))  # BrowserStack goes down after the create
    ended = harness.run(key)

    assert harness.clock.now() == ended.deadline_at
    failure = harness.told.failure(asked.request.id)
    assert failure.kind is FailureKind.UNREACHABLE
    assert "internal error (HTTP 50" in failure.message
    assert "not ready" not in failure.message
    assert not harness.sandbox.jobs.was_deleted(job_id)  # the delete was tried, and failed too


def test_a_job_that_cannot_be_deleted_at_the_deadline_is_deleted_later(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(faults=FaultConfig(stuck_rate=1.0))
    asked = harness.ask(ANA)
    key = asked.dataset.key
    harness.step(key)
    harness.timer.advance(10 * (QUEUED + PROCESSING))
    while (dataset := harness.dataset(key)).next_step_at != dataset.deadline_at:
        harness.step(key)  # polls that BrowserStack answers: "processing"
    assert dataset.error is None
    harness.faults(FaultConfig(error_rate=1.0))  # and then the delete fails
    ended = harness.step(key)
    assert ended.state is DatasetState.FAILED
    failure = harness.told.failure(asked.request.id)
    assert failure.kind is FailureKind.TIMED_OUT
    assert "after 15 s, so the job was cancelled" in failure.message

    # The deletion is a step of its own, taken up again until BrowserStack takes it.
    assert ended.delete_job
    assert ended.job_id is not None
    assert not harness.sandbox.jobs.was_deleted(ended.job_id)
    harness.faults(FaultConfig())
    cleaned = harness.step(key)
    assert harness.sandbox.jobs.was_deleted(ended.job_id)
    assert not cleaned.delete_job


@pytest.mark.parametrize(
    "trouble",
    [FaultConfig(error_rate=1.0), FaultConfig(malformed_rate=1.0)],
    ids=["server-errors", "malformed-bodies"],
)
def test_passing_trouble_while_polling_is_retried(harness: Harness, trouble: FaultConfig) -> None:
    asked = harness.ask(ANA)
    key = asked.dataset.key
    harness.step(key)
    harness.faults(trouble)
    for _ in range(2):
        troubled = harness.step(key)
        assert troubled.state is DatasetState.PENDING
        assert troubled.error  # kept, in case it lasts until the deadline
    assert harness.told.of("fail") == []

    harness.faults(FaultConfig())
    assert harness.step(key).error is None  # it has passed
    harness.timer.advance(QUEUED + PROCESSING)
    assert harness.step(key).state is DatasetState.READY
    assert harness.told.answered == [asked.request.id]
    assert harness.sandbox.stats.jobs_created == 1


def test_unconfirmed_creates_stop_after_two(make_harness: HarnessFactory) -> None:
    # A 200 whose body cannot be read: the job was probably queued, but has no name we know.
    harness = make_harness(faults=FaultConfig(malformed_rate=1.0))
    asked = harness.ask(ANA)
    key = asked.dataset.key
    assert harness.step(key).unanswered_creates == 1
    ended = harness.step(key)

    assert ended.state is DatasetState.FAILED
    assert ended.unanswered_creates == 2
    failure = harness.told.failure(asked.request.id)
    assert "did not confirm the report job, twice" in failure.message
    assert harness.sandbox.stats.jobs_created == 2  # and no third job in the account's queue


def test_a_full_queue_is_waited_for(make_harness: HarnessFactory) -> None:
    harness = make_harness(queue_limit=1)
    today = harness.clock.today()
    blocker = harness.client.create_job(
        ReportKind.USER, ReportFilters(start=today - dt.timedelta(days=7), end=today)
    )
    asked = harness.ask(ANA)
    key = asked.dataset.key
    for _ in range(2):
        waiting = harness.step(key)
        assert waiting.state is DatasetState.PENDING
        assert waiting.job_id is None
        assert waiting.error is not None
        assert "queue" in waiting.error
    assert harness.told.of("fail") == []

    harness.client.delete_job(ReportKind.USER, blocker)  # a place in the queue frees up
    created = harness.step(key)
    assert created.job_id is not None
    assert harness.finish(key).state is DatasetState.READY
    assert harness.told.answered == [asked.request.id]


def test_a_queue_full_until_the_deadline_says_so(make_harness: HarnessFactory) -> None:
    harness = make_harness(queue_limit=1)
    today = harness.clock.today()
    harness.client.create_job(ReportKind.USER, ReportFilters(start=today, end=today))
    asked = harness.ask(ANA)
    harness.run(asked.dataset.key)
    failure = harness.told.failure(asked.request.id)
    assert "Too many report jobs in queue" in failure.message
    assert "not ready" not in failure.message
    assert harness.sandbox.stats.jobs_created == 1


# --- cancel ------------------------------------------------------------------------------------


def test_a_job_made_while_its_question_was_cancelled_is_deleted(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = harness.ask(ANA)
    key = asked.dataset.key
    create = harness.client.create_job

    def create_and_meanwhile_cancel(*args: Any, **kwargs: Any) -> str:
        job_id = create(*args, **kwargs)
        # The asker clicks Cancel while BrowserStack's answer is on its way back: the canceller
        # finds no job to delete yet.
        assert harness.service.cancel(asked.request.id, by_user=ANA).cancelled
        return job_id

    monkeypatch.setattr(harness.client, "create_job", create_and_meanwhile_cancel)
    harness.step(key)
    assert harness.dataset(key).state is DatasetState.CANCELLED
    assert harness.sandbox.stats.jobs_created == 1
    assert harness.sandbox.stats.jobs_deleted == 1  # no job left holding a place in the queue
    assert harness.told.statuses(asked.request.id) == []  # no news for a cancelled question


def test_cancel_by_the_only_asker_deletes_the_job(harness: Harness) -> None:
    asked = harness.ask(ANA)
    key = asked.dataset.key
    job_id = harness.step(key).job_id
    assert job_id is not None

    outcome = harness.service.cancel(asked.request.id, by_user=ANA)
    assert outcome == CancelOutcome(cancelled=True, job_deleted=True, others_waiting=0)
    assert harness.sandbox.jobs.was_deleted(job_id)
    assert harness.dataset(key).state is DatasetState.CANCELLED
    assert harness.state(asked) is RequestState.CANCELLED
    ((request_id, (by_user, note)),) = harness.told.of("cancelled")
    assert (request_id, by_user) == (asked.request.id, ANA)
    assert note is not None
    assert "deleted" in note
    assert not harness.store.claim_dataset(key, harness.service.leases.take())  # no more steps


def test_cancel_with_someone_else_waiting_goes_on_for_them(harness: Harness) -> None:
    mine, theirs = harness.ask(ANA), harness.ask(BEN)
    key = mine.dataset.key
    job_id = harness.step(key).job_id
    assert job_id is not None

    outcome = harness.service.cancel(mine.request.id, by_user=ANA)
    assert outcome == CancelOutcome(cancelled=True, job_deleted=False, others_waiting=1)
    assert not harness.sandbox.jobs.was_deleted(job_id)
    ((_, (_, note)),) = harness.told.of("cancelled")
    assert note is not None
    assert "Someone else is waiting" in note

    assert harness.finish(key).state is DatasetState.READY
    assert harness.told.answered == [theirs.request.id]
    assert harness.state(mine) is RequestState.CANCELLED


@pytest.mark.parametrize("whose", ["someone else's", "unknown"])
def test_cancel_of_a_request_not_ones_own_does_nothing(harness: Harness, whose: str) -> None:
    asked = harness.ask(ANA)
    key = asked.dataset.key
    job_id = harness.step(key).job_id
    assert job_id is not None

    request_id = asked.request.id if whose == "someone else's" else new_request_id()
    outcome = harness.service.cancel(request_id, by_user=BEN)
    assert outcome == CancelOutcome(cancelled=False, job_deleted=False, others_waiting=0)
    assert harness.state(asked) is RequestState.WAITING
    assert harness.dataset(key).state is DatasetState.PENDING
    assert not harness.sandbox.jobs.was_deleted(job_id)
    assert harness.told.of("cancelled") == []


# --- delivery and recovery ---------------------------------------------------------------------


def test_another_instance_delivers_what_a_dead_one_left(harness: Harness) -> None:
    dead_told = Told(crash=True)
    dead = harness.instance("dead-instance", dead_told)
    first = harness.ask(ANA, service=dead)
    harness.clock.advance(1)
    second = harness.ask(BEN, service=dead)
    key = first.dataset.key
    harness.step(key, service=dead)
    harness.timer.advance(QUEUED + PROCESSING)
    with pytest.raises(Crash):
        harness.step(key, service=dead)  # it dies answering the first asker
    # The report is kept; the first request is left answering, leased to the dead instance,
    # and the second is left waiting on a ready dataset.
    assert harness.dataset(key).state is DatasetState.READY
    assert (harness.state(first), harness.state(second)) == (
        RequestState.ANSWERING,
        RequestState.WAITING,
    )

    rescuer = harness.instance("rescuer", harness.told)
    leases = rescuer.leases
    harness.clock.advance(leases.stale - 1)  # silent, but not for long enough to be dead
    harness.store.heartbeat(leases.owner, now=harness.clock.now())
    assert harness.store.due_requests(leases.take(), limit=10) == [second.request.id]
    assert not rescuer.deliver(first.request.id)
    assert rescuer.deliver(second.request.id)

    harness.clock.advance(2)  # no heartbeat for longer than ``stale``: taken for dead
    harness.store.heartbeat(leases.owner, now=harness.clock.now())
    assert harness.store.due_requests(leases.take(), limit=10) == [first.request.id]
    assert rescuer.deliver(first.request.id)

    for asked in (first, second):
        assert not rescuer.deliver(asked.request.id)
        assert harness.state(asked) is RequestState.ANSWERED
    assert harness.told.answered == [second.request.id, first.request.id]
    assert dead_told.answered == []
    assert harness.sandbox.stats.jobs_created == 1  # the kept report, not a new job


def test_one_askers_slack_trouble_does_not_hold_up_the_others(harness: Harness) -> None:
    harness.told.broken.add(ANA)
    mine, theirs = harness.ask(ANA), harness.ask(BEN)
    harness.finish(mine.dataset.key)
    assert harness.told.answered == [theirs.request.id]
    assert harness.state(mine) is RequestState.ANSWERING

    lease = harness.service.leases
    assert harness.store.due_requests(lease.take(), limit=10) == []  # not before retry_after
    harness.clock.advance(TIMING.retry_after + 1)
    assert harness.store.due_requests(lease.take(), limit=10) == [mine.request.id]
    harness.told.broken.clear()
    assert harness.service.deliver(mine.request.id)
    assert harness.told.answered == [theirs.request.id, mine.request.id]


def test_an_answer_that_keeps_failing_is_given_up_with_a_message(harness: Harness) -> None:
    harness.told.broken.add(ANA)
    asked = harness.ask(ANA)
    harness.finish(asked.dataset.key)
    for _ in range(2 * MAX_ATTEMPTS):
        if harness.state(asked) is RequestState.ANSWERED:
            break
        harness.clock.advance(TIMING.retry_after + 1)
        harness.service.deliver(asked.request.id)

    assert harness.state(asked) is RequestState.ANSWERED
    assert "could not be delivered" in harness.told.failure(asked.request.id).message
    # Receiving and checking the question was its first attempt; the answer had the rest.
    assert len(harness.told.attempts) == MAX_ATTEMPTS - 1
    assert harness.told.answered == []


# --- the shared budget -------------------------------------------------------------------------


def test_a_spent_budget_puts_the_step_off_and_holds_no_thread(harness: Harness) -> None:
    # The work loop's client does not wait for tokens: the step comes back when one is due.
    budget = TokenBucket(burst=1, per_minute=15, timer=harness.timer)
    harness.client = make_sandbox_client(
        harness.sandbox, retry=ONE_TRY, budget=budget, blocking=False
    )
    service = harness.instance(OWNER, harness.told)
    key = harness.ask(ANA, service=service).dataset.key
    created = harness.step(key, service=service)  # the create takes the only token
    assert created.job_id is not None
    assert created.next_step_at is not None
    put_off = harness.step(key, service=service)  # the status check finds none left
    assert harness.sandbox.stats.requests == 1  # nothing was sent
    assert put_off.polls == created.polls  # not a poll, and ...
    assert put_off.error is None  # ... not trouble: nobody is told anything
    # The budget's timer has not moved since the create took the last token: one is due 4 s
    # after the check, which ran at its due time.
    assert put_off.next_step_at == created.next_step_at + dt.timedelta(seconds=4)
    harness.timer.advance(4)
    assert harness.step(key, service=service).job_status == "enqueued"
    assert harness.sandbox.stats.requests == 2


def test_a_job_abandoned_while_the_budget_is_spent_is_deleted_later(harness: Harness) -> None:
    budget = TokenBucket(burst=1, per_minute=15, timer=harness.timer)
    harness.client = make_sandbox_client(
        harness.sandbox, retry=ONE_TRY, budget=budget, blocking=False
    )
    service = harness.instance(OWNER, harness.told)
    asked = harness.ask(ANA, service=service)
    key = asked.dataset.key
    job_id = harness.step(key, service=service).job_id
    assert job_id is not None
    outcome = service.cancel(asked.request.id, by_user=ANA)
    assert outcome.cancelled
    assert not outcome.job_deleted  # no token to delete it with, now
    (_, (_, note)) = harness.told.of("cancelled")[0]
    assert "will be deleted" in note
    assert harness.dataset(key).delete_job
    harness.timer.advance(4)
    cleaned = harness.step(key, service=service)  # the work loop's step for the deletion
    assert harness.sandbox.jobs.was_deleted(job_id)
    assert not cleaned.delete_job
    assert cleaned.next_step_at is None


def test_a_download_put_off_by_the_budget_is_not_preceded_by_another_status_check(
    harness: Harness,
) -> None:
    # Checking the status again would spend the token the download needs: with several jobs
    # drawing on one budget, no download would ever find one.
    budget = TokenBucket(burst=1, per_minute=15, timer=harness.timer)
    harness.client = make_sandbox_client(
        harness.sandbox, retry=ONE_TRY, budget=budget, blocking=False
    )
    service = harness.instance(OWNER, harness.told)
    asked = harness.ask(ANA, service=service)
    key = asked.dataset.key
    harness.step(key, service=service)  # the create takes the only token
    harness.timer.advance(QUEUED + PROCESSING + 4)  # the job is done; the token is back
    put_off = harness.step(key, service=service)  # status (a token), then no token to download
    assert put_off.state is DatasetState.PENDING
    assert put_off.job_status == "completed"
    assert harness.sandbox.stats.requests == 2

    harness.timer.advance(4)  # one more token
    assert harness.step(key, service=service).state is DatasetState.READY
    assert harness.sandbox.stats.requests == 3  # the download alone
    assert harness.told.answered == [asked.request.id]

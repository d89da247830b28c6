"""The sandbox's job store: lifecycle over a fake clock, the shared queue, deletion, caching."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.browserstack.models import Product, ReportKind
from bot.browserstack.sandbox.faults import FaultConfig, FaultInjector, JobOutcome
from bot.browserstack.sandbox.jobs import Job, JobStatus, JobStore, QueueFullError, new_job_id
from tests.conftest import FakeTimer

START, END = dt.date(2024, 6, 1), dt.date(2024, 6, 14)


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer(1000.0)


@pytest.fixture
def store(timer: FakeTimer) -> JobStore:
    return JobStore(queued_seconds=2.0, processing_seconds=3.0, limit=3, timer=timer)


def create(
    store: JobStore,
    kind: ReportKind = ReportKind.USER,
    *,
    outcome: JobOutcome = JobOutcome.COMPLETE,
) -> Job:
    return store.create(kind, start=START, end=END, product=None, outcome=outcome)


@pytest.mark.parametrize(
    ("age", "outcome", "expected"),
    [
        (0.0, JobOutcome.COMPLETE, JobStatus.ENQUEUED),
        (1.99, JobOutcome.COMPLETE, JobStatus.ENQUEUED),
        (2.0, JobOutcome.COMPLETE, JobStatus.PROCESSING),
        (4.99, JobOutcome.COMPLETE, JobStatus.PROCESSING),
        (5.0, JobOutcome.COMPLETE, JobStatus.COMPLETED),
        (1e6, JobOutcome.COMPLETE, JobStatus.COMPLETED),
        (1.0, JobOutcome.FAIL, JobStatus.ENQUEUED),
        (3.0, JobOutcome.FAIL, JobStatus.PROCESSING),
        (5.0, JobOutcome.FAIL, JobStatus.FAILED),
        (1.0, JobOutcome.STUCK, JobStatus.ENQUEUED),
        (3.0, JobOutcome.STUCK, JobStatus.PROCESSING),
        (1e9, JobOutcome.STUCK, JobStatus.PROCESSING),
    ],
)
def test_lifecycle_follows_the_clock(
    store: JobStore, timer: FakeTimer, age: float, outcome: JobOutcome, expected: JobStatus
) -> None:
    job = create(store, outcome=outcome)
    timer.advance(age)
    assert store.status(job) is expected


def test_zero_durations_complete_at_once(timer: FakeTimer) -> None:
    store = JobStore(queued_seconds=0, processing_seconds=0, limit=1, timer=timer)
    assert store.status(create(store)) is JobStatus.COMPLETED


def test_status_messages() -> None:
    assert JobStatus.ENQUEUED.message == "Request enqueued successfully"
    assert JobStatus.PROCESSING.message == "Report generation in progress"
    assert JobStatus.COMPLETED.message == "Report generated successfully"
    assert JobStatus.FAILED.message == "Report generation failed"


def test_job_ids_look_like_the_documented_ones() -> None:
    ids = {new_job_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9a-f]{24}", job_id) for job_id in ids)


def test_job_keeps_its_filters(store: JobStore) -> None:
    job = store.create(ReportKind.TEAM, start=START, end=END, product=Product.APP_LIVE)
    assert (job.kind, job.start, job.end, job.product) == (
        ReportKind.TEAM,
        START,
        END,
        Product.APP_LIVE,
    )
    assert store.get(job.id) is job


def test_user_and_team_jobs_share_one_queue(store: JobStore) -> None:
    create(store, ReportKind.USER)
    create(store, ReportKind.TEAM)
    create(store, ReportKind.USER)
    with pytest.raises(QueueFullError) as caught:
        create(store, ReportKind.TEAM)
    assert str(caught.value) == (
        "Too many report jobs in queue (limit 3). Delete or wait for a job to finish."
    )


def test_finished_and_deleted_jobs_free_their_slot(store: JobStore, timer: FakeTimer) -> None:
    done = create(store)
    failed = create(store, outcome=JobOutcome.FAIL)
    stuck = create(store, outcome=JobOutcome.STUCK)
    assert store.unfinished() == 3
    timer.advance(10)
    # Completed and failed jobs leave the queue; the stuck one holds its slot until deleted.
    assert store.unfinished() == 1
    assert store.status(done) is JobStatus.COMPLETED
    assert store.status(failed) is JobStatus.FAILED
    create(store)
    create(store)
    with pytest.raises(QueueFullError):
        create(store)
    assert store.delete(stuck.id)
    create(store)


def test_delete_removes_the_job(store: JobStore) -> None:
    job = create(store)
    assert store.delete(job.id)
    assert store.get(job.id) is None
    assert store.was_deleted(job.id)
    assert not store.delete(job.id)
    assert not store.delete("0" * 24)
    assert not store.was_deleted("0" * 24)
    assert job in store.all()


def test_the_other_kind_cannot_see_or_delete_a_job(store: JobStore) -> None:
    job = create(store, ReportKind.USER)
    assert store.get(job.id, ReportKind.TEAM) is None
    assert not store.delete(job.id, ReportKind.TEAM)
    assert store.get(job.id, ReportKind.USER) is job


def test_report_body_is_built_once(store: JobStore) -> None:
    job = create(store)
    calls = []

    def build(j: object) -> bytes:
        calls.append(j)
        return b'{"success": true}'

    assert store.report_body(job, build) == b'{"success": true}'
    assert store.report_body(job, build) == b'{"success": true}'
    assert calls == [job]


def test_only_the_newest_bodies_are_kept(timer: FakeTimer) -> None:
    store = JobStore(queued_seconds=0, processing_seconds=0, limit=10, timer=timer, cached_bodies=2)
    jobs = [create(store) for _ in range(3)]
    for job in jobs:
        store.report_body(job, lambda j: j.id.encode())
    assert [job.body for job in jobs] == [None, jobs[1].id.encode(), jobs[2].id.encode()]
    # An evicted report is rebuilt on demand: reports are deterministic.
    assert store.report_body(jobs[0], lambda j: b"again") == b"again"


def test_deleting_drops_the_body(store: JobStore) -> None:
    job = create(store)
    store.report_body(job, lambda j: b"report")
    store.delete(job.id)
    assert job.body is None


# --- fault decisions ----------------------------------------------------------------------


def test_fault_decisions_are_reproducible() -> None:
    config = FaultConfig(
        error_rate=0.3, slow_rate=0.3, slow_seconds=1, fail_rate=0.2, stuck_rate=0.2
    )

    def run(seed: int) -> list[object]:
        faults = FaultInjector(config, seed=seed)
        return [
            (faults.for_request(), faults.malformation(), faults.job_outcome()) for _ in range(50)
        ]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_no_faults_by_default() -> None:
    faults = FaultInjector(FaultConfig(), seed=1)
    for _ in range(200):
        request = faults.for_request()
        assert request.delay == 0
        assert request.error is None
        assert faults.malformation() is None
        assert faults.job_outcome() is JobOutcome.COMPLETE


def test_fault_rates_are_roughly_honoured() -> None:
    faults = FaultInjector(FaultConfig(fail_rate=0.25, stuck_rate=0.25), seed=3)
    outcomes = [faults.job_outcome() for _ in range(2000)]
    assert 400 < outcomes.count(JobOutcome.FAIL) < 600
    assert 400 < outcomes.count(JobOutcome.STUCK) < 600


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rate": 1.5},
        {"slow_rate": -0.1},
        {"slow_seconds": -1.0},
        {"fail_rate": 0.6, "stuck_rate": 0.6},
    ],
)
def test_fault_config_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        FaultConfig(**bad)

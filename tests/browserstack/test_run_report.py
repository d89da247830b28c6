"""The whole pipeline (create, poll, fetch, clean up) against the sandbox over real HTTP."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import msgspec
import pytest

from bot.browserstack import errors
from bot.browserstack.jobs import JobProgress, PollSchedule, run_report
from bot.browserstack.models import JobState, Product, ReportFilters, ReportKind
from bot.browserstack.ratelimit import TokenBucket, with_margin
from bot.browserstack.sandbox import FaultConfig
from bot.clock import SystemClock
from tests.conftest import FakeTimer, SandboxFactory, make_client, make_sandbox_client

FIXTURES = Path(__file__).parent.parent / "fixtures"
QUICK = PollSchedule(initial=0.02, factor=1.5, maximum=0.1)


def seed_record(name: str, key: str) -> dict[str, object]:
    report = json.loads((FIXTURES / name).read_text())
    return cast(dict[str, object], report["data"][key][0])


def test_user_report_end_to_end(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory()
    seen: list[JobProgress] = []
    with make_sandbox_client(server) as client:
        report = run_report(client, ReportKind.USER, schedule=QUICK, on_status=seen.append)
    users = msgspec.to_builtins(report.users)
    assert seed_record("seed_user_report.json", "users") in users
    assert len(users) > 300  # the synthetic org plus the seed's own people
    assert seen[-1].state is JobState.COMPLETED
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)
    assert server.stats.rate_limited == 0


def test_team_report_end_to_end(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory()
    with make_sandbox_client(server) as client:
        report = run_report(client, ReportKind.TEAM, schedule=QUICK)
    teams = msgspec.to_builtins(report.teams)
    assert seed_record("seed_team_report.json", "teams") in teams
    assert all("name" in team for team in teams)


@pytest.mark.parametrize("filters_in", ["body", "query"])
def test_product_filter_reaches_the_server(
    sandbox_factory: SandboxFactory, filters_in: str
) -> None:
    server = sandbox_factory()
    filters = ReportFilters(product=Product.AUTOMATE)
    with make_sandbox_client(server, filters_in=filters_in) as client:
        report = run_report(client, ReportKind.USER, filters, schedule=QUICK)
    assert report.filters == filters
    present = {p for user in report.users for p, _ in user.usage.product_data.items()}
    assert present == {Product.AUTOMATE}


def test_status_changes_reported_in_order(
    sandbox_factory: SandboxFactory, fake_timer: FakeTimer
) -> None:
    # The job's life moves one stage at each status the client reports, however slow the
    # machine: no poll can miss a stage.
    server = sandbox_factory(queued_seconds=1, processing_seconds=1, timer=fake_timer)
    seen: list[str] = []

    def on_status(progress: JobProgress) -> None:
        seen.append(progress.status)
        fake_timer.advance(1)

    with make_sandbox_client(server) as client:
        run_report(client, ReportKind.TEAM, schedule=QUICK, on_status=on_status)
    assert seen == ["enqueued", "processing", "completed"]


def test_bad_credentials(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory()
    with (
        make_sandbox_client(server, access_key="wrong") as client,
        pytest.raises(errors.AuthenticationError) as caught,
    ):
        run_report(client, ReportKind.USER, schedule=QUICK)
    assert caught.value.detail == "HTTP Basic: Access denied."
    assert server.stats.by_status.get(401) == 1  # not retried


def test_unreachable_host() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        client = make_client(f"http://127.0.0.1:{port}", clock=SystemClock())
        with pytest.raises(errors.ConnectError, match="Could not reach"):
            run_report(client, ReportKind.USER, schedule=QUICK)


def test_intermittent_server_errors_are_retried(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory(faults=FaultConfig(error_rate=0.3), fault_seed=3)
    with make_sandbox_client(server) as client:
        report = run_report(client, ReportKind.TEAM, schedule=QUICK)
    assert report.teams
    assert sum(n for status, n in server.stats.by_status.items() if status >= 500) > 0


def test_server_down_for_good(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory(faults=FaultConfig(error_rate=1.0))
    with make_sandbox_client(server) as client, pytest.raises(errors.ServerError):
        run_report(client, ReportKind.TEAM, schedule=QUICK)
    assert sum(n for status, n in server.stats.by_status.items() if status >= 500) == 4


def test_slow_answers_time_out(sandbox_factory: SandboxFactory) -> None:
    import httpx

    server = sandbox_factory(faults=FaultConfig(slow_rate=1.0, slow_seconds=0.5))
    client = make_sandbox_client(server, timeout=httpx.Timeout(0.1, connect=1.0))
    # The create was sent and never answered: a job may exist, so it is not sent again.
    with client, pytest.raises(errors.UnconfirmedJobError, match="did not confirm"):
        run_report(client, ReportKind.USER, schedule=QUICK)


def test_malformed_bodies(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory(faults=FaultConfig(malformed_rate=1.0))
    with make_sandbox_client(server) as client, pytest.raises(errors.UnconfirmedJobError):
        run_report(client, ReportKind.USER, schedule=QUICK)
    assert server.stats.jobs_created == 1  # queued once, never twice


def test_a_full_queue_waits_for_a_place(
    sandbox_factory: SandboxFactory, fake_timer: FakeTimer
) -> None:
    server = sandbox_factory(queue_limit=1, timer=fake_timer, queued_seconds=5)
    with make_sandbox_client(server) as client:
        client.create_job(ReportKind.TEAM)  # someone else's job fills the queue for 5 s
        report = run_report(
            client, ReportKind.USER, schedule=QUICK, clock=fake_timer, wait=fake_timer.wait
        )
    assert report.users
    assert server.stats.by_status[422] >= 1  # refused while the queue was full, then queued


def test_failed_job(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory(faults=FaultConfig(fail_rate=1.0))
    with make_sandbox_client(server) as client, pytest.raises(errors.JobFailedError) as caught:
        run_report(client, ReportKind.USER, schedule=QUICK)
    assert caught.value.status == "failed"


def test_stuck_job_times_out_and_is_deleted(
    sandbox_factory: SandboxFactory, fake_timer: FakeTimer
) -> None:
    server = sandbox_factory(faults=FaultConfig(stuck_rate=1.0), timer=fake_timer)
    with make_sandbox_client(server) as client, pytest.raises(errors.JobTimedOutError) as caught:
        run_report(
            client,
            ReportKind.TEAM,
            deadline=600,
            schedule=PollSchedule(initial=5, maximum=60),
            clock=fake_timer,
            wait=fake_timer.wait,
        )
    assert caught.value.waited > 600
    assert "try again later" in str(caught.value)
    assert server.stats.jobs_deleted == 1


def test_cancel_deletes_the_job(sandbox_factory: SandboxFactory) -> None:
    server = sandbox_factory(queued_seconds=60)
    cancel = threading.Event()

    def cancel_when_queued(progress: JobProgress) -> None:
        if progress.state is JobState.QUEUED:
            cancel.set()

    with make_sandbox_client(server) as client, pytest.raises(errors.JobCancelledError):
        run_report(
            client, ReportKind.USER, schedule=QUICK, on_status=cancel_when_queued, cancel=cancel
        )
    assert server.stats.jobs_deleted == 1


def test_poll_schedule_backs_off_to_a_ceiling() -> None:
    schedule = PollSchedule(initial=4, factor=1.5, maximum=30)
    delays = [schedule.delay(n) for n in range(8)]
    assert delays[:3] == [4, 6, 9]
    assert delays == sorted(delays)
    assert max(delays) == 30


def test_many_concurrent_reports_share_the_rate_budget(sandbox_factory: SandboxFactory) -> None:
    """Ten reports at once through one limiter: all complete and the server sends no 429."""
    burst, per_minute = 5, 600.0  # BrowserStack's shape, sped up 40 times
    server = sandbox_factory(
        rate_limit=True, rate_burst=burst, rate_per_minute=per_minute, queue_limit=50
    )
    # A margin for loopback jitter, as production's 0.25 s a token covers the network's: half
    # the token's time here, since a suite on a loaded 2-core machine delays a thread by tens of
    # milliseconds (0.02 s at twice the rate met a 429 in about one full run of four).
    shared = TokenBucket(burst=burst, per_minute=with_margin(per_minute, margin=0.05))
    clients = [make_sandbox_client(server, budget=shared) for _ in range(4)]
    kinds = [ReportKind.USER, ReportKind.TEAM]

    def one(i: int) -> int:
        report = run_report(clients[i % 4], kinds[i % 2], schedule=QUICK)
        return len(report.rows)

    with ThreadPoolExecutor(max_workers=10) as pool:
        sizes = list(pool.map(one, range(10)))
    assert all(size > 0 for size in sizes)
    assert server.stats.rate_limited == 0
    assert server.stats.jobs_created == 10
    for client in clients:
        client.close()

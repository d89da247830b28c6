"""End to end on the loopback stack: the second job of a kind is checked where the first ended.

The stack runs on the test's clock; the sandbox's jobs take 2 s of it. The first job, with no
history, is checked on the backoff schedule (at 0.1, 0.25, 0.48, 0.81, 1.32, 2.08 s: six
checks, fewer on a loaded machine, whose checks come late); the next one, of another period of
similar length, is checked where the first was seen done. Status checks are counted at the
sandbox, off its request log.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator

import pytest

from bot.browserstack.models import ReportKind
from bot.reports.durations import JobDurations
from tests.conftest import SandboxFactory
from tests.slack.harness import ANA, CHANNEL, StackFactory, wait_answer

_STATUS = re.compile(r"/reports/usage/v1/(?:user|team)/([0-9a-f]+)/status ")


class StatusChecks(logging.Handler):
    """Status checks the sandbox answered, by job id (its server logs each request it answers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_job: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("BrowserStack sandbox") and (found := _STATUS.search(message)):
            self.by_job[found[1]] += 1


@pytest.fixture
def status_checks() -> Iterator[StatusChecks]:
    handler = StatusChecks()
    logger = logging.getLogger("bot.loopback")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_the_second_job_of_a_kind_is_checked_where_the_first_was_done(
    make_stack: StackFactory, sandbox_factory: SandboxFactory, status_checks: StatusChecks
) -> None:
    sandbox = sandbox_factory(queued_seconds=0.5, processing_seconds=1.5)
    stack = make_stack(
        sandbox,
        report_poll_initial_seconds=0.1,
        report_poll_max_seconds=5.0,
        scheduler_tick_seconds=0.5,
    )
    today = stack.clock.today()
    # Two periods of 10 and 12 days: the same bucket, two jobs.
    for days in (10, 12):
        since = today.fromordinal(today.toordinal() - days + 1)
        stack.driver.command(f"idle since {since}", user=ANA, channel=CHANNEL)
        wait_answer(stack.standin, ANA, f"{days} days")
    first, second = (job.id for job in sandbox.jobs.all())
    # The backoff needed three checks or more before the first 2 s job was done.
    assert status_checks.by_job[first] >= 3
    learned = JobDurations(stack.bot.engine).observations(ReportKind.USER, 10)
    assert len(learned) == 2
    # The second, planned from the first: a check where it was likely done, and one more at
    # most (a loaded machine runs checks late, never early: the first job's checks tell that
    # it was done by 2 s or later, and the second is planned no earlier).
    assert 1 <= status_checks.by_job[second] <= 2

"""From a job's completion to the answer: the learned poll schedule, end to end on loopback.

    .venv/bin/python bench/polling.py [--cold 6] [--warmup 6] [--commands 16] [--seed 1]

usagebot is built as the tests build it, by ``bot.stack.LoopbackStack`` on one ``SystemClock``,
with an SQLite database in a temporary folder; nothing of the bot is patched. The sandbox
enforces BrowserStack's rate limit (a burst of 5, then 15 a minute) and so does the bot's shared
budget, with its defaults (``REPORT_POLL_INITIAL_SECONDS`` 4, ``SCHEDULER_TICK_SECONDS`` 1).

The sandbox's jobs take production-like, varied times: a user report 4 s plus 0.02 s a day of
its period, a team report 2.5 s plus 0.01 s a day, each times a random factor (log-normal,
sigma 0.15), a quarter of it queued. (The sandbox's own jobs all take the same time; its job
store is given these durations here, in the bench.)

Commands, one at a time, rotate ``idle since D``, ``top 5 since D`` and ``me since D``, each with
a new day D (8 to 60 days back), so each makes a new user-report job, over three period buckets
(8-14, 15-31, 32-62 days). Each reads one report, so that its answer follows one job (``teams``
reads two, and under the rate limit its second job's download waits for a token: that is the
budget's doing, not the schedule's; the team kind's learning is tested in
``tests/reports/test_durations.py``). Each command is sent once the shared budget is back to 4 of
its 5 tokens, so that what is measured is the schedule, not a queue for tokens.

1. *no history*: ``--cold`` commands, each with the ``job_durations`` table emptied first (the
   bot's first jobs, or a new kind of period): the backoff schedule;
2. ``--warmup`` commands, not measured: history builds up;
3. ``--commands`` commands, measured: the learned schedule.

Per command: from the moment the sandbox's job store says the (later) job is done to the answer's
arrival at the Slack stand-in; per job: status checks, counted at the sandbox (off its request
log); 429s, counted at the sandbox.

Targets (issue 9): answer within 1.5 s of job completion at p50, at most 3 status checks per job
on average, 0 x 429.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.slack_app import CHANNEL, is_final, slack_people
from bot.browserstack.models import ReportKind
from bot.browserstack.sandbox import SandboxConfig, SandboxServer, SyntheticOrg
from bot.browserstack.sandbox.faults import JobOutcome
from bot.browserstack.sandbox.jobs import Job, JobStatus, JobStore
from bot.clock import Clock, SystemClock
from bot.reports.durations import job_durations
from bot.stack import SANDBOX_ACCESS_KEY, SANDBOX_USERNAME, LoopbackStack

# Seconds: a report's base time and its time per day of the period.
TIMINGS = {ReportKind.USER: (4.0, 0.02), ReportKind.TEAM: (2.5, 0.01)}
SIGMA = 0.15
# Commands that read one report each (the user report): a command's answer then follows one job.
VERBS = ("idle", "top 5", "me")
TOKENS_BEFORE_A_COMMAND = 4.0
TARGET_LAG = 1.5
TARGET_CHECKS = 3.0
_STATUS = re.compile(r"/reports/usage/v1/(?:user|team)/([0-9a-f]+)/status ")


class VariedJobs(JobStore):
    """The sandbox's job store, with a duration of its own for each job (seeded: repeatable)."""

    def __init__(self, store: JobStore, seed: int) -> None:
        super().__init__(
            queued_seconds=store.queued_seconds,
            processing_seconds=store.processing_seconds,
            limit=store.limit,
            timer=store._timer,
        )
        self.random = random.Random(seed)
        self.durations: dict[str, float] = {}

    def duration(self, job: Job) -> float:
        found = self.durations.get(job.id)
        if found is None:
            base, per_day = TIMINGS[job.kind]
            days = (job.end - job.start).days + 1
            found = (base + per_day * days) * self.random.lognormvariate(0.0, SIGMA)
            self.durations[job.id] = found
        return found

    def status(self, job: Job) -> JobStatus:
        age = self._timer() - job.created_at
        duration = self.duration(job)
        if age < duration / 4:
            return JobStatus.ENQUEUED
        if job.outcome is JobOutcome.STUCK or age < duration:
            return JobStatus.PROCESSING
        return JobStatus.FAILED if job.outcome is JobOutcome.FAIL else JobStatus.COMPLETED

    def done_at(self, job: Job) -> float:
        """When the job became done, on the sandbox's timer."""
        return job.created_at + self.duration(job)


class StatusChecks(logging.Handler):
    """Status checks the sandbox answered, by job id (``bot.loopback`` logs every request)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_job: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}  # time.monotonic() of each, by job id

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("BrowserStack sandbox") and (found := _STATUS.search(message)):
            self.by_job[found[1]] += 1
            self.times.setdefault(found[1], []).append(time.monotonic())

    @contextlib.contextmanager
    def listening(self) -> Iterator[StatusChecks]:
        logger = logging.getLogger("bot.loopback")
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate


@dataclasses.dataclass(frozen=True)
class Sample:
    text: str
    jobs: int
    checks: list[int]  # per job
    lag: float  # the later job's completion -> the answer at the stand-in
    seen: list[list[float]]  # per job: its status checks, in seconds after its completion


def on_clock(clock: Clock, timer_value: float) -> float:
    """A time on the sandbox's monotonic timer, as a timestamp on ``clock``."""
    return clock.timestamp() - (time.monotonic() - timer_value)


def wait_for_tokens(stack: LoopbackStack, tokens: float) -> None:
    while stack.bot.budget.tokens() < tokens:
        time.sleep(0.2)  # a bench: real time passing is what refills the budget


def one_command(
    stack: LoopbackStack, jobs: VariedJobs, checks: StatusChecks, text: str, user: str
) -> Sample:
    clock = stack.clock
    finals = len([c for c in stack.standin.calls_to("response_url") if is_final(c)])
    known = {job.id for job in jobs.all()}
    stack.driver.command(text, user=user, channel=CHANNEL)
    stack.standin.wait_for(
        lambda s: len([c for c in s.calls_to("response_url") if is_final(c)]) > finals,
        timeout=300,
    )
    answer = [c.at for c in stack.standin.calls_to("response_url") if is_final(c)][finals]
    made = [job for job in jobs.all() if job.id not in known]
    done = max(on_clock(clock, jobs.done_at(job)) for job in made)
    seen = [[round(t - jobs.done_at(job), 2) for t in checks.times[job.id]] for job in made]
    return Sample(text, len(made), [checks.by_job[job.id] for job in made], answer - done, seen)


def command_text(index: int, day: dt.date) -> str:
    return f"{VERBS[index % len(VERBS)]} since {day.isoformat()}"


def summary(name: str, samples: list[Sample], rate_limited: int) -> None:
    lags = [s.lag for s in samples]
    checks = [c for s in samples for c in s.checks]
    # The schedule's own part: completion -> the status check that saw the job done.
    found = [seen[-1] for s in samples for seen in s.seen if seen]
    p50 = statistics.median(lags)
    p90 = statistics.quantiles(lags, n=10, method="inclusive")[8] if len(lags) > 1 else lags[0]
    mean_checks = statistics.mean(checks)
    print(
        f"{name}: {len(samples)} commands, {len(checks)} jobs: completion -> answer p50"
        f" {p50:.2f} s (target {TARGET_LAG:g} s: {'met' if p50 <= TARGET_LAG else 'MISSED'}),"
        f" p90 {p90:.2f} s; status checks per job {mean_checks:.2f} (target at most"
        f" {TARGET_CHECKS:g}: {'met' if mean_checks <= TARGET_CHECKS else 'MISSED'}),"
        f" max {max(checks)}; 429s so far {rate_limited} (target 0)"
    )
    print(
        f"  of which completion -> the check that saw it done: p50 {statistics.median(found):.2f}"
        f" s, max {max(found):.2f} s; the rest is the download and the answer (Slack lookups"
        f" of the people named included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=6, help="commands with no history")
    parser.add_argument("--warmup", type=int, default=6, help="commands not measured")
    parser.add_argument("--commands", type=int, default=16, help="commands measured")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="one line per command")
    args = parser.parse_args()
    total = args.cold + args.warmup + args.commands
    if args.cold < 1 or args.commands < 2 or total > 50:
        parser.error("--cold at least 1, --commands at least 2, and at most 50 commands in all")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    clock = SystemClock()
    today = clock.today()
    rng = random.Random(args.seed)
    days = rng.sample(range(8, 61), total)  # distinct periods: every command makes new jobs
    print(
        f"Python {sys.version.split()[0]}, {today}, pid {os.getpid()}; jobs: user 4 s + 0.02 s/day,"
        f" team 2.5 s + 0.01 s/day, x lognormal(sigma {SIGMA}); rate limit 5 + 15/min at the"
        f" sandbox and in the bot; each command sent once the budget has"
        f" {TOKENS_BEFORE_A_COMMAND:g} tokens"
    )
    config = SandboxConfig(
        username=SANDBOX_USERNAME, access_key=SANDBOX_ACCESS_KEY, users=2000, seed=42, clock=clock
    )
    sandbox = SandboxServer(config)
    jobs = VariedJobs(sandbox.jobs, args.seed)
    sandbox.jobs = jobs
    sandbox.start()
    org = SyntheticOrg(config.seed, config.users, today=today)
    people = slack_people(org, 1)
    user = next(iter(people))
    with (
        tempfile.TemporaryDirectory() as workdir,
        StatusChecks().listening() as checks,
        LoopbackStack(
            clock=clock,
            database=Path(workdir) / "bot.sqlite",
            sandbox=sandbox,
            users=people,
            member_channels={CHANNEL},
        ) as stack,
    ):
        phases = (("no history", args.cold), ("warm-up", args.warmup), ("learned", args.commands))
        index = 0
        for name, count in phases:
            samples = []
            for _ in range(count):
                if name == "no history":
                    with stack.bot.engine.begin() as connection:
                        connection.execute(sa.delete(job_durations))
                wait_for_tokens(stack, TOKENS_BEFORE_A_COMMAND)
                day = today - dt.timedelta(days=days[index] - 1)
                sample = one_command(stack, jobs, checks, command_text(index, day), user)
                index += 1
                samples.append(sample)
                if args.verbose:
                    print(
                        f"  {name:<11}{sample.text:<28} checks {sample.checks}"
                        f" lag {sample.lag:6.2f} s; checks after completion {sample.seen}"
                    )
            if name != "warm-up":
                summary(name, samples, sandbox.stats.rate_limited)
        print(
            f"sandbox: {sandbox.stats.requests} requests, {sandbox.stats.jobs_created} jobs,"
            f" {sandbox.stats.rate_limited} x 429 (target 0)"
        )
    sandbox.stop()


if __name__ == "__main__":
    main()

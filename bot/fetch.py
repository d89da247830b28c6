"""``python -m bot fetch``: run one report job from start to finish and write the report out.

A plain function, so that the command line and ``make demo --fetch`` share it. Its requests
draw on the account's budget in DATABASE_URL, which a running ``serve`` shares.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from bot import redact
from bot.browserstack import errors
from bot.browserstack.client import BrowserStackClient
from bot.browserstack.jobs import JobProgress, PollSchedule, run_report
from bot.browserstack.models import ReportFilters, ReportKind
from bot.budget import SharedBudget, account_budget
from bot.clock import Clock
from bot.export import write_report
from bot.settings import Settings
from bot.storage import open_database

EXIT_OK = 0
EXIT_FAILED = 1


def fetch_report(
    settings: Settings,
    kind: ReportKind,
    filters: ReportFilters,
    *,
    fmt: str,
    output: Path | None,
    clock: Clock,
    out: TextIO | None = None,
) -> int:
    """Run one report and write it; progress and failures go to stderr. The exit status."""
    out = out or sys.stdout
    started = time.monotonic()
    progress = _Progress(started)
    print(
        f"Requesting the {kind} report from {redact.redact_url(settings.api_url)} ...",
        file=sys.stderr,
    )
    try:
        with (
            shared_budget(settings, clock) as budget,
            BrowserStackClient.from_settings(settings, clock=clock, budget=budget) as client,
        ):
            report = run_report(
                client,
                kind,
                filters,
                deadline=settings.report_deadline_seconds,
                schedule=PollSchedule(
                    initial=settings.report_poll_initial_seconds,
                    maximum=settings.report_poll_max_seconds,
                ),
                on_status=progress,
            )
    except errors.BrowserStackError as error:
        print(f"usagebot: {error}", file=sys.stderr)
        return EXIT_FAILED
    now = clock.now()
    rows = len(report.rows)
    print(
        f"Report ready: {rows:,} {kind}{'s' if rows != 1 else ''} "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    try:
        if output:
            with output.open("w", encoding="utf-8", newline="") as stream:
                write_report(report, stream, fmt=fmt, now=now)
            print(f"Wrote {output}", file=sys.stderr)
        else:
            write_report(report, out, fmt=fmt, now=now)
    except OSError as error:
        print(f"usagebot: could not write {output}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


@contextlib.contextmanager
def shared_budget(settings: Settings, clock: Clock) -> Iterator[SharedBudget]:
    """The account's request budget, shared through DATABASE_URL with every other process."""
    engine = open_database(settings.database)
    try:
        yield account_budget(settings, engine, clock=clock)
    finally:
        engine.dispose()


class _Progress:
    """Prints each job status change on stderr with the time elapsed."""

    def __init__(self, started: float) -> None:
        self.started = started

    def __call__(self, progress: JobProgress) -> None:
        elapsed = int(time.monotonic() - self.started)
        print(
            f"  job {progress.job_id}: {progress.status}"
            f" ({elapsed // 60}:{elapsed % 60:02d} elapsed)",
            file=sys.stderr,
        )

"""Everything about BrowserStack's Usage Reports API: client, models, errors, and a sandbox."""

from bot.browserstack.client import BrowserStackClient, JobStatus, RetryPolicy
from bot.browserstack.jobs import JobProgress, PollSchedule, run_report
from bot.browserstack.models import (
    JobState,
    Product,
    Report,
    ReportFilters,
    ReportKind,
    TeamRecord,
    UserRecord,
)

__all__ = [
    "BrowserStackClient",
    "JobProgress",
    "JobState",
    "JobStatus",
    "PollSchedule",
    "Product",
    "Report",
    "ReportFilters",
    "ReportKind",
    "RetryPolicy",
    "TeamRecord",
    "UserRecord",
    "run_report",
]

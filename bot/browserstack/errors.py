"""Everything that can go wrong talking to BrowserStack, as one exception tree.

Only ``client.py`` sees httpx; it turns every transport error and bad answer into one of these, so
the rest of the bot (Slack listeners, the digest, the CLI) handles BrowserStack failures without
knowing how HTTP works. Each message is a sentence a Slack user can read.

    BrowserStackError
    ├── InvalidFiltersError          the request was not sent: bad dates or product
    ├── BudgetSpentError             the request was not sent: the account's shared budget
    │                                is spent until ``retry_after`` (non-blocking clients)
    ├── TransportError               BrowserStack could not be reached
    │   ├── ConnectError             host unreachable, DNS, TLS
    │   ├── TimeoutError             no answer in time
    │   └── UnconfirmedJobError      a create was sent but its answer never came (or was
    │                                unreadable): BrowserStack may hold a job we cannot name
    ├── APIError                     BrowserStack answered with an error status
    │   ├── AuthenticationError      401/403: wrong username or access key, or no permission
    │   ├── NotFoundError            404: no such job (or endpoint)
    │   ├── RequestRejectedError     400/409/422: BrowserStack refused the request as sent
    │   │   └── QueueFullError       the account's report queue is full: wait, then ask again
    │   ├── RateLimitedError         429 after every retry
    │   └── ServerError              5xx after every retry
    ├── InvalidResponseError         not JSON, or not the documented shape
    └── JobError                     a report job did not produce a report
        ├── JobFailedError           BrowserStack says the job failed
        ├── JobTimedOutError         not finished by the deadline (the job was deleted)
        └── JobCancelledError        cancelled by the caller (the job was deleted)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BrowserStackError(Exception):
    """Base class; ``str(error)`` is a sentence fit for the person who asked."""


class InvalidFiltersError(BrowserStackError, ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"That report period is not valid: {reason}.")
        self.reason = reason


class BudgetSpentError(BrowserStackError):
    """Nothing was sent: the account's request budget is spent for ``retry_after`` seconds."""

    def __init__(self, *, retry_after: float) -> None:
        super().__init__(
            f"The BrowserStack request budget is spent for {duration(retry_after)}; "
            "the request waits its turn."
        )
        self.retry_after = retry_after


class TransportError(BrowserStackError):
    pass


class ConnectError(TransportError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"Could not reach BrowserStack at {host}. It may be down; try again later."
        )
        self.host = host


class TimeoutError(TransportError):
    def __init__(self, host: str) -> None:
        super().__init__(f"BrowserStack at {host} did not answer in time. Try again later.")
        self.host = host


class UnconfirmedJobError(TransportError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"BrowserStack at {host} did not confirm the report job; it may have been created."
        )
        self.host = host


class APIError(BrowserStackError):
    """BrowserStack answered, with an error status. ``status_code`` and ``detail`` say how."""

    def __init__(self, message: str, *, status_code: int, detail: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class AuthenticationError(APIError):
    def __init__(self, *, status_code: int = 401, detail: str = "") -> None:
        super().__init__(
            "BrowserStack refused the credentials: check BROWSERSTACK_USERNAME and "
            "BROWSERSTACK_ACCESS_KEY (an Enterprise plan and the Owner or Admin role are needed).",
            status_code=status_code,
            detail=detail,
        )


class NotFoundError(APIError):
    def __init__(self, *, detail: str = "") -> None:
        super().__init__(
            "BrowserStack does not know that report job (it may have expired or been deleted).",
            status_code=404,
            detail=detail,
        )


class RequestRejectedError(APIError):
    def __init__(self, *, status_code: int, detail: str = "") -> None:
        reason = f": {detail}" if detail else "."
        super().__init__(
            f"BrowserStack rejected the request{reason}", status_code=status_code, detail=detail
        )


class QueueFullError(RequestRejectedError):
    """Inferred from the answer's wording: the API text names no status for a full queue."""


class RateLimitedError(APIError):
    def __init__(self, *, detail: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(
            "BrowserStack is rate limiting us and kept doing so after several retries. "
            "Try again in a few minutes.",
            status_code=429,
            detail=detail,
        )


class ServerError(APIError):
    def __init__(self, *, status_code: int, detail: str = "") -> None:
        super().__init__(
            f"BrowserStack had an internal error (HTTP {status_code}) and kept failing after "
            "several retries. Try again later.",
            status_code=status_code,
            detail=detail,
        )


class InvalidResponseError(BrowserStackError):
    def __init__(self, what: str) -> None:
        super().__init__(f"BrowserStack sent an answer the bot could not read ({what}).")
        self.what = what


class JobError(BrowserStackError):
    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobFailedError(JobError):
    def __init__(self, *, job_id: str, status: str) -> None:
        super().__init__(
            f"BrowserStack could not generate the report (job status: {status}).", job_id=job_id
        )
        self.status = status


class JobTimedOutError(JobError):
    def __init__(self, *, job_id: str | None, waited: float, deleted: bool = True) -> None:
        if not job_id:
            what = "no job was left waiting"
        elif deleted:
            what = "the job was cancelled"
        else:
            what = "I stopped waiting (BrowserStack will finish the job on its own)"
        super().__init__(
            f"The report was still not ready after {duration(waited)}, so {what}. "
            "BrowserStack may be busy; try again later or ask for a shorter period.",
            job_id=job_id or "",
        )
        self.waited = waited


class JobCancelledError(JobError):
    def __init__(self, *, job_id: str) -> None:
        super().__init__("The report was cancelled.", job_id=job_id)


def duration(seconds: float) -> str:
    """``15 s``, ``1 min``, ``2 min 30 s``, ``1 h 5 min``: exact to the second, as people say it."""
    if seconds < 1:
        return "less than a second"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    parts += [f"{secs} s"] if secs or not parts else []
    return " ".join(parts)


class FailureKind(enum.StrEnum):
    """What a failure means for the person who asked; kept with a failed report."""

    CREDENTIALS = "credentials"  # the admins must fix the bot's BrowserStack settings
    UNREACHABLE = "unreachable"  # BrowserStack is down or unreachable: try again later
    RATE_LIMITED = "rate_limited"
    TIMED_OUT = "timed_out"
    JOB_FAILED = "job_failed"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a report could not be made, in a form that survives the database and a restart."""

    kind: FailureKind
    message: str

    @classmethod
    def of(cls, error: BrowserStackError) -> Failure:
        kinds: list[tuple[type[BrowserStackError], FailureKind]] = [
            (AuthenticationError, FailureKind.CREDENTIALS),
            (RateLimitedError, FailureKind.RATE_LIMITED),
            (TransportError, FailureKind.UNREACHABLE),
            (ServerError, FailureKind.UNREACHABLE),
            (JobTimedOutError, FailureKind.TIMED_OUT),
            (JobFailedError, FailureKind.JOB_FAILED),
        ]
        kind = next((k for cls_, k in kinds if isinstance(error, cls_)), FailureKind.OTHER)
        return cls(kind, str(error))

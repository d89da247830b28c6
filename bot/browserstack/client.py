"""HTTP client for the BrowserStack Usage Reports API: the eight endpoints, nothing more.

Every request takes a token from the account's budget (``ratelimit.Budget``: in production the
one in the database that every process shares), is retried with exponential backoff and jitter
on 5xx, timeouts and connection errors (stamina), and ends either in a typed result from
``models`` or in an exception from ``errors``. httpx never leaks past this module.

A *blocking* client (the command line, the digest) waits for tokens, for a 429's Retry-After
and between retries, in its own thread. A non-blocking one (the work loop) never waits and
never retries: it raises ``BudgetSpentError`` or ``RateLimitedError`` with the time to come
back, or the trouble it met, and the caller schedules its step again, leaving the thread to
other work.

Creating a job is not idempotent: a POST whose answer timed out, or came back unreadable, may have
queued a job, so it is retried only when it surely did not reach BrowserStack (connection refused,
connect timeout) or when BrowserStack said so (429, 5xx); otherwise it ends in
``UnconfirmedJobError`` and the caller decides. Reads are retried on unreadable answers too.

The date comes from the injected clock (``bot.clock``); credentials never appear in a message,
a log line or an exception: errors name the host only (``redact_url``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
import msgspec
import stamina
import stamina.instrumentation
from pydantic import SecretStr

from bot.browserstack import errors
from bot.browserstack.models import (
    JobCreated,
    JobState,
    JobStatusResponse,
    MessageResponse,
    Report,
    ReportFilters,
    ReportKind,
    TeamReportResponse,
    UserRecord,
    UserReportResponse,
    _Envelope,
    classify_status,
)
from bot.browserstack.ratelimit import Budget
from bot.redact import redact_url

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.settings import Settings

log = logging.getLogger(__name__)


def _log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    # stamina's own hook logs every retry at WARNING, which would put a line on the CLI's stderr
    # for each transient hiccup; a retry is routine, and only the final failure is news.
    log.info("retry %d in %.1f s after %s", details.retry_num, details.wait_for, details.caused_by)


stamina.instrumentation.set_on_retry_hooks([_log_retry])

T = TypeVar("T")
_REPORT_PATH = "/reports/usage/v1"
_USER_AGENT = "usagebot/0.1 (+https://github.com/usagebot)"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry one request; ``timeout`` bounds all attempts together."""

    attempts: int = 5
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    timeout: float = 180.0
    # No Retry-After is documented for 429: wait long enough for several tokens to refill.
    rate_limited_wait: float = 20.0


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A job's status as BrowserStack gave it, with our reading of it."""

    state: JobState
    status: str
    message: str


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS settings, made once per process: each client making its own loads
    the whole certificate bundle again (about 20 ms, and its memory)."""
    return httpx.create_ssl_context()


class BrowserStackClient:
    """Synchronous, thread-safe client; one per process is enough."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        access_key: str | SecretStr,
        filters_in: Literal["body", "query"] = "body",
        timeout: httpx.Timeout | None = None,
        budget: Budget,
        blocking: bool = True,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock,
        pack: Pack | None = None,
    ) -> None:
        key = access_key.get_secret_value() if isinstance(access_key, SecretStr) else access_key
        self.base_url = base_url.rstrip("/")
        # What messages name: the host, never credentials a proxy URL may carry.
        self.host = redact_url(self.base_url)
        self.filters_in = filters_in
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.budget = budget
        self.blocking = blocking
        self.pack = pack
        self._http = httpx.Client(
            base_url=self.base_url + _REPORT_PATH,
            auth=httpx.BasicAuth(username, key),
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
            transport=transport,
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
            verify=_tls(),
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock,
        budget: Budget,
        blocking: bool = True,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        pack: Pack | None = None,
    ) -> BrowserStackClient:
        """A client for the configured account, drawing on ``budget``."""
        settings.require("browserstack")
        assert settings.browserstack_username
        assert settings.browserstack_access_key
        return cls(
            base_url=settings.api_url,
            username=settings.browserstack_username,
            access_key=settings.browserstack_access_key,
            filters_in=settings.browserstack_filters_in,
            timeout=httpx.Timeout(
                settings.browserstack_read_timeout, connect=settings.browserstack_connect_timeout
            ),
            budget=budget,
            blocking=blocking,
            retry=retry or RetryPolicy(attempts=settings.browserstack_retry_attempts),
            transport=transport,
            clock=clock,
            pack=pack,
        )

    def __repr__(self) -> str:
        return f"BrowserStackClient(base_url={self.host!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BrowserStackClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The eight endpoints, as four operations on either kind of report.

    def create_job(self, kind: ReportKind, filters: ReportFilters | None = None) -> str:
        """Queue a report job and return its id; filters are checked before anything is sent."""
        filters = filters or ReportFilters()
        try:
            filters.validate(today=self.clock.today())
        except ValueError as error:
            raise errors.InvalidFiltersError(str(error)) from None
        params = filters.params()
        send: dict[str, Any] = {"json": params} if self.filters_in == "body" else {"params": params}
        created = self._call("POST", f"/{kind}", JobCreated, idempotent=False, **send)
        if created.job_id is None:
            # A success without an id: a job may exist that we cannot name.
            raise errors.UnconfirmedJobError(self.host)
        log.info("created %s report job %s", kind, created.job_id)
        return created.job_id

    def job_status(self, kind: ReportKind, job_id: str) -> JobStatus:
        answer = self._call("GET", f"/{kind}/{job_id}/status", JobStatusResponse)
        if answer.status is None:
            raise errors.InvalidResponseError("no status in the answer to a job status request")
        return JobStatus(classify_status(answer.status), answer.status, answer.message or "")

    def get_report(
        self, kind: ReportKind, job_id: str, *, filters: ReportFilters | None = None
    ) -> Report:
        """Fetch a completed job's report; ``filters`` records what the job was created with."""
        filters = filters or ReportFilters()
        fetched_at = self.clock.now()
        if kind is ReportKind.USER and self.pack is not None:
            landed = self._call("GET", f"/user/{job_id}", _LandingResponse, then=self._packed)
            if landed.data is None:
                raise errors.InvalidResponseError("the user report has no data")
            return Report(kind, filters, fetched_at, users=landed.data.packed)
        if kind is ReportKind.USER:
            users = self._call("GET", f"/user/{job_id}", UserReportResponse).data
            if users is None:
                raise errors.InvalidResponseError("the user report has no data")
            return Report(kind, filters, fetched_at, users=users.users)
        teams = self._call("GET", f"/team/{job_id}", TeamReportResponse).data
        if teams is None:
            raise errors.InvalidResponseError("the team report has no data")
        return Report(kind, filters, fetched_at, teams=teams.teams)

    def delete_job(self, kind: ReportKind, job_id: str) -> None:
        """Dequeue a job, freeing its place in the account's shared job queue."""
        self._call("DELETE", f"/{kind}/{job_id}/status", MessageResponse)
        log.info("deleted %s report job %s", kind, job_id)

    # Plumbing.

    def _call(
        self,
        method: str,
        path: str,
        shape: type[T],
        *,
        idempotent: bool = True,
        then: Callable[[T], T] | None = None,
        **kwargs: Any,
    ) -> T:
        """The answer to one request, decoded as ``shape`` (and passed through ``then``, whose
        InvalidResponseError is retried as the decode's is)."""
        policy = self.retry
        retrying = stamina.retry_context(
            on=functools.partial(self._backoff, idempotent=idempotent),
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        )
        for attempt in retrying:
            with attempt:
                response = self._send(method, path, **kwargs)
                try:
                    answer = decode(shape, response.content)
                    if then is not None:
                        answer = then(answer)
                except errors.InvalidResponseError:
                    if not idempotent:
                        # A 200 to a create that we cannot read: the job was probably queued.
                        raise errors.UnconfirmedJobError(self.host) from None
                    raise
        if not answer.ok:  # type: ignore[attr-defined]
            detail = answer.message or ""  # type: ignore[attr-defined]
            raise errors.RequestRejectedError(status_code=response.status_code, detail=detail)
        return answer

    def _packed(self, answer: _LandingResponse) -> _LandingResponse:
        """The members of a user report, decoded one at a time into ``pack``."""
        if answer.data is not None:
            assert self.pack is not None
            raw, answer.data.users = answer.data.users, []
            answer.data.packed = self.pack(_members(raw))
        return answer

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._take_token(method, path)
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ConnectTimeout, httpx.ConnectError, httpx.PoolTimeout):
            raise _NotSent(self.host) from None
        except httpx.TimeoutException:
            if method == "POST":
                raise errors.UnconfirmedJobError(self.host) from None
            raise errors.TimeoutError(self.host) from None
        except httpx.HTTPError:
            if method == "POST":
                raise errors.UnconfirmedJobError(self.host) from None
            raise errors.ConnectError(self.host) from None
        log.debug("%s %s -> %s", method, path, response.status_code)
        if response.status_code >= 400:
            error = _status_error(response, now=self.clock.now())
            if isinstance(error, errors.RateLimitedError):
                # Our count and BrowserStack's disagree: theirs wins, for every process.
                self.budget.drain()
            raise error
        return response

    def _take_token(self, method: str, path: str) -> None:
        """A token from the budget: waited for when blocking, else BudgetSpentError."""
        waited = 0.0
        while (wait := self.budget.take()) > 0:
            if not self.blocking:
                raise errors.BudgetSpentError(retry_after=wait)
            time.sleep(wait)
            waited += wait
        if waited > 1:
            log.debug("the rate budget held %s %s for %.1f s", method, path, waited)

    def _backoff(self, error: Exception, *, idempotent: bool) -> bool | float:
        """Stamina's backoff hook: whether to retry ``error``, or how long to wait first."""
        if not self.blocking:
            # The caller comes back later (the work loop's step, on its schedule), without
            # holding this thread: an outage of minutes would hold every worker otherwise.
            return False
        if isinstance(error, errors.RateLimitedError):
            if error.retry_after is not None:
                return error.retry_after
            base = self.retry.rate_limited_wait
            return base + random.uniform(0, base / 4)  # noqa: S311 - jitter, not crypto
        if isinstance(error, _NotSent | errors.ServerError):
            return True
        if isinstance(error, errors.UnconfirmedJobError):
            return False
        return isinstance(error, errors.TransportError | errors.InvalidResponseError) and idempotent


class _NotSent(errors.ConnectError):
    """The request never reached BrowserStack, so even a POST is safe to retry."""


# What a client may keep a user report's members in as they land, instead of a list of them all
# decoded (``bot.reports.packed.PackedUsers``, for ``serve``): it takes the members one at a time.
Pack = Callable[[Iterable[UserRecord]], Sequence[UserRecord]]


class _LandingUsers(msgspec.Struct):
    """A user report's ``data`` with each member left undecoded (``msgspec.Raw``, a slice of the
    answer's bytes); ``packed`` holds them once decoded into the client's ``pack``."""

    users: list[msgspec.Raw] = msgspec.field(default_factory=list)
    packed: Sequence[UserRecord] = ()


class _LandingResponse(_Envelope):
    data: _LandingUsers | None = None


def _members(raw: list[msgspec.Raw]) -> Iterator[UserRecord]:
    """Each member decoded as ``UserReportResponse`` decodes it (the same decoder settings);
    an error says where, as the whole answer's decode would have."""
    for position, member in enumerate(raw):
        try:
            yield _decoder(UserRecord).decode(member)
        except msgspec.ValidationError as error:
            where = str(error).replace("`$", f"`$.data.users[{position}]")
            raise errors.InvalidResponseError(f"unexpected shape: {where}") from None
        except msgspec.DecodeError:  # pragma: no cover - Raw holds a whole JSON value
            raise errors.InvalidResponseError("not JSON") from None


def decode(shape: type[T], body: bytes) -> T:
    """Decode an answer into ``shape``, or raise InvalidResponseError saying what was wrong."""
    try:
        decoded: T = _decoder(shape).decode(body)
        return decoded
    except msgspec.ValidationError as error:  # JSON, but not the documented shape
        raise errors.InvalidResponseError(f"unexpected shape: {error}") from None
    except msgspec.DecodeError:  # not JSON at all: an HTML error page, a truncated body
        raise errors.InvalidResponseError("not JSON") from None


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _decoder(shape: type[T]) -> msgspec.json.Decoder[T]:
    decoder = _decoders.get(shape)
    if decoder is None:
        # strict=False accepts numbers and booleans sent as strings, as BrowserStack's docs do.
        decoder = _decoders[shape] = msgspec.json.Decoder(shape, strict=False)
    return decoder


def _detail(response: httpx.Response) -> str:
    """BrowserStack's own words about an error, from a JSON or a text body, kept short."""
    try:
        message = msgspec.json.decode(response.content).get("message")
    except (msgspec.DecodeError, AttributeError):
        message = None
    text = message if isinstance(message, str) else response.text
    return " ".join(text.split())[:300]


def _retry_after(response: httpx.Response, *, now: dt.datetime) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return max(0.0, (when - now).total_seconds())


# The API text names no status for a full queue; the sandbox (and, we infer, BrowserStack) says so
# in words with a 422 or a 429.
_QUEUE_FULL = ("queue is full", "jobs in queue", "queue limit", "too many report jobs")


def _status_error(response: httpx.Response, *, now: dt.datetime) -> errors.APIError:
    status = response.status_code
    detail = _detail(response)
    if status in (422, 429) and any(words in detail.lower() for words in _QUEUE_FULL):
        return errors.QueueFullError(status_code=status, detail=detail)
    if status in (401, 403):
        return errors.AuthenticationError(status_code=status, detail=detail)
    if status == 404:
        return errors.NotFoundError(detail=detail)
    if status == 429:
        return errors.RateLimitedError(detail=detail, retry_after=_retry_after(response, now=now))
    if status >= 500:
        return errors.ServerError(status_code=status, detail=detail)
    return errors.RequestRejectedError(status_code=status, detail=detail)

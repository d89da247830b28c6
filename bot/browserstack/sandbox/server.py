"""A BrowserStack Usage Reports server on loopback: real HTTP, the API text's shapes and messages.

Stdlib ``ThreadingHTTPServer`` on daemon threads; every request goes through, in order: Basic auth
(401, ``text/html``), the rate limit (429), injected faults (delay, 5xx), routing, and a possible
malformed body on a 200. Dates (what "today" is, which periods are in the future) read
``SandboxConfig.clock``, the stack's one clock; job timing and the rate limit read
``SandboxConfig.timer``, a monotonic timer that tests move forward instead of sleeping.

Where the API text is silent, the sandbox assumes (the bot must not rely on any of these):

- Filters ``startDate``/``endDate`` (``YYYY-MM-DD``) and ``product`` (``All-Products``, ``Live``,
  ``Automate``, ``App-Live``, ``App-Automate``) are read from a JSON (or form) body and from the
  query string; the query string wins where both set one. Without dates: the last 14 days up to
  today. A bad value, an end before the start, a date in the future or an end date without a
  start date is a 422 JSON error. The filters are stored with the job, applied when it is built.
- Between ``enqueued`` and ``completed`` a job is ``processing``; a job may end ``failed``.
- GET report before completion: 422 ``Report is not ready yet. Job status: processing``; of a failed
  job: 422 ``Report generation failed. Job status: failed``; of an unknown or deleted job, or one
  asked for under the other kind's path: 404 ``Job not found``. Completed jobs stay until deleted.
- User and team jobs share one queue; more than ``queue_limit`` unfinished jobs is a 422.
- 429 carries no ``Retry-After`` (none is documented). Unknown paths are a 404 JSON error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.browserstack.models import ALL_PRODUCTS_FILTER, Product, ReportFilters, ReportKind
from bot.browserstack.ratelimit import TokenBucket
from bot.browserstack.sandbox.faults import FaultConfig, FaultInjector, Reply, server_error, spoil
from bot.browserstack.sandbox.jobs import Job, JobStatus, JobStore, QueueFullError
from bot.browserstack.sandbox.org import SyntheticOrg
from bot.clock import Clock, SystemClock
from bot.loopback import LoopbackServer

log = logging.getLogger(__name__)

_ROUTE = re.compile(r"/reports/usage/v1/(user|team)(?:/([^/]+?)(/status)?)?/?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PRODUCTS = {p.filter_value: p for p in Product}
_PRODUCT_CHOICES = ", ".join([ALL_PRODUCTS_FILTER, *_PRODUCTS])
_UNAUTHORISED = Reply(
    401,
    b"HTTP Basic: Access denied.\n",
    "text/html; charset=utf-8",
    (("WWW-Authenticate", 'Basic realm="Application"'),),
)


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """Everything that shapes the sandbox; the defaults behave like a real, healthy account."""

    username: str = "sandbox"
    access_key: str = field(default="sandbox-key", repr=False)
    users: int = 2000
    seed: int = 42
    queued_seconds: float = 2.0
    processing_seconds: float = 3.0
    queue_limit: int = 10  # unfinished jobs per account; user and team jobs share the queue
    rate_limit: bool = True
    rate_burst: int = 5
    rate_per_minute: float = 15.0
    faults: FaultConfig = field(default_factory=FaultConfig)
    clock: Clock = field(default_factory=SystemClock)
    timer: Callable[[], float] = time.monotonic
    fault_seed: int = 0
    # User reports leave out the entries of products a member did not use in the period, as a
    # terser API could: the bot must then judge idle seats by ``last_test`` (off: every entry).
    sparse_entries: bool = False

    def current_date(self) -> dt.date:
        return self.clock.today()


class SandboxStats:
    """Thread-safe counters of what the sandbox answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_status: dict[int, int] = {}
        self.requests = 0
        self.jobs_created = 0
        self.jobs_deleted = 0
        self.rate_limited = 0  # 429s sent

    @property
    def by_status(self) -> dict[int, int]:
        """Answers sent, by HTTP status (a copy)."""
        with self._lock:
            return dict(self._by_status)

    def answered(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            self._by_status[status] = self._by_status.get(status, 0) + 1
            if status == 429:
                self.rate_limited += 1

    def count(self, counter: str) -> None:
        """Add one to ``jobs_created`` or ``jobs_deleted``."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)


class _InvalidRequest(Exception):
    """A request the API refuses with 422 and this message."""


class SandboxServer:
    """The sandbox: ``start()`` serves on a daemon thread, ``serve_forever()`` in the foreground."""

    def __init__(self, config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.org = SyntheticOrg(
            config.seed, config.users, today=config.current_date(), sparse=config.sparse_entries
        )
        self.jobs = JobStore(
            queued_seconds=config.queued_seconds,
            processing_seconds=config.processing_seconds,
            limit=config.queue_limit,
            timer=config.timer,
        )
        self.stats = SandboxStats()
        self.faults = FaultInjector(config.faults, seed=config.fault_seed)
        self._bucket = (
            TokenBucket(
                burst=config.rate_burst, per_minute=config.rate_per_minute, timer=config.timer
            )
            if config.rate_limit
            else None
        )
        self._httpd = LoopbackServer((host, port), self, name="BrowserStack sandbox")

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return self._httpd.url

    def start(self) -> SandboxServer:
        """Serve on a daemon thread until ``stop()``."""
        self._httpd.start()
        return self

    def revoke(self, email: str, product: Product | str) -> bool:
        """Tests only: remove a member's product access (BrowserStack's API has no such call)."""
        return self.org.revoke(email, product)

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (Ctrl-C raises KeyboardInterrupt)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- answering ---------------------------------------------------------------------------

    def unreadable(self) -> Reply:
        """A request body that could not be read."""
        self.stats.answered(400)
        return _error(400, "Unreadable request body")

    def handle(self, verb: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request; the HTTP handler only moves bytes."""
        reply = self._answer(verb, target, headers, body)
        self.stats.answered(reply.status)
        return reply

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if not self._authorised(headers.get("Authorization")):
            return _UNAUTHORISED
        if self._bucket is not None and self._bucket.take() > 0:
            return _json(429, {"success": False, "message": "Rate limit exceeded"})
        faults = self.faults.for_request()
        if faults.delay:
            time.sleep(faults.delay)
        if faults.error:
            return faults.error
        try:
            reply = self._route(method, target, headers, body)
        except Exception:
            log.exception("BrowserStack sandbox failed answering %s %s", method, target)
            return server_error(500, html=False)
        if reply.status == 200 and (how := self.faults.malformation()):
            reply = spoil(reply, how)
        return reply

    def _authorised(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self.config.username}:{self.config.access_key}".encode()
        return hmac.compare_digest(given, expected)

    def _route(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        url = urlsplit(target)
        match = _ROUTE.fullmatch(url.path)
        if match:
            kind, job_id, status = ReportKind(match[1]), match[2], bool(match[3])
            if method == "POST" and job_id is None:
                return self._create(kind, url.query, headers.get("Content-Type", ""), body)
            if method == "GET" and job_id and status:
                return self._status(kind, job_id)
            if method == "GET" and job_id:
                return self._report(kind, job_id)
            if method == "DELETE" and job_id and status:
                return self._delete(kind, job_id)
        return _error(404, f"No route matches {method} {url.path}")

    def _create(self, kind: ReportKind, query: str, content_type: str, body: bytes) -> Reply:
        try:
            start, end, product = read_filters(
                query, body, content_type, today=self.config.current_date()
            )
        except _InvalidRequest as error:
            return _error(422, str(error))
        try:
            outcome = self.faults.job_outcome()
            job = self.jobs.create(kind, start=start, end=end, product=product, outcome=outcome)
        except QueueFullError as error:
            return _error(422, str(error))
        self.stats.count("jobs_created")
        log.debug("sandbox job %s: %s report %s..%s %s", job.id, kind, start, end, product)
        return _json(
            200,
            {
                "success": True,
                "message": "Report is successfully queued.",
                "data": {"job_id": job.id},
            },
        )

    def _status(self, kind: ReportKind, job_id: str) -> Reply:
        job = self.jobs.get(job_id, kind)
        if job is None:
            return _error(404, "Job not found")
        status = self.jobs.status(job)
        return _json(200, {"success": True, "status": status.value, "message": status.message})

    def _report(self, kind: ReportKind, job_id: str) -> Reply:
        job = self.jobs.get(job_id, kind)
        if job is None:
            return _error(404, "Job not found")
        status = self.jobs.status(job)
        if status is JobStatus.FAILED:
            return _error(422, f"Report generation failed. Job status: {status}")
        if status is not JobStatus.COMPLETED:
            return _error(422, f"Report is not ready yet. Job status: {status}")
        return Reply(200, self.jobs.report_body(job, self._build))

    def _build(self, job: Job) -> bytes:
        started = time.perf_counter()
        body = self.org.report_body(job.kind, start=job.start, end=job.end, product=job.product)
        log.debug(
            "sandbox job %s: %d bytes in %.2fs", job.id, len(body), time.perf_counter() - started
        )
        return body

    def _delete(self, kind: ReportKind, job_id: str) -> Reply:
        if not self.jobs.delete(job_id, kind):
            return _error(404, "Job not found")
        self.stats.count("jobs_deleted")
        return _json(
            200, {"success": True, "message": "Report is successfully removed from queue."}
        )


def read_filters(
    query: str, body: bytes, content_type: str, *, today: dt.date
) -> tuple[dt.date, dt.date, Product | None]:
    """The period and product a create request asks for; raise _InvalidRequest if unusable."""
    values: dict[str, Any] = {}
    if body.strip():
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            values.update((k, v[-1]) for k, v in parse_qs(body.decode("latin-1")).items())
        else:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise _InvalidRequest("Request body is not valid JSON") from None
            if not isinstance(parsed, dict):
                raise _InvalidRequest("Request body must be a JSON object")
            values.update(parsed)
    values.update((k, v[-1]) for k, v in parse_qs(query).items())
    start, end = _date(values, "startDate"), _date(values, "endDate")
    product = values.get("product")
    if product in (None, "", ALL_PRODUCTS_FILTER):
        product = None
    elif product in _PRODUCTS:
        product = _PRODUCTS[product]
    else:
        raise _InvalidRequest(f"Product must be one of {_PRODUCT_CHOICES}; got {product!r}")
    filters = ReportFilters(start=start, end=end, product=product)
    try:
        filters.validate(today=today)
    except ValueError as error:
        raise _InvalidRequest(f"Invalid filters: {error}") from None
    return *filters.period(today=today), product


def _date(values: Mapping[str, Any], name: str) -> dt.date | None:
    value = values.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _InvalidRequest(f"{name} must be a date as YYYY-MM-DD; got {value!r}")


def _json(status: int, payload: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def _error(status: int, message: str) -> Reply:
    return _json(status, {"success": False, "message": message})

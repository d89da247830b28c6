"""Fault injection: which requests the sandbox answers badly, decided by one seeded RNG.

Real BrowserStack sometimes answers slowly, with a 5xx from a proxy (an HTML page as often as JSON),
or with a body cut short; jobs occasionally fail or never finish. The bot must survive all of that,
so the sandbox can do it on demand. Every decision comes from ``random.Random(seed)`` under a lock,
so a test that sets a rate of 0 or 1 (or a fixed seed) gets the same answers every run.
"""

from __future__ import annotations

import enum
import json
import random
import threading
from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Fractions (0–1) of requests or jobs that go wrong; all 0 by default."""

    error_rate: float = 0.0  # requests answered 500/502/503
    slow_rate: float = 0.0  # requests answered after sleeping slow_seconds
    slow_seconds: float = 0.0
    malformed_rate: float = 0.0  # 200 answers whose body is truncated JSON or an HTML page
    fail_rate: float = 0.0  # created jobs that end in "failed"
    stuck_rate: float = 0.0  # created jobs that stay "processing" forever

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "slow_seconds":
                if value < 0:
                    raise ValueError("slow_seconds must not be negative")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be between 0 and 1, got {value}")
        if self.fail_rate + self.stuck_rate > 1.0:
            raise ValueError("fail_rate + stuck_rate must not exceed 1")


class JobOutcome(enum.StrEnum):
    """How a job ends, fixed when it is created."""

    COMPLETE = "complete"
    FAIL = "fail"
    STUCK = "stuck"


class Malformation(enum.StrEnum):
    TRUNCATED_JSON = "truncated-json"
    HTML_PAGE = "html-page"


@dataclass(frozen=True)
class Reply:
    """A whole HTTP answer, as the handler will send it."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RequestFaults:
    """What goes wrong with one request: a delay, and/or a 5xx in place of the real answer."""

    delay: float = 0.0
    error: Reply | None = None


_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_HTML_ERROR = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# What a login wall or maintenance page looks like when a proxy answers 200 in the API's place.
_HTML_200 = (
    "<!DOCTYPE html>\n<html><head><title>BrowserStack</title></head>\n"
    "<body><h1>We'll be back soon</h1><p>BrowserStack is under scheduled maintenance.</p></body>"
    "</html>\n"
)


class FaultInjector:
    """Thread-safe fault decisions from one seeded RNG."""

    def __init__(self, config: FaultConfig, *, seed: int = 0) -> None:
        self.config = config
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def for_request(self) -> RequestFaults:
        """Decide the delay and the 5xx (if any) for one authenticated request."""
        cfg = self.config
        with self._lock:
            # Always draw the same number of values so one rate does not shift another's sequence.
            slow, fail, pick_status, pick_html = (self._rng.random() for _ in range(4))
        delay = cfg.slow_seconds if slow < cfg.slow_rate else 0.0
        if fail >= cfg.error_rate:
            return RequestFaults(delay=delay)
        status = (500, 502, 503)[int(pick_status * 3)]
        return RequestFaults(delay=delay, error=server_error(status, html=pick_html < 0.5))

    def malformation(self) -> Malformation | None:
        """Decide whether a 200 answer's body is spoiled, and how."""
        with self._lock:
            spoil, how = self._rng.random(), self._rng.random()
        if spoil >= self.config.malformed_rate:
            return None
        return Malformation.TRUNCATED_JSON if how < 0.5 else Malformation.HTML_PAGE

    def job_outcome(self) -> JobOutcome:
        """Decide, at creation, how a job will end."""
        with self._lock:
            draw = self._rng.random()
        if draw < self.config.fail_rate:
            return JobOutcome.FAIL
        if draw < self.config.fail_rate + self.config.stuck_rate:
            return JobOutcome.STUCK
        return JobOutcome.COMPLETE


def server_error(status: int, *, html: bool) -> Reply:
    """A 5xx as a proxy (HTML) or the application (JSON) would send it."""
    reason = _REASONS.get(status, "Server Error")
    if html:
        page = _HTML_ERROR.format(code=status, reason=reason)
        return Reply(status, page.encode(), "text/html")
    body = json.dumps({"success": False, "message": reason}).encode()
    return Reply(status, body)


def spoil(reply: Reply, how: Malformation) -> Reply:
    """Turn a good 200 answer into a malformed one that still says 200."""
    if how is Malformation.TRUNCATED_JSON:
        # Any proper prefix of a JSON object is invalid JSON: the closing brace is missing.
        return Reply(reply.status, reply.body[: max(1, len(reply.body) // 2)], reply.content_type)
    return Reply(reply.status, _HTML_200.encode(), "text/html; charset=utf-8")

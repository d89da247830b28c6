"""Shared fixtures: a real BrowserStack sandbox on loopback and clients pointed at it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from bot.browserstack.client import BrowserStackClient, RetryPolicy
from bot.browserstack.ratelimit import TokenBucket
from bot.browserstack.sandbox import SandboxConfig, SandboxServer

USERNAME = "sandbox-owner"
ACCESS_KEY = "sandbox-secret-key-123"
TODAY = dt.date(2026, 11, 25)
FAST_RETRY = RetryPolicy(
    attempts=4, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0, timeout=30, rate_limited_wait=0.2
)


class FakeClock:
    """A monotonic clock that only moves when told; ``wait`` advances it instead of sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def wait(self, seconds: float) -> bool:
        self.advance(seconds)
        return False


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


SandboxFactory = Callable[..., SandboxServer]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes with config overrides; all are stopped after the test."""
    servers: list[SandboxServer] = []

    def start(**overrides: object) -> SandboxServer:
        config = SandboxConfig(
            username=USERNAME,
            access_key=ACCESS_KEY,
            users=300,
            seed=7,
            queued_seconds=0.05,
            processing_seconds=0.05,
            rate_limit=False,
            today=lambda: TODAY,
        )
        server = SandboxServer(replace(config, **overrides), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    return sandbox_factory()


def make_client(base_url: str, **overrides: object) -> BrowserStackClient:
    """A client with fast retries and its own (not the process-wide) limiter."""
    options: dict[str, object] = {
        "base_url": base_url,
        "username": USERNAME,
        "access_key": ACCESS_KEY,
        "retry": FAST_RETRY,
        "rate_limiter": TokenBucket(burst=1000, per_minute=600_000),
        "today": lambda: TODAY,
    }
    options.update(overrides)
    return BrowserStackClient(**options)  # type: ignore[arg-type]


def make_sandbox_client(server: SandboxServer, **overrides: object) -> BrowserStackClient:
    return make_client(server.url, **overrides)

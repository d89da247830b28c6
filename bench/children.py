"""The bot's real command line as child processes, for the benches that measure whole processes.

The BrowserStack sandbox and the Slack stand-in run in the bench's process; each ``python -m bot``
child gets its settings from the environment only (every other setting of this machine's
environment dropped), as a deployment would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import Watch
from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.clock import Clock
from bot.slack.standin import SlackStandIn
from bot.stack import BOT_TOKEN, SANDBOX_ACCESS_KEY, SANDBOX_USERNAME, SIGNING_SECRET
from tests.cli import clean_environment

# Quick jobs and no rate limit: these benches measure the bot's memory and time, not waiting for
# BrowserStack (each report is asked for once anyway).
FAST = {
    "BROWSERSTACK_RATE_BURST": "1000",
    "BROWSERSTACK_RATE_PER_MINUTE": "600000",
    "REPORT_POLL_INITIAL_SECONDS": "0.2",
    "REPORT_POLL_MAX_SECONDS": "0.5",
    "SCHEDULER_TICK_SECONDS": "0.1",
}


def sandbox(users: int, clock: Clock) -> SandboxServer:
    """A started sandbox of ``users`` members (seed 42), no rate limit, jobs of 0.2 s."""
    return SandboxServer(
        SandboxConfig(
            username=SANDBOX_USERNAME,
            access_key=SANDBOX_ACCESS_KEY,
            users=users,
            seed=42,
            rate_limit=False,
            queued_seconds=0.05,
            processing_seconds=0.15,
            clock=clock,
        ),
        host="127.0.0.1",
        port=0,
    ).start()


def bot_env(
    box: SandboxServer | str,
    database: Path,
    *,
    standin: SlackStandIn | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a ``python -m bot`` child: the stand-ins (``box``: the sandbox, or the
    URL of one in another process), an SQLite file, ``FAST``; ``extra`` overrides."""
    env = {
        "BROWSERSTACK_USERNAME": SANDBOX_USERNAME,
        "BROWSERSTACK_ACCESS_KEY": SANDBOX_ACCESS_KEY,
        "BROWSERSTACK_API_URL": box if isinstance(box, str) else box.url,
        "DATABASE_URL": f"sqlite:///{database.resolve()}",
        "PORT": "0",
        **FAST,
    }
    if standin is not None:
        env |= {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": standin.api_url,
        }
    return clean_environment(env | dict(extra or {}))


@dataclass(frozen=True)
class Ran:
    """A finished child: its exit status, wall time, peak RSS and most threads, and its stderr."""

    returncode: int
    seconds: float
    peak_mb: float
    max_threads: int
    stderr: str


def run(args: Sequence[str], env: Mapping[str, str], *, timeout: float = 900) -> Ran:
    """``python -m bot *args`` to its end, watched (stdout discarded: it is not the point)."""
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bot", *args],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    watch = Watch(child.pid)
    try:
        _, stderr = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    seconds = time.perf_counter() - started
    watch.stop()
    return Ran(child.returncode, seconds, watch.peak_mb, watch.max_threads, stderr)


def describe_malloc() -> str:
    """Whether this machine's environment tunes glibc's malloc (the children inherit it); without
    it, ``serve`` caps the arenas at two itself (``bot.server.limit_malloc_arenas``)."""
    tuned = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    return ", ".join(f"{k}={v}" for k, v in sorted(tuned.items())) or (
        "no MALLOC_ variables: serve caps glibc's arenas at 2, other commands use the defaults"
    )


def machine_load() -> str:
    """The load averages, printed with the figures: other work on these 2 shared cores shows."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"

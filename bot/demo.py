"""``make demo``: the sandbox and the fetch pipeline end to end, on embedded defaults only."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from bot.browserstack.models import ReportKind
from bot.browserstack.sandbox import SandboxConfig, SandboxServer
from bot.settings import Settings

DEMO_USERNAME = "demo-owner"
DEMO_ACCESS_KEY = "demo-access-key"


def demo_settings(api_url: str) -> Settings:
    """Settings for the built-in sandbox, polling faster than production would."""
    return Settings(
        browserstack_username=DEMO_USERNAME,
        browserstack_access_key=DEMO_ACCESS_KEY,
        browserstack_api_url=api_url,
        report_poll_initial_seconds=1.0,
        report_poll_max_seconds=2.0,
    )


def _fetch_args(kind: ReportKind, fmt: str, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "kind": kind.value,
        "since": None,
        "until": None,
        "product": None,
        "fmt": fmt,
        "output": None,
    }
    values.update(extra)
    return argparse.Namespace(**values)


def run_demo() -> int:
    from bot.cli import cmd_fetch

    config = SandboxConfig(
        username=DEMO_USERNAME,
        access_key=DEMO_ACCESS_KEY,
        users=2000,
        queued_seconds=2.0,
        processing_seconds=3.0,
    )
    with SandboxServer(config, host="127.0.0.1", port=0) as server:
        settings = demo_settings(server.url)
        say(f"BrowserStack sandbox on {server.url}: a synthetic organisation of 2,000 people,")
        say("rate limited like the real API (a burst of 5, then 15 requests a minute).\n")

        say("$ python -m bot fetch team --format table")
        status = cmd_fetch(_fetch_args(ReportKind.TEAM, "table"), settings=settings)
        if status:
            return status

        since = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
        say(f"\n$ python -m bot fetch user --since {since} --format table")
        status = cmd_fetch(_fetch_args(ReportKind.USER, "table", since=since), settings=settings)
        if status:
            return status

        out = Path(tempfile.mkdtemp(prefix="usagebot-demo-")) / "users.csv"
        say(f"\n$ python -m bot fetch user --since {since} --format csv -o {out}")
        status = cmd_fetch(
            _fetch_args(ReportKind.USER, "csv", since=since, output=out), settings=settings
        )
        if status:
            return status
        with out.open(encoding="utf-8") as csv_file:
            head = [next(csv_file).rstrip() for _ in range(3)]
        say("First lines of the CSV:\n  " + "\n  ".join(head))
        stats = server.stats
        say(f"\nRequests the sandbox answered: {stats.requests}, 429s: {stats.rate_limited}")
    return 0


def say(text: str) -> None:
    sys.stdout.flush()  # keep the narrative in order with the reports printed on stdout
    print(text, file=sys.stderr, flush=True)

"""The weekly digest for a 50,000-member organisation: report bytes in, rendered messages out.

    .venv/bin/python bench/digest.py [--users 50000] [--repeat 3]

Measures, from the raw JSON of a 30-day user report and of the team report (as BrowserStack
would send them) to the digest's summary, thread replies, CSV and chart: the best-of-N wall time
of the whole, of each stage beside the best-of-N bare ``json.loads`` of the same bytes (a
baseline measured in the same run, since these machines are noisy), and the peak resident size
of a fresh process that does the whole once. Targets (issue 4): under 3 s and under 400 MB, printed
beside the figures. The timed runs follow a warm-up, so matplotlib's one-off import and font
loading (about a second, once per process) is not in them; the fresh process's figure includes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import peak_rss_mb
from bot.browserstack.client import decode
from bot.browserstack.models import (
    Product,
    ReportKind,
    TeamReportResponse,
    UserReportResponse,
)
from bot.browserstack.sandbox import SyntheticOrg
from bot.digest.render import render_digest
from bot.digest.rules import build_digest

# A fixed moment, not the clock's: every run renders the same digest, so runs compare.
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
START, END = NOW.date() - dt.timedelta(days=30), NOW.date()
PRICES = {Product.LIVE: 29.0, Product.AUTOMATE: 129.0, Product.APP_AUTOMATE: 199.0}


def payloads(users: int) -> tuple[bytes, bytes]:
    org = SyntheticOrg(seed=42, users=users, today=NOW.date())
    return (
        org.report_body(ReportKind.USER, start=START, end=END, product=None),
        org.report_body(ReportKind.TEAM, start=START, end=END, product=None),
    )


def whole(user_body: bytes, team_body: bytes) -> dict[str, float]:
    """The digest from bytes to messages, timing each stage."""
    stages: dict[str, float] = {}
    started = time.perf_counter()
    users = decode(UserReportResponse, user_body).data.users  # type: ignore[union-attr]
    teams = decode(TeamReportResponse, team_body).data.teams  # type: ignore[union-attr]
    stages["decode"] = time.perf_counter() - started

    mark = time.perf_counter()
    digest = build_digest(users, teams=teams, now=NOW, start=START, end=END, seat_prices=PRICES)
    stages["rules"] = time.perf_counter() - mark

    mark = time.perf_counter()
    messages = render_digest(digest, now=NOW, chart=True)
    stages["messages + CSV + chart"] = time.perf_counter() - mark
    stages["total"] = time.perf_counter() - started
    assert messages.csv is not None
    assert messages.chart is not None
    return stages


def best_of(repeat: int, work: Callable[[], dict[str, float]]) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        gc.collect()
        runs.append(work())
    return min(runs, key=lambda stages: stages["total"])


def bare_parse(repeat: int, body: bytes) -> float:
    """The baseline: the best of ``repeat`` bare ``json.loads`` of ``body``, in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        json.loads(body)
        times.append(time.perf_counter() - started)
    return min(times)


def child(user_path: str, team_path: str) -> None:
    """Do the whole once in this fresh process; print its peak resident size in MB."""
    whole(Path(user_path).read_bytes(), Path(team_path).read_bytes())
    print(peak_rss_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("USERS", "TEAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    user_body, team_body = payloads(args.users)
    with tempfile.TemporaryDirectory() as tmp:
        user_path, team_path = Path(tmp) / "users.json", Path(tmp) / "teams.json"
        user_path.write_bytes(user_body)
        team_path.write_bytes(team_body)
        baseline = bare_parse(args.repeat, user_body)
        whole(user_body, team_body)  # warm-up: imports, fonts, caches
        stages = best_of(args.repeat, lambda: whole(user_body, team_body))
        peak = float(
            subprocess.run(  # noqa: S603 - this script, run again
                [sys.executable, __file__, "--child", str(user_path), str(team_path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    print(
        f"{args.users:,} members, user report {len(user_body) / 1e6:.1f} MB, best of {args.repeat}"
    )
    print(f"{'stage':<32}{'time':>9}{'x json.loads':>14}")
    print(f"{'json.loads of the user report':<32}{baseline:>8.3f}s{1:>13.2f}x")
    for name, seconds in stages.items():
        target = "   (target: under 3 s)" if name == "total" else ""
        print(f"{name:<32}{seconds:>8.3f}s{seconds / baseline:>13.2f}x{target}")
    print(
        f"peak resident size of a fresh process doing the whole: {peak:.0f} MB"
        "   (target: under 400 MB)"
    )


if __name__ == "__main__":
    main()

"""Parse and analyse a 50,000-user report, next to a bare ``json.loads`` of the same bytes.

    .venv/bin/python bench/report_parse.py [--users 50000] [--repeat 5]

Prints the payload size, the best-of-N time of each step, their ratio to the bare parse in the
same run (these machines are noisy: compare ratios, not seconds), and the memory of each: the
peak of Python allocations while it runs (tracemalloc, in a separate run so that tracing does not
distort the timings) and the peak resident size of a fresh process that reads the payload from
disk and does only that step (what the machine really needs).
Targets (issue 2): parse + analysis within 4x of the bare parse, under 300 MB peak (beside its row).
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
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import peak_rss_mb
from bot.browserstack.client import decode
from bot.browserstack.models import ReportKind, UserReportResponse
from bot.browserstack.sandbox import SyntheticOrg
from bot.reports import analysis

# A fixed day, not the clock's: every run parses the same bytes, so runs compare.
TODAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
WHOLE = "decode + idle seats + top 10 + seats"
TARGETS = {WHOLE: "   (target: within 4x, under 300 MB)"}


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def peak_mb(work: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    result = work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak / 1e6


def steps(body: bytes) -> dict[str, Callable[[], object]]:
    def bare() -> object:
        return json.loads(body)

    def parse() -> object:
        return decode(UserReportResponse, body)

    def parse_and_analyse() -> object:
        users = decode(UserReportResponse, body).data.users  # type: ignore[union-attr]
        idle = analysis.idle_seats(users, now=NOW)
        top = analysis.top_users(users, n=10)
        seats = analysis.seat_counts(users)
        return users, idle, top, seats

    return {
        "json.loads (baseline)": bare,
        "decode to typed models": parse,
        WHOLE: parse_and_analyse,
    }


def child(step: str, path: str) -> None:
    """Run one step in this fresh process and print its peak resident size in MB."""
    body = Path(path).read_bytes()
    steps(body)[step]()
    print(peak_rss_mb())


def rss_mb(step: str, path: str) -> float:
    out = subprocess.run(  # noqa: S603 - this script, run again
        [sys.executable, __file__, "--child", step, path],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    org = SyntheticOrg(seed=42, users=args.users, today=TODAY)
    body = org.report_body(
        ReportKind.USER, start=TODAY - dt.timedelta(days=30), end=TODAY, product=None
    )
    with tempfile.NamedTemporaryFile(suffix=".json") as payload:
        payload.write(body)
        payload.flush()
        print(f"{args.users:,} users, payload {len(body) / 1e6:.1f} MB, best of {args.repeat}")
        print(f"{'step':<40}{'time':>9}{'ratio':>8}{'alloc MB':>10}{'RSS MB':>9}")
        baseline = None
        for name, work in steps(body).items():
            seconds = best_of(args.repeat, work)
            baseline = baseline or seconds
            print(
                f"{name:<40}{seconds:>8.3f}s{seconds / baseline:>7.2f}x"
                f"{peak_mb(work):>10.1f}{rss_mb(name, payload.name):>9.1f}"
                f"{TARGETS.get(name, '')}"
            )


if __name__ == "__main__":
    main()

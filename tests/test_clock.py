"""One clock: the three kinds, and a check that no other module asks the OS for the date."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from bot.clock import ManualClock, ShiftedClock, SystemClock

BOT = Path(__file__).resolve().parent.parent / "bot"
# Calls that read the wall clock. Monotonic time (time.monotonic, perf_counter) only bounds
# waits and is allowed; so is anything inside bot/clock.py, the one place that reads the date.
FORBIDDEN = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
}


def _dotted(node: ast.AST) -> list[str]:
    """``dt.datetime.now`` -> ["dt", "datetime", "now"]."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def clock_reads(source: str) -> list[tuple[int, str]]:
    """Lines of ``source`` that read the wall clock other than through a Clock."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if len(name) >= 2 and (name[-2], name[-1]) in FORBIDDEN:
                found.append((node.lineno, ".".join(name)))
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if ("time", alias.name) in FORBIDDEN:
                    found.append((node.lineno, f"from time import {alias.name}"))
    return found


def test_no_module_but_the_clock_reads_the_date() -> None:
    offenders = [
        f"{path.relative_to(BOT.parent)}:{line}: {call}"
        for path in sorted(BOT.rglob("*.py"))
        if path.name != "clock.py" or path.parent != BOT
        for line, call in clock_reads(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "take the time from the injected Clock instead:\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("import datetime as dt\ndt.datetime.now(dt.UTC)", True),
        ("from datetime import datetime\ndatetime.now()", True),
        ("from datetime import date\ndate.today()", True),
        ("import time\ntime.time()", True),
        ("from time import time", True),
        ("import time\ntime.monotonic()", False),
        ("clock.now()", False),
        ("clock.today()", False),
    ],
)
def test_the_check_catches_each_way_of_asking(source: str, caught: bool) -> None:
    assert bool(clock_reads(source)) is caught


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is dt.UTC


def test_shifted_clock_moves_the_date_and_keeps_ticking(clock: ShiftedClock) -> None:
    target = clock.today() + dt.timedelta(days=400)
    moved = ShiftedClock.on(target)
    assert moved.today() in (target, target + dt.timedelta(days=1))  # midnight may pass
    before = moved.now()
    moved.advance(3600)
    assert moved.now() - before >= dt.timedelta(hours=1)
    assert moved.now().tzinfo is dt.UTC


def test_manual_clock_stands_still_until_moved(clock: ShiftedClock) -> None:
    start = clock.now()
    manual = ManualClock(start)
    assert manual.now() == start
    manual.advance(90)
    assert manual.now() == start + dt.timedelta(seconds=90)
    manual.set(start - dt.timedelta(days=1))
    assert manual.today() == (start - dt.timedelta(days=1)).date()
    assert manual.timestamp() == (start - dt.timedelta(days=1)).timestamp()


def test_manual_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        ManualClock(dt.datetime(2026, 1, 1))  # naive on purpose: the point of the test


@pytest.mark.parametrize(
    ("today", "later"),
    [
        ("2026-12-01", "2027-01-01"),  # 2026 has 53 ISO weeks: 28 Dec 2026 to 3 Jan 2027
        ("2027-01-02", "2027-01-03"),
        ("2027-01-03", "2033-01-01"),  # next: 2032, a leap year that starts on a Thursday
    ],
)
def test_the_later_date_crosses_a_year_in_week_53(today: str, later: str) -> None:
    from tests.dates import later_date

    day = later_date(dt.date.fromisoformat(today))
    assert day.isoformat() == later
    assert day.isocalendar().week == 53

"""The learned poll schedule, as tables: durations in, check times out (pure, no clock)."""

from __future__ import annotations

import pytest

from bot.browserstack.jobs import LearnedSchedule, Observation, next_check
from bot.reports.durations import bucket

SCHEDULE = LearnedSchedule()
MAXIMUM = 30.0  # REPORT_POLL_MAX_SECONDS: the longest between two checks


def steady(seconds: float, count: int = 10) -> list[Observation]:
    """Jobs that all took ``seconds``, each seen running half a second before it was done."""
    return [Observation(after=seconds - 0.5, by=seconds + 0.1)] * count


@pytest.mark.parametrize(
    ("history", "first_after", "first_by", "checks_at_most"),
    [
        # Steady 5 s jobs: one check just after 5 s (within a second), and few after it.
        (steady(5.0), 5.0, 6.5, 3),
        # Steady 30 s jobs: the first check near 30 s, not at 4 s.
        (steady(30.0), 27.0, 34.0, 5),
        # Two lengths seen (4 s and 9 s): a check for each.
        ([*steady(4.0, 5), *steady(9.0, 5)], 3.5, 5.0, 5),
    ],
)
def test_the_first_check_comes_when_recent_jobs_were_done(
    history: list[Observation], first_after: float, first_by: float, checks_at_most: int
) -> None:
    plan = SCHEDULE.plan(history, maximum=MAXIMUM)
    assert first_after <= plan[0] <= first_by
    assert list(plan) == sorted(plan)
    assert len(plan) <= checks_at_most


def test_no_history_no_plan() -> None:
    assert SCHEDULE.plan([], maximum=MAXIMUM) == ()


@pytest.mark.parametrize(
    ("history", "at_least"),
    [
        # Jobs found done by the first check at 8 s, and some seen running until 5.5 s: the
        # done-at-once ones are taken to end where the others did (about 6 s), not at 8 s,
        # so the next first check comes earlier than 8 s, not later.
        ([Observation(0.0, 8.0)] * 5 + [Observation(5.5, 6.2)] * 5, 5.5),
        # Nothing but done-at-once: any time before 8 s is as likely; checks move earlier to
        # learn more, never later.
        ([Observation(0.0, 8.0)] * 10, 0.0),
    ],
)
def test_checks_that_found_jobs_done_at_once_do_not_push_the_plan_later(
    history: list[Observation], at_least: float
) -> None:
    plan = SCHEDULE.plan(history, maximum=MAXIMUM)
    assert at_least <= plan[0] < 8.0


def test_a_job_whose_checks_a_downtime_kept_apart_says_nothing_of_job_lengths() -> None:
    # Created, then the process was down (or the clock jumped) for five days: the first check
    # after that found it done. The plan still follows the 5 s jobs, not the deadline.
    history = [Observation(after=0.0, by=5 * 86400.0), *steady(5.0)]
    plan = SCHEDULE.plan(history, maximum=MAXIMUM)
    assert 5.0 <= plan[0] <= 6.5
    assert SCHEDULE.plan(history[:1], maximum=MAXIMUM) == ()  # nothing else: the backoff


@pytest.mark.parametrize(
    ("plan", "elapsed", "expected"),
    [
        ((5.0, 6.0, 7.0), 0.0, 5.0),  # the plan's first check
        ((5.0, 6.0, 7.0), 5.0, 6.0),  # the next one after a check at 5 s
        ((5.0, 6.0, 7.0), 5.9, 7.0),  # too close to 6 s: the one after
        ((5.0, 6.0, 7.0), 7.0, 8.75),  # past the plan: a quarter of the time spent (1.75 s)
        ((5.0,), 2.0, 5.0),
        ((5.0,), 200.0, 230.0),  # never more than ``maximum`` apart (30 s)
        ((90.0,), 0.0, 30.0),  # not even where the plan says
        ((), 1.0, 2.0),  # at least a second apart
    ],
)
def test_next_check(plan: tuple[float, ...], elapsed: float, expected: float) -> None:
    assert next_check(plan, elapsed, maximum=MAXIMUM) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("cost", "wait_longer"),
    [(0.5, False), (4.0, True)],
)
def test_a_dearer_check_means_fewer_checks_and_a_longer_wait(
    cost: float, wait_longer: bool
) -> None:
    varied = [Observation(d - 0.4, d + 0.1) for d in (4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5)]
    cheap = LearnedSchedule(check_cost=0.5).plan(varied, maximum=MAXIMUM)
    plan = LearnedSchedule(check_cost=cost).plan(varied, maximum=MAXIMUM)
    assert (len(plan) < len(cheap)) is wait_longer
    assert (plan[0] > cheap[0]) is wait_longer


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (1, (1, 7)),
        (7, (1, 7)),
        (8, (8, 14)),
        (14, (8, 14)),
        (30, (15, 31)),
        (31, (15, 31)),
        (62, (32, 62)),
        (366, (184, 366)),
        (400, (367, 1 << 30)),
    ],
)
def test_periods_of_similar_length_are_learned_together(
    days: int, expected: tuple[int, int]
) -> None:
    assert bucket(days) == expected

"""``python -m tests.dates``: the later date that ``make test-later`` (and CI) runs the suite on.

The next New Year's day, or the day after, that falls in ISO week 53: a default period of 14
days then crosses a year boundary and a week 53, the cases a date calculation gets wrong.
"""

from __future__ import annotations

import datetime as dt


def later_date(today: dt.date) -> dt.date:
    """The first day after ``today`` in January that belongs to ISO week 53."""
    day = today + dt.timedelta(days=1)
    while not (day.month == 1 and day.isocalendar().week == 53):
        day += dt.timedelta(days=1)
    return day


if __name__ == "__main__":
    print(later_date(dt.date.today()))

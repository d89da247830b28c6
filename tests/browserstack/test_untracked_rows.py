"""A decoded report's rows are not tracked by the garbage collector (``gc=False``), so decoding
a big organisation is not dominated by collections (``bench/storage.py`` times it)."""

from __future__ import annotations

import datetime as dt
import gc

from bot.browserstack.client import decode
from bot.browserstack.models import (
    ReportKind,
    TeamRecord,
    TeamReportResponse,
    UserRecord,
    UserReportResponse,
)
from bot.browserstack.sandbox import SyntheticOrg

TODAY = dt.date(2026, 11, 25)


def test_decoded_rows_are_not_tracked_by_the_collector() -> None:
    org = SyntheticOrg(seed=7, users=200, today=TODAY)
    start = TODAY - dt.timedelta(days=30)
    users = decode(
        UserReportResponse, org.report_body(ReportKind.USER, start=start, end=TODAY)
    ).data
    teams = decode(
        TeamReportResponse, org.report_body(ReportKind.TEAM, start=start, end=TODAY)
    ).data
    assert users is not None
    assert teams is not None
    rows: list[UserRecord | TeamRecord] = [*users.users, *teams.teams]
    untracked = [
        part
        for row in rows
        for part in (
            row,
            row.usage,
            row.usage.product_data,
            row.product_access,
            *(usage for _, usage in row.usage.product_data.items()),
        )
    ]
    assert untracked
    assert not any(gc.is_tracked(part) for part in untracked)
    # The list that holds them is an ordinary, tracked one: nothing else changes.
    assert gc.is_tracked(users.users)

"""Analyses of a whole report, kept with it (``ReportIndex.derived``): the same question about
the same report, from ``/usage``, the digest or the Home tab, is worked out once.

Each is as of the report's fetch (``Report.fetched_at``), which is what the report knows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

from bot.browserstack.models import Product, Report
from bot.reports import analysis
from bot.reports.index import index_of, prices_key

__all__ = ["evidence_start", "idle_seats", "top_users"]


def evidence_start(report: Report) -> dt.date | None:
    """The period's first day when the report covers All-Products: what the idle rules need to
    judge a missing entry (``bot.reports.analysis``); None for a one-product report."""
    return report.filters.start if report.filters.product is None else None


def idle_seats(
    report: Report,
    *,
    product: Product | None = None,
    exclude: Collection[str] = (),
    seat_prices: Mapping[Product, float] | None = None,
) -> analysis.IdleSeatsReport:
    """``analysis.idle_seats`` of the report's members, for one product or all."""
    skip = tuple(sorted(exclude))
    prices = dict(seat_prices or {})
    return index_of(report).derived(
        ("idle", product, skip, prices_key(prices)),
        lambda: analysis.idle_seats(
            report.users,
            products=[product] if product else None,
            exclude=skip,
            now=report.fetched_at,
            since=evidence_start(report),
            seat_prices=prices,
        ),
        rows=lambda found: len(found.members),
    )


def top_users(report: Report, *, product: Product | None, n: int) -> list[analysis.TopUser]:
    """``analysis.top_users`` of the report's members."""
    return index_of(report).derived(
        ("top", product, n),
        lambda: analysis.top_users(report.users, product=product, n=n),
        rows=len,
    )

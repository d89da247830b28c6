"""Alert rules: which conditions deserve a message in ALERT_CHANNEL. Pure: reports in.

- **Parallels ran full**: a team whose peak parallels reached its allocation on a product
  (``analysis.saturated_parallels``: tests queued for a free parallel).
- **Idle licensed seats**: Live and App Live seats held but unused in the period
  (``analysis.seat_counts``, the idle rules), more than ``ALERT_IDLE_SEATS`` of them.

Each condition has a key; with the ISO week it is claimed once, so it is said once a week.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.browserstack.models import Product, TeamRecord, UserRecord
from bot.reports.analysis import SEAT_PRODUCTS, saturated_parallels, seat_counts


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # parallels:<team>:<product>, idle-seats
    kind: str  # "parallels" or "idle-seats"
    team: str | None
    product: Product | None
    allocated: int = 0
    peak: int = 0
    idle: Mapping[Product, int] | None = None
    monthly_cost: float | None = None

    @property
    def idle_total(self) -> int:
        return sum((self.idle or {}).values())


def alerts(
    teams: Sequence[TeamRecord],
    users: Sequence[UserRecord],
    *,
    idle_threshold: int,
    since: dt.date | None,
    seat_prices: Mapping[Product, float] | None = None,
) -> list[Alert]:
    """Every condition that holds in these reports, saturated teams first."""
    found = [
        Alert(
            key=f"parallels:{row.team}:{row.product.value}",
            kind="parallels",
            team=row.team,
            product=row.product,
            allocated=row.allocated,
            peak=row.max_used,
        )
        for row in saturated_parallels(teams)
    ]
    idle = {c.product: c.idle for c in seat_counts(users, products=SEAT_PRODUCTS, since=since)}
    if sum(idle.values()) > idle_threshold:
        prices = seat_prices or {}
        cost = sum(prices[p] * n for p, n in idle.items() if p in prices) if prices else None
        found.append(
            Alert(
                key="idle-seats",
                kind="idle-seats",
                team=None,
                product=None,
                idle={p: n for p, n in idle.items() if n},
                monthly_cost=cost,
            )
        )
    return found

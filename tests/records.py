"""Report records for tests: the API text's own examples, and small hand-made users."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from bot.browserstack.models import (
    Product,
    ProductAccess,
    ProductData,
    ProductUsage,
    TeamRecord,
    TeamReportResponse,
    Usage,
    UserRecord,
    UserReportResponse,
)

FIXTURES = Path(__file__).parent / "fixtures"


def seed_users() -> list[UserRecord]:
    """The user report example of the API text: Steve."""
    decoder = msgspec.json.Decoder(UserReportResponse, strict=False)
    report = decoder.decode((FIXTURES / "seed_user_report.json").read_bytes())
    assert report.data is not None
    return report.data.users


def seed_teams() -> list[TeamRecord]:
    """The team report example of the API text: Acme team."""
    decoder = msgspec.json.Decoder(TeamReportResponse, strict=False)
    report = decoder.decode((FIXTURES / "seed_team_report.json").read_bytes())
    assert report.data is not None
    return report.data.teams


def stamp(days_ago: float | None, *, now: datetime) -> str | None:
    """An API timestamp ``days_ago`` days before ``now``; None stays None."""
    return None if days_ago is None else (now - timedelta(days=days_ago)).isoformat()


def user_record(
    name: str,
    email: str,
    team: str | None,
    *,
    access: tuple[Product, ...],
    data: dict[Product, ProductUsage],
    now: datetime,
    active: float | None = None,
    tested: float | None = None,
) -> UserRecord:
    """A user with access to ``access`` and the given entries, last seen days before ``now``."""
    return UserRecord(
        name=name,
        email=email,
        role="User",
        team=team,
        product_access=ProductAccess(**{p.value: True for p in access}),
        usage=Usage(
            last_activity=stamp(active, now=now),
            last_test=stamp(tested, now=now),
            product_data=ProductData(**{p.value: entry for p, entry in data.items()}),
        ),
    )

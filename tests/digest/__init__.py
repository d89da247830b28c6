"""Builders shared by the digest's tests: the seed's records and a small organisation around them.

The organisation, as of ``NOW`` (Monday 23 November 2026, 08:00 UTC):

| member | team | seats | in the period |
| --- | --- | --- | --- |
| Steve (the seed) | Acme Inc. (Org) | Live, App Live | both used |
| Ana | Mobile QA | Live, Automate | Live idle, Automate used |
| Bob | Mobile QA | Live | idle, never ran a test: fully idle |
| Cleo | Web | App Live, App Automate | App Live used, App Automate idle |
| Dan | (none) | Automate | idle, last test 200 days ago: fully idle |
| Eve | Web | Live | no entry, but a test 3 days ago (on some product): unknown, not idle |
| build-bot | Mobile QA | Automate | idle, but a service account (``EXCLUDE``) |
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot.browserstack.models import (
    Product,
    ProductAccess,
    ProductData,
    ProductUsage,
    TeamRecord,
    Usage,
    UserRecord,
)
from tests import records
from tests.records import seed_teams, seed_users

FIXTURES = Path(__file__).parent.parent / "fixtures"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
START, END = date(2026, 10, 24), date(2026, 11, 23)
LIVE, AUTOMATE, APP_LIVE, APP_AUTOMATE = list(Product)
IDLE = ProductUsage(tests_run=0, minutes_used=0)
USED = ProductUsage(tests_run=4, minutes_used=30)
EXCLUDE = (" Build-Bot@Example.com ",)
HOSTILE = "<!channel> & <@U123> *bold*"


def stamp(days_ago: float | None) -> str | None:
    return records.stamp(days_ago, now=NOW)


def user(name: str, email: str, team: str | None, **fields: Any) -> UserRecord:
    return records.user_record(name, email, team, now=NOW, **fields)


def team(name: str, *, allocated: int, peak: int, kind: str = "team") -> TeamRecord:
    automate = ProductUsage(
        tests_run=5,
        current_parallels_allocated=allocated,
        max_parallels_used=peak,
        parallel_consumption_type="team",
    )
    return TeamRecord(
        name=name,
        user_count=3,
        type=kind,
        product_access=ProductAccess(automate=True),
        usage=Usage(last_test=stamp(1), product_data=ProductData(automate=automate)),
    )


def org() -> list[UserRecord]:
    """The table above, the seed's Steve first."""
    return [
        *seed_users(),
        user(
            "Ana Lima",
            "Ana@Example.com",
            "Mobile QA",
            access=(LIVE, AUTOMATE),
            data={LIVE: IDLE, AUTOMATE: USED},
            active=10,
            tested=10,
        ),
        user("Bob Stone", "bob@example.com", "Mobile QA", access=(LIVE,), data={LIVE: IDLE}),
        user(
            "Cleo Park",
            "cleo@example.com",
            "Web",
            access=(APP_LIVE, APP_AUTOMATE),
            data={APP_LIVE: USED, APP_AUTOMATE: IDLE},
            active=2,
            tested=2,
        ),
        user(
            "Dan Wu",
            "dan@example.com",
            None,
            access=(AUTOMATE,),
            data={AUTOMATE: IDLE},
            active=200,
            tested=200,
        ),
        user("Eve Moss", "eve@example.com", "Web", access=(LIVE,), data={}, active=3, tested=3),
        user(
            "Build bot",
            "build-bot@example.com",
            "Mobile QA",
            access=(AUTOMATE,),
            data={AUTOMATE: IDLE},
        ),
    ]


def org_teams() -> list[TeamRecord]:
    """The seed's Acme team (5 parallels, peak 2) and Mobile QA (10, peak 1): both could shrink."""
    return [
        *seed_teams(),
        team("Mobile QA", allocated=10, peak=1),
        team("Web", allocated=2, peak=2),
    ]


# The idle seats of ``org()`` once the service account is excluded.
ORG_IDLE = frozenset(
    {
        ("ana@example.com", "live_testing"),
        ("bob@example.com", "live_testing"),
        ("cleo@example.com", "app_automate"),
        ("dan@example.com", "automate"),
    }
)


def many_users(n: int, *, teams: int = 700) -> list[UserRecord]:
    """``n`` members with Live and Automate: Live idle for all, Automate idle for one in four."""
    access = ProductAccess(live_testing=True, automate=True)
    return [
        UserRecord(
            name=f"User {i}",
            email=f"user{i}@example.com",
            team=f"Team {i % teams}",
            product_access=access,
            usage=Usage(
                last_activity=stamp(i % 90),
                product_data=ProductData(live_testing=IDLE, automate=USED if i % 4 else IDLE),
            ),
        )
        for i in range(n)
    ]

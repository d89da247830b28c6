"""The digest's rules: week keys, the period, idle seats and their snapshot, the change since last
week, costs, teams and rightsizing. Pure: every time is passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.browserstack.models import Product, ProductUsage
from bot.digest.rules import (
    Digest,
    Snapshot,
    TeamSeats,
    build_digest,
    digest_period,
    period_text,
    seat_key,
    week_key,
)
from tests.digest import (
    APP_AUTOMATE,
    APP_LIVE,
    AUTOMATE,
    END,
    EXCLUDE,
    IDLE,
    LIVE,
    NOW,
    ORG_IDLE,
    START,
    USED,
    org,
    org_teams,
    user,
)

BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")


def digest(**kwargs: Any) -> Digest:
    options: dict[str, Any] = {"now": NOW, "start": START, "end": END, "exclude": EXCLUDE}
    options.update(kwargs)
    users = options.pop("users", None) or org()
    return build_digest(users, **options)


# --- week keys and the period ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        # Monday 09:00 in Berlin, the default schedule.
        (datetime(2026, 11, 23, 8, 0, tzinfo=UTC), BERLIN, "2026-W48"),
        # Sunday 23:30 UTC is already Monday in Berlin, still Sunday in Los Angeles.
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), BERLIN, "2026-W48"),
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), UTC, "2026-W47"),
        (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), LOS_ANGELES, "2026-W47"),
        (datetime(2026, 11, 23, 9, 0, tzinfo=UTC), LOS_ANGELES, "2026-W48"),
        # The zone of the moment itself does not matter, only the digest's.
        (datetime(2026, 11, 23, 0, 30, tzinfo=BERLIN), UTC, "2026-W47"),
        # Year boundaries: ISO years start on the Monday of the week holding 4 January.
        (datetime(2026, 12, 31, 12, 0, tzinfo=UTC), UTC, "2026-W53"),
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), UTC, "2026-W53"),
        (datetime(2027, 1, 4, 12, 0, tzinfo=UTC), UTC, "2027-W01"),
        (datetime(2024, 12, 30, 12, 0, tzinfo=UTC), UTC, "2025-W01"),
        # Sunday night UTC, Monday morning in Berlin, across the ISO year too.
        (datetime(2027, 1, 3, 23, 30, tzinfo=UTC), UTC, "2026-W53"),
        (datetime(2027, 1, 3, 23, 30, tzinfo=UTC), BERLIN, "2027-W01"),
        # Auckland (UTC+13 in December) starts the 2026 ISO year while Los Angeles is in 2025's.
        (datetime(2025, 12, 28, 10, 0, tzinfo=UTC), AUCKLAND, "2025-W52"),
        (datetime(2025, 12, 28, 11, 30, tzinfo=AUCKLAND), UTC, "2025-W52"),
        (datetime(2025, 12, 28, 11, 30, tzinfo=UTC), AUCKLAND, "2026-W01"),
        (datetime(2025, 12, 28, 11, 30, tzinfo=UTC), LOS_ANGELES, "2025-W52"),
    ],
)
def test_week_key(moment: datetime, tz: ZoneInfo, expected: str) -> None:
    assert week_key(moment, tz) == expected


def test_week_key_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        week_key(datetime(2026, 11, 23, 9, 0), UTC)


def test_week_keys_sort_in_the_order_of_time() -> None:
    # The history finds "the digest before this week" by comparing keys as text.
    mondays = [datetime(2024, 1, 1, 9, tzinfo=UTC) + timedelta(weeks=w) for w in range(3 * 53)]
    keys = [week_key(moment, BERLIN) for moment in mondays]
    assert len(set(keys)) == len(keys)
    assert sorted(keys) == keys


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        (NOW, 30, (date(2026, 10, 25), date(2026, 11, 23))),  # 30 days, both ends counted
        (NOW, 7, (date(2026, 11, 17), date(2026, 11, 23))),
        (NOW, 1, (date(2026, 11, 23), date(2026, 11, 23))),
        # Monday 00:30 in Berlin is still Sunday for BrowserStack (UTC): never a future end date.
        (
            datetime(2026, 11, 23, 0, 30, tzinfo=BERLIN),
            30,
            (date(2026, 10, 24), date(2026, 11, 22)),
        ),
        (datetime(2027, 1, 4, 9, tzinfo=UTC), 30, (date(2026, 12, 6), date(2027, 1, 4))),
    ],
)
def test_digest_period(now: datetime, days: int, expected: tuple[date, date]) -> None:
    assert digest_period(now, idle_days=days) == expected


def test_digest_period_needs_a_day() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        digest_period(NOW, idle_days=0)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 10, 24), date(2026, 11, 23), "24 Oct – 23 Nov 2026"),
        (date(2026, 12, 5), date(2027, 1, 4), "5 Dec 2026 – 4 Jan 2027"),
    ],
)
def test_period_text(start: date, end: date, expected: str) -> None:
    assert period_text(start, end) == expected


# --- idle seats --------------------------------------------------------------------------------


def test_the_organisation_in_figures() -> None:
    result = digest()
    assert result.snapshot == ORG_IDLE
    # Idle seats are Live and App Live (Ana, Bob); Cleo's and Dan's Automate access costs no seat.
    assert (result.idle_seats, result.idle_members, result.idle.unused_access) == (2, 2, 2)
    assert (result.fully_idle, result.never_used) == (2, 1)  # Bob and Dan; Bob never used it
    assert result.idle.excluded == 1  # the build bot
    assert result.idle.users_considered == 6
    seats = {s.product: (s.seats, s.used, s.idle, s.unknown) for s in result.seats}
    assert seats == {
        LIVE: (3, 1, 2, 1),  # Steve used it; Ana and Bob did not; Eve's is not reported
        AUTOMATE: (2, 1, 1, 0),  # the build bot's seat is not counted
        APP_LIVE: (2, 2, 0, 0),
        APP_AUTOMATE: (1, 0, 1, 0),
    }
    assert not result.late
    assert result.generated_at == NOW


def test_steve_uses_every_seat_he_holds() -> None:
    (steve,) = [u for u in org() if u.name == "Steve"]
    result = digest(users=[steve])
    assert result.snapshot == frozenset()
    assert {s.product: s.used for s in result.seats} == {LIVE: 1, APP_LIVE: 1}


@pytest.mark.parametrize(
    ("access", "data", "idle"),
    [
        ((LIVE,), {LIVE: IDLE}, {"live_testing"}),
        ((LIVE,), {LIVE: USED}, set()),
        # No entry in an All-Products report and no test ever: idle by evidence.
        ((LIVE,), {}, {"live_testing"}),
        ((), {LIVE: IDLE}, set()),  # no access: no seat
        (
            (AUTOMATE, APP_AUTOMATE),
            {AUTOMATE: IDLE, APP_AUTOMATE: IDLE},
            {"automate", "app_automate"},
        ),
    ],
)
def test_snapshot_holds_each_idle_seat(
    access: tuple[Product, ...], data: dict[Product, ProductUsage], idle: set[str]
) -> None:
    record = user("Zed", " Zed@Example.COM ", "T", access=access, data=data)
    result = digest(users=[record])
    assert result.snapshot == {("zed@example.com", product) for product in idle}


def test_exclusions_leave_the_service_account_out_of_everything() -> None:
    result = digest(
        previous=Snapshot("2026-W47", frozenset({("build-bot@example.com", "automate")}))
    )
    assert ("build-bot@example.com", "automate") not in result.snapshot
    assert all(m.email != "build-bot@example.com" for m in result.idle.members)
    # Idle last week, left out now: neither released nor anything else.
    assert result.change is not None
    assert result.change.released_seats == 0
    assert result.change.back_in_use_seats == 0
    assert sum(t.seats for t in result.team_seats if t.name == "Mobile QA") == 3


def test_without_exclusions_the_service_account_is_idle() -> None:
    result = digest(exclude=())
    assert ("build-bot@example.com", "automate") in result.snapshot
    assert result.idle.excluded == 0


# --- week over week ----------------------------------------------------------------------------


def _without(*keys: tuple[str, str]) -> frozenset[tuple[str, str]]:
    return ORG_IDLE - set(keys)


ANA_LIVE = ("ana@example.com", "live_testing")
CLEO = ("cleo@example.com", "app_automate")


@pytest.mark.parametrize(
    ("previous", "newly", "back", "released", "newly_members"),
    [
        pytest.param(ORG_IDLE, 0, 0, 0, set(), id="nothing changed"),
        pytest.param(
            frozenset(), 4, 0, 0, {"Ana Lima", "Bob Stone", "Cleo Park", "Dan Wu"}, id="all new"
        ),
        pytest.param(_without(CLEO), 1, 0, 0, {"Cleo Park"}, id="one newly idle"),
        pytest.param(
            ORG_IDLE | {("steve@example.com", "live_testing")}, 0, 1, 0, set(), id="Steve is back"
        ),
        pytest.param(
            ORG_IDLE | {("ana@example.com", "automate")}, 0, 1, 0, set(), id="back on one product"
        ),
        pytest.param(
            ORG_IDLE | {("gone@example.com", "automate")}, 0, 0, 1, set(), id="member left"
        ),
        pytest.param(
            ORG_IDLE | {("dan@example.com", "live_testing")}, 0, 0, 1, set(), id="access removed"
        ),
        pytest.param(
            ORG_IDLE | {("eve@example.com", "live_testing")}, 0, 0, 0, set(), id="now unreported"
        ),
        pytest.param(
            _without(ANA_LIVE)
            | {("steve@example.com", "app_live_testing"), ("x@y.z", "live_testing")},
            1,
            1,
            1,
            {"Ana Lima"},
            id="all at once",
        ),
    ],
)
def test_change_since_last_week(
    previous: frozenset[tuple[str, str]],
    newly: int,
    back: int,
    released: int,
    newly_members: set[str],
) -> None:
    change = digest(previous=Snapshot("2026-W47", previous)).change
    assert change is not None
    assert change.since == "2026-W47"
    assert (change.newly_idle_seats, change.back_in_use_seats, change.released_seats) == (
        newly,
        back,
        released,
    )
    assert {m.name for m in change.newly_idle} == newly_members
    assert change.new_seats == ORG_IDLE - previous
    assert change.quiet == (newly == back == released == 0)


def test_first_digest_has_no_change() -> None:
    assert digest().change is None
    assert digest(previous=Snapshot("2026-W47", frozenset())).change is not None


def test_an_email_changing_case_is_the_same_seat() -> None:
    records = org()
    for record in records:
        record.email = record.email.upper()
    change = digest(users=records, previous=Snapshot("2026-W47", ORG_IDLE)).change
    assert change is not None
    assert change.quiet


def test_seat_key_normalises_the_email() -> None:
    assert seat_key("  Ana@Example.COM", AUTOMATE) == ("ana@example.com", "automate")


def test_next_week_compares_with_this_weeks_snapshot() -> None:
    first = digest()
    records = org()
    # Bob ran a test this week; Ana lost her Live seat.
    (bob,) = [u for u in records if u.name == "Bob Stone"]
    bob.usage.product_data.live_testing = USED
    (ana,) = [u for u in records if u.name == "Ana Lima"]
    ana.product_access.live_testing = False
    second = digest(users=records, previous=Snapshot("2026-W48", first.snapshot))
    assert second.change is not None
    assert (second.change.back_in_use_seats, second.change.released_seats) == (1, 1)
    assert second.snapshot == first.snapshot - {ANA_LIVE, ("bob@example.com", "live_testing")}


# --- teams, costs, parallels -------------------------------------------------------------------


def test_team_seats_most_idle_first() -> None:
    assert digest().team_seats == (
        TeamSeats("Mobile QA", seats=3, used=1, idle=2),
        TeamSeats("Web", seats=2, used=1, idle=1),
        TeamSeats(None, seats=1, used=0, idle=1),
        TeamSeats("Acme Inc. (Org)", seats=2, used=2, idle=0),
    )


@pytest.mark.parametrize(
    ("prices", "costs", "total", "unpriced"),
    [
        pytest.param({}, [], None, (), id="no prices: nothing about cost"),
        pytest.param({LIVE: 39.0}, [(LIVE, 2, 78.0)], 78.0, (), id="one"),
        pytest.param({LIVE: 10, APP_LIVE: 5}, [(LIVE, 2, 20.0)], 20.0, (), id="both"),
        pytest.param({APP_LIVE: 99}, [], None, (LIVE,), id="none idle"),
    ],
)
def test_cost_of_idle_seats(
    prices: dict[Product, float],
    costs: list[tuple[Product, int, float]],
    total: float | None,
    unpriced: tuple[Product, ...],
) -> None:
    result = digest(seat_prices=prices)
    assert [(c.product, c.idle_seats, c.monthly) for c in result.costs] == costs
    assert result.monthly_cost == total
    assert result.unpriced == unpriced


@pytest.mark.parametrize(
    ("prices", "error"),
    [
        ({LIVE: -1.0}, ValueError),
        ({LIVE: float("nan")}, ValueError),
        ({LIVE: float("inf")}, ValueError),
        ({"live": 10.0}, TypeError),
    ],
)
def test_bad_seat_prices_are_refused(prices: dict[Product, float], error: type[Exception]) -> None:
    with pytest.raises(error):
        digest(seat_prices=prices)


def test_parallel_rightsizing_needs_the_team_report() -> None:
    without = digest()
    assert (without.rightsizing, without.teams_reported) == ((), False)
    result = digest(teams=org_teams())
    assert result.teams_reported
    assert [(r.team, r.allocated, r.suggested) for r in result.rightsizing] == [
        ("Mobile QA", 10, 2),
        ("Acme team", 5, 3),
    ]
    assert result.freeable_parallels == 8 + 2


# --- one team's digest -------------------------------------------------------------------------


def test_a_teams_own_digest() -> None:
    # Last week's digest in the team's channel was the team's own: Ana alone was idle.
    previous = Snapshot("2026-W47", frozenset({ANA_LIVE}))
    result = digest(team=" mobile qa ", teams=org_teams(), previous=previous)
    assert result.team == " mobile qa "
    assert result.snapshot == {ANA_LIVE, ("bob@example.com", "live_testing")}
    assert result.idle.users_considered == 2  # Ana and Bob; the build bot is excluded
    assert [t.name for t in result.team_seats] == ["Mobile QA"]
    assert [r.team for r in result.rightsizing] == ["Mobile QA"]
    assert result.change is not None
    assert [m.name for m in result.change.newly_idle] == ["Bob Stone"]
    assert (result.change.back_in_use_seats, result.change.released_seats) == (0, 0)


def test_a_member_leaving_the_team_releases_the_seat_there() -> None:
    records = org()
    (bob,) = [u for u in records if u.name == "Bob Stone"]
    bob.team = "Web"
    previous = Snapshot("2026-W47", frozenset({ANA_LIVE, ("bob@example.com", "live_testing")}))
    change = digest(users=records, team="Mobile QA", previous=previous).change
    assert change is not None
    assert (change.newly_idle_seats, change.released_seats) == (0, 1)


def test_a_team_nobody_belongs_to() -> None:
    result = digest(team="Nobody", teams=org_teams())
    assert (result.idle.users_considered, result.idle_seats, result.rightsizing) == (0, 0, ())
    assert result.snapshot == frozenset()


def test_late_and_period_pass_through() -> None:
    result = digest(late=True)
    assert result.late
    assert (result.start, result.end) == (START, END)
    with pytest.raises(ValueError, match="before it starts"):
        digest(start=END, end=START)

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bot.browserstack.models import (
    Product,
    ProductAccess,
    ProductData,
    ProductUsage,
    TeamRecord,
    Usage,
    UserRecord,
)
from bot.reports.analysis import (
    IdleSeatsReport,
    SeatCount,
    SeatState,
    TopUser,
    idle_seats,
    members_of,
    org_overview,
    parallel_costs,
    parallel_rightsizing,
    parallels_advice,
    saturated_parallels,
    seat_counts,
    seat_state,
    team_summary,
    top_users,
    user_summary,
)
from tests import records
from tests.records import seed_teams, seed_users

FIXTURES = Path(__file__).parent.parent / "fixtures"
# Three days after the seed's timestamps (2023-06-30T11:33:40Z).
NOW = datetime(2023, 7, 3, 12, 0, tzinfo=UTC)
LIVE, AUTOMATE, APP_LIVE, APP_AUTOMATE = (
    Product.LIVE,
    Product.AUTOMATE,
    Product.APP_LIVE,
    Product.APP_AUTOMATE,
)
HOSTILE = "<!channel> & *bold* <@U123>"


def steve() -> UserRecord:
    return seed_users()[0]


def acme() -> TeamRecord:
    return seed_teams()[0]


def stamp(days_ago: float | None) -> str | None:
    return records.stamp(days_ago, now=NOW)


def use(**fields: Any) -> ProductUsage:
    return ProductUsage(**fields)


IDLE_ENTRY = ProductUsage(tests_run=0, minutes_used=0)


def user(
    email: str,
    *,
    access: Sequence[Product] = (),
    data: Mapping[Product, ProductUsage] | None = None,
    team: str | None = "Web",
    name: str | None = None,
    role: str | None = "User",
    active_days_ago: float | None = None,
    test_days_ago: float | None = None,
) -> UserRecord:
    return UserRecord(
        name=name if name is not None else email.split("@")[0].title(),
        email=email,
        role=role,
        team=team,
        product_access=ProductAccess(**{p.value: True for p in access}),
        usage=Usage(
            last_activity=stamp(active_days_ago),
            last_test=stamp(test_days_ago),
            product_data=ProductData(**{p.value: u for p, u in (data or {}).items()}),
        ),
    )


def team(
    name: str,
    *,
    data: Mapping[Product, ProductUsage] | None = None,
    access: Sequence[Product] = (),
    type_: str | None = "team",
    user_count: int | None = 3,
    test_days_ago: float | None = None,
) -> TeamRecord:
    return TeamRecord(
        name=name,
        user_count=user_count,
        type=type_,
        product_access=ProductAccess(**{p.value: True for p in access}),
        usage=Usage(
            last_test=stamp(test_days_ago),
            product_data=ProductData(**{p.value: u for p, u in (data or {}).items()}),
        ),
    )


def parallel_fields(allocated: int | None, used: Any, kind: str | None = "team") -> dict[str, Any]:
    return {
        "current_parallels_allocated": allocated,
        "max_parallels_used": used,
        "parallel_consumption_type": kind,
    }


def parallels(allocated: int | None, used: Any, kind: str | None = "team") -> ProductUsage:
    return ProductUsage(**parallel_fields(allocated, used, kind))


# --- seat rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "product", "expected"),
    [
        pytest.param(steve(), LIVE, SeatState.USED, id="steve live used"),
        pytest.param(steve(), APP_LIVE, SeatState.USED, id="steve app live used"),
        # Steve's product_data has automate entries, but automate is false in his access.
        pytest.param(steve(), AUTOMATE, SeatState.NO_ACCESS, id="steve automate no seat"),
        pytest.param(steve(), APP_AUTOMATE, SeatState.NO_ACCESS, id="steve app automate no seat"),
        pytest.param(
            user("a@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}), LIVE, SeatState.IDLE, id="idle"
        ),
        pytest.param(
            user("a@x.io", access=[LIVE], data={LIVE: use()}), LIVE, SeatState.IDLE, id="empty"
        ),
        pytest.param(user("a@x.io", access=[LIVE]), LIVE, SeatState.UNKNOWN, id="unreported"),
        pytest.param(
            user("a@x.io", access=[LIVE], data={LIVE: use(minutes_used=1)}),
            LIVE,
            SeatState.USED,
            id="minutes only",
        ),
        pytest.param(
            user("a@x.io", access=[AUTOMATE], data={AUTOMATE: use(cypress_executions_run=2)}),
            AUTOMATE,
            SeatState.USED,
            id="cypress only",
        ),
        pytest.param(user("a@x.io"), LIVE, SeatState.NO_ACCESS, id="nothing"),
    ],
)
def test_seat_state(record: UserRecord, product: Product, expected: SeatState) -> None:
    assert seat_state(record, product) is expected


def test_seat_counts_of_steve_leave_out_products_he_has_no_access_to() -> None:
    counts = {c.product: c for c in seat_counts(seed_users())}
    assert counts[LIVE] == SeatCount(LIVE, seats=1, used=1, idle=0, unknown=0)
    assert counts[APP_LIVE] == SeatCount(APP_LIVE, seats=1, used=1, idle=0, unknown=0)
    assert counts[AUTOMATE] == SeatCount(AUTOMATE, seats=0, used=0, idle=0, unknown=0)
    assert counts[AUTOMATE].utilisation is None
    assert counts[LIVE].utilisation == 1.0


def test_seat_counts_in_a_live_only_report_say_nothing_of_automate() -> None:
    users = [
        user("a@x.io", access=[LIVE, AUTOMATE], data={LIVE: use(tests_run=1)}),
        user("b@x.io", access=[LIVE, AUTOMATE], data={LIVE: IDLE_ENTRY}),
    ]
    counts = {c.product: c for c in seat_counts(users, products=[LIVE, AUTOMATE])}
    assert set(counts) == {LIVE, AUTOMATE}
    assert counts[LIVE] == SeatCount(LIVE, seats=2, used=1, idle=1, unknown=0)
    assert counts[AUTOMATE] == SeatCount(AUTOMATE, seats=0, used=0, idle=0, unknown=2)


def test_members_of_matches_team_names_case_insensitively() -> None:
    users = [user("a@x.io", team="Web "), user("b@x.io", team="web"), user("c@x.io", team=None)]
    assert [u.email for u in members_of(users, "WEB")] == ["a@x.io", "b@x.io"]


# --- idle seats --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "idle", "unknown", "fully_idle", "never_used"),
    [
        pytest.param(
            user(
                "partial@x.io",
                access=[LIVE, AUTOMATE],
                data={LIVE: use(tests_run=3, minutes_used=20), AUTOMATE: IDLE_ENTRY},
                active_days_ago=1,
                test_days_ago=1,
            ),
            (AUTOMATE,),
            (),
            False,
            False,
            id="partially idle",
        ),
        pytest.param(
            user(
                "fully@x.io",
                access=[LIVE, APP_LIVE],
                data={LIVE: IDLE_ENTRY, APP_LIVE: IDLE_ENTRY},
                active_days_ago=40,
                test_days_ago=40,
            ),
            (LIVE, APP_LIVE),
            (),
            True,
            False,
            id="fully idle, tested before the period",
        ),
        pytest.param(
            user("never@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}, active_days_ago=2),
            (LIVE,),
            (),
            True,
            False,
            id="logged in but never ran a test",
        ),
        pytest.param(
            user("filtered@x.io", access=[LIVE, AUTOMATE], data={LIVE: IDLE_ENTRY}),
            (LIVE,),
            (AUTOMATE,),
            False,
            True,
            id="idle on live, automate unreported",
        ),
        pytest.param(
            # Tests recorded without access still prove the member ran tests.
            user(
                "revoked@x.io",
                access=[LIVE],
                data={LIVE: IDLE_ENTRY, AUTOMATE: use(tests_run=4)},
            ),
            (LIVE,),
            (),
            True,
            False,
            id="usage without access is not never used",
        ),
    ],
)
def test_idle_member_verdicts(
    record: UserRecord,
    idle: tuple[Product, ...],
    unknown: tuple[Product, ...],
    fully_idle: bool,
    never_used: bool,
) -> None:
    report = idle_seats([record], now=NOW)
    (member,) = report.members
    assert member.email == record.email
    assert member.idle_products == idle
    assert member.unknown_products == unknown
    assert member.fully_idle is fully_idle
    assert member.never_used is never_used
    assert member.products == tuple(record.product_access.products())


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(steve(), id="steve uses all his seats"),
        pytest.param(user("none@x.io", data={LIVE: IDLE_ENTRY}), id="entry but no access"),
        pytest.param(user("unknown@x.io", access=[AUTOMATE]), id="only unreported seats"),
        pytest.param(user("busy@x.io", access=[LIVE], data={LIVE: use(tests_run=1)}), id="busy"),
    ],
)
def test_members_without_idle_seats_are_not_listed(record: UserRecord) -> None:
    report = idle_seats([record], now=NOW)
    assert report.members == ()
    assert report.teams == ()
    assert report.users_considered == 1


def test_idle_seats_counts_seats_per_product_and_unknowns() -> None:
    users = [
        steve(),
        user("a@x.io", access=[LIVE, AUTOMATE], data={LIVE: IDLE_ENTRY}),
        user("b@x.io", access=[LIVE], data={LIVE: use(minutes_used=5)}),
        user("c@x.io", access=[AUTOMATE], data={AUTOMATE: IDLE_ENTRY}),
    ]
    report = idle_seats(users, now=NOW)
    counts = {c.product: c for c in report.seats}
    assert counts[LIVE] == SeatCount(LIVE, seats=3, used=2, idle=1, unknown=0)
    assert counts[AUTOMATE] == SeatCount(AUTOMATE, seats=1, used=0, idle=1, unknown=1)
    assert counts[APP_LIVE] == SeatCount(APP_LIVE, seats=1, used=1, idle=0, unknown=0)
    # a's Live seat is an idle seat; c's Automate access costs no seat: unused access.
    assert (report.idle_seats, report.unused_access) == (1, 1)
    assert [m.email for m in report.members] == ["a@x.io", "c@x.io"]
    assert [m.email for m in report.seat_members] == ["a@x.io"]
    assert [m.email for m in report.access_members] == ["c@x.io"]


def test_idle_seats_exclusions_are_case_insensitive_and_not_counted() -> None:
    users = [
        user("Service-Bot@X.io", access=[LIVE], data={LIVE: IDLE_ENTRY}),
        user("person@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}),
    ]
    report = idle_seats(users, exclude=[" service-bot@x.IO"], now=NOW)
    assert [m.email for m in report.members] == ["person@x.io"]
    assert report.excluded == 1
    assert report.users_considered == 1
    assert report.seats[0] == SeatCount(LIVE, seats=1, used=0, idle=1, unknown=0)


def test_idle_seats_for_chosen_products_keep_fully_idle_over_all_products() -> None:
    users = [
        user("both@x.io", access=[LIVE, AUTOMATE], data={LIVE: use(tests_run=1), AUTOMATE: use()}),
        user("live@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}),
        user("all@x.io", access=[LIVE, AUTOMATE], data={LIVE: use(), AUTOMATE: use()}),
    ]
    report = idle_seats(users, products=[AUTOMATE], now=NOW)
    assert report.products == (AUTOMATE,)
    assert [c.product for c in report.seats] == [AUTOMATE]
    members = {m.email: m for m in report.members}
    assert set(members) == {"both@x.io", "all@x.io"}
    assert members["both@x.io"].idle_products == (AUTOMATE,)
    assert members["both@x.io"].fully_idle is False
    assert members["all@x.io"].idle_products == (AUTOMATE,)
    assert members["all@x.io"].fully_idle is True


def test_idle_members_are_ordered_and_grouped_by_team() -> None:
    idle_live = {LIVE: IDLE_ENTRY}
    users = [
        user(
            "recent@x.io",
            access=[LIVE, AUTOMATE],
            data={LIVE: use(tests_run=1), AUTOMATE: IDLE_ENTRY},
            active_days_ago=1,
            test_days_ago=1,
        ),
        user("old@x.io", access=[LIVE], data=idle_live, active_days_ago=90, test_days_ago=90),
        user("older@x.io", access=[LIVE], data=idle_live, active_days_ago=200, test_days_ago=200),
        user("never@x.io", access=[LIVE], data=idle_live, active_days_ago=5),
        user(
            "m1@x.io", team="Mobile", access=list(Product), data=dict.fromkeys(Product, IDLE_ENTRY)
        ),
        user("solo@x.io", team=None, access=[LIVE], data=idle_live, test_days_ago=3),
        user("q@x.io", team="QA", access=[LIVE], data=idle_live, test_days_ago=3),
    ]
    report = idle_seats(users, now=NOW)
    # No prices: the longest idle first (never seen before anyone), then email.
    assert [m.email for m in report.members] == [
        "m1@x.io",  # never seen
        "older@x.io",
        "old@x.io",
        "never@x.io",
        "q@x.io",
        "solo@x.io",
        "recent@x.io",
    ]
    # Teams by idle Live / App Live seats: Mobile's Automate access costs no seat.
    assert [(t.name, t.idle_seats, t.unused_access) for t in report.teams] == [
        ("Web", 3, 1),
        ("Mobile", 2, 2),
        ("QA", 1, 0),
        (None, 1, 0),
    ]
    web = report.teams[0]
    assert [m.email for m in web.members] == ["older@x.io", "old@x.io", "never@x.io", "recent@x.io"]
    assert report.fully_idle == 6
    assert report.never_used == 1  # m1: no login, no test
    assert (report.idle_seats, report.unused_access) == (7, 3)
    old = web.members[1]
    assert old.last_activity == NOW - timedelta(days=90)
    assert old.last_activity_text == "3 months ago"
    assert old.days_inactive == 90
    never_seen = report.members[0]
    assert (never_seen.last_activity, never_seen.last_activity_text) == (None, "never")
    assert never_seen.days_inactive is None


def test_last_activity_is_the_later_of_activity_and_test() -> None:
    record = user("a@x.io", access=[LIVE], data={LIVE: use()}, active_days_ago=30, test_days_ago=2)
    (member,) = idle_seats([record], now=NOW).members
    assert member.days_inactive == 2
    assert member.last_activity_text == "2 days ago"


def test_future_activity_reads_as_just_now() -> None:
    record = user("a@x.io", access=[LIVE], data={LIVE: use()}, active_days_ago=-1)
    (member,) = idle_seats([record], now=NOW).members
    assert (member.last_activity_text, member.days_inactive) == ("just now", 0)


def test_idle_seats_of_nobody() -> None:
    report = idle_seats([], now=NOW)
    assert report == IdleSeatsReport(
        products=tuple(Product),
        seats=tuple(SeatCount(p, seats=0, used=0, idle=0, unknown=0) for p in Product),
        members=(),
        teams=(),
        users_considered=0,
        excluded=0,
    )
    assert (report.idle_seats, report.fully_idle, report.never_used) == (0, 0, 0)


def test_hostile_names_pass_through_unchanged() -> None:
    record = user(
        "<@U1>@x.io", name=HOSTILE, team=HOSTILE, role=HOSTILE, access=[LIVE], data={LIVE: use()}
    )
    (member,) = idle_seats([record], now=NOW).members
    assert (member.name, member.email, member.team, member.role) == (
        HOSTILE,
        "<@U1>@x.io",
        HOSTILE,
        HOSTILE,
    )
    assert idle_seats([record], now=NOW).teams[0].name == HOSTILE
    assert user_summary(record, now=NOW).name == HOSTILE
    assert top_users([msgspec.structs.replace(steve(), name=HOSTILE)], n=1)[0].name == HOSTILE
    summary = team_summary(team(HOSTILE), now=NOW)
    assert summary.name == HOSTILE


def test_reports_serialise_with_msgspec() -> None:
    report = idle_seats([user("a@x.io", access=[LIVE], data={LIVE: use()})], now=NOW)
    decoded = msgspec.json.decode(msgspec.json.encode(report))
    assert decoded["members"][0]["idle_products"] == ["live_testing"]
    assert decoded["seats"][0] == {
        "product": "live_testing",
        "seats": 1,
        "used": 0,
        "idle": 1,
        "unknown": 0,
    }


# --- users -------------------------------------------------------------------------------------


def test_user_summary_of_steve() -> None:
    summary = user_summary(steve(), now=NOW)
    assert (summary.name, summary.email, summary.role, summary.team) == (
        "Steve",
        "steve@example.com",
        "Owner",
        "Acme Inc. (Org)",
    )
    assert summary.used_products == (LIVE, APP_LIVE)
    assert summary.idle_products == ()
    assert summary.unknown_products == ()
    assert (summary.fully_idle, summary.never_used) == (False, False)
    rows = {r.product: r for r in summary.products}
    assert (rows[LIVE].tests_run, rows[LIVE].minutes_used) == (10, 180)
    assert (rows[APP_LIVE].tests_run, rows[APP_LIVE].minutes_used) == (10, 120)
    assert rows[AUTOMATE].state is SeatState.NO_ACCESS
    assert rows[AUTOMATE].has_access is False
    assert (rows[AUTOMATE].tests_run, rows[AUTOMATE].cypress_executions_run) == (10, 5)
    assert summary.last_test == datetime(2023, 6, 30, 11, 33, 40, tzinfo=UTC)
    assert summary.last_test_text == summary.last_activity_text == "3 days ago"


@pytest.mark.parametrize(
    ("record", "rows", "idle", "unknown", "last_test_text"),
    [
        pytest.param(
            user("a@x.io", access=[LIVE, AUTOMATE], data={LIVE: IDLE_ENTRY}, active_days_ago=0.01),
            {LIVE: SeatState.IDLE, AUTOMATE: SeatState.UNKNOWN},
            (LIVE,),
            (AUTOMATE,),
            "never",
            id="idle and unknown",
        ),
        pytest.param(
            user("b@x.io", data={APP_LIVE: IDLE_ENTRY}, test_days_ago=400),
            {APP_LIVE: SeatState.NO_ACCESS},
            (),
            (),
            "over a year ago",
            id="entry without access",
        ),
        pytest.param(user("c@x.io"), {}, (), (), "never", id="no access, no data"),
    ],
)
def test_user_summary(
    record: UserRecord,
    rows: dict[Product, SeatState],
    idle: tuple[Product, ...],
    unknown: tuple[Product, ...],
    last_test_text: str,
) -> None:
    summary = user_summary(record, now=NOW)
    assert {r.product: r.state for r in summary.products} == rows
    assert summary.idle_products == idle
    assert summary.unknown_products == unknown
    assert summary.last_test_text == last_test_text


# --- top users ---------------------------------------------------------------------------------


RANKED = [
    user("zed@x.io", data={LIVE: use(minutes_used=100, tests_run=1)}),
    user("amy@x.io", data={LIVE: use(minutes_used=100, tests_run=1)}),
    user("bob@x.io", data={LIVE: use(minutes_used=100, tests_run=5)}),
    user("cat@x.io", data={LIVE: use(minutes_used=300), AUTOMATE: use(tests_run=2)}),
    user("dan@x.io", data={AUTOMATE: use(tests_run=50)}),
    user("eve@x.io", data={AUTOMATE: use(tests_run=50, cypress_executions_run=9)}),
    user("idle@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY, AUTOMATE: use(tests_run=0)}),
    user("none@x.io"),
]


@pytest.mark.parametrize(
    ("users", "product", "n", "expected"),
    [
        pytest.param(
            RANKED,
            None,
            10,
            ["cat@x.io", "bob@x.io", "amy@x.io", "zed@x.io", "dan@x.io", "eve@x.io"],
            id="all products: minutes, tests, email; zero usage left out",
        ),
        pytest.param(RANKED, LIVE, 3, ["cat@x.io", "bob@x.io", "amy@x.io"], id="live top 3"),
        pytest.param(
            RANKED, AUTOMATE, 10, ["dan@x.io", "eve@x.io", "cat@x.io"], id="automate by tests"
        ),
        pytest.param(RANKED, APP_LIVE, 10, [], id="nobody used it"),
        pytest.param(RANKED, None, 0, [], id="n zero"),
        pytest.param([], None, 5, [], id="no users"),
        pytest.param(seed_users(), AUTOMATE, 5, ["steve@example.com"], id="usage without access"),
    ],
)
def test_top_users_order(
    users: list[UserRecord], product: Product | None, n: int, expected: list[str]
) -> None:
    ranked = top_users(users, product=product, n=n)
    assert [t.email for t in ranked] == expected
    assert [t.rank for t in ranked] == list(range(1, len(expected) + 1))


def test_top_users_rows_carry_figures() -> None:
    (first,) = top_users(seed_users(), n=1)
    assert first == TopUser(
        rank=1,
        name="Steve",
        email="steve@example.com",
        team="Acme Inc. (Org)",
        product=None,
        minutes_used=300,
        tests_run=40,
    )


def test_top_users_ties_do_not_depend_on_input_order() -> None:
    tied = [user(f"{c}@x.io", data={LIVE: use(minutes_used=7)}) for c in "dcbae"]
    assert [t.email for t in top_users(tied, n=3)] == ["a@x.io", "b@x.io", "c@x.io"]
    assert [t.email for t in top_users(reversed(tied), n=3)] == ["a@x.io", "b@x.io", "c@x.io"]
    mixed_case = [user(e, data={LIVE: use(minutes_used=7)}) for e in ("b@x.io", "A@x.io")]
    assert [t.email for t in top_users(mixed_case, n=2)] == ["A@x.io", "b@x.io"]
    shouting = [user(e, data={LIVE: use(minutes_used=7)}) for e in ("B@x.io", "a@x.io")]
    assert [t.email for t in top_users(shouting, n=2)] == ["a@x.io", "B@x.io"]


# --- teams -------------------------------------------------------------------------------------


def test_team_summary_of_acme() -> None:
    summary = team_summary(acme(), now=NOW)
    assert (summary.name, summary.type, summary.user_count) == ("Acme team", "org", 10)
    rows = {r.product: r for r in summary.products}
    assert list(rows) == list(Product)
    assert (rows[LIVE].has_access, rows[LIVE].minutes_used) == (False, 180)
    assert rows[APP_LIVE].minutes_used == 120
    assert rows[AUTOMATE].has_access is True
    assert (rows[AUTOMATE].parallels_allocated, rows[AUTOMATE].max_parallels_used) == (5, 2)
    assert (rows[APP_AUTOMATE].parallels_allocated, rows[APP_AUTOMATE].max_parallels_used) == (
        3,
        2,
    )
    assert rows[AUTOMATE].consumption_type == "team"
    assert rows[AUTOMATE].tests_run is None
    assert (summary.minutes_used, summary.parallels_used, summary.active) == (300, 4, True)
    # The team report sends last_test where the docs promise last_activity.
    assert summary.last_activity == datetime(2023, 6, 30, 11, 33, 40, tzinfo=UTC)
    assert summary.last_activity_text == "3 days ago"
    assert (summary.member_count, summary.seats, summary.most_active) == (None, (), ())


def test_team_summary_with_members() -> None:
    members = [
        steve(),
        user("a@x.io", access=[LIVE, AUTOMATE], data={LIVE: IDLE_ENTRY}),
        user("b@x.io", access=[LIVE], data={LIVE: use(minutes_used=500)}),
    ]
    summary = team_summary(acme(), members=members, now=NOW, top=2)
    assert summary.member_count == 3
    assert summary.seats == (
        SeatCount(LIVE, seats=3, used=2, idle=1, unknown=0),
        SeatCount(AUTOMATE, seats=0, used=0, idle=0, unknown=1),
        SeatCount(APP_LIVE, seats=1, used=1, idle=0, unknown=0),
    )
    assert [t.email for t in summary.most_active] == ["b@x.io", "steve@example.com"]
    # a@x.io: an idle Live seat; its Automate access is not reported (no entry, no evidence).
    assert (summary.idle_members, summary.unused_access_members) == (1, 0)
    # With the evidence of an All-Products report (no test since the period began), a@x.io's
    # Automate access is unused too.
    since = (NOW - timedelta(days=14)).date()
    evident = team_summary(acme(), members=members, now=NOW, since=since)
    assert (evident.idle_members, evident.unused_access_members) == (1, 1)
    assert team_summary(acme(), now=NOW).idle_members is None  # no members: nothing said


def test_team_summary_with_no_members_and_no_data() -> None:
    summary = team_summary(team("Empty", test_days_ago=None), members=[], now=NOW)
    assert summary.products == ()
    assert (summary.member_count, summary.seats, summary.most_active) == (0, (), ())
    assert (summary.active, summary.last_activity, summary.last_activity_text) == (
        False,
        None,
        "never",
    )


def test_team_summary_rows_for_unreported_products_with_access() -> None:
    summary = team_summary(team("T", access=[AUTOMATE], data={LIVE: use(minutes_used=0)}), now=NOW)
    rows = {r.product: r for r in summary.products}
    assert rows[AUTOMATE].reported is False
    assert rows[AUTOMATE].parallels_allocated is None
    assert rows[LIVE].reported is True
    assert summary.active is False


# --- organisation ------------------------------------------------------------------------------


def test_org_overview_ranks_teams_and_counts_inactive_ones() -> None:
    teams = [
        team("Quiet", data={LIVE: use(minutes_used=0), AUTOMATE: parallels(4, 0)}),
        team("Tests", data={AUTOMATE: use(tests_run=30, **parallel_fields(4, 3))}),
        acme(),
        team("Minutes", data={LIVE: use(minutes_used=301)}, test_days_ago=1),
        team("Silent"),
    ]
    overview = org_overview(teams, now=NOW)
    assert [t.name for t in overview.teams] == ["Minutes", "Acme team", "Tests", "Quiet", "Silent"]
    assert (overview.team_count, overview.inactive_teams) == (5, 2)
    assert overview.last_activity_text == "yesterday"
    assert (overview.user_count, overview.seats) == (None, ())
    totals = {t.product: t for t in overview.totals}
    assert (totals[LIVE].minutes_used, totals[LIVE].teams_reporting) == (481, 3)
    assert totals[LIVE].parallels_allocated is None
    assert (totals[AUTOMATE].parallels_allocated, totals[AUTOMATE].max_parallels_used) == (13, 5)
    assert totals[AUTOMATE].tests_run == 30
    assert totals[APP_AUTOMATE].parallels_allocated == 3


def test_org_overview_counts_the_shared_pool_once() -> None:
    teams = [
        team("Org", type_="org", data={AUTOMATE: parallels(20, 6, "org")}),
        team("A", data={AUTOMATE: parallels(20, 4, "org")}),
        team("B", data={AUTOMATE: parallels(5, 5, "team")}),
    ]
    (automate,) = [t for t in org_overview(teams, now=NOW).totals if t.product is AUTOMATE]
    assert automate.parallels_allocated == 25
    assert automate.max_parallels_used == 15


def test_org_overview_with_users_counts_seats_org_wide() -> None:
    users = [*seed_users(), user("a@x.io", access=[LIVE, AUTOMATE], data={LIVE: IDLE_ENTRY})]
    overview = org_overview(seed_teams(), users=users, now=NOW)
    assert overview.user_count == 2
    counts = {c.product: c for c in overview.seats}
    assert counts[LIVE] == SeatCount(LIVE, seats=2, used=1, idle=1, unknown=0)
    assert counts[AUTOMATE] == SeatCount(AUTOMATE, seats=0, used=0, idle=0, unknown=1)


def test_org_overview_of_nothing() -> None:
    overview = org_overview([], users=[], now=NOW)
    assert (overview.teams, overview.team_count, overview.inactive_teams) == ((), 0, 0)
    assert (overview.last_activity, overview.last_activity_text) == (None, "never")
    assert overview.user_count == 0
    assert all(t.teams_reporting == 0 and t.minutes_used is None for t in overview.totals)
    assert all(c.seats == 0 for c in overview.seats)


# --- parallels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "kwargs", "expected"),
    [
        pytest.param(acme(), {}, [("Acme team", AUTOMATE, 5, 2, 3, 2)], id="seed acme"),
        pytest.param(acme(), {"threshold": 0.7}, [("Acme team", AUTOMATE, 5, 2, 3, 2)],
                     id="app automate 3/2 has nothing to free"),
        pytest.param(acme(), {"threshold": 0.3}, [], id="2 of 5 above 0.3"),
        pytest.param(team("T", data={AUTOMATE: parallels(2, 0)}), {},
                     [("T", AUTOMATE, 2, 0, 1, 1)], id="unused pair"),
        pytest.param(team("T", data={AUTOMATE: parallels(1, 0)}), {}, [], id="below min"),
        pytest.param(team("T", data={AUTOMATE: parallels(1, 0)}), {"min_allocated": 0}, [],
                     id="never below 1"),
        pytest.param(team("T", data={APP_AUTOMATE: parallels(10, 5)}), {},
                     [("T", APP_AUTOMATE, 10, 5, 7, 3)], id="at threshold, 1/4 spare"),
        pytest.param(team("T", data={AUTOMATE: parallels(10, 6)}), {}, [], id="above threshold"),
        pytest.param(team("T", data={AUTOMATE: parallels(10, 2)}), {"headroom": 3},
                     [("T", AUTOMATE, 10, 2, 5, 5)], id="headroom"),
        pytest.param(team("T", data={AUTOMATE: parallels(4, 0)}), {"headroom": 0},
                     [("T", AUTOMATE, 4, 0, 1, 3)], id="no headroom, still 1"),
        pytest.param(team("T", data={AUTOMATE: parallels(10, None)}), {}, [], id="peak unknown"),
        pytest.param(team("T", data={AUTOMATE: parallels(10, {"max": 1})}), {},
                     [("T", AUTOMATE, 10, 1, 2, 8)], id="peak as object"),
        pytest.param(team("T", data={AUTOMATE: parallels(10, 1, "org")}), {}, [],
                     id="shared pool is not the team's"),
        pytest.param(team("Root", type_="org", data={AUTOMATE: parallels(10, 1, "org")}), {},
                     [("Root", AUTOMATE, 10, 1, 2, 8)], id="root team judges the pool"),
        pytest.param(team("T", data={LIVE: use(minutes_used=0)}), {}, [], id="no parallels"),
    ],
)  # fmt: skip
def test_parallel_rightsizing(
    record: TeamRecord, kwargs: dict[str, Any], expected: list[tuple[Any, ...]]
) -> None:
    rows = parallel_rightsizing([record], **kwargs)
    assert [(r.team, r.product, r.allocated, r.max_used, r.suggested, r.freed) for r in rows] == (
        expected
    )
    for row in rows:
        assert row.utilisation == row.max_used / row.allocated
        assert row.type == record.type


def test_parallel_rightsizing_sorts_by_parallels_freed() -> None:
    teams = [
        team("Small", data={AUTOMATE: parallels(4, 1)}),
        acme(),
        team("Big", data={AUTOMATE: parallels(20, 2), APP_AUTOMATE: parallels(8, 0)}),
    ]
    rows = parallel_rightsizing(teams)
    assert [(r.team, r.product, r.freed) for r in rows] == [
        ("Big", AUTOMATE, 17),
        ("Big", APP_AUTOMATE, 7),
        ("Acme team", AUTOMATE, 2),
        ("Small", AUTOMATE, 2),
    ]
    assert rows[2].type == "org"
    assert parallel_rightsizing([]) == []


@pytest.mark.parametrize("kwargs", [{"threshold": 1.5}, {"threshold": -0.1}, {"headroom": -1}])
def test_parallel_rightsizing_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        parallel_rightsizing([acme()], **kwargs)


# --- scale -------------------------------------------------------------------------------------


def test_fifty_thousand_users() -> None:
    busy = ProductUsage(tests_run=3, minutes_used=12)
    idle = ProductUsage(tests_run=0, minutes_used=0)
    access_all = ProductAccess(live_testing=True, automate=True)
    access_live = ProductAccess(live_testing=True)
    users = []
    for i in range(50_000):
        data = ProductData(
            live_testing=idle if i % 4 == 0 else busy,
            automate=idle if i % 10 == 0 else busy,
        )
        users.append(
            UserRecord(
                name=f"User {i}",
                email=f"user{i}@example.com",
                team=f"Team {i % 250}",
                product_access=access_all if i % 2 else access_live,
                usage=Usage(last_activity=stamp(i % 400), product_data=data),
            )
        )
    report = idle_seats(users, exclude=["user1@example.com"], now=NOW)
    counts = {c.product: c for c in report.seats}
    assert counts[LIVE] == SeatCount(LIVE, seats=49_999, used=37_499, idle=12_500, unknown=0)
    # Odd users hold automate; i % 10 == 0 is never odd, so every automate seat is used.
    assert counts[AUTOMATE] == SeatCount(AUTOMATE, seats=24_999, used=24_999, idle=0, unknown=0)
    assert len(report.members) == 12_500
    assert sum(t.idle_seats for t in report.teams) == 12_500

    teams = [team(f"Team {i}", data={LIVE: use(minutes_used=i)}) for i in range(250)]
    assert org_overview(teams, now=NOW).teams[0].name == "Team 249"
    assert org_overview(teams, now=NOW).inactive_teams == 1
    overview = org_overview(teams, users=users, now=NOW)
    assert overview.inactive_teams == 0  # with the user report, Team 0's members' tests count
    assert {c.product: c.seats for c in overview.seats}[LIVE] == 50_000
    assert len(top_users(users, n=10)) == 10


# --- issue 8: evidence, licences, rankings, flags ----------------------------------------------

# The period of the tables below: it began 30 days before NOW.
SINCE = (NOW - timedelta(days=30)).date()


@pytest.mark.parametrize(
    ("record", "since", "expected"),
    [
        pytest.param(
            user("a@x.io", access=[LIVE]), SINCE, SeatState.IDLE, id="no entry, never tested: idle"
        ),
        pytest.param(
            user("a@x.io", access=[LIVE], test_days_ago=90),
            SINCE,
            SeatState.IDLE,
            id="no entry, last test before the period: idle",
        ),
        pytest.param(
            user("a@x.io", access=[LIVE], test_days_ago=3),
            SINCE,
            SeatState.UNKNOWN,
            id="no entry, a test inside the period: not reported",
        ),
        pytest.param(
            user("a@x.io", access=[LIVE], test_days_ago=90),
            None,
            SeatState.UNKNOWN,
            id="one-product report: no evidence, not reported",
        ),
        pytest.param(
            user("a@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}, test_days_ago=3),
            SINCE,
            SeatState.IDLE,
            id="an entry with no use: idle whatever last_test says",
        ),
        pytest.param(
            user("a@x.io", access=[AUTOMATE], active_days_ago=1),
            SINCE,
            SeatState.NO_ACCESS,
            id="no access: no seat",
        ),
    ],
)
def test_idle_by_evidence(record: UserRecord, since: Any, expected: SeatState) -> None:
    assert seat_state(record, LIVE, since=since) is expected


@pytest.mark.parametrize(
    ("record", "never_used", "never_tested"),
    [
        pytest.param(user("a@x.io", access=[LIVE]), True, True, id="no login, no test"),
        pytest.param(
            user("a@x.io", access=[LIVE], active_days_ago=5), False, True, id="logged in only"
        ),
        pytest.param(
            user("a@x.io", access=[LIVE], active_days_ago=5, test_days_ago=400),
            False,
            False,
            id="tested long ago",
        ),
    ],
)
def test_never_used_and_never_tested(
    record: UserRecord, never_used: bool, never_tested: bool
) -> None:
    report = idle_seats([record], now=NOW, since=SINCE)
    (member,) = report.members
    assert (member.never_used, member.never_tested) == (never_used, never_tested)
    assert member.idle_products == (LIVE,)
    summary = user_summary(record, now=NOW, since=SINCE)
    assert (summary.never_used, summary.never_tested) == (never_used, never_tested)


def test_a_member_without_entries_is_idle_only_with_evidence() -> None:
    never = user("never@x.io", access=[LIVE, AUTOMATE])
    assert idle_seats([never], now=NOW).members == ()  # no period start: no evidence
    report = idle_seats([never], now=NOW, since=SINCE)
    (member,) = report.members
    assert member.never_used
    assert report.never_used_members == (member,)
    assert report.evidence


def test_idle_seats_cost_live_and_app_live_only_and_order_by_cost() -> None:
    users = [
        user("cheap@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}, active_days_ago=200),
        user("dear@x.io", access=[LIVE, APP_LIVE], data=dict.fromkeys((LIVE, APP_LIVE), IDLE_ENTRY),
             active_days_ago=2),
        user("ci@x.io", access=[AUTOMATE], data={AUTOMATE: IDLE_ENTRY}, active_days_ago=300),
    ]  # fmt: skip
    report = idle_seats(users, now=NOW, seat_prices={LIVE: 39.0, APP_LIVE: 49.0})
    assert [(m.email, m.monthly_cost) for m in report.members] == [
        ("dear@x.io", 88.0),
        ("cheap@x.io", 39.0),
        ("ci@x.io", 0.0),  # Automate includes unlimited users: information only
    ]
    assert [(c.product, c.idle_seats, c.monthly) for c in report.costs] == [
        (LIVE, 2, 78.0),
        (APP_LIVE, 1, 49.0),
    ]
    assert report.monthly_cost == 127.0
    assert (report.idle_seats, report.unused_access) == (3, 1)
    assert report.members[2].unused_access == (AUTOMATE,)
    assert report.members[2].idle_seats == ()


def test_seat_prices_refuse_automate() -> None:
    with pytest.raises(ValueError, match="Live, App Live only, not Automate"):
        idle_seats([], now=NOW, seat_prices={AUTOMATE: 129.0})


def test_usage_without_access_is_flagged() -> None:
    report = idle_seats([steve()], now=NOW)
    (flagged,) = report.usage_without_access
    assert (flagged.email, flagged.products) == ("steve@example.com", (AUTOMATE, APP_AUTOMATE))
    assert user_summary(steve(), now=NOW).usage_without_access == (AUTOMATE, APP_AUTOMATE)
    summary = team_summary(acme(), members=[steve()], now=NOW)
    assert [u.email for u in summary.usage_without_access] == ["steve@example.com"]


def test_top_users_rank_by_minutes_plus_tests_over_every_product() -> None:
    users = [
        user("live@x.io", access=[LIVE], data={LIVE: use(tests_run=2, minutes_used=60)}),
        user("ci@x.io", access=[AUTOMATE], data={AUTOMATE: use(tests_run=500)}),
    ]
    ranked = top_users(users)
    assert [(u.email, u.activity) for u in ranked] == [("ci@x.io", 500), ("live@x.io", 62)]


def test_busiest_teams_count_members_tests_on_automated_products() -> None:
    teams = [
        team("Live team", data={LIVE: use(minutes_used=120)}),
        team("CI team", data={AUTOMATE: parallels(5, 3)}),
    ]
    members = [
        user("ci@x.io", team="CI team", access=[AUTOMATE], data={AUTOMATE: use(tests_run=900)})
    ]
    overview = org_overview(teams, users=members, now=NOW)
    assert [(t.name, t.activity) for t in overview.teams] == [("CI team", 900), ("Live team", 120)]


@pytest.mark.parametrize(
    ("allocated", "peak", "saturated"),
    [(5, 5, True), (5, 6, True), (5, 4, False), (0, 2, False), (None, 3, False)],
)
def test_saturated_parallels(allocated: int | None, peak: int, saturated: bool) -> None:
    record = team("T", data={AUTOMATE: parallels(allocated, peak)})
    assert bool(saturated_parallels([record])) is saturated
    assert bool(team_summary(record, now=NOW).saturated) is saturated
    overview = org_overview([record], now=NOW)
    assert [(team.name, row.product) for team, row in overview.saturated] == (
        [("T", AUTOMATE)] if saturated else []
    )
    # Kept with the report, an overview is read by every teams answer: worked out once.
    assert overview.saturated is overview.saturated


@pytest.mark.parametrize(("days", "offered"), [(14, False), (27, False), (28, True), (31, True)])
def test_parallels_advice_needs_a_long_enough_period(days: int, offered: bool) -> None:
    end = NOW.date()
    advice = parallels_advice([acme()], start=end - timedelta(days=days - 1), end=end)
    assert (advice.days, advice.offered) == (days, offered)
    assert bool(advice.rows) is offered
    if offered:
        (row,) = advice.rows
        assert (row.max_used, row.allocated, row.days, row.suggested, row.spare) == (
            2, 5, days, 3, 1,
        )  # fmt: skip


def test_parallels_above_peak_are_priced() -> None:
    teams = [
        team("A", data={AUTOMATE: parallels(10, 4)}),
        team("B", data={AUTOMATE: parallels(5, 1), APP_AUTOMATE: parallels(2, 2)}),
    ]
    totals = org_overview(teams, now=NOW).totals
    costs = parallel_costs(totals, {AUTOMATE: 150.0})
    assert [(c.product, c.allocated, c.peak, c.above_peak, c.monthly) for c in costs] == [
        (AUTOMATE, 15, 5, 10, 1500.0)
    ]
    with pytest.raises(ValueError, match="Automate, App Automate only, not Live"):
        parallel_costs(totals, {LIVE: 1.0})


def test_an_idle_member_carries_the_last_test_apart_from_the_last_login() -> None:
    member = user("a@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY}, active_days_ago=2,
                  test_days_ago=60)  # fmt: skip
    (idle,) = idle_seats([member], now=NOW).members
    assert idle.last_test == NOW - timedelta(days=60)
    assert idle.last_activity == NOW - timedelta(days=2)


def test_rows_kept_by_the_thousand_are_not_tracked_by_the_garbage_collector() -> None:
    """Every full collection walks each tracked object: some 65,000 rows at 50,000 members."""
    users = [*seed_users(), user("a@x.io", access=[LIVE], data={LIVE: IDLE_ENTRY})]
    teams = seed_teams()
    idle = idle_seats(users, now=NOW)
    overview = org_overview(teams, users=users, now=NOW)
    rows = [
        *idle.members,
        *idle.teams,
        *overview.teams,
        *(row for team in overview.teams for row in team.products),
        *parallel_rightsizing(teams, threshold=1.0, min_allocated=1),
    ]
    kinds = {type(row).__name__ for row in rows}
    assert kinds == {"IdleMember", "IdleTeam", "TeamSummary", "TeamProductRow", "RightsizingRow"}
    assert [row for row in rows if gc.is_tracked(row)] == []

"""The pure rules of reclaim campaigns: who is asked, the tally, the release list, savings."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.browserstack.models import Product, ProductAccess, UserRecord
from bot.reclaim.rules import (
    AskState,
    AskView,
    Choice,
    campaign_products,
    candidates,
    needs_reminder,
    release_list,
    reminder_at,
    savings_line,
    snooze_start,
    tally,
    verify,
)
from bot.reports.analysis import IdleMember, IdleSeatsReport

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
LIVE, APP_LIVE, AUTOMATE = Product.LIVE, Product.APP_LIVE, Product.AUTOMATE
PRICES = {LIVE: 29.0, APP_LIVE: 39.0}


def member(email: str, *idle: Product) -> IdleMember:
    return IdleMember(
        name=email.split("@")[0].title(),
        email=email,
        team=None,
        role=None,
        products=idle,
        idle_products=idle,
        unknown_products=(),
        fully_idle=True,
        never_used=False,
        last_activity=NOW - dt.timedelta(days=40),
        last_activity_text="40 days ago",
        days_inactive=40,
        last_test=NOW - dt.timedelta(days=75),  # logged in since, but ran no test
    )


def report(*members: IdleMember) -> IdleSeatsReport:
    return IdleSeatsReport(
        products=tuple(Product), seats=(), members=members, teams=(), users_considered=9, excluded=0
    )


def ask(email: str, state: AskState, choice: Choice | None = None, *products: Product) -> AskView:
    return AskView(
        email=email,
        name=email,
        products=products or (LIVE,),
        last_test=None,
        monthly=29.0,
        state=state,
        choice=choice,
    )


@pytest.mark.parametrize(
    ("automate", "idle", "asked"),
    [
        (False, (LIVE,), (LIVE,)),
        (False, (LIVE, APP_LIVE), (LIVE, APP_LIVE)),
        (False, (AUTOMATE,), None),  # Automate access is not a seat: not asked by default
        (True, (AUTOMATE,), (AUTOMATE,)),
        (True, (LIVE, AUTOMATE), (LIVE, AUTOMATE)),
    ],
)
def test_who_is_asked_about_what(
    automate: bool, idle: tuple[Product, ...], asked: tuple[Product, ...] | None
) -> None:
    found = candidates(
        report(member("a@x.test", *idle)),
        products=campaign_products(automate=automate),
        prices=PRICES,
    )
    assert [c.products for c in found] == ([asked] if asked else [])
    if asked:
        assert found[0].monthly == sum(PRICES.get(p, 0.0) for p in asked)
        # The DM says how long the seat has been idle: since the last test, not the last login.
        assert found[0].last_test == NOW - dt.timedelta(days=75)


def test_members_who_said_keep_recently_are_snoozed_whatever_the_case() -> None:
    found = candidates(
        report(member("A@x.test", LIVE), member("b@x.test", LIVE)),
        products=campaign_products(automate=False),
        snoozed={"a@x.test"},
    )
    assert [c.email for c in found] == ["b@x.test"]
    assert snooze_start(NOW, 90) == NOW - dt.timedelta(days=90)


def test_the_reminder_is_halfway_and_only_for_those_asked_who_did_not_answer() -> None:
    assert reminder_at(NOW, NOW + dt.timedelta(days=7)) == NOW + dt.timedelta(days=3.5)
    assert needs_reminder(ask("a", AskState.SENT))
    assert not needs_reminder(ask("a", AskState.SENT, Choice.KEEP))
    assert not needs_reminder(ask("a", AskState.SENT, Choice.RELEASE))
    assert not needs_reminder(ask("a", AskState.NOT_IN_SLACK))
    assert not needs_reminder(ask("a", AskState.PENDING))


def test_tally_and_release_list() -> None:
    asks = [
        ask("k@x", AskState.SENT, Choice.KEEP),
        ask("r@x", AskState.SENT, Choice.RELEASE, LIVE, APP_LIVE),
        ask("s@x", AskState.SENT),
        ask("n@x", AskState.NOT_IN_SLACK),
        ask("g@x", AskState.GUEST),
        ask("f@x", AskState.FAILED),
        ask("p@x", AskState.PENDING),
    ]
    t = tally(asks)
    assert (t.members, t.asked, t.kept, t.released, t.no_answer) == (7, 3, 1, 1, 1)
    assert (t.not_in_slack, t.guests, t.failed, t.waiting) == (1, 1, 1, 1)
    rows = release_list(asks, PRICES)
    # Release and silence, one row per product; never keep, nor anyone not asked.
    assert [(r.email, r.product, r.monthly, r.answered) for r in rows] == [
        ("r@x", APP_LIVE, 39.0, True),
        ("r@x", LIVE, 29.0, True),
        ("s@x", LIVE, 29.0, False),
    ]


def user(email: str, **access: bool) -> UserRecord:
    return UserRecord(name=email, email=email, product_access=ProductAccess(**access))


def test_savings_count_seats_gone_and_list_done_ones_still_held() -> None:
    rows = release_list(
        [
            ask("gone@x", AskState.SENT, Choice.RELEASE),
            ask("left@x", AskState.SENT),  # no longer in the account at all
            ask("held@x", AskState.SENT, Choice.RELEASE),
            AskView("done@x", "d", (LIVE,), None, 29.0, AskState.SENT, None, done=True),
        ],
        PRICES,
    )
    users = [
        user("GONE@x", live_testing=False, automate=True),
        user("held@x", live_testing=True),
        user("done@x", live_testing=True),
    ]
    member = {u.email.lower(): u for u in users}.get
    saved = verify(rows, lambda email: member(email.lower()), PRICES)
    assert saved.seats == {LIVE: 2}
    assert saved.monthly == 58.0
    assert [r.email for r in saved.reclaimed] == ["gone@x", "left@x"]
    assert [r.email for r in saved.still_held] == ["done@x"]
    assert savings_line(saved) == "Reclaimed this month: 2 Live seats, $58 a month"
    assert savings_line(verify([], member, PRICES)) is None

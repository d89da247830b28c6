"""Reclaim campaigns' rules, pure: who is asked, the tally, the release list, what was saved.

A campaign asks the members who hold idle licensed seats in a period (Live and App Live; with
``RECLAIM_AUTOMATE`` also Automate and App Automate access nobody used) whether they still need
them. The idle report has already left out ``IDLE_EXCLUDE``; here go the members who answered
"keep" within ``RECLAIM_SNOOZE_DAYS``. Guests and members without a Slack account are found when
the DM is due (``users.lookupByEmail``): they are recorded, never asked.

At the deadline, "release" answers and members who did not answer form the release list. A later
user report *verifies* a release: the member's ``product_access`` for that product is false.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.browserstack.models import Product, UserRecord
from bot.reports.analysis import PARALLEL_PRODUCTS, SEAT_PRODUCTS, IdleSeatsReport

# Where an admin removes a member's product access by hand (the public API cannot revoke).
USER_MANAGEMENT_URL = "https://www.browserstack.com/accounts/manage-users"


class AskState(enum.StrEnum):
    """Where one member's DM stands."""

    PENDING = "pending"  # to be sent
    SENDING = "sending"  # claimed: chat.postMessage may or may not have happened
    SENT = "sent"
    NOT_IN_SLACK = "not_in_slack"
    GUEST = "guest"  # a guest account: never asked
    FAILED = "failed"  # Slack refused (the error is kept)


class Choice(enum.StrEnum):
    KEEP = "keep"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A member to ask: the idle products, since when, and what they cost a month."""

    email: str
    name: str
    products: tuple[Product, ...]
    last_test: dt.datetime | None
    monthly: float


def campaign_products(*, automate: bool) -> tuple[Product, ...]:
    """The products a campaign covers: the seats, and with ``automate`` the parallel products."""
    return SEAT_PRODUCTS + (PARALLEL_PRODUCTS if automate else ())


def candidates(
    report: IdleSeatsReport,
    *,
    products: Collection[Product],
    snoozed: Collection[str] = (),
    prices: Mapping[Product, float] | None = None,
) -> list[Candidate]:
    """Members of ``report`` with idle ``products``, less those snoozed (emails, any case)."""
    skip = {email.casefold() for email in snoozed}
    found: list[Candidate] = []
    for member in report.members:
        idle = tuple(p for p in member.idle_products if p in products)
        if not idle or member.email.casefold() in skip:
            continue
        monthly = sum((prices or {}).get(p, 0.0) for p in idle)
        found.append(
            Candidate(
                email=member.email,
                name=member.name or member.email,
                products=idle,
                last_test=member.last_test,
                monthly=monthly,
            )
        )
    found.sort(key=lambda c: c.email.casefold())
    return found


def snooze_start(now: dt.datetime, days: int) -> dt.datetime:
    """ "Keep" answers given after this still hold: their members are not asked again."""
    return now - dt.timedelta(days=days)


def reminder_at(started: dt.datetime, deadline: dt.datetime) -> dt.datetime:
    """The one reminder goes halfway to the deadline."""
    return started + (deadline - started) / 2


@dataclass(frozen=True, slots=True)
class AskView:
    """What the rules need to know of one member's row."""

    email: str
    name: str
    products: tuple[Product, ...]
    last_test: dt.datetime | None
    monthly: float
    state: AskState
    choice: Choice | None
    user_id: str | None = None
    done: bool = False
    campaign_id: str = ""


@dataclass(frozen=True, slots=True)
class Tally:
    members: int
    asked: int
    kept: int
    released: int
    no_answer: int
    not_in_slack: int
    guests: int
    failed: int
    waiting: int  # DMs not sent yet

    @property
    def sent_all(self) -> bool:
        return self.waiting == 0


def tally(asks: Iterable[AskView]) -> Tally:
    rows = list(asks)
    sent = [a for a in rows if a.state is AskState.SENT]
    return Tally(
        members=len(rows),
        asked=len(sent),
        kept=sum(1 for a in sent if a.choice is Choice.KEEP),
        released=sum(1 for a in sent if a.choice is Choice.RELEASE),
        no_answer=sum(1 for a in sent if a.choice is None),
        not_in_slack=sum(1 for a in rows if a.state is AskState.NOT_IN_SLACK),
        guests=sum(1 for a in rows if a.state is AskState.GUEST),
        failed=sum(1 for a in rows if a.state is AskState.FAILED),
        waiting=sum(1 for a in rows if a.state in (AskState.PENDING, AskState.SENDING)),
    )


def needs_reminder(ask: AskView) -> bool:
    """Asked, and no answer yet."""
    return ask.state is AskState.SENT and ask.choice is None


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """One seat on the release list."""

    email: str
    name: str
    product: Product
    last_test: dt.datetime | None
    monthly: float
    answered: bool  # said "release" (else: did not answer)
    done: bool = False
    campaign_id: str = ""


def release_list(asks: Iterable[AskView], prices: Mapping[Product, float]) -> list[ReleaseRow]:
    """Release answers and members asked who did not answer, one row per product."""
    rows: list[ReleaseRow] = []
    for ask in asks:
        if ask.state is not AskState.SENT or ask.choice is Choice.KEEP:
            continue
        for product in ask.products:
            rows.append(
                ReleaseRow(
                    email=ask.email,
                    name=ask.name,
                    product=product,
                    last_test=ask.last_test,
                    monthly=prices.get(product, 0.0),
                    answered=ask.choice is Choice.RELEASE,
                    done=ask.done,
                    campaign_id=ask.campaign_id,
                )
            )
    rows.sort(key=lambda r: (r.email.casefold(), r.product.value))
    return rows


@dataclass(frozen=True, slots=True)
class Savings:
    """Seats on release lists that a later report shows released."""

    seats: dict[Product, int]
    monthly: float
    reclaimed: tuple[ReleaseRow, ...]
    still_held: tuple[ReleaseRow, ...]  # marked Done but still held: listed again

    @property
    def total_seats(self) -> int:
        return sum(self.seats.values())


def verify(
    releases: Sequence[ReleaseRow],
    member: Callable[[str], UserRecord | None],
    prices: Mapping[Product, float],
) -> Savings:
    """Which released seats are gone in a user report after the release list; ``member`` finds
    a member of that report by email (``ReportIndex.user``: no scan of 50,000 members).

    A member missing from the report altogether was removed from the account: reclaimed.
    """
    seats: dict[Product, int] = {}
    monthly = 0.0
    reclaimed: list[ReleaseRow] = []
    held: list[ReleaseRow] = []
    for row in releases:
        holder = member(row.email)
        if holder is None or not getattr(holder.product_access, row.product.value):
            seats[row.product] = seats.get(row.product, 0) + 1
            monthly += prices.get(row.product, 0.0)
            reclaimed.append(row)
        elif row.done:
            held.append(row)
    return Savings(seats, monthly, tuple(reclaimed), tuple(held))


def savings_line(savings: Savings, *, period: str = "this month") -> str | None:
    """ "Reclaimed this month: 4 Live seats, $116 a month" (None when nothing was)."""
    if not savings.total_seats:
        return None
    parts = [
        f"{count} {product.label} seat{'s' if count != 1 else ''}"
        for product, count in savings.seats.items()
    ]
    money = f", ${savings.monthly:,.0f} a month" if savings.monthly else ""
    return f"Reclaimed {period}: {', '.join(parts)}{money}"

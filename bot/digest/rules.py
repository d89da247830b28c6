"""What the weekly idle-seat digest says, from a user report (and optionally a team report).

Pure: the clock is passed in, nothing is read or written. The idle rules themselves are
``bot.reports.analysis``'s (``idle_seats``, ``seat_counts``, ``parallel_rightsizing``); this module
only adds what a weekly digest needs on top of them:

- a *snapshot*: the set of idle seats, as ``(email, product)`` pairs (email case-folded, product
  by its report key), kept in the digest's history so that next week can tell what changed;
- the *change* since the last posted digest: seats *newly idle*, seats *back in use* (idle then,
  used now), and seats *released* (idle then, no longer held: access removed or member gone);
- idle seats per team (held vs used), the monthly cost of idle Live and App Live seats when
  ``SEAT_PRICES`` is set, the monthly cost of parallels above peak use when ``PARALLEL_PRICES`` is
  set, and the parallels that teams could give back (advice withheld on a period shorter than
  ``analysis.MIN_ADVICE_DAYS``).

The digest's report covers All-Products, so its period start is the evidence the idle rules use
for members without an entry (``analysis.idle_seats(since=...)``).

Excluded emails (service accounts) are left out of everything, last week's snapshot included, so
adding an exclusion never reads as "released".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from bot.browserstack.models import Product, TeamRecord, UserRecord
from bot.reports.analysis import (
    IdleMember,
    IdleSeatsReport,
    ParallelCost,
    ParallelsAdvice,
    RightsizingRow,
    Row,
    SeatCost,
    SeatCount,
    SeatState,
    idle_seats,
    members_of,
    org_overview,
    parallel_costs,
    parallels_advice,
    seat_counts,
    seat_state,
)

__all__ = [
    "DEFAULT_IDLE_DAYS",
    "Digest",
    "SeatCost",
    "SeatKey",
    "Snapshot",
    "TeamSeats",
    "WeekChange",
    "build_digest",
    "digest_period",
    "period_text",
    "seat_key",
    "week_key",
]

DEFAULT_IDLE_DAYS = 30

SeatKey = tuple[str, str]
"""One seat: (case-folded email, ``Product`` value)."""


def _email_key(email: str) -> str:
    # The same normalisation analysis.idle_seats applies to exclusions.
    return email.strip().casefold()


def seat_key(email: str, product: Product) -> SeatKey:
    """The key of one member's seat on one product, as snapshots store it."""
    return (_email_key(email), product.value)


def week_key(moment: datetime, tz: tzinfo) -> str:
    """The ISO week of ``moment`` in the digest's time zone, such as ``2026-W48``."""
    if moment.tzinfo is None:
        raise ValueError("week_key needs an aware datetime")
    year, week, _ = moment.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def digest_period(now: datetime, *, idle_days: int = DEFAULT_IDLE_DAYS) -> tuple[date, date]:
    """The report's dates: the last ``idle_days`` days up to today (UTC, as BrowserStack counts)."""
    if idle_days < 1:
        raise ValueError(f"idle_days must be at least 1, not {idle_days}")
    # The same span as ``/usage ... last 30d``, so the digest and the command agree.
    today = now.astimezone(UTC).date()
    # Both ends count (BrowserStack's dates are inclusive): 30 days end today, start 29 ago.
    return today - timedelta(days=idle_days - 1), today


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(day: date) -> str:
    # Not strftime: %b follows the process locale.
    return f"{day.day} {_MONTHS[day.month - 1]}"


def period_text(start: date, end: date) -> str:
    """``3 Nov – 3 Dec 2026``; the year twice only when the period spans two."""
    if start.year != end.year:
        return f"{_day(start)} {start.year} – {_day(end)} {end.year}"
    return f"{_day(start)} – {_day(end)} {end.year}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The idle seats a posted digest showed, and the ISO week it was posted for."""

    week: str
    seats: frozenset[SeatKey]


@dataclass(frozen=True, slots=True)
class WeekChange:
    """What changed since the previous digest (``since``: that digest's week)."""

    since: str
    newly_idle: tuple[IdleMember, ...]  # members with at least one newly idle seat
    new_seats: frozenset[SeatKey]
    back_in_use_seats: int
    released_seats: int

    @property
    def newly_idle_seats(self) -> int:
        return len(self.new_seats)

    @property
    def quiet(self) -> bool:
        """Nothing changed."""
        return not (self.newly_idle_seats or self.back_in_use_seats or self.released_seats)


class TeamSeats(Row, frozen=True):
    """One team's seats: held (access, reported), used, idle; ``name`` None for no team."""

    name: str | None
    seats: int
    used: int
    idle: int


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything the digest's summary and thread show, and the snapshot to keep for next week."""

    start: date
    end: date
    generated_at: datetime
    team: str | None
    late: bool
    idle: IdleSeatsReport
    team_seats: tuple[TeamSeats, ...]  # most idle seats first
    change: WeekChange | None  # None: the first digest for this channel
    costs: tuple[SeatCost, ...]  # empty when no price is configured
    unpriced: tuple[Product, ...]  # products with idle seats but no price, when some are priced
    rightsizing: tuple[RightsizingRow, ...]
    teams_reported: bool  # a team report was given, so rightsizing is meaningful
    snapshot: frozenset[SeatKey]
    parallel_costs: tuple[ParallelCost, ...] = ()  # empty when no parallel price is set
    advice: ParallelsAdvice | None = None  # None without a team report

    @property
    def parallels_monthly_cost(self) -> float | None:
        """Parallels above peak use, a month; None when no parallel price is set."""
        return sum(c.monthly for c in self.parallel_costs) if self.parallel_costs else None

    @property
    def seats(self) -> tuple[SeatCount, ...]:
        """Seats per product that someone holds (or might: not reported)."""
        return tuple(s for s in self.idle.seats if s.seats or s.unknown)

    @property
    def idle_seats(self) -> int:
        return self.idle.idle_seats

    @property
    def idle_members(self) -> int:
        """Members holding an idle Live or App Live seat."""
        return len(self.idle.seat_members)

    @property
    def fully_idle(self) -> int:
        return self.idle.fully_idle

    @property
    def never_used(self) -> int:
        return self.idle.never_used

    @property
    def monthly_cost(self) -> float | None:
        """The idle seats' monthly cost; None when no price is configured."""
        return sum(c.monthly for c in self.costs) if self.costs else None

    @property
    def freeable_parallels(self) -> int:
        return sum(row.freed for row in self.rightsizing)


# --- the parts ---------------------------------------------------------------------------------


def _idle_keys(members: Sequence[IdleMember]) -> list[tuple[SeatKey, ...]]:
    """Each member's idle seats as snapshot keys, in the order of ``members``."""
    # Members share a few tuples of products; Enum.value is slow enough to matter at 50,000.
    values: dict[tuple[Product, ...], tuple[str, ...]] = {}
    keys = []
    for member in members:
        products = member.idle_products
        named = values.get(products)
        if named is None:
            named = values[products] = tuple(p.value for p in products)
        email = _email_key(member.email)
        keys.append(tuple((email, value) for value in named))
    return keys


def _change(
    report: IdleSeatsReport,
    keys: Sequence[tuple[SeatKey, ...]],
    snapshot: frozenset[SeatKey],
    previous: Snapshot,
    users: Sequence[UserRecord],
    skip: Collection[str],
    since: date,
) -> WeekChange:
    before = frozenset(k for k in previous.seats if k[0] not in skip)
    new = snapshot - before
    gone = before - snapshot
    newly = tuple(m for m, own in zip(report.members, keys, strict=True) if not new.isdisjoint(own))
    # A seat no longer idle is back in use if its member now uses it; released if they no longer
    # hold it. One that is now unreported (a product-filtered report) is neither: we cannot tell.
    gone_emails = {email for email, _ in gone}
    current = {_email_key(u.email): u for u in users if _email_key(u.email) in gone_emails}
    back = released = 0
    for email, product in gone:
        user = current.get(email)
        state = (
            seat_state(user, Product(product), since=since)
            if user is not None
            else SeatState.NO_ACCESS
        )
        if state is SeatState.USED:
            back += 1
        elif state is SeatState.NO_ACCESS:
            released += 1
    return WeekChange(
        since=previous.week,
        newly_idle=newly,
        new_seats=new,
        back_in_use_seats=back,
        released_seats=released,
    )


def _team_seats(users: Iterable[UserRecord], since: date) -> tuple[TeamSeats, ...]:
    groups: dict[str | None, list[UserRecord]] = {}
    for user in users:
        # Grouped by the exact name, as idle_seats groups its idle teams.
        groups.setdefault(user.team, []).append(user)
    rows = []
    for name, group in groups.items():
        counts = seat_counts(group, since=since)
        seats = sum(c.seats for c in counts)
        if seats:
            used = sum(c.used for c in counts)
            rows.append(TeamSeats(name=name, seats=seats, used=used, idle=seats - used))
    rows.sort(key=lambda t: (-t.idle, -t.seats, t.name is None, (t.name or "").casefold()))
    return tuple(rows)


# --- the digest --------------------------------------------------------------------------------


def build_digest(
    users: Sequence[UserRecord],
    *,
    teams: Sequence[TeamRecord] | None = None,
    now: datetime,
    start: date,
    end: date,
    exclude: Collection[str] = (),
    seat_prices: Mapping[Product, float] | None = None,
    parallel_prices: Mapping[Product, float] | None = None,
    previous: Snapshot | None = None,
    team: str | None = None,
    late: bool = False,
    idle: IdleSeatsReport | None = None,
) -> Digest:
    """The digest of an All-Products user report covering ``start``..``end``; one team's when
    ``team`` is given.

    ``idle``: the org-wide idle seats of ``users`` already worked out with the same exclusions
    and prices (``bot.reports.cached``, which ``/usage idle`` shares); not for a team's digest.

    ``previous`` is the snapshot of the last digest posted to the same channel (None: the first).
    ``seat_prices`` are monthly prices of a Live / App Live seat; products without one get no
    cost. ``parallel_prices``: monthly price of an Automate / App Automate parallel.
    """
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if team is not None:
        users = members_of(users, team)
        wanted = team.strip().casefold()
        teams = None if teams is None else [t for t in teams if t.name.strip().casefold() == wanted]
    skip = {_email_key(email) for email in exclude}
    if idle is not None and team is not None:
        raise ValueError("a team's digest works out its own idle seats")
    report = idle or idle_seats(users, exclude=skip, now=now, since=start, seat_prices=seat_prices)
    kept = [u for u in users if _email_key(u.email) not in skip] if skip else users
    keys = _idle_keys(report.members)
    snapshot = frozenset(key for own in keys for key in own)
    advice = None if teams is None else parallels_advice(teams, start=start, end=end)
    priced = (
        parallel_costs(org_overview(teams, now=now).totals, parallel_prices)
        if teams is not None and parallel_prices
        else ()
    )
    return Digest(
        start=start,
        end=end,
        generated_at=now,
        team=team,
        late=late,
        idle=report,
        team_seats=_team_seats(kept, start),
        change=(
            None
            if previous is None
            else _change(report, keys, snapshot, previous, kept, skip, start)
        ),
        costs=report.costs,
        unpriced=report.unpriced,
        rightsizing=advice.rows if advice is not None else (),
        teams_reported=teams is not None,
        snapshot=snapshot,
        parallel_costs=priced,
        advice=advice,
    )

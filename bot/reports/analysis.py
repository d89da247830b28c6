"""Pure analysis of usage reports: summaries, rankings, idle seats and parallel rightsizing.

Nothing here reads the clock or does I/O: whatever depends on time takes ``now`` (aware, UTC). Each
function makes one pass over its input (top-n keeps a heap of n; only the returned idle members are
sorted), so a 50,000-user report takes a fraction of a second. Results are frozen dataclasses that
templates can read and msgspec can encode. Names and emails pass through unchanged: escaping is the
renderer's job.

The rules, in one place:

- A product is *reported* for a record when its ``product_data`` entry is present. A report filtered
  to one product carries only that product's entry, so an absent entry says nothing: the product is
  *unknown* for that record, never idle.
- A *seat* is a user with access (``product_access``) to a reported product. Usage recorded without
  access (access removed during the period, say) is shown and ranked, but is not a seat.
- A seat is *used* when its entry shows any tests, minutes or Cypress executions in the report's
  period (``ProductUsage.active``), and *idle* otherwise.
- A member is *fully idle* when they hold at least one seat, every seat is idle, and no product they
  have access to is unknown: someone who may be busy on an unreported product is not fully idle.
- A member has *never used* BrowserStack when the report has no ``last_test`` for them and no entry
  shows use: they never ran a test, whatever their logins say.
- *Last activity* is the later of ``last_activity`` and ``last_test``: the API says the first
  includes the second, and a row where it does not would otherwise look older than it is.
- A team is *active* when any entry shows minutes, tests or a parallel used in the period.
"""

from __future__ import annotations

import enum
import heapq
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import NamedTuple

from bot.browserstack.models import (
    Product,
    ProductData,
    ProductUsage,
    TeamRecord,
    Usage,
    UserRecord,
)
from bot.reports.humanize import relative_time

__all__ = [
    "IdleMember",
    "IdleSeatsReport",
    "IdleTeam",
    "OrgOverview",
    "ProductTotal",
    "RightsizingRow",
    "SeatCount",
    "SeatState",
    "TeamProductRow",
    "TeamSummary",
    "TopUser",
    "UserProductRow",
    "UserSummary",
    "idle_seats",
    "members_of",
    "org_overview",
    "parallel_rightsizing",
    "seat_counts",
    "seat_state",
    "team_summary",
    "top_users",
    "user_summary",
]

_PRODUCTS = tuple(Product)
_KEYS = tuple(p.value for p in _PRODUCTS)
# ProductAccess and ProductData name their fields alike, so one C-level getter reads either in
# Product order; Enum.value is a Python-level descriptor, far too slow for 50,000 users.
_by_product = attrgetter(*_KEYS)
_PARALLEL_PRODUCTS = (Product.AUTOMATE, Product.APP_AUTOMATE)
_SHARED_POOL = "org"  # parallel_consumption_type of parallels drawn from the org's pool
_ROOT_TEAM = "org"  # team type of the organisation's root


class SeatState(enum.StrEnum):
    """What a report says about one user's seat on one product."""

    USED = "used"
    IDLE = "idle"
    UNKNOWN = "unknown"
    NO_ACCESS = "no_access"


# The hot loops work on small ints (cheap to hash, unlike enum members) and name them at the end.
_NO_ACCESS, _UNKNOWN, _IDLE, _USED = range(4)
_STATE_NAMES = (SeatState.NO_ACCESS, SeatState.UNKNOWN, SeatState.IDLE, SeatState.USED)
_Codes = tuple[int, ...]


def _codes(user: UserRecord) -> _Codes:
    """State codes of the user's every product, in ``Product`` order."""
    # Unrolled, as this runs once per user and a loop over four products takes twice as long; a
    # fifth product would fail the unpacking loudly rather than be skipped.
    a0, a1, a2, a3 = _by_product(user.product_access)
    e0, e1, e2, e3 = _by_product(user.usage.product_data)
    return (
        _NO_ACCESS if not a0 else _UNKNOWN if e0 is None else _USED if e0.active else _IDLE,
        _NO_ACCESS if not a1 else _UNKNOWN if e1 is None else _USED if e1.active else _IDLE,
        _NO_ACCESS if not a2 else _UNKNOWN if e2 is None else _USED if e2.active else _IDLE,
        _NO_ACCESS if not a3 else _UNKNOWN if e3 is None else _USED if e3.active else _IDLE,
    )


def seat_state(user: UserRecord, product: Product) -> SeatState:
    """Classify ``user``'s seat on ``product`` by the module's rules."""
    return _STATE_NAMES[_codes(user)[_PRODUCTS.index(product)]]


def _int(value: object) -> int | None:
    # The model normalises max_parallels_used, but its declared type still admits other shapes.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _last_seen(usage: Usage) -> datetime | None:
    return usage.last_activity_at


def _days_since(then: datetime | None, now: datetime) -> int | None:
    return None if then is None else max(0, (now - then).days)


def _scope(products: Iterable[Product] | None) -> tuple[Product, ...]:
    if products is None:
        return _PRODUCTS
    wanted = set(products)
    return tuple(p for p in _PRODUCTS if p in wanted)


def _pick(
    codes: _Codes, wanted: int, scope: tuple[Product, ...] = _PRODUCTS
) -> tuple[Product, ...]:
    return tuple(
        p for p, code in zip(_PRODUCTS, codes, strict=True) if code == wanted and p in scope
    )


def _fully_idle(codes: _Codes) -> bool:
    return _IDLE in codes and _USED not in codes and _UNKNOWN not in codes


def _never_used(usage: Usage, last_test: datetime | None) -> bool:
    if last_test is not None:
        return False
    # Usage without access counts too: it is still proof of a test run.
    return not any(entry is not None and entry.active for entry in _by_product(usage.product_data))


# --- seats -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeatCount:
    """Seats on one product: held (access, reported), used, idle, unknown (access, unreported)."""

    product: Product
    seats: int
    used: int
    idle: int
    unknown: int

    @property
    def utilisation(self) -> float | None:
        """Share of held seats that were used; None without seats."""
        return self.used / self.seats if self.seats else None


def _seat_rows(
    combos: Counter[_Codes], scope: tuple[Product, ...], *, held_only: bool
) -> tuple[SeatCount, ...]:
    """Seat counts from how many users share each combination of codes (at most 4⁴ of them)."""
    seats = [0] * len(_PRODUCTS)
    used = [0] * len(_PRODUCTS)
    unknown = [0] * len(_PRODUCTS)
    for codes, users in combos.items():
        for i, code in enumerate(codes):
            if code == _USED:
                used[i] += users
            if code in (_USED, _IDLE):
                seats[i] += users
            elif code == _UNKNOWN:
                unknown[i] += users
    return tuple(
        SeatCount(product, seats[i], used[i], seats[i] - used[i], unknown[i])
        for i, product in enumerate(_PRODUCTS)
        if product in scope and not (held_only and not seats[i] and not unknown[i])
    )


def seat_counts(
    users: Iterable[UserRecord], *, products: Iterable[Product] | None = None
) -> tuple[SeatCount, ...]:
    """Seats held, used, idle and unknown per product (all products, or those given)."""
    return _seat_rows(Counter(map(_codes, users)), _scope(products), held_only=False)


def members_of(users: Iterable[UserRecord], team: str) -> list[UserRecord]:
    """Users whose team is ``team``, compared case-insensitively."""
    wanted = team.strip().casefold()
    return [u for u in users if (u.team or "").strip().casefold() == wanted]


# --- top users ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopUser:
    """One row of a usage ranking; ``product`` None means all products together."""

    rank: int
    name: str
    email: str
    team: str | None
    product: Product | None
    minutes_used: int
    tests_run: int


def _entries_of(
    product: Product | None,
) -> Callable[[ProductData], tuple[ProductUsage | None, ...]]:
    if product is None:
        return _by_product
    key = product.value
    return lambda data: (getattr(data, key),)


def _by_usage(
    users: Iterable[UserRecord], product: Product | None
) -> Iterator[tuple[int, int, str, str, int, UserRecord]]:
    """Users with usage, as sort keys: most minutes, then most tests, then email."""
    entries_of = _entries_of(product)
    for i, user in enumerate(users):
        minutes = tests = 0
        for entry in entries_of(user.usage.product_data):
            if entry is not None:
                minutes += entry.minutes_used or 0
                tests += entry.tests_run or 0
        if minutes or tests:
            # The index settles exact duplicates so the heap never compares records.
            yield (-minutes, -tests, user.email.casefold(), user.email, i, user)


def active_users(users: Iterable[UserRecord], *, product: Product | None = None) -> int:
    """How many users ran tests or used minutes (of ``product``): those ``top_users`` ranks."""
    return sum(1 for _ in _by_usage(users, product))


def top_users(
    users: Iterable[UserRecord], *, product: Product | None = None, n: int = 10
) -> list[TopUser]:
    """The ``n`` heaviest users by minutes, then tests, then email; users with no usage left out.

    Products without minutes (Automate, App Automate) thus rank by tests. Usage counts whether or
    not the user still has access: it happened.
    """
    if n <= 0:
        return []
    best = heapq.nsmallest(n, _by_usage(users, product))
    return [
        TopUser(
            rank=rank,
            name=user.name,
            email=user.email,
            team=user.team,
            product=product,
            minutes_used=-neg_minutes,
            tests_run=-neg_tests,
        )
        for rank, (neg_minutes, neg_tests, _, _, _, user) in enumerate(best, start=1)
    ]


# --- users -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserProductRow:
    """A user's standing on one product they have access to or a report entry for."""

    product: Product
    state: SeatState
    has_access: bool
    reported: bool
    tests_run: int | None
    minutes_used: int | None
    cypress_executions_run: int | None


@dataclass(frozen=True, slots=True)
class UserSummary:
    """One user's seats, usage per product, and when they were last seen."""

    name: str
    email: str
    role: str | None
    team: str | None
    products: tuple[UserProductRow, ...]
    used_products: tuple[Product, ...]
    idle_products: tuple[Product, ...]
    unknown_products: tuple[Product, ...]
    fully_idle: bool
    never_used: bool
    last_activity: datetime | None
    last_activity_text: str
    last_test: datetime | None
    last_test_text: str


def user_summary(user: UserRecord, *, now: datetime) -> UserSummary:
    """Everything the report says about one user, with idle and unknown products named."""
    data = user.usage.product_data
    codes = _codes(user)
    rows = []
    for product, code, entry in zip(_PRODUCTS, codes, _by_product(data), strict=True):
        if entry is None and code == _NO_ACCESS:
            continue
        rows.append(
            UserProductRow(
                product=product,
                state=_STATE_NAMES[code],
                has_access=code != _NO_ACCESS,
                reported=entry is not None,
                tests_run=entry.tests_run if entry else None,
                minutes_used=entry.minutes_used if entry else None,
                cypress_executions_run=entry.cypress_executions_run if entry else None,
            )
        )
    last_test = user.usage.last_test_at
    last_activity = user.usage.last_activity_at
    return UserSummary(
        name=user.name,
        email=user.email,
        role=user.role,
        team=user.team,
        products=tuple(rows),
        used_products=_pick(codes, _USED),
        idle_products=_pick(codes, _IDLE),
        unknown_products=_pick(codes, _UNKNOWN),
        fully_idle=_fully_idle(codes),
        never_used=_never_used(user.usage, last_test),
        last_activity=last_activity,
        last_activity_text=relative_time(last_activity, now=now),
        last_test=last_test,
        last_test_text=relative_time(last_test, now=now),
    )


# --- teams -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamProductRow:
    """A team's figures for one product it has access to or a report entry for."""

    product: Product
    has_access: bool
    reported: bool
    minutes_used: int | None
    tests_run: int | None
    parallels_allocated: int | None
    max_parallels_used: int | None
    consumption_type: str | None


@dataclass(frozen=True, slots=True)
class TeamSummary:
    """A team's usage; given its members, also ``seats`` (products held) and ``most_active``."""

    name: str
    type: str | None
    user_count: int | None
    products: tuple[TeamProductRow, ...]
    minutes_used: int
    tests_run: int
    parallels_used: int
    active: bool
    last_activity: datetime | None
    last_activity_text: str
    member_count: int | None = None
    seats: tuple[SeatCount, ...] = ()
    most_active: tuple[TopUser, ...] = ()


def _team_rows(team: TeamRecord) -> tuple[TeamProductRow, ...]:
    rows = []
    for product in _PRODUCTS:
        has_access = getattr(team.product_access, product.value)
        entry = team.usage.product_data.get(product)
        if entry is None and not has_access:
            continue
        rows.append(
            TeamProductRow(
                product=product,
                has_access=has_access,
                reported=entry is not None,
                minutes_used=entry.minutes_used if entry else None,
                tests_run=entry.tests_run if entry else None,
                parallels_allocated=_int(entry.current_parallels_allocated) if entry else None,
                max_parallels_used=_int(entry.max_parallels_used) if entry else None,
                consumption_type=entry.parallel_consumption_type if entry else None,
            )
        )
    return tuple(rows)


def team_summary(
    team: TeamRecord,
    *,
    members: Sequence[UserRecord] | None = None,
    now: datetime,
    top: int = 5,
) -> TeamSummary:
    """Summarise one team; with its ``members`` (see ``members_of``), add seats and top members."""
    rows = _team_rows(team)
    minutes = sum(r.minutes_used or 0 for r in rows)
    tests = sum(r.tests_run or 0 for r in rows)
    parallels = sum(r.max_parallels_used or 0 for r in rows)
    last = _last_seen(team.usage)
    seats: tuple[SeatCount, ...] = ()
    most_active: tuple[TopUser, ...] = ()
    if members is not None:
        combos = Counter(map(_codes, members))
        seats = _seat_rows(combos, _PRODUCTS, held_only=True)
        most_active = tuple(top_users(members, n=top))
    return TeamSummary(
        name=team.name,
        type=team.type,
        user_count=team.user_count,
        products=rows,
        minutes_used=minutes,
        tests_run=tests,
        parallels_used=parallels,
        active=bool(minutes or tests or parallels),
        last_activity=last,
        last_activity_text=relative_time(last, now=now),
        member_count=None if members is None else len(members),
        seats=seats,
        most_active=most_active,
    )


# --- organisation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductTotal:
    """One product across all teams; a figure is None when no team reported it.

    ``parallels_allocated`` counts teams' reserved parallels plus the shared org pool once (every
    team drawing on the pool reports its size). ``max_parallels_used`` adds up each team's peak, so
    it is an upper bound of the org's peak: teams need not peak at the same time.
    """

    product: Product
    teams_reporting: int
    minutes_used: int | None
    tests_run: int | None
    parallels_allocated: int | None
    max_parallels_used: int | None


@dataclass(frozen=True, slots=True)
class OrgOverview:
    """All teams, busiest first; ``seats`` and ``user_count`` need a user report."""

    teams: tuple[TeamSummary, ...]
    totals: tuple[ProductTotal, ...]
    team_count: int
    inactive_teams: int
    last_activity: datetime | None
    last_activity_text: str
    user_count: int | None = None
    seats: tuple[SeatCount, ...] = ()


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value


def _product_total(product: Product, summaries: Sequence[TeamSummary]) -> ProductTotal:
    reporting = 0
    minutes = tests = reserved = used = pool = None
    for summary in summaries:
        for row in summary.products:
            if row.product is not product or not row.reported:
                continue
            reporting += 1
            minutes = _add(minutes, row.minutes_used)
            tests = _add(tests, row.tests_run)
            used = _add(used, row.max_parallels_used)
            if row.consumption_type == _SHARED_POOL and row.parallels_allocated is not None:
                pool = max(pool or 0, row.parallels_allocated)
            else:
                reserved = _add(reserved, row.parallels_allocated)
    return ProductTotal(
        product=product,
        teams_reporting=reporting,
        minutes_used=minutes,
        tests_run=tests,
        parallels_allocated=_add(reserved, pool),
        max_parallels_used=used,
    )


def org_overview(
    teams: Sequence[TeamRecord],
    *,
    users: Sequence[UserRecord] | None = None,
    now: datetime,
) -> OrgOverview:
    """Every team ranked by usage (minutes, tests, parallels, then name), with org-wide totals."""
    summaries = sorted(
        (team_summary(team, now=now) for team in teams),
        key=lambda s: (-s.minutes_used, -s.tests_run, -s.parallels_used, s.name.casefold(), s.name),
    )
    seen = [s.last_activity for s in summaries if s.last_activity is not None]
    last = max(seen) if seen else None
    return OrgOverview(
        teams=tuple(summaries),
        totals=tuple(_product_total(p, summaries) for p in _PRODUCTS),
        team_count=len(summaries),
        inactive_teams=sum(1 for s in summaries if not s.active),
        last_activity=last,
        last_activity_text=relative_time(last, now=now),
        user_count=None if users is None else len(users),
        seats=() if users is None else seat_counts(users),
    )


# --- idle seats --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdleMember:
    """A member with at least one idle seat among the products asked about."""

    name: str
    email: str
    team: str | None
    role: str | None
    products: tuple[Product, ...]
    idle_products: tuple[Product, ...]
    unknown_products: tuple[Product, ...]
    fully_idle: bool
    never_used: bool
    last_activity: datetime | None
    last_activity_text: str
    days_inactive: int | None


@dataclass(frozen=True, slots=True)
class IdleTeam:
    """Idle members of one team (``name`` None for users without a team), most idle first."""

    name: str | None
    idle_seats: int
    members: tuple[IdleMember, ...]


@dataclass(frozen=True, slots=True)
class IdleSeatsReport:
    """Idle seats per product, per member and per team (teams with the most idle seats first)."""

    products: tuple[Product, ...]
    seats: tuple[SeatCount, ...]
    members: tuple[IdleMember, ...]
    teams: tuple[IdleTeam, ...]
    users_considered: int
    excluded: int

    @property
    def idle_seats(self) -> int:
        return sum(count.idle for count in self.seats)

    @property
    def fully_idle(self) -> int:
        return sum(1 for m in self.members if m.fully_idle)

    @property
    def never_used(self) -> int:
        return sum(1 for m in self.members if m.never_used)


def _member_order(member: IdleMember) -> tuple[bool, bool, float, str]:
    # Fully idle and never-used members first: they are the seats most worth reclaiming.
    last = member.last_activity.timestamp() if member.last_activity else float("-inf")
    return (not member.fully_idle, not member.never_used, last, member.email.casefold())


class _Verdict(NamedTuple):
    held: tuple[Product, ...]
    idle: tuple[Product, ...]
    unknown: tuple[Product, ...]
    fully_idle: bool


def _verdict(codes: _Codes, scope: tuple[Product, ...]) -> _Verdict:
    held = tuple(p for p, code in zip(_PRODUCTS, codes, strict=True) if code != _NO_ACCESS)
    return _Verdict(held, _pick(codes, _IDLE, scope), _pick(codes, _UNKNOWN), _fully_idle(codes))


def idle_seats(
    users: Iterable[UserRecord],
    *,
    products: Iterable[Product] | None = None,
    exclude: Collection[str] = (),
    now: datetime,
) -> IdleSeatsReport:
    """Seats with access but no use in the report's period, for all products or those given.

    ``exclude`` lists emails (case-insensitive) left out entirely, such as service accounts.
    ``fully_idle`` on a member looks at every product, not only those asked about.
    """
    scope = _scope(products)
    skip = {email.strip().casefold() for email in exclude}
    combos: Counter[_Codes] = Counter()
    # Users share few combinations of codes, so what follows from one is worked out once.
    verdicts: dict[_Codes, _Verdict] = {}
    members: list[IdleMember] = []
    excluded = 0
    for user in users:
        if skip and user.email.strip().casefold() in skip:
            excluded += 1
            continue
        codes = _codes(user)
        combos[codes] += 1
        verdict = verdicts.get(codes)
        if verdict is None:
            verdict = verdicts[codes] = _verdict(codes, scope)
        if not verdict.idle:
            continue
        last_test = user.usage.last_test_at
        last = user.usage.last_activity_at
        members.append(
            IdleMember(
                name=user.name,
                email=user.email,
                team=user.team,
                role=user.role,
                products=verdict.held,
                idle_products=verdict.idle,
                unknown_products=verdict.unknown,
                fully_idle=verdict.fully_idle,
                never_used=_never_used(user.usage, last_test),
                last_activity=last,
                last_activity_text=relative_time(last, now=now),
                days_inactive=_days_since(last, now),
            )
        )
    members.sort(key=_member_order)
    by_team: dict[str | None, list[IdleMember]] = {}
    for member in members:
        by_team.setdefault(member.team, []).append(member)
    teams = [
        IdleTeam(
            name=name, idle_seats=sum(len(m.idle_products) for m in group), members=tuple(group)
        )
        for name, group in by_team.items()
    ]
    teams.sort(key=lambda t: (-t.idle_seats, t.name is None, (t.name or "").casefold()))
    return IdleSeatsReport(
        products=scope,
        seats=_seat_rows(combos, scope, held_only=False),
        members=tuple(members),
        teams=tuple(teams),
        users_considered=combos.total(),
        excluded=excluded,
    )


# --- parallels ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RightsizingRow:
    """A team's parallels on one product that its peak use suggests could be freed."""

    team: str
    type: str | None
    product: Product
    consumption_type: str | None
    allocated: int
    max_used: int
    utilisation: float
    suggested: int
    freed: int


def parallel_rightsizing(
    teams: Sequence[TeamRecord],
    *,
    threshold: float = 0.5,
    min_allocated: int = 2,
    headroom: int = 1,
) -> list[RightsizingRow]:
    """Allocations whose peak use is at most ``threshold`` of them, most parallels to free first.

    The suggestion is the peak plus ``headroom``, never below 1. Teams drawing on the org's shared
    pool are skipped, the root ``org`` team aside: the pool's size is not theirs to give back.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
    if headroom < 0:
        raise ValueError(f"headroom cannot be negative, not {headroom}")
    rows = []
    for team in teams:
        for product in _PARALLEL_PRODUCTS:
            entry = team.usage.product_data.get(product)
            if entry is None:
                continue
            allocated = _int(entry.current_parallels_allocated)
            used = _int(entry.max_parallels_used)
            if allocated is None or used is None or allocated < max(min_allocated, 1):
                continue
            if entry.parallel_consumption_type == _SHARED_POOL and team.type != _ROOT_TEAM:
                continue
            if used > threshold * allocated:
                continue
            suggested = max(1, used + headroom)
            if suggested >= allocated:
                continue
            rows.append(
                RightsizingRow(
                    team=team.name,
                    type=team.type,
                    product=product,
                    consumption_type=entry.parallel_consumption_type,
                    allocated=allocated,
                    max_used=used,
                    utilisation=used / allocated,
                    suggested=suggested,
                    freed=allocated - suggested,
                )
            )
    rows.sort(key=lambda r: (-r.freed, r.team.casefold(), _PRODUCTS.index(r.product)))
    return rows

"""Pure analysis of usage reports: summaries, rankings, idle seats and parallel rightsizing.

Nothing here reads the clock or does I/O: whatever depends on time takes ``now`` (aware, UTC). Each
function makes one pass over its input (top-n keeps a heap of n; only the returned idle members are
sorted), so a 50,000-user report takes a fraction of a second. Results are frozen dataclasses, and
the rows kept by the thousand are ``Row`` structs; templates read both and msgspec encodes both.
Names and emails pass through unchanged: escaping is the renderer's job.

The rules, in one place:

- A product is *reported* for a record when its ``product_data`` entry is present.
- *Evidence* of no use: BrowserStack documents an entry for every product when a report covers
  All-Products, so an absent entry there, with ``last_test`` null or before the period's first
  day (``since``), proves that no test ran in the period: the seat is *idle*. Callers pass
  ``since`` (the report's start date) only for an All-Products report.
- Otherwise an absent entry says nothing: the product is *unknown* ("not reported") for that
  record, never idle. That is a one-product report, or ``last_test`` inside the period (a test
  ran on some product, maybe this one).
- A *seat* is a user with access (``product_access``) to a product that is reported or idle by
  evidence. Usage recorded without access (access removed during the period, say) is shown, ranked
  and flagged (*usage without access*), but is not a seat.
- A seat is *used* when its entry shows any tests, minutes or Cypress executions in the report's
  period (``ProductUsage.active``), and *idle* otherwise.
- Licences as BrowserStack bills them: Live and App Live are sold per user, so only their idle
  seats are *idle seats* that cost money (``SEAT_PRICES``). Automate and App Automate include
  unlimited users: access nobody used there is *unused access*, information only; their cost is
  parallels (``PARALLEL_PRICES``), and parallels *above peak use* are what could be saved.
- A member is *fully idle* when they hold at least one seat, every seat is idle, and no product they
  have access to is unknown: someone who may be busy on an unreported product is not fully idle.
- A member *never used BrowserStack* when the report has neither ``last_activity`` nor
  ``last_test`` for them and no entry shows use; they *never ran a test* when only ``last_test``
  is missing (and no entry shows use).
- *Last activity* is the later of ``last_activity`` and ``last_test``: the API says the first
  includes the second, and a row where it does not would otherwise look older than it is.
- Idle members are listed by what matters: monthly cost of their idle seats (most first), idle
  seats before unused access, then days idle (never active first), then email.
- *Activity*, the one measure rankings use over every product (busiest teams, top users): minutes
  (Live, App Live) plus test sessions (every product). Automate and App Automate report no
  minutes, so their tests count one each. A team report carries no test counts for automated
  products: with the user report, a team's tests are its members' (``org_overview(users=...)``).
- A team is *active* when any entry shows minutes, tests or a parallel used in the period.
- Parallels are *saturated* when the peak used equals (or exceeds) the allocation: tests queue.
- Parallels *advice* (rightsizing) keeps headroom above the peak and states its basis ("peak 2 of
  5 over 30 days"); it is only offered for a period of at least ``MIN_ADVICE_DAYS`` days, as a
  shorter one may miss the busy weeks.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property
from operator import attrgetter
from typing import NamedTuple

import msgspec

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
    "MIN_ADVICE_DAYS",
    "PARALLEL_PRODUCTS",
    "SEAT_PRODUCTS",
    "IdleMember",
    "IdleSeatsReport",
    "IdleTeam",
    "OrgOverview",
    "ParallelCost",
    "ParallelsAdvice",
    "ProductTotal",
    "RightsizingRow",
    "SaturatedRow",
    "SeatCost",
    "SeatCount",
    "SeatState",
    "TeamProductRow",
    "TeamSummary",
    "TopUser",
    "UnlicensedUse",
    "UserProductRow",
    "UserSummary",
    "check_prices",
    "idle_seats",
    "members_of",
    "org_overview",
    "parallel_costs",
    "parallel_rightsizing",
    "parallels_advice",
    "period_days",
    "saturated_parallels",
    "seat_costs",
    "seat_counts",
    "seat_state",
    "team_summary",
    "top_users",
    "unlicensed_use",
    "user_summary",
]

_PRODUCTS = tuple(Product)
_KEYS = tuple(p.value for p in _PRODUCTS)
# ProductAccess and ProductData name their fields alike, so one C-level getter reads either in
# Product order; Enum.value is a Python-level descriptor, far too slow for 50,000 users.
_by_product = attrgetter(*_KEYS)
_PARALLEL_PRODUCTS = (Product.AUTOMATE, Product.APP_AUTOMATE)
# BrowserStack's licences: Live and App Live per user; Automate and App Automate include unlimited
# users and are bought as parallels ("Manage product access" in the account).
SEAT_PRODUCTS = (Product.LIVE, Product.APP_LIVE)
PARALLEL_PRODUCTS = _PARALLEL_PRODUCTS
# Parallels advice needs a period long enough to hold the busy weeks of a month.
MIN_ADVICE_DAYS = 28
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


def _cutoff(since: date | None) -> datetime | None:
    """The first moment of the period (UTC, as BrowserStack counts days); None: no evidence."""
    return None if since is None else datetime.combine(since, time(), UTC)


def _codes(user: UserRecord, cutoff: datetime | None = None) -> _Codes:
    """State codes of the user's every product, in ``Product`` order (``cutoff``: see rules)."""
    # Unrolled, as this runs once per user and a loop over four products takes twice as long; a
    # fifth product would fail the unpacking loudly rather than be skipped.
    a0, a1, a2, a3 = _by_product(user.product_access)
    e0, e1, e2, e3 = _by_product(user.usage.product_data)
    codes = (
        _NO_ACCESS if not a0 else _UNKNOWN if e0 is None else _USED if e0.active else _IDLE,
        _NO_ACCESS if not a1 else _UNKNOWN if e1 is None else _USED if e1.active else _IDLE,
        _NO_ACCESS if not a2 else _UNKNOWN if e2 is None else _USED if e2.active else _IDLE,
        _NO_ACCESS if not a3 else _UNKNOWN if e3 is None else _USED if e3.active else _IDLE,
    )
    if cutoff is not None and _UNKNOWN in codes:
        # An All-Products report left the entry out: no test since the period began proves idle.
        last_test = user.usage.last_test_at
        if last_test is None or last_test < cutoff:
            return tuple(_IDLE if code == _UNKNOWN else code for code in codes)
    return codes


def seat_state(user: UserRecord, product: Product, *, since: date | None = None) -> SeatState:
    """Classify ``user``'s seat on ``product`` by the module's rules."""
    return _STATE_NAMES[_codes(user, _cutoff(since))[_PRODUCTS.index(product)]]


def unlicensed_use(user: UserRecord) -> tuple[Product, ...]:
    """Products the user ran tests or used minutes on without access to them."""
    return tuple(
        product
        for product, access, entry in zip(
            _PRODUCTS,
            _by_product(user.product_access),
            _by_product(user.usage.product_data),
            strict=True,
        )
        if not access and entry is not None and entry.active
    )


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


def _never_tested(usage: Usage, last_test: datetime | None) -> bool:
    if last_test is not None:
        return False
    # Usage without access counts too: it is still proof of a test run.
    return not any(entry is not None and entry.active for entry in _by_product(usage.product_data))


def _never_used(usage: Usage, last_test: datetime | None) -> bool:
    return not usage.last_activity and _never_tested(usage, last_test)


class Row(msgspec.Struct, frozen=True, gc=False):
    """A result row kept by the thousand with its report: frozen, and not tracked by the garbage
    collector.

    A 50,000-member report's idle list and team summaries hold some 65,000 rows for as long as
    the report is kept. As dataclasses each one was tracked, and every full collection walked
    them all (90 ms on the development machine, stalling every thread: an answer that met one
    waited for it). Rows hold strings, numbers, dates, enums and tuples of other rows, never
    anything that leads back to them, so they are in no reference cycle, as ``gc=False`` asks.
    Subclasses say ``frozen=True`` again for the type checker (msgspec would inherit it).
    """


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
    users: Iterable[UserRecord],
    *,
    products: Iterable[Product] | None = None,
    since: date | None = None,
) -> tuple[SeatCount, ...]:
    """Seats held, used, idle and unknown per product (all products, or those given)."""
    cutoff = _cutoff(since)
    combos = Counter(_codes(user, cutoff) for user in users)
    return _seat_rows(combos, _scope(products), held_only=False)


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

    @property
    def activity(self) -> int:
        """The ranking's measure: minutes plus test sessions (see the module's rules)."""
        return self.minutes_used + self.tests_run


def _entries_of(
    product: Product | None,
) -> Callable[[ProductData], tuple[ProductUsage | None, ...]]:
    if product is None:
        return _by_product
    key = product.value
    return lambda data: (getattr(data, key),)


def _by_usage(
    users: Iterable[UserRecord], product: Product | None
) -> Iterator[tuple[int, int, int, str, int, UserRecord]]:
    """Users with usage, as sort keys: most activity, then most tests, then email."""
    entries_of = _entries_of(product)
    for i, user in enumerate(users):
        minutes = tests = 0
        for entry in entries_of(user.usage.product_data):
            if entry is not None:
                minutes += entry.minutes_used or 0
                tests += entry.tests_run or 0
        if minutes or tests:
            # The index settles exact duplicates so the heap never compares records.
            yield (-(minutes + tests), -tests, -minutes, user.email.casefold(), i, user)


def active_users(users: Iterable[UserRecord], *, product: Product | None = None) -> int:
    """How many users ran tests or used minutes (of ``product``): those ``top_users`` ranks."""
    return sum(1 for _ in _by_usage(users, product))


def top_users(
    users: Iterable[UserRecord], *, product: Product | None = None, n: int = 10
) -> list[TopUser]:
    """The ``n`` most active users (minutes plus tests, over every product unless ``product`` is
    given), then most tests, then email; users with no usage left out.

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
        for rank, (_, neg_tests, neg_minutes, _, _, user) in enumerate(best, start=1)
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
    never_tested: bool = False
    usage_without_access: tuple[Product, ...] = ()


def user_summary(user: UserRecord, *, now: datetime, since: date | None = None) -> UserSummary:
    """Everything the report says about one user, with idle and unknown products named.

    ``since``: the period's first day, for an All-Products report only (see the rules).
    """
    data = user.usage.product_data
    codes = _codes(user, _cutoff(since))
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
        never_tested=_never_tested(user.usage, last_test),
        usage_without_access=unlicensed_use(user),
    )


# --- teams -------------------------------------------------------------------------------------


class TeamProductRow(Row, frozen=True):
    """A team's figures for one product it has access to or a report entry for."""

    product: Product
    has_access: bool
    reported: bool
    minutes_used: int | None
    tests_run: int | None
    parallels_allocated: int | None
    max_parallels_used: int | None
    consumption_type: str | None

    @property
    def saturated(self) -> bool:
        """The peak reached the allocation: tests queued for a parallel (see the rules)."""
        allocated, peak = self.parallels_allocated, self.max_parallels_used
        return bool(allocated) and peak is not None and peak >= (allocated or 0)


class TeamSummary(Row, frozen=True):
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
    usage_without_access: tuple[UnlicensedUse, ...] = ()
    # Given its members: how many hold an idle Live or App Live seat, and how many have Automate
    # or App Automate access they did not use (see the rules on licences).
    idle_members: int | None = None
    unused_access_members: int | None = None

    @property
    def activity(self) -> int:
        """The ranking's measure: minutes plus test sessions (see the module's rules)."""
        return self.minutes_used + self.tests_run

    @property
    def saturated(self) -> tuple[TeamProductRow, ...]:
        """Products whose parallels ran full in the period."""
        return tuple(row for row in self.products if row.saturated)


@dataclass(frozen=True, slots=True)
class UnlicensedUse:
    """A member who used products they have no access to (access removed, or a gap in it)."""

    name: str
    email: str
    team: str | None
    products: tuple[Product, ...]


def _unlicensed(users: Iterable[UserRecord]) -> tuple[UnlicensedUse, ...]:
    found = []
    for user in users:
        products = unlicensed_use(user)
        if products:
            found.append(UnlicensedUse(user.name, user.email, user.team, products))
    found.sort(key=lambda u: u.email.casefold())
    return tuple(found)


def _member_tests(members: Iterable[UserRecord]) -> list[int]:
    """Tests run by ``members``, per product in ``Product`` order."""
    tests = [0] * len(_PRODUCTS)
    for member in members:
        _count_tests(tests, member)
    return tests


def _count_tests(tests: list[int], member: UserRecord) -> None:
    """Add ``member``'s tests to ``tests`` (per product in ``Product`` order)."""
    for i, entry in enumerate(_by_product(member.usage.product_data)):
        if entry is not None and entry.tests_run:
            tests[i] += entry.tests_run


def _tests(entry: ProductUsage | None, member_tests: int | None) -> int | None:
    """The team's tests on a product: its report's count, else its members' (when known)."""
    if entry is not None and entry.tests_run is not None:
        return entry.tests_run
    return member_tests


def _team_rows(
    team: TeamRecord, member_tests: Sequence[int] | None = None
) -> tuple[TeamProductRow, ...]:
    """The team's products; ``member_tests`` fills the test counts a team report leaves out."""
    rows = []
    for i, product in enumerate(_PRODUCTS):
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
                tests_run=_tests(entry, None if member_tests is None else member_tests[i]),
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
    since: date | None = None,
) -> TeamSummary:
    """Summarise one team; with its ``members`` (see ``members_of``), add seats, top members,
    usage without access, and the tests a team report leaves out (``since``: see the rules)."""
    rows = _team_rows(team, None if members is None else _member_tests(members))
    minutes = sum(r.minutes_used or 0 for r in rows)
    tests = sum(r.tests_run or 0 for r in rows)
    parallels = sum(r.max_parallels_used or 0 for r in rows)
    last = _last_seen(team.usage)
    seats: tuple[SeatCount, ...] = ()
    most_active: tuple[TopUser, ...] = ()
    unlicensed: tuple[UnlicensedUse, ...] = ()
    idle_members = unused_members = 0
    if members is not None:
        cutoff = _cutoff(since)
        combos = Counter(_codes(member, cutoff) for member in members)
        seats = _seat_rows(combos, _PRODUCTS, held_only=True)
        most_active = tuple(top_users(members, n=top))
        unlicensed = _unlicensed(members)
        idle_members = _members_with(combos, _IDLE, SEAT_PRODUCTS)
        unused_members = _members_with(combos, _IDLE, PARALLEL_PRODUCTS)
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
        usage_without_access=unlicensed,
        idle_members=None if members is None else idle_members,
        unused_access_members=None if members is None else unused_members,
    )


def _members_with(combos: Counter[_Codes], code: int, products: Sequence[Product]) -> int:
    """How many members have ``code`` on any of ``products``."""
    at = [_PRODUCTS.index(product) for product in products]
    return sum(users for codes, users in combos.items() if any(codes[i] == code for i in at))


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


@dataclass(frozen=True)
class OrgOverview:
    """All teams, busiest first; ``seats`` and ``user_count`` need a user report.

    No slots, for ``cached_property``: an overview is kept with its report and read by every
    ``teams`` answer, and at 50,000 members it holds some 2,000 teams.
    """

    teams: tuple[TeamSummary, ...]
    totals: tuple[ProductTotal, ...]
    team_count: int
    inactive_teams: int
    last_activity: datetime | None
    last_activity_text: str
    user_count: int | None = None
    seats: tuple[SeatCount, ...] = ()

    @cached_property
    def saturated(self) -> tuple[tuple[TeamSummary, TeamProductRow], ...]:
        """Every team's products whose parallels ran full, in ranking order (worked out once:
        a pass over every team's products)."""
        return tuple((team, row) for team in self.teams for row in team.saturated)


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
    since: date | None = None,
) -> OrgOverview:
    """Every team ranked by activity (minutes plus tests, over every product), then peak
    parallels, then name, with org-wide totals.

    With ``users`` (the user report of the same period), a team's test counts that its team
    report leaves out (Automate, App Automate) are its members', so automated teams rank fairly.
    """
    # Counted member by member, not grouped first: a packed report decodes each member as it
    # is read, and a list of every decoded member (~55 MB at 50,000) would outlive the pass.
    tests_by_team: dict[str, list[int]] = {}
    if users is not None:
        for user in users:
            key = (user.team or "").strip().casefold()
            tests = tests_by_team.get(key)
            if tests is None:
                tests = tests_by_team[key] = [0] * len(_PRODUCTS)
            _count_tests(tests, user)

    def summary(team: TeamRecord) -> TeamSummary:
        if users is None:
            return team_summary(team, now=now)
        tests = tests_by_team.get(team.name.strip().casefold(), [0] * len(_PRODUCTS))
        rows = _team_rows(team, tests)
        base = team_summary(team, now=now)
        total = sum(r.tests_run or 0 for r in rows)
        return _replace_tests(base, rows, total)

    summaries = sorted(
        map(summary, teams),
        key=lambda s: (-s.activity, -s.parallels_used, s.name.casefold(), s.name),
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
        seats=() if users is None else seat_counts(users, since=since),
    )


def _replace_tests(
    summary: TeamSummary, rows: tuple[TeamProductRow, ...], tests: int
) -> TeamSummary:
    return msgspec.structs.replace(
        summary,
        products=rows,
        tests_run=tests,
        active=bool(summary.minutes_used or tests or summary.parallels_used),
    )


# --- idle seats --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeatCost:
    """What one product's idle seats cost a month at the configured price per seat."""

    product: Product
    idle_seats: int
    price: float
    monthly: float


class IdleMember(Row, frozen=True):
    """A member with at least one idle seat or unused access among the products asked about.

    ``idle_products`` holds both; ``idle_seats`` the per-user licences among them (Live, App
    Live), ``unused_access`` the rest (Automate, App Automate: no seat cost).
    """

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
    never_tested: bool = False
    monthly_cost: float = 0.0
    usage_without_access: tuple[Product, ...] = ()
    last_test: datetime | None = None  # what "idle since" means to a member asked about it

    @property
    def idle_seats(self) -> tuple[Product, ...]:
        return tuple(p for p in self.idle_products if p in SEAT_PRODUCTS)

    @property
    def unused_access(self) -> tuple[Product, ...]:
        return tuple(p for p in self.idle_products if p not in SEAT_PRODUCTS)


class IdleTeam(Row, frozen=True):
    """Idle members of one team (``name`` None for users without a team), costliest first."""

    name: str | None
    idle_seats: int
    members: tuple[IdleMember, ...]
    monthly_cost: float = 0.0
    unused_access: int = 0


@dataclass(frozen=True)
class IdleSeatsReport:
    """Idle seats per product, per member and per team (costliest teams first).

    ``idle_seats`` counts Live and App Live seats only; Automate and App Automate access nobody
    used is ``unused_access``. ``costs`` is empty when no seat price is set. The member counts
    are worked out once (no slots, for ``cached_property``): a cached report's idle list is
    read by every idle answer, and at 50,000 members it holds 30,000 people.
    """

    products: tuple[Product, ...]
    seats: tuple[SeatCount, ...]
    members: tuple[IdleMember, ...]
    teams: tuple[IdleTeam, ...]
    users_considered: int
    excluded: int
    costs: tuple[SeatCost, ...] = ()
    unpriced: tuple[Product, ...] = ()
    usage_without_access: tuple[UnlicensedUse, ...] = ()
    evidence: bool = False  # an All-Products report: missing entries could be judged

    @property
    def idle_seats(self) -> int:
        return sum(count.idle for count in self.seats if count.product in SEAT_PRODUCTS)

    @property
    def unused_access(self) -> int:
        return sum(count.idle for count in self.seats if count.product not in SEAT_PRODUCTS)

    @cached_property
    def seat_members(self) -> tuple[IdleMember, ...]:
        """Members holding at least one idle Live or App Live seat."""
        return tuple(m for m in self.members if m.idle_seats)

    @cached_property
    def access_members(self) -> tuple[IdleMember, ...]:
        """Members with Automate or App Automate access they did not use (information only)."""
        return tuple(m for m in self.members if m.unused_access)

    @cached_property
    def fully_idle(self) -> int:
        return sum(1 for m in self.members if m.fully_idle)

    @cached_property
    def never_used(self) -> int:
        return sum(1 for m in self.members if m.never_used)

    @cached_property
    def never_used_members(self) -> tuple[IdleMember, ...]:
        """Members who never used BrowserStack at all: no login, no test."""
        return tuple(m for m in self.members if m.never_used)

    @property
    def monthly_cost(self) -> float | None:
        """What the idle seats cost a month; None when no seat price is set."""
        return sum(c.monthly for c in self.costs) if self.costs else None


def _member_order(member: IdleMember) -> tuple[float, bool, float, str]:
    # What matters first: the money, then idle seats before unused access (which costs none),
    # then how long the member has been idle (never active first).
    days = member.days_inactive if member.days_inactive is not None else math.inf
    return (-member.monthly_cost, not member.idle_seats, -days, member.email.casefold())


class _Verdict(NamedTuple):
    held: tuple[Product, ...]
    idle: tuple[Product, ...]
    unknown: tuple[Product, ...]
    fully_idle: bool
    cost: float


def _verdict(
    codes: _Codes, scope: tuple[Product, ...], prices: Mapping[Product, float]
) -> _Verdict:
    held = tuple(p for p, code in zip(_PRODUCTS, codes, strict=True) if code != _NO_ACCESS)
    idle = _pick(codes, _IDLE, scope)
    cost = sum(prices.get(p, 0.0) for p in idle if p in SEAT_PRODUCTS)
    return _Verdict(held, idle, _pick(codes, _UNKNOWN), _fully_idle(codes), cost)


def check_prices(prices: Mapping[Product, float], products: Collection[Product], what: str) -> None:
    """Raise ValueError unless every price is a number ≥ 0 for one of ``products``."""
    for product, price in prices.items():
        if not isinstance(product, Product):
            raise TypeError(f"{what} are keyed by Product, not {product!r}")
        if product not in products:
            names = ", ".join(p.label for p in products)
            raise ValueError(f"{what} apply to {names} only, not {product.label}")
        if not math.isfinite(price) or price < 0:
            raise ValueError(
                f"the {what[:-1]} of {product.label} must be a number ≥ 0, not {price}"
            )


def seat_costs(
    seats: Iterable[SeatCount], prices: Mapping[Product, float]
) -> tuple[tuple[SeatCost, ...], tuple[Product, ...]]:
    """Monthly cost of idle Live and App Live seats; and products with idle seats but no price."""
    check_prices(prices, SEAT_PRODUCTS, "seat prices")
    if not prices:
        return (), ()
    costs: list[SeatCost] = []
    unpriced: list[Product] = []
    for count in seats:
        if count.product not in SEAT_PRODUCTS or not count.idle:
            continue
        price = prices.get(count.product)
        if price is None:
            unpriced.append(count.product)
        else:
            costs.append(SeatCost(count.product, count.idle, price, count.idle * price))
    return tuple(costs), tuple(unpriced)


def idle_seats(
    users: Iterable[UserRecord],
    *,
    products: Iterable[Product] | None = None,
    exclude: Collection[str] = (),
    now: datetime,
    since: date | None = None,
    seat_prices: Mapping[Product, float] | None = None,
) -> IdleSeatsReport:
    """Seats with access but no use in the report's period, for all products or those given.

    ``exclude`` lists emails (case-insensitive) left out entirely, such as service accounts.
    ``fully_idle`` on a member looks at every product, not only those asked about. ``since`` is
    the period's first day, given only for an All-Products report (see the rules).
    ``seat_prices``: monthly price of a Live or App Live seat.
    """
    scope = _scope(products)
    prices = dict(seat_prices or {})
    check_prices(prices, SEAT_PRODUCTS, "seat prices")
    cutoff = _cutoff(since)
    skip = {email.strip().casefold() for email in exclude}
    combos: Counter[_Codes] = Counter()
    # Users share few combinations of codes, so what follows from one is worked out once.
    verdicts: dict[_Codes, _Verdict] = {}
    members: list[IdleMember] = []
    unlicensed: list[UnlicensedUse] = []
    excluded = 0
    # Team names and roles repeat across members: one string each, not one per member (the
    # list of a 50,000-member organisation is kept with its report).
    shared: dict[str | None, str | None] = {}
    # Likewise "3 weeks ago": a few dozen texts for 30,000 members.
    texts: dict[str, str] = {}
    for user in users:
        if skip and user.email.strip().casefold() in skip:
            excluded += 1
            continue
        codes = _codes(user, cutoff)
        combos[codes] += 1
        without_access = unlicensed_use(user) if _NO_ACCESS in codes else ()
        if without_access:
            unlicensed.append(UnlicensedUse(user.name, user.email, user.team, without_access))
        verdict = verdicts.get(codes)
        if verdict is None:
            verdict = verdicts[codes] = _verdict(codes, scope, prices)
        if not verdict.idle:
            continue
        last_test = user.usage.last_test_at
        last = user.usage.last_activity_at
        if last is not None and last_test is not None and last_test.tzinfo is last.tzinfo:
            last_test = last if last_test == last else last_test  # one object when the same
        text = relative_time(last, now=now)
        members.append(
            IdleMember(
                name=user.name,
                email=user.email,
                team=shared.setdefault(user.team, user.team),
                role=shared.setdefault(user.role, user.role),
                products=verdict.held,
                idle_products=verdict.idle,
                unknown_products=verdict.unknown,
                fully_idle=verdict.fully_idle,
                never_used=_never_used(user.usage, last_test),
                last_activity=last,
                last_activity_text=texts.setdefault(text, text),
                days_inactive=_days_since(last, now),
                never_tested=_never_tested(user.usage, last_test),
                monthly_cost=verdict.cost,
                usage_without_access=without_access,
                last_test=last_test,
            )
        )
    members.sort(key=_member_order)
    by_team: dict[str | None, list[IdleMember]] = {}
    for member in members:
        by_team.setdefault(member.team, []).append(member)
    teams = [
        IdleTeam(
            name=name,
            idle_seats=sum(len(m.idle_seats) for m in group),
            members=tuple(group),
            monthly_cost=sum(m.monthly_cost for m in group),
            unused_access=sum(len(m.unused_access) for m in group),
        )
        for name, group in by_team.items()
    ]
    teams.sort(
        key=lambda t: (
            -t.monthly_cost,
            -t.idle_seats,
            -t.unused_access,
            t.name is None,
            (t.name or "").casefold(),
        )
    )
    seats = _seat_rows(combos, scope, held_only=False)
    costs, unpriced = seat_costs(seats, prices)
    unlicensed.sort(key=lambda u: u.email.casefold())
    return IdleSeatsReport(
        products=scope,
        seats=seats,
        members=tuple(members),
        teams=tuple(teams),
        users_considered=combos.total(),
        excluded=excluded,
        costs=costs,
        unpriced=unpriced,
        usage_without_access=tuple(unlicensed),
        evidence=cutoff is not None,
    )


# --- parallels ---------------------------------------------------------------------------------


class RightsizingRow(Row, frozen=True):
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
    days: int | None = None  # the period the peak was measured over

    @property
    def spare(self) -> int:
        """Parallels the suggestion keeps above the peak."""
        return self.suggested - self.max_used


@dataclass(frozen=True, slots=True)
class ParallelsAdvice:
    """Rightsizing advice for a period, or why none is offered (``offered`` False: too short)."""

    days: int
    rows: tuple[RightsizingRow, ...]
    offered: bool
    min_days: int = MIN_ADVICE_DAYS

    @property
    def freeable(self) -> int:
        return sum(row.freed for row in self.rows)


@dataclass(frozen=True, slots=True)
class SaturatedRow:
    """A team's parallels on one product that ran full: tests waited for a free parallel."""

    team: str
    product: Product
    allocated: int
    max_used: int


@dataclass(frozen=True, slots=True)
class ParallelCost:
    """What one product's parallels above the org's peak use cost a month."""

    product: Product
    allocated: int
    peak: int
    above_peak: int
    price: float
    monthly: float


def period_days(start: date, end: date) -> int:
    """Days a report covers, both ends counted (BrowserStack's dates are inclusive)."""
    return (end - start).days + 1


def _allocations(
    teams: Iterable[TeamRecord],
) -> Iterator[tuple[TeamRecord, Product, ProductUsage, int | None, int | None]]:
    """Each team's entry on each product with parallels: its allocation and its peak."""
    for team in teams:
        for product in _PARALLEL_PRODUCTS:
            entry = team.usage.product_data.get(product)
            if entry is not None:
                allocated = _int(entry.current_parallels_allocated)
                yield team, product, entry, allocated, _int(entry.max_parallels_used)


def parallel_rightsizing(
    teams: Sequence[TeamRecord],
    *,
    threshold: float = 0.5,
    min_allocated: int = 2,
    headroom: int = 1,
    headroom_share: float = 0.25,
    days: int | None = None,
) -> list[RightsizingRow]:
    """Allocations whose peak use is at most ``threshold`` of them, most parallels to free first.

    The suggestion keeps headroom: the peak plus ``headroom_share`` of it, at least ``headroom``
    more, never below 1. Teams drawing on the org's shared pool are skipped, the root ``org`` team
    aside: the pool's size is not theirs to give back. ``days``: the period the peaks cover.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be between 0 and 1, not {threshold}")
    if headroom < 0 or headroom_share < 0:
        raise ValueError(f"headroom cannot be negative, not {headroom} / {headroom_share}")
    rows = []
    for team, product, entry, allocated, used in _allocations(teams):
        if allocated is None or used is None or allocated < max(min_allocated, 1):
            continue
        if entry.parallel_consumption_type == _SHARED_POOL and team.type != _ROOT_TEAM:
            continue
        if used > threshold * allocated:
            continue
        spare = max(headroom, math.ceil(used * headroom_share))
        suggested = max(1, used + spare)
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
                days=days,
            )
        )
    rows.sort(key=lambda r: (-r.freed, r.team.casefold(), _PRODUCTS.index(r.product)))
    return rows


def parallels_advice(
    teams: Sequence[TeamRecord], *, start: date, end: date, min_days: int = MIN_ADVICE_DAYS
) -> ParallelsAdvice:
    """Rightsizing for the period ``start``..``end``; withheld when it is shorter than
    ``min_days``, since a short period may miss the weeks the parallels are needed."""
    days = period_days(start, end)
    if days < min_days:
        return ParallelsAdvice(days=days, rows=(), offered=False, min_days=min_days)
    rows = tuple(parallel_rightsizing(teams, days=days))
    return ParallelsAdvice(days=days, rows=rows, offered=True, min_days=min_days)


def saturated_parallels(teams: Sequence[TeamRecord]) -> list[SaturatedRow]:
    """Allocations whose peak reached them, biggest allocation first (see the rules)."""
    rows = [
        SaturatedRow(team.name, product, allocated, used)
        for team, product, _, allocated, used in _allocations(teams)
        if allocated and used is not None and used >= allocated
    ]
    rows.sort(key=lambda r: (-r.allocated, r.team.casefold(), _PRODUCTS.index(r.product)))
    return rows


def parallel_costs(
    totals: Iterable[ProductTotal], prices: Mapping[Product, float]
) -> tuple[ParallelCost, ...]:
    """Monthly cost of the parallels above peak use, per priced Automate / App Automate product.

    The org's peak is taken as the sum of its teams' peaks (an upper bound), so the figure is a
    floor: the parallels above it are certainly unused at the busiest moment of each team.
    """
    check_prices(prices, PARALLEL_PRODUCTS, "parallel prices")
    costs = []
    for total in totals:
        price = prices.get(total.product)
        if price is None or total.parallels_allocated is None:
            continue
        peak = total.max_parallels_used or 0
        above = max(0, total.parallels_allocated - peak)
        allocated = total.parallels_allocated
        costs.append(ParallelCost(total.product, allocated, peak, above, price, above * price))
    return tuple(costs)

"""A deterministic synthetic organisation: the people and teams behind the sandbox's reports.

Same seed, size and ``today`` give the same bytes. Usage is a function of the period that stays
consistent however the bot slices it: each user has, per product, a cumulative count of tests that
never decreases with the day, and a period's usage is ``cum(end) - cum(start - 1)``. So a longer
period never shows less, a period without activity shows zeros, and ``last_test`` is the day the
count last went up. Tests happen on weekdays only; logins (``last_activity``) on any day.

Choices the API text leaves open: every record carries an entry for each product the filter
selects, with zeros where the person has no access; ``last_test`` and ``last_activity`` describe
the person whatever the product filter; a member's parallels fields are their team's, with
``max_parallels_used`` the team's peak when anyone in it used the product in the period, else 0.

The API text's two examples are fixtures, included verbatim in every report whatever the period:
user "Steve" (who counts in his root team's totals) and team "Acme team". That example is not
self-consistent (Live minutes, though its members have no Live access; the same numbers for every
period), so "Acme team" is the one team that is not the sum of its members.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import math
import random
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from bot.browserstack.models import Product, ReportKind

log = logging.getLogger(__name__)
T = TypeVar("T")

ROOT_TEAM = "Acme Inc. (Org)"
ACME_TEAM = "Acme team"
STEVE: dict[str, Any] = {
    "name": "Steve",
    "email": "steve@example.com",
    "role": "Owner",
    "team": ROOT_TEAM,
    "product_access": {
        "live_testing": True,
        "automate": False,
        "app_live_testing": True,
        "app_automate": False,
    },
    "usage": {
        "last_activity": "2023-06-30T11:33:40+00:00",
        "last_test": "2023-06-30T11:33:40+00:00",
        "product_data": {
            "live_testing": {"tests_run": 10, "minutes_used": 180},
            "app_live_testing": {"tests_run": 10, "minutes_used": 120},
            "automate": {
                "tests_run": 10,
                "cypress_executions_run": 5,
                "current_parallels_allocated": 5,
                "max_parallels_used": 2,
                "parallel_consumption_type": "org",
            },
            "app_automate": {
                "tests_run": 10,
                "current_parallels_allocated": 3,
                "max_parallels_used": 2,
                "parallel_consumption_type": "team",
            },
        },
    },
}
ACME: dict[str, Any] = {
    "name": ACME_TEAM,
    "user_count": 10,
    "type": "org",
    "product_access": {
        "live_testing": False,
        "automate": True,
        "app_live_testing": False,
        "app_automate": True,
    },
    "usage": {
        "last_test": "2023-06-30T11:33:40+00:00",
        "product_data": {
            "live_testing": {"minutes_used": 180},
            "app_live_testing": {"minutes_used": 120},
            "automate": {
                "current_parallels_allocated": 5,
                "max_parallels_used": 2,
                "parallel_consumption_type": "team",
            },
            "app_automate": {
                "current_parallels_allocated": 3,
                "max_parallels_used": 2,
                "parallel_consumption_type": "team",
            },
        },
    },
}

# Product indices, in product_access order (live, automate, app live, app automate).
LIVE, AUTO, APP_LIVE, APP_AUTO = range(4)
_KEYS = ("live_testing", "automate", "app_live_testing", "app_automate")
_INDEX = {Product(key): i for i, key in enumerate(_KEYS)}
_DATA_ORDER = (LIVE, APP_LIVE, AUTO, APP_AUTO)  # product_data order of the API text
_MINUTES = (LIVE, APP_LIVE)
_AUTOMATED = (AUTO, APP_AUTO)
_OPEN = dt.date.max.toordinal()  # "still active": beyond any date a report can ask for

_FIRST = (
    "Aarav", "Aiko", "Alex", "Amara", "Ana", "Anders", "Ben", "Bianca", "Carlos", "Chen", "Chiara",
    "Dan", "Daria", "Deepa", "Diego", "Elif", "Emma", "Ethan", "Fatima", "Femi", "Grace", "Hana",
    "Hugo", "Ines", "Ivan", "Jana", "Jin", "José", "Kai", "Karim", "Lena", "Liam", "Lucía", "Maya",
    "Mehmet", "Mia", "Nadia", "Noah", "Nora", "Olga", "Omar", "Pablo", "Priya", "Rafael", "Rin",
    "Sami", "Sara", "Sofia", "Tariq", "Tom", "Uma", "Valentina", "Wei", "Yara", "Yusuf", "Zoë",
    "Zara", "Björn", "Siobhán", "Kwame",
)  # fmt: skip
_LAST = (
    "Adeyemi", "Andersen", "Bauer", "Becker", "Brown", "Castro", "Chen", "Costa", "Das", "Dubois",
    "Eriksen", "Fischer", "Garcia", "Gupta", "Hansen", "Hoffmann", "Ibrahim", "Ito", "Jansen",
    "Jones", "Kim", "Kowalski", "Kumar", "Larsen", "Lee", "Lopez", "Martin", "Meyer", "Moreau",
    "Müller", "Nakamura", "Nguyen", "Novak", "O'Neil", "Okafor", "Patel", "Petrov", "Popescu",
    "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith", "Sousa", "Suzuki", "Tanaka",
    "Taylor", "Torres", "Wagner", "Walsh", "Wang", "Weber", "Williams", "Wong", "Yilmaz", "Zhang",
    "Ødegaard", "Ní Bhriain",
)  # fmt: skip
_AREAS = (
    "Payments", "Checkout", "Search", "Mobile Web", "Identity", "Growth", "Platform", "Billing",
    "Onboarding", "Design System", "Data", "Infrastructure", "Marketplace", "Notifications",
    "Messaging", "Partner API", "Storefront", "Catalog", "Logistics", "Support Tools", "Analytics",
    "Security", "Accessibility", "Localization", "Ads", "Loyalty", "Pricing", "Fraud", "Maps",
    "Media", "Video", "Reviews", "Recommendations", "Subscriptions", "Customer Portal",
    "Admin Console", "Desktop", "Release", "Performance", "Compliance",
)  # fmt: skip
_SUFFIXES = ("", " QA", " Web", " iOS", " Android", " Automation", " Core", " Frontend", " E2E")
_SUFFIX_PROFILE = {
    " Web": (LIVE, AUTO),
    " Frontend": (LIVE, AUTO),
    " iOS": (APP_LIVE, APP_AUTO),
    " Android": (APP_LIVE, APP_AUTO),
    " QA": (LIVE, AUTO, APP_LIVE, APP_AUTO),
    " E2E": (AUTO, APP_AUTO),
    " Automation": (AUTO, APP_AUTO),
}
_PROFILES = ((LIVE, AUTO), (APP_LIVE, APP_AUTO), (LIVE, AUTO, APP_LIVE, APP_AUTO), (LIVE, APP_LIVE))
# Names that must be escaped in Slack mrkdwn, so the bot's escaping is always exercised.
HOSTILE_TEAMS = ("R&D <Labs>", "Q&A <Core>")
HOSTILE_USERS = ("Ana & Bo <Contractor>", "Robert <b>Tables</b>")

# (category, cumulative probability): the mix of people a real enterprise account has.
_CATEGORIES = (
    ("heavy", 0.08),
    ("regular", 0.38),
    ("light", 0.56),
    ("new", 0.60),
    ("mixed", 0.68),
    ("lapsed", 0.80),  # has access, used it long ago
    ("seat_never", 0.90),  # has access, never used it
    ("never", 1.0),  # never used BrowserStack at all; half have no product access either
)


def _weekdays_through(day: int) -> int:
    """Number of weekdays among ordinal days 1..day (ordinal 1 is a Monday)."""
    weeks, rest = divmod(day, 7)
    return weeks * 5 + min(rest, 5)


def _nth_weekday(count: int) -> int:
    """The ordinal of the ``count``-th weekday: the inverse of ``_weekdays_through``."""
    weeks, rest = divmod(count, 5)
    return weeks * 7 - 2 if rest == 0 else weeks * 7 + rest


@dataclass(slots=True)
class _Activity:
    """Tests on one product at ``rate`` a weekday, from day ``first`` to ``until`` (ordinals)."""

    first: int
    until: int
    rate: float
    minutes_per_test: float = 0.0
    cypress_share: float = 0.0
    base: int = 0  # weekdays before ``first``
    w_until: int = 0  # weekdays through ``until``

    def __post_init__(self) -> None:
        self.base = _weekdays_through(self.first - 1)
        self.w_until = _W_OPEN if self.until == _OPEN else _weekdays_through(self.until)

    def tests_through(self, day: int, weekdays: int) -> int:
        """Cumulative tests up to ``day`` (``weekdays`` = its weekday count): never decreasing."""
        if day < self.first:
            return 0
        return int(self.rate * ((weekdays if day <= self.until else self.w_until) - self.base))

    def last_test_day(self, total: int) -> int:
        """The day the cumulative count reached ``total`` (> 0): the last test up to then."""
        # The smallest weekday count reaching ``total``; float rounding makes ceil only a guess.
        n = max(1, math.ceil(total / self.rate))
        while n > 1 and int(self.rate * (n - 1)) >= total:
            n -= 1
        while int(self.rate * n) < total:
            n += 1
        return _nth_weekday(self.base + n)


@dataclass(slots=True)
class _User:
    name: str
    email: str
    role: str
    team: int
    access: int  # bit p set: access to product index p
    activity: tuple[_Activity | None, ...]  # by product index; all None for a non-user
    login_first: int  # logins every ``login_every`` days from first to last; 0 = never logged in
    login_last: int
    login_every: int
    test_time: str
    login_time: str
    category: str


@dataclass(slots=True)
class _Team:
    name: str
    type: str
    # Per automated product: (current_parallels_allocated, peak used, parallel_consumption_type).
    parallels: dict[int, tuple[int, int, str]]
    members: int = 0
    access: int = 0


class SyntheticOrg:
    """A made-up enterprise account: ``users`` synthetic people plus Steve, from ``seed``."""

    def __init__(
        self, seed: int = 42, users: int = 2000, *, today: dt.date, sparse: bool = False
    ) -> None:
        if users < 10:
            raise ValueError("a synthetic org needs at least 10 users (Acme team has 10 members)")
        self.seed = seed
        self.size = users
        self.today = today
        # User records leave out the entries of products unused in the period (off by default).
        self.sparse = sparse
        self.teams: list[_Team] = []
        self.users: list[_User] = []  # Steve is not here: he is a fixture, see STEVE
        self._periods: dict[tuple[int, int], _Period] = {}  # oldest first
        self._lock = threading.Lock()
        _Builder(self, random.Random(f"usagebot-sandbox:{seed}:{users}")).build()
        log.debug("synthetic org: %d users, %d teams (seed %d)", users, len(self.teams), seed)

    def categories(self) -> dict[str, int]:
        """How many synthetic users fall in each usage category (heavy, lapsed, never...)."""
        counts: dict[str, int] = {}
        for user in self.users:
            counts[user.category] = counts.get(user.category, 0) + 1
        return counts

    def revoke(self, email: str, product: Product | str) -> bool:
        """Remove one member's access to ``product``, as an admin does in BrowserStack's UI.

        Reports made afterwards show it (``product_access`` false); False for an unknown email.
        Teams keep their access: it is the union of their members' at build time.
        """
        bit = 1 << _INDEX[Product(product)]
        with self._lock:
            for user in self.users:
                if user.email.lower() == email.lower():
                    user.access &= ~bit
                    self._periods.clear()  # measured with the old access
                    return True
        return False

    def report_data(
        self,
        kind: ReportKind | str,
        *,
        start: dt.date,
        end: dt.date,
        product: Product | None = None,
    ) -> dict[str, Any]:
        """The report's ``data`` object for the period ``start``..``end`` (inclusive)."""
        return self._data(kind, start, end, product, shared=False)

    def _data(
        self,
        kind: ReportKind | str,
        start: dt.date,
        end: dt.date,
        product: Product | None,
        *,
        shared: bool,
    ) -> dict[str, Any]:
        """``shared``: records may share read-only dicts, fine for encoding but not for callers."""
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        kind = ReportKind(kind)
        wanted = _DATA_ORDER if product is None else (_INDEX[Product(product)],)
        period = self._period(start.toordinal(), end.toordinal())
        if kind is ReportKind.USER:
            return {"users": period.user_records(wanted, shared=shared)}
        return {"teams": period.team_records(wanted)}

    def _period(self, start: int, end: int) -> _Period:
        """The period's measurements, from a cache of the last two."""
        # User and team reports of one period (and its product filters) usually come together.
        with self._lock:
            period = self._periods.pop((start, end), None)
        if period is None:
            period = _Period(self, start, end)
        with self._lock:
            self._periods[start, end] = period
            while len(self._periods) > 2:
                del self._periods[next(iter(self._periods))]
        return period

    def report_body(
        self,
        kind: ReportKind | str,
        *,
        start: dt.date,
        end: dt.date,
        product: Product | None = None,
    ) -> bytes:
        """The whole 200 answer of GET report, as bytes."""
        data = self._data(kind, start, end, product, shared=True)
        return msgspec.json.encode({"success": True, "message": "Success", "data": data})


class _Builder:
    """Draws the organisation; ``random()`` only, as ``randint``/``choice`` cost 5x more at 50k."""

    def __init__(self, org: SyntheticOrg, rng: random.Random) -> None:
        self.org = org
        self.rng = rng
        self.r = rng.random
        self.today = org.today.toordinal()
        self.emails: dict[str, int] = {"steve": 1}

    def between(self, low: int, high: int) -> int:
        """A uniform integer in ``low..high`` inclusive."""
        return low + int(self.r() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.r() * len(items))]

    def build(self) -> None:
        org, rng = self.org, self.rng
        root = _Team(ROOT_TEAM, "org", {AUTO: (5, 2, "org"), APP_AUTO: (3, 2, "team")})
        acme = _Team(ACME_TEAM, "org", {AUTO: (5, 2, "team"), APP_AUTO: (3, 2, "team")})
        org.teams += [root, acme]
        # Ten members to match Acme team's user_count; the doc shows the team Automate-only.
        for i in range(10):
            self.add_user(1, (AUTO, APP_AUTO), "Team Admin" if i == 0 else "User", full=True)
        rest = org.size - 10
        root_members = min(rest, max(1, org.size // 100))
        if rest - root_members < 4:
            root_members = rest
        for i in range(root_members):
            self.add_user(0, (LIVE, AUTO, APP_LIVE, APP_AUTO), "Admin" if i < 3 else "User")
        sizes = _zipf_sizes(rest - root_members, rng)
        for size, (name, profile) in zip(sizes, self.team_names(len(sizes)), strict=True):
            team = len(org.teams)
            org.teams.append(_Team(name, "team", {p: self.parallels() for p in _AUTOMATED}))
            for i in range(size):
                self.add_user(team, profile, "Team Admin" if i == 0 else "User")
        # Two people (not in Acme team, the first ten) get names that need escaping.
        picks = rng.sample(range(10, len(org.users)), min(len(HOSTILE_USERS), len(org.users) - 10))
        for index, name in zip(picks, HOSTILE_USERS, strict=False):
            org.users[index].name = name
        rng.shuffle(org.users)  # interleave teams: a real export is not grouped
        root.members, root.access = 1, _mask(STEVE["product_access"])  # Steve
        for user in org.users:
            members = org.teams[user.team]
            members.members += 1
            members.access |= user.access

    def team_names(self, count: int) -> list[tuple[str, tuple[int, ...]]]:
        combos = [(area, suffix) for area in _AREAS for suffix in _SUFFIXES]
        self.rng.shuffle(combos)
        names = []
        for i in range(count):
            area, suffix = combos[i % len(combos)]
            round_ = i // len(combos)
            name = f"{area}{suffix}" + (f" {round_ + 1}" if round_ else "")
            names.append((name, _SUFFIX_PROFILE.get(suffix) or self.pick(_PROFILES)))
        # A large team and a mid-sized one get names that need escaping.
        for hostile, index in zip(HOSTILE_TEAMS, (min(2, count - 1), count // 2), strict=True):
            if count and all(n != hostile for n, _ in names):
                names[index] = (hostile, names[index][1])
        return names

    def parallels(self) -> tuple[int, int, str]:
        """A team's parallels: over-allocated, near its allocation, in between, or the org pool."""
        roll = self.r()
        if roll < 0.2:
            return self.between(10, 25), self.between(1, 2), "team"
        if roll < 0.55:
            allocated = self.between(2, 10)
            return allocated, max(1, allocated - self.between(0, 1)), "team"
        if roll < 0.9:
            allocated = self.between(3, 15)
            return allocated, self.between(1, allocated), "team"
        return 0, self.between(1, 4), "org"

    def add_user(
        self, team: int, profile: tuple[int, ...], role: str, *, full: bool = False
    ) -> None:
        """Add one person; ``full``: access to every product of the profile, whatever they use."""
        r, between = self.r, self.between
        first, last = self.pick(_FIRST), self.pick(_LAST)
        roll = r()
        for category, upto in _CATEGORIES:  # noqa: B007 - the loop finds the category
            if roll < upto:
                break
        access = 0
        for product in profile:
            if full or r() < 0.8:
                access |= 1 << product
        if not access:
            access = 1 << self.pick(profile)
        if category == "mixed" and access.bit_count() < 2:
            access |= 1 << self.pick(_OWNED[15 ^ access])
        if category == "never" and not full and r() < 0.5:
            access = 0
        activity = self.activity(category, _OWNED[access])
        if activity is not _NO_ACTIVITY:
            active = [a for a in activity if a is not None]
            login_first = min(a.first for a in active) - between(0, 30)
            until = max(a.until for a in active)
            login_last = until if until == _OPEN else until + between(0, 45)
        elif r() < 0.6:
            login_first = self.today - between(10, 700)
            login_last = login_first + between(0, 300)
        else:
            login_first = login_last = 0
        times = _TIMES
        self.org.users.append(
            _User(
                f"{first} {last}",
                self.email(first, last),
                role,
                team,
                access,
                activity,
                login_first,
                login_last,
                between(1, 7),
                times[int(r() * len(times))],
                times[int(r() * len(times))],
                category,
            )
        )

    def activity(self, category: str, owned: tuple[int, ...]) -> tuple[_Activity | None, ...]:
        t, between = self.today, self.between
        acts: list[_Activity | None] = [None, None, None, None]
        if category in ("seat_never", "never") or not owned:
            return _NO_ACTIVITY
        if category == "heavy":
            for p in owned:
                acts[p] = self.new_activity(p, t - between(120, 1000), _OPEN, scale=6.0)
        elif category in ("regular", "new"):
            chosen = [p for p in owned if self.r() < 0.6] or [self.pick(owned)]
            for p in chosen:
                first = t - (between(0, 10) if category == "new" else between(30, 900))
                # A few regulars stopped recently: active last month, quiet this week.
                until = t - between(3, 20) if self.r() < 0.1 else _OPEN
                acts[p] = self.new_activity(p, first, max(first, until))
        elif category == "light":
            p = self.pick(owned)
            acts[p] = self.new_activity(p, t - between(30, 900), _OPEN, scale=0.15)
        elif category == "mixed":
            active, idle = self.rng.sample(owned, 2)
            acts[active] = self.new_activity(active, t - between(30, 700), _OPEN)
            if self.r() < 0.6:  # else: has the second product but never touched it
                acts[idle] = self.new_activity(idle, t - between(400, 1200), t - between(60, 390))
        elif category == "lapsed":
            until = t - between(45, 400)
            for p in owned:
                acts[p] = self.new_activity(p, until - between(30, 800), until)
        return tuple(acts)

    def new_activity(self, product: int, first: int, until: int, scale: float = 1.0) -> _Activity:
        """Rates per weekday: people run a few long interactive sessions, CI many short tests."""
        r = self.r
        if product in _MINUTES:
            rate = (0.3 + 1.2 * r()) * scale
            return _Activity(first, until, rate, minutes_per_test=4.0 + 26.0 * r())
        cypress = 0.1 + 0.7 * r() if product == AUTO and r() < 0.3 else 0.0
        return _Activity(first, until, (2.0 + 18.0 * r()) * scale, cypress_share=cypress)

    def email(self, first: str, last: str) -> str:
        local = f"{_ascii(first)}.{_ascii(last)}"
        seen = self.emails[local] = self.emails.get(local, 0) + 1
        return f"{local}{seen if seen > 1 else ''}@example.com"


class _Period:
    """One report's arithmetic: every user's usage in the period, then each team's totals."""

    def __init__(self, org: SyntheticOrg, start: int, end: int) -> None:
        self.org = org
        self.today = org.today.toordinal()
        n_teams = len(org.teams)
        self.minutes = [[0] * n_teams for _ in range(4)]
        self.used = [[False] * n_teams for _ in range(4)]
        self.last_activity = [""] * n_teams
        self._days: dict[int, str] = {}
        self.rows: list[tuple[_User, list[tuple[int, int, int]], str | None, str | None]] = []
        self._measure(start, end)
        self._add_steve()

    def _stamp(self, day: int, time_of_day: str) -> str:
        if day >= self.today:
            # Today's activity goes in the small hours, so it is (nearly always) in the past.
            time_of_day = "00" + time_of_day[2:]
        iso = self._days.get(day)
        if iso is None:
            iso = self._days[day] = dt.date.fromordinal(day).isoformat()
        return f"{iso}T{time_of_day}+00:00"

    def _measure(self, start: int, end: int) -> None:
        """Usage of every user in the period; the hot loop of a 50k-user report."""
        used, minutes_by_team = self.used, self.minutes
        last_by_team, rows, stamp = self.last_activity, self.rows, self._stamp
        before, w_before, w_end = start - 1, _weekdays_through(start - 1), _weekdays_through(end)
        zeros = [(0, 0, 0)] * 4  # by product index
        for user in self.org.users:
            team, activity = user.team, user.activity
            last_day = 0
            if activity is _NO_ACTIVITY:
                counts = zeros
            else:
                counts = list(zeros)
                for p, act in enumerate(activity):
                    if act is None or not (upto := act.tests_through(end, w_end)):
                        continue
                    last_day = max(last_day, act.last_test_day(upto))
                    prior = act.tests_through(before, w_before)
                    tests = upto - prior
                    mpt, share = act.minutes_per_test, act.cypress_share
                    minutes = int(upto * mpt) - int(prior * mpt)
                    counts[p] = (tests, minutes, int(upto * share) - int(prior * share))
                    if tests:
                        used[p][team] = True
                        minutes_by_team[p][team] += minutes
            last_test = stamp(last_day, user.test_time) if last_day else None
            last_activity = last_test
            if user.login_first and end >= user.login_first:
                span = min(end, user.login_last) - user.login_first
                login = user.login_first + span // user.login_every * user.login_every
                last_activity = max(stamp(login, user.login_time), last_test or "")
            if last_activity and last_activity > last_by_team[team]:
                last_by_team[team] = last_activity
            rows.append((user, counts, last_test, last_activity))

    def _add_steve(self) -> None:
        """Steve is a member of the root team: his fixed usage counts in its totals."""
        data = STEVE["usage"]["product_data"]
        for p in range(4):
            entry = data[_KEYS[p]]
            self.used[p][0] = self.used[p][0] or bool(entry["tests_run"])
            self.minutes[p][0] += entry.get("minutes_used", 0)
        self.last_activity[0] = max(self.last_activity[0], STEVE["usage"]["last_activity"])

    def _parallels(self, team: int, product: int) -> dict[str, Any]:
        allocated, peak, kind = self.org.teams[team].parallels[product]
        return {
            "current_parallels_allocated": allocated,
            # The team's peak, if anyone in the team used the product in the period.
            "max_parallels_used": peak if self.used[product][team] else 0,
            "parallel_consumption_type": kind,
        }

    def user_records(self, wanted: tuple[int, ...], *, shared: bool) -> list[dict[str, Any]]:
        """User records with the ``wanted`` products' entries; last_test covers all products."""
        teams = self.org.teams
        names = [team.name for team in teams]
        parallels = {p: [self._parallels(i, p) for i in range(len(teams))] for p in _AUTOMATED}
        records = [_filtered(STEVE, wanted)]
        sparse = self.org.sparse
        for user, counts, last_test, last_activity in self.rows:
            product_data = {}
            for p in wanted:
                tests, minutes, cypress = counts[p]
                if sparse and not (tests or minutes or cypress):
                    continue
                if p in _MINUTES:
                    product_data[_KEYS[p]] = {"tests_run": tests, "minutes_used": minutes}
                elif p == AUTO:
                    product_data["automate"] = {
                        "tests_run": tests,
                        "cypress_executions_run": cypress,
                        **parallels[AUTO][user.team],
                    }
                else:
                    product_data["app_automate"] = {
                        "tests_run": tests,
                        **parallels[APP_AUTO][user.team],
                    }
            if last_activity:
                usage: dict[str, Any] = {"last_activity": last_activity}
                if last_test:
                    usage["last_test"] = last_test
                usage["product_data"] = product_data
            else:
                usage = {"product_data": product_data}
            records.append(
                {
                    "name": user.name,
                    "email": user.email,
                    "role": user.role,
                    "team": names[user.team],
                    "product_access": (
                        _ACCESS_DICTS[user.access] if shared else dict(_ACCESS_DICTS[user.access])
                    ),
                    "usage": usage,
                }
            )
        return records

    def team_records(self, wanted: tuple[int, ...]) -> list[dict[str, Any]]:
        records = []
        for i, team in enumerate(self.org.teams):
            if team.name == ACME_TEAM:
                records.append(_filtered(ACME, wanted))
                continue
            product_data = {}
            for p in wanted:
                if p in _MINUTES:
                    product_data[_KEYS[p]] = {"minutes_used": self.minutes[p][i]}
                else:
                    product_data[_KEYS[p]] = self._parallels(i, p)
            usage: dict[str, Any] = {}
            if self.last_activity[i]:
                usage["last_activity"] = self.last_activity[i]
            usage["product_data"] = product_data
            records.append(
                {
                    "name": team.name,
                    "user_count": team.members,
                    "type": team.type,
                    "product_access": dict(_ACCESS_DICTS[team.access]),
                    "usage": usage,
                }
            )
        return records


_NO_ACTIVITY: tuple[_Activity | None, ...] = (None, None, None, None)
_W_OPEN = _weekdays_through(_OPEN)
_OWNED = [tuple(p for p in range(4) if mask >> p & 1) for mask in range(16)]
# Every time of day a stamp can carry, formatted once rather than twice per user.
_TIMES = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(7 * 3600, 20 * 3600)]
# One dict per access combination, shared by every record that has it (encoding only reads them).
_ACCESS_DICTS = [{key: bool(mask >> i & 1) for i, key in enumerate(_KEYS)} for mask in range(16)]


def _mask(flags: dict[str, bool]) -> int:
    return sum(1 << i for i, key in enumerate(_KEYS) if flags[key])


def _filtered(fixture: dict[str, Any], wanted: tuple[int, ...]) -> dict[str, Any]:
    """A copy of a fixture record with only the wanted products' ``product_data`` entries."""
    record = copy.deepcopy(fixture)
    data = record["usage"]["product_data"]
    record["usage"]["product_data"] = {_KEYS[p]: data[_KEYS[p]] for p in _DATA_ORDER if p in wanted}
    return record


def _zipf_sizes(total: int, rng: random.Random) -> list[int]:
    """Split ``total`` people into about total/25 teams, a few of hundreds and many of 2–10."""
    if total <= 0:
        return []
    count = max(1, min(round(total / 25), total // 3))
    # Exponent 1.2 rather than 1: more people in the head, so most teams stay small.
    weights = [1.0 / (i + 1) ** 1.2 for i in range(count)]
    scale = total / sum(weights)
    sizes = sorted((max(2, int(w * scale * rng.uniform(0.8, 1.2))) for w in weights), reverse=True)
    # Settle the rounding on the largest teams, where a few people either way go unnoticed.
    i = 0
    while (diff := total - sum(sizes)) != 0:
        step = 1 if diff > 0 else -1
        if sizes[i % count] + step >= 2:
            sizes[i % count] += step
        i += 1
    return sizes


@functools.cache
def _ascii(name: str) -> str:
    """An email-safe lower-case form of a name: "Zoë" → "zoe", "O'Neil" → "oneil"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum()) or "user"

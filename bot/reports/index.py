"""What answers need from one report, worked out once and kept with it.

A cached answer must cost the size of the answer, not of the organisation: at 50,000 members,
finding one email by scanning the users, grouping them by team, or recomputing idle seats for
each command costs 0.1 to 3 s of CPU, under the GIL, per command (issue 9). So a report gets an
index the first time an answer reads it: its members by email and by team, and its emails and
team names for "did you mean" (``NameIndex``). What an answer computes from the whole report
(idle seats, the teams overview, top lists) is computed once per report and kept with it
(``derived``), so that the next question about the same report reuses it.

The index lives in the report's instance dictionary (``Report`` is a ``dict=True`` struct):
it goes when the report goes, and a report the store replaces is indexed afresh. Figures kept
this way are as of the report's fetch (``Report.fetched_at``), which is what the report knows;
a cached report is at most ``REPORT_CACHE_SECONDS`` old.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar

import msgspec

from bot.browserstack.models import (
    Product,
    ProductData,
    Report,
    TeamRecord,
    UserRecord,
)
from bot.reports.humanize import NameIndex
from bot.reports.joined import JoinedStrings
from bot.reports.packed import PackedUsers

__all__ = ["ReportIndex", "identity", "index_of", "narrow", "prices_key"]

T = TypeVar("T")
R = TypeVar("R", UserRecord, TeamRecord)

# Derived results kept, all reports together, counted in rows (members, teams): an idle list of
# 30,000 members is ~13 MB, and teams asked about one by one would otherwise pile up. The least
# recently used goes first; the results in use (idle, teams, top, the digest) stay. The budget
# grows to twice the members of the largest report indexed: below that, one organisation's idle
# list could push out the rest, and be pushed out itself by the next small result.
_ROWS_KEPT = 100_000
_ROWS_PER_MEMBER = 2
_ATTRIBUTE = "_usagebot_index"
_creating = threading.Lock()


def index_of(report: Report) -> ReportIndex:
    """The report's index, made on first use (one per report, whoever asks first)."""
    found: ReportIndex | None = report.__dict__.get(_ATTRIBUTE)
    if found is None:
        with _creating:
            found = report.__dict__.get(_ATTRIBUTE)
            if found is None:
                found = report.__dict__[_ATTRIBUTE] = ReportIndex(report)
    return found


def identity(report: Report) -> tuple[object, ...]:
    """Names another report in a derived result's key (the user report a team answer reads):
    a report fetched again is another report."""
    return (report.kind, report.filters, report.fetched_at)


def prices_key(prices: Mapping[Product, float] | None) -> tuple[tuple[Product, float], ...]:
    """Prices (a mapping) as part of a derived result's key."""
    return tuple(sorted((prices or {}).items()))


def narrow(record: R, product: Product) -> R:
    """The record as BrowserStack's product filter would have sent it: one product's entry."""
    kept = msgspec.structs.replace(
        ProductData(), **{product.value: record.usage.product_data.get(product)}
    )
    usage = msgspec.structs.replace(record.usage, product_data=kept)
    return msgspec.structs.replace(record, usage=usage)


class _Keys(msgspec.Struct, gc=False):
    """What the index reads of each member (``PackedUsers.fields``)."""

    email: str = ""
    team: str | None = None


class ReportIndex:
    """Lookups into one report, and results derived from it, each built once."""

    def __init__(self, report: Report) -> None:
        # The rows, not the report: the report holds this index, and a cycle would keep both
        # alive until the garbage collector runs.
        self._users: Sequence[UserRecord] = report.users
        self._teams: Sequence[TeamRecord] = report.teams
        _kept.fit(len(self._users))
        self._derived: dict[Hashable, Any] = {}
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    # Members

    @cached_property
    def _scan(self) -> tuple[JoinedStrings, dict[str, array[int]]]:
        """One pass over the members (packed ones are decoded as read): every row's email,
        which the lookups below share, and the rows of each team."""
        emails: list[str] = []
        teams: dict[str, array[int]] = {}
        users = self._users
        # Packed members are decoded to their email and team only.
        members: Iterable[_Keys | UserRecord] = (
            users.fields(_Keys) if isinstance(users, PackedUsers) else users
        )
        for position, user in enumerate(members):
            emails.append(user.email)
            key = (user.team or "").strip().casefold()
            rows = teams.get(key)
            if rows is None:
                rows = teams[key] = array("L")
            rows.append(position)
        return JoinedStrings(emails), teams

    @property
    def _emails(self) -> JoinedStrings:
        return self._scan[0]

    @cached_property
    def _by_email(self) -> tuple[JoinedStrings, array[int]]:
        """Every row's email in lower case, and the rows that have one in the order of their
        emails (a stable sort: rows of one email in report order), for lookups by bisection.
        A dict of 50,000 emails and their rows was ~3 MB; these are ~0.4 MB, or ~2 MB where
        some email is not in lower case already."""
        emails = self._emails
        lowered = [email.lower() for email in emails]
        same = all(a == b for a, b in zip(lowered, emails, strict=True))
        keys = emails if same else JoinedStrings(lowered)
        rows = sorted((i for i, email in enumerate(lowered) if email), key=lowered.__getitem__)
        return keys, array("L", rows)

    @cached_property
    def emails(self) -> NameIndex:
        """Every email, for "did you mean"."""
        return NameIndex(email for email in self._emails if email)

    def user(self, email: str) -> UserRecord | None:
        """The member with this email (case-insensitive), or None. Of two rows with one email,
        the last, as a dict built from the rows would have it."""
        wanted = email.strip().lower()
        keys, rows = self._by_email
        at = bisect.bisect_right(rows, wanted, key=keys.__getitem__)
        if wanted and at and keys[rows[at - 1]] == wanted:
            return self._users[rows[at - 1]]
        return None

    def members(self, team: str) -> list[UserRecord]:
        """The members whose team is ``team``, compared case-insensitively, in report order."""
        positions = self._scan[1].get(team.strip().casefold(), ())
        return [self._users[i] for i in positions]

    # Teams

    @cached_property
    def _teams_by_name(self) -> dict[str, TeamRecord]:
        return {team.name: team for team in self._teams}

    @cached_property
    def team_names(self) -> NameIndex:
        """Every team's name, for lookups and "did you mean"."""
        return NameIndex(self._teams_by_name)

    def team(self, name: str) -> TeamRecord | None:
        """The team of this exact name."""
        return self._teams_by_name.get(name)

    # Derived results

    def derived(
        self, key: Hashable, compute: Callable[[], T], *, rows: Callable[[T], int] | None = None
    ) -> T:
        """``compute()``, once per ``key`` for this report while it stays among the recent;
        ``rows`` says how many rows (members, teams) the result holds, for the memory budget.

        Two threads asking for the same key wait for one computation rather than doing it twice.
        """
        with self._lock:
            if key in self._derived:
                found: T = self._derived[key]
                _kept.touch(self, key)
                return found
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if key in self._derived:
                    done: T = self._derived[key]
                    return done
            value = compute()
            with self._lock:
                self._derived[key] = value
                self._computing.pop(key, None)
            _kept.add(self, key, 1 + (rows(value) if rows is not None else 0))
        return value

    def _forget(self, key: Hashable) -> None:
        with self._lock:
            self._derived.pop(key, None)


class _Kept:
    """Every index's derived results, least recently used first, within ``_ROWS_KEPT`` rows."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._rows: OrderedDict[tuple[int, Hashable], int] = OrderedDict()
        self._owners: dict[int, weakref.ref[ReportIndex]] = {}
        self._total = 0
        # Re-entrant: an index collected while this is held (a weakref callback) leaves here.
        self._lock = threading.RLock()

    def add(self, index: ReportIndex, key: Hashable, rows: int) -> None:
        owner = id(index)
        evicted: list[tuple[ReportIndex, Hashable]] = []
        with self._lock:
            if owner not in self._owners:
                self._owners[owner] = weakref.ref(index, lambda _: self._gone(owner))
            self._total += rows - self._rows.pop((owner, key), 0)
            self._rows[(owner, key)] = rows
            while self._total > self._budget and len(self._rows) > 1:
                (old_owner, old_key), old_rows = self._rows.popitem(last=False)
                self._total -= old_rows
                found = self._owners[old_owner]()
                if found is not None:
                    evicted.append((found, old_key))
        for found, old_key in evicted:  # outside the lock: each index takes its own
            found._forget(old_key)

    def fit(self, members: int) -> None:
        """Make room for the results of a report of ``members`` members."""
        with self._lock:
            self._budget = max(self._budget, _ROWS_PER_MEMBER * members)

    def touch(self, index: ReportIndex, key: Hashable) -> None:
        with self._lock:
            if (id(index), key) in self._rows:
                self._rows.move_to_end((id(index), key))

    def _gone(self, owner: int) -> None:
        """An index was collected with its report: its results no longer count."""
        with self._lock:
            self._owners.pop(owner, None)
            for entry in [entry for entry in self._rows if entry[0] == owner]:
                self._total -= self._rows.pop(entry)


_kept = _Kept(_ROWS_KEPT)

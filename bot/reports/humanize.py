"""Words for people: relative times ("3 days ago") and "did you mean" name lookups.

Pure functions: the current time is passed in, nothing is escaped (that is the renderer's job).
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import itertools
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from bot.reports.joined import JoinedStrings

if TYPE_CHECKING:
    from bot.reports.grams import Trigrams

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
# Low enough for a typo in a short name ("acne") to suggest "Acme team", high enough to keep
# unrelated names out of the suggestions.
_CUTOFF = 0.4
_SPREAD = 0.2
# Rounding between rapidfuzz's score (a percentage) and difflib's ratio.
_EPSILON = 1e-9
# rapidfuzz's ``process.extract`` leaves out a name whose score is the ``score_cutoff`` to within
# ~1e-6 (a name scored 93.33... fell under a cutoff of 93.33... - 1e-6): the cutoff it is given is
# this much lower, and difflib's ratio decides.
_SCORE_SLACK = 1e-3
_making_grams = threading.Lock()


def _aware(moment: datetime) -> datetime:
    # Naive times are read as UTC, as the report parser does, rather than failing on comparison.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ago(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def relative_time(then: datetime | None, *, now: datetime) -> str:
    """Say how long ago ``then`` was: "just now", "3 hours ago", "yesterday"; "never" for None."""
    if then is None:
        return "never"
    seconds = (_aware(now) - _aware(then)).total_seconds()
    # Future timestamps come from clock skew between BrowserStack and us: they mean "now".
    if seconds < _MINUTE:
        return "just now"
    if seconds < _HOUR:
        return _ago(int(seconds // _MINUTE), "minute")
    if seconds < _DAY:
        return _ago(int(seconds // _HOUR), "hour")
    # Counted in elapsed days, not calendar days: we do not know the reader's time zone.
    days = int(seconds // _DAY)
    if days < 2:
        return "yesterday"
    if days < 14:
        return _ago(days, "day")
    if days < 60:
        return _ago(days // 7, "week")
    if days < 365:
        return _ago(min(days // 30, 11), "month")
    return "over a year ago"


@dataclass(frozen=True, slots=True)
class NameMatch:
    """Outcome of a name lookup: the one name meant, or the closest names to suggest."""

    query: str
    match: str | None
    suggestions: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.match is not None


def find_by_name(names: Iterable[str], query: str, *, limit: int = 3) -> NameMatch:
    """Find the name ``query`` means (case-insensitive), or up to ``limit`` suggestions.

    An exact match wins, then a unique substring; several substrings become the suggestions
    (prefixes first); otherwise the names most similar by difflib are suggested. For many
    lookups in the same names (a report's 50,000 emails), build a ``NameIndex`` once.
    """
    return NameIndex(names).find(query, limit=limit)


class NameIndex:
    """Names prepared once for many ``find_by_name`` lookups.

    At 50,000 emails, difflib over every name takes seconds. Here exact names are found by
    bisection; names holding the query are found among the names holding its rarest three-letter
    gram (none, for most typos), or by ``str.find`` over one joined string; and difflib's ratio is
    computed only for the names rapidfuzz ranks first: its Indel ratio counts the longest common
    subsequence, never fewer matching characters than difflib's blocks, so it bounds difflib's
    ratio from above, and the search stops once that bound falls below the suggestions found.
    Nor does rapidfuzz rank every name: only those sharing enough grams with the query to reach
    the suggestions found so far (``bot.reports.grams``), a few hundred of 50,000 emails for a
    typo. The answers are the same as difflib over every name.

    An index is kept with each report, so it holds no string per name: the folded names live in
    the one joined string (a name is sliced out when read), names whose spelling differs from
    their folded form are kept apart, and the exact lookup is the positions sorted by folded
    name. At 50,000 emails that is ~2 MB, where lists of the names and a dict of them took ~6 MB;
    the first lookup that ranks names adds the names by gram (``_trigrams``, ~2.5 MB, ~0.1 s to
    make), and the first that ranks most of them their list (``_keys``, ~4 MB).
    """

    # Joins the folded names for the substring search; a query holding it is matched name by name.
    _SEPARATOR = "\n"
    # Names past which one pass over the list of every name (``_keys``) beats finding them one by
    # one in the joined string: a query such as "example.com", held by every email, took 105 ms
    # at 50,000 emails that way, a Python step per name.
    _MANY = 256
    # Names read from the rarest grams of a query before the first ranking (``_similar_anywhere``).
    _FIRST_READ = 500

    def __init__(self, names: Iterable[str]) -> None:
        unique = list(dict.fromkeys(name for name in names if name))
        folded = [_folded(name) for name in unique]
        self._count = len(unique)
        # The names that are not their own folded form (most emails are), by position.
        self._spelled = {i: name for i, name in enumerate(unique) if folded[i] is not name}
        self._folded_names = JoinedStrings(folded, separator=self._SEPARATOR)
        # Whether splitting the joined string gives the names back (no name holds the separator).
        self._plain = self._folded_names.text.count(self._SEPARATOR) == max(self._count - 1, 0)
        self._all_keys: list[str] | None = None  # ``_keys``
        self._all_grams: Trigrams | None = None  # ``_trigrams``
        self._grams_tried = False
        # Positions by folded name; a stable sort, so of names folding alike the first comes first.
        order = sorted(range(self._count), key=folded.__getitem__)
        self._order = array("L", order)
        self._same: dict[str, list[str]] = {}  # folded names that several names share
        for before, position in itertools.pairwise(order):
            key = folded[position]
            if key == folded[before]:
                self._same.setdefault(key, [unique[before]]).append(unique[position])

    def _name(self, position: int) -> str:
        """The name at ``position``, as spelled."""
        spelled = self._spelled.get(position)
        return self._folded_names[position] if spelled is None else spelled

    def _keys(self) -> list[str]:
        """Every folded name, in order: made by the first lookup that compares them all, and
        kept. Making the list costs ~5 ms at 50,000 emails and ~4 MB, spent only on the reports
        where a query was held by most names or far from every name."""
        keys = self._all_keys
        if keys is None:
            if self._plain:
                keys = self._folded_names.text.split(self._SEPARATOR) if self._count else []
            else:
                keys = list(self._folded_names)
            self._all_keys = keys
        return keys

    def _trigrams(self) -> Trigrams | None:
        """The names by the grams they hold: made by the first lookup that ranks names, and
        kept. None where there are none (a name holds the separator, or the names hold more
        different characters than a gram's number can tell apart)."""
        if not self._grams_tried:
            # Imported here: numpy costs every process ~17 MB and its import time, and only
            # "did you mean" needs it.
            from bot.reports.grams import Trigrams

            # One index made at a time in the process: each takes ~20 MB on the way at 50,000
            # emails, and five reports' first lookups may come at once.
            with _making_grams:
                if not self._grams_tried:
                    if self._plain:
                        with contextlib.suppress(ValueError):
                            self._all_grams = Trigrams(
                                self._folded_names.text, self._count, separator=self._SEPARATOR
                            )
                    self._grams_tried = True
        return self._all_grams

    def _folded_of(self, positions: Sequence[int]) -> list[str]:
        """The folded names at ``positions``: from the list of every name when it is made, or
        when they are a fair share of the names (a query that most names hold). A typo's few
        hundred candidates are sliced out one by one: their list is ~4 MB a report kept."""
        if self._all_keys is not None or len(positions) > max(self._count // 8, self._MANY):
            keys = self._keys()
            return [keys[i] for i in positions]
        return self._folded_names.take(positions)

    def _exact(self, wanted: str) -> int | None:
        """The first position whose folded name is ``wanted``."""
        at = bisect.bisect_left(self._order, wanted, key=self._folded_names.__getitem__)
        if at < self._count and self._folded_names[self._order[at]] == wanted:
            return self._order[at]
        return None

    def find(self, query: str, *, limit: int = 3) -> NameMatch:
        """What ``find_by_name(names, query)`` answers."""
        wanted = query.strip().casefold()
        if not wanted or not self._count:
            return NameMatch(query=query, match=None)
        position = self._exact(wanted)
        exact = self._same.get(wanted, [self._name(position)] if position is not None else [])
        if len(exact) == 1:
            return NameMatch(query=query, match=exact[0])
        if exact:
            # "Acme" and "ACME" both exist: only the exact spelling can tell them apart.
            spelled = query.strip()
            if spelled in exact:
                return NameMatch(query=query, match=spelled)
            return NameMatch(query=query, match=None, suggestions=tuple(sorted(exact)[:limit]))
        containing = self._containing(wanted)
        if len(containing) == 1:
            return NameMatch(query=query, match=self._name(containing[0]))
        if containing:
            # Prefixes first, then the most similar, then by name.
            starts = [name.startswith(wanted) for name in self._folded_of(containing)]
            prefixes = [i for i, start in zip(containing, starts, strict=True) if start]
            others = [i for i, start in zip(containing, starts, strict=True) if not start]
            best = self._most_similar(wanted, prefixes, limit, cutoff=0.0)
            if len(best) < limit:
                best += self._most_similar(wanted, others, limit - len(best), cutoff=0.0)
            return NameMatch(query=query, match=None, suggestions=tuple(n for _, n in best))
        best = self._similar_anywhere(wanted, limit, cutoff=_CUTOFF)
        if not best:
            return NameMatch(query=query, match=None)
        # A clear favourite should not come with names that merely share its email domain or
        # a word.
        floor = -best[0][0] - _SPREAD
        return NameMatch(
            query=query, match=None, suggestions=tuple(n for r, n in best if -r >= floor)
        )

    def _containing(self, wanted: str) -> list[int]:
        """Positions of the names that contain ``wanted``, in order."""
        if self._SEPARATOR in wanted:
            return [i for i in range(self._count) if wanted in self._folded_names[i]]
        # A name holding the query holds each of its grams: the names holding its rarest gram
        # are all there is to look at, none when a typo made a gram no name holds. (Made by the
        # first lookup that ranked names; until then, and for short queries, ``str.find``.)
        grams = self._all_grams
        names = grams.may_hold(wanted, most=self._MANY) if grams is not None else None
        if names is not None:
            return [i for i in names if wanted in self._folded_names[i]]
        joined = self._folded_names.text
        at = joined.find(wanted)
        if at != -1 and joined.count(wanted, at) > self._MANY:
            return [i for i, name in enumerate(self._keys()) if wanted in name]
        found: list[int] = []
        while at != -1:
            index = self._folded_names.at(at)
            found.append(index)
            # On to the next name: one name counts once however often it holds the query.
            if index + 1 == self._count:
                break
            at = joined.find(wanted, self._folded_names.start(index + 1))
        return found

    def _similar_anywhere(
        self, wanted: str, limit: int, *, cutoff: float
    ) -> list[tuple[float, str]]:
        """What ``_most_similar(wanted, None, limit, cutoff=cutoff)`` answers, from the names that
        share enough grams with ``wanted`` (``bot.reports.grams``): the rarest grams' names first;
        once ``limit`` names are found, the least similar of them says how many of the query's
        grams a name must share to beat it, and so how many more grams' names to read. Where that
        would take a gram most names hold, every name is ranked, as ``_most_similar`` does."""
        trigrams = self._trigrams()
        if trigrams is None:
            return self._most_similar(wanted, None, limit, cutoff=cutoff)
        reader = trigrams.reader(wanted)
        first = reader.enough(self._FIRST_READ)
        best: list[tuple[float, str]] = []
        floor = cutoff
        while True:
            needed = reader.needed(floor)
            if needed is None or reader.read >= needed:
                return best
            fresh = reader.more(needed if reader.read else min(first, needed))
            if fresh is None:
                # The names found so far still prune the ranking of all of them.
                return self._most_similar(wanted, None, limit, cutoff=floor)
            best = sorted(best + self._most_similar(wanted, fresh, limit, cutoff=floor))[:limit]
            if len(best) == limit:
                floor = max(floor, -best[-1][0] - _EPSILON)

    def _most_similar(
        self, wanted: str, among: Sequence[int] | None, limit: int, *, cutoff: float
    ) -> list[tuple[float, str]]:
        """The ``limit`` names of ``among`` most similar to ``wanted`` by difflib's ratio, at
        least ``cutoff``, as ``(-ratio, name)`` in order (ties by name); ``among=None``: all."""
        if limit <= 0 or (among is not None and not among):
            return []
        choices = self._keys() if among is None else self._folded_of(among)
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(wanted)
        batch = max(4 * limit, 16)
        while True:
            ranked = process.extract(
                wanted,
                choices,
                scorer=fuzz.ratio,
                limit=batch,
                score_cutoff=max(cutoff * 100 - _SCORE_SLACK, 0),
            )
            best: list[tuple[float, str]] = []
            for _, bound, position in ranked:
                name = self._name(position if among is None else among[position])
                if len(best) == limit:
                    last, last_name = -best[-1][0], best[-1][1]
                    # Everything from here on is at most ``bound`` similar: none can beat the last
                    # kept.
                    if bound / 100 < last - _EPSILON:
                        return best
                    # At most as similar as the last kept: only an earlier name takes its place.
                    if bound / 100 <= last + _EPSILON and name >= last_name:
                        continue
                matcher.set_seq1(choices[position])
                ratio = matcher.ratio()
                if ratio >= cutoff:
                    bisect.insort(best, (-ratio, name))
                    del best[limit:]
            if len(ranked) < batch:
                return best
            batch *= 8  # every name ranked so far could still be beaten: look further down


def _folded(name: str) -> str:
    key = name.casefold()
    return name if key == name else key


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def duration(minutes: float | None) -> str:
    """Minutes as people read them: "45 min", "3 h 5 min", "601 h"; "–" when unknown.

    Whole hours drop their minutes, and from 100 hours on the time is rounded to the hour: nobody
    reads "601 h 7 min" for a month of Live sessions.
    """
    if minutes is None:
        return "–"
    total = max(0, round(minutes))
    hours, rest = divmod(total, 60)
    if not hours:
        return f"{rest:,} min"
    if hours >= 100:
        return f"{round(total / 60):,} h"
    return f"{hours:,} h" if not rest else f"{hours:,} h {rest} min"


def money(amount: float | None, currency: str = "$") -> str:
    """ "$1,240", "$7.50": cents only where they matter; "–" when unknown."""
    if amount is None:
        return "–"
    if amount >= 100 or float(amount).is_integer():
        return f"{currency}{amount:,.0f}"
    return f"{currency}{amount:,.2f}"

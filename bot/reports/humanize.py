"""Words for people: relative times ("3 days ago") and "did you mean" name lookups.

Pure functions: the current time is passed in, nothing is escaped (that is the renderer's job).
"""

from __future__ import annotations

import bisect
import difflib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rapidfuzz import fuzz, process

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
# Low enough for a typo in a short name ("acne") to suggest "Acme team", high enough to keep
# unrelated names out of the suggestions.
_CUTOFF = 0.4
_SPREAD = 0.2
# Rounding between rapidfuzz's score (a percentage) and difflib's ratio.
_EPSILON = 1e-9


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

    At 50,000 emails, difflib over every name takes seconds. Here exact names are a dict, the
    substring search runs over one joined string (``str.find``, in C), and difflib's ratio is
    computed only for the names rapidfuzz ranks first: its Indel ratio counts the longest common
    subsequence, never fewer matching characters than difflib's blocks, so it bounds difflib's
    ratio from above, and the search stops once that bound falls below the suggestions found.
    The answers are the same as difflib over every name.
    """

    # Joins the folded names for the substring search; a query holding it is matched name by name.
    _SEPARATOR = "\n"

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(dict.fromkeys(name for name in names if name))
        # A name already folded (most emails) is kept once: 50,000 emails are ~4 MB a copy.
        self.folded = [_folded(name) for name in self.names]
        self._exact: dict[str, int] = {}
        self._same: dict[str, list[str]] = {}  # folded names that several names share
        for position, key in enumerate(self.folded):
            first = self._exact.setdefault(key, position)
            if first != position:
                self._same.setdefault(key, [self.names[first]]).append(self.names[position])
        self._joined = self._SEPARATOR.join(self.folded)
        self._starts = array("L")
        offset = 0
        for key in self.folded:
            self._starts.append(offset)
            offset += len(key) + 1

    def find(self, query: str, *, limit: int = 3) -> NameMatch:
        """What ``find_by_name(names, query)`` answers."""
        wanted = query.strip().casefold()
        if not wanted or not self.names:
            return NameMatch(query=query, match=None)
        position = self._exact.get(wanted)
        exact = self._same.get(wanted, [self.names[position]] if position is not None else [])
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
            return NameMatch(query=query, match=self.names[containing[0]])
        if containing:
            # Prefixes first, then the most similar, then by name.
            prefixes = [i for i in containing if self.folded[i].startswith(wanted)]
            others = [i for i in containing if not self.folded[i].startswith(wanted)]
            best = self._most_similar(wanted, prefixes, limit, cutoff=0.0)
            if len(best) < limit:
                best += self._most_similar(wanted, others, limit - len(best), cutoff=0.0)
            return NameMatch(query=query, match=None, suggestions=tuple(n for _, n in best))
        best = self._most_similar(wanted, None, limit, cutoff=_CUTOFF)
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
            return [i for i, key in enumerate(self.folded) if wanted in key]
        found: list[int] = []
        at = self._joined.find(wanted)
        while at != -1:
            index = bisect.bisect_right(self._starts, at) - 1
            found.append(index)
            # On to the next name: one name counts once however often it holds the query.
            next_start = self._starts[index + 1] if index + 1 < len(self._starts) else None
            if next_start is None:
                break
            at = self._joined.find(wanted, next_start)
        return found

    def _most_similar(
        self, wanted: str, among: Sequence[int] | None, limit: int, *, cutoff: float
    ) -> list[tuple[float, str]]:
        """The ``limit`` names of ``among`` most similar to ``wanted`` by difflib's ratio, at
        least ``cutoff``, as ``(-ratio, name)`` in order (ties by name); ``among=None``: all."""
        if limit <= 0 or (among is not None and not among):
            return []
        choices = self.folded if among is None else [self.folded[i] for i in among]
        names = self.names if among is None else [self.names[i] for i in among]
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(wanted)
        batch = max(4 * limit, 16)
        while True:
            ranked = process.extract(
                wanted, choices, scorer=fuzz.ratio, limit=batch, score_cutoff=cutoff * 100
            )
            best: list[tuple[float, str]] = []
            for _, bound, position in ranked:
                # Everything from here on is at most ``bound`` similar: none can beat the last kept.
                if len(best) == limit and bound / 100 < -best[-1][0] - _EPSILON:
                    return best
                matcher.set_seq1(choices[position])
                ratio = matcher.ratio()
                if ratio >= cutoff:
                    bisect.insort(best, (-ratio, names[position]))
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

"""Words for people: relative times ("3 days ago") and "did you mean" name lookups.

Pure functions: the current time is passed in, nothing is escaped (that is the renderer's job).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
# Low enough for a typo in a short name ("acne") to suggest "Acme team", high enough to keep
# unrelated names out of the suggestions.
_CUTOFF = 0.4
_SPREAD = 0.2


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
    (prefixes first); otherwise the names most similar by difflib are suggested.
    """
    wanted = query.strip().casefold()
    candidates = list(dict.fromkeys(name for name in names if name))
    if not wanted or not candidates:
        return NameMatch(query=query, match=None)

    folded = [name.casefold() for name in candidates]
    exact = [name for name, key in zip(candidates, folded, strict=True) if key == wanted]
    if len(exact) == 1:
        return NameMatch(query=query, match=exact[0])
    if exact:
        # "Acme" and "ACME" both exist: only the exact spelling can tell them apart.
        spelled = query.strip()
        if spelled in exact:
            return NameMatch(query=query, match=spelled)
        return NameMatch(query=query, match=None, suggestions=tuple(sorted(exact)[:limit]))

    containing = [
        (name, key) for name, key in zip(candidates, folded, strict=True) if wanted in key
    ]
    if len(containing) == 1:
        return NameMatch(query=query, match=containing[0][0])
    if containing:
        ranked = sorted(
            containing,
            key=lambda pair: (not pair[1].startswith(wanted), -_ratio(wanted, pair[1]), pair[0]),
        )
        suggestions = tuple(name for name, _ in ranked[:limit])
    else:
        suggestions = _closest(wanted, candidates, folded, limit)
    return NameMatch(query=query, match=None, suggestions=suggestions)


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _closest(wanted: str, candidates: list[str], folded: list[str], limit: int) -> tuple[str, ...]:
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(wanted)
    scored: list[tuple[float, str]] = []
    for name, key in zip(candidates, folded, strict=True):
        matcher.set_seq1(key)
        # The cheap upper bounds first, as difflib.get_close_matches does: most names fail them.
        if matcher.real_quick_ratio() >= _CUTOFF and matcher.quick_ratio() >= _CUTOFF:
            ratio = matcher.ratio()
            if ratio >= _CUTOFF:
                scored.append((-ratio, name))
    scored.sort()
    if not scored:
        return ()
    # A clear favourite should not come with names that merely share its email domain or a word.
    floor = -scored[0][0] - _SPREAD
    return tuple(name for ratio, name in scored[:limit] if -ratio >= floor)


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

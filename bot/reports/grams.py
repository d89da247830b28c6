"""Which names hold which three-letter pieces: the candidates for "did you mean" without a scan.

Two strings whose longest common subsequence is long share many q-grams (the q-gram lemma): of
the query's ``len(query) - q + 1`` grams, a character of the query left out of the common
subsequence breaks at most ``q`` of them, and a run of the name's characters left out breaks at
most ``q - 1`` more, the ones that span it. So a name at least ``ratio`` similar to the query (by
the Indel ratio, ``2 * LCS / (len(a) + len(b))``, which bounds difflib's from above) shares at
least ``shared_at_least(...)`` of the query's grams; and a name that shares ``t`` of the query's
``g`` grams holds at least one of any ``g - t + 1`` of them (prefix filtering). Taking those from
the rarest grams up, the candidates are the names in a few short postings lists instead of all
of them; at 50,000 emails a typo's candidates are a few hundred names.

Grams held by most names (an email domain's: "exa", "com") are not kept: a search that needs them
would read most of the names, and ranking them all is then as quick (``Trigrams.holding`` says so
by answering None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["Q", "Reader", "Trigrams", "shared_at_least"]

Q = 3
# A gram held by more than this share of the names is not kept (see the module docstring).
_COMMON = 1 / 8
# Rounding between a ratio and the character counts it comes from.
_EPSILON = 1e-9
_NONE = np.iinfo(np.int64).max
# Characters of the names read at a time while the grams are made: ~100,000 (~4,000 emails).
_PIECE = 100_000

T = TypeVar("T", bound=np.generic)


def shared_at_least(length: int, ratio: float, lengths: Sequence[int]) -> int | None:
    """The fewest grams (counted with repeats) that a query of ``length`` characters shares with
    a name of one of ``lengths`` at least ``ratio`` similar to it; None if no such name can be
    that similar (every length too far from the query's)."""
    fewest: int | None = None
    for other in lengths:
        common = max(0, math.ceil(ratio * (length + other) / 2 - _EPSILON))
        if common > min(length, other):
            continue
        kept = (length - Q + 1) - Q * (length - common) - (Q - 1) * (other - common)
        fewest = kept if fewest is None else min(fewest, kept)
    return fewest


class Trigrams:
    """The names (one joined string, ``separator`` between them, none inside one) by the grams
    they hold: for each gram kept, the sorted positions of the names holding it.

    At 50,000 emails: ~2.5 MB of positions, made in ~0.1 s with numpy, a slice of the names at
    a time: made at once, the arrays on the way took ~80 MB, and a process answering "did you
    mean" about five reports at once grew by 150 MB.
    """

    def __init__(self, text: str, count: int, *, separator: str) -> None:
        self.count = count
        alphabet = sorted(set(text) - {separator})
        self._alphabet = {c: i for i, c in enumerate(alphabet)}
        self._size = size = len(alphabet)
        # (gram, name) pairs in one integer: the gram's number above the name's.
        shift = max(count, 1).bit_length()
        if size**Q << shift >= 1 << 63:
            raise ValueError("too many different characters for a gram and a name to share 64 bits")
        codes = np.array([ord(c) for c in alphabet], dtype=np.uint32)
        pairs, grams, shortest, longest, first = [], [], len(text), 0, 0
        for piece in _pieces(text, separator):
            chars = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
            breaks = chars == ord(separator)
            dense = np.searchsorted(codes, chars).astype(np.int64)
            inside = ~(breaks[:-2] | breaks[1:-1] | breaks[2:])
            gram = ((dense[:-2] * size + dense[1:-1]) * size + dense[2:])[inside]
            owner = (first + np.cumsum(breaks, dtype=np.int64))[:-2][inside]
            pairs.append(_distinct(np.sort((gram << shift) | owner)))
            grams.append(_distinct(np.sort(gram)))
            lengths = np.diff(np.flatnonzero(np.concatenate(([True], breaks, [True])))) - 1
            shortest, longest = min(shortest, int(lengths.min())), max(longest, int(lengths.max()))
            first += len(lengths)
        # The names' lengths, from the shortest to the longest: what ``shared_at_least`` reads.
        self.lengths = range(shortest, longest + 1)
        everyone = np.concatenate(pairs)
        del pairs
        everyone.sort()
        known = _distinct(np.sort(np.concatenate(grams)))
        starts = np.searchsorted(everyone, known << shift)
        held = np.diff(np.append(starts, len(everyone)))
        kept = held <= max(_COMMON * count, 1)
        # Only the kept grams' lists, back to back.
        self._names = (everyone[np.repeat(kept, held)] & ((1 << shift) - 1)).astype(np.int32)
        # A last gram that no query has, so that every search lands on a gram.
        self._grams = np.append(known, _NONE)
        self._held = np.append(held, 0)
        self._kept = np.append(kept, True)
        self._starts = np.concatenate(([0], np.cumsum(np.where(self._kept, self._held, 0))))

    def held(self, query: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """For each of the query's grams (one per position, repeats kept): how many names hold
        it, and where it is kept (-1: no name holds it)."""
        numbers = [self._alphabet.get(c, -1) for c in query]
        size = self._size
        grams = np.array(
            [
                (a * size + b) * size + c if min(a, b, c) >= 0 else -1
                for a, b, c in zip(numbers, numbers[1:], numbers[2:], strict=False)
            ],
            dtype=np.int64,
        )
        at = np.searchsorted(self._grams, grams)
        known = self._grams[at] == grams
        return np.where(known, self._held[at], 0), np.where(known, at, -1)

    def holding(self, places: Iterable[int]) -> npt.NDArray[np.int32] | None:
        """The positions of the names holding any of the grams at ``places`` (from ``held``), in
        order; None if one of them is held by too many names to be kept."""
        parts = []
        for at in places:
            if at < 0:
                continue
            if not self._kept[at]:
                return None
            parts.append(self._names[self._starts[at] : self._starts[at + 1]])
        if not parts:
            return np.zeros(0, dtype=np.int32)
        return _distinct(np.sort(np.concatenate(parts)))

    def may_hold(self, query: str, *, most: int) -> list[int] | None:
        """The positions of the names that may hold ``query``: those holding its rarest gram
        (none, when no name holds one of its grams, as after most typos). None when more than
        ``most`` names hold it, or the query is shorter than a gram."""
        held, places = self.held(query)
        if not len(held):
            return None
        rarest = int(np.argmin(held))
        names = self.holding([int(places[rarest])]) if held[rarest] <= most else None
        return None if names is None else names.tolist()

    def reader(self, query: str) -> Reader:
        """The names sharing grams with ``query``, to be read from its rarest gram up."""
        return Reader(self, query)


class Reader:
    """The names sharing grams with one query, read from its rarest gram up, each name once."""

    def __init__(self, trigrams: Trigrams, query: str) -> None:
        self._trigrams = trigrams
        self._length = len(query)
        held, places = trigrams.held(query)
        rarest = np.argsort(held, kind="stable")
        self._held = held[rarest]
        self._places = places[rarest]
        self._seen = np.zeros(trigrams.count, dtype=bool)
        self.read = 0  # of the query's grams, rarest first

    def enough(self, names: int) -> int:
        """How many of the rarest grams hold about ``names`` names: one at least, at most all
        (one where the query is shorter than a gram: ``more`` then answers None)."""
        read = int(np.searchsorted(np.cumsum(self._held), names, side="right")) + 1
        return min(read, max(len(self._held), 1))

    def needed(self, ratio: float) -> int | None:
        """How many of the rarest grams to read for every name at least ``ratio`` similar to the
        query (by the Indel ratio) to be among the names read; None if no name can be."""
        fewest = shared_at_least(self._length, ratio, self._trigrams.lengths)
        return None if fewest is None else len(self._held) - fewest + 1

    def more(self, upto: int) -> list[int] | None:
        """The positions of the names holding the rarest grams up to the ``upto``th that were not
        read before, in order; None if the query has fewer grams, or one of them is held by
        too many names to be kept."""
        if upto > len(self._held):
            return None
        found = self._trigrams.holding(self._places[self.read : upto].tolist())
        if found is None:
            return None
        self.read = upto
        fresh = found[~self._seen[found]]
        self._seen[found] = True
        names: list[int] = fresh.tolist()
        return names


def _pieces(text: str, separator: str) -> Iterator[str]:
    """``text`` in slices of about ``_PIECE`` characters, each ending between two names."""
    start = 0
    while start < len(text) or not start:  # no text: one piece, empty
        end = text.find(separator, start + _PIECE)
        end = len(text) if end == -1 else end
        yield text[start:end]
        start = end + len(separator)


def _distinct(ordered: npt.NDArray[T]) -> npt.NDArray[T]:
    """``ordered`` without repeats: by hand, since ``np.unique`` hashes, several times slower."""
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return ordered[first]

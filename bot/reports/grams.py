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
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["Q", "Trigrams", "shared_at_least"]

Q = 3
# A gram held by more than this share of the names is not kept (see the module docstring).
_COMMON = 1 / 8
# Rounding between a ratio and the character counts it comes from.
_EPSILON = 1e-9
_NONE = np.iinfo(np.int64).max

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

    At 50,000 emails: ~2.5 MB of positions, built in ~0.1 s with numpy.
    """

    def __init__(self, text: str, count: int, *, separator: str) -> None:
        chars = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        # The characters present, numbered densely so that a gram fits one integer.
        present = np.bincount(chars) > 0
        self._alphabet = {chr(c): i for i, c in enumerate(np.flatnonzero(present).tolist())}
        size = len(self._alphabet)
        self._size = size
        shift = max(count, 1).bit_length()
        if size**Q << shift >= 1 << 63:
            raise ValueError("too many different characters for a gram and a name to share 64 bits")
        dense = (np.cumsum(present, dtype=np.int64) - 1)[chars]
        breaks = chars == ord(separator)
        # Each character's name, by the separators before it.
        owner = np.cumsum(breaks, dtype=np.int64)
        ends = np.flatnonzero(breaks)
        lengths = np.diff(np.concatenate(([-1], ends, [len(chars)]))) - 1
        # The names' lengths, from the shortest to the longest: what ``shared_at_least`` reads.
        self.lengths = range(int(lengths.min()), int(lengths.max()) + 1)
        inside = ~(breaks[:-2] | breaks[1:-1] | breaks[2:])
        codes = ((dense[:-2] * size + dense[1:-1]) * size + dense[2:])[inside]
        # One sort of (gram, name) pairs makes every postings list, deduplicated and in order.
        pairs = _distinct(np.sort((codes << shift) | owner[:-2][inside]))
        grams = pairs >> shift
        starts = np.flatnonzero(_firsts(grams))
        held = np.diff(np.concatenate((starts, [len(pairs)])))
        kept = held <= max(_COMMON * count, 1)
        # Only the kept grams' lists, back to back.
        self._names = (pairs[np.repeat(kept, held)] & ((1 << shift) - 1)).astype(np.int32)
        # A last gram that no query has, so that every search lands on a gram.
        self._grams = np.append(grams[starts], _NONE)
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


def _firsts(ordered: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where each run of equal values in ``ordered`` starts."""
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    return first


def _distinct(ordered: npt.NDArray[T]) -> npt.NDArray[T]:
    """``ordered`` without repeats: by hand, since ``np.unique`` hashes, several times slower."""
    return ordered[_firsts(ordered)]

"""The q-gram bound and the names-by-gram index behind "did you mean" without a scan."""

import random
from collections import Counter

import pytest
from rapidfuzz.distance import LCSseq

from bot.reports.grams import Q, Trigrams, shared_at_least


def _grams(text: str) -> Counter[str]:
    return Counter(text[i : i + Q] for i in range(len(text) - Q + 1))


def _edited(rng: random.Random, text: str, alphabet: str) -> str:
    """``text`` with a few characters left out, put in or changed."""
    for _ in range(rng.randrange(1, 5)):
        at = rng.randrange(len(text) + 1)
        put, drop = rng.choice([(1, 0), (0, 1), (1, 1)])  # put in, left out, changed
        text = text[:at] + rng.choice(alphabet) * put + text[at + drop :]
    return text


def test_a_name_that_similar_shares_at_least_that_many_grams() -> None:
    """The lemma the search stands on, against every pair drawn: a name whose Indel ratio
    reaches ``ratio`` shares at least ``shared_at_least`` of the query's grams. Small alphabets
    make long common subsequences with few grams in common, the case where a bound too
    generous would let a name through."""
    rng = random.Random(11)
    telling = tight = 0
    for _ in range(20_000):
        alphabet = rng.choice(["ab", "abc", "abcdefgh", "abcdefghijklmnopqrstuvwxyz.@"])
        query = "".join(rng.choices(alphabet, k=rng.randrange(24)))
        name = _edited(rng, query, alphabet) if rng.random() < 0.7 else _edited(rng, "", alphabet)
        if not query and not name:
            continue
        ratio = 2 * LCSseq.similarity(query, name) / (len(query) + len(name))
        shared = sum((_grams(query) & _grams(name)).values())
        fewest = shared_at_least(len(query), ratio, [len(name)])
        assert fewest is not None, (query, name)
        assert shared >= fewest, (query, name, ratio, shared, fewest)
        telling += fewest > 0
        tight += shared == fewest > 0
    # Not vacuous: the bound says something for many pairs, and is met exactly by some.
    assert telling > 5000, telling
    assert tight > 100, tight


def test_no_name_of_those_lengths_reaches_the_ratio() -> None:
    # Three characters against thirty: at most 6/33 similar, whatever they hold.
    assert shared_at_least(3, 0.5, [30]) is None
    assert shared_at_least(3, 0.5, [2, 30]) is not None
    # The fewest over every length given: the longer the name, the fewer grams it must share.
    assert shared_at_least(20, 0.9, range(18, 23)) == min(
        shared_at_least(20, 0.9, [length]) or 99 for length in range(18, 23)
    )


def _index(names: list[str]) -> Trigrams:
    return Trigrams("\n".join(names), len(names), separator="\n")


def test_held_and_holding_agree_with_every_name_read() -> None:
    rng = random.Random(3)
    names = ["".join(rng.choices("abcdefghij.", k=rng.randrange(1, 12))) for _ in range(400)]
    index = _index(names)
    for query in ["abcdefg", "jjj.a", "hij", "ab", "a.b.c.d"]:
        held, places = index.held(query)
        assert len(held) == max(len(query) - Q + 1, 0)
        for i, (count, place) in enumerate(zip(held.tolist(), places.tolist(), strict=True)):
            gram = query[i : i + Q]
            holders = [n for n, name in enumerate(names) if gram in name]
            assert count == len(holders)
            assert (place == -1) == (not holders)
            found = index.holding([place])
            if found is not None:  # a gram most names hold is not kept
                assert found.tolist() == holders
            else:
                assert len(holders) > len(names) / 8


def test_a_gram_most_names_hold_is_not_kept_and_a_new_one_is_held_by_none() -> None:
    names = [f"user{i}@example.com" for i in range(100)]
    index = _index(names)
    held, places = index.held("user7@example.com")
    assert held.max() == 100
    assert index.holding([int(places[held.argmax()])]) is None
    # "zq": characters no name holds; "5@x": characters they hold, in a gram none does.
    for query in ["zqz", "5@x"]:
        held, places = index.held(query)
        assert held.tolist() == [0]
        assert places.tolist() == [-1]
        assert _holding(index, query) == []
    # Several grams: the names holding any of them, each once, in order.
    assert _holding(index, "r99@") == [99]
    assert _holding(index, "r12", "r9@") == [9, 12]


def _holding(index: Trigrams, *queries: str) -> list[int] | None:
    """The names holding any gram of ``queries``."""
    found = index.holding(place for query in queries for place in index.held(query)[1].tolist())
    return None if found is None else found.tolist()


@pytest.mark.parametrize("names", [["a"], ["ab", "b"], ["", "x"], ["Straße", "straße", "ß"]])
def test_names_shorter_than_a_gram(names: list[str]) -> None:
    index = _index(names)
    assert index.held("abc")[0].tolist() == [0]
    assert index.lengths == range(min(map(len, names)), max(map(len, names)) + 1)

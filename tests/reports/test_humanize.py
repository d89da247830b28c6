import difflib
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.browserstack.sandbox.org import SyntheticOrg
from bot.reports.humanize import (
    NameIndex,
    NameMatch,
    duration,
    find_by_name,
    money,
    relative_time,
)

NOW = datetime(2023, 7, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "expected"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=-5), "just now"),
        (timedelta(days=-3), "just now"),
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(minutes=5, seconds=30), "5 minutes ago"),
        (timedelta(minutes=59, seconds=59), "59 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=3), "3 hours ago"),
        (timedelta(hours=23, minutes=59), "23 hours ago"),
        (timedelta(hours=24), "yesterday"),
        (timedelta(hours=47), "yesterday"),
        (timedelta(days=2), "2 days ago"),
        (timedelta(days=3, hours=0.4), "3 days ago"),
        (timedelta(days=13), "13 days ago"),
        (timedelta(days=14), "2 weeks ago"),
        (timedelta(days=59), "8 weeks ago"),
        (timedelta(days=60), "2 months ago"),
        (timedelta(days=125), "4 months ago"),
        (timedelta(days=364), "11 months ago"),
        (timedelta(days=365), "over a year ago"),
        (timedelta(days=3000), "over a year ago"),
    ],
)
def test_relative_time(ago: timedelta, expected: str) -> None:
    assert relative_time(NOW - ago, now=NOW) == expected


def test_relative_time_never_for_none() -> None:
    assert relative_time(None, now=NOW) == "never"


def test_relative_time_reads_naive_times_as_utc() -> None:
    naive = datetime(2023, 7, 3, 9, 0)
    assert relative_time(naive, now=NOW) == "3 hours ago"


TEAMS = ["Acme team", "Acme Inc. (Org)", "Beta", "Gamma QA"]
EMAILS = ["steve@example.com", "stella@example.com", "bob@example.org"]
HOSTILE = "<!channel> & *bold* `code`"


@pytest.mark.parametrize(
    ("names", "query", "match", "suggestions"),
    [
        pytest.param(TEAMS, "acme team", "Acme team", (), id="case-insensitive exact"),
        pytest.param(TEAMS, "  Beta ", "Beta", (), id="surrounding spaces"),
        pytest.param(TEAMS, "bet", "Beta", (), id="unique prefix"),
        pytest.param(TEAMS, "qa", "Gamma QA", (), id="unique substring"),
        pytest.param(
            TEAMS, "Acme", None, ("Acme team", "Acme Inc. (Org)"), id="ambiguous substring"
        ),
        pytest.param(TEAMS, "Acme tem", None, ("Acme team",), id="typo suggests"),
        pytest.param(TEAMS, "zzzz", None, (), id="nothing close"),
        pytest.param(TEAMS, "", None, (), id="empty query"),
        pytest.param([], "Acme", None, (), id="no names"),
        pytest.param(EMAILS, "STEVE@example.com", "steve@example.com", (), id="email exact"),
        pytest.param(EMAILS, "stve@example.com", None, tuple(EMAILS[:2]), id="email typo"),
        pytest.param(EMAILS, "example.com", None, tuple(EMAILS[:2]), id="email domain ambiguous"),
        pytest.param(["Acme", "ACME"], "ACME", "ACME", (), id="exact spelling breaks case tie"),
        pytest.param(["Acme", "ACME"], "acme", None, ("ACME", "Acme"), id="case tie unresolved"),
        pytest.param([HOSTILE, "Beta"], HOSTILE.upper(), HOSTILE, (), id="hostile unchanged"),
    ],
)
def test_find_by_name(
    names: list[str], query: str, match: str | None, suggestions: tuple[str, ...]
) -> None:
    found = find_by_name(names, query)
    assert found == NameMatch(query=query, match=match, suggestions=suggestions)
    assert found.found is (match is not None)


def test_find_by_name_limits_suggestions() -> None:
    names = [f"Team {i}" for i in range(10)]
    assert len(find_by_name(names, "team", limit=3).suggestions) == 3
    assert find_by_name(names, "Tem 1", limit=1).suggestions == ("Team 1",)


def test_find_by_name_ranks_prefix_matches_first() -> None:
    found = find_by_name(["Mobile Acme", "Acme Mobile Web"], "acme")
    assert found.suggestions == ("Acme Mobile Web", "Mobile Acme")


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (None, "–"),
        (0, "0 min"),
        (45, "45 min"),
        (60, "1 h"),
        (185, "3 h 5 min"),
        (5999, "99 h 59 min"),
        (36_060, "601 h"),
        (36_091, "602 h"),  # from 100 hours on, rounded to the hour
        (36_091_298, "601,522 h"),
    ],
)
def test_duration(minutes: int | None, expected: str) -> None:
    assert duration(minutes) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(1240, "$", "$1,240"), (7.5, "€", "€7.50"), (39.0, "$", "$39"), (None, "$", "–")],
)
def test_money(amount: float | None, currency: str, expected: str) -> None:
    assert money(amount, currency) == expected


def _difflib_everywhere(names: list[str], query: str, limit: int = 3) -> NameMatch:
    """The lookup as it was before ``NameIndex``: difflib over every name (the oracle)."""
    wanted = query.strip().casefold()
    candidates = list(dict.fromkeys(name for name in names if name))
    if not wanted or not candidates:
        return NameMatch(query=query, match=None)
    folded = [name.casefold() for name in candidates]
    exact = [name for name, key in zip(candidates, folded, strict=True) if key == wanted]
    if len(exact) == 1:
        return NameMatch(query=query, match=exact[0])
    if exact:
        spelled = query.strip()
        if spelled in exact:
            return NameMatch(query=query, match=spelled)
        return NameMatch(query=query, match=None, suggestions=tuple(sorted(exact)[:limit]))

    def ratio(wanted: str, name: str) -> float:
        # The name first, as ``difflib.get_close_matches`` does: the ratio is not symmetric.
        return difflib.SequenceMatcher(None, name, wanted).ratio()

    containing = [(n, k) for n, k in zip(candidates, folded, strict=True) if wanted in k]
    if len(containing) == 1:
        return NameMatch(query=query, match=containing[0][0])
    if containing:
        ranked = sorted(
            containing, key=lambda p: (not p[1].startswith(wanted), -ratio(wanted, p[1]), p[0])
        )
        return NameMatch(query=query, match=None, suggestions=tuple(n for n, _ in ranked[:limit]))
    scored = sorted(
        (-r, n) for n, k in zip(candidates, folded, strict=True) if (r := ratio(wanted, k)) >= 0.4
    )
    if not scored:
        return NameMatch(query=query, match=None)
    floor = -scored[0][0] - 0.2
    return NameMatch(
        query=query, match=None, suggestions=tuple(n for r, n in scored[:limit] if -r >= floor)
    )


def test_name_index_answers_as_difflib_over_every_name_does() -> None:
    """rapidfuzz only narrows the search: suggestions are difflib's, for typos, fragments and
    names that share a domain, over 3,000 emails and names with duplicates and odd case."""
    rng = random.Random(7)
    words = ["ana", "ben", "steve", "acme", "mobile", "qa", "web", "lee", "o'neil", "zoë"]
    domains = ["example.com", "acme.io"]
    names = [
        f"{rng.choice(words)}.{rng.choice(words)}{rng.randrange(100)}@{rng.choice(domains)}"
        for _ in range(3000)
    ] + ["Acme team", "ACME TEAM", "Straße"]
    index = NameIndex(names)
    queries = ["steve.ana", "stve.ana7@example.com", "acme.io", "mobile", "zzzz", "ACME TEAM"]
    queries += ["strasse", "o'neil.qa", "benn.web1@acme.io", "qa", "@example.com", "e"]
    queries += [rng.choice(names)[: rng.randrange(3, 12)] for _ in range(20)]
    for query in queries:
        for limit in (1, 3, 5):
            assert index.find(query, limit=limit) == _difflib_everywhere(names, query, limit)


def _typo(rng: random.Random, email: str) -> str:
    """``email`` with one slip of the keyboard in its name: two letters swapped, one left out,
    one doubled or one changed."""
    name, domain = email.split("@", 1)
    at = rng.randrange(len(name) - 1)
    slips = [
        name[:at] + name[at + 1] + name[at] + name[at + 2 :],
        name[:at] + name[at + 1 :],
        name[:at] + name[at] + name[at:],
        name[:at] + rng.choice("aeiouxz") + name[at + 1 :],
    ]
    return f"{rng.choice(slips)}@{domain}"


def _emails(users: int) -> list[str]:
    org = SyntheticOrg(seed=9, users=users, today=date(2026, 1, 5))
    return [user.email for user in org.users]


def test_suggestions_for_typos_in_an_organisation_are_difflibs() -> None:
    """The names a typo's grams lead to are the names difflib over every email would suggest,
    ties included: "ana.weber6" and "dan.weber2" are as similar to "dan.weberd6", and the
    first by name is suggested."""
    rng = random.Random(5)
    weber = ["dan.weber6", "dan.weber", "ana.weber6", "dan.weber2"]
    names = _emails(2_000) + [f"{name}@example.com" for name in weber]
    index = NameIndex(names)
    assert index.find("dan.weberd6@example.com").suggestions == tuple(
        f"{name}@example.com" for name in weber[:3]
    )
    queries = [_typo(rng, rng.choice(names)) for _ in range(40)]
    queries += [_typo(rng, _typo(rng, rng.choice(names))) for _ in range(10)]
    for query in queries:
        assert index.find(query) == _difflib_everywhere(names, query), query


class _Counting(NameIndex):
    """Counts the names a lookup ranks (by rapidfuzz, then difflib)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.names = len(set(names))
        self.ranked = 0

    def _most_similar(
        self, wanted: str, among: Sequence[int] | None, limit: int, *, cutoff: float
    ) -> list[tuple[float, str]]:
        self.ranked += self.names if among is None else len(among)
        return super()._most_similar(wanted, among, limit, cutoff=cutoff)


def test_a_typo_ranks_the_names_sharing_its_rare_grams_not_every_name() -> None:
    """At 20,000 emails a typo's suggestions come from a few hundred names: the ones holding
    its rarest grams, then as many more as the suggestions found say could beat them."""
    rng = random.Random(8)
    emails = _emails(20_000)
    index = _Counting(emails)
    ranked = []
    for member in rng.sample(emails, 30):
        index.ranked = 0
        assert member in index.find(_typo(rng, member)).suggestions
        ranked.append(index.ranked)
    assert sorted(ranked)[len(ranked) // 2] < len(emails) / 20

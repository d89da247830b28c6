"""A report's packed members and its index: what answers read instead of the whole report."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Sequence

import msgspec
import pytest

from bot.browserstack.client import decode
from bot.browserstack.models import (
    Product,
    ProductUsage,
    Report,
    ReportFilters,
    ReportKind,
    UserRecord,
    UserReportResponse,
)
from bot.browserstack.sandbox import SyntheticOrg
from bot.reports import index as index_module
from bot.reports.index import index_of
from bot.reports.packed import PackedUsers, dump_report, load_report
from tests.records import seed_teams, seed_users, user_record

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def org_users(count: int) -> list[UserRecord]:
    """``count`` members of the sandbox's synthetic organisation, decoded as the client does."""
    today = NOW.date()
    org = SyntheticOrg(seed=3, users=count, today=today)
    body = org.report_body(
        ReportKind.USER, start=today - dt.timedelta(days=29), end=today, product=None
    )
    decoded = decode(UserReportResponse, body)
    assert decoded.data is not None
    return decoded.data.users


def report_of(users: Sequence[UserRecord]) -> Report:
    return Report(ReportKind.USER, ReportFilters(), NOW, users=users)


# --- PackedUsers --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 255, 256, 257, 1000])
def test_packed_members_read_back_as_they_were(count: int) -> None:
    users = org_users(max(count, 10))[:count]
    packed = PackedUsers(users)
    assert len(packed) == count
    assert list(packed) == users
    assert [packed[i] for i in range(count)] == users
    if count:
        assert packed[-1] == users[-1]
        assert packed[count // 3 : count // 2] == users[count // 3 : count // 2]
    with pytest.raises(IndexError):
        packed[count]


def test_packed_members_take_a_fraction_of_their_json() -> None:
    users = org_users(2000)
    body = msgspec.json.encode(users)
    assert PackedUsers(users).packed_bytes < len(body) / 5


def test_packed_members_read_from_many_threads_at_once() -> None:
    users = org_users(1000)
    packed = PackedUsers(users)
    wrong: list[int] = []

    def read(offset: int) -> None:
        for i in range(offset, 1000, 7):
            if packed[i] != users[i]:
                wrong.append(i)

    threads = [threading.Thread(target=read, args=(n,)) for n in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


# --- ReportIndex --------------------------------------------------------------------------------


def test_index_finds_members_by_email_and_team_in_packed_and_plain_reports() -> None:
    users = org_users(600)
    for report in (report_of(users), report_of(PackedUsers(users))):
        index = index_of(report)
        assert index_of(report) is index
        somebody = users[123]
        assert index.user(f"  {somebody.email.upper()} ") == somebody
        assert index.user("nobody@nowhere.example") is None
        team = somebody.team or ""
        expected = [u for u in users if (u.team or "").strip().casefold() == team.casefold()]
        assert index.members(team.upper()) == expected
        assert index.emails.find(somebody.email[:-1] + "x").suggestions[0] == somebody.email


def test_index_keeps_the_last_of_two_rows_with_one_email() -> None:
    now = NOW
    first = user_record("Ana", "ana@x.com", "A", access=(), data={}, now=now)
    second = user_record(
        "Ana B",
        "ANA@x.com",
        "B",
        access=(Product.LIVE,),
        data={Product.LIVE: ProductUsage()},
        now=now,
    )
    assert index_of(report_of([first, second])).user("ana@x.com") == second


def test_index_finds_every_email_as_a_dict_of_them_would() -> None:
    """The emails are kept in one string and found by bisection: every email, whatever its
    case, finds the last row that has it; a missing or empty one finds nobody."""
    users = org_users(300)
    spellings = ["Zoë@X.com", "zoë@x.com", "", "a@b.c", "A@B.C", "ab@c", "", "İ@x.com", "b@x.com"]
    users += [msgspec.structs.replace(users[i], email=email) for i, email in enumerate(spellings)]
    expected: dict[str, UserRecord] = {}
    for user in users:
        if user.email:
            expected[user.email.lower()] = user
    for report in (report_of(users), report_of(PackedUsers(users))):
        index = index_of(report)
        for key, user in expected.items():
            assert index.user(key) is not None
            assert index.user(key) == user
            assert index.user(key.upper()) == expected.get(key.upper().lower())
        for missing in ("", "  ", "zoe@x.com", "a@b", "zzz@zzz", "0"):
            assert index.user(missing) is None


def test_a_derived_result_is_computed_once_per_report() -> None:
    report = report_of(seed_users())
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 42

    index = index_of(report)
    assert [index.derived("answer", compute) for _ in range(3)] == [42, 42, 42]
    assert calls == [1]
    # Another report (the same rows fetched again) is another index.
    assert index_of(report_of(seed_users())).derived("answer", compute) == 42
    assert calls == [1, 1]


def test_threads_asking_at_once_wait_for_one_computation() -> None:
    index = index_of(report_of(seed_users()))
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "done"

    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(index.derived("slow", slow)))
    first.start()
    started.wait(10)
    second = threading.Thread(target=lambda: results.append(index.derived("slow", slow)))
    second.start()
    release.set()
    first.join()
    second.join()
    assert results == ["done", "done"]
    assert calls == [1]


def test_derived_results_of_every_report_stay_within_the_row_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kept = index_module._Kept(100)
    monkeypatch.setattr(index_module, "_kept", kept)
    reports = [report_of(seed_users()) for _ in range(3)]
    for n in range(3):
        index_of(reports[n]).derived("big", functools.partial(int, n), rows=lambda _: 40)
    # 3 x 41 rows exceed 100: the least recently used (the first report's) is forgotten.
    assert "big" not in index_of(reports[0])._derived
    assert index_of(reports[2]).derived("big", lambda: -1) == 2
    recomputed = index_of(reports[0]).derived("big", lambda: 99, rows=lambda _: 40)
    assert recomputed == 99
    # A report that goes takes its results' rows with it.
    del reports[1:]
    assert kept._total == 41


def test_a_stored_report_loads_with_its_members_still_packed() -> None:
    users = org_users(700)
    filters = ReportFilters(start=NOW.date() - dt.timedelta(days=6), end=NOW.date())
    report = Report(ReportKind.USER, filters, NOW, users=users)
    blob = dump_report(report)
    loaded = load_report(blob)
    assert loaded is not None
    assert isinstance(loaded.users, PackedUsers)
    assert (loaded.kind, loaded.filters, loaded.fetched_at) == (report.kind, filters, NOW)
    assert list(loaded.users) == users
    # Already packed (a report the store keeps), it is stored as it is.
    assert load_report(dump_report(loaded)) == loaded
    teams = Report(ReportKind.TEAM, filters, NOW, teams=seed_teams())
    assert load_report(dump_report(teams)) == teams
    # A blob stored by an earlier version is not this format: the store decodes it as before.
    assert load_report(msgspec.msgpack.encode(report)) is None


class _EmailOnly(msgspec.Struct):
    email: str = ""


def test_packed_members_decode_to_the_fields_asked_for() -> None:
    users = org_users(600)
    assert [m.email for m in PackedUsers(users).fields(_EmailOnly)] == [u.email for u in users]


def test_the_budget_grows_with_the_organisation(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle list as large as the organisation stays when a small result comes after it."""
    kept = index_module._Kept(100)
    monkeypatch.setattr(index_module, "_kept", kept)
    big = report_of(org_users(600))
    index_of(big).derived("idle", functools.partial(int, 1), rows=lambda _: 550)
    index_of(big).derived("top", functools.partial(int, 2), rows=lambda _: 10)
    assert index_of(big).derived("idle", functools.partial(int, 3)) == 1
